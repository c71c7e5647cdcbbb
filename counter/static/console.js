/* The counter console: one counter, its ticket in hand, the waiting list of its services. */
(function () {
  "use strict";
  const L = window.TurneroLive;
  const config = JSON.parse(document.getElementById("config").textContent);
  const msg = config.messages;
  const me = config.user.username;
  const noShowAfter = config.console.no_show_after_recalls;
  const $ = function (id) { return document.getElementById(id); };

  const state = {counter: null, queue: [], queueFor: null, news: null, figures: null, inFlight: false,
                 lastWaiting: null,
                 skew: 0, notified: 0,
                 printer: null, unprinted: [], reprinting: {}, reprinted: {}, classFor: null, classBusy: false,
                 issueBusy: false, issueKey: null, issued: null,
                 // tickets whose failed print was already news (or already failed when the page loaded)
                 failureNews: null};

  function t(key, params) { return L.format(msg[key] || key, params || {}); }
  function now() { return Date.now() + state.skew; }

  /* News of the last action ("Llamó el turno A-001."): shown until the counter's state moves on
     from the state the action left it in, so it never lingers over a later state. Inside an
     action the state it describes is known after the action's refresh (see act). */
  function say(text) {
    state.news = text ? {text: text, key: state.inFlight ? undefined : stateKey()} : null;
    showNews();
  }
  function stateKey() {
    if (!mine()) return "none";
    const held = state.counter.ticket;
    return state.counter.id + ":" + state.counter.state + ":" + (held ? held.id + ":" + held.status : "");
  }
  function showNews() {
    if (state.news && state.news.key !== undefined && state.news.key !== stateKey()) state.news = null;
    const text = state.news ? state.news.text : "";
    if ($("info").textContent !== text) $("info").textContent = text;
  }
  /* The server's own message (Spanish), or the catalog's for the few codes that need it. */
  function explain(error) {
    if (error && error.code && msg["counter.error." + error.code]) return msg["counter.error." + error.code];
    if (error && error.status && !error.serverMessage) return t("counter.error_status", {status: error.status});
    return (error && error.message) || String(error);
  }
  function fail(error) { $("message").textContent = explain(error); }
  function clearMessage() { $("message").textContent = ""; }

  function counterId() { return state.counter ? state.counter.id : $("counter-select").value; }
  function mine() { return state.counter && state.counter.state !== "closed" && state.counter.staff === me; }
  function ticket() { return mine() ? state.counter.ticket : null; }

  /* Every action: one at a time; the buttons stay disabled until the answer arrives. */
  async function act(work) {
    if (state.inFlight) return;
    state.inFlight = true;
    render();
    clearMessage();
    askNotifications();
    try {
      await work();
    } catch (error) {
      fail(error);
    } finally {
      state.inFlight = false;
      await refresh();
      if (state.news && state.news.key === undefined) state.news.key = stateKey();
    }
  }

  const actions = {
    "open": function () {
      return act(async function () {
        const answer = await L.api("POST", "/counters/" + encodeURIComponent($("counter-select").value) + "/open");
        state.counter = answer.data.counter;
        localStorage.setItem("turnero.counter", state.counter.id);
      });
    },
    "language-first": function () {
      const enabled = $("language-first").checked;
      return act(async function () {
        await L.api("PUT", "/counters/" + encodeURIComponent(counterId()) + "/language-first", {enabled: enabled});
      });
    },
    "close": function () {
      return act(async function () {
        const answer = await L.api("POST", "/counters/" + encodeURIComponent(counterId()) + "/close");
        state.counter = answer.data.counter;
      });
    },
    "call-next": function () {
      if (!mine() || ticket()) return;
      return act(async function () {
        const answer = await L.api("POST", "/counters/" + encodeURIComponent(counterId()) + "/call-next");
        if (answer.status === 204) say(t("counter.nothing_waiting"));
        else say(t("counter.called", {code: answer.data.ticket.code}));
      });
    },
    "recall": function () {
      return act(async function () { await L.api("POST", "/counters/" + encodeURIComponent(counterId()) + "/recall"); });
    },
    "start": function () { return ticketAction("start"); },
    "no-show": function () { return ticketAction("no-show"); },
    "return": function () { return ticketAction("return"); },
    "finish": function () {
      const result = $("result").value;
      return ticketAction("finish", {outcome: $("outcome").value, result: result || null,
                                     case_ref: $("case-ref").value.trim() || null,
                                     notes: $("notes").value.trim() || null},
                          function () { $("case-ref").value = ""; $("notes").value = ""; });
    },
    "transfer": function () {
      return ticketAction("transfer", {service: $("transfer-service").value,
                                       notes: $("transfer-note").value.trim() || null},
                          function () { $("transfer-note").value = ""; });
    },
    "pause": function () {
      const reason = $("pause-reason").value.trim();
      if (!reason) { fail(new Error(t("counter.reason_required"))); $("pause-reason").focus(); return; }
      return act(async function () {
        const answer = await L.api("POST", "/counters/" + encodeURIComponent(counterId()) + "/pause", {reason: reason});
        state.counter = answer.data.counter;
        $("pause-reason").value = "";
      });
    },
    "resume": function () {
      return act(async function () {
        const answer = await L.api("POST", "/counters/" + encodeURIComponent(counterId()) + "/resume");
        state.counter = answer.data.counter;
      });
    },
  };

  function ticketAction(name, body, after) {
    const held = ticket();
    if (!held) return;
    return act(async function () {
      await L.api("POST", "/tickets/" + encodeURIComponent(held.id) + "/" + name, body);
      if (after) after();
      say(t("counter.done"));
    });
  }

  function callThis(id) {
    return act(async function () {
      const answer = await L.api("POST", "/tickets/" + encodeURIComponent(id) + "/call", {counter: counterId()});
      say(t("counter.called", {code: answer.data.ticket.code}));
    });
  }

  /* ------------------------------------------------------------ data */

  const refresh = L.coalesce(async function () {
    try {
      const [counters, figures] = await Promise.all([L.api("GET", "/counters"), L.api("GET", "/stats/me")]);
      const list = counters.data.counters;
      const held = list.find(function (c) { return c.staff === me && c.state !== "closed"; });
      const chosen = held || list.find(function (c) { return c.id === counterId(); }) || list[0];
      // The waiting list is the server's: the counter's tickets in exactly call-next's order.
      const queue = held ? await L.api("GET", "/counters/" + encodeURIComponent(held.id) + "/queue") : null;
      state.counter = chosen;
      if (held) $("counter-select").value = held.id;
      state.queue = queue ? queue.data.tickets : [];
      state.queueFor = queue ? queue.data.counter : null;
      state.figures = figures.data;
      noticeArrivals();
    } catch (error) {
      fail(error);
    }
    render();
  });

  function myQueue() {
    return mine() && state.queueFor === state.counter.id ? state.queue : [];
  }

  /* A sound and a notification when the counter's queue goes from empty to not empty. */
  function noticeArrivals() {
    const waiting = myQueue();
    if (state.lastWaiting === 0 && waiting.length > 0) {
      state.notified += 1;
      document.body.dataset.notified = String(state.notified);
      if (config.console.sound) beep();
      if ("Notification" in window && Notification.permission === "granted") {
        try { new Notification(t("counter.queue_new"), {body: t("counter.queue_new_body", {code: waiting[0].code})}); }
        catch (ignored) { /* some browsers only notify from a service worker */ }
      }
    }
    state.lastWaiting = mine() ? waiting.length : null;
  }

  let audio = null;
  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.2, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.6);
    } catch (ignored) { /* no audio device: the notification and the list still show it */ }
  }

  function askNotifications() {
    if ("Notification" in window && Notification.permission === "default") {
      try { Notification.requestPermission(); } catch (ignored) { /* old API */ }
    }
  }

  /* ------------------------------------------------------------ view */

  function className(priority) { return t("counter.class_" + (priority || "normal")); }
  /* The service as staff call it (the ticket's own label is in the person's language). */
  function serviceName(item) { return (config.services[item.service] || {}).label || item.service_label; }
  function languageName(code) { return msg["counter.language_" + code] || code || ""; }

  /* What to do now, from the state alone (never a leftover of an earlier state). */
  function stateHint(held) {
    if (!mine()) return t("counter.hint_closed");
    if (state.counter.state === "paused") return t("counter.hint_paused");
    if (!held) return t(myQueue().length ? "counter.hint_idle" : "counter.hint_idle_empty");
    if (held.status === "called") {
      return held.recalls >= noShowAfter ? t("counter.hint_called") :
        t("counter.hint_called") + " " + t("counter.no_show") + ": " + t("counter.no_show_after", {n: noShowAfter});
    }
    return t("counter.hint_serving");
  }

  function render() {
    const counter = state.counter;
    const held = ticket();
    const open = mine() && counter.state === "open";
    const paused = mine() && counter.state === "paused";
    const busy = state.inFlight;
    $("counter-state").textContent = counter ? t("counter.state_" + (mine() ? counter.state : "closed")) : "";
    $("counter-services").textContent = mine() ? t("counter.serves") + ": " + counter.services.map(function (code) {
      return (config.services[code] || {name: code}).name; }).join(", ") : "";
    $("counter-select").disabled = busy || !!held;
    $("open-counter").disabled = busy || (mine() && counter.id === $("counter-select").value);
    $("close-counter").disabled = busy || !mine() || !!held;
    // Offered to whoever attends in languages besides Spanish (set by the admin).
    $("language-first-line").hidden = !config.user.languages.length;
    $("my-languages").textContent = config.user.languages.map(languageName).join(", ");
    // While the change is under way the box shows the user's click; then the counter's state.
    if (!busy) $("language-first").checked = !!(mine() && counter.language_first);
    $("language-first").disabled = busy || !mine();

    $("call-next").disabled = busy || !open || !!held;
    $("recall").disabled = busy || !held || held.status !== "called";
    $("start").disabled = busy || !held || held.status !== "called";
    $("return").disabled = busy || !held || held.status !== "called";
    const noShowReady = held && held.status === "called" && held.recalls >= noShowAfter;
    $("no-show").disabled = busy || !noShowReady;
    $("finish").disabled = busy || !held || held.status !== "serving";
    $("transfer").disabled = busy || !held;
    $("pause").disabled = busy || !open || !!held;
    $("resume").disabled = busy || !paused;
    showNews();
    const hint = stateHint(held);
    $("ticket-empty").textContent = hint;
    $("serve-hint").textContent = held ? hint : "";
    document.body.dataset.hint = hint;

    $("ticket-empty").hidden = !!held;
    $("ticket-detail").hidden = !held;
    if (held) {
      $("ticket-code").textContent = held.code;
      $("ticket-service").textContent = serviceName(held);
      $("ticket-class").textContent = className(held.priority);
      $("ticket-class").dataset.priority = held.priority || "";
      $("ticket-language").textContent = languageName(held.language);
      $("ticket-status").textContent = t("counter.status_" + held.status);
      $("ticket-recalls").textContent = String(held.recalls);
      const person = [held.document ? held.document.type + " " + held.document.number : "", held.name || ""]
        .filter(Boolean).join(" · ");
      $("ticket-person").textContent = person;
      fillResults(held.service);
    }
    renderQueue();
    renderFigures();
    tick();
  }

  let resultsFor = null;
  function fillResults(service) {
    if (resultsFor === service) return;
    resultsFor = service;
    const select = $("result");
    select.replaceChildren(L.el("option", {value: "", text: t("counter.result_none")}));
    Object.entries((config.services[service] || {}).result_codes || {}).forEach(function ([code, label]) {
      select.appendChild(L.el("option", {value: code, text: code + " — " + label}));
    });
  }

  /* Rebuild a table body and keep the keyboard focus on the same control when it still exists. */
  function replaceRows(body, rows) {
    const active = document.activeElement;
    const key = active && body.contains(active) ? active.getAttribute("data-focus") : null;
    body.replaceChildren.apply(body, rows);
    if (key) {
      const again = body.querySelector('[data-focus="' + CSS.escape(key) + '"]');
      if (again && !again.disabled) again.focus();
      else if (body.closest("section")) focusHeading(body.closest("section"));
    }
  }

  function focusHeading(section) {
    const heading = section.querySelector("h2");
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
  }

  function renderQueue() {
    const rows = myQueue();
    const body = $("waiting-body");
    const canCall = mine() && state.counter.state === "open" && !ticket() && !state.inFlight;
    replaceRows(body, rows.map(function (item) {
      const person = [item.document ? item.document.type + " " + item.document.number : "", item.name || ""]
        .filter(Boolean).join(" · ");
      const button = L.el("button", {type: "button", text: t("counter.call_this"), disabled: !canCall,
                                     "data-call": item.id, "data-focus": "call:" + item.id});
      button.setAttribute("aria-label", t("counter.call_this") + " " + item.code);
      button.addEventListener("click", function () { callThis(item.id); });
      const change = L.el("button", {type: "button", text: t("counter.priority_change"), class: "secondary",
                                     "data-class-for": item.id, "data-focus": "class:" + item.id});
      change.setAttribute("aria-label", t("counter.priority_change_for", {code: item.code}));
      change.setAttribute("aria-haspopup", "dialog");
      change.addEventListener("click", function () { askClass(item); });
      return L.el("tr", {"data-code": item.code, class: item.priority ? "preferential" : "",
                         "data-priority": item.priority || "", "data-language": item.language || ""}, [
        L.el("th", {scope: "row", text: item.code}),
        L.el("td", {class: "service-cell"}, [
          L.el("span", {text: serviceName(item)}),
          L.el("span", {class: "appointment", text: item.appointment_at ?
            t("counter.col_appointment") + " " + item.appointment_at.slice(11, 16) : ""}),
          L.el("span", {class: "person", text: person})]),
        L.el("td", {class: "class-cell", text: className(item.priority)}),
        L.el("td", {class: "language-cell", text: languageName(item.language)}),
        L.el("td", {class: "waited", "data-issued": item.issued_at}),
        L.el("td", {class: "row-actions"}, [button, change]),  // "Llamar" stays the row's first button
      ]);
    }));
    $("waiting-count").textContent = String(rows.length);
    $("waiting-empty").hidden = rows.length > 0;
    document.body.dataset.waitingVersion = String((Number(document.body.dataset.waitingVersion) || 0) + 1);
  }

  function renderFigures() {
    const f = state.figures;
    if (!f) return;
    $("fig-served").textContent = String(f.served);
    $("fig-no-shows").textContent = String(f.no_shows);
    $("fig-transferred").textContent = String(f.transferred);
    $("fig-service").textContent = f.service_seconds.median === null ? "—" : (f.service_seconds.median / 60).toFixed(1);
  }

  function tick() {
    const held = ticket();
    if (held) {
      const since = Date.parse(held.started_at || held.called_at);
      $("ticket-timer").textContent = L.minutesSeconds((now() - since) / 1000);
    }
    document.querySelectorAll("#waiting-body .waited").forEach(function (cell) {
      cell.textContent = L.minutesSeconds((now() - Date.parse(cell.dataset.issued)) / 1000);
    });
  }

  /* ------------------------------------------------------------ class of a waiting ticket */

  function askClass(item) {
    state.classFor = item;
    $("class-title").textContent = t("counter.priority_title", {code: item.code});
    $("class-error").textContent = "";
    const current = document.getElementById("class-opt-" + (item.priority || "normal"));
    if (current) current.checked = true;
    $("class-save").disabled = false;
    $("class-dialog").showModal();
    if (current) current.focus();
  }

  $("class-cancel").addEventListener("click", function () { $("class-dialog").close(); });
  $("class-dialog").addEventListener("close", function () {
    const item = state.classFor;
    state.classFor = null;
    if (!item) return;
    const back = document.querySelector('[data-class-for="' + CSS.escape(item.id) + '"]');
    if (back) back.focus(); else focusHeading($("waiting-body").closest("section"));
  });
  $("class-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    const item = state.classFor;
    const chosen = document.querySelector('#class-form input[name="priority"]:checked');
    if (!item || !chosen || state.classBusy) return;
    const priority = chosen.value || null;
    state.classBusy = true;
    $("class-save").disabled = true;
    $("class-error").textContent = "";
    try {
      const answer = await L.api("POST", "/tickets/" + encodeURIComponent(item.id) + "/priority", {priority: priority});
      clearMessage();
      say(t("counter.priority_done", {code: answer.data.ticket.code, label: className(answer.data.ticket.priority)}));
      $("class-dialog").close();
    } catch (error) {
      $("class-error").textContent = explain(error);
    } finally {
      state.classBusy = false;
      $("class-save").disabled = false;
      refresh();
    }
  });

  /* ------------------------------------------------------------ issue a ticket (staff channel) */

  function newIssueKey() {
    if (window.crypto && crypto.randomUUID) return "console-" + crypto.randomUUID();
    return "console-" + Date.now() + "-" + Math.random().toString(36).slice(2);
  }

  const issueFields = ["issue-service", "issue-class", "issue-language", "issue-doc-type", "issue-doc-number",
                       "issue-doc-check", "issue-name"];
  issueFields.forEach(function (id) { $(id).dataset.describedby = $(id).getAttribute("aria-describedby") || ""; });

  /* The error under the form; the field at fault is marked, described by it, and focused. */
  function issueError(text, field) {
    $("issue-error").textContent = text;
    issueFields.forEach(function (id) {
      const input = $(id);
      const base = input.dataset.describedby;
      if (id === field) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", (base ? base + " " : "") + "issue-error");
      } else {
        input.removeAttribute("aria-invalid");
        if (base) input.setAttribute("aria-describedby", base); else input.removeAttribute("aria-describedby");
      }
    });
    if (field) $(field).focus();
  }

  function showIssued(ticketData) {
    state.issued = {id: ticketData.id, code: ticketData.code, print: ticketData.print ? ticketData.print.status : null};
    renderIssued();
  }

  function renderIssued() {
    const issued = state.issued;
    $("issue-result-body").hidden = !issued;
    if (!issued) return;
    $("issue-code").textContent = issued.code;
    $("issue-print").textContent = issued.print ? t("counter.print_" + issued.print) : "—";
    $("issue-result").dataset.print = issued.print || "";
  }

  $("issue-doc-type").addEventListener("change", function () {
    $("issue-doc-check").disabled = $("issue-doc-type").value !== "DNI";
    if ($("issue-doc-check").disabled) $("issue-doc-check").value = "";
  });
  $("issue-doc-check").disabled = true;
  // Another person's data is another ticket: an edited form never reuses the last attempt's key.
  $("issue-form").addEventListener("input", function () { state.issueKey = null; });
  $("issue-form").addEventListener("change", function () { state.issueKey = null; });

  $("issue-form").addEventListener("submit", async function (e) {
    e.preventDefault();
    if (state.issueBusy) return;
    const docType = $("issue-doc-type").value;
    const number = $("issue-doc-number").value.trim();
    const check = $("issue-doc-check").value.trim();
    const name = $("issue-name").value.trim();
    if (docType && !number) { issueError(t("counter.issue_need_number"), "issue-doc-number"); return; }
    if (!docType && number) { issueError(t("counter.issue_need_type"), "issue-doc-type"); return; }
    issueError("", null);
    const body = {service: $("issue-service").value, priority: $("issue-class").value || null,
                  language: $("issue-language").value || "es",
                  idempotency_key: state.issueKey || (state.issueKey = newIssueKey())};
    if (docType) body.document = check ? {type: docType, number: number, check: check} : {type: docType, number: number};
    if (name) body.name = name;
    state.issueBusy = true;
    $("issue-submit").disabled = true;
    try {
      const answer = await L.api("POST", "/tickets", body);
      state.issueKey = null;  // the next person gets a new ticket, a retry of this one does not
      showIssued(answer.data);
      ["issue-doc-number", "issue-doc-check", "issue-name"].forEach(function (id) { $(id).value = ""; });
      $("issue-doc-type").value = "";
      $("issue-doc-check").disabled = true;
      $("issue-class").value = "";
      $("issue-language").value = "es";
    } catch (error) {
      const field = {invalid_document: "issue-doc-number", invalid_name: "issue-name",
                     unknown_service: "issue-service", service_closed: "issue-service",
                     daily_cap_reached: "issue-service", invalid_priority: "issue-class",
                     forbidden_priority: "issue-class", invalid_language: "issue-language"}[error.code] || null;
      // After a network error the same key goes again: if the ticket was made, the retry returns it.
      if (error.status && error.status < 500) state.issueKey = null;
      issueError(explain(error), field);
    } finally {
      state.issueBusy = false;
      $("issue-submit").disabled = false;
    }
  });

  /* ------------------------------------------------------------ printer panel */

  function printerLabel(health) {
    if (!health) return t("counter.printer.loading");
    if (health.status === "disabled") return t("counter.printer.disabled");
    if (health.status === "ok") return t("counter.printer.ok");
    const detail = String(health.detail || "");
    if (["paper_near_end", "paper_out", "offline", "no_answer", "unreachable"].indexOf(detail) >= 0) {
      return t("counter.printer." + detail);
    }
    if (detail.startsWith("setup:")) return t("counter.printer.setup");
    return t("counter.printer.error");
  }

  function clock(rfc3339) {
    return rfc3339 ? String(rfc3339).slice(11, 16) : "";
  }

  const refreshPrinter = L.coalesce(async function () {
    try {
      const answer = await L.api("GET", "/printer");
      state.printer = answer.data.printer;
      state.unprinted = answer.data.unprinted || [];
      if (state.failureNews === null) {
        state.failureNews = {};
        state.unprinted.forEach(function (item) { state.failureNews[item.id] = true; });
      }
    } catch (error) {
      if (error.code !== "network") fail(error);
      return;
    }
    renderPrinter();
  });

  function renderPrinter() {
    const health = state.printer;
    const status = health ? health.status : "";
    const label = printerLabel(health);
    if ($("printer-state").textContent !== label) $("printer-state").textContent = label;
    $("printer-state").dataset.status = status;
    const badge = $("printer-badge");
    badge.hidden = !health || status === "disabled";
    badge.textContent = t("counter.printer.badge", {state: label});
    badge.dataset.status = status;
    const details = [];
    if (status === "disabled") details.push(t("counter.printer.disabled_help"));
    else if (health) {
      const generic = printerLabel(health) === t("counter.printer.error") ||
        printerLabel(health) === t("counter.printer.setup");
      if (health.detail === "unchecked") details.push(t("counter.printer.unchecked"));
      else if (status === "error" && generic && health.detail) {  // for whoever fixes it: the words as logged
        details.push(t("counter.printer.detail", {detail: String(health.detail).replace(/^setup:\s*/, "")}));
      }
      if (health.backlog) details.push(t("counter.printer.backlog", {n: health.backlog}));
      if (health.last_printed_at) details.push(t("counter.printer.last_printed", {time: clock(health.last_printed_at)}));
    }
    $("printer-detail").textContent = details.join(" · ");
    $("unprinted-block").hidden = status === "disabled";
    const list = state.unprinted;
    replaceRows($("unprinted-body"), list.map(function (item) {
      const button = L.el("button", {type: "button", text: t("counter.printer.reprint"),
                                     disabled: !!state.reprinting[item.id],
                                     "data-reprint": item.id, "data-focus": "reprint:" + item.id});
      button.setAttribute("aria-label", t("counter.printer.reprint_for", {code: item.code}));
      button.addEventListener("click", function () { reprint(item); });
      return L.el("tr", {"data-code": item.code}, [
        L.el("th", {scope: "row", text: item.code}),
        L.el("td", {text: item.service_label || item.service}),
        L.el("td", {text: clock(item.issued_at)}),
        L.el("td", {text: t("counter.status_" + item.status)}),
        L.el("td", {}, [button]),
      ]);
    }));
    if (state.issued && state.issued.print === "queued" &&
        list.some(function (item) { return item.id === state.issued.id; })) {
      state.issued.print = "failed";  // its failure may have been told before the console knew the ticket
      renderIssued();
    }
    $("unprinted-count").textContent = String(list.length);
    $("unprinted-empty").hidden = list.length > 0;
    document.body.dataset.printerVersion = String((Number(document.body.dataset.printerVersion) || 0) + 1);
  }

  async function reprint(item) {
    if (state.reprinting[item.id]) return;
    state.reprinting[item.id] = true;
    renderPrinter();
    clearMessage();
    try {
      state.reprinted[item.id] = "sent";
      await L.api("POST", "/tickets/" + encodeURIComponent(item.id) + "/reprint");
      // The slip may already be out (the printer is quick): never overwrite that news.
      if (state.reprinted[item.id] !== "printed") {
        $("printer-news").textContent = t("counter.printer.reprint_sent", {code: item.code});
      }
    } catch (error) {
      delete state.reprinted[item.id];
      fail(error);
    } finally {
      delete state.reprinting[item.id];
      await refreshPrinter();
    }
  }

  /* Print outcomes and the printer's health: the staff-only /printer namespace (not events). */
  function connectPrinter() {
    const socket = io("/printer", {withCredentials: true, transports: ["websocket", "polling"]});
    socket.on("connect", function () { refreshPrinter(); });
    socket.on("printer.status", function (health) {
      state.printer = health;
      renderPrinter();
    });
    socket.on("print.status", function (news) {
      if (!news || !news.print) return;
      const known = state.unprinted.some(function (item) { return item.id === news.ticket_id; });
      // Whether the list refreshed before or after this news arrived, a failure is told once.
      if (news.print.status === "failed" && !(state.failureNews && news.ticket_id in state.failureNews)) {
        if (state.failureNews) state.failureNews[news.ticket_id] = true;
        $("printer-news").textContent = t("counter.printer.failed_news",
                                          {code: news.code, state: printerLabel({status: "error", detail: news.detail})});
      } else if (news.print.status === "printed" && (known || news.ticket_id in state.reprinted ||
                                                     (state.issued && state.issued.id === news.ticket_id))) {
        if (news.ticket_id in state.reprinted) state.reprinted[news.ticket_id] = "printed";
        $("printer-news").textContent = t("counter.printer.printed_news", {code: news.code});
      }
      if (state.issued && state.issued.id === news.ticket_id) {
        state.issued.print = news.print.status;
        renderIssued();
      }
      refreshPrinter();
    });
    return socket;
  }

  /* ------------------------------------------------------------ wiring */

  document.querySelectorAll("[data-action]").forEach(function (button) {
    const name = button.dataset.action;
    if (button.type === "submit") return;
    button.addEventListener("click", function () { actions[name](); });
  });
  $("finish-form").addEventListener("submit", function (e) { e.preventDefault(); actions.finish(); });
  $("transfer-form").addEventListener("submit", function (e) { e.preventDefault(); actions.transfer(); });
  $("pause-form").addEventListener("submit", function (e) { e.preventDefault(); actions.pause(); });
  $("counter-select").addEventListener("change", render);
  $("language-first").addEventListener("change", function () { actions["language-first"](); });

  const keys = {n: "call-next", r: "recall", i: "start", a: "no-show", u: "return"};
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.altKey || e.metaKey || e.repeat) return;
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
    if ($("class-dialog").open) return;
    const key = e.key.toLowerCase();
    let target = null;
    if (keys[key]) target = $(keys[key] === "call-next" ? "call-next" : keys[key]);
    else if (key === "f") { if (!$("finish").disabled) { e.preventDefault(); $("outcome").focus(); } return; }
    else if (key === "d") { if (!$("transfer").disabled) { e.preventDefault(); $("transfer-service").focus(); } return; }
    else if (key === "p") {
      e.preventDefault();
      if (!$("resume").disabled) actions.resume(); else if (!$("pause").disabled) $("pause-reason").focus();
      return;
    }
    if (target && !target.disabled) { e.preventDefault(); actions[keys[key]](); }
  });

  const remembered = localStorage.getItem("turnero.counter");
  if (remembered && config.counters.some(function (c) { return c.id === remembered; })) {
    $("counter-select").value = remembered;
  }
  setInterval(tick, 1000);
  L.connect({
    event: function (evt) {
      refresh();
      const data = evt.data || {};
      const touched = [data.ticket, data.from].filter(Boolean).map(function (item) { return item.id; });
      if (state.unprinted.some(function (item) { return touched.indexOf(item.id) >= 0; })) refreshPrinter();
    },
    resync: refresh,
    connection: function (online) {
      $("connection").textContent = online ? msg["counter.online"] : msg["counter.offline"];
      $("connection").classList.toggle("offline", !online);
    },
  });
  refresh();
  connectPrinter();
  refreshPrinter();
})();
