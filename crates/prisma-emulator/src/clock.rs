//! Wall-clock helpers (epoch milliseconds and RFC 3339 stamps for bodies and claims).

use std::time::{SystemTime, UNIX_EPOCH};

pub fn epoch_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn epoch_secs() -> i64 {
    epoch_millis() / 1000
}

pub fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
