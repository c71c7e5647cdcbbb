/* Staff pages: the JSON API with the session cookie, and the live event stream.
 * Events come over Socket.IO in seq order; a gap or a reconnect is filled from
 * /api/v1/events?after=, so nothing is lost. */
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  async function api(method, path, body) {
    const options = {method: method, credentials: "same-origin", headers: {"Accept": "application/json"}};
    if (method !== "GET") {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = csrf;
      options.body = JSON.stringify(body || {});
    }
    let response;
    try {
      response = await fetch("/api/v1" + path, options);
    } catch (networkError) {
      const config = document.getElementById("config");
      const error = new Error(config ? JSON.parse(config.textContent).messages["counter.network"] : "offline");
      error.code = "network";
      throw error;
    }
    if (response.status === 204) return {status: 204, data: null};
    let data = null;
    try { data = await response.json(); } catch (ignored) { data = null; }
    if (!response.ok) {
      const message = data && data.error && data.error.message;
      const error = new Error(message || ("Error " + response.status));
      error.code = data && data.error ? data.error.code : "http_" + response.status;
      error.status = response.status;
      error.serverMessage = !!message;  // the server's own words (Spanish), else only a status
      throw error;
    }
    return {status: response.status, data: data};
  }

  /* connect(handlers): handlers.event(evt) for each event in order, handlers.resync() after a
   * (re)connection or a gap, handlers.connection(online). */
  function connect(handlers) {
    let lastSeq = null;
    let catching = null;

    function deliver(evt) {
      if (lastSeq !== null && evt.seq <= lastSeq) return;  // already seen
      lastSeq = evt.seq;
      handlers.event(evt);
    }

    async function catchUp() {
      if (catching) return catching;
      catching = (async function () {
        try {
          if (lastSeq === null) {
            const head = await api("GET", "/events?after=4611686018427387904&limit=1");
            lastSeq = head.data.last_seq;
          } else {
            for (;;) {
              const page = await api("GET", "/events?after=" + lastSeq + "&limit=1000");
              page.data.events.forEach(deliver);
              if (page.data.events.length < 1000) break;
            }
          }
          handlers.resync();
        } finally {
          catching = null;
        }
      })();
      return catching;
    }

    const socket = io({withCredentials: true, transports: ["websocket", "polling"]});
    socket.on("connect", function () { handlers.connection(true); catchUp().catch(function () {}); });
    socket.on("disconnect", function () { handlers.connection(false); });
    socket.on("connect_error", function () { handlers.connection(false); });
    socket.onAny(function (name, evt) {
      if (!evt || typeof evt.seq !== "number") return;
      if (lastSeq !== null && evt.seq > lastSeq + 1) {
        catchUp().then(function () { deliver(evt); }).catch(function () {});
        return;
      }
      if (catching) { catching.then(function () { deliver(evt); }); return; }
      deliver(evt);
    });
    return {socket: socket, catchUp: catchUp, lastSeq: function () { return lastSeq; }};
  }

  /* Run refresh() now, or once more after the one in flight: never two at a time, never stale. */
  function coalesce(refresh) {
    let running = null;
    let again = false;
    return function trigger() {
      if (running) { again = true; return running; }
      running = (async function () {
        try {
          do { again = false; await refresh(); } while (again);
        } finally {
          running = null;
        }
      })();
      return running;
    };
  }

  function minutesSeconds(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  function format(text, params) {
    return String(text).replace(/\{(\w+)\}/g, function (all, key) { return key in params ? params[key] : all; });
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([key, value]) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  window.TurneroLive = {api: api, connect: connect, coalesce: coalesce, minutesSeconds: minutesSeconds,
                        format: format, el: el};
})();
