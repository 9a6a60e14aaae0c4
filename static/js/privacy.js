// Privacy page: once erasure is requested or done, forget this member's unsent Q&A drafts,
// which live only in this browser's localStorage ("bottega:qa:<course>:<member>:...").
(function () {
  "use strict";
  var marker = document.querySelector("[data-privacy-clear-drafts]");
  if (!marker) { return; }
  var member = marker.getAttribute("data-privacy-clear-drafts");
  var store;
  try { store = window.localStorage; } catch (e) { return; } // blocked in some iframes
  if (!store) { return; }
  var doomed = [];
  for (var i = 0; i < store.length; i++) {
    var parts = (store.key(i) || "").split(":");
    if (parts[0] === "bottega" && parts[1] === "qa" && parts[3] === member) { doomed.push(store.key(i)); }
  }
  doomed.forEach(function (key) { store.removeItem(key); });
}());
