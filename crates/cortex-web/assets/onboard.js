// The onboarding wizard: shows only the fields of the chosen scope and identity. Without
// JavaScript every field is shown and the server ignores those of other choices.
"use strict";
(function () {
  const form = document.getElementById("onboard-form");
  if (!form) return;
  function chosen(name) {
    const r = form.querySelector('input[name="' + name + '"]:checked');
    return r ? r.value : "";
  }
  function update() {
    const scope = chosen("scope");
    const identity = chosen("identity");
    for (const e of form.querySelectorAll("[data-scope]")) e.hidden = e.dataset.scope !== scope;
    for (const e of form.querySelectorAll("[data-scope-not]")) e.hidden = e.dataset.scopeNot === scope;
    for (const e of form.querySelectorAll("[data-scan]")) e.hidden = e.dataset.scan !== chosen("scan_mode");
    for (const e of form.querySelectorAll("[data-identity]")) {
      const want = e.dataset.identity;
      e.hidden = want === "terraform" ? identity === "existing" : want !== identity;
    }
    const sub = document.getElementById("subscription_id");
    // Cortex Cloud needs a subscription at every scope (it hosts Cortex's resource group).
    if (sub && form.dataset.platform !== "cortex") sub.required = scope === "subscription";
  }
  form.addEventListener("change", update);
  update();
})();
// The wizard's sections at a glance: a section is done when every required field it shows is
// valid (or it asks for nothing: its defaults do), "to do" while one is not.
(function () {
  const form = document.getElementById("onboard-form");
  const rail = document.getElementById("progress");
  if (!form || !rail) return;
  function mark() {
    for (const li of rail.querySelectorAll("li[data-step]")) {
      const section = document.getElementById("step-" + li.dataset.step);
      if (!section) continue;
      const fields = [...section.querySelectorAll("input, select, textarea")]
        .filter((e) => e.required && !e.closest("[hidden]"));
      const state = fields.every((e) => e.checkValidity()) ? "done" : "todo";
      li.className = state;
      li.querySelector(".icon").className = "icon " + (state === "done" ? "i-ok" : state === "todo" ? "i-warn" : "i-pending");
      li.querySelector(".state").textContent = state === "done" ? " (complete)" : state === "todo" ? " (to fill in)" : "";
    }
  }
  form.addEventListener("input", mark);
  form.addEventListener("change", () => setTimeout(mark, 0));
  mark();
})();
