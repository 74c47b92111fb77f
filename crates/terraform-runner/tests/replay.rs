//! Replaying recorded and synthesized streams: same events and outcome rules as a real run.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use terraform_runner::replay::{replay_lines, synthesize_apply_stream};
use terraform_runner::runner::{Phase, RunError, RunnerEvent};
use terraform_runner::stream::{MessageKind, parse_line};
use tokio_util::sync::CancellationToken;

fn fixture_lines(name: &str) -> Vec<String> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn twin_resources() -> Vec<(String, String, String)> {
    [
        (
            "azuread_application.prisma",
            "azuread_application",
            "prisma",
        ),
        (
            "azuread_service_principal.prisma",
            "azuread_service_principal",
            "prisma",
        ),
        (
            "azuread_service_principal_password.prisma",
            "azuread_service_principal_password",
            "prisma",
        ),
        (
            r#"azurerm_role_assignment.reader["/subscriptions/0000"]"#,
            "azurerm_role_assignment",
            "reader",
        ),
        (
            "module.flowlogs.azurerm_storage_account.logs[0]",
            "azurerm_storage_account",
            "logs",
        ),
    ]
    .into_iter()
    .map(|(a, t, n)| (a.to_owned(), t.to_owned(), n.to_owned()))
    .collect()
}

