//! Replaying a recorded or synthesized `-json` UI stream as if terraform had run it.
//!
//! Why: terraform (and above all the azurerm/azuread providers) is not available everywhere —
//! sandbox mode, CI machines without the binary, demos. Replay goes through the same per-line
//! handling as the real runner, so the engine and the web UI see the same [`RunnerEvent`]s and
//! the same [`PhaseOutcome`] / [`RunError`] rules: error diagnostics make the replay fail like
//! exit code 1 would, and an unsupported UI schema is fatal.
//!
//! [`synthesize_apply_stream`] builds a plausible stream from the resource list the digital twin
//! already has, shaped like `apply -json <saved plan>` (planned changes replayed first, then
//! hooks, then the apply summary and output names). Output values are never synthesized.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::collect::Collector;
use crate::runner::{Phase, PhaseOutcome, RunError, RunnerEvent};

/// The terraform version a synthesized stream claims (the one the samples were recorded with).
pub const SYNTHESIZED_TERRAFORM_VERSION: &str = "1.11.4";
/// The UI schema version a synthesized stream claims.
pub const SYNTHESIZED_UI_VERSION: &str = "1.2";

/// Emits a recorded or generated stream as if terraform ran it, with optional pacing between
/// lines; used in sandbox mode on machines without terraform and in tests.
///
/// Each element is one stdout line. The outcome's phase is inferred from the stream (the last
/// `change_summary` operation; `init` if `init_output` lines were seen; else `apply`).
/// Error diagnostics → [`RunError::Failed`] with exit code 1, like terraform; cancel →
/// [`RunError::Cancelled`] before the next line.
pub async fn replay_lines(
    lines: &[String],
    pace: Duration,
    cancel: &CancellationToken,
    on_event: &mut (dyn FnMut(RunnerEvent) + Send),
) -> Result<PhaseOutcome, RunError> {
    let started = Instant::now();
    let mut c = Collector::default();
    for (i, line) in lines.iter().enumerate() {
        if cancel.is_cancelled() {
            return Err(RunError::Cancelled {
                phase: infer_phase(&c),
            });
        }
        if i > 0 && !pace.is_zero() {
            tokio::select! {
                () = cancel.cancelled() => {
                    return Err(RunError::Cancelled { phase: infer_phase(&c) });
                }
                () = tokio::time::sleep(pace) => {}
            }
        }
        c.stdout_line(line, on_event)?;
    }
    let phase = infer_phase(&c);
    let errors = c.error_diagnostics();
    if !errors.is_empty() {
        return Err(RunError::Failed {
            phase,
            exit_code: Some(1),
            diagnostics: errors,
        });
    }
    Ok(PhaseOutcome {
        phase,
        exit_code: Some(0),
        diagnostics: c.diagnostics,
        stderr: Vec::new(),
        changes: c.changes,
        elapsed: started.elapsed(),
    })
}

fn infer_phase(c: &Collector) -> Phase {
    match c.last_operation.as_deref() {
        Some("plan") => Phase::Plan,
        Some("destroy") => Phase::Destroy,
        Some(_) => Phase::Apply,
        None if c.saw_init_output => Phase::Init,
        None => Phase::Apply,
    }
}

/// Builds a plausible apply stream (version, planned_change per address, apply_start /
/// apply_complete per address with elapsed, change_summary, outputs names) from a list of
/// (address, resource_type, resource_name) — the same resource list the twin uses.
///
/// Resources are created one after another in the given order (dependency order). Each takes a
/// deterministic 2–15 s (derived from its address); those over 10 s get an `apply_progress`
/// heartbeat at 10 s, as terraform sends. `id_value`s are deterministic UUID-shaped strings.
/// Timestamps start now. Outputs are listed as sensitive with no value.
pub fn synthesize_apply_stream(
    resources: &[(String, String, String)],
    outputs: &[String],
) -> Vec<String> {
    let t0 = OffsetDateTime::now_utc();
    let mut offset = Duration::ZERO;
    let mut lines = Vec::with_capacity(3 + resources.len() * 4);
    let mut push = |at: Duration, message: String, type_name: &str, body: Value| {
        let mut obj = json!({
            "@level": "info",
            "@message": message,
            "@module": "terraform.ui",
            "@timestamp": timestamp(t0, at),
            "type": type_name,
        });
        if let (Value::Object(o), Value::Object(b)) = (&mut obj, body) {
            o.extend(b);
        }
        lines.push(obj.to_string());
    };

    push(
        offset,
        format!("Terraform {SYNTHESIZED_TERRAFORM_VERSION}"),
        "version",
        json!({"terraform": SYNTHESIZED_TERRAFORM_VERSION, "ui": SYNTHESIZED_UI_VERSION}),
    );
    for (addr, rtype, rname) in resources {
        offset += Duration::from_millis(1);
        push(
            offset,
            format!("{addr}: Plan to create"),
            "planned_change",
            json!({"change": {"resource": resource_json(addr, rtype, rname), "action": "create"}}),
        );
    }
    for (addr, rtype, rname) in resources {
        let resource = resource_json(addr, rtype, rname);
        let secs = 2 + fnv1a(addr.as_bytes(), 0) % 14;
        let id = pseudo_uuid(addr);
        offset += Duration::from_millis(5);
        push(
            offset,
            format!("{addr}: Creating..."),
            "apply_start",
            json!({"hook": {"resource": resource, "action": "create"}}),
        );
        if secs > 10 {
            push(
                offset + Duration::from_secs(10),
                format!("{addr}: Still creating... [10s elapsed]"),
                "apply_progress",
                json!({"hook": {"resource": resource, "action": "create", "elapsed_seconds": 10}}),
            );
        }
        offset += Duration::from_secs(secs);
        push(
            offset,
            format!("{addr}: Creation complete after {secs}s [id={id}]"),
            "apply_complete",
            json!({"hook": {"resource": resource, "action": "create", "id_key": "id",
                            "id_value": id, "elapsed_seconds": secs}}),
        );
    }
    let n = resources.len();
    offset += Duration::from_millis(2);
    push(
        offset,
        format!("Apply complete! Resources: {n} added, 0 changed, 0 destroyed."),
        "change_summary",
        json!({"changes": {"add": n, "change": 0, "import": 0, "remove": 0, "operation": "apply"}}),
    );
    let outs: serde_json::Map<String, Value> = outputs
        .iter()
        .map(|name| (name.clone(), json!({"sensitive": true, "type": "string"})))
        .collect();
    push(
        offset,
        format!("Outputs: {}", outs.len()),
        "outputs",
        json!({ "outputs": outs }),
    );
    lines
}

