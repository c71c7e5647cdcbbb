// The studios' calls (studio.js, voice_studio.js): a POST with the session cookie and the CSRF
// header. Answers {data} or {error}: the server's own words, else the status, else ``network``
// (the text to show when the box cannot be reached). No inline script (CSP).
window.studioPost = async function (url, body, contentType, network) {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var response, data = null;
  try {
    response = await fetch(url, {
      method: "POST", credentials: "same-origin", body: body,
      headers: {"Content-Type": contentType, "Accept": "application/json", "X-CSRFToken": csrf}});
  } catch (networkError) {
    return {error: network};
  }
  try { data = await response.json(); } catch (ignored) { data = null; }
  if (!response.ok) return {error: data && data.error ? data.error.message : "Error " + response.status};
  return {data: data};
};
