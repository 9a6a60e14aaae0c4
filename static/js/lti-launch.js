// Login and launch helpers for LMS iframes: LTI Platform Storage (lti.put_data / lti.get_data,
// and the older org.imsglobal.lti.* names) and a cookie check. No framework, no inline script.
(function () {
  "use strict";
  var el = document.getElementById("lti-flow");
  if (!el) { return; }
  var d = el.dataset;

  function storageFrame() {
    var name = d.target;
    if (name === "_top") { return window.top; }
    if (!name || name === "_parent") { return window.parent; }
    try { return window.parent.frames[name] || window.parent; } catch (e) { return window.parent; }
  }

  // Send a storage message; resolve with the response, or null after a timeout.
  function ask(subject, payload, timeoutMs) {
    return new Promise(function (resolve) {
      var id = "bottega-" + Math.random().toString(36).slice(2);
      var names = [subject, "org.imsglobal." + subject];
      var done = false;
      function finish(value) {
        if (done) { return; }
        done = true;
        window.removeEventListener("message", onMessage);
        resolve(value);
      }
      function onMessage(event) {
        if (event.origin !== d.origin || !event.data || event.data.message_id !== id) { return; }
        if (names.map(function (n) { return n + ".response"; }).indexOf(event.data.subject) < 0) { return; }
        finish(event.data.error ? null : event.data);
      }
      window.addEventListener("message", onMessage);
      var message = Object.assign({ subject: subject, message_id: id }, payload);
      storageFrame().postMessage(message, d.origin);
      // Platforms that only know the older names get them a moment later.
      setTimeout(function () {
        if (!done) {
          storageFrame().postMessage(Object.assign({}, message, { subject: names[1] }), d.origin);
        }
      }, 500);
      setTimeout(function () { finish(null); }, timeoutMs);
    });
  }

  function cookiesWork() {
    // A cookie script can read cannot be HttpOnly: the probe is removed before any request
    // could carry it, so every cookie the server ever sees is one it set itself (HttpOnly).
    var probe = "bottega_probe=" + Date.now();
    var flags = "; Path=/lti/; SameSite=None; Secure; Partitioned";
    document.cookie = probe + flags + "; Max-Age=60";
    var works = document.cookie.indexOf(probe) >= 0;
    document.cookie = "bottega_probe=" + flags + "; Max-Age=0";
    return works;
  }

  function showBlocked() {
    var box = document.getElementById("cookies-blocked");
    if (box) { box.hidden = false; }
    var busy = document.getElementById("busy");
    if (busy) { busy.hidden = true; }
  }

  if (d.mode === "login") {
    // The session after the launch needs a (partitioned) cookie whatever carries the state.
    if (!cookiesWork()) {
      showBlocked();
    } else if (d.target) {
      ask("lti.put_data", { key: d.key, value: d.value }, 2500).then(function () {
        window.location.replace(d.next);
      });
    } else {
      window.location.replace(d.next);
    }
  } else if (d.mode === "launch") {
    var form = document.getElementById("launch-form");
    ask("lti.get_data", { key: d.key }, 2500).then(function (answer) {
      if (answer && typeof answer.value === "string") {
        form.elements[d.field].value = answer.value;
      }
      form.submit();
    });
  } else if (d.mode === "autosubmit") {
    document.getElementById(d.form).submit();
  }
})();
