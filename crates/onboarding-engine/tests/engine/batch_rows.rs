//! A batch made from a file keeps every row: the jobs with their row numbers, and the rows
//! skipped for their problems.

use onboarding_engine::batch_file::{BatchDefaults, parse_rows, split_checked, validate_rows};

use crate::common::{Sandbox, existing, guid, sandbox_mode, secret};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_from_a_file_keeps_its_skipped_rows_with_their_numbers() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let (a, b) = (guid(0x5ab5, 300), guid(0x5ab5, 301));
    // Row 3 is not a UUID; row 5 repeats row 2's subscription; row 4 is blank (not a row).
    let csv =
        format!("subscription_id,name\n{a},first\nnot-a-uuid,broken\n\n{a},again\n{b},second\n");
    let rows = parse_rows(csv.as_bytes(), false, "").unwrap();
    let defaults = BatchDefaults {
        request: existing(&a, "unused", 300),
        ..BatchDefaults::default()
    };
    let (items, skipped) = split_checked(validate_rows(&rows, &defaults), &Some(secret(300)));
    assert_eq!(items.iter().map(|i| i.row).collect::<Vec<_>>(), [2, 6]);
    let (batch, jobs) = sb
        .engine
        .submit_batch_rows("from a file", items, skipped, "t")
        .await
        .unwrap();
    assert_eq!(jobs.len(), 2);
    sb.run().await;

    let report = sb.engine.batch_report(batch).await.unwrap();
    assert_eq!((report.total, report.onboarded), (2, 2), "{report:?}");
    let kept: Vec<_> = report
        .rows
        .iter()
        .map(|r| (r.row, r.name.as_str()))
        .collect();
    assert_eq!(kept, [(Some(2), "first"), (Some(6), "second")]);
    let left_out: Vec<_> = report
        .skipped
        .iter()
        .map(|s| (s.row, s.subscription_id.as_str(), s.name.as_str()))
        .collect();
    assert_eq!(
        left_out,
        [(3, "not-a-uuid", "broken"), (5, a.as_str(), "again")]
    );
    let problems = |i: usize| {
        report.skipped[i]
            .problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert!(
        problems(0).starts_with("row 3 subscription_id"),
        "{}",
        problems(0)
    );
    assert!(problems(1).contains("already in row 2"), "{}", problems(1));
    // The serialised report (what the API and the CLI print) carries them too.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["skipped"][1]["row"], 5);
    assert_eq!(json["rows"][1]["row"], 6);
    let audit = sb.engine.store().list_audit(10).await.unwrap();
    let submitted = audit
        .iter()
        .find(|e| e.action == "batch.submitted")
        .unwrap();
    assert_eq!(submitted.detail["skipped_rows"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_file_batch_names_the_row_numbers() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let sub = guid(0x5ab5, 310);
    let item = |row| onboarding_engine::batch_file::BatchItem {
        row,
        request: existing(&sub, &format!("row {row}"), 310)
            .validate()
            .unwrap(),
        secret: Some(secret(310)),
    };
    // The engine's own duplicate check (a caller that skipped validate_rows).
    let err = sb
        .engine
        .submit_batch_rows("dups", vec![item(2), item(9)], Vec::new(), "t")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("row 9"), "{err}");
    let mut no_secret = item(4);
    no_secret.secret = None;
    let err = sb
        .engine
        .submit_batch_rows("no secret", vec![no_secret], Vec::new(), "t")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("row 4 client_secret"), "{err}");
    assert!(
        sb.engine
            .store()
            .list_jobs(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
