// End of LTI Dynamic Registration: tell the LMS to close its registration dialog
// (LTI Dynamic Registration 1.0, section 3.7). No framework, no inline script.
(function () {
  "use strict";
  if (!document.getElementById("lti-register-done")) { return; }

  function notifyLms() {
    var lms = window.opener || window.parent;
    if (lms && lms !== window) {
      lms.postMessage({ subject: "org.imsglobal.lti.close" }, "*");
    }
  }

  var button = document.getElementById("lti-register-close");
  if (button) {
    button.addEventListener("click", function () {
      notifyLms();
      if (window.opener) { window.close(); }
    });
  }
  notifyLms();
})();
