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
    for (const e of form.querySelectorAll("[data-identity]")) {
      const want = e.dataset.identity;
      e.hidden = want === "terraform" ? identity === "existing" : want !== identity;
    }
    const sub = document.getElementById("subscription_id");
    if (sub) sub.required = scope === "subscription";
  }
  form.addEventListener("change", update);
  update();
})();
