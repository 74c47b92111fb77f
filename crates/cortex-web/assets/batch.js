// The live batch page: one row per subscription, updated from the batch's event stream.
// The stream starts with a snapshot of every job (so a reconnect misses nothing), then each
// job's events, then `end`.
"use strict";
(function () {
  const root = document.getElementById("batch");
  if (!root) return;
  const batchId = root.dataset.batchId;
  const $ = (id) => document.getElementById(id);
  // Icons are drawn by the stylesheet (class "icon i-…"): no font has to carry a symbol.
  const ICONS = { ok: "ok", bad: "bad", warn: "warn", run: "run", muted: "pending" };
  const CLASS = {
    succeeded: "ok", failed: "bad", cancelled: "muted", running: "run",
    awaiting_approval: "warn", queued: "muted",
  };
  const STEPS = {
    validate: "validating", prerequisites: "checking prerequisites", resolve: "resolving groups",
    azure_identity: "Azure identity (Terraform)", preflight: "preflight check",
    register: "registering in Prisma Cloud", verify: "verifying capabilities",
  };
  const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

  function badge(state) {
    const cls = CLASS[state] || "muted";
    const b = document.createElement("span");
    b.className = "badge " + cls;
    const i = document.createElement("span");
    i.setAttribute("aria-hidden", "true");
    i.className = "icon i-" + (state === "cancelled" || state === "skipped" ? "stopped" : ICONS[cls]);
    b.append(i, " " + state.replace(/_/g, " "));
    return b;
  }
  function row(jobId) { return root.querySelector('tr[data-job-id="' + jobId + '"]'); }
  function setRow(jobId, state, detail) {
    const tr = row(jobId);
    if (!tr) return;
    if (state) {
      tr.dataset.state = state;
      tr.querySelector(".state").replaceChildren(badge(state));
    }
    if (detail !== undefined) tr.querySelector(".detail").textContent = detail;
  }
  function recount() {
    const n = { total: 0, onboarded: 0, adopted: 0, failed: 0, pending: 0 };
    // Skipped rows (`data-skipped`) are not jobs: they are counted apart, once, by the server.
    for (const tr of root.querySelectorAll("tbody tr[data-job-id]")) {
      n.total++;
      const s = tr.dataset.state;
      if (s === "succeeded") {
        if (tr.dataset.outcome === "adopted") n.adopted++; else n.onboarded++;
      } else if (s === "failed" || s === "cancelled") n.failed++;
      else n.pending++;
    }
    for (const k of Object.keys(n)) $("n-" + k).textContent = String(n[k]);
    const retry = $("retry-form");
    if (retry) retry.hidden = !(root.dataset.finished === "true" && n.failed > 0);
  }
  function detailOf(r) {
    if (r.outcome) return r.outcome;
    if (r.message) return r.message + (r.code ? " (" + r.code + ")" : "");
    return r.code || "";
  }

  function apply(jobId, e) {
    switch (e.type) {
      case "job_started": setRow(jobId, "running", "started"); break;
      case "step_started": setRow(jobId, "running", STEPS[e.step] || e.step); break;
      case "approval_required": setRow(jobId, "awaiting_approval", "waiting for approval of the plan"); break;
      case "api_retry": setRow(jobId, null, e.reason + " — retrying in " + (e.delay_ms / 1000).toFixed(1) + " s"); break;
      case "job_succeeded": {
        const tr = row(jobId);
        if (tr) tr.dataset.outcome = e.outcome;
        setRow(jobId, "succeeded", e.outcome + " · account " + e.account_id);
        break;
      }
      case "job_failed": setRow(jobId, "failed", e.message + " (" + e.code + ")"); break;
      case "job_cancelled": setRow(jobId, "cancelled", "cancelled"); break;
      default: return;
    }
    recount();
  }

  if (root.dataset.finished === "true") return;
  const live = $("live");
  const source = new EventSource("/api/v1/batches/" + encodeURIComponent(batchId) + "/events");
  source.onopen = function () { live.textContent = "Live"; };
  source.addEventListener("snapshot", function (m) {
    let d;
    try { d = JSON.parse(m.data); } catch (_) { return; }
    for (const r of (d.batch && d.batch.rows) || []) {
      const tr = row(r.job_id);
      if (tr && r.outcome) tr.dataset.outcome = r.outcome;
      setRow(r.job_id, r.state, TERMINAL.has(r.state) ? detailOf(r) : undefined);
    }
    recount();
  });
  source.onmessage = function (m) {
    let d;
    try { d = JSON.parse(m.data); } catch (_) { return; }
    if (d.job_id && d.event) apply(d.job_id, d.event);
  };
  source.addEventListener("end", function () {
    source.close();
    live.textContent = "Finished";
    root.dataset.finished = "true";
    recount();
  });
  source.onerror = function () {
    if (root.dataset.finished === "true") return;
    live.textContent = source.readyState === EventSource.CLOSED
      ? "Disconnected — reload the page"
      : "Connection lost — reconnecting…";
  };
})();
