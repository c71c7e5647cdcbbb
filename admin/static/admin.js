// Admin page: bring a refused settings save's error and the line it names into view, and a new
// pairing code beside its device. No inline script (CSP).
(function () {
  "use strict";
  var error = document.getElementById("settings-error");
  var editor = document.getElementById("settings-text");
  if (error && editor) {
    var line = parseInt(editor.getAttribute("data-error-line") || "0", 10);
    if (line > 0) {
      var lines = editor.value.split("\n");
      var start = 0;
      for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
      var end = start + (lines[line - 1] || "").length;
      editor.focus({ preventScroll: true });
      editor.setSelectionRange(start, end);
      // Show the named line near the top of the editor's own scroll area.
      var lineHeight = parseFloat(window.getComputedStyle(editor).lineHeight) || 20;
      editor.scrollTop = Math.max(0, (line - 3) * lineHeight);
    }
    error.scrollIntoView({ block: "start" });
    if (!(line > 0)) error.focus({ preventScroll: true });
  }
  var pairing = document.getElementById("pairing-code");
  if (pairing) {
    pairing.scrollIntoView({ block: "center" });
  }
})();
