//! `azure-cortex accounts health [ID] [--check]`: what the health watch recorded — every
//! onboarded account's current health (and what changed at its last check), or one account's
//! history. `--check` runs one watch round in this process first (the accounts another replica
//! already checked this round are skipped). Read from the store, not the platform.
//!
//! JSON: `{"type":"account_health","accounts":[…]}` and
//! `{"type":"account_health_history","account_id","history":[…]}`
//! (`schemas/account_health.schema.json`).

use cortex_store::HealthRecord;
use onboarding_engine::Engine;
use onboarding_engine::watch::{HealthWatch, WatchConfig};
use serde_json::{Value, json};

use crate::GlobalArgs;
use crate::exit::{CliError, Exit};
use crate::output::Out;
use crate::session::{Prisma, engine_config, open_store};

fn rfc3339_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// One check as the JSON output shows it.
pub fn record_json(r: &HealthRecord) -> Value {
    let c = &r.check;
    json!({
        "account_id": c.account_id,
        "name": c.account_name,
        "platform": c.platform,
        "account_key": c.account_key,
        "job_id": c.job_id,
        "status": c.status,
        "checked_at": rfc3339_ms(c.checked_at_ms),
        "capabilities": c.capabilities,
        "changes": c.changes,
        "error": c.error,
    })
}

pub async fn run(
    global: &GlobalArgs,
    out: &Out,
    id: Option<String>,
    check: bool,
) -> Result<Exit, CliError> {
    let store = open_store(&global.data_dir, global.database_url.as_deref()).await?;
    let result = async {
        if check {
            let prisma = Prisma::connect(global).await?;
            let engine = Engine::new(store.clone(), prisma.config.clone(), engine_config(global))?;
            let round = HealthWatch::new(engine, WatchConfig::default())?.run_round().await;
            prisma.close().await?;
            round?;
        }
        match id {
            None => show_current(out, &store.latest_health().await?),
            Some(id) => {
                let id = prisma_types::TenantId::parse(&id)
                    .map_err(|e| CliError::field("ID", e.message))?
                    .to_string();
                let history =
                    onboarding_engine::watch::account_history(&store, &id, 100).await?;
                if history.is_empty() {
                    return Err(CliError::new(
                        Exit::Usage,
                        "not_found",
                        format!("no health checks recorded for account {id} (is it onboarded here, and has the watch run?)"),
                    ));
                }
                show_history(out, &id, &history)
            }
        }
    }
    .await;
    store.close().await;
    result
}

fn show_current(out: &Out, latest: &[HealthRecord]) -> Result<Exit, CliError> {
    if out.json() {
        out.json_line(&json!({
            "type": "account_health",
            "accounts": latest.iter().map(record_json).collect::<Vec<_>>(),
        }));
    } else if latest.is_empty() {
        out.line("No health checks yet: the watch runs in `serve` and `worker` (or use --check).");
    } else {
        out.line(&format!(
            "{:<36}  {:<8}  {:<20}  {:<24}  CHANGED",
            "ACCOUNT", "STATUS", "CHECKED", "NAME"
        ));
        for r in latest {
            let c = &r.check;
            out.line(&format!(
                "{:<36}  {:<8}  {:<20}  {:<24}  {}",
                c.account_id,
                c.status,
                rfc3339_ms(c.checked_at_ms).get(..19).unwrap_or(""),
                c.account_name,
                changes_text(&c.changes)
            ));
        }
    }
    Ok(Exit::Success)
}

fn show_history(out: &Out, id: &str, history: &[HealthRecord]) -> Result<Exit, CliError> {
    if out.json() {
        out.json_line(&json!({
            "type": "account_health_history",
            "account_id": id,
            "history": history.iter().map(record_json).collect::<Vec<_>>(),
        }));
    } else {
        out.line(&format!("{:<20}  {:<8}  CHANGED", "CHECKED", "STATUS"));
        for r in history {
            let c = &r.check;
            let what = match &c.error {
                Some(e) => format!("check failed: {e}"),
                None => changes_text(&c.changes),
            };
            out.line(&format!(
                "{:<20}  {:<8}  {what}",
                rfc3339_ms(c.checked_at_ms).get(..19).unwrap_or(""),
                c.status
            ));
        }
    }
    Ok(Exit::Success)
}

/// `Flow Logs ok→error; …`, or `-` when nothing changed.
fn changes_text(changes: &Value) -> String {
    let parts: Vec<String> = changes
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{} {}→{}",
                c["capability"].as_str().unwrap_or("?"),
                c["from"].as_str().unwrap_or("?"),
                c["to"].as_str().unwrap_or("?")
            )
        })
        .collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex_store::HealthCheck;

    #[test]
    fn the_json_output_follows_its_schema() {
        let record = HealthRecord {
            id: 3,
            check: HealthCheck {
                account_key: "prisma:default:5ab1e000-1111-4222-8333-444444444444".into(),
                platform: "prisma".into(),
                account_id: "5ab1e000-1111-4222-8333-444444444444".into(),
                account_name: "prod".into(),
                job_id: "0190f5c2-7b1e-7c3d-9a4f-5e6d7c8b9a01".into(),
                round: 2,
                checked_at_ms: 1_767_225_600_000,
                status: "error".into(),
                capabilities: json!([{"name": "Flow Logs", "status": "error", "message": "m", "remediation": "r"}]),
                changes: json!([{"capability": "Flow Logs", "from": "ok", "to": "error"}]),
                error: None,
            },
        };
        let schema: Value = serde_json::from_str(crate::schemas::ACCOUNT_HEALTH).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        for doc in [
            json!({"type": "account_health", "accounts": [record_json(&record)]}),
            json!({"type": "account_health_history", "account_id": record.check.account_id,
                   "history": [record_json(&record)]}),
        ] {
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{doc}: {errors:?}");
        }
        let wrong = json!({"type": "account_health", "accounts": [{"status": "purple"}]});
        assert!(!validator.is_valid(&wrong));
        assert_eq!(changes_text(&record.check.changes), "Flow Logs ok→error");
    }
}
