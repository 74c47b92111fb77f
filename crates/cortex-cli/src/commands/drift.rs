//! `azure-cortex accounts drift | reconcile | adopt`: the managed accounts' drift from what
//! the product set, mending it, and adopting accounts onboarded elsewhere.
//!
//! * `drift [ID]` compares now (the platform's configuration against the desired state) and
//!   records the finding; exit 1 when an account drifted.
//! * `reconcile ID` runs a reconcile job here (review → apply → verify; `--require-approval`
//!   stops at the review, approved with `jobs approve`, or at a prompt with `--interactive`);
//!   `--adopt-current` instead makes the current configuration the desired state.
//! * `adopt --list` lists the platform's accounts no one manages here; `adopt ID…` adopts them.
//!
//! JSON: `{"type":"account_drift","accounts":[…]}`, `{"type":"adopt_current",…}`,
//! `{"type":"adoptable_accounts","accounts":[…]}`, `{"type":"adopted_accounts","accounts":[…]}`
//! (`schemas/account_drift.schema.json`); a reconcile prints the job's result.

use onboarding_engine::drift::{self, DriftReport};
use onboarding_engine::watch::{HealthWatch, WatchConfig};
use serde_json::{Value, json};

use crate::GlobalArgs;
use crate::exit::{CliError, Exit};
use crate::output::Out;
use crate::session::Session;

/// What the three subcommands ask for.
pub enum DriftCommand {
    Drift {
        id: Option<String>,
    },
    Reconcile {
        id: String,
        adopt_current: bool,
        require_approval: bool,
    },
    Adopt {
        list: bool,
        ids: Vec<String>,
    },
}

impl DriftCommand {
    /// The drift subcommand of `accounts`, or the command back when it is another one.
    pub fn from_accounts(
        command: super::accounts::AccountsCommand,
    ) -> Result<DriftCommand, super::accounts::AccountsCommand> {
        use super::accounts::AccountsCommand as A;
        match command {
            A::Drift { id } => Ok(DriftCommand::Drift { id }),
            A::Reconcile {
                id,
                adopt_current,
                require_approval,
            } => Ok(DriftCommand::Reconcile {
                id,
                adopt_current,
                require_approval,
            }),
            A::Adopt { list, ids } => Ok(DriftCommand::Adopt { list, ids }),
            other => Err(other),
        }
    }
}

fn account_id(raw: &str) -> Result<String, CliError> {
    prisma_types::TenantId::parse(raw)
        .map(|t| t.to_string())
        .map_err(|e| CliError::field("ACCOUNT_ID", e.message))
}

pub async fn run(global: &GlobalArgs, out: &Out, command: DriftCommand) -> Result<Exit, CliError> {
    // Arguments first: a bad one is refused before anything is opened.
    if let DriftCommand::Adopt { list, ids } = &command {
        if *list != ids.is_empty() {
            return Err(CliError::field(
                "ACCOUNT_ID",
                "give --list, or one or more account IDs to adopt (not both)",
            ));
        }
        for id in ids {
            account_id(id)?;
        }
    }
    let session = Session::open(global).await?;
    let result = dispatch(global, out, &session, command).await;
    session.finish(result).await
}

