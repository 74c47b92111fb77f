// Keeps what was typed into a page's form across a trip to the sign-in page. On submit the
// form's values go to this tab's sessionStorage (never a password field, a file or the CSRF
// token). When the session has ended, the server sends the browser to the sign-in page and
// from there back to the form with ?restore=1: the values are then put back and forgotten.
// Any other load of the page forgets them, so nothing lingers after a form went through.
"use strict";
(function () {
  const KEY = "cortex-form:" + location.pathname;
  const SKIP = new Set(["password", "file", "hidden", "submit", "button", "reset", "image"]);
  const kept = (e) => e.name && e.name !== "csrf_token" && !SKIP.has(e.type);
  const forms = [...document.querySelectorAll('form[method="post"]')].filter((f) => {
    const action = f.getAttribute("action") || "";
    return action !== "/login" && action !== "/logout" && [...f.elements].some(kept);
  });
  const store = (() => { try { return window.sessionStorage; } catch (_) { return null; } })();
  if (!store) return;

  for (const form of forms) {
    form.addEventListener("submit", () => {
      const data = [...form.elements].filter(kept).map((e) =>
        e.type === "checkbox" || e.type === "radio" ? [e.name, e.value, e.checked] : [e.name, e.value]);
      try { store.setItem(KEY, JSON.stringify({ form: form.id || "", data: data })); } catch (_) { /* full */ }
    });
  }

  const params = new URLSearchParams(location.search);
  let saved = null;
  try { saved = JSON.parse(store.getItem(KEY) || "null"); } catch (_) { saved = null; }
  store.removeItem(KEY);
  if (!params.has("restore")) return;
  params.delete("restore");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  if (!saved || !Array.isArray(saved.data)) return;
  const form = forms.find((f) => (f.id || "") === saved.form);
  if (!form) return;

  const seen = {};
  for (const [name, value, checked] of saved.data) {
    const all = [...form.elements].filter((e) => e.name === name && kept(e));
    if (checked !== undefined) {
      const box = all.find((e) => e.value === value);
      if (box) box.checked = checked;
    } else {
      const i = seen[name] || 0;
      seen[name] = i + 1;
      if (all[i]) all[i].value = value;
    }
  }
  form.dispatchEvent(new Event("change", { bubbles: true }));

  const secrets = form.querySelector('input[type="password"]');
  const note = document.createElement("p");
  note.className = "alert warn";
  note.id = "restored";
  note.setAttribute("role", "status");
  note.textContent = "You signed in again: your entries are back. Nothing was sent yet; check them and submit." +
    (secrets ? " Secrets are never kept: type them again." : "");
  form.before(note);
})();
