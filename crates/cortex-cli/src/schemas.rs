//! The JSON Schemas (draft 2020-12) of `--output json`, as shipped in `schemas/*.json` and
//! documented in `docs/cli.md`. Tests validate real output against them.

/// One event line: `{"seq","at","job","event"}`.
pub const EVENT: &str = include_str!("../schemas/event.schema.json");
/// The result of one job: `{"type":"result",...}`.
pub const RESULT: &str = include_str!("../schemas/result.schema.json");
/// The result of one Cortex Cloud job: `{"type":"cortex_result",...}`.
pub const CORTEX_RESULT: &str = include_str!("../schemas/cortex_result.schema.json");
/// `instances list | show | accounts`: `{"type":"cortex_instances" | "cortex_instance" |
/// "cortex_accounts",...}`.
pub const CORTEX_INSTANCES: &str = include_str!("../schemas/cortex_instances.schema.json");
/// The result of a batch: `{"type":"batch_result",...}`.
pub const BATCH_RESULT: &str = include_str!("../schemas/batch_result.schema.json");
/// An error: `{"type":"error",...}`.
pub const ERROR: &str = include_str!("../schemas/error.schema.json");
/// `accounts health`: `{"type":"account_health",...}` / `{"type":"account_health_history",...}`.
pub const ACCOUNT_HEALTH: &str = include_str!("../schemas/account_health.schema.json");
/// `accounts drift | reconcile --adopt-current | adopt`: `schemas/account_drift.schema.json`.
pub const ACCOUNT_DRIFT: &str = include_str!("../schemas/account_drift.schema.json");
/// `discover` (`{"type":"discover",...}`) and the web's `GET /api/v1/coverage` (the same
/// object without `type`).
pub const COVERAGE: &str = include_str!("../schemas/coverage.schema.json");

/// The event types the schema documents.
pub fn event_types() -> Vec<String> {
    let schema: serde_json::Value = serde_json::from_str(EVENT).expect("the schema is JSON");
    schema["properties"]["event"]["properties"]["type"]["enum"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use onboarding_engine::{EngineEvent, Step};

    fn validator(text: &str) -> jsonschema::Validator {
        let schema: serde_json::Value = serde_json::from_str(text).unwrap();
        jsonschema::validator_for(&schema).unwrap()
    }

    fn line(event: &EngineEvent) -> serde_json::Value {
        serde_json::json!({
            "seq": 1,
            "at": "2026-01-01T00:00:00Z",
            "job": "0190f5c2-7b1e-7c3d-9a4f-5e6d7c8b9a01",
            "event": serde_json::to_value(event).unwrap(),
        })
    }

    /// Every engine event variant, so a new variant must be added here and to the schema.
    fn every_event() -> Vec<EngineEvent> {
        use EngineEvent::*;
        let s = || "x".to_owned();
        vec![
            JobStarted {
                attempt: 1,
                worker: s(),
                resumed_from: Some(Step::Register),
            },
            JobSucceeded {
                account_id: s(),
                outcome: "created".into(),
            },
            JobFailed {
                step: None,
                code: s(),
                message: s(),
            },
            JobCancelled,
            TerraformPhase {
                phase: "plan".into(),
                elapsed_ms: 1200,
            },
            StepStarted {
                step: Step::Validate,
            },
            StepFinished {
                step: Step::Verify,
                elapsed_ms: 3,
                warning: Some(s()),
            },
            StepSkipped {
                step: Step::Resolve,
                reason: s(),
            },
            StepFailed {
                step: Step::AzureIdentity,
                code: s(),
                message: s(),
            },
            ApprovalRequired {
                add: 1,
                change: 0,
                destroy: 0,
            },
            TerraformPlannedChange {
                address: s(),
                action: s(),
            },
            TerraformApplyStart {
                address: s(),
                action: s(),
            },
            TerraformApplyProgress {
                address: s(),
                elapsed_s: 1.5,
            },
            TerraformApplyComplete {
                address: s(),
                action: s(),
                elapsed_s: 2.0,
            },
            TerraformApplyErrored {
                address: s(),
                action: s(),
            },
            TerraformDiagnostic {
                severity: s(),
                summary: s(),
                detail: s(),
                address: None,
            },
            TerraformChangeSummary {
                operation: s(),
                add: 1,
                change: 0,
                remove: 0,
            },
            TerraformMessage {
                kind: s(),
                message: s(),
            },
            TerraformLog { line: s() },
            ApiCall {
                endpoint: s(),
                status: Some(200),
                attempt: 1,
                elapsed_ms: 2,
                request_id: None,
            },
            ApiRetry {
                endpoint: s(),
                attempt: 1,
                reason: s(),
                delay_ms: 5,
            },
            RateLimited {
                endpoint: s(),
                delay_ms: 5,
            },
            ApiSession { what: s() },
            CapabilityStatus {
                capability: s(),
                status: s(),
                message: s(),
                remediation: s(),
                docs_url: "https://docs.prismacloud.io/x".into(),
            },
            EngineEvent::log("warn", "x"),
            CortexInstance {
                instance_id: "0123456789abcdef0123456789abcdef".into(),
                status: "PENDING".into(),
            },
        ]
    }

    #[test]
    fn every_engine_event_validates_and_is_documented() {
        let v = validator(EVENT);
        let documented = event_types();
        for event in every_event() {
            let value = line(&event);
            let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{value}: {errors:?}");
            let kind = value["event"]["type"].as_str().unwrap().to_owned();
            assert!(documented.contains(&kind), "{kind} missing from the schema");
        }
        assert_eq!(
            documented.len(),
            every_event().len(),
            "schema lists unknown types"
        );
    }

    #[test]
    fn docs_cli_md_documents_every_event_type() {
        let docs = include_str!("../../../docs/cli.md");
        for kind in event_types() {
            assert!(
                docs.contains(&format!("| `{kind}` |")),
                "{kind} not in docs/cli.md"
            );
        }
    }

    #[test]
    fn the_schemas_refuse_what_they_should() {
        let v = validator(EVENT);
        let mut bad = line(&EngineEvent::StepStarted {
            step: Step::Validate,
        });
        bad["event"]["step"] = "dance".into();
        assert!(!v.is_valid(&bad));
        let mut bad = line(&EngineEvent::JobCancelled);
        bad["event"]["type"] = "job_exploded".into();
        assert!(!v.is_valid(&bad));
        let result = validator(RESULT);
        assert!(!result.is_valid(&serde_json::json!({"type": "result", "status": "failed"})));
        let cortex = validator(CORTEX_RESULT);
        assert!(
            !cortex.is_valid(&serde_json::json!({"type": "cortex_result", "status": "failed"}))
        );
        for text in [BATCH_RESULT, ERROR, CORTEX_INSTANCES] {
            validator(text);
        }
    }
}
