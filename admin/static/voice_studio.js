// Voice studio: record a word in the browser, send it to the box, play it back, review another
// person's recording. Recording is WAV made here (Web Audio: microphone samples -> 16-bit PCM),
// because MediaRecorder in Chromium makes WebM/Opus, which the box's sox cannot read. Calls through
// studio_post.js (session cookie, CSRF header); refusals show under the word in the server's own
// words. No inline script (CSP).
(function () {
  "use strict";
  var studio = document.getElementById("voice-studio");
  if (!studio) return;
  var language = studio.getAttribute("data-language");
  var me = studio.getAttribute("data-me");
  var base = "/admin/voz/" + encodeURIComponent(language);
  var MAX_SECONDS = 10;
  var active = null;  // the recording under way: {row, stop}

  function text(name) { return studio.getAttribute("data-" + name); }

  function say(row, message, isError) {
    var box = row ? row.querySelector(".message") : document.getElementById("pack-message");
    box.textContent = message;
    box.className = isError ? "message error" : "message ok";
    box.setAttribute("role", isError ? "alert" : "status");
  }

  function show(row) {
    var state = row.getAttribute("data-state");
    var recorded = state !== "missing";
    row.querySelector('[data-action="grabar"]').textContent = recorded ? text("rerecord") : text("record");
    row.querySelector('[data-action="escuchar"]').hidden = !recorded;
    row.querySelector('[data-action="revisar"]').hidden = !(state === "borrador" && row.getAttribute("data-author") !== me);
    row.querySelector('[data-action="descartar"]').hidden = !(state === "borrador" || (recorded && row.getAttribute("data-author")));
  }

  function update(item) {
    if (!item) return null;  // a key the sede no longer needs: no row shows it
    var row = studio.querySelector('.clip[data-key="' + item.key + '"]');
    if (!row) return null;
    row.setAttribute("data-state", item.state);
    row.setAttribute("data-author", item.author || "");
    row.setAttribute("data-clip", item.clip || "");  // what "Revisar" says was heard
    var label = row.querySelector(".state");
    label.className = "state state-" + item.state;
    label.textContent = item.state_label;
    row.querySelector(".who").textContent = item.who;
    show(row);
    return row;
  }

  function summary(data) {
    var status = document.getElementById("pack-status");
    status.textContent = data.status;
    status.setAttribute("data-in-use", data.in_use ? "1" : "0");
    document.getElementById("pack-progress").textContent = text("progress")
      .replace("{reviewed}", data.counts.revisado).replace("{total}", data.total)
      .replace("{draft}", data.counts.borrador).replace("{missing}", data.counts.missing);
    var bar = document.getElementById("pack-bar");
    bar.max = data.total;
    bar.value = data.counts.revisado;
  }

  async function send(row, path, body, contentType) {
    var answer = await window.studioPost(base + path, body, contentType, text("network"));
    if (answer.error) {
      say(row, answer.error, true);
      return null;
    }
    summary(answer.data);
    return answer.data;
  }

  function wav(chunks, rate) {
    var length = chunks.reduce(function (sum, chunk) { return sum + chunk.length; }, 0);
    var buffer = new ArrayBuffer(44 + length * 2);
    var view = new DataView(buffer);
    function ascii(offset, value) { for (var i = 0; i < value.length; i++) view.setUint8(offset + i, value.charCodeAt(i)); }
    ascii(0, "RIFF"); view.setUint32(4, 36 + length * 2, true); ascii(8, "WAVE");
    ascii(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
    view.setUint16(34, 16, true); ascii(36, "data"); view.setUint32(40, length * 2, true);
    var offset = 44;
    chunks.forEach(function (chunk) {
      for (var i = 0; i < chunk.length; i++, offset += 2) {
        var sample = Math.max(-1, Math.min(1, chunk[i]));
        view.setInt16(offset, sample < 0 ? sample * 0x8000 : sample * 0x7fff, true);
      }
    });
    return new Blob([buffer], {type: "audio/wav"});
  }

  async function start(row) {
    var stream;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say(row, text("no-mic"), true);  // not a secure context (http:// other than the box itself)
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({audio: {channelCount: 1, echoCancellation: false}});
    } catch (refused) {
      say(row, text("no-mic"), true);
      return;
    }
    var context = new (window.AudioContext || window.webkitAudioContext)();
    var source = context.createMediaStreamSource(stream);
    var processor = context.createScriptProcessor(4096, 1, 1);
    var chunks = [];
    processor.onaudioprocess = function (event) { chunks.push(new Float32Array(event.inputBuffer.getChannelData(0))); };
    source.connect(processor);
    processor.connect(context.destination);
    var button = row.querySelector('[data-action="grabar"]');
    button.textContent = text("stop");
    row.setAttribute("data-recording", "1");
    say(row, text("recording"), false);
    var timer = setTimeout(function () { if (active && active.row === row) active.stop(); }, MAX_SECONDS * 1000);
    active = {row: row, stop: async function () {
      clearTimeout(timer);
      active = null;
      processor.disconnect();
      source.disconnect();
      stream.getTracks().forEach(function (track) { track.stop(); });
      var rate = context.sampleRate;
      await context.close();
      row.removeAttribute("data-recording");
      show(row);
      var blob = wav(chunks, rate);
      if (blob.size > Number(text("max-bytes"))) {
        say(row, text("too-large"), true);
        return;
      }
      var data = await send(row, "/grabar?clave=" + encodeURIComponent(row.getAttribute("data-key")), blob, "audio/wav");
      if (data) {
        update(data.item);
        say(row, text("saved"), false);
      }
    }};
  }

  function play(row) {
    var audio = row.querySelector("audio");
    audio.src = base + "/clip?clave=" + encodeURIComponent(row.getAttribute("data-key")) + "&v=" + Date.now();
    audio.play().catch(function (error) { say(row, String(error), true); });
  }

  async function act(row, action) {
    if (action === "grabar") {
      if (active && active.row === row) return active.stop();
      if (active) await active.stop();
      return start(row);
    }
    if (action === "escuchar") return play(row);
    if (action === "subir") {  // a file recorded elsewhere (a phone), or where the page may not use the microphone
      uploadRow = row;
      fileInput.value = "";
      return fileInput.click();
    }
    var body = {key: row.getAttribute("data-key")};
    if (action === "revisar") body.clip = row.getAttribute("data-clip");
    var data = await send(row, "/" + action, JSON.stringify(body), "application/json");
    if (!data) return;
    (data.items || [data.item]).forEach(update);
    say(row, text(action === "revisar" ? "reviewed" : "discarded"), false);
  }

  var fileInput = document.getElementById("clip-file");
  var uploadRow = null;
  fileInput.addEventListener("change", async function () {
    var row = uploadRow, file = fileInput.files[0];
    if (!row || !file) return;
    var data = await send(row, "/grabar?clave=" + encodeURIComponent(row.getAttribute("data-key")), file,
                          file.type || "application/octet-stream");
    if (data) {
      update(data.item);
      say(row, text("saved"), false);
    }
  });

  Array.prototype.forEach.call(studio.querySelectorAll(".clip"), function (row) {
    show(row);
    Array.prototype.forEach.call(row.querySelectorAll("button[data-action]"), function (button) {
      button.addEventListener("click", function () { act(row, button.getAttribute("data-action")); });
    });
  });

  document.getElementById("review-all").addEventListener("click", async function () {
    var heard = {};  // the clips this page shows: one recorded again meanwhile is not approved unheard
    Array.prototype.forEach.call(studio.querySelectorAll('.clip[data-state="borrador"]'), function (row) {
      if (row.getAttribute("data-author") !== me) heard[row.getAttribute("data-key")] = row.getAttribute("data-clip");
    });
    var data = await send(null, "/revisar", JSON.stringify({all: true, heard: heard}), "application/json");
    if (!data) return;
    data.items.forEach(update);
    say(null, text("reviewed"), false);
  });
})();
