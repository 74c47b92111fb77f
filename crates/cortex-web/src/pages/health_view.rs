//! How the health watch's records read on the pages: an account's current health, what changed
//! and how long ago ("Flow Logs: ok, now error · 12 min ago"), and the history as a timeline —
//! one strip per capability, drawn as server-side SVG whose bar heights say the status (ok low,
//! warning middle, error high; colour only repeats it), with the same checks as a table.

use cortex_store::{DeliveryRecord, HealthRecord};
use serde_json::Value;

use super::{Badge, badge};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// `at_ms` as "just now", "12 min ago", "3 h ago", "2 days ago" from `now_ms`.
pub fn ago(now_ms: i64, at_ms: i64) -> String {
    let secs = (now_ms - at_ms).max(0) / 1000;
    match secs {
        s if s < 60 => "just now".to_owned(),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s if s < 2 * 86_400 => "1 day ago".to_owned(),
        s => format!("{} days ago", s / 86_400),
    }
}

/// An epoch-milliseconds time as the pages write times.
pub fn at(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(super::when)
        .unwrap_or_default()
}

/// A capability as a check saw it.
pub struct CapabilityNow {
    pub name: String,
    pub status: String,
    pub message: String,
}

/// The capabilities of a check, in its order.
pub fn capabilities(record: &HealthRecord) -> Vec<CapabilityNow> {
    record
        .check
        .capabilities
        .as_array()
        .map(|list| {
            list.iter()
                .map(|c| {
                    let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
                    CapabilityNow {
                        name: s("name"),
                        status: s("status"),
                        message: s("message"),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// "Flow Logs: ok, now error" for each change of a check.
pub fn change_lines(changes: &Value) -> Vec<String> {
    changes
        .as_array()
        .map(|list| {
            list.iter()
                .map(|c| {
                    let s = |k: &str| c[k].as_str().unwrap_or_default();
                    format!("{}: {}, now {}", s("capability"), s("from"), s("to"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An account's health as its newest check saw it, and what changed last.
pub struct HealthNow {
    pub badge: Badge,
    /// "checked 3 min ago".
    pub checked: String,
    /// Why the check itself failed.
    pub error: Option<String>,
    /// The newest changes ("Flow Logs: ok, now error"), and how long ago they were seen.
    pub changes: Vec<String>,
    pub changed: Option<String>,
}

impl HealthNow {
    /// `latest`: the newest check; `last_change`: the newest check that changed something.
    pub fn of(latest: &HealthRecord, last_change: Option<&HealthRecord>, now_ms: i64) -> Self {
        let mut b = badge(&latest.check.status);
        if latest.check.status == "unknown" {
            b.text = "not checked: the check failed".to_owned();
        }
        HealthNow {
            badge: b,
            checked: format!("checked {}", ago(now_ms, latest.check.checked_at_ms)),
            error: latest.check.error.clone(),
            changes: last_change.map_or_else(Vec::new, |c| change_lines(&c.check.changes)),
            changed: last_change.map(|c| ago(now_ms, c.check.checked_at_ms)),
        }
    }
}

/// One check drawn in a strip.
pub struct Mark {
    pub x: usize,
    pub y: usize,
    pub height: usize,
    /// `ok`, `warn`, `bad` or `muted` (the stylesheet's fills: `.tl-ok`, …).
    pub class: &'static str,
    /// Its tooltip: when, and the status.
    pub title: String,
}

/// One capability's strip.
pub struct Lane {
    pub capability: String,
    pub now: Badge,
    /// The strip's text: the counts per status and the current one.
    pub summary: String,
    pub marks: Vec<Mark>,
}

/// One check in the text equivalent.
pub struct TimelineRow {
    pub at: String,
    pub overall: Badge,
    /// Each lane's status at this check, in the lanes' order ("-" when not checked).
    pub statuses: Vec<Badge>,
    pub changes: Vec<String>,
    pub error: Option<String>,
}

/// An account's history as strips per capability, oldest left.
pub struct Timeline {
    /// The SVG's viewBox width (a mark per check).
    pub width: usize,
    pub height: usize,
    pub from: String,
    pub to: String,
    pub checks: usize,
    pub lanes: Vec<Lane>,
    /// Newest first, as in a log.
    pub rows: Vec<TimelineRow>,
}

/// A mark's slot width and the strip's height, in viewBox units.
const SLOT: usize = 10;
const STRIP: usize = 24;

/// Bar height and fill for a status: the height alone tells the status.
fn mark_shape(status: &str) -> (usize, &'static str) {
    match status {
        "ok" => (6, "ok"),
        "error" => (STRIP, "bad"),
        "" => (2, "muted"),
        "warning" => (14, "warn"),
        _ => (10, "muted"),
    }
}

impl Timeline {
    /// `history` newest first (as the store returns it).
    pub fn of(history: &[HealthRecord]) -> Option<Self> {
        let oldest_first: Vec<&HealthRecord> = history.iter().rev().collect();
        let (first, last) = (oldest_first.first()?, oldest_first.last()?);
        // Every capability any check saw, in first-seen order.
        let mut names: Vec<String> = Vec::new();
        for r in &oldest_first {
            for c in capabilities(r) {
                if !names.contains(&c.name) {
                    names.push(c.name);
                }
            }
        }
        let status_at = |r: &HealthRecord, name: &str| -> String {
            if r.check.status == "unknown" {
                return "unknown".to_owned();
            }
            capabilities(r)
                .into_iter()
                .find(|c| c.name == name)
                .map(|c| c.status)
                .unwrap_or_default()
        };
        let lanes = names
            .iter()
            .map(|name| {
                let statuses: Vec<String> =
                    oldest_first.iter().map(|r| status_at(r, name)).collect();
                let marks = oldest_first
                    .iter()
                    .zip(&statuses)
                    .enumerate()
                    .map(|(i, (r, status))| {
                        let (height, class) = mark_shape(status);
                        let word = if status.is_empty() {
                            "not checked"
                        } else {
                            status.as_str()
                        };
                        Mark {
                            x: i * SLOT + 1,
                            y: STRIP - height,
                            height,
                            class,
                            title: format!("{}: {word}", at(r.check.checked_at_ms)),
                        }
                    })
                    .collect();
                let mut counts: Vec<(String, usize)> = Vec::new();
                for s in statuses.iter().filter(|s| !s.is_empty()) {
                    match counts.iter_mut().find(|(k, _)| k == s) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((s.clone(), 1)),
                    }
                }
                let current = statuses.last().cloned().unwrap_or_default();
                let counted: Vec<String> = counts
                    .iter()
                    .map(|(s, n)| format!("{s} {n} time{}", if *n == 1 { "" } else { "s" }))
                    .collect();
                Lane {
                    capability: name.clone(),
                    now: badge(if current.is_empty() {
                        "unknown"
                    } else {
                        current.as_str()
                    }),
                    summary: format!(
                        "{name}: {}; now {}",
                        counted.join(", "),
                        if current.is_empty() {
                            "not checked"
                        } else {
                            current.as_str()
                        }
                    ),
                    marks,
                }
            })
            .collect();
        let rows = history
            .iter()
            .map(|r| TimelineRow {
                at: at(r.check.checked_at_ms),
                overall: badge(&r.check.status),
                statuses: names
                    .iter()
                    .map(|n| {
                        let s = status_at(r, n);
                        badge(if s.is_empty() { "unknown" } else { s.as_str() })
                    })
                    .collect(),
                changes: change_lines(&r.check.changes),
                error: r.check.error.clone(),
            })
            .collect();
        Some(Timeline {
            width: oldest_first.len() * SLOT,
            height: STRIP,
            from: at(first.check.checked_at_ms),
            to: at(last.check.checked_at_ms),
            checks: oldest_first.len(),
            lanes,
            rows,
        })
    }
}

/// A notification's delivery as a row.
pub struct DeliveryRow {
    pub notification_id: i64,
    pub sink: String,
    /// The notification's kind in words.
    pub kind: String,
    pub summary: String,
    pub state: Badge,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created: String,
    pub updated: String,
}

/// A notification kind in words.
pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "capability_degraded" => "Capability degraded",
        "capability_recovered" => "Capability recovered",
        "secret_expiring" => "Client secret ending",
        "watch_failed" => "Health check failed",
        _ => "Notification",
    }
}

impl From<&DeliveryRecord> for DeliveryRow {
    fn from(d: &DeliveryRecord) -> Self {
        let state = match d.state.as_str() {
            "delivered" => badge("ok"),
            "dead" => badge("failed"),
            _ => badge("pending"),
        };
        let mut state = state;
        state.text = d.state.clone();
        DeliveryRow {
            notification_id: d.notification_id,
            sink: d.sink.clone(),
            kind: kind_label(&d.kind).to_owned(),
            summary: d.payload["summary"].as_str().unwrap_or_default().to_owned(),
            state,
            attempts: d.attempts,
            last_error: d.last_error.clone(),
            created: at(d.created_at_ms),
            updated: if d.updated_at_ms == 0 {
                "re-queued".to_owned()
            } else {
                at(d.updated_at_ms)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex_store::HealthCheck;
    use serde_json::json;

    fn check(id: i64, at_ms: i64, status: &str, flow: &str, changes: Value) -> HealthRecord {
        HealthRecord {
            id,
            check: HealthCheck {
                account_key: "prisma:default:a".into(),
                platform: "prisma".into(),
                account_id: "a".into(),
                account_name: "A".into(),
                job_id: "j".into(),
                round: id,
                checked_at_ms: at_ms,
                status: status.into(),
                capabilities: json!([
                    {"name": "Cloud Visibility", "status": "ok", "message": "", "remediation": ""},
                    {"name": "Flow Logs", "status": flow, "message": "", "remediation": ""},
                ]),
                changes,
                error: None,
            },
        }
    }

    #[test]
    fn times_read_as_how_long_ago() {
        let now = 10_000_000_000;
        assert_eq!(ago(now, now - 5_000), "just now");
        assert_eq!(ago(now, now - 12 * 60_000), "12 min ago");
        assert_eq!(ago(now, now - 3 * 3_600_000), "3 h ago");
        assert_eq!(ago(now, now - 30 * 3_600_000), "1 day ago");
        assert_eq!(ago(now, now - 5 * 86_400_000), "5 days ago");
        assert_eq!(ago(now, now + 60_000), "just now");
    }

    #[test]
    fn the_dashboard_says_what_changed_last_and_when() {
        let now = 10_000_000_000;
        let changed = json!([{"capability": "Flow Logs", "from": "ok", "to": "error"}]);
        let degraded = check(2, now - 12 * 60_000, "error", "error", changed);
        let latest = check(3, now - 60_000, "error", "error", json!([]));
        let h = HealthNow::of(&latest, Some(&degraded), now);
        assert_eq!((h.badge.class, h.badge.text.as_str()), ("bad", "error"));
        assert_eq!(h.checked, "checked 1 min ago");
        assert_eq!(h.changes, ["Flow Logs: ok, now error"]);
        assert_eq!(h.changed.as_deref(), Some("12 min ago"));
    }

    #[test]
    fn a_timeline_has_a_strip_per_capability_whose_heights_say_the_status() {
        let history = vec![
            check(3, 3_000_000, "ok", "ok", json!([])),
            check(2, 2_000_000, "error", "error", json!([])),
            check(1, 1_000_000, "ok", "ok", json!([])),
        ];
        let t = Timeline::of(&history).unwrap();
        assert_eq!((t.checks, t.width, t.lanes.len()), (3, 30, 2));
        let flow = &t.lanes[1];
        assert_eq!(flow.capability, "Flow Logs");
        let heights: Vec<usize> = flow.marks.iter().map(|m| m.height).collect();
        assert_eq!(heights, [6, STRIP, 6], "oldest left; error tallest");
        assert_eq!(flow.summary, "Flow Logs: ok 2 times, error 1 time; now ok");
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[1].statuses[1].text, "error");
        assert!(Timeline::of(&[]).is_none());
    }
}
