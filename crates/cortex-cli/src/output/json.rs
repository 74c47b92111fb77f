//! `--output json`: each stored engine event as one line on stdout, as it happens —
//! `{"seq":..,"at":..,"job":..,"event":{...}}` (schema: `schemas/event.schema.json`) — flushed
//! line by line, so a pipeline sees it at once. The result objects follow (see
//! [`crate::report`]).

use std::io::Write;

use cortex_store::StoredEvent;

use super::{EventSink, Followed};

/// The JSON line of one stored event.
pub fn event_line(event: &StoredEvent) -> serde_json::Value {
    serde_json::json!({
        "seq": event.seq,
        "at": rfc3339(event.at),
        "job": event.job_id.to_string(),
        "event": event.event,
    })
}

pub fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Writes every event as a JSON line.
pub struct JsonEvents;

impl EventSink for JsonEvents {
    fn event(&mut self, _job: &Followed, event: &StoredEvent) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", event_line(event));
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_line_has_the_documented_fields() {
        let event = StoredEvent {
            job_id: cortex_store::JobId::new(),
            seq: 3,
            at: time::OffsetDateTime::UNIX_EPOCH,
            event: serde_json::json!({"type": "step_started", "step": "validate"}),
        };
        let line = event_line(&event);
        assert_eq!(line["seq"], 3);
        assert_eq!(line["at"], "1970-01-01T00:00:00Z");
        assert_eq!(line["event"]["type"], "step_started");
        assert_eq!(line["job"], event.job_id.to_string());
    }
}
