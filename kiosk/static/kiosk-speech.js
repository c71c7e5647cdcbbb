/* "Escuchar": the kiosk says the step on screen, for people who do not read Spanish or do not
 * read. The page names the step; the box looks up its text in the catalog, says it with the
 * recorded pack or espeak-ng of the kiosk's language (else in Spanish, with a visible note) and
 * answers 202 while the audio is being made, so the page asks again shortly. With
 * [kiosk] speak_steps, each step is also said once when a touch brings it up (browsers allow
 * sound only after a touch). */
(function () {
  "use strict";

  var STEPS = {start: "start", confirm: "confirm", document: "document", appointment: "appointment", ticket: "ticket"};
  var ASK_ROUNDS = 12;
  var TOUCH_BROUGHT_IT_MS = 5000;

  window.KioskSpeech = function (options) {
    var button = options.button, note = options.note, audio = options.audio;
    var screen = null;
    var asking = 0;  // bumped by every new request or screen: late answers are dropped
    var lastTouch = 0;
    var said = 0;

    function setState(value, text) {
      button.setAttribute("data-state", value);
      note.textContent = text || "";
      note.hidden = !text;
    }

    function stop() {
      asking += 1;
      if (!audio.paused) audio.pause();
      setState("idle", "");
    }

    function say() {
      var step = STEPS[screen];
      if (!step) return;
      stop();
      var mine = asking;
      var language = options.lang();
      setState("preparing", options.t("kiosk.listen_preparing"));

      function ask(round) {
        var url = "/api/v1/kiosk/speech?step=" + step + "&lang=" + encodeURIComponent(language) +
          "&wait=" + (round === 0 ? 1 : 2);
        fetch(url, {credentials: "same-origin", headers: options.headers})
          .then(function (response) {
            return response.json().then(function (body) { return {status: response.status, body: body}; });
          })
          .then(function (answer) {
            if (mine !== asking) return;
            if (answer.status === 202 && round < ASK_ROUNDS) {
              setTimeout(function () { if (mine === asking) ask(round + 1); }, 300);
              return;
            }
            if (answer.status !== 200 || !answer.body.url) {
              setState("unavailable", options.t("kiosk.listen_unavailable"));
              return;
            }
            var body = answer.body;
            button.setAttribute("data-language", body.language);
            setState("playing", body.fallback ? body.note : "");
            audio.src = body.url;
            audio.play().then(function () {
              // Counted only for the latest request: what the page (and its tests) can rely on.
              if (mine === asking) button.setAttribute("data-said", String(++said));
            }, function () {
              if (mine === asking) setState("idle", body.fallback ? body.note : "");
            });
          })
          .catch(function () { if (mine === asking) setState("unavailable", options.t("kiosk.listen_unavailable")); });
      }
      ask(0);
    }

    audio.addEventListener("ended", function () {
      button.setAttribute("data-state", "idle");
    });
    button.addEventListener("click", say);
    document.addEventListener("pointerdown", function () { lastTouch = Date.now(); }, true);
    document.addEventListener("keydown", function () { lastTouch = Date.now(); }, true);

    return {
      /* A screen is shown: hush the last one, offer "Escuchar" on a step, and say it when the
       * sede asks and a touch (not a timer) brought it up. */
      shown: function (name) {
        screen = name;
        stop();
        button.hidden = !STEPS[name];
        var byTouch = Date.now() - lastTouch < TOUCH_BROUGHT_IT_MS || name === "ticket";
        if (options.speakSteps && STEPS[name] && lastTouch && byTouch) say();
      },
      /* The language changed on the start screen: say it again in the new language. */
      languageChanged: function () {
        if (options.speakSteps) say();
        else stop();
      }
    };
  };
})();
