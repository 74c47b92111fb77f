// The live job page: replays the job's history and follows it over Server-Sent Events.
// Hand-written, no dependencies. EventSource reconnects by itself and sends Last-Event-ID,
// so after a network blip the server sends exactly the events that were missed.
"use strict";
(function () {
  const root = document.getElementById("job");
  if (!root) return;
  const jobId = root.dataset.jobId;
  const $ = (id) => document.getElementById(id);
  // Icons are drawn by the stylesheet (class "icon i-…"): no font has to carry a symbol.
  const ICONS = { ok: "ok", bad: "bad", warn: "warn", run: "run", muted: "pending" };
  const icon = (state) => (state === "cancelled" || state === "skipped" ? "stopped" : ICONS[CLASS[state] || "muted"]);
  const CLASS = {
    succeeded: "ok", ok: "ok", applied: "ok", failed: "bad", error: "bad", errored: "bad",
    warning: "warn", awaiting_approval: "warn", running: "run", applying: "run",
    cancelled: "muted", skipped: "muted", pending: "muted", planned: "muted",
    connected: "ok", retrieving: "run", disabled: "muted",
  };
  // Capability statuses that need no card: Prisma Cloud's ok, Cortex Cloud's connected,
  // disabled (not chosen) and retrieving (on its way).
  const FINE = ["ok", "connected", "disabled", "retrieving"];
  let lastSeq = 0;
  let finished = false;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function badge(state) {
    const cls = CLASS[state] || "muted";
    const b = el("span", "badge " + cls);
    const i = el("span", "icon i-" + icon(state));
    i.setAttribute("aria-hidden", "true");
    b.append(i, " " + state.replace(/_/g, " "));
    return b;
  }
  function secs(ms) { return (ms / 1000).toFixed(1) + " s"; }

  // The buttons a state allows (the server checks again when one is pressed).
  function showActions(state) {
    const show = (id, on) => { const f = $(id); if (f) f.hidden = !on; };
    show("approve-form", state === "awaiting_approval");
    show("cancel-form", state === "queued" || state === "running" || state === "awaiting_approval");
    show("resume-form", state === "failed" || state === "cancelled");
    show("retry-link", state === "failed" || state === "cancelled" || state === "succeeded");
    $("review").hidden = state !== "awaiting_approval";
  }
  function setJobState(state) {
    const old = $("job-state");
    const b = badge(state);
    b.id = "job-state";
    old.replaceWith(b);
    root.dataset.state = state;
    showActions(state);
  }
  function step(name, state, extra) {
    const li = root.querySelector('li[data-step="' + name + '"]');
    if (!li) return;
    const cls = CLASS[state] || "muted";
    li.className = "step " + cls;
    li.querySelector(".icon").className = "icon i-" + icon(state);
    li.querySelector(".state").textContent = state.replace(/_/g, " ");
    if (extra && extra.elapsed !== undefined) li.querySelector(".elapsed").textContent = extra.elapsed;
    if (extra && extra.detail !== undefined) li.querySelector(".detail").textContent = extra.detail;
  }

  const resources = new Map();
  function resource(address) {
    let r = resources.get(address);
    if (!r) {
      const tr = el("tr");
      tr.dataset.address = address;
      r = { tr, cells: {} };
      for (const k of ["address", "action", "state", "elapsed", "diagnostic"]) {
        const td = el("td", k);
        r.cells[k] = td;
        tr.append(td);
      }
      const code = el("code", "", address);
      r.cells.address.append(code);
      resources.set(address, r);
      $("resources").append(tr);
      $("resources-table").hidden = false;
      $("tf-empty").hidden = true;
    }
    return r;
  }
  function resState(r, state) {
    r.cells.state.replaceChildren(badge(state));
  }

  function call(text, cls) {
    const li = el("li", cls || "", text);
    $("calls").append(li);
    $("calls-empty").hidden = true;
  }

  // One entry per capability (the server rendered the ones known at load time): its latest
  // status; a failing one is a card saying why, the fix and where the docs are. The fix is
  // shown here only — the job's error and the steps just point to these cards.
  const caps = new Map();
  for (const li of root.querySelectorAll("#capabilities li[data-capability]")) caps.set(li.dataset.capability, li);
  function capability(e) {
    let li = caps.get(e.capability);
    if (!li) {
      li = el("li");
      li.dataset.capability = e.capability;
      caps.set(e.capability, li);
      $("capabilities").append(li);
      $("caps-empty").hidden = true;
    }
    const cls = CLASS[e.status] || "muted";
    const failing = FINE.indexOf(e.status) < 0;
    li.className = "cap " + cls + (failing ? " failure" : "");
    li.dataset.status = e.status;
    li.replaceChildren(badge(e.status), " ", el("strong", "", e.capability));
    if (!failing) return;
    if (e.message) li.append(el("span", "msg", "Why: " + e.message));
    if (e.remediation) li.append(el("span", "fix", "Fix: " + e.remediation));
    if (e.docs_url) {
      const a = el("a", "docs", (root.dataset.platform || "Prisma Cloud") + " docs for " + e.capability);
      a.href = e.docs_url;
      a.rel = "noreferrer";
      li.append(a);
    }
  }
  function failingCount() {
    let n = 0;
    for (const li of caps.values()) if (FINE.indexOf(li.dataset.status) < 0) n++;
    return n;
  }
  // A failure whose details are the capability cards is told in one short sentence (shorter
  // still beside the step).
  function failureText(e, brief) {
    const cards = brief ? "see Capabilities" : "each card under Capabilities says why and how to fix it";
    if (e.code === "preflight_failed") {
      return failingCount() + " pre-flight check(s) failed, so nothing was registered — " + cards;
    }
    if (e.code === "capabilities_failing") {
      return failingCount() + " capability check(s) still failing — " + cards;
    }
    return e.message;
  }

  function outcome(text, cls) {
    const o = $("outcome");
    o.hidden = false;
    o.className = "outcome " + cls;
    o.textContent = text;
  }

  function apply(e) {
    switch (e.type) {
      case "job_started": setJobState("running"); break;
      case "job_succeeded":
        setJobState("succeeded");
        outcome("Onboarded: " + (root.dataset.platform === "Cortex Cloud" ? "instance " : "account ") +
          e.account_id + " (" + e.outcome + ")", "ok");
        break;
      case "job_failed":
        setJobState("failed");
        outcome("Failed" + (e.step ? " at " + e.step : "") + ": " + failureText(e) + " (" + e.code + ")", "bad");
        break;
      case "job_cancelled": setJobState("cancelled"); outcome("Cancelled", "muted"); break;
      case "step_started": step(e.step, "running", { elapsed: "", detail: "" }); break;
      case "step_finished":
        step(e.step, e.warning ? "warning" : "succeeded", { elapsed: secs(e.elapsed_ms), detail: e.warning || "" });
        break;
      // A skipped step succeeded earlier in this same job (before the approval, or in a run
      // that stopped later): it keeps the state and time it finished with.
      case "step_skipped": {
        const li = root.querySelector('li[data-step="' + e.step + '"]');
        const was = li && li.querySelector(".state").textContent;
        step(e.step, was === "warning" ? "warning" : "succeeded", { detail: e.reason });
        break;
      }
      case "step_failed": step(e.step, "failed", { detail: failureText(e, true) + " (" + e.code + ")" }); break;
      case "approval_required":
        setJobState("awaiting_approval");
        step(root.dataset.approvalStep || "azure_identity", "awaiting_approval", { detail: "planned; waiting for approval" });
        outcome("! Waiting for approval: " + e.add + " to add, " + e.change + " to change, " + e.destroy + " to destroy", "warn");
        $("plan-summary").replaceChildren(el("strong", "", String(e.add)), " to add, ",
          el("strong", "", String(e.change)), " to change, ", el("strong", "", String(e.destroy)), " to destroy");
        planWords();
        break;
      case "terraform_planned_change": {
        const r = resource(e.address); r.cells.action.textContent = e.action; resState(r, "planned"); break;
      }
      case "terraform_apply_start": {
        const r = resource(e.address); r.cells.action.textContent = e.action; resState(r, "applying"); break;
      }
      case "terraform_apply_progress": {
        const r = resource(e.address); r.cells.elapsed.textContent = e.elapsed_s.toFixed(1) + " s"; break;
      }
      case "terraform_apply_complete": {
        const r = resource(e.address); r.cells.action.textContent = e.action; resState(r, "applied");
        r.cells.elapsed.textContent = e.elapsed_s.toFixed(1) + " s"; break;
      }
      case "terraform_apply_errored": {
        const r = resource(e.address); resState(r, "errored"); break;
      }
      case "terraform_phase": {
        const li = el("li", "", "terraform " + e.phase + " · " + secs(e.elapsed_ms));
        $("tf-phases").append(li);
        $("tf-phases").hidden = false;
        break;
      }
      case "terraform_diagnostic":
        if (e.address) {
          const r = resource(e.address);
          r.cells.diagnostic.textContent = e.severity + ": " + e.summary + (e.detail ? " — " + e.detail : "");
        }
        break;
      case "api_call":
        call((e.status === null || e.status === undefined ? "no answer" : e.status) + " " + e.endpoint +
          " · " + e.elapsed_ms + " ms" + (e.attempt > 1 ? " · attempt " + e.attempt : ""));
        break;
      case "api_retry":
        call(e.reason + " — retrying in " + secs(e.delay_ms) + " (" + e.endpoint + ", attempt " + e.attempt + ")", "retry");
        break;
      case "rate_limited":
        call("paced by the rate limit: waiting " + secs(e.delay_ms) + " (" + e.endpoint + ")", "retry");
        break;
      case "capability_status": capability(e); break;
      case "log": {
        const li = el("li", e.level === "warn" || e.level === "error" ? "retry" : "", e.message);
        $("log").append(li);
        $("log-empty").hidden = true;
        break;
      }
      default: break;
    }
  }

  // The plan in words is written by the server (one mapping for every plan): when the plan
  // arrives live, the review is fetched from this page once.
  let wordsAsked = false;
  function planWords() {
    const words = $("plan-words");
    if (!words || words.dataset.empty !== "true" || wordsAsked) return;
    wordsAsked = true;
    fetch(window.location.pathname, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
      .then((html) => {
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("plan-words");
        if (fresh) words.replaceWith(document.adoptNode(fresh));
      })
      .catch(() => { wordsAsked = false; });
  }
  const live = $("live");
  const source = new EventSource("/api/v1/jobs/" + encodeURIComponent(jobId) + "/events");
  source.onopen = function () { if (!finished) live.textContent = "Live"; };
  source.onmessage = function (m) {
    let d;
    try { d = JSON.parse(m.data); } catch (_) { return; }
    if (typeof d.seq === "number") {
      if (d.seq <= lastSeq) return;
      lastSeq = d.seq;
    }
    apply(d.event || {});
    // Other scripts of the page (result-card.js) follow the same stream through this.
    root.dispatchEvent(new CustomEvent("job-event", { detail: d.event || {} }));
  };
  source.addEventListener("end", function (m) {
    finished = true;
    source.close();
    try { const d = JSON.parse(m.data); if (d.state) setJobState(d.state); } catch (_) { /* keep */ }
    live.textContent = "Finished — full history shown";
    root.dataset.finished = "true";
  });
  source.onerror = function () {
    if (finished) return;
    live.textContent = source.readyState === EventSource.CLOSED
      ? "Disconnected — reload the page"
      : "Connection lost — reconnecting…";
  };
})();