fn timestamp(t0: OffsetDateTime, at: Duration) -> String {
    (t0 + at)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// The `resource` object terraform writes, derived from the address: module prefix, address
/// relative to the module, and the `count` / `for_each` key.
fn resource_json(addr: &str, rtype: &str, rname: &str) -> Value {
    let (module, relative, key) = split_addr(addr, rtype, rname);
    let provider = rtype.split('_').next().unwrap_or(rtype);
    json!({
        "addr": addr,
        "module": module,
        "resource": relative,
        "implied_provider": provider,
        "resource_type": rtype,
        "resource_name": rname,
        "resource_key": key,
    })
}

fn split_addr<'a>(addr: &'a str, rtype: &str, rname: &str) -> (&'a str, &'a str, Value) {
    let needle = format!("{rtype}.{rname}");
    for (i, _) in addr.match_indices(&needle) {
        let before = &addr[..i];
        let after = &addr[i + needle.len()..];
        if !(before.is_empty() || before.ends_with('.'))
            || !(after.is_empty() || after.starts_with('['))
        {
            continue;
        }
        let module_end = before
            .strip_suffix("data.")
            .unwrap_or(before)
            .trim_end_matches('.');
        let relative = addr[module_end.len()..].trim_start_matches('.');
        return (module_end, relative, parse_key(after));
    }
    ("", addr, Value::Null)
}

fn parse_key(suffix: &str) -> Value {
    let Some(inner) = suffix.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
        return Value::Null;
    };
    if let Ok(n) = inner.parse::<u64>() {
        return Value::from(n);
    }
    match serde_json::from_str::<String>(inner) {
        Ok(s) => Value::String(s),
        Err(_) => Value::Null,
    }
}

fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325_u64 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn pseudo_uuid(addr: &str) -> String {
    let a = fnv1a(addr.as_bytes(), 0x5eed);
    let b = fnv1a(addr.as_bytes(), 0xfeed_f00d);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_module_relative_and_key() {
        assert_eq!(
            split_addr(
                "azuread_application.prisma",
                "azuread_application",
                "prisma"
            ),
            ("", "azuread_application.prisma", Value::Null)
        );
        assert_eq!(
            split_addr(
                r#"module.m.module.n.azurerm_role_assignment.r["reader"]"#,
                "azurerm_role_assignment",
                "r"
            ),
            (
                "module.m.module.n",
                r#"azurerm_role_assignment.r["reader"]"#,
                Value::String("reader".into())
            )
        );
        assert_eq!(
            split_addr("terraform_data.slow[1]", "terraform_data", "slow"),
            ("", "terraform_data.slow[1]", Value::from(1))
        );
        assert_eq!(
            split_addr(
                "module.x.data.azuread_client_config.current",
                "azuread_client_config",
                "current"
            ),
            (
                "module.x",
                "data.azuread_client_config.current",
                Value::Null
            )
        );
    }

    #[test]
    fn ids_are_deterministic_and_uuid_shaped() {
        let a = pseudo_uuid("azuread_application.prisma");
        assert_eq!(a, pseudo_uuid("azuread_application.prisma"));
        assert_ne!(a, pseudo_uuid("azuread_service_principal.prisma"));
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
    }
}
