// Keyport's https redirect relay: the provider redirects here (an https
// redirect URI), and this page forwards the authorization response to the
// app's private-use scheme. It forwards only the OAuth response parameters,
// and removes them from the address bar and history.
(function () {
  "use strict";
  var ALLOWED = ["code", "state", "error", "error_description", "iss", "scope"];
  var TARGET = "dev.keyport:/oauth/callback";

  var incoming = new URLSearchParams(window.location.search);
  var outgoing = new URLSearchParams();
  ALLOWED.forEach(function (key) {
    var values = incoming.getAll(key);
    if (values.length === 1) outgoing.set(key, values[0]);
  });
  try {
    window.history.replaceState(null, "", window.location.pathname);
  } catch (e) { /* not fatal */ }

  var title = document.getElementById("title");
  var message = document.getElementById("message");
  var open = document.getElementById("open");

  if (!outgoing.has("state") || !(outgoing.has("code") || outgoing.has("error"))) {
    title.textContent = "Nothing to pass on";
    message.textContent = "This page hands a sign-in back to Keyport, but this address has no sign-in response. Start the connection again from Keyport.";
    return;
  }
  var link = TARGET + "?" + outgoing.toString();
  open.href = link;
  open.hidden = false;
  // After the page has rendered, so the fallback button is there if the
  // browser asks first or the app is not installed.
  window.setTimeout(function () { window.location.href = link; }, 50);
})();
