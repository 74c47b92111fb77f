// The bulk page: a chosen CSV file is read into the text box (the form posts text, so the
// CSRF check and the size limit are the same as for a paste). After a check, the results —
// right above the start button — are brought into view, since the page reloads at its top.
"use strict";
(function () {
  const check = document.getElementById("check");
  if (check && !document.getElementById("problems")) {
    check.scrollIntoView({ block: "start" });
    check.focus({ preventScroll: true });
  }
  const file = document.getElementById("csv-file");
  const text = document.getElementById("csv");
  if (!file || !text) return;
  file.addEventListener("change", function () {
    const f = file.files && file.files[0];
    if (!f) return;
    f.text().then(function (t) { text.value = t; text.focus(); });
  });
})();
