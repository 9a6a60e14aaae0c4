// Privacy page. No inline script: everything hangs off data- attributes (strict CSP).
(function () {
  "use strict";

  // The export is fetched by the page itself, then saved from a blob: inside an LMS iframe a
  // plain download link is a new request without the frame's partitioned session cookie.
  Array.prototype.forEach.call(document.querySelectorAll("a[data-privacy-download]"), function (link) {
    link.addEventListener("click", function (event) {
      if (!window.fetch || !window.URL || !URL.createObjectURL) { return; } // plain link
      event.preventDefault();
      fetch(link.href, { credentials: "same-origin" }).then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.blob();
      }).then(function (blob) {
        var url = URL.createObjectURL(blob);
        var save = document.createElement("a");
        save.href = url;
        save.download = link.getAttribute("download") || "bottega-export.json";
        document.body.appendChild(save);
        save.click();
        save.remove();
        window.setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
      }).catch(function () {
        window.location.href = link.href; // let the browser try, and show what went wrong
      });
    });
  });

  // Once erasure is requested or done, forget this member's unsent Q&A drafts, which live only
  // in this browser's localStorage ("bottega:qa:<course>:<member>:...").
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
