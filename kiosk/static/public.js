/* Live status of one ticket: Socket.IO pushes (room public:<public_id>) with polling as a net. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("public-config").textContent);
  var messages = config.messages;
  var POLL_CONNECTED_MS = 60000;
  var POLL_OFFLINE_MS = 10000;
  var pollTimer = null;
  var socket = null;

  function t(key, params) {
    var text = messages[key] || key;
    Object.keys(params || {}).forEach(function (name) { text = text.split("{" + name + "}").join(String(params[name])); });
    return text;
  }

  /* The plural form of ``key`` for ``count`` (catalog keys <key>.one, <key>.other...). */
  function plural(key, count, params) {
    var form = key + "." + new Intl.PluralRules(config.plural_language).select(count);
    return t(messages[form] ? form : key + ".other", params);
  }

  /* The estimate in words: the same choice as turnero/wait_words.py. */
  function waitWords(ticket) {
    var range = ticket.eta_range_minutes;
    if (ticket.eta_minutes === null || ticket.eta_minutes === undefined || !range) return t("public.eta_unknown");
    if (range.high === 0) return t("public.eta_soon");
    if (range.low === range.high) return plural("public.eta_about", range.high, {n: range.high});
    return plural("public.eta_range", range.high, {low: range.low, high: range.high});
  }

  function render(ticket) {
    document.getElementById("code").textContent = ticket.code;
    document.getElementById("service").textContent = ticket.service_label;
    var box = document.getElementById("status-box");
    box.className = "status status-" + ticket.status;
    document.getElementById("status").textContent = t("public.status." + ticket.status);
    var where = document.getElementById("where");
    var showWhere = ticket.counter_name && (ticket.status === "called" || ticket.status === "serving");
    where.hidden = !showWhere;
    where.textContent = showWhere ? t(ticket.status === "called" ? "public.go_to" : "public.serving_at",
      {counter: ticket.counter_name}) : "";
    var queue = document.getElementById("queue");
    queue.hidden = ticket.status !== "waiting";
    document.getElementById("position").textContent = ticket.position === 1 ? t("public.next")
      : (ticket.position ? t("public.position", {n: ticket.position - 1}) : "");
    document.getElementById("eta").textContent = waitWords(ticket);
    var now = new Date();
    document.getElementById("updated").textContent = t("public.updated",
      {time: ("0" + now.getHours()).slice(-2) + ":" + ("0" + now.getMinutes()).slice(-2)});
    document.body.setAttribute("data-status", ticket.status);
    if (ticket.status === "done" && survey === "closed") survey = "open";
    if (ticket.status !== "done" && survey === "open") survey = "closed";  // transferred on: rate at the end
    showSurvey();
  }

  /* "¿Cómo fue su atención?": offered once the visit is done, answered once. */
  var survey = config.survey;

  function showSurvey() {
    document.getElementById("survey").hidden = survey !== "open";
    document.getElementById("survey-thanks").hidden = survey !== "answered";
  }

  function surveyError(key) {
    var error = document.getElementById("survey-error");
    error.textContent = key ? t(key) : "";
    error.hidden = !key;
  }

  function sendSurvey(event) {
    event.preventDefault();
    var form = document.getElementById("survey-form");
    var chosen = form.querySelector("input[name=score]:checked");
    if (!chosen) { surveyError("public.survey.choose"); return; }
    var button = document.getElementById("survey-send");
    var body = {score: Number(chosen.value)};
    var comment = document.getElementById("survey-comment").value.trim();
    if (comment) body.comment = comment;
    button.disabled = true;
    fetch("/api/v1/public/tickets/" + encodeURIComponent(config.public_id) + "/survey", {
      method: "POST", headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (payload) { return [response.status, payload]; });
    }).then(function (answer) {
      var code = answer[1] && answer[1].error && answer[1].error.code;
      if (answer[0] === 201 || code === "already_rated") {
        survey = "answered";
        surveyError(null);
        showSurvey();
        document.getElementById("survey-thanks").focus();
      } else {
        surveyError("public.survey.error");
      }
    }, function () { surveyError("public.survey.error"); }).then(function () { button.disabled = false; });
  }

  function setOffline(offline) {
    document.getElementById("offline").hidden = !offline;
  }

  function poll() {
    clearTimeout(pollTimer);
    return fetch("/api/v1/public/tickets/" + encodeURIComponent(config.public_id), {headers: {"Accept": "application/json"}})
      .then(function (response) { if (!response.ok) throw new Error(String(response.status)); return response.json(); })
      .then(function (ticket) {
        render(ticket);
        if (socket && socket.connected) setOffline(false);
      }, function () { setOffline(true); })
      .then(schedule, schedule);
  }

  function schedule() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, socket && socket.connected ? POLL_CONNECTED_MS : POLL_OFFLINE_MS);
  }

  document.getElementById("survey-form").addEventListener("submit", sendSurvey);
  document.getElementById("survey-form").addEventListener("change", function () { surveyError(null); });
  render(config.ticket);
  if (window.io) {
    socket = window.io({auth: {public_id: config.public_id}, transports: ["websocket", "polling"]});
    socket.on("connect", function () { setOffline(false); poll(); });
    socket.on("disconnect", function () { setOffline(true); schedule(); });
    socket.on("ticket.status", function (payload) {
      if (payload && payload.ticket) render(payload.ticket);
    });
  }
  schedule();
})();
