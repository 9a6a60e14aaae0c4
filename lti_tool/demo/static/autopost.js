// The demo LMS's /auth page: post the id_token to the tool at once (no inline script).
(function () {
  "use strict";
  var form = document.getElementById("lti-launch-form");
  if (form) { form.submit(); }
})();
