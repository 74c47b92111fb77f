//! The recorded terraform 1.11.4 streams (copied from shared/reference/terraform-json-samples)
//! parse line by line, and what they contain comes out typed.

use std::collections::BTreeMap;

use terraform_runner::stream::{
    MessageKind, StreamError, UiMessage, parse_line, parse_outputs, parse_validate,
};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse_all(name: &str) -> Vec<UiMessage> {
    fixture(name)
        .lines()
        .enumerate()
        .map(|(i, l)| parse_line(l).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1)))
        .collect()
}

fn kind_name(k: &MessageKind) -> String {
    serde_json::to_value(k).unwrap()["type"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn counts(msgs: &[UiMessage]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for msg in msgs {
        *m.entry(kind_name(&msg.kind)).or_insert(0) += 1;
    }
    m
}

const STREAMS: &[&str] = &[
    "apply-create-from-saved-plan.jsonl",
    "apply-errored.jsonl",
    "destroy.jsonl",
    "init-ok.jsonl",
    "init-offline-azurerm-failure.jsonl",
    "plan-create.jsonl",
    "plan-refresh-nochange.jsonl",
    "plan-syntax-error.jsonl",
];

#[test]
fn every_fixture_stream_parses_and_starts_with_version() {
    for name in STREAMS {
        let msgs = parse_all(name);
        assert!(!msgs.is_empty(), "{name}");
        assert!(
            matches!(&msgs[0].kind, MessageKind::Version { terraform: Some(v), ui } if v == "1.11.4" && ui == "1.2"),
            "{name}: {:?}",
            msgs[0].kind
        );
        for m in &msgs {
            assert_eq!(m.module, "terraform.ui");
            assert!(!m.timestamp.is_empty());
            assert!(
                !matches!(m.kind, MessageKind::Unknown { .. }),
                "{name}: every 1.11.4 type is modelled: {m:?}"
            );
        }
    }
}

#[test]
fn apply_from_saved_plan_counts_match_the_file() {
    let text = fixture("apply-create-from-saved-plan.jsonl");
    let msgs = parse_all("apply-create-from-saved-plan.jsonl");
    let c = counts(&msgs);
    // Count by the raw `"type":"…"` marker so the expectation comes from the file itself.
    for t in [
        "version",
        "planned_change",
        "apply_start",
        "apply_progress",
        "apply_complete",
        "provision_start",
        "provision_progress",
        "provision_complete",
        "change_summary",
        "outputs",
    ] {
        let raw = text.matches(&format!("\"type\":\"{t}\"")).count();
        assert!(raw > 0, "{t} is in the fixture");
        assert_eq!(c.get(t).copied().unwrap_or(0), raw, "{t}");
    }
    assert_eq!(c["apply_complete"], 3);
    assert_eq!(c["apply_progress"], 2);
    assert_eq!(msgs.len(), text.lines().count());

    let completes: Vec<_> = msgs
        .iter()
        .filter_map(|m| match &m.kind {
            MessageKind::ApplyComplete {
                resource,
                id_key,
                id_value,
                elapsed_seconds,
                ..
            } => Some((
                resource.addr.clone(),
                id_key.clone(),
                id_value.clone(),
                *elapsed_seconds,
                resource.resource_key.clone(),
            )),
            _ => None,
        })
        .collect();
    let slow0 = completes
        .iter()
        .find(|c| c.0 == "terraform_data.slow[0]")
        .unwrap();
    assert_eq!(slow0.1.as_deref(), Some("id"));
    assert_eq!(
        slow0.2.as_deref(),
        Some("4c9b9eb9-268c-2326-6593-d3eb2d1ee894")
    );
    assert_eq!(slow0.3, 11.0);
    assert_eq!(slow0.4, Some(serde_json::json!(0)));
    let app = completes
        .iter()
        .find(|c| c.0 == "terraform_data.app")
        .unwrap();
    assert_eq!(app.4, None, "resource_key null -> None");

    // apply_start on create carries no id.
    assert!(msgs.iter().any(|m| matches!(&m.kind,
        MessageKind::ApplyStart { id_key: None, id_value: None, action, .. } if action == "create")));

    let summary = msgs.iter().find_map(|m| match &m.kind {
        MessageKind::ChangeSummary {
            add,
            change,
            import,
            remove,
            operation,
        } => Some((*add, *change, *import, *remove, operation.clone())),
        _ => None,
    });
    assert_eq!(summary, Some((3, 0, 0, 0, "apply".to_owned())));

    let last = msgs.last().unwrap();
    assert_eq!(
        last.kind,
        MessageKind::Outputs {
            names: vec!["app".into(), "list".into(), "secret".into()]
        }
    );
    // The non-sensitive value present in the stream is not kept anywhere.
    let dump = format!("{msgs:?}");
    assert!(!dump.contains("prisma-00000000-0000-0000-0000-000000000000"));

    let progress_output: Vec<&str> = msgs
        .iter()
        .filter_map(|m| match &m.kind {
            MessageKind::ProvisionProgress { output, .. } => Some(output.as_str()),
            _ => None,
        })
        .collect();
    assert!(progress_output.contains(&"hello-0"));
}

#[test]
fn apply_errored_then_addressed_error_diagnostic_and_no_apply_summary() {
    let msgs = parse_all("apply-errored.jsonl");
    let errored = msgs
        .iter()
        .position(|m| matches!(&m.kind, MessageKind::ApplyErrored { resource, action, .. } if resource.addr == "terraform_data.bad" && action == "create"))
        .expect("apply_errored");
    let diag = msgs
        .iter()
        .position(|m| matches!(&m.kind, MessageKind::Diagnostic(_)))
        .expect("diagnostic");
    assert!(errored < diag, "the diagnostic comes after apply_errored");
    let MessageKind::Diagnostic(d) = &msgs[diag].kind else {
        unreachable!()
    };
    assert_eq!(msgs[diag].level, "error");
    assert!(d.is_error());
    assert_eq!(d.summary, "local-exec provisioner error");
    assert_eq!(d.address.as_deref(), Some("terraform_data.bad"));
    assert_eq!(d.range.as_deref(), Some("main.tf:2:28"));
    assert!(d.detail.contains("exit status 3"));
    assert!(msgs.iter().any(|m| matches!(&m.kind,
        MessageKind::ProvisionErrored { provisioner, .. } if provisioner == "local-exec")));
    assert!(!msgs.iter().any(|m| matches!(&m.kind,
        MessageKind::ChangeSummary { operation, .. } if operation == "apply")));
    // `>&2` was written as \u003e\u0026 by Go: decoded.
    assert!(msgs.iter().any(|m| m.message.contains("echo boom >&2")));
}

#[test]
fn destroy_deletes_and_summarises_as_destroy() {
    let msgs = parse_all("destroy.jsonl");
    let starts: Vec<_> = msgs
        .iter()
        .filter_map(|m| match &m.kind {
            MessageKind::ApplyStart {
                action,
                id_key,
                id_value,
                ..
            } => Some((action.clone(), id_key.clone(), id_value.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), 3);
    for (action, id_key, id_value) in &starts {
        assert_eq!(action, "delete");
        assert_eq!(id_key.as_deref(), Some("id"));
        assert!(id_value.is_some());
    }
    assert!(msgs.iter().all(|m| match &m.kind {
        MessageKind::ApplyComplete { action, .. } | MessageKind::PlannedChange { action, .. } =>
            action == "delete",
        _ => true,
    }));
    let ops: Vec<_> = msgs
        .iter()
        .filter_map(|m| match &m.kind {
            MessageKind::ChangeSummary {
                operation, remove, ..
            } => Some((operation.clone(), *remove)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ops,
        [("plan".to_owned(), 3), ("destroy".to_owned(), 3)],
        "plan summary first, destroy summary last"
    );
    assert_eq!(counts(&msgs)["refresh_start"], 3);
    assert_eq!(counts(&msgs)["refresh_complete"], 3);
}

#[test]
fn init_streams_have_message_codes_logs_and_diagnostics() {
    let ok = parse_all("init-ok.jsonl");
    let codes: Vec<_> = ok
        .iter()
        .filter_map(|m| match &m.kind {
            MessageKind::InitOutput { message_code } => Some(message_code.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        codes,
        [
            "initializing_backend_message",
            "initializing_provider_plugin_message",
            "output_init_success_message"
        ]
    );
    // Whole-second timestamp kept verbatim.
    assert_eq!(ok[1].timestamp, "2026-11-22T06:00:32Z");
    assert!(ok.iter().any(|m| m.kind == MessageKind::Log));

    let failed = parse_all("init-offline-azurerm-failure.jsonl");
    let diags: Vec<_> = failed
        .iter()
        .filter_map(|m| match &m.kind {
            MessageKind::Diagnostic(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(diags.len(), 2);
    assert!(
        diags
            .iter()
            .all(|d| d.is_error() && d.summary == "Failed to query available provider packages")
    );
    assert!(
        diags
            .iter()
            .all(|d| d.address.is_none() && d.range.is_none())
    );
}

#[test]
fn plans_parse_with_summaries_and_refreshes() {
    let create = parse_all("plan-create.jsonl");
    assert_eq!(counts(&create)["planned_change"], 3);
    assert!(create.iter().any(|m| matches!(&m.kind,
        MessageKind::ChangeSummary { add: 3, operation, .. } if operation == "plan")));
    let nochange = parse_all("plan-refresh-nochange.jsonl");
    let c = counts(&nochange);
    assert_eq!((c["refresh_start"], c["refresh_complete"]), (3, 3));
    assert!(!c.contains_key("planned_change"));
    let syntax = parse_all("plan-syntax-error.jsonl");
    assert!(matches!(&syntax[1].kind,
        MessageKind::Diagnostic(d) if d.summary == "Invalid expression" && d.range.as_deref() == Some("main.tf:2:11")));
}

#[test]
fn unknown_types_are_kept_with_their_message() {
    let line = r#"{"@level":"info","@message":"Run block passed","@module":"terraform.ui","@timestamp":"2026-11-22T06:00:32.1Z","type":"test_run","test_run":{"path":"a.tftest.hcl"},"@testfile":"a.tftest.hcl"}"#;
    let m = parse_line(line).unwrap();
    assert_eq!(
        m.kind,
        MessageKind::Unknown {
            type_name: "test_run".into()
        }
    );
    assert_eq!(m.message, "Run block passed");
}

#[test]
fn ui_major_2_is_unsupported() {
    let line = r#"{"@level":"info","@message":"Terraform 2.0.0","@module":"terraform.ui","@timestamp":"2030-01-01T00:00:00Z","terraform":"2.0.0","type":"version","ui":"2.0"}"#;
    assert_eq!(
        parse_line(line),
        Err(StreamError::UnsupportedUi { ui: "2.0".into() })
    );
}

#[test]
fn non_json_line_is_an_error() {
    let e = parse_line("│ Warning: Unable to open CLI configuration file").unwrap_err();
    assert!(
        matches!(e, StreamError::NotJson { ref line_snippet } if line_snippet.contains("Warning"))
    );
    assert!(!e.is_fatal());
}

#[test]
fn output_all_parses_and_debug_redacts_sensitive() {
    let outs = parse_outputs(&fixture("output-all.json")).unwrap();
    assert_eq!(outs.keys().collect::<Vec<_>>(), ["app", "list", "secret"]);
    let secret = &outs["secret"];
    assert!(secret.sensitive);
    assert_eq!(secret.value, serde_json::json!("s3cr3t"));
    let dbg = format!("{secret:?}");
    assert!(dbg.contains("[REDACTED]"), "{dbg}");
    assert!(!dbg.contains("s3cr3t"), "{dbg}");
    assert!(!format!("{outs:?}").contains("s3cr3t"));
    // Non-sensitive values stay visible for debugging.
    assert!(format!("{:?}", outs["app"]).contains("prisma-00000000"));
    assert_eq!(outs["list"].value.as_array().map(Vec::len), Some(2));
}

#[test]
fn validate_documents_parse() {
    let ok = parse_validate(&fixture("validate-ok.json")).unwrap();
    assert!(ok.valid && ok.diagnostics.is_empty());
    let bad = parse_validate(&fixture("validate-syntax-error.json")).unwrap();
    assert!(!bad.valid);
    assert_eq!(bad.error_count, 1);
    assert_eq!(bad.diagnostics[0].range.as_deref(), Some("main.tf:2:11"));
}
