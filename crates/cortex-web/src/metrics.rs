//! `/metrics` in the Prometheus text format (0.0.4).
//!
//! Two kinds of series, kept apart so that sums across replicas are right:
//!
//! **Per process** — what this process did; every replica reports its own, so `sum` across
//! replicas is the total:
//! * `cortex_build_info{version,commit}` (gauge, always 1).
//! * `cortex_web_http_requests_total{method,route,status}` (counter) and
//!   `cortex_web_http_request_duration_seconds{method,route}` (histogram, until the response
//!   head) — this server's requests, by matched route template (`unmatched` for none).
//! * `cortex_prisma_calls_total{endpoint,status}`, `cortex_prisma_retries_total{endpoint}`,
//!   `cortex_prisma_rate_limited_total{endpoint}` (counters) and
//!   `cortex_platform_call_duration_seconds{platform,endpoint}` (histogram) — the platform calls
//!   of the jobs this process's worker ran, as their events were stored (`api_call`,
//!   `api_retry`, `rate_limited`; `platform` is the event's own, else `prisma`). `status="none"`
//!   is a transport failure; 429s are `status="429"` calls, and `rate_limited` counts the waits
//!   they caused. Counted since the process started. A standalone `azure-cortex worker` serves
//!   no `/metrics`: its calls are not here.
//! * `cortex_terraform_phase_seconds{phase}` (summary) — Terraform's `init`, `plan` and
//!   `apply` runs of this process's jobs that finished.
//! * `cortex_web_connections{state}`, `cortex_web_connections_closed_total{reason}`, … — the
//!   connection cap and timeouts at work ([`crate::conn`]).
//!
//! **Store-wide** — read from the shared database at each scrape with one aggregate query;
//! every replica reports the same value, so aggregate them with `max`, never `sum`:
//! * `cortex_jobs{state}` (gauge) — jobs in the store by state (carries `scope="store"`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use cortex_store::{JobState, Store};

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A Prometheus histogram: cumulative buckets, sum and count.
#[derive(Clone, Debug, Default)]
struct Histogram {
    /// Observations at or below each of [`BUCKETS`] (not cumulative here; summed when written).
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    /// Writes `name_bucket{labels,le}`, `name_sum{labels}`, `name_count{labels}`.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(self.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels},le=\"+Inf\"}} {}\n{name}_sum{{{labels}}} {:.6}\n{name}_count{{{labels}}} {}",
            self.count, self.sum, self.count
        );
    }
}

/// The version and commit `cortex_build_info` reports (set once by the binary).
static BUILD: OnceLock<(String, String)> = OnceLock::new();

/// Sets `cortex_build_info`'s labels (the binary's version and commit); first call wins.
/// Without it: this crate's version and commit `unknown`.
pub fn set_build_info(version: &str, commit: &str) {
    let _ = BUILD.set((version.to_owned(), commit.to_owned()));
}

#[derive(Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(String, String, u16), u64>>,
    http_latency: Mutex<BTreeMap<(String, String), Histogram>>,
    tally: Mutex<EventTally>,
    pub(crate) connections: std::sync::Arc<crate::conn::ConnectionStats>,
}

/// What the events of this process's jobs said, counted as they were stored.
#[derive(Default)]
struct EventTally {
    calls: BTreeMap<(String, String), u64>,
    call_latency: BTreeMap<(String, String), Histogram>,
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
                let platform = event["platform"].as_str().unwrap_or("prisma").to_owned();
                let seconds = event["elapsed_ms"].as_u64().unwrap_or(0) as f64 / 1000.0;
                self.call_latency
                    .entry((platform, endpoint()))
                    .or_default()
                    .observe(seconds);
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
    pub fn record_http(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let route = if route.is_empty() { "unmatched" } else { route };
        let mut map = self.http.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        drop(map);
        self.http_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((method.to_owned(), route.to_owned()))
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one stored event of a job this process runs (the engine's event observer).
    pub fn observe_event(&self, event: &serde_json::Value) {
        self.tally
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .count(event);
    }

    /// The exposition text.
    pub async fn render(&self, store: &Store) -> Result<String, cortex_store::StoreError> {
        let counted = store.count_jobs_by_state().await?;
        let mut out = String::new();
        let (version, commit) = BUILD
            .get()
            .map(|(v, c)| (v.as_str(), c.as_str()))
            .unwrap_or((env!("CARGO_PKG_VERSION"), "unknown"));
        let _ = writeln!(
            out,
            "# HELP cortex_build_info The running build (per process).\n# TYPE cortex_build_info gauge\n\
             cortex_build_info{{version=\"{}\",commit=\"{}\"}} 1",
            label(version),
            label(commit)
        );
        out.push_str(
            "# HELP cortex_jobs Jobs in the store by state (store-wide: the same on every replica; aggregate with max, not sum).\n\
             # TYPE cortex_jobs gauge\n",
        );
        for state in JobState::ALL {
            let n = counted.get(&state).copied().unwrap_or(0);
            let _ = writeln!(out, "cortex_jobs{{scope=\"store\",state=\"{state}\"}} {n}");
        }
        let tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str(
            "# HELP cortex_prisma_calls_total Prisma Cloud API calls made by this process's jobs, by endpoint and status (none: transport failure).\n\
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
            "# HELP cortex_platform_call_duration_seconds Platform API calls made by this process's jobs, by how long each took.\n\
             # TYPE cortex_platform_call_duration_seconds histogram\n",
        );
        for ((platform, endpoint), h) in &tally.call_latency {
            let labels = format!(
                "platform=\"{}\",endpoint=\"{}\"",
                label(platform),
                label(endpoint)
            );
            h.render(&mut out, "cortex_platform_call_duration_seconds", &labels);
        }
        out.push_str(
            "# HELP cortex_prisma_retries_total Prisma Cloud calls retried (other than for 429) by this process's jobs, by endpoint.\n\
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
            "# HELP cortex_prisma_rate_limited_total Waits after a 429 from Prisma Cloud in this process's jobs, by endpoint.\n\
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
            "# HELP cortex_terraform_phase_seconds Terraform phases (init, plan, apply) of this process's jobs that finished, and how long they took.\n\
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
        out.push_str(
            "# HELP cortex_web_http_request_duration_seconds Requests to this server by method and route, by time to the response head.\n\
             # TYPE cortex_web_http_request_duration_seconds histogram\n",
        );
        let latency = self
            .http_latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for ((method, route), h) in &latency {
            let labels = format!("method=\"{}\",route=\"{}\"", label(method), label(route));
            h.render(
                &mut out,
                "cortex_web_http_request_duration_seconds",
                &labels,
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

    #[test]
    fn histograms_are_cumulative() {
        let mut h = Histogram::default();
        for s in [0.001, 0.02, 0.02, 7.0, 100.0] {
            h.observe(s);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.025\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"10\"} 4\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"30\"} 4\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 5\n"), "{out}");
        assert!(out.contains("x_count{a=\"b\"} 5\n"), "{out}");
    }
}
