//! `/metrics` in the Prometheus text format (0.0.4).
//!
//! * `cortex_jobs{state}` (gauge) — jobs in the store by state, read at each scrape.
//! * `cortex_prisma_calls_total{endpoint,status}`, `cortex_prisma_retries_total{endpoint}`,
//!   `cortex_prisma_rate_limited_total{endpoint}` (counters) — counted from the jobs' stored
//!   events (`api_call`, `api_retry`, `rate_limited`), which every worker writes, in this
//!   process or another: so the figures cover all workers sharing the store, and survive a
//!   restart (the first scrape counts the history). Each scrape reads only the events added
//!   since the previous one (a cursor per job). `status="none"` is a transport failure; 429s
//!   are `status="429"` calls, and `rate_limited` counts the waits they caused. Calls made
//!   outside jobs (the accounts and groups endpoints of this API) are not job events and are
//!   not counted (deferred).
//! * `cortex_terraform_phase_seconds{phase}` (summary: `_sum`, `_count`) — Terraform's
//!   `init`, `plan` and `apply` runs that finished, from the jobs' `terraform_phase` events.
//! * `cortex_web_http_requests_total{method,route,status}` — this server's own requests, by
//!   matched route.
//! * `cortex_web_connections{state}`, `cortex_web_connections_closed_total{reason}`, … — the
//!   connection cap and timeouts at work ([`crate::conn`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;

use cortex_store::{JobId, JobState, Store};
use time::OffsetDateTime;

#[derive(Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(String, String, u16), u64>>,
    tally: tokio::sync::Mutex<EventTally>,
    pub(crate) connections: std::sync::Arc<crate::conn::ConnectionStats>,
}

#[derive(Default)]
struct EventTally {
    /// Per job: the last seq counted and the job's `updated_at` when it was read.
    cursors: HashMap<JobId, (i64, OffsetDateTime)>,
    calls: BTreeMap<(String, String), u64>,
    retries: BTreeMap<String, u64>,
    rate_limited: BTreeMap<String, u64>,
    /// Per Terraform phase: how many finished, and their seconds in total.
    terraform_phases: BTreeMap<String, (u64, f64)>,
}

impl EventTally {
    fn count(&mut self, event: &serde_json::Value) {
        let endpoint = || event["endpoint"].as_str().unwrap_or("unknown").to_owned();
        match event["type"].as_str() {
            Some("api_call") => {
                let status = event["status"]
                    .as_u64()
                    .map_or_else(|| "none".to_owned(), |s| s.to_string());
                *self.calls.entry((endpoint(), status)).or_default() += 1;
            }
            Some("api_retry") => *self.retries.entry(endpoint()).or_default() += 1,
            Some("rate_limited") => *self.rate_limited.entry(endpoint()).or_default() += 1,
            Some("terraform_phase") => {
                let phase = event["phase"].as_str().unwrap_or("unknown").to_owned();
                let seconds = event["elapsed_ms"].as_u64().unwrap_or(0) as f64 / 1000.0;
                let entry = self.terraform_phases.entry(phase).or_default();
                entry.0 += 1;
                entry.1 += seconds;
            }
            _ => {}
        }
    }
}

fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn record_http(&self, method: &str, route: &str, status: u16) {
        let mut map = self.http.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
    }

    /// The exposition text.
    pub async fn render(&self, store: &Store) -> Result<String, cortex_store::StoreError> {
        let jobs = store.list_jobs(None, u32::MAX).await?;
        let mut by_state: BTreeMap<JobState, u64> =
            JobState::ALL.into_iter().map(|s| (s, 0)).collect();
        let mut tally = self.tally.lock().await;
        for job in &jobs {
            *by_state.entry(job.state).or_default() += 1;
            let (mut last, seen) = tally
                .cursors
                .get(&job.id)
                .copied()
                .unwrap_or((0, OffsetDateTime::UNIX_EPOCH));
            // A finished job read after it finished has no more events, unless it changed.
            if job.state.is_terminal() && seen >= job.updated_at && last > 0 {
                continue;
            }
            loop {
                let page = store.events_after(job.id, last, 1000).await?;
                if page.is_empty() {
                    break;
                }
                for e in &page {
                    tally.count(&e.event);
                    last = e.seq;
                }
            }
            tally.cursors.insert(job.id, (last, job.updated_at));
        }
        let mut out = String::new();
        out.push_str("# HELP cortex_jobs Jobs in the store by state.\n# TYPE cortex_jobs gauge\n");
        for (state, n) in &by_state {
            let _ = writeln!(out, "cortex_jobs{{state=\"{state}\"}} {n}");
        }
        out.push_str(
            "# HELP cortex_prisma_calls_total Prisma Cloud API calls made by jobs, by endpoint and status (none: transport failure).\n\
             # TYPE cortex_prisma_calls_total counter\n",
        );
        for ((endpoint, status), n) in &tally.calls {
            let _ = writeln!(
                out,
                "cortex_prisma_calls_total{{endpoint=\"{}\",status=\"{}\"}} {n}",
                label(endpoint),
                label(status)
            );
        }
        out.push_str(
            "# HELP cortex_prisma_retries_total Prisma Cloud calls retried (other than for 429), by endpoint.\n\
             # TYPE cortex_prisma_retries_total counter\n",
        );
        for (endpoint, n) in &tally.retries {
            let _ = writeln!(
                out,
                "cortex_prisma_retries_total{{endpoint=\"{}\"}} {n}",
                label(endpoint)
            );
        }
        out.push_str(
            "# HELP cortex_prisma_rate_limited_total Waits after a 429 from Prisma Cloud, by endpoint.\n\
             # TYPE cortex_prisma_rate_limited_total counter\n",
        );
        for (endpoint, n) in &tally.rate_limited {
            let _ = writeln!(
                out,
                "cortex_prisma_rate_limited_total{{endpoint=\"{}\"}} {n}",
                label(endpoint)
            );
        }
        out.push_str(
            "# HELP cortex_terraform_phase_seconds Terraform phases (init, plan, apply) that finished, and how long they took.\n\
             # TYPE cortex_terraform_phase_seconds summary\n",
        );
        for (phase, (count, sum)) in &tally.terraform_phases {
            let phase = label(phase);
            let _ = writeln!(
                out,
                "cortex_terraform_phase_seconds_sum{{phase=\"{phase}\"}} {sum:.3}\n\
                 cortex_terraform_phase_seconds_count{{phase=\"{phase}\"}} {count}"
            );
        }
        drop(tally);
        out.push_str(
            "# HELP cortex_web_http_requests_total Requests to this server by method, route and status.\n\
             # TYPE cortex_web_http_requests_total counter\n",
        );
        let http = self.http.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for ((method, route, status), n) in &http {
            let _ = writeln!(
                out,
                "cortex_web_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                label(method),
                label(route)
            );
        }
        self.connections.render(&mut out);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terraform_phases_are_counted_and_summed() {
        let mut tally = EventTally::default();
        for (phase, ms) in [("init", 1500), ("plan", 250), ("plan", 750)] {
            tally.count(
                &serde_json::json!({"type": "terraform_phase", "phase": phase, "elapsed_ms": ms}),
            );
        }
        tally.count(&serde_json::json!({"type": "api_retry", "endpoint": "GET /cloud"}));
        assert_eq!(tally.terraform_phases["init"], (1, 1.5));
        assert_eq!(tally.terraform_phases["plan"], (2, 1.0));
        assert_eq!(tally.retries["GET /cloud"], 1);
    }
}
