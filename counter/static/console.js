/* The counter console: one counter, its ticket in hand, the waiting list of its services. */
(function () {
  "use strict";
  const L = window.TurneroLive;
  const config = JSON.parse(document.getElementById("config").textContent);
  const msg = config.messages;
  const me = config.user.username;
  const noShowAfter = config.console.no_show_after_recalls;
  const $ = function (id) { return document.getElementById(id); };

  const state = {counter: null, queue: [], figures: null, inFlight: false, lastWaiting: null,
                 skew: 0, notified: 0};

  function t(key, params) { return L.format(msg[key] || key, params || {}); }
  function now() { return Date.now() + state.skew; }

  function say(text) { $("info").textContent = text || ""; }
  function fail(error) { $("message").textContent = error.message || String(error); }
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
      const [counters, queue, figures] = await Promise.all([
        L.api("GET", "/counters"), L.api("GET", "/queue"), L.api("GET", "/stats/me")]);
      const list = counters.data.counters;
      const held = list.find(function (c) { return c.staff === me && c.state !== "closed"; });
      const chosen = held || list.find(function (c) { return c.id === counterId(); }) || list[0];
      state.counter = chosen;
      if (held) $("counter-select").value = held.id;
      state.queue = queue.data.tickets;
      state.figures = figures.data;
      noticeArrivals();
    } catch (error) {
      fail(error);
    }
    render();
  });

  function myQueue() {
    if (!mine()) return [];
    const served = state.counter.services;
    return state.queue.filter(function (ticket) { return served.indexOf(ticket.service) >= 0; });
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

    $("call-next").disabled = busy || !open || !!held;
    $("recall").disabled = busy || !held || held.status !== "called";
    $("start").disabled = busy || !held || held.status !== "called";
    $("return").disabled = busy || !held || held.status !== "called";
    const noShowReady = held && held.status === "called" && held.recalls >= noShowAfter;
    $("no-show").disabled = busy || !noShowReady;
    $("no-show-hint").textContent = held && held.status === "called" && !noShowReady ?
      t("counter.no_show_after", {n: noShowAfter}) : "";
    $("finish").disabled = busy || !held || held.status !== "serving";
    $("transfer").disabled = busy || !held;
    $("pause").disabled = busy || !open || !!held;
    $("resume").disabled = busy || !paused;
    if (!mine()) say(t("counter.need_counter"));

    $("ticket-empty").hidden = !!held;
    $("ticket-detail").hidden = !held;
    if (held) {
      $("ticket-code").textContent = held.code;
      $("ticket-service").textContent = held.service_label;
      $("ticket-class").textContent = className(held.priority);
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

  function renderQueue() {
    const rows = myQueue();
    const body = $("waiting-body");
    const canCall = mine() && state.counter.state === "open" && !ticket() && !state.inFlight;
    body.replaceChildren.apply(body, rows.map(function (item) {
      const person = [item.document ? item.document.type + " " + item.document.number : "", item.name || ""]
        .filter(Boolean).join(" · ");
      const button = L.el("button", {type: "button", text: t("counter.call_this"), disabled: !canCall,
                                     "data-call": item.id});
      button.setAttribute("aria-label", t("counter.call_this") + " " + item.code);
      button.addEventListener("click", function () { callThis(item.id); });
      return L.el("tr", {"data-code": item.code, class: item.priority ? "preferential" : ""}, [
        L.el("th", {scope: "row", text: item.code}),
        L.el("td", {text: item.service_label}),
        L.el("td", {text: className(item.priority)}),
        L.el("td", {class: "waited", "data-issued": item.issued_at}),
        L.el("td", {text: item.appointment_at ? item.appointment_at.slice(11, 16) : ""}),
        L.el("td", {text: person}),
        L.el("td", {}, [button]),
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

  const keys = {n: "call-next", r: "recall", i: "start", a: "no-show", u: "return"};
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.altKey || e.metaKey || e.repeat) return;
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
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
    },
    resync: refresh,
    connection: function (online) {
      $("connection").textContent = online ? msg["counter.online"] : msg["counter.offline"];
      $("connection").classList.toggle("offline", !online);
    },
  });
  refresh();
})();
