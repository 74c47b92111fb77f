// The job page's server-rendered cards, live. The result card: when the job's stream ends
// (job.js marks the page `data-finished`) and the page has no result card yet, the card is
// read from a fresh render of this page and put in place — no reload, and the card is the
// server's own markup. The Cortex Cloud section (`#cortex`): rendered again the same way when
// the stream (job.js's `job-event`) reports its instance or one of its steps, and at the end.
"use strict";
(function () {
  const root = document.getElementById("job");
  if (!root) return;

  function freshPage() {
    return fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { return new DOMParser().parseFromString(html, "text/html"); });
  }

  if (!document.getElementById("outputs")) {
    let fetched = false;
    const observer = new MutationObserver(addCard);
    function addCard() {
      if (fetched || root.dataset.finished !== "true" || document.getElementById("outputs")) return;
      fetched = true;
      observer.disconnect();
      freshPage()
        .then(function (doc) {
          const fresh = doc.getElementById("outputs");
          if (!fresh || document.getElementById("outputs")) return;
          const card = document.importNode(fresh, true);
          const after = document.getElementById("outcome");
          if (after) after.after(card); else root.prepend(card);
        })
        .catch(function () { /* the card shows on the next visit */ });
    }
    observer.observe(root, { attributes: true, attributeFilter: ["data-finished"] });
    addCard();
  }

  if (!document.getElementById("cortex")) return;
  const CORTEX_STEPS = ["create_instance", "download_template", "apply_template", "await_connection", "verify", "list_accounts"];
  let busy = false;
  let again = false;
  let timer = null;
  function refreshCortex() {
    timer = null;
    if (busy) { again = true; return; }
    busy = true;
    freshPage()
      .then(function (doc) {
        const fresh = doc.getElementById("cortex");
        const old = document.getElementById("cortex");
        if (fresh && old) old.replaceWith(document.importNode(fresh, true));
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; soon(); }
      });
  }
  // Events come in bursts: one render for each burst.
  function soon() { if (!timer) timer = setTimeout(refreshCortex, 250); }
  root.addEventListener("job-event", function (ev) {
    const e = ev.detail || {};
    const cortexStep = CORTEX_STEPS.indexOf(e.step) >= 0;
    if (e.type === "cortex_instance" || (cortexStep && /^step_/.test(e.type || ""))) soon();
  });
  new MutationObserver(function () { if (root.dataset.finished === "true") soon(); })
    .observe(root, { attributes: true, attributeFilter: ["data-finished"] });
})();
