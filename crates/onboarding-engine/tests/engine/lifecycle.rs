//! Approval, batches, cancel, resume, and event replay.

use std::time::Duration;

use cortex_store::JobState;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_approval_gate_stops_after_the_plan_and_resumes_after_approval() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let mut raw = subscription(&guid(0x5ab5, 20), "gated");
    raw.require_approval = true;
    let job = sb
        .engine
        .submit(&raw.validate().unwrap(), None, "t")
        .await
        .unwrap();
    sb.run().await;
    let record = sb.job(job).await;
    if !terraform_available() {
        // The replay has no plan to approve: it runs straight through.
        assert_eq!(record.state, JobState::Succeeded);
        return;
    }
    assert_eq!(
        record.state,
        JobState::AwaitingApproval,
        "{:?}",
        record.error
    );
    let events = sb.events(job).await;
    let approval = events
        .iter()
        .find(|e| e.event["type"] == "approval_required")
        .expect("approval asked");
    assert!(approval.event["add"].as_u64().unwrap() >= 5, "{approval:?}");
    assert!(
        !sb.stats()
            .endpoints
            .contains_key("POST /cas/v1/azure_account")
    );
    assert!(sb.engine.approve(job, "approver").await.unwrap());
    sb.run().await;
    sb.succeeded(job).await;
    let events = sb.events(job).await;
    let skipped: Vec<_> = events
        .iter()
        .filter(|e| e.event["type"] == "step_skipped")
        .map(|e| e.event["step"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        skipped,
        ["validate", "prerequisites", "resolve"],
        "the second run resumed where the first stopped"
    );
    // They succeeded in this job's first run, before the gate: said so, not "an earlier attempt".
    assert!(
        events
            .iter()
            .filter(|e| e.event["type"] == "step_skipped")
            .all(|e| e.event["reason"] == "completed before the approval"),
        "{events:?}"
    );
    let audit = sb.engine.store().list_audit(50).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "job.approved" && a.actor == "approver")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_keeps_going_past_failures_and_summarises() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let items = (0..12u32)
        .map(|n| {
            // Rows 3 and 7 point at a subscription the emulator's Azure does not know.
            let sub = if n == 3 || n == 7 {
                format!("0000dead{}", &guid(0, 100 + n)[8..])
            } else {
                guid(0x5ab5, 100 + n)
            };
            (
                existing(&sub, &format!("batch {n}"), 100 + n)
                    .validate()
                    .unwrap(),
                Some(secret(100 + n)),
            )
        })
        .collect();
    let (batch, jobs) = sb.engine.submit_batch("twelve", items, "t").await.unwrap();
    assert_eq!(jobs.len(), 12);
    sb.run().await;
    let summary = sb.engine.batch_summary(batch).await.unwrap().unwrap();
    assert_eq!(summary.total, 12);
    let count = |s: JobState| {
        summary
            .by_state
            .iter()
            .filter(|(state, _)| **state == s)
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    assert_eq!(
        (count(JobState::Succeeded), count(JobState::Failed)),
        (10, 2),
        "{summary:?}"
    );
    assert_eq!(
        sb.stats().accounts_created,
        10,
        "the failing two stop at pre-flight, before registering"
    );
    let report = sb.engine.batch_report(batch).await.unwrap();
    assert_eq!(
        (
            report.total,
            report.onboarded,
            report.adopted,
            report.failed
        ),
        (12, 10, 0, 2)
    );
    let failed: Vec<_> = report
        .rows
        .iter()
        .filter(|r| r.state == JobState::Failed)
        .collect();
    assert!(
        failed.iter().all(|r| r.account_id.starts_with("0000dead")
            && r.code.as_deref() == Some("preflight_failed")),
        "{failed:?}"
    );
    assert_eq!(report.rows[3].name, "batch 3", "rows keep submission order");
    // Each finished job has an audit entry with the request ids of its Prisma writes.
    let audit = sb.engine.store().list_audit(100).await.unwrap();
    let ends: Vec<_> = audit
        .iter()
        .filter(|a| a.action == "job.succeeded")
        .collect();
    assert_eq!(ends.len(), 10);
    assert!(
        ends.iter().all(|a| !a.prisma_request_ids.is_empty()),
        "{ends:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_a_duplicate_row_is_refused_whole() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let row = |n| {
        (
            existing(&guid(0x5ab5, 200), &format!("dup {n}"), n)
                .validate()
                .unwrap(),
            Some(secret(n)),
        )
    };
    let err = sb
        .engine
        .submit_batch("dups", vec![row(1), row(2)], "t")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rows[1]"), "{err}");
    assert!(
        sb.engine
            .store()
            .list_jobs(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_resume() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let job = sb
        .engine
        .submit(
            &existing(&guid(0x5ab5, 30), "cancelled", 30)
                .validate()
                .unwrap(),
            Some(secret(30)),
            "t",
        )
        .await
        .unwrap();
    assert!(sb.engine.cancel(job, "t").await.unwrap());
    sb.run().await;
    assert_eq!(sb.job(job).await.state, JobState::Cancelled);
    assert_eq!(sb.stats().accounts_created, 0);
    assert!(sb.engine.resume(job, "t").await.unwrap());
    sb.run().await;
    sb.succeeded(job).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_replay_from_any_point_and_follow_live_without_gaps() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let job = sb
        .engine
        .submit(
            &subscription(&guid(0x5ab5, 40), "watched")
                .validate()
                .unwrap(),
            None,
            "t",
        )
        .await
        .unwrap();
    // Subscribe before anything ran, then run: everything arrives live, in order, once.
    let mut live = sb.engine.subscribe(job, 0);
    sb.run().await;
    let stored = sb.events(job).await;
    assert!(stored.len() > 10);
    for (i, e) in stored.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1, "sequence numbers are gapless");
    }
    let mut received = Vec::new();
    while received.len() < stored.len() {
        let e = tokio::time::timeout(Duration::from_secs(5), live.recv())
            .await
            .expect("in time")
            .expect("open");
        received.push(e.seq);
    }
    assert_eq!(received, stored.iter().map(|e| e.seq).collect::<Vec<_>>());
    // A late subscriber from the middle gets exactly the rest.
    let from = stored.len() as i64 / 2;
    let mut late = sb.engine.subscribe(job, from);
    let mut rest = Vec::new();
    while rest.len() < stored.len() - from as usize {
        rest.push(
            tokio::time::timeout(Duration::from_secs(5), late.recv())
                .await
                .unwrap()
                .unwrap()
                .seq,
        );
    }
    assert_eq!(rest, ((from + 1)..=stored.len() as i64).collect::<Vec<_>>());
    // Once everyone stopped listening and the job ended, its channel is gone.
    drop(live);
    drop(late);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sb.engine.open_event_channels() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "event channels leak after the job ended"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
