/* Hall display: shows every call and recall at once (newest large) and announces them one
 * after another, in seq order, never twice.
 *
 * Events come over Socket.IO (the device cookie authenticates the handshake). `cursor` is the
 * last event seq handled; a gap, a (re)connect or a failed fetch triggers a catch-up from
 * /api/v1/events?after=cursor, so nothing is lost. `announced` (kept in localStorage) is the last
 * call seq announced, so a reload or a box restart never repeats an announcement. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("display-config").textContent);
  var T = config.messages;
  var CALL_TYPES = { "ticket.called": true, "ticket.recalled": true };
  var HIGHLIGHT_MS = 8000;       // a new call stands out this long
  var HOLD_MS = 15000;           // a call stays listed at least this long, even past previous_calls
  var STALE_MS = 5 * 60 * 1000;  // calls older than this, found in a catch-up, are shown, not said
  var PROBE_KEEP = 500;          // a TV runs for weeks: keep the probe's lists bounded
  var storageKey = "turnero.display." + config.sede + "." + config.device + ".announced";
  var clockOffset = config.server_now_ms - Date.now();

  var els = {
    current: document.getElementById("current"),
    previous: document.getElementById("previous"),
    offline: document.getElementById("offline"),
    clock: document.getElementById("clock"),
    player: document.getElementById("player"),
    enableSound: document.getElementById("enable-sound")
  };

  var state = {
    cursor: null,       // last event seq handled
    expected: null,     // last event seq handled or queued to be
    announced: 0,       // last call seq announced (or deliberately skipped)
    calls: [],          // newest first: {seq, code, counter, service, preferential, recall, shownAt}
    speakQueue: [],
    speaking: null,
    online: false
  };
  // What tests and benchmarks read: when each call was drawn and what was announced.
  var probe = window.turneroDisplay = { state: state, shown: [], announcements: [], catchUps: 0 };

  function readAnnounced() {
    try { return Number(window.localStorage.getItem(storageKey)) || 0; } catch (e) { return 0; }
  }
  function saveAnnounced(seq) {
    state.announced = Math.max(state.announced, seq);
    try { window.localStorage.setItem(storageKey, String(state.announced)); } catch (e) { /* private mode */ }
  }

  // ------------------------------------------------------------------ drawing

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function badges(call) {
    var out = [];
    if (call.preferential) out.push(el("span", "badge badge-preferential", "★ " + T["display.preferential"]));
    if (call.recall) out.push(el("span", "badge badge-recall", "↻ " + T["display.recall"]));
    return out;
  }

  var drawn = null;
  function render() {
    var now = Date.now();
    // Redraw only on change: the live region must speak a call once, not every clock tick.
    var signature = JSON.stringify([state.speaking, state.announced, state.calls.map(function (call) {
      return [call.seq, now - call.shownAt < HIGHLIGHT_MS, now - call.shownAt < HOLD_MS];
    })]);
    if (signature === drawn) return;
    drawn = signature;
    var current = state.calls[0];
    els.current.textContent = "";
    if (!current) {
      els.current.appendChild(el("p", "no-calls", T["display.no_calls"]));
    } else {
      var big = el("div", "call-big");
      big.dataset.seq = current.seq;
      if (now - current.shownAt < HIGHLIGHT_MS) big.classList.add("is-new");
      if (current.preferential) big.classList.add("is-preferential");
      if (current.recall) big.classList.add("is-recall");
      if (state.speaking === current.seq) big.classList.add("is-speaking");
      var line = el("p", "call-line");
      line.appendChild(el("span", "call-code", current.code));
      var arrow = el("span", "call-arrow", "→");
      arrow.setAttribute("aria-hidden", "true");  // screen readers say the code and the counter, not the arrow
      line.appendChild(arrow);
      line.appendChild(el("span", "call-counter", current.counter));
      big.appendChild(line);
      var meta = el("p", "call-meta");
      if (current.service) meta.appendChild(el("span", "call-service", current.service));
      badges(current).forEach(function (badge) { meta.appendChild(badge); });
      big.appendChild(meta);
      els.current.appendChild(big);
    }
    els.previous.textContent = "";
    state.calls.slice(1).forEach(function (call, index) {
      var keep = index < config.previous_calls || now - call.shownAt < HOLD_MS || call.seq > state.announced;
      if (!keep) return;
      var row = el("tr", "call-row");
      row.dataset.seq = call.seq;
      if (now - call.shownAt < HIGHLIGHT_MS) row.classList.add("is-new");
      if (state.speaking === call.seq) row.classList.add("is-speaking");
      if (call.preferential) row.classList.add("is-preferential");
      if (call.recall) row.classList.add("is-recall");
      var code = el("td", "row-code", call.code);
      badges(call).forEach(function (badge) { code.appendChild(badge); });
      row.appendChild(code);
      row.appendChild(el("td", "row-counter", call.counter));
      els.previous.appendChild(row);
    });
  }

  function trimCalls() {
    var now = Date.now();
    var limit = config.previous_calls + 1;
    state.calls = state.calls.filter(function (call, index) {
      return index < limit || now - call.shownAt < HOLD_MS || call.seq > state.announced;
    });
  }

  function addCall(call) {
    for (var i = 0; i < state.calls.length; i++) {
      if (state.calls[i].seq === call.seq) return false;
    }
    state.calls.push(call);
    state.calls.sort(function (a, b) { return b.seq - a.seq; });
    trimCalls();
    render();
    var entry = { seq: call.seq, code: call.code, drawnAt: Date.now(), paintedAt: null };
    probe.shown.push(entry);
    if (probe.shown.length > PROBE_KEEP) probe.shown.splice(0, probe.shown.length - PROBE_KEEP);
    window.requestAnimationFrame(function () { entry.paintedAt = Date.now(); });
    return true;
  }

  function fromEvent(event) {
    var data = event.data || {};
    var ticket = data.ticket || {};
    var counter = data.counter || {};
    return {
      seq: event.seq, code: ticket.code, counter: counter.name || ticket.counter_name || ticket.counter || "",
      service: ticket.service_label || "", preferential: !!ticket.preferential,
      recall: event.type === "ticket.recalled" || data.recall === true, shownAt: Date.now(),
      at: Date.parse(event.at)
    };
  }

  function fromBoard(entry) {
    return {
      seq: entry.seq, code: entry.code, counter: entry.counter_name || entry.counter || "",
      service: entry.service_label || "", preferential: !!entry.preferential, recall: !!entry.recall,
      shownAt: 0, at: Date.parse(entry.called_at)
    };
  }

  // ------------------------------------------------------------------ events, in order

  var work = Promise.resolve();
  function serially(task) {
    work = work.then(task).catch(function (error) { console.error("display:", error); });
    return work;
  }

  function handle(event) {
    if (state.cursor !== null && event.seq <= state.cursor) return;  // seen already
    state.cursor = event.seq;
    if (!CALL_TYPES[event.type] || !event.data || !event.data.ticket) return;
    var call = fromEvent(event);
    addCall(call);
    if (call.seq <= state.announced) return;
    var fresh = Date.now() + clockOffset - call.at < STALE_MS;
    if (fresh) {
      enqueueAnnouncement(call);
    } else {
      saveAnnounced(call.seq);  // too old to call people with; shown only
    }
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json", "X-Turnero-Device": "display" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error(url + " answered " + response.status);
        return response.json();
      });
  }

  var retryTimer = null;
  function catchUp() {
    return serially(function () {
      probe.catchUps += 1;
      function page() {
        return getJson("/api/v1/events?after=" + state.cursor + "&limit=500").then(function (body) {
          if (body.last_seq < state.cursor) {
            // A different database (restored backup): start over from its end, saying nothing old.
            state.cursor = state.expected = state.announced = body.last_seq;
            try { window.localStorage.setItem(storageKey, String(body.last_seq)); } catch (e) { /* ignore */ }
            return;
          }
          body.events.forEach(handle);
          if (body.events.length === 500) return page();
        });
      }
      var ready = state.cursor === null ? start() : Promise.resolve();  // start-up failed before
      return ready.then(page).then(function () {
        if (probe.socket && probe.socket.connected) setOnline(true);
      }).catch(function (error) {
        setOnline(false);
        if (!retryTimer) {  // one retry pending at a time, however many catch-ups failed
          retryTimer = window.setTimeout(function () { retryTimer = null; catchUp(); }, 2000);
        }
        throw error;
      });
    });
  }

  function receive(event) {
    if (!event || typeof event.seq !== "number") return;
    if (state.cursor === null) return;  // still starting; the start-up catch-up covers it
    var expected = Math.max(state.cursor, state.expected || 0);
    if (event.seq === expected + 1) {
      state.expected = event.seq;
      serially(function () { handle(event); });
    } else if (event.seq > expected) {
      state.expected = event.seq;
      catchUp();  // a gap: fetch what is missing, in order (a filtered display sees gaps often)
    }
  }

  function start() {
    // The end of the event log first, then the board: anything in between is caught up below.
    return getJson("/api/v1/events?after=" + Number.MAX_SAFE_INTEGER + "&limit=1").then(function (tail) {
      return getJson("/api/v1/board?limit=" + Math.max(1, config.previous_calls + 1)).then(function (board) {
        var stored = readAnnounced();
        if (!stored || stored > tail.last_seq) stored = tail.last_seq;  // first load: announce nothing old
        state.announced = stored;
        state.cursor = state.expected = stored;
        saveAnnounced(stored);
        board.calls.slice().reverse().forEach(function (entry) {
          if (entry.seq <= stored) addCall(fromBoard(entry));
        });
        render();
      });
    });
  }

  // ------------------------------------------------------------------ voice

  function enqueueAnnouncement(call) {
    var item = { call: call, announcement: null };
    if (config.voice && config.audio) {  // the phrase is fetched now, so a burst is ready in time
      item.announcement = getJson("/api/v1/announcements/" + call.seq + "?wait=" + config.wait_seconds)
        .catch(function (error) { return { status: "failed", parts: [], error: String(error) }; });
    }
    state.speakQueue.push(item);
    if (state.speaking === null) speakNext();
  }

  function play(url, limitMs) {
    return new Promise(function (resolve) {
      var player = els.player;
      var done = false;
      function finish(result) {
        if (done) return;
        done = true;
        window.clearTimeout(timer);
        player.onended = player.onerror = null;
        resolve(result);
      }
      var timer = window.setTimeout(function () { finish("timeout"); }, limitMs);
      player.onended = function () { finish("played"); };
      player.onerror = function () { finish("error"); };
      player.src = url;
      var started = player.play();
      if (started && started.catch) {
        started.catch(function (error) {
          if (error && error.name === "NotAllowedError") {
            els.enableSound.hidden = false;  // the TV's browser blocks sound until someone taps once
            finish("blocked");
          } else {
            finish("error");
          }
        });
      }
    });
  }

  function pause(ms) {
    return new Promise(function (resolve) { window.setTimeout(resolve, ms); });
  }

  function speakNext() {
    var item = state.speakQueue.shift();
    if (!item) {
      state.speaking = null;
      render();
      return;
    }
    var call = item.call;
    state.speaking = call.seq;
    saveAnnounced(call.seq);
    render();
    var record = { seq: call.seq, code: call.code, recall: call.recall, startedAt: Date.now(), status: "muted", played: [] };
    probe.announcements.push(record);
    if (probe.announcements.length > PROBE_KEEP) probe.announcements.shift();
    var sequence = Promise.resolve();
    if (config.audio) {
      // The chime always sounds, with or without a phrase: a failed synthesis never silences a call.
      sequence = play(config.chime_url, 3000).then(function (result) {
        record.played.push("chime:" + result);
        return item.announcement || { status: config.voice ? "failed" : "disabled", parts: [] };
      }).then(function (announcement) {
        record.status = announcement.status;
        var parts = announcement.status === "ready" ? announcement.parts : [];
        var chain = Promise.resolve();
        for (var round = 0; round < (announcement.repeat || 1); round++) {
          parts.forEach(function (part, index) {
            chain = chain.then(function () {
              return (round > 0 || index > 0 ? pause(400) : Promise.resolve()).then(function () {
                return play(part.url, ((part.duration || 5) + 3) * 1000);
              }).then(function (result) { record.played.push(part.language + ":" + result); });
            });
          });
        }
        return chain;
      });
    }
    sequence.catch(function () {}).then(function () {
      record.endedAt = Date.now();
      return pause(300);
    }).then(speakNext);
  }

  els.enableSound.addEventListener("click", function () {
    els.enableSound.hidden = true;
    els.player.muted = false;
    els.player.play().catch(function () {});
  });

  // ------------------------------------------------------------------ connection, clock

  function setOnline(online) {
    state.online = online;
    els.offline.hidden = online;
    document.body.classList.toggle("is-offline", !online);
  }

  function connect() {
    var socket = window.io({
      auth: { device: "display" },  // which paired cookie is this page's (a browser may hold a kiosk's too)
      transports: ["websocket", "polling"],
      reconnection: true, reconnectionDelay: 500, reconnectionDelayMax: 5000
    });
    socket.on("connect", function () {
      setOnline(true);
      catchUp();  // starts the display first if it has not started yet
    });
    socket.on("disconnect", function () { setOnline(false); });
    socket.on("connect_error", function () { setOnline(false); });
    socket.onAny(function (name, payload) { receive(payload); });
    probe.socket = socket;
  }

  var clockFormat = new Intl.DateTimeFormat("es-PE", {
    timeZone: config.timezone, hour: "2-digit", minute: "2-digit", hour12: false
  });
  function tick() {
    var now = new Date(Date.now() + clockOffset);
    els.clock.textContent = clockFormat.format(now);
    els.clock.setAttribute("datetime", now.toISOString());
    trimCalls();
    render();  // highlights fade and held calls leave on time
  }

  setOnline(false);
  tick();
  window.setInterval(tick, 1000);
  connect();
})();
