// The demo LMS's course page: LTI Platform Storage for the tool in #tool-frame.
// Answers lti.capabilities, lti.put_data and lti.get_data (and the older org.imsglobal.lti.*
// names) from the tool's origin only, keeping values per tool origin in sessionStorage (or in
// memory when sessionStorage is unavailable). No inline script: this file is all there is.
(function () {
  "use strict";
  var frame = document.getElementById("tool-frame");
  if (!frame) { return; }
  var toolOrigin = frame.dataset.toolOrigin;
  var log = document.getElementById("lti-storage-log");
  var memory = Object.create(null);
  var PREFIX = "lti-platform-storage:";

  function storageKey(origin, key) { return PREFIX + origin + ":" + key; }

  function put(origin, key, value) {
    var name = storageKey(origin, key);
    try { window.sessionStorage.setItem(name, value); } catch (e) { memory[name] = value; }
  }

  function get(origin, key) {
    var name = storageKey(origin, key);
    try {
      var value = window.sessionStorage.getItem(name);
      if (value !== null) { return value; }
    } catch (e) { /* fall back to memory */ }
    return name in memory ? memory[name] : null;
  }

  function note(text) {
    if (!log) { return; }
    var item = document.createElement("li");
    item.textContent = text;
    log.appendChild(item);
  }

  function shortKey(key) {
    return typeof key === "string" && key.length > 32 ? key.slice(0, 32) + "…" : String(key);
  }

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || typeof data !== "object" || typeof data.subject !== "string") { return; }
    var subject = data.subject;
    var name = subject.indexOf("org.imsglobal.") === 0 ? subject.slice(14) : subject;
    if (name.indexOf("lti.") !== 0 || /\.response$/.test(name)) { return; }
    if (event.origin !== toolOrigin || !event.source) {
      note("ignored " + subject + " from " + event.origin + " (not the tool's origin)");
      return;
    }
    var reply = { subject: subject + ".response", message_id: data.message_id };
    if (name === "lti.capabilities") {
      reply.supported_messages = [
        { subject: "lti.capabilities" },
        { subject: "lti.put_data", frame: "_parent" },
        { subject: "lti.get_data", frame: "_parent" },
        { subject: "org.imsglobal.lti.put_data", frame: "_parent" },
        { subject: "org.imsglobal.lti.get_data", frame: "_parent" }
      ];
    } else if (name === "lti.put_data") {
      if (typeof data.key !== "string" || !data.key || typeof data.value !== "string") {
        reply.error = { code: "bad_request", message: "key and value must be strings" };
      } else {
        put(event.origin, data.key, data.value);
        reply.key = data.key;
        reply.value = data.value;
      }
    } else if (name === "lti.get_data") {
      var value = typeof data.key === "string" ? get(event.origin, data.key) : null;
      reply.key = data.key;
      if (value === null) {
        reply.error = { code: "bad_request", message: "nothing is stored under this key" };
      } else {
        reply.value = value;
      }
    } else {
      reply.error = { code: "unsupported_subject", message: "unsupported subject " + subject };
    }
    note(subject + " " + shortKey(data.key) + (reply.error ? " → " + reply.error.code : " → ok"));
    event.source.postMessage(reply, event.origin);
  });
})();
