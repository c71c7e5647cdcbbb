// Translation studio: save a string as borrador, review another person's, discard one. JSON calls
// through studio_post.js (session cookie, CSRF header); a refusal (a placeholder dropped...) shows under
// the string in the server's own words. No inline script (CSP).
(function () {
  "use strict";
  var studio = document.getElementById("studio");
  if (!studio) return;
  var language = studio.getAttribute("data-language");
  var me = studio.getAttribute("data-me");
  var done = {guardar: studio.getAttribute("data-saved"), revisar: studio.getAttribute("data-reviewed"),
              descartar: studio.getAttribute("data-discarded")};

  function show(row) {
    var state = row.getAttribute("data-state");
    var author = row.getAttribute("data-author");
    row.querySelector('[data-action="revisar"]').hidden = !(state === "borrador" && author !== me);
    row.querySelector('[data-action="descartar"]').hidden = row.getAttribute("data-stored") !== "1";
  }

  function update(row, form) {
    row.setAttribute("data-state", form.state);
    row.setAttribute("data-author", form.author || "");
    row.setAttribute("data-stored", form.stored ? "1" : "0");
    row.querySelector("textarea").value = form.text;
    var label = row.querySelector(".state");
    label.className = "state state-" + form.state;
    label.textContent = form.state_label;
    row.querySelector(".who").textContent = form.who;
    show(row);
  }

  function say(row, text, isError) {
    var message = row.querySelector(".message");
    message.textContent = text;
    message.className = isError ? "message error" : "message ok";
    message.setAttribute("role", isError ? "alert" : "status");
  }

  async function act(row, action) {
    var body = {key: row.getAttribute("data-key"), text: row.querySelector("textarea").value};
    var answer = await window.studioPost("/admin/traducciones/" + encodeURIComponent(language) + "/" + action,
                                         JSON.stringify(body), "application/json", studio.getAttribute("data-network"));
    if (answer.error) {
      say(row, answer.error, true);
      return;
    }
    update(row, answer.data);
    say(row, done[action], false);
  }

  Array.prototype.forEach.call(studio.querySelectorAll(".form-row"), function (row) {
    show(row);
    Array.prototype.forEach.call(row.querySelectorAll("button[data-action]"), function (button) {
      button.addEventListener("click", function () { act(row, button.getAttribute("data-action")); });
    });
  });
})();