async fn dispatch(
    global: &GlobalArgs,
    out: &Out,
    session: &Session,
    command: DriftCommand,
) -> Result<Exit, CliError> {
    let watch = HealthWatch::new(session.engine.clone(), WatchConfig::default())?;
    let actor = super::actor();
    match command {
        DriftCommand::Drift { id } => {
            let reports = match id {
                Some(id) => {
                    let account =
                        drift::managed_account(&session.engine, &account_id(&id)?, None).await?;
                    vec![drift::check(&watch, &account).await?]
                }
                None => drift::check_all(&watch).await?,
            };
            show_drift(out, &reports);
            Ok(if reports.iter().any(|r| r.drifted) {
                Exit::Failed
            } else {
                Exit::Success
            })
        }
        DriftCommand::Reconcile {
            id,
            adopt_current: true,
            ..
        } => {
            let report = drift::adopt_current(&watch, &account_id(&id)?, None, &actor).await?;
            if out.json() {
                out.json_line(&json!({"type": "adopt_current", "account": report_json(&report)}));
            } else {
                out.line(&format!(
                    "{}: its current configuration is now the desired state (no drift).",
                    report.account_name
                ));
            }
            Ok(Exit::Success)
        }
        DriftCommand::Reconcile {
            id,
            require_approval,
            ..
        } => {
            let job = drift::submit_reconcile(
                &session.engine,
                &account_id(&id)?,
                None,
                require_approval,
                &actor,
            )
            .await?;
            super::follow_job(global, out, session, job, 0).await
        }
        DriftCommand::Adopt { list: true, .. } => {
            let accounts = drift::adoptable(&session.engine, None).await?;
            if out.json() {
                out.json_line(&json!({"type": "adoptable_accounts", "accounts": accounts}));
            } else if accounts.is_empty() {
                out.line("Every Azure account in Prisma Cloud is managed here.");
            } else {
                out.line(&format!(
                    "{:<36}  {:<8}  {:<8}  NAME",
                    "ACCOUNT", "TYPE", "ENABLED"
                ));
                for a in &accounts {
                    out.line(&format!(
                        "{:<36}  {:<8}  {:<8}  {}",
                        a.account_id,
                        a.account_type,
                        if a.enabled { "yes" } else { "no" },
                        a.name
                    ));
                }
            }
            Ok(Exit::Success)
        }
        DriftCommand::Adopt { ids, .. } => {
            let ids: Vec<String> = ids
                .iter()
                .map(|i| account_id(i))
                .collect::<Result<_, _>>()?;
            let adopted = drift::adopt(&watch, &ids, None, &actor).await?;
            if out.json() {
                out.json_line(&json!({"type": "adopted_accounts", "accounts": adopted}));
            } else {
                for a in &adopted {
                    out.line(&format!(
                        "Adopted {} ({}): watched and checked for drift from now on.",
                        a.account_name, a.account_id
                    ));
                    if let Some(why) = &a.lifecycle.unavailable {
                        out.line(&format!(
                            "  rotation and destroy unavailable: {}",
                            why.message
                        ));
                    }
                }
            }
            Ok(Exit::Success)
        }
    }
}

/// One report as the JSON output shows it.
pub fn report_json(r: &DriftReport) -> Value {
    serde_json::to_value(r).unwrap_or_default()
}

fn show_drift(out: &Out, reports: &[DriftReport]) {
    if out.json() {
        out.json_line(&json!({
            "type": "account_drift",
            "accounts": reports.iter().map(report_json).collect::<Vec<_>>(),
        }));
        return;
    }
    if reports.is_empty() {
        out.line("No managed accounts: onboard or adopt one first.");
        return;
    }
    for r in reports {
        let verdict = match (&r.error, r.drifted) {
            (Some(e), _) => format!("not checked: {e}"),
            (None, true) => format!("drifted ({} field(s))", r.differences.len()),
            (None, false) => "as desired".to_owned(),
        };
        out.line(&format!("{} ({}): {verdict}", r.account_name, r.account_id));
        for d in &r.differences {
            out.line(&format!(
                "  {:<16} {} → {}",
                d.field,
                compact(&d.desired),
                compact(&d.current)
            ));
        }
    }
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onboarding_engine::drift::{AccountConfig, Difference, Origin};

    #[test]
    fn the_json_output_follows_its_schema() {
        let desired = AccountConfig {
            scope: "subscription".into(),
            enabled: true,
            features: vec!["Remediation".into()],
            account_groups: vec!["00000000-0000-4000-8000-00000000d0a9".into()],
            flow_logs: true,
            scope_filters: Vec::new(),
        };
        let report = DriftReport {
            account_key: "prisma:default:5ab1e000-1111-4222-8333-444444444444".into(),
            account_id: "5ab1e000-1111-4222-8333-444444444444".into(),
            account_name: "prod".into(),
            origin: Origin::Onboarded,
            checked_at: "2026-12-02T04:00:00Z".into(),
            current: Some(AccountConfig {
                enabled: false,
                ..desired.clone()
            }),
            desired,
            differences: vec![Difference {
                field: "enabled".into(),
                desired: json!(true),
                current: json!(false),
            }],
            drifted: true,
            error: None,
        };
        let schema: Value = serde_json::from_str(crate::schemas::ACCOUNT_DRIFT).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let doc = json!({"type": "account_drift", "accounts": [report_json(&report)]});
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{doc}: {errors:?}");
        let adoptable = json!({"type": "adoptable_accounts", "accounts": [{
            "account_id": report.account_id, "name": "x", "account_type": "account",
            "enabled": true, "connection": "default"}]});
        assert!(validator.is_valid(&adoptable));
        let wrong = json!({"type": "account_drift", "accounts": [{"drifted": "maybe"}]});
        assert!(!validator.is_valid(&wrong));
    }
}
