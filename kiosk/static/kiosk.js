/* The kiosk. A walk-in takes a ticket in two taps: the service on the start screen, then "Sacar
 * turno". Preferential attention (Ley 28683), a document and "Tengo cita" are on the way but
 * never in it. Every tap that issues a ticket carries one Idempotency-Key, reused by its retries,
 * so a box restart or a lost answer never issues two tickets for one tap. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("kiosk-config").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var DEVICE_HEADERS = {"Accept": "application/json", "X-Turnero-Device": "kiosk"};
  // The kiosk may not ask "urgente": that one is the staff's call.
  var PRIORITIES = ["gestante", "adulto_mayor", "discapacidad", "con_infante"];
  var DOC_TYPES = ["DNI", "CE", "PASAPORTE", "PTP", "OTRO"];
  var DOC_LIMITS = {CE: [8, 12], PASAPORTE: [4, 15], PTP: [4, 15], OTRO: [4, 15]};
  var DIGITS = "1234567890".split("");
  var QWERTY = ["QWERTYUIOP", "ASDFGHJKLÑ", "ZXCVBNM"].map(function (row) { return row.split(""); });
  var CODE_MAX = 20;  // longer than any appointment code the central hands out, and still fits the field
  var RETRY_FOR_MS = 120000;
  // After the ticket, the screen belongs to the next person: the slip and the QR carry the ticket.
  var TICKET_SECONDS = 12;
  var WARNING_SECONDS = 20;

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
    nodoc: '<rect x="6" y="14" width="52" height="36" rx="4"/><path d="M10 54L54 10"/>',
    listen: '<path d="M8 24h10l14-12v40L18 40H8z"/><path d="M42 22a14 14 0 0 1 0 20M48 14a24 24 0 0 1 0 36"/>'
  };

  var state = {};
  var lang = "es";
  var services = [];
  var inactivityTimer = null;
  var warningTicker = null;
  var printTimer = null;
  var ticketTimer = null;
  var ticketTicker = null;
  var speech = window.KioskSpeech({
    button: document.getElementById("listen"), note: document.getElementById("listen-note"),
    audio: document.getElementById("speech-audio"), headers: DEVICE_HEADERS, speakSteps: config.speak_steps,
    t: function (key) { return t(key); }, lang: function () { return lang; }
  });

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
    // The ticket screen has its own "Listo"; two ways home there would only compete.
    document.getElementById("home").hidden = name === "start" || name === "issuing" || name === "ticket";
    var heading = document.querySelector('[data-screen="' + name + '"] h1');
    if (heading) heading.focus({preventScroll: true});
    state.screen = name;
    speech.shown(name);
    armInactivity();
    fit();
  }

  /* Nothing on a kiosk screen may sit below the fold: a sede with more services than the screen
   * holds gets tighter buttons rather than a scrollbar nobody sees. */
  function fit() {
    var body = document.body;
    body.classList.remove("dense", "denser");
    ["dense", "denser"].some(function (level) {
      if (document.scrollingElement.scrollHeight <= window.innerHeight) return true;
      body.classList.add(level);
      return false;
    });
  }

  function reset() {
    clearTimeout(printTimer);
    clearTimeout(ticketTimer);
    clearInterval(ticketTicker);
    state = {screen: "start"};
    lang = "es";
    applyTexts();
    renderLanguages();
    renderServices();
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
    // The ticket screen clears itself (TICKET_SECONDS): a "more time?" there would greet the next person.
    if (state.screen === "issuing" || state.screen === "ticket") return;
    if (state.screen === "start") {
      // Nothing is typed here; only a chosen language would be left for the next person, so it
      // goes back to Spanish without asking.
      if (lang !== "es") inactivityTimer = setTimeout(reset, config.inactivity_seconds * 1000);
      return;
    }
    inactivityTimer = setTimeout(warnInactivity, config.inactivity_seconds * 1000);
  }

  function warnInactivity() {
    if (state.screen === "start" || state.screen === "issuing" || state.screen === "ticket") return;
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

  // ------------------------------------------------------------------ start: languages and services

  function renderLanguages() {
    var box = document.getElementById("languages");
    box.innerHTML = "";
    box.hidden = config.languages.length < 2;
    box.setAttribute("aria-label", t("kiosk.languages"));
    config.languages.forEach(function (language) {
      box.appendChild(el("button", {type: "button", "class": "language", lang: language.code,
        "data-lang": language.code, "aria-pressed": language.code === lang ? "true" : "false",
        text: language.name, onclick: function () {
          lang = language.code;
          applyTexts();
          renderLanguages();
          renderServices();
          armInactivity();
          fit();
          speech.languageChanged();
        }}));
    });
  }

  function serviceLabel(service) {
    if (service.discreet) {
      var neutral = service.neutral_label || {};
      return neutral[lang] || neutral.es || service.label;
    }
    return service.names[lang] || service.names.es;
  }

  function serviceMeta(service) {
    if (!service.open) {
      var reason = t("kiosk.unavailable." + service.closed_reason);
      return reason.indexOf("kiosk.") === 0 ? t("kiosk.unavailable") : reason;
    }
    var waiting = service.waiting === 1 ? t("kiosk.waiting_one") : t("kiosk.waiting", {n: service.waiting});
    return waiting + " · " + waitWords(service, "kiosk.list_eta");
  }

  function loadServices() {
    return fetch("/api/v1/services", {credentials: "same-origin", headers: DEVICE_HEADERS})
      .then(function (response) {
        if (!response.ok) throw new Error("services " + response.status);
        return response.json();
      })
      .then(function (body) {
        setOffline(false);
        services = body.services;
        if (state.screen === "start") {
          renderServices();
          fit();
        }
      })
      .catch(function () { setOffline(true); });
  }

  /* The sede's pictogram of a service (a picture reads without reading), else its icon. */
  function picture(service) {
    var url = (config.pictograms || {})[service.code];
    if (!url) return el("span", {"class": "icon", html: icon(service.icon)});
    return el("img", {"class": "pictogram", src: url, alt: "", "data-pictogram": service.code});
  }

  function renderServices() {
    var box = document.getElementById("services");
    box.innerHTML = "";
    services.forEach(function (service) {
      var description = (service.descriptions || {})[lang] || (service.descriptions || {}).es || "";
      if (description === serviceLabel(service)) description = "";  // a discreet service's neutral label, once
      var button = el("button", {type: "button", "class": "big choice service" + (service.open ? "" : " unavailable"),
        "data-service": service.code, "aria-disabled": service.open ? "false" : "true"}, [
        picture(service),
        el("span", {"class": "service-text"}, [
          el("strong", {text: serviceLabel(service)}),
          description ? el("small", {text: description}) : null,
          el("span", {"class": "service-meta", text: serviceMeta(service)})
        ])
      ]);
      button.addEventListener("click", function () {
        if (service.open) openConfirm(service);
      });
      box.appendChild(button);
    });
  }

  // ------------------------------------------------------------------ confirm: the ticket button

  function openConfirm(service) {
    state.service = service;
    state.priority = null;
    state.doc = null;
    var confirmIcon = document.getElementById("confirm-icon");
    var url = (config.pictograms || {})[service.code];
    confirmIcon.classList.toggle("has-pictogram", !!url);
    confirmIcon.innerHTML = url ? "" : icon(service.icon);
    if (url) confirmIcon.appendChild(el("img", {"class": "pictogram", src: url, alt: ""}));
    document.getElementById("confirm-service").textContent = serviceLabel(service);
    document.getElementById("confirm-meta").textContent = serviceMeta(service);
    renderPriorities();
    show("confirm");
  }

  function renderPriorities() {
    var box = document.getElementById("priorities");
    box.innerHTML = "";
    PRIORITIES.forEach(function (priority) {
      var chosen = state.priority === priority;
      box.appendChild(el("button", {type: "button", "class": "choice priority", "data-priority": priority,
        "aria-pressed": chosen ? "true" : "false", onclick: function () {
          // A second tap undoes a mistaken choice.
          state.priority = state.priority === priority ? null : priority;
          renderPriorities();
        }}, [el("span", {"class": "icon", html: icon(priority)}),
             el("span", {"class": "choice-text", text: t("kiosk.priority." + priority)}),
             el("span", {"class": "mark", "aria-hidden": "true", text: chosen ? "✓" : ""})]));
    });
    var line = document.getElementById("confirm-priority");
    line.hidden = !state.priority;
    line.textContent = state.priority ? t("kiosk.preferential_mark") + ": " + t("kiosk.priority." + state.priority) : "";
  }

  function takeTicket(documentBody) {
    var body = {service: state.service.code, priority: state.priority, language: lang};
    if (documentBody) body.document = documentBody;
    issue(body);
  }

  // ------------------------------------------------------------------ on-screen keyboard

  /* ``rows`` of keys on a grid of ``columns``; "delete" and "-" are keys too. The last key of a
   * short row (delete) is wider, as on a real keyboard, up to three keys' width. */
  function renderKeyboard(box, kind, rows, columns, onKey) {
    box.innerHTML = "";
    box.className = "keypad keypad-" + kind;
    box.setAttribute("role", "group");
    rows.forEach(function (row) {
      row.forEach(function (key, index) {
        var last = index === row.length - 1;
        var span = last ? Math.min(3, columns - row.length + 1) : 1;
        var isDelete = key === "delete";
        box.appendChild(el("button", {type: "button", "class": "key" + (isDelete ? " key-delete" : "") +
          (span > 1 ? " key-span-" + span : ""), "data-key": key, text: isDelete ? t("kiosk.delete") : key,
          onclick: function () { onKey(isDelete ? null : key); }}));
      });
    });
  }

  function letterRows(withDash) {
    return [DIGITS, QWERTY[0], QWERTY[1], QWERTY[2].concat(withDash ? ["-", "delete"] : ["delete"])];
  }

  // ------------------------------------------------------------------ document

  function openDocument() {
    state.doc = {type: "DNI", number: "", check: "", field: "number"};
    renderDocTypes();
    renderDocEntry();
    setError("doc-error", "");
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
          setError("doc-error", "");
          renderDocTypes();
          renderDocEntry();
          fit();
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
    var box = document.getElementById("doc-keypad");
    var onKey = function (key) {
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
    };
    if (!isDni) renderKeyboard(box, "letters", letterRows(false), 10, onKey);
    // The DNI's check character is a digit or one of A-K (after the hyphen on the card).
    else if (doc.field === "check") renderKeyboard(box, "check", [DIGITS, "ABCDEFGHIJ".split(""), ["K", "delete"]], 10, onKey);
    else renderKeyboard(box, "digits", [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"], ["0", "delete"]], 3, onKey);
    box.setAttribute("aria-label", t("kiosk.keyboard"));
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
    // The keyboard is a Spanish one, but identity documents are written without Ñ.
    if (!/^[A-Z0-9]+$/.test(doc.number)) return t("kiosk.error.document_characters");
    return null;
  }

  function setError(id, text) {
    document.getElementById(id).textContent = text;
  }

  // ------------------------------------------------------------------ appointment: DNI or code

  function openAppointment() {
    state.service = null;
    state.appointment = {value: ""};
    setError("appointment-error", "");
    showAppointmentResults(false);
    renderAppointment();
    show("appointment");
  }

  function renderAppointment() {
    var appointment = state.appointment;
    var value = document.getElementById("appointment-value");
    value.textContent = appointment.value || "—";
    value.classList.toggle("long", appointment.value.length > 10);
    var box = document.getElementById("appointment-keypad");
    renderKeyboard(box, "letters", letterRows(true), 10, function (key) {
      setError("appointment-error", "");
      if (key === null) appointment.value = appointment.value.slice(0, -1);
      else if (appointment.value.length < CODE_MAX) appointment.value += key;
      renderAppointment();
    });
    box.setAttribute("aria-label", t("kiosk.keyboard"));
  }

  function showAppointmentResults(visible) {
    document.getElementById("appointment-keypad").hidden = visible;
    document.getElementById("appointment-results").hidden = !visible;
    document.getElementById("appointment-search").hidden = visible;
    if (!visible) document.getElementById("appointment-list").innerHTML = "";
  }

  function lookup(param, value) {
    return fetch("/api/v1/appointments?" + param + "=" + encodeURIComponent(value),
      {credentials: "same-origin", headers: DEVICE_HEADERS})
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error((body.error && body.error.code) || "appointments " + response.status);
          return body.appointments;
        });
      });
  }

  /* Eight digits are a DNI first; anything else, or a DNI with nothing today, is tried as the
   * appointment's code (a code may be all digits too). */
  function searchAppointments() {
    var value = state.appointment.value.trim();
    showAppointmentResults(false);
    if (!value) {
      setError("appointment-error", t("kiosk.appointment_help"));
      return;
    }
    var byDocument = /^\d{8}$/.test(value) ? lookup("document", value) : Promise.resolve([]);
    byDocument.then(function (found) { return found.length ? found : lookup("code", value); })
      .then(function (found) {
        if (state.screen !== "appointment") return;
        if (!found.length) {
          setError("appointment-error", t("kiosk.appointment_none"));
          return;
        }
        var list = document.getElementById("appointment-list");
        found.slice(0, 3).forEach(function (item) {
          list.appendChild(el("button", {type: "button", "class": "big choice appointment-item",
            "data-appointment": item.id, onclick: function () {
              issue({appointment: item.id, language: lang});
            }}, [el("span", {"class": "icon", html: icon("calendar")}),
                 el("span", {"class": "choice-text", text: item.service_label + " — " +
                   t("kiosk.appointment_at", {time: item.starts_at.slice(11, 16)})})]));
        });
        showAppointmentResults(true);
        fit();
      })
      .catch(function (error) {
        setError("appointment-error", t(error.message === "rate_limited" ? "kiosk.error.rate_limited" : "kiosk.offline"));
      });
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

    function again() {
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

  // ------------------------------------------------------------------ ticket

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
    countDownToStart();
    if (ticket.print.status === "queued") followPrint(ticket.id, 0);
  }

  function countDownToStart() {
    var deadline = Date.now() + TICKET_SECONDS * 1000;
    var note = document.getElementById("ticket-returning");
    function tick() {
      var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      note.textContent = t("kiosk.returning", {seconds: left});
    }
    clearTimeout(ticketTimer);
    clearInterval(ticketTicker);
    tick();
    ticketTicker = setInterval(tick, 1000);
    ticketTimer = setTimeout(reset, TICKET_SECONDS * 1000);
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
          if (!body || !state.ticket || state.ticket.id !== ticketId || state.screen !== "ticket") return;
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
  window.addEventListener("resize", fit);
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
      else show(target);
    });
  });
  document.getElementById("ticket-done").addEventListener("click", reset);
  document.getElementById("take-ticket").addEventListener("click", function () { takeTicket(null); });
  document.getElementById("add-document").addEventListener("click", openDocument);
  document.getElementById("to-appointment").addEventListener("click", openAppointment);
  document.getElementById("appointment-search").addEventListener("click", searchAppointments);
  document.getElementById("appointment-retype").addEventListener("click", function () {
    showAppointmentResults(false);
    fit();
  });
  document.getElementById("doc-number").addEventListener("click", function () {
    state.doc.field = "number";
    renderDocEntry();
  });
  document.getElementById("doc-check").addEventListener("click", function () {
    state.doc.field = "check";
    renderDocEntry();
  });
  document.getElementById("doc-continue").addEventListener("click", function () {
    var doc = state.doc;
    var problem = validateDocument(doc);
    if (problem) { setError("doc-error", problem); return; }
    var documentBody = {type: doc.type, number: doc.number};
    if (doc.type === "DNI" && doc.check) documentBody.check = doc.check;
    takeTicket(documentBody);
  });

  /* The languages (one reviewed since the page loaded), texts and pictograms as the box has them
   * now; applied at once on an idle start screen, else at the next return to it. */
  function refreshConfig() {
    return fetch("/kiosk/config", {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (fresh) {
        if (!fresh) return;
        ["languages", "messages", "plural_languages", "pictograms"].forEach(function (name) { config[name] = fresh[name]; });
        if (state.screen === "start" && lang === "es") {
          applyTexts();
          renderLanguages();
          renderServices();
          fit();
        }
      }, function () {});
  }

  // Keep the service list and the languages fresh and notice a box that went away (and came back).
  setInterval(loadServices, 30000);
  setInterval(refreshConfig, 60000);
  loadServices();
  reset();
})();