#[test]
fn synthesized_stream_parses_and_covers_every_address() {
    let res = twin_resources();
    let outputs = vec!["client_id".to_owned(), "client_secret".to_owned()];
    let lines = synthesize_apply_stream(&res, &outputs);
    let msgs: Vec<_> = lines
        .iter()
        .map(|l| parse_line(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();

    assert!(matches!(&msgs[0].kind, MessageKind::Version { ui, .. } if ui.starts_with("1.")));
    let addrs: BTreeSet<String> = res.iter().map(|r| r.0.clone()).collect();
    let collect = |f: fn(&MessageKind) -> Option<&str>| -> BTreeSet<String> {
        msgs.iter()
            .filter_map(|m| f(&m.kind).map(str::to_owned))
            .collect()
    };
    let planned = collect(|k| match k {
        MessageKind::PlannedChange { resource, .. } => Some(&resource.addr),
        _ => None,
    });
    let started = collect(|k| match k {
        MessageKind::ApplyStart { resource, .. } => Some(&resource.addr),
        _ => None,
    });
    let completed = collect(|k| match k {
        MessageKind::ApplyComplete { resource, .. } => Some(&resource.addr),
        _ => None,
    });
    assert_eq!(planned, addrs);
    assert_eq!(started, addrs);
    assert_eq!(completed, addrs);

    // Every start precedes its completion; completion has an id and elapsed time.
    for (addr, _, _) in &res {
        let s = msgs.iter().position(|m| matches!(&m.kind, MessageKind::ApplyStart { resource, .. } if &resource.addr == addr)).unwrap();
        let c = msgs.iter().position(|m| matches!(&m.kind, MessageKind::ApplyComplete { resource, .. } if &resource.addr == addr)).unwrap();
        assert!(s < c);
        assert!(matches!(&msgs[c].kind,
            MessageKind::ApplyComplete { id_value: Some(_), elapsed_seconds, .. } if *elapsed_seconds >= 2.0));
    }

    // The resource object is derived from the address like terraform does it.
    let role = msgs
        .iter()
        .find_map(|m| match &m.kind {
            MessageKind::ApplyStart { resource, .. }
                if resource.resource_type == "azurerm_role_assignment" =>
            {
                Some(resource.clone())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(role.module, "");
    assert_eq!(role.resource_name, "reader");
    assert_eq!(
        role.resource_key,
        Some(serde_json::json!("/subscriptions/0000"))
    );
    let logs = msgs
        .iter()
        .find_map(|m| match &m.kind {
            MessageKind::ApplyStart { resource, .. }
                if resource.resource_type == "azurerm_storage_account" =>
            {
                Some(resource.clone())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(logs.module, "module.flowlogs");
    assert_eq!(logs.resource_key, Some(serde_json::json!(0)));

    let n = res.len() as u64;
    assert!(msgs.iter().any(|m| matches!(&m.kind,
        MessageKind::ChangeSummary { add, change: 0, remove: 0, operation, .. } if *add == n && operation == "apply")));
    assert_eq!(
        msgs.last().unwrap().kind,
        MessageKind::Outputs {
            names: outputs.clone()
        }
    );
    // Synthesized streams are deterministic apart from timestamps.
    let again = synthesize_apply_stream(&res, &outputs);
    let strip = |l: &String| {
        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
        v.as_object_mut().unwrap().remove("@timestamp");
        v
    };
    assert_eq!(
        lines.iter().map(strip).collect::<Vec<_>>(),
        again.iter().map(strip).collect::<Vec<_>>()
    );
}

#[test]
fn synthesized_stream_of_nothing_is_still_a_valid_apply() {
    let lines = synthesize_apply_stream(&[], &[]);
    let kinds: Vec<_> = lines.iter().map(|l| parse_line(l).unwrap().kind).collect();
    assert_eq!(kinds.len(), 3);
    assert!(matches!(
        &kinds[1],
        MessageKind::ChangeSummary { add: 0, .. }
    ));
}

#[tokio::test]
async fn replay_of_synthesized_apply_succeeds_with_changes() {
    let lines = synthesize_apply_stream(&twin_resources(), &["client_id".to_owned()]);
    let mut events = Vec::new();
    let out = replay_lines(
        &lines,
        Duration::ZERO,
        &CancellationToken::new(),
        &mut |e| events.push(e),
    )
    .await
    .unwrap();
    assert_eq!(out.phase, Phase::Apply);
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.changes, Some((5, 0, 0)));
    assert_eq!(events.len(), lines.len());
    assert!(events.iter().all(|e| matches!(e, RunnerEvent::Message(_))));
}

#[tokio::test]
async fn replay_of_recorded_streams_follows_runner_rules() {
    let destroy = replay_lines(
        &fixture_lines("destroy.jsonl"),
        Duration::ZERO,
        &CancellationToken::new(),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(destroy.phase, Phase::Destroy);
    assert_eq!(destroy.changes, Some((0, 0, 3)));

    let init = replay_lines(
        &fixture_lines("init-ok.jsonl"),
        Duration::ZERO,
        &CancellationToken::new(),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(init.phase, Phase::Init);

    let err = replay_lines(
        &fixture_lines("apply-errored.jsonl"),
        Duration::ZERO,
        &CancellationToken::new(),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    match err {
        RunError::Failed {
            exit_code: Some(1),
            diagnostics,
            ..
        } => assert_eq!(
            diagnostics[0].address.as_deref(),
            Some("terraform_data.bad")
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn replay_passes_garbage_on_and_stops_at_unsupported_ui() {
    let lines = vec![
        fixture_lines("init-ok.jsonl")[0].clone(),
        "not json".to_owned(),
        String::new(),
    ];
    let mut events = Vec::new();
    replay_lines(
        &lines,
        Duration::ZERO,
        &CancellationToken::new(),
        &mut |e| events.push(e),
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 2, "blank line skipped: {events:?}");
    assert_eq!(events[1], RunnerEvent::Unparsed("not json".to_owned()));

    let v2 = r#"{"@level":"info","@message":"Terraform 2.0.0","@module":"terraform.ui","@timestamp":"2030-01-01T00:00:00Z","terraform":"2.0.0","type":"version","ui":"2.0"}"#;
    let err = replay_lines(
        &[v2.to_owned()],
        Duration::ZERO,
        &CancellationToken::new(),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "terraform_unsupported_ui");
}

#[tokio::test]
async fn replay_honours_cancel_between_paced_lines() {
    let lines = synthesize_apply_stream(&twin_resources(), &[]);
    assert!(lines.len() > 10);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        trigger.cancel();
    });
    let t0 = Instant::now();
    let mut seen = 0usize;
    let err = replay_lines(&lines, Duration::from_millis(100), &cancel, &mut |_| {
        seen += 1
    })
    .await
    .unwrap_err();
    assert!(matches!(err, RunError::Cancelled { .. }), "{err:?}");
    // Lines come at 0, 100, 200 ms; cancel at 250 ms. Under load a few more may slip through,
    // but the replay stops well before its end.
    assert!(
        seen >= 1 && seen < lines.len() / 2,
        "saw {seen} of {} lines",
        lines.len()
    );
    assert!(t0.elapsed() < Duration::from_millis(100) * (lines.len() as u32 / 2));

    // Already cancelled: nothing is emitted.
    let mut seen = 0usize;
    let err = replay_lines(&lines, Duration::ZERO, &cancel, &mut |_| seen += 1)
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Cancelled { .. }));
    assert_eq!(seen, 0);
}
