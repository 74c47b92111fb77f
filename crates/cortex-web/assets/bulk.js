// The bulk page: a chosen CSV file is read into the text box (the form posts text, so the
// CSRF check and the size limit are the same as for a paste).
"use strict";
(function () {
  const file = document.getElementById("csv-file");
  const text = document.getElementById("csv");
  if (!file || !text) return;
  file.addEventListener("change", function () {
    const f = file.files && file.files[0];
    if (!f) return;
    f.text().then(function (t) { text.value = t; text.focus(); });
  });
})();
