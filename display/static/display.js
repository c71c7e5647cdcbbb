/* Hall display: shows the newest call large and the tickets called before it, and announces
 * every call and every recall one after another, in seq order, never twice. A recall is its own
 * event and its own announcement, but on screen it is the same ticket again: that ticket's one
 * row moves to the top, marked as a recall.
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
  var RECENT_ROWS = 3;           // the calls just before the current one stay large; older ones smaller
  var STALE_MS = 5 * 60 * 1000;  // calls older than this, found in a catch-up, are shown, not said
  var PROBE_KEEP = 500;          // a TV runs for weeks: keep the probe's lists bounded
  var storageKey = "turnero.display." + config.sede + "." + config.device + ".announced";
  var clockOffset = config.server_now_ms - Date.now();

  var els = {
    current: document.getElementById("current"),
    previous: document.getElementById("previous"),
    previousSection: document.getElementById("previous-section"),
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
  // What tests and benchmarks read: when each call was drawn, what was announced, and how many
  // previous rows were wanted and how many fit whole.
  var probe = window.turneroDisplay = {
    state: state, shown: [], announcements: [], catchUps: 0, rowsWanted: 0, rowsShown: 0
  };

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

  // The hall reads tickets, not events: a recall (its own board entry and its own announcement)
  // moves that ticket's one row to the top instead of listing the code twice. Codes are unique
  // within a day, and the board carries no ticket id, so the code is the key.
  function tickets() {
    var seen = {};
    return state.calls.filter(function (call) {
      if (seen[call.code]) return false;
      seen[call.code] = true;
      return true;
    });
  }

  function speakingCode() {
    for (var i = 0; i < state.calls.length; i++) {
      if (state.calls[i].seq === state.speaking) return state.calls[i].code;
    }
    return null;
  }

  // A line wider than its box is a word that does not fit: the TV would clip the name.
  function tooWide(box) {
    var nodes = [box].concat(Array.prototype.slice.call(box.querySelectorAll("*")));
    return nodes.some(function (node) {
      // A screen reader's text is clipped to a pixel on purpose.
      return node.scrollWidth > node.clientWidth && !node.classList.contains("visually-hidden");
    });
  }

  function outside(box, frame) {
    var outer = frame.getBoundingClientRect();
    var inner = box.getBoundingClientRect();
    return inner.top < outer.top || inner.bottom > outer.bottom || inner.left < outer.left || inner.right > outer.right;
  }

  // Shrinks `box` (its font sizes are multiplied by --fit) until `fits` holds: names are made
  // smaller rather than broken mid-word; the CSS keeps the current code at least 10 % of the
  // height of a landscape TV whatever the scale.
  function shrink(box, floor, fits) {
    var scale = 1;
    box.style.setProperty("--fit", "1");
    while (scale > floor && !fits()) {
      scale = Math.max(floor, scale - 0.05);
      box.style.setProperty("--fit", scale.toFixed(2));
    }
  }

  function fitCurrent() {
    var big = els.current.querySelector(".call-big");
    if (!big) return;
    shrink(big, 0.5, function () { return !tooWide(big) && !outside(big, els.current); });
  }

  // Only whole rows: a row that would be cut by the bottom of the list goes, with all older ones.
  // Dropping a row can narrow the code column and so shorten the rows above: measure again.
  function fitRows() {
    var frame = els.previousSection;
    var rows = Array.prototype.slice.call(els.previous.children);
    probe.rowsWanted = rows.length;
    rows.forEach(function (row) {
      shrink(row, 0.6, function () { return !tooWide(row); });
    });
    for (var guard = 0; guard < 50 && rows.length; guard++) {
      var bottom = frame.getBoundingClientRect().bottom;
      var cut = -1;
      for (var i = 0; i < rows.length; i++) {
        if (rows[i].getBoundingClientRect().bottom > bottom) { cut = i; break; }
      }
      if (cut < 0) break;
      rows.splice(cut).forEach(function (row) { row.remove(); });
    }
    probe.rowsShown = rows.length;
  }

  function drawCurrent(current, now, speaking) {
    els.current.textContent = "";
    if (!current) {
      els.current.appendChild(el("p", "no-calls", T["display.no_calls"]));
      return;
    }
    var big = el("div", "call-big");
    big.dataset.seq = current.seq;
    big.dataset.code = current.code;
    if (now - current.shownAt < HIGHLIGHT_MS) big.classList.add("is-new");
    if (current.preferential) big.classList.add("is-preferential");
    if (current.recall) big.classList.add("is-recall");
    if (speaking === current.code) big.classList.add("is-speaking");
    var line = el("p", "call-line");
    line.appendChild(el("span", "call-code", current.code));
    var where = el("span", "call-where");
    var arrow = el("span", "call-arrow", "→");
    arrow.setAttribute("aria-hidden", "true");  // screen readers hear "go to", not an arrow
    where.appendChild(arrow);
    where.appendChild(el("span", "visually-hidden", T["display.go_to"] + " "));
    where.appendChild(el("span", "call-counter", current.counter));
    line.appendChild(where);
    big.appendChild(line);
    var meta = el("p", "call-meta");
    badges(current).forEach(function (badge) { meta.appendChild(badge); });
    if (current.service) meta.appendChild(el("span", "call-service", current.service));
    big.appendChild(meta);
    els.current.appendChild(big);
  }

  function drawPrevious(rows, now, speaking) {
    els.previous.textContent = "";
    rows.forEach(function (call, index) {
      var row = el("tr", "call-row " + (index < RECENT_ROWS ? "is-recent" : "is-older"));
      row.dataset.seq = call.seq;
      row.dataset.code = call.code;
      if (now - call.shownAt < HIGHLIGHT_MS) row.classList.add("is-new");
      if (speaking === call.code) row.classList.add("is-speaking");
      if (call.preferential) row.classList.add("is-preferential");
      if (call.recall) row.classList.add("is-recall");
      row.appendChild(el("td", "row-code", call.code));
      var where = el("td", "row-counter");
      where.appendChild(el("span", "row-name", call.counter));
      var marks = badges(call);
      if (marks.length) {
        var holder = el("span", "row-badges");
        marks.forEach(function (badge) { holder.appendChild(badge); });
        where.appendChild(holder);
      }
      row.appendChild(where);
      els.previous.appendChild(row);
    });
    fitRows();
  }

  var drawn = { current: null, previous: null };
  function render(force) {
    var now = Date.now();
    var speaking = speakingCode();
    var list = tickets();
    var current = list[0];
    var rows = list.slice(1).filter(function (call, index) {
      return index < config.previous_calls || now - call.shownAt < HOLD_MS || call.seq > state.announced;
    });
    function look(call) { return [call.seq, now - call.shownAt < HIGHLIGHT_MS, speaking === call.code]; }
    // Redraw only on change: the live region must speak a call once, not every clock tick.
    var currentSignature = JSON.stringify(current ? look(current).concat(current.recall) : null);
    if (currentSignature !== drawn.current) {
      drawn.current = currentSignature;
      drawCurrent(current, now, speaking);
      fitCurrent();
      force = true;  // on a portrait TV the list gets what the current call leaves: measure it again
    } else if (force) {
      fitCurrent();
    }
    var previousSignature = JSON.stringify(rows.map(look));
    if (force || previousSignature !== drawn.previous) {
      drawn.previous = previousSignature;
      drawPrevious(rows, now, speaking);
    }
  }

  function trimCalls() {
    var now = Date.now();
    var limit = config.previous_calls + 1;
    var seen = {};
    var count = 0;
    state.calls = state.calls.filter(function (call) {
      var latest = !seen[call.code];
      if (latest) { seen[call.code] = true; count += 1; }
      return (latest && count <= limit) || now - call.shownAt < HOLD_MS || call.seq > state.announced;
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

  // Recalls are board entries of their own but share a row: ask for enough entries to fill the
  // list with distinct tickets even after a few recalls (the API answers 50 at most).
  function boardLimit() {
    return Math.min(50, Math.max(1, 3 * (config.previous_calls + 1)));
  }

  function start() {
    // The end of the event log first, then the board: anything in between is caught up below.
    return getJson("/api/v1/events?after=" + Number.MAX_SAFE_INTEGER + "&limit=1").then(function (tail) {
      return getJson("/api/v1/board?limit=" + boardLimit()).then(function (board) {
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

  // How many rows fit depends on the screen: measure again when it changes (a TV that starts its
  // browser before its final resolution, a rotated screen) and once the fonts are in.
  var refit = null;
  window.addEventListener("resize", function () {
    if (refit !== null) return;
    refit = window.requestAnimationFrame(function () { refit = null; render(true); });
  });
  if (document.fonts && document.fonts.ready) document.fonts.ready.then(function () { render(true); });

  setOnline(false);
  tick();
  window.setInterval(tick, 1000);
  connect();
})();
