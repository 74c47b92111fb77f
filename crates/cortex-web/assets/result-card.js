// The job page's result card, live: when the job's stream ends (job.js marks the page
// `data-finished`) and the page has no result card yet, the card is read from a fresh render
// of this page and put in place — no reload, and the card is the server's own markup.
"use strict";
(function () {
  const root = document.getElementById("job");
  if (!root || document.getElementById("outputs")) return;
  let fetched = false;
  function addCard() {
    if (fetched || root.dataset.finished !== "true" || document.getElementById("outputs")) return;
    fetched = true;
    observer.disconnect();
    fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("outputs");
        if (!fresh || document.getElementById("outputs")) return;
        const card = document.importNode(fresh, true);
        const after = document.getElementById("outcome");
        if (after) after.after(card); else root.prepend(card);
      })
      .catch(function () { /* the card shows on the next visit */ });
  }
  const observer = new MutationObserver(addCard);
  observer.observe(root, { attributes: true, attributeFilter: ["data-finished"] });
  addCard();
})();
