// Q&A pages: drafts kept in localStorage, math drawn by KaTeX, duplicate suggestions (htmx).
// No inline script anywhere: everything hangs off data- attributes, ready for a strict CSP.
(function () {
  "use strict";
  var PREFIX = "bottega:";

  function storage() {
    try { return window.localStorage; } catch (e) { return null; } // blocked in some iframes
  }

  function read(key) {
    var store = storage();
    if (!store) { return null; }
    try { return JSON.parse(store.getItem(PREFIX + key) || "null"); } catch (e) { return null; }
  }

  function write(key, value) {
    var store = storage();
    if (!store) { return; }
    try {
      if (value) { store.setItem(PREFIX + key, JSON.stringify(value)); }
      else { store.removeItem(PREFIX + key); }
    } catch (e) { /* quota or privacy mode: drafts are a convenience */ }
  }

  function fields(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && el.name !== "csrf_token" &&
        (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && el.type === "text"));
    });
  }

  function snapshot(form) {
    var data = {}, any = false;
    fields(form).forEach(function (el) {
      if (el.value.trim()) { data[el.name] = el.value; any = true; }
    });
    return any ? data : null;
  }

  function setupDraft(form) {
    var key = form.getAttribute("data-qa-draft");
    var status = form.querySelector(".qa-draft-status");
    var saved = read(key);
    // The server's text wins (a refused post comes back filled in); a draft fills empty fields.
    if (saved && !snapshot(form)) {
      var restored = false;
      fields(form).forEach(function (el) {
        if (typeof saved[el.name] === "string" && !el.value) { el.value = saved[el.name]; restored = true; }
      });
      if (restored) {
        if (status) { status.textContent = form.getAttribute("data-qa-draft-restored") || ""; }
      }
    }
    var timer = null;
    form.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { write(key, snapshot(form)); }, 300);
    });
    // Not cleared on submit: a refused post must not lose its draft. The next page clears it.
  }

  function clearDrafts() {
    document.querySelectorAll("[data-qa-clear-draft]").forEach(function (el) {
      write(el.getAttribute("data-qa-clear-draft"), null);
    });
  }

  function renderMath(root) {
    if (!window.katex) { return; }
    (root || document).querySelectorAll(".math").forEach(function (el) {
      if (el.getAttribute("data-qa-math") === "done") { return; }
      var tex = el.textContent;
      try {
        window.katex.render(tex, el, {
          displayMode: el.classList.contains("math-block"),
          throwOnError: false,
          trust: false,
          maxExpand: 1000
        });
        // KaTeX writes MathML beside the drawing for screen readers: no label over it.
        el.setAttribute("data-qa-math", "done");
      } catch (e) { el.textContent = tex; }
    });
    // Anything else written with \( \) or \[ \] delimiters (the content Markdown leaves alone).
    if (window.renderMathInElement) {
      (root || document).querySelectorAll(".qa-body").forEach(function (el) {
        window.renderMathInElement(el, {
          delimiters: [
            { left: "\\[", right: "\\]", display: true },
            { left: "\\(", right: "\\)", display: false }
          ],
          ignoredClasses: ["math"],
          throwOnError: false,
          trust: false
        });
      });
    }
  }

  function setupDrafts(root) {
    root.querySelectorAll("form[data-qa-draft]").forEach(function (form) {
      if (form.getAttribute("data-qa-draft-ready")) { return; }
      form.setAttribute("data-qa-draft-ready", "1");
      setupDraft(form);
    });
  }

  function start() {
    clearDrafts();
    setupDrafts(document);
    renderMath(document);
    // Forms and suggestions htmx puts in place: drafts, math, and focus on the new field.
    document.body.addEventListener("htmx:afterSwap", function (event) {
      var target = event.target;
      setupDrafts(target);
      renderMath(target);
      if (target.classList && target.classList.contains("qa-slot")) {
        var field = target.querySelector("textarea, select");
        if (field) { field.focus(); }
      }
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();

// Staff insert one of the course's reply templates into the answer at the cursor.
document.addEventListener("click", function (event) {
  var button = event.target instanceof Element ? event.target.closest("[data-insert-template]") : null;
  if (!button) return;
  var select = document.getElementById(button.getAttribute("data-template-select"));
  var area = document.getElementById(button.getAttribute("data-insert-template"));
  if (!select || !area || select.selectedIndex < 0) return;
  var text = select.options[select.selectedIndex].getAttribute("data-body") || "";
  var start = area.selectionStart || 0, end = area.selectionEnd || 0;
  area.value = area.value.slice(0, start) + text + area.value.slice(end);
  area.selectionStart = area.selectionEnd = start + text.length;
  area.focus();
  area.dispatchEvent(new Event("input", { bubbles: true }));  // the draft keeps it too
});
