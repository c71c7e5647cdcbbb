/* The kiosk: language -> service -> preferential? -> document (optional) -> ticket.
 * Every tap that issues a ticket carries one Idempotency-Key, reused by its retries, so a box
 * restart or a lost answer never issues two tickets for one tap. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("kiosk-config").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var PRIORITIES = ["gestante", "adulto_mayor", "discapacidad", "con_infante"];
  var DOC_TYPES = ["DNI", "CE", "PASAPORTE", "PTP", "OTRO"];
  var DOC_LIMITS = {CE: [8, 12], PASAPORTE: [4, 15], PTP: [4, 15], OTRO: [4, 15]};
  var DIGITS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];
  var LETTERS = "QWERTYUIOPASDFGHJKLZXCVBNM".split("");
  var CHECK_KEYS = DIGITS.concat("KJIHGFEDCBA".split(""));
  var RETRY_FOR_MS = 120000;

  var ICONS = {
    scale: '<path d="M32 8v44M16 52h32M10 20h44M10 20l-6 16a8 8 0 0 0 12 0zM54 20l-6 16a8 8 0 0 0 12 0z"/>',
    gavel: '<path d="M22 10l18 18M14 18l18 18M18 14l8-8 18 18-8 8zM30 32L10 52M36 56h22"/>',
    shield: '<path d="M32 6l22 8v16c0 14-10 24-22 28C20 54 10 44 10 30V14z"/><path d="M22 32l7 7 13-14"/>',
    handshake: '<path d="M4 24l12-10 10 6 8-4 12 4 14 4M4 24l16 18 6-2 6 6 8-4 6 4 6-6-4-6M26 20l-6 8 6 4 8-8"/>',
    heart: '<path d="M32 54S8 40 8 22a12 12 0 0 1 24-4 12 12 0 0 1 24 4c0 18-24 32-24 32z"/>',
    help: '<circle cx="32" cy="32" r="24"/><path d="M24 24a8 8 0 1 1 12 7c-3 2-4 4-4 7M32 46v2"/>',
    calendar: '<rect x="8" y="12" width="48" height="44" rx="4"/><path d="M8 24h48M20 6v12M44 6v12M18 34h8M30 34h8M42 34h6M18 44h8M30 44h8"/>',
    gestante: '<circle cx="30" cy="10" r="6"/><path d="M26 20h8l2 8c10 2 10 18 0 20l-2 10h-8l2-16-4-4z"/>',
    adulto_mayor: '<circle cx="28" cy="10" r="6"/><path d="M24 20h8l4 16-6 2v20M26 38l-6 20M40 30l8 28M36 28l6 2"/>',
    discapacidad: '<circle cx="26" cy="8" r="5"/><path d="M26 16v18h16l6 16M26 24h14"/><path d="M20 30a14 14 0 1 0 20 18"/>',
    con_infante: '<circle cx="22" cy="10" r="6"/><path d="M18 20h8l4 14v24M18 20l-4 18 4 20"/><circle cx="44" cy="28" r="5"/><path d="M30 34h12l4 10h-12"/>',
    none: '<circle cx="32" cy="14" r="7"/><path d="M22 56V32a10 10 0 0 1 20 0v24"/>',
    document: '<rect x="6" y="14" width="52" height="36" rx="4"/><circle cx="22" cy="30" r="6"/><path d="M12 44c2-6 18-6 20 0M38 26h14M38 34h14M38 42h8"/>',
    nodoc: '<rect x="6" y="14" width="52" height="36" rx="4"/><path d="M10 54L54 10"/>'
  };

  var state = {};
  var lang = "es";
  var services = [];
  var inactivityTimer = null;
  var warningTicker = null;
  var WARNING_SECONDS = 20;
  var printTimer = null;

  // ------------------------------------------------------------------ text

  function t(key, params) {
    var text = (config.messages[lang] || {})[key] || config.messages.es[key] || key;
    Object.keys(params || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(params[name]));
    });
    return text;
  }

  /* The plural form of ``key`` for ``count`` (catalog keys <key>.one, <key>.other...). */
  function plural(key, count, params) {
    var rules = new Intl.PluralRules((config.plural_languages || {})[lang] || "es");
    var form = key + "." + rules.select(count);
    var own = config.messages[lang] || config.messages.es;
    return t(own[form] ? form : key + ".other", params);
  }

  /* A wait estimate in words, on the ticket screen ("kiosk.eta") or in the services list
   * ("kiosk.list_eta"): the same choice as turnero/wait_words.py. */
  function waitWords(estimate, area) {
    var range = estimate.eta_range_minutes;
    if (estimate.eta_minutes === null || estimate.eta_minutes === undefined || !range) return t(area + "_unknown");
    if (range.high === 0) return t(area === "kiosk.eta" ? "kiosk.eta_soon" : "kiosk.no_wait");
    if (range.low === range.high) return plural(area + "_about", range.high, {n: range.high});
    return plural(area + "_range", range.high, {low: range.low, high: range.high});
  }

  function applyTexts() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach(function (node) {
      node.textContent = t(node.getAttribute("data-i18n"));
    });
    document.querySelectorAll("[data-icon]").forEach(function (node) {
      node.innerHTML = icon(node.getAttribute("data-icon"));
    });
    document.title = t("kiosk.title") + " — " + config.sede;
  }

  function icon(name) {
    return '<svg viewBox="0 0 64 64" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" ' +
      'stroke-width="4" stroke-linecap="round" stroke-linejoin="round">' + (ICONS[name] || ICONS.help) + "</svg>";
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (name === "html") node.innerHTML = attrs[name];
      else if (name === "onclick") node.addEventListener("click", attrs[name]);
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  // ------------------------------------------------------------------ screens

  function show(name) {
    document.querySelectorAll("[data-screen]").forEach(function (section) {
      section.hidden = section.getAttribute("data-screen") !== name;
    });
    document.body.setAttribute("data-current", name);
    document.getElementById("home").hidden = name === "start" || name === "issuing";
    var heading = document.querySelector('[data-screen="' + name + '"] h1');
    if (heading) heading.focus({preventScroll: true});
    state.screen = name;
    armInactivity();
  }

  function reset() {
    clearTimeout(printTimer);
    state = {screen: "start"};
    lang = "es";
    applyTexts();
    renderLanguages();
    show("start");
  }

  // WCAG 2.2.1: before the kiosk forgets an entry, warn and give 20 s to keep it with one tap.
  function armInactivity(event) {
    var warning = document.getElementById("timeout-warning");
    if (event && !warning.hidden && warning.contains(event.target)) return;  // its buttons decide
    clearTimeout(inactivityTimer);
    clearInterval(warningTicker);
    if (!warning.hidden) {
      warning.hidden = true;
      var heading = document.querySelector('[data-screen="' + state.screen + '"] h1');
      if (heading) heading.focus({preventScroll: true});
    }
    if (state.screen === "start" || state.screen === "issuing") return;
    inactivityTimer = setTimeout(warnInactivity, config.inactivity_seconds * 1000);
  }

  function warnInactivity() {
    var warning = document.getElementById("timeout-warning");
    var deadline = Date.now() + WARNING_SECONDS * 1000;  // from the clock: a late tick must not stretch it
    var text = document.getElementById("timeout-text");
    text.textContent = t("kiosk.timeout_text", {seconds: WARNING_SECONDS});
    warning.hidden = false;
    document.getElementById("timeout-continue").focus({preventScroll: true});
    warningTicker = setInterval(function () {
      var left = Math.ceil((deadline - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(warningTicker);
        warning.hidden = true;
        reset();
        return;
      }
      text.textContent = t("kiosk.timeout_text", {seconds: left});
    }, 1000);
  }

  // ------------------------------------------------------------------ start: language

  function renderLanguages() {
    var box = document.getElementById("languages");
    box.innerHTML = "";
    config.languages.forEach(function (language) {
      box.appendChild(el("button", {type: "button", "class": "big choice", lang: language.code,
        "data-lang": language.code, text: language.name, onclick: function () {
          lang = language.code;
          applyTexts();
          openServices();
        }}));
    });
  }

  // ------------------------------------------------------------------ services

  function serviceLabel(service) {
    if (service.discreet) {
      var neutral = service.neutral_label || {};
      return neutral[lang] || neutral.es || service.label;
    }
    return service.names[lang] || service.names.es;
  }

  function openServices() {
    show("services");
    renderServices();
    loadServices();
  }

  function loadServices() {
    return fetch("/api/v1/services", {credentials: "same-origin", headers: {"Accept": "application/json", "X-Turnero-Device": "kiosk"}})
      .then(function (response) {
        if (!response.ok) throw new Error("services " + response.status);
        return response.json();
      })
      .then(function (body) {
        setOffline(false);
        services = body.services;
        if (state.screen === "services") renderServices();
      })
      .catch(function () { setOffline(true); });
  }

  function renderServices() {
    var box = document.getElementById("services");
    box.innerHTML = "";
    services.forEach(function (service) {
      var meta;
      if (!service.open) {
        meta = t("kiosk.unavailable." + service.closed_reason);
        if (meta.indexOf("kiosk.") === 0) meta = t("kiosk.unavailable");
      } else {
        meta = service.waiting === 1 ? t("kiosk.waiting_one") : t("kiosk.waiting", {n: service.waiting});
        meta += " · " + waitWords(service, "kiosk.list_eta");
      }
      var description = (service.descriptions || {})[lang] || (service.descriptions || {}).es || "";
      var button = el("button", {type: "button", "class": "big choice service" + (service.open ? "" : " unavailable"),
        "data-service": service.code, "aria-disabled": service.open ? "false" : "true"}, [
        el("span", {"class": "icon", html: icon(service.icon)}),
        el("span", {"class": "service-text"}, [
          el("strong", {text: serviceLabel(service)}),
          description ? el("small", {text: description}) : null,
          el("span", {"class": "service-meta", text: meta})
        ])
      ]);
      button.addEventListener("click", function () {
        if (!service.open) return;
        state.service = service;
        state.priority = null;
        state.document = null;
        renderPriorities();
        show("priority");
      });
      box.appendChild(button);
    });
  }

  // ------------------------------------------------------------------ priority

  function renderPriorities() {
    var box = document.getElementById("priorities");
    box.innerHTML = "";
    PRIORITIES.concat(["none"]).forEach(function (priority) {
      box.appendChild(el("button", {type: "button", "class": "big choice priority" + (priority === "none" ? " none" : ""),
        "data-priority": priority, onclick: function () {
          state.priority = priority === "none" ? null : priority;
          openDocument();
        }}, [el("span", {"class": "icon", html: icon(priority)}), el("span", {text: t("kiosk.priority." + priority)})]));
    });
  }

  // ------------------------------------------------------------------ document

  function openDocument() {
    state.doc = {type: "DNI", number: "", check: "", field: "number"};
    renderDocTypes();
    renderDocEntry();
    show("document");
  }

  function renderDocTypes() {
    var box = document.getElementById("doc-types");
    box.innerHTML = "";
    DOC_TYPES.forEach(function (type) {
      box.appendChild(el("button", {type: "button", "class": "choice doc-type", "data-doc": type,
        "aria-pressed": state.doc.type === type ? "true" : "false", text: t("kiosk.document." + type),
        onclick: function () {
          state.doc = {type: type, number: "", check: "", field: "number"};
          renderDocTypes();
          renderDocEntry();
        }}));
    });
  }

  function renderDocEntry() {
    var doc = state.doc;
    document.getElementById("doc-number-value").textContent = doc.number || "—";
    document.getElementById("doc-check-value").textContent = doc.check || "—";
    var isDni = doc.type === "DNI";
    document.getElementById("doc-check").hidden = !isDni;
    document.getElementById("check-help").hidden = !isDni;
    document.getElementById("doc-number").setAttribute("aria-pressed", doc.field === "number" ? "true" : "false");
    document.getElementById("doc-check").setAttribute("aria-pressed", doc.field === "check" ? "true" : "false");
    var keys = !isDni ? DIGITS.concat(LETTERS) : (doc.field === "check" ? CHECK_KEYS : DIGITS);
    renderKeypad(document.getElementById("doc-keypad"), keys, function (key) {
      setError("doc-error", "");
      if (key === null) {
        doc[doc.field] = doc[doc.field].slice(0, -1);
      } else if (doc.field === "check") {
        doc.check = key;
      } else {
        var max = isDni ? 8 : DOC_LIMITS[doc.type][1];
        if (doc.number.length < max) doc.number += key;
        if (isDni && doc.number.length === 8) doc.field = "check";
      }
      renderDocEntry();
    });
  }

  function renderKeypad(box, keys, onKey) {
    box.innerHTML = "";
    box.className = "keypad" + (keys.length > 12 ? " keypad-wide" : "");
    keys.forEach(function (key) {
      box.appendChild(el("button", {type: "button", "class": "key", "data-key": key, text: key,
        onclick: function () { onKey(key); }}));
    });
    box.appendChild(el("button", {type: "button", "class": "key key-delete", "data-key": "delete",
      text: t("kiosk.delete"), onclick: function () { onKey(null); }}));
  }

  function dniCheckCharacters(number) {
    var weights = [3, 2, 7, 6, 5, 4, 3, 2];
    var total = 0;
    for (var i = 0; i < 8; i++) total += parseInt(number[i], 10) * weights[i];
    var index = total % 11;
    return ["65432110987"[index], "KJIHGFEDCBA"[index]];
  }

  function validateDocument(doc) {
    if (doc.type === "DNI") {
      if (!/^\d{8}$/.test(doc.number)) return t("kiosk.error.dni_length");
      if (doc.check && dniCheckCharacters(doc.number).indexOf(doc.check) < 0) return t("kiosk.error.dni_check");
      return null;
    }
    var limits = DOC_LIMITS[doc.type];
    if (doc.number.length < limits[0] || doc.number.length > limits[1]) {
      return t("kiosk.error.document_length", {min: limits[0], max: limits[1]});
    }
    return null;
  }

  function setError(id, text) {
    document.getElementById(id).textContent = text;
  }

  // ------------------------------------------------------------------ appointment

  function openAppointment() {
    state.appointment = {mode: "dni", value: ""};
    renderAppointment();
    show("appointment");
  }

  function renderAppointment() {
    var appointment = state.appointment;
    var dni = appointment.mode === "dni";
    document.getElementById("appointment-help").textContent = t(dni ? "kiosk.appointment_help" : "kiosk.appointment_code_help");
    document.getElementById("appointment-label").textContent = t(dni ? "kiosk.document.DNI" : "kiosk.appointment_code");
    document.getElementById("appointment-value").textContent = appointment.value || "—";
    document.getElementById("appointment-mode").textContent = t(dni ? "kiosk.appointment_code_mode" : "kiosk.appointment_dni_mode");
    document.getElementById("appointment-search").textContent = t(dni ? "kiosk.search" : "kiosk.continue");
    renderKeypad(document.getElementById("appointment-keypad"), dni ? DIGITS : DIGITS.concat(LETTERS), function (key) {
      setError("appointment-error", "");
      if (key === null) appointment.value = appointment.value.slice(0, -1);
      else if (appointment.value.length < (dni ? 8 : 40)) appointment.value += key;
      renderAppointment();
    });
  }

  function searchAppointments() {
    var appointment = state.appointment;
    var list = document.getElementById("appointment-list");
    list.innerHTML = "";
    if (appointment.mode === "code") {
      if (!appointment.value) return;
      issue({appointment: appointment.value, language: lang});
      return;
    }
    if (!/^\d{8}$/.test(appointment.value)) {
      setError("appointment-error", t("kiosk.error.dni_length"));
      return;
    }
    fetch("/api/v1/appointments?document=" + encodeURIComponent(appointment.value),
      {credentials: "same-origin", headers: {"Accept": "application/json", "X-Turnero-Device": "kiosk"}})
      .then(function (response) { return response.json().then(function (body) { return [response, body]; }); })
      .then(function (pair) {
        if (!pair[0].ok) throw new Error("appointments " + pair[0].status);
        var found = pair[1].appointments;
        if (!found.length) {
          setError("appointment-error", t("kiosk.appointment_none"));
          return;
        }
        list.appendChild(el("p", {"class": "lead", text: t("kiosk.appointment_pick")}));
        found.forEach(function (item) {
          var service = services.filter(function (s) { return s.code === item.service; })[0];
          var label = service ? serviceLabel(service) : item.service_label;
          list.appendChild(el("button", {type: "button", "class": "big choice appointment-item",
            "data-appointment": item.id, onclick: function () {
              issue({appointment: item.id, language: lang});
            }}, [el("span", {"class": "icon", html: icon(service ? service.icon : "calendar")}),
                 el("span", {text: label + " — " + t("kiosk.appointment_at", {time: item.starts_at.slice(11, 16)})})]));
        });
      })
      .catch(function () { setError("appointment-error", t("kiosk.offline")); });
  }

  // ------------------------------------------------------------------ issuing

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function issue(body) {
    var key = newKey();  // one key per tap: every retry below reuses it
    var started = Date.now();
    var attempt = 0;
    show("issuing");
    document.getElementById("issuing-status").textContent = "";

    function again(reason) {
      if (Date.now() - started > RETRY_FOR_MS) {
        fail("kiosk.error.generic");
        return;
      }
      attempt += 1;
      document.getElementById("issuing-status").textContent = t("kiosk.reconnecting");
      setOffline(true);
      setTimeout(send, Math.min(500 * Math.pow(2, attempt - 1), 5000));
    }

    function send() {
      fetch("/api/v1/tickets", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf,
                  "X-Turnero-Device": "kiosk",
                  "Idempotency-Key": key},
        body: JSON.stringify(body)
      }).then(function (response) {
        if (response.status >= 500 || response.status === 408) { again(); return null; }
        return response.json().then(function (payload) {
          if (response.status === 201) {
            setOffline(false);
            showTicket(payload);
          } else if (response.status === 400 && payload.error && payload.error.code === "csrf_failed") {
            refreshCsrf().then(send, again);
          } else if (response.status === 422 && payload.error && payload.error.code === "invalid_document") {
            show("document");
            setError("doc-error", t("kiosk.error.invalid_document"));
          } else {
            fail("kiosk.error." + ((payload.error && payload.error.code) || "generic"));
          }
        }, function () { again(); });
      }, function () { again(); });
    }
    send();
  }

  function refreshCsrf() {
    return fetch("/kiosk/csrf", {credentials: "same-origin"}).then(function (response) {
      if (!response.ok) throw new Error("csrf");
      return response.json();
    }).then(function (body) { csrf = body.csrf; });
  }

  function fail(key) {
    var text = t(key);
    if (text === key) text = t("kiosk.error.generic");
    document.querySelector('[data-screen="error"] h1').textContent = text;
    show("error");
  }

  function showTicket(ticket) {
    state.ticket = ticket;
    var service = state.service || services.filter(function (s) { return s.code === ticket.service; })[0];
    document.getElementById("ticket-code").textContent = ticket.code;
    document.getElementById("ticket-service").textContent = service ? serviceLabel(service) : ticket.service_label;
    var priority = document.getElementById("ticket-priority");
    priority.hidden = !ticket.priority;
    priority.textContent = ticket.priority ? t("kiosk.preferential_mark") + ": " + t("kiosk.priority." + ticket.priority) : "";
    var ahead = ticket.position ? ticket.position - 1 : 0;
    document.getElementById("ticket-ahead").textContent = ahead === 0 ? t("kiosk.next") : t("kiosk.people_ahead", {n: ahead});
    document.getElementById("ticket-eta").textContent = waitWords(ticket, "kiosk.eta");
    document.getElementById("ticket-qr").src = "/kiosk/qr/" + encodeURIComponent(ticket.public_id) + ".svg";
    showPrint(ticket.print.status);
    show("ticket");
    if (ticket.print.status === "queued") followPrint(ticket.id, 0);
  }

  function showPrint(status) {
    var node = document.getElementById("ticket-print");
    node.textContent = t("kiosk.print." + status);
    node.setAttribute("data-print", status);
    document.querySelector('[data-screen="ticket"]').classList.toggle("no-print", status === "failed" || status === "disabled");
  }

  function followPrint(ticketId, round) {
    clearTimeout(printTimer);
    if (state.screen !== "ticket" || !state.ticket || state.ticket.id !== ticketId || round > 20) return;
    printTimer = setTimeout(function () {
      fetch("/kiosk/print/" + encodeURIComponent(ticketId), {credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) {
          if (!body || !state.ticket || state.ticket.id !== ticketId) return;
          showPrint(body.print.status);
          if (body.print.status === "queued") followPrint(ticketId, round + 1);
        }, function () { followPrint(ticketId, round + 1); });
    }, round === 0 ? 300 : 1000);
  }

  // ------------------------------------------------------------------ connection

  function setOffline(offline) {
    var banner = document.getElementById("offline");
    banner.hidden = !offline;
    banner.textContent = offline ? t("kiosk.offline") : "";
  }

  // ------------------------------------------------------------------ wiring

  document.addEventListener("pointerdown", armInactivity, true);
  document.addEventListener("keydown", armInactivity, true);
  document.getElementById("home").addEventListener("click", reset);
  document.getElementById("timeout-continue").addEventListener("click", function () { armInactivity(); });
  document.getElementById("timeout-leave").addEventListener("click", function () {
    clearInterval(warningTicker);
    document.getElementById("timeout-warning").hidden = true;
    reset();
  });
  document.querySelectorAll("[data-go]").forEach(function (button) {
    button.addEventListener("click", function () {
      var target = button.getAttribute("data-go");
      if (target === "start") reset();
      else if (target === "services") openServices();
      else show(target);
    });
  });
  document.getElementById("to-appointment").addEventListener("click", openAppointment);
  document.getElementById("appointment-mode").addEventListener("click", function () {
    state.appointment = {mode: state.appointment.mode === "dni" ? "code" : "dni", value: ""};
    document.getElementById("appointment-list").innerHTML = "";
    setError("appointment-error", "");
    renderAppointment();
  });
  document.getElementById("appointment-search").addEventListener("click", searchAppointments);
  document.getElementById("doc-number").addEventListener("click", function () {
    state.doc.field = "number";
    renderDocEntry();
  });
  document.getElementById("doc-check").addEventListener("click", function () {
    state.doc.field = "check";
    renderDocEntry();
  });
  document.getElementById("no-document").addEventListener("click", function () {
    issue({service: state.service.code, priority: state.priority, language: lang});
  });
  document.getElementById("doc-continue").addEventListener("click", function () {
    var doc = state.doc;
    if (!doc.number) {
      setError("doc-error", doc.type === "DNI" ? t("kiosk.error.dni_length")
        : t("kiosk.error.document_length", {min: DOC_LIMITS[doc.type][0], max: DOC_LIMITS[doc.type][1]}));
      return;
    }
    var problem = validateDocument(doc);
    if (problem) { setError("doc-error", problem); return; }
    var documentBody = {type: doc.type, number: doc.number};
    if (doc.type === "DNI" && doc.check) documentBody.check = doc.check;
    issue({service: state.service.code, priority: state.priority, language: lang, document: documentBody});
  });

  // Keep the service list fresh and notice a box that went away (and came back).
  setInterval(loadServices, 30000);
  loadServices();
  reset();
})();
