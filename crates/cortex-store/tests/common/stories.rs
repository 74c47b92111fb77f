//! The behaviour of the store, written once and run against every backend.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cortex_store::{
    AuditEntry, BatchId, BatchSourceRow, JobId, JobState, Keyring, NewBatch, NewJob, RowProblem,
    StepChange, StepWrite, Store, StoreError,
};
use prisma_types::SecretString;
use serde_json::json;

use super::{Backend, Harness, test_keyring};

const LEASE: Duration = Duration::from_secs(60);

fn new_job(kind: &str) -> NewJob {
    NewJob {
        id: JobId::new(),
        batch_id: None,
        kind: kind.to_owned(),
        request: json!({"tenant": "t-1", "subscriptions": ["s-1", "s-2"], "kind": kind}),
        created_by: "alice@example.com".to_owned(),
    }
}

fn new_batch(label: &str) -> NewBatch {
    NewBatch {
        id: BatchId::new(),
        label: label.to_owned(),
        created_by: "alice@example.com".to_owned(),
    }
}

async fn job(store: &Store, id: JobId) -> cortex_store::JobRecord {
    store.get_job(id).await.unwrap().expect("the job exists")
}

pub async fn migrations_idempotent(h: &Harness) {
    let first = new_job("onboard");
    h.store.insert_job(&first).await.unwrap();
    // Open the same database again (another process, or a restart): the migrations are
    // already applied and the data is intact.
    let again = h.open_another(h.keyring.clone()).await;
    assert_eq!(again.backend(), h.store.backend());
    assert_eq!(job(&again, first.id).await.kind, "onboard");
    let applied = h
        .raw_strings(
            "SELECT CAST(version AS TEXT) FROM _sqlx_migrations ORDER BY version",
            &[],
        )
        .await;
    assert_eq!(
        applied,
        [
            Some("1".to_owned()),
            Some("2".to_owned()),
            Some("3".to_owned()),
            Some("4".to_owned()),
            Some("5".to_owned()),
            Some("6".to_owned())
        ]
    );
    again.close().await;
    let third = h.open_another(h.keyring.clone()).await;
    assert!(third.get_job(first.id).await.unwrap().is_some());
    third.close().await;
}

pub async fn insert_and_get_job(h: &Harness) {
    let store = &h.store;
    let new = new_job("onboard");
    store.insert_job(&new).await.unwrap();
    let got = job(store, new.id).await;
    assert_eq!(got.id, new.id);
    assert_eq!(got.batch_id, None);
    assert_eq!(got.kind, "onboard");
    assert_eq!(got.state, JobState::Queued);
    assert_eq!(got.request, new.request);
    assert_eq!(got.result, None);
    assert_eq!(got.error, None);
    assert_eq!(got.attempts, 0);
    assert_eq!(got.worker_id, None);
    assert_eq!(got.lease_until, None);
    assert!(!got.cancel_requested);
    assert!(!got.approved);
    assert_eq!(got.created_by, "alice@example.com");
    assert_eq!(got.created_at.offset(), time::UtcOffset::UTC);
    assert_eq!(got.created_at, got.updated_at);
    let age = time::OffsetDateTime::now_utc() - got.created_at;
    assert!(
        age < time::Duration::minutes(1) && age > -time::Duration::minutes(1),
        "{age}"
    );
    assert!(store.get_job(JobId::new()).await.unwrap().is_none());

    // list_jobs: newest first, limited.
    let second = new_job("offboard");
    store.insert_job(&second).await.unwrap();
    let listed: Vec<_> = store
        .list_jobs(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(listed, [second.id, new.id]);
    assert_eq!(store.list_jobs(None, 1).await.unwrap().len(), 1);
}

pub async fn duplicate_job_is_conflict(h: &Harness) {
    let store = &h.store;
    let new = new_job("onboard");
    store.insert_job(&new).await.unwrap();
    let mut dup = new_job("other");
    dup.id = new.id;
    let err = store.insert_job(&dup).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(err.code(), "conflict");
    assert!(err.to_string().contains(&new.id.to_string()), "{err}");
    assert_eq!(
        job(store, new.id).await.kind,
        "onboard",
        "the original is untouched"
    );

    // A job naming an unknown batch.
    let mut orphan = new_job("onboard");
    orphan.batch_id = Some(BatchId::new());
    let err = store.insert_job(&orphan).await.unwrap_err();
    assert_eq!(err.code(), "not_found", "{err:?}");
}

pub async fn insert_batch_is_atomic(h: &Harness) {
    let store = &h.store;
    let existing = new_job("onboard");
    store.insert_job(&existing).await.unwrap();

    let batch = new_batch("tenant t-1");
    let a = new_job("onboard");
    let mut clash = new_job("onboard");
    clash.id = existing.id;
    let b = new_job("onboard");
    let err = store
        .insert_batch(&batch, &[a.clone(), clash, b.clone()])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&existing.id.to_string()),
        "names the job: {err}"
    );
    // Nothing of the batch was written.
    assert!(store.get_job(a.id).await.unwrap().is_none());
    assert!(store.get_job(b.id).await.unwrap().is_none());
    assert!(store.batch_summary(batch.id).await.unwrap().is_none());
    assert_eq!(job(store, existing.id).await.batch_id, None);

    // The same batch without the clash goes in whole.
    let c = NewJob {
        batch_id: Some(batch.id),
        ..new_job("onboard")
    };
    store
        .insert_batch(&batch, &[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();
    for id in [a.id, b.id, c.id] {
        assert_eq!(job(store, id).await.batch_id, Some(batch.id));
    }
    // A batch id used twice.
    let err = store
        .insert_batch(&batch, &[new_job("x")])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "conflict", "{err:?}");
    // A job that names another batch.
    let other = NewJob {
        batch_id: Some(BatchId::new()),
        ..new_job("x")
    };
    let err = store
        .insert_batch(&new_batch("b2"), &[other])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid", "{err:?}");
}

pub async fn concurrent_claims_never_overlap(h: &Harness) {
    let jobs: Vec<NewJob> = (0..50).map(|_| new_job("onboard")).collect();
    for job in &jobs {
        h.store.insert_job(job).await.unwrap();
    }
    // Two workers, each on its own store (as two processes or replicas would be): one claims
    // a job at a time, the other up to 7 at once.
    let other = h.open_another(h.keyring.clone()).await;
    let mut tasks = Vec::new();
    for (worker, store, at_once) in [
        ("worker-a", h.store.clone(), 1),
        ("worker-b", other.clone(), 7),
    ] {
        tasks.push(tokio::spawn(async move {
            let mut claimed = Vec::new();
            loop {
                let jobs = store.claim_jobs(worker, LEASE, at_once).await.unwrap();
                if jobs.is_empty() {
                    break;
                }
                assert!(jobs.len() <= at_once as usize);
                for job in jobs {
                    assert_eq!(job.state, JobState::Running);
                    assert_eq!(job.worker_id.as_deref(), Some(worker));
                    assert_eq!(job.attempts, 1);
                    assert!(job.lease_until.is_some());
                    claimed.push(job.id);
                }
                tokio::task::yield_now().await;
            }
            (worker, claimed)
        }));
    }
    let mut all = Vec::new();
    let mut per_worker = BTreeMap::new();
    for task in tasks {
        let (worker, claimed) = task.await.unwrap();
        per_worker.insert(worker, claimed.len());
        all.extend(claimed);
    }
    let unique: BTreeSet<_> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        50,
        "every job claimed exactly once: {per_worker:?}"
    );
    assert_eq!(unique.len(), 50, "no job claimed twice: {per_worker:?}");
    assert_eq!(unique, jobs.iter().map(|j| j.id).collect());
    for id in &unique {
        let record = job(&h.store, *id).await;
        assert_eq!(record.state, JobState::Running);
        assert_eq!(record.attempts, 1);
    }
    assert!(
        h.store
            .claim_job("worker-c", LEASE)
            .await
            .unwrap()
            .is_none()
    );
    other.close().await;
}

pub async fn claims_oldest_first(h: &Harness) {
    let store = &h.store;
    let ids: Vec<JobId> = (0..9).map(|_| JobId::new()).collect();
    for id in &ids {
        store
            .insert_job(&NewJob {
                id: *id,
                ..new_job("onboard")
            })
            .await
            .unwrap();
    }
    for id in &ids[..3] {
        assert_eq!(store.claim_job("w", LEASE).await.unwrap().unwrap().id, *id);
    }
    // In bulk: the oldest first, each claimed as one claim would claim it, and no more than
    // asked for; what is left goes to the next claim.
    let claimed_ids = |jobs: Vec<cortex_store::JobRecord>| -> Vec<JobId> {
        for job in &jobs {
            assert_eq!(job.state, JobState::Running);
            assert_eq!(job.worker_id.as_deref(), Some("w"));
            assert_eq!(job.attempts, 1);
            assert!(job.lease_until.is_some());
        }
        jobs.iter().map(|j| j.id).collect()
    };
    assert!(store.claim_jobs("w", LEASE, 0).await.unwrap().is_empty());
    let some = store.claim_jobs("w", LEASE, 4).await.unwrap();
    assert_eq!(claimed_ids(some), ids[3..7]);
    let rest = store.claim_jobs("w", LEASE, 100).await.unwrap();
    assert_eq!(claimed_ids(rest), ids[7..]);
    assert!(store.claim_jobs("w", LEASE, 100).await.unwrap().is_empty());
    for id in &ids {
        assert_eq!(job(store, *id).await.state, JobState::Running);
    }
}

pub async fn any_job_to_run_counts_queued_and_running_only(h: &Harness) {
    let store = &h.store;
    assert!(!store.any_job_to_run().await.unwrap());
    let waiting = new_job("onboard");
    store.insert_job(&waiting).await.unwrap();
    assert!(store.any_job_to_run().await.unwrap(), "queued");
    store.claim_job("w", LEASE).await.unwrap().unwrap();
    assert!(store.any_job_to_run().await.unwrap(), "running");
    // A job at its approval gate waits for a person, not for a worker.
    store
        .release_job(waiting.id, "w", JobState::AwaitingApproval)
        .await
        .unwrap();
    assert!(!store.any_job_to_run().await.unwrap(), "awaiting approval");
    let done = new_job("onboard");
    store.insert_job(&done).await.unwrap();
    assert!(
        store.any_job_to_run().await.unwrap(),
        "queued beside a waiting one"
    );
    let claimed = store.claim_job("w", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, done.id);
    store
        .finish_job(done.id, "w", JobState::Succeeded, None, None)
        .await
        .unwrap();
    assert!(!store.any_job_to_run().await.unwrap(), "finished");
}

pub async fn expired_lease_is_reclaimed(h: &Harness) {
    let store = &h.store;
    let new = new_job("onboard");
    store.insert_job(&new).await.unwrap();
    let claimed = store
        .claim_job("worker-1", Duration::from_millis(300))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, new.id);
    assert_eq!(claimed.attempts, 1);
    // While the lease runs nobody else gets the job, and only the holder can renew it.
    assert!(store.claim_job("worker-2", LEASE).await.unwrap().is_none());
    assert!(!store.renew_lease(new.id, "worker-2", LEASE).await.unwrap());
    assert!(
        store
            .renew_lease(new.id, "worker-1", Duration::from_millis(300))
            .await
            .unwrap()
    );

    // worker-1 "crashes": its lease runs out and worker-2 takes over.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let reclaimed = store.claim_job("worker-2", LEASE).await.unwrap().unwrap();
    assert_eq!(reclaimed.id, new.id);
    assert_eq!(reclaimed.attempts, 2);
    assert_eq!(reclaimed.worker_id.as_deref(), Some("worker-2"));
    assert!(reclaimed.lease_until.unwrap() > time::OffsetDateTime::now_utc());

    // worker-1 comes back: it lost the job.
    assert!(!store.renew_lease(new.id, "worker-1", LEASE).await.unwrap());
    let err = store
        .finish_job(new.id, "worker-1", JobState::Succeeded, None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::LeaseLost { job } if job == new.id),
        "{err:?}"
    );
    assert_eq!(err.code(), "lease_lost");
    let err = store
        .release_job(new.id, "worker-1", JobState::Queued)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err:?}");

    // The holder renews and finishes.
    let before = job(store, new.id).await.lease_until.unwrap();
    assert!(
        store
            .renew_lease(new.id, "worker-2", LEASE * 2)
            .await
            .unwrap()
    );
    assert!(job(store, new.id).await.lease_until.unwrap() > before);
    let result = json!({"account_id": "acc-1"});
    store
        .finish_job(new.id, "worker-2", JobState::Succeeded, Some(&result), None)
        .await
        .unwrap();
    let done = job(store, new.id).await;
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.result, Some(result));
    assert_eq!(done.lease_until, None);
    assert_eq!(done.worker_id.as_deref(), Some("worker-2"));
    // A finished job is no longer held by anyone.
    assert!(!store.renew_lease(new.id, "worker-2", LEASE).await.unwrap());
    let err = store
        .finish_job(new.id, "worker-2", JobState::Failed, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "lease_lost");
    assert!(store.claim_job("worker-3", LEASE).await.unwrap().is_none());

    // Unknown job and nonsense states.
    let err = store
        .finish_job(JobId::new(), "worker-2", JobState::Failed, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let err = store
        .finish_job(new.id, "worker-2", JobState::Running, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid");
    let err = store
        .release_job(new.id, "worker-2", JobState::Succeeded)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid");
}

pub async fn concurrent_event_appends_are_gapless(h: &Harness) {
    let new = new_job("onboard");
    h.store.insert_job(&new).await.unwrap();
    let other_job = new_job("onboard");
    h.store.insert_job(&other_job).await.unwrap();
    let other = h.open_another(h.keyring.clone()).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = if i % 2 == 0 {
            h.store.clone()
        } else {
            other.clone()
        };
        let id = new.id;
        tasks.push(tokio::spawn(async move {
            store
                .append_event(id, &json!({"type": "progress", "n": i}))
                .await
                .unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        let event = task.await.unwrap();
        assert_eq!(event.job_id, new.id);
        seqs.push(event.seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<i64>>());

    let stored = h.store.events_after(new.id, 0, 1000).await.unwrap();
    assert_eq!(
        stored.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=200).collect::<Vec<_>>()
    );
    let ns: BTreeSet<i64> = stored
        .iter()
        .map(|e| e.event["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, (0..200).collect(), "every event stored once");

    // Pagination: pages of 64 with the last seq as the cursor.
    let mut cursor = 0;
    let mut pages = Vec::new();
    loop {
        let page = h.store.events_after(new.id, cursor, 64).await.unwrap();
        if page.is_empty() {
            break;
        }
        cursor = page.last().unwrap().seq;
        pages.push(page.len());
    }
    assert_eq!(pages, [64, 64, 64, 8]);
    let tail = h.store.events_after(new.id, 195, 100).await.unwrap();
    assert_eq!(
        tail.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [196, 197, 198, 199, 200]
    );
    assert_eq!(tail[0].event, stored[195].event);

    // Another job counts from 1; an unknown job is NotFound.
    let first = h
        .store
        .append_event(other_job.id, &json!({"type": "start"}))
        .await
        .unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(
        h.store
            .events_after(other_job.id, 0, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let err = h
        .store
        .append_event(JobId::new(), &json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found", "{err:?}");
    other.close().await;
}

/// Batched appends from two processes interleave with single ones and stay gapless per
/// job, in the order given; a batch naming an unknown job stores nothing.
pub async fn batched_event_appends_are_gapless_and_atomic(h: &Harness) {
    let (a, b) = (new_job("onboard"), new_job("onboard"));
    h.store.insert_job(&a).await.unwrap();
    h.store.insert_job(&b).await.unwrap();
    let other = h.open_another(h.keyring.clone()).await;
    let mut tasks = Vec::new();
    for round in 0..40 {
        let store = if round % 2 == 0 {
            h.store.clone()
        } else {
            other.clone()
        };
        let (a, b) = (a.id, b.id);
        tasks.push(tokio::spawn(async move {
            if round % 3 == 0 {
                let e = json!({"round": round, "i": 0});
                vec![store.append_event(a, &e).await.unwrap()]
            } else {
                // Three events of `a` around one of `b`, in this order.
                let events: Vec<_> = (0..3).map(|i| json!({"round": round, "i": i})).collect();
                let batch = [
                    (a, &events[0]),
                    (b, &events[1]),
                    (a, &events[1]),
                    (a, &events[2]),
                ];
                store.append_events(&batch).await.unwrap()
            }
        }));
    }
    let mut expected_a = 0;
    for task in tasks {
        let stored = task.await.unwrap();
        expected_a += stored.iter().filter(|e| e.job_id == a.id).count();
        let a_seqs: Vec<i64> = stored
            .iter()
            .filter(|e| e.job_id == a.id)
            .map(|e| e.seq)
            .collect();
        assert!(
            a_seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "a batch's events of one job take consecutive seqs: {a_seqs:?}"
        );
    }
    for (job, count) in [(a.id, expected_a), (b.id, 26)] {
        let events = h.store.events_after(job, 0, 1000).await.unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=count as i64).collect::<Vec<_>>()
        );
    }
    // Within each round, `a`'s events are stored in the order given.
    let events = h.store.events_after(a.id, 0, 1000).await.unwrap();
    let mut by_round: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for e in &events {
        by_round
            .entry(e.event["round"].as_i64().unwrap())
            .or_default()
            .push(e.event["i"].as_i64().unwrap());
    }
    assert!(
        by_round.values().all(|is| is == &[0] || is == &[0, 1, 2]),
        "{by_round:?}"
    );

    // An unknown job anywhere in a batch: NotFound, and the known job's events are not stored.
    let before = h.store.events_after(b.id, 0, 1000).await.unwrap().len();
    let event = json!({"type": "lost"});
    let err = h
        .store
        .append_events(&[(b.id, &event), (JobId::new(), &event)])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found", "{err:?}");
    assert_eq!(
        h.store.events_after(b.id, 0, 1000).await.unwrap().len(),
        before
    );
    assert!(h.store.append_events(&[]).await.unwrap().is_empty());
    other.close().await;
}

pub async fn steps_upsert(h: &Harness) {
    let store = &h.store;
    let new = new_job("onboard");
    store.insert_job(&new).await.unwrap();
    store.step_started(new.id, "create_app").await.unwrap();
    let steps = store.steps(new.id).await.unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].state, "running");
    assert_eq!(steps[0].finished_at, None);
    let checkpoint = json!({"app_id": "app-1"});
    store
        .step_finished(new.id, "create_app", "succeeded", Some(&checkpoint))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.step_started(new.id, "grant_roles").await.unwrap();
    store
        .step_finished(
            new.id,
            "grant_roles",
            "failed",
            Some(&json!({"granted": 1})),
        )
        .await
        .unwrap();

    let steps = store.steps(new.id).await.unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.name.as_str(), s.state.as_str()))
            .collect::<Vec<_>>(),
        [("create_app", "succeeded"), ("grant_roles", "failed")]
    );
    assert_eq!(steps[0].output, Some(checkpoint.clone()));
    assert!(steps[0].finished_at.unwrap() >= steps[0].started_at);
    assert!(steps.iter().all(|s| s.job_id == new.id));

    // Resume: the failed step restarts (one row, running again, checkpoint kept) and finishes.
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.step_started(new.id, "grant_roles").await.unwrap();
    let restarted = store.steps(new.id).await.unwrap();
    assert_eq!(restarted.len(), 2);
    let grant = restarted.iter().find(|s| s.name == "grant_roles").unwrap();
    assert_eq!(grant.state, "running");
    assert_eq!(grant.finished_at, None);
    assert_eq!(grant.output, Some(json!({"granted": 1})));
    store
        .step_finished(new.id, "grant_roles", "succeeded", None)
        .await
        .unwrap();
    let grant = store
        .steps(new.id)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == "grant_roles")
        .unwrap();
    assert_eq!(grant.state, "succeeded");
    assert_eq!(
        grant.output,
        Some(json!({"granted": 1})),
        "None keeps the checkpoint"
    );

    // A step finished without having been started (skipped) is inserted.
    store
        .step_finished(new.id, "dry_run", "skipped", None)
        .await
        .unwrap();
    assert_eq!(store.steps(new.id).await.unwrap().len(), 3);

    let err = store
        .step_finished(new.id, "x", "done", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid");
    let err = store.step_started(JobId::new(), "x").await.unwrap_err();
    assert_eq!(err.code(), "not_found", "{err:?}");
    assert!(store.steps(JobId::new()).await.unwrap().is_empty());
}

/// Steps and events of several jobs in one `record`: all written, in order, or none.
pub async fn steps_and_events_recorded_together(h: &Harness) {
    let store = &h.store;
    let (a, b) = (new_job("onboard"), new_job("onboard"));
    store.insert_job(&a).await.unwrap();
    store.insert_job(&b).await.unwrap();
    let (a, b) = (a.id, b.id);
    let checkpoint = json!({"app_id": "app-1"});
    let started = |job, name| StepWrite {
        job,
        name,
        change: StepChange::Started,
    };
    let finished = |job, name, state, output| StepWrite {
        job,
        name,
        change: StepChange::Finished { state, output },
    };
    let (e1, e2) = (json!({"type": "step_started"}), json!({"type": "log"}));
    // A step started and finished in the same call ends finished, with its checkpoint.
    let stored = store
        .record(
            &[
                started(a, "validate"),
                finished(a, "validate", "succeeded", Some(&checkpoint)),
                started(b, "validate"),
            ],
            &[(a, &e1), (b, &e1), (a, &e2)],
        )
        .await
        .unwrap();
    let seqs: Vec<_> = stored.iter().map(|e| (e.job_id, e.seq)).collect();
    assert_eq!(seqs, [(a, 1), (b, 1), (a, 2)]);
    let steps_a = store.steps(a).await.unwrap();
    assert_eq!(steps_a.len(), 1);
    assert_eq!(steps_a[0].state, "succeeded");
    assert_eq!(steps_a[0].output, Some(checkpoint.clone()));
    assert_eq!(store.steps(b).await.unwrap()[0].state, "running");

    // An unknown job among the steps: nothing of the call is written.
    let err = store
        .record(
            &[
                finished(b, "validate", "succeeded", None),
                started(JobId::new(), "validate"),
            ],
            &[(b, &e2)],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found", "{err:?}");
    assert_eq!(store.steps(b).await.unwrap()[0].state, "running");
    assert_eq!(store.events_after(b, 0, 100).await.unwrap().len(), 1);
    // A bad state is refused before anything is written.
    let err = store
        .record(&[finished(b, "validate", "done", None)], &[(b, &e2)])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid");
    assert_eq!(store.events_after(b, 0, 100).await.unwrap().len(), 1);
    assert!(store.record(&[], &[]).await.unwrap().is_empty());
}

pub async fn cancel_approve_requeue(h: &Harness) {
    let store = &h.store;

    // Cancel a queued job: cancelled at once, never claimed.
    let queued = new_job("onboard");
    store.insert_job(&queued).await.unwrap();
    assert!(store.request_cancel(queued.id).await.unwrap());
    let record = job(store, queued.id).await;
    assert_eq!(record.state, JobState::Cancelled);
    assert!(record.cancel_requested);
    assert!(
        !store.request_cancel(queued.id).await.unwrap(),
        "already finished"
    );
    assert!(store.claim_job("w", LEASE).await.unwrap().is_none());

    // Requeue it: queued again, flag cleared, claimable.
    assert!(store.requeue(queued.id).await.unwrap());
    let record = job(store, queued.id).await;
    assert_eq!(record.state, JobState::Queued);
    assert!(!record.cancel_requested);
    assert!(
        !store.requeue(queued.id).await.unwrap(),
        "only failed or cancelled jobs"
    );

    // Cancel a running job: only flagged; the worker's release then cancels it.
    let running = store.claim_job("w", LEASE).await.unwrap().unwrap();
    assert_eq!(running.id, queued.id);
    assert!(store.request_cancel(running.id).await.unwrap());
    let record = job(store, running.id).await;
    assert_eq!(record.state, JobState::Running);
    assert!(record.cancel_requested);
    store
        .release_job(running.id, "w", JobState::Queued)
        .await
        .unwrap();
    let record = job(store, running.id).await;
    assert_eq!(record.state, JobState::Cancelled);
    assert_eq!(record.worker_id, None);
    assert_eq!(record.lease_until, None);

    // Approval gate: released to awaiting_approval, not claimable until approved.
    let gated = new_job("onboard");
    store.insert_job(&gated).await.unwrap();
    let claimed = store.claim_job("w", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, gated.id);
    assert!(!claimed.approved);
    store
        .release_job(gated.id, "w", JobState::AwaitingApproval)
        .await
        .unwrap();
    let record = job(store, gated.id).await;
    assert_eq!(record.state, JobState::AwaitingApproval);
    assert_eq!(record.lease_until, None);
    assert!(store.claim_job("w", LEASE).await.unwrap().is_none());
    assert!(store.approve(gated.id).await.unwrap());
    assert!(job(store, gated.id).await.approved);
    let claimed = store.claim_job("w2", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, gated.id);
    assert!(claimed.approved);
    assert_eq!(claimed.attempts, 2);
    let error = json!({"code": "prisma_conflict", "message": "account exists"});
    store
        .finish_job(gated.id, "w2", JobState::Failed, None, Some(&error))
        .await
        .unwrap();
    let record = job(store, gated.id).await;
    assert_eq!(record.state, JobState::Failed);
    assert_eq!(record.error, Some(error));
    assert!(
        !store.approve(gated.id).await.unwrap(),
        "finished jobs take no approval"
    );

    // Requeue the failed job: result and error cleared, attempts kept.
    assert!(store.requeue(gated.id).await.unwrap());
    let record = job(store, gated.id).await;
    assert_eq!(record.state, JobState::Queued);
    assert_eq!(record.error, None);
    assert_eq!(record.attempts, 2);

    // Cancelling a job that awaits approval cancels it at once.
    let claimed = store.claim_job("w", LEASE).await.unwrap().unwrap();
    assert_eq!(claimed.id, gated.id);
    store
        .release_job(gated.id, "w", JobState::AwaitingApproval)
        .await
        .unwrap();
    assert!(store.request_cancel(gated.id).await.unwrap());
    assert_eq!(job(store, gated.id).await.state, JobState::Cancelled);

    // Unknown jobs.
    assert!(!store.request_cancel(JobId::new()).await.unwrap());
    assert!(!store.approve(JobId::new()).await.unwrap());
    assert!(!store.requeue(JobId::new()).await.unwrap());
    let err = store
        .release_job(JobId::new(), "w", JobState::Queued)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
}

pub async fn batch_summary_counts(h: &Harness) {
    let store = &h.store;
    let outside = new_job("onboard");
    store.insert_job(&outside).await.unwrap();
    let batch = new_batch("tenant t-1, 5 subscriptions");
    let jobs: Vec<NewJob> = (0..5).map(|_| new_job("onboard")).collect();
    store.insert_batch(&batch, &jobs).await.unwrap();

    let summary = store.batch_summary(batch.id).await.unwrap().unwrap();
    assert_eq!(summary.id, batch.id);
    assert_eq!(summary.label, batch.label);
    assert_eq!(summary.total, 5);
    assert_eq!(summary.by_state, BTreeMap::from([(JobState::Queued, 5)]));

    // The oldest job (outside the batch) goes first; then move batch jobs around.
    let first = store.claim_job("w", LEASE).await.unwrap().unwrap();
    assert_eq!(first.id, outside.id);
    let a = store.claim_job("w", LEASE).await.unwrap().unwrap();
    let b = store.claim_job("w", LEASE).await.unwrap().unwrap();
    let c = store.claim_job("w", LEASE).await.unwrap().unwrap();
    assert_eq!([a.id, b.id, c.id], [jobs[0].id, jobs[1].id, jobs[2].id]);
    store
        .finish_job(
            a.id,
            "w",
            JobState::Succeeded,
            Some(&json!({"outcome": "adopted", "account": {"id": "x"}})),
            None,
        )
        .await
        .unwrap();
    store
        .finish_job(b.id, "w", JobState::Failed, None, Some(&json!({"e": 1})))
        .await
        .unwrap();
    assert!(store.request_cancel(jobs[3].id).await.unwrap());

    // Each job's end in brief: the outcome of a result, the error, and the request of a
    // failed job only.
    let ends = store.batch_job_ends(batch.id).await.unwrap();
    assert_eq!(ends.len(), 5);
    let end = |id| ends.iter().find(|e| e.id == id).unwrap();
    assert_eq!(end(a.id).state, JobState::Succeeded);
    assert_eq!(end(a.id).outcome.as_deref(), Some("adopted"));
    assert_eq!(
        (&end(a.id).error, &end(a.id).failed_request),
        (&None, &None)
    );
    let failed = end(b.id);
    assert_eq!(
        (failed.state, failed.outcome.as_deref()),
        (JobState::Failed, None)
    );
    assert_eq!(failed.error, Some(json!({"e": 1})));
    let b_request = jobs.iter().find(|j| j.id == b.id).unwrap().request.clone();
    assert_eq!(failed.failed_request, Some(b_request));
    assert_eq!(end(c.id).state, JobState::Running);
    assert_eq!(end(jobs[3].id).state, JobState::Cancelled);
    assert_eq!(end(jobs[4].id).state, JobState::Queued);
    assert!(ends.iter().all(|e| e.updated_at >= summary.created_at));
    assert!(
        store
            .batch_job_ends(BatchId::new())
            .await
            .unwrap()
            .is_empty()
    );

    let summary = store.batch_summary(batch.id).await.unwrap().unwrap();
    assert_eq!(summary.total, 5);
    assert_eq!(
        summary.by_state,
        BTreeMap::from([
            (JobState::Queued, 1),
            (JobState::Running, 1),
            (JobState::Succeeded, 1),
            (JobState::Failed, 1),
            (JobState::Cancelled, 1),
        ])
    );
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["by_state"]["succeeded"], 1);

    let listed = store.list_jobs(Some(batch.id), 100).await.unwrap();
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|j| j.batch_id == Some(batch.id)));
    assert_eq!(store.list_jobs(None, 100).await.unwrap().len(), 6);

    // The last seq of each batch job with events, in one query; others are absent.
    for (job, n) in [(&jobs[0], 3), (&jobs[4], 1)] {
        for i in 0..n {
            store.append_event(job.id, &json!({"i": i})).await.unwrap();
        }
    }
    store.append_event(outside.id, &json!({})).await.unwrap();
    let mut last = store.batch_last_seqs(batch.id).await.unwrap();
    last.sort();
    let mut want = vec![(jobs[0].id, 3), (jobs[4].id, 1)];
    want.sort();
    assert_eq!(last, want);

    // An empty batch, and an unknown one.
    let empty = new_batch("empty");
    store.insert_batch(&empty, &[]).await.unwrap();
    let summary = store.batch_summary(empty.id).await.unwrap().unwrap();
    assert_eq!(summary.total, 0);
    assert!(summary.by_state.is_empty());
    assert!(store.batch_summary(BatchId::new()).await.unwrap().is_none());
}

/// Many secrets in one call: each readable under its own owner, encrypted at rest, and a
/// second call replaces them.
pub async fn secrets_in_bulk(h: &Harness) {
    let store = &h.store;
    let owners: Vec<String> = (0..1_200).map(|i| format!("job-{i}")).collect();
    let canaries: Vec<SecretString> = (0..1_200)
        .map(|i| SecretString::from(format!("canary-bulk-{i}-{}", uuid::Uuid::new_v4().simple())))
        .collect();
    let batch: Vec<(&str, &str, &SecretString)> = owners
        .iter()
        .zip(&canaries)
        .map(|(o, c)| (o.as_str(), "client_secret", c))
        .collect();
    store.put_secrets(&batch).await.unwrap();
    for i in [0, 599, 1_199] {
        let got = store
            .get_secret(&owners[i], "client_secret")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.expose(), canaries[i].expose());
        let raw = h.raw_secret_value(&owners[i], "client_secret").await;
        assert!(!raw.contains(canaries[i].expose()), "ciphertext at rest");
    }
    let replaced = SecretString::from("replaced-value-0001");
    store
        .put_secrets(&[(owners[7].as_str(), "client_secret", &replaced)])
        .await
        .unwrap();
    let got = store
        .get_secret(&owners[7], "client_secret")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.expose(), "replaced-value-0001");
    store.put_secrets(&[]).await.unwrap();
}

pub async fn secrets_round_trip_encrypted_at_rest(h: &Harness) {
    let store = &h.store;
    let canary = format!("canary-{}", uuid::Uuid::new_v4().simple());
    let owner = "account:3f2a-azure-sub";
    store
        .put_secret(owner, "client_secret", &SecretString::from(canary.as_str()))
        .await
        .unwrap();
    store
        .put_secret(owner, "prisma_key", &SecretString::from("second-value"))
        .await
        .unwrap();
    let got = store
        .get_secret(owner, "client_secret")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.expose(), canary);
    assert!(store.get_secret(owner, "missing").await.unwrap().is_none());
    assert!(
        store
            .get_secret("nobody", "client_secret")
            .await
            .unwrap()
            .is_none()
    );

    // What the database holds is ciphertext.
    let stored = h.raw_secret_value(owner, "client_secret").await;
    let prefix = format!("v1:{}:", h.keyring.current_key_id());
    assert!(stored.starts_with(&prefix), "{stored}");
    assert!(!stored.contains(&canary));
    let every_column = h
        .raw_strings(
            "SELECT owner || '|' || name || '|' || value || '|' || key_id FROM secrets",
            &[],
        )
        .await;
    assert_eq!(every_column.len(), 2);
    for row in every_column {
        assert!(!row.unwrap().contains(&canary));
    }
    if h.backend == Backend::Sqlite {
        let bytes = h.sqlite_files_bytes();
        assert!(!bytes.is_empty());
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "the plaintext is nowhere in the database files"
        );
    }

    // Upsert replaces the value (with a fresh nonce).
    store
        .put_secret(
            owner,
            "client_secret",
            &SecretString::from("rotated-by-azure"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_secret(owner, "client_secret")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "rotated-by-azure"
    );
    assert_ne!(h.raw_secret_value(owner, "client_secret").await, stored);

    // Nothing about the store or its errors shows a secret.
    assert!(!format!("{store:?}").contains(&canary));

    assert_eq!(store.delete_secrets(owner).await.unwrap(), 2);
    assert!(
        store
            .get_secret(owner, "client_secret")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.delete_secrets(owner).await.unwrap(), 0);
}

pub async fn secrets_list_names_and_delete_one(h: &Harness) {
    let store = &h.store;
    let owner = "prisma-connection";
    assert!(store.list_secret_names(owner).await.unwrap().is_empty());
    // Inserted out of order; `-` sorts before digits and letters in byte order.
    for name in ["staging", "eu-2", "app2", "app-2", "Zeta"] {
        store
            .put_secret(owner, name, &SecretString::from(format!("v-{name}")))
            .await
            .unwrap();
    }
    store
        .put_secret("someone-else", "app", &SecretString::from("other"))
        .await
        .unwrap();
    assert_eq!(
        store.list_secret_names(owner).await.unwrap(),
        ["Zeta", "app-2", "app2", "eu-2", "staging"],
        "byte order on both backends, other owners left out"
    );

    // Listing reads no value: a value that would not decrypt still lists.
    h.raw_execute(
        "UPDATE secrets SET value = $1 WHERE owner = $2 AND name = $3",
        &["v1:no-such-key:AAAA", owner, "staging"],
    )
    .await;
    assert_eq!(store.list_secret_names(owner).await.unwrap().len(), 5);
    assert_eq!(
        store.get_secret(owner, "staging").await.unwrap_err().code(),
        "crypto"
    );

    // Deleting one leaves the others (and the other owner's of the same name) alone.
    assert!(store.delete_secret(owner, "staging").await.unwrap());
    assert!(!store.delete_secret(owner, "staging").await.unwrap());
    assert!(!store.delete_secret(owner, "missing").await.unwrap());
    assert!(!store.delete_secret("nobody", "app2").await.unwrap());
    assert_eq!(
        store.list_secret_names(owner).await.unwrap(),
        ["Zeta", "app-2", "app2", "eu-2"]
    );
    assert_eq!(
        store
            .get_secret(owner, "app2")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "v-app2"
    );
    assert!(store.delete_secret("someone-else", "app").await.unwrap());
    assert_eq!(store.list_secret_names(owner).await.unwrap().len(), 4);
    assert!(
        store
            .list_secret_names("someone-else")
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn secrets_tamper_is_detected(h: &Harness) {
    let store = &h.store;
    let canary = format!("canary-{}", uuid::Uuid::new_v4().simple());
    store
        .put_secret(
            "acct-1",
            "client_secret",
            &SecretString::from(canary.as_str()),
        )
        .await
        .unwrap();
    store
        .put_secret("acct-1", "other", &SecretString::from("other-value"))
        .await
        .unwrap();
    let stored = h.raw_secret_value("acct-1", "client_secret").await;

    // Flip one character of the ciphertext.
    let mut bytes = stored.clone().into_bytes();
    let i = bytes.len() - 10;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let n = h
        .raw_execute(
            "UPDATE secrets SET value = $1 WHERE owner = $2 AND name = $3",
            &[&tampered, "acct-1", "client_secret"],
        )
        .await;
    assert_eq!(n, 1);
    let err = store
        .get_secret("acct-1", "client_secret")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Crypto { .. }), "{err:?}");
    assert_eq!(err.code(), "crypto");
    assert!(!err.to_string().contains(&canary) && !format!("{err:?}").contains(&canary));

    // A valid value moved to another row does not open there (AAD binds owner and name).
    h.raw_execute(
        "UPDATE secrets SET value = $1 WHERE owner = $2 AND name = $3",
        &[&stored, "acct-1", "other"],
    )
    .await;
    let err = store.get_secret("acct-1", "other").await.unwrap_err();
    assert_eq!(err.code(), "crypto");

    // Put back, it opens again.
    h.raw_execute(
        "UPDATE secrets SET value = $1 WHERE owner = $2 AND name = $3",
        &[&stored, "acct-1", "client_secret"],
    )
    .await;
    assert_eq!(
        store
            .get_secret("acct-1", "client_secret")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        canary
    );
}

pub async fn secrets_rotation(h: &Harness) {
    let names = ["a", "b", "c"];
    for name in names {
        h.store
            .put_secret("acct", name, &SecretString::from(format!("value-{name}")))
            .await
            .unwrap();
    }
    // A new current key; the old one still decrypts.
    let new_key: [u8; 32] = rand::random();
    let rotated_keyring = Keyring::from_key("k-next", new_key).with_previous(&h.key_id, h.key);
    assert_eq!(rotated_keyring.current_key_id(), "k-next");
    let rotating = h.open_another(rotated_keyring).await;
    assert_eq!(
        rotating
            .get_secret("acct", "a")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "value-a"
    );
    assert_eq!(rotating.rotate_secrets().await.unwrap(), 3);
    for name in names {
        assert!(
            h.raw_secret_value("acct", name)
                .await
                .starts_with("v1:k-next:")
        );
    }
    assert_eq!(
        rotating.rotate_secrets().await.unwrap(),
        0,
        "nothing left to rotate"
    );
    rotating.close().await;

    // The old key removed: everything still decrypts.
    let new_only = h.open_another(Keyring::from_key("k-next", new_key)).await;
    for name in names {
        assert_eq!(
            new_only
                .get_secret("acct", name)
                .await
                .unwrap()
                .unwrap()
                .expose(),
            format!("value-{name}")
        );
    }
    new_only.close().await;

    // And the old key alone no longer does.
    let err = h.store.get_secret("acct", "a").await.unwrap_err();
    assert_eq!(err.code(), "crypto");
    assert!(err.to_string().contains("k-next"), "{err}");
}

pub async fn audit_list_ordering(h: &Harness) {
    let store = &h.store;
    assert!(store.list_audit(10).await.unwrap().is_empty());
    for (i, action) in ["job.create", "job.approve", "account.create"]
        .iter()
        .enumerate()
    {
        store
            .audit(&AuditEntry {
                actor: "alice@example.com".to_owned(),
                action: (*action).to_owned(),
                target: format!("job/{i}"),
                detail: json!({"i": i}),
                prisma_request_ids: (0..i).map(|n| format!("req-{n}")).collect(),
            })
            .await
            .unwrap();
    }
    let records = store.list_audit(10).await.unwrap();
    assert_eq!(
        records
            .iter()
            .map(|r| r.action.as_str())
            .collect::<Vec<_>>(),
        ["account.create", "job.approve", "job.create"],
        "newest first"
    );
    assert!(
        records
            .windows(2)
            .all(|w| w[0].id > w[1].id && w[0].at >= w[1].at)
    );
    assert_eq!(records[0].target, "job/2");
    assert_eq!(records[0].detail, json!({"i": 2}));
    assert_eq!(records[0].prisma_request_ids, ["req-0", "req-1"]);
    assert!(records[2].prisma_request_ids.is_empty());
    assert_eq!(records[0].actor, "alice@example.com");
    let two = store.list_audit(2).await.unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].id, records[0].id);
}

/// Replicas starting together on an empty database apply the migrations once.
pub async fn concurrent_first_open(url: &str) {
    // Replicas share one master key (each with its own key is refused:
    // `master_key_mismatch_is_refused`).
    let keyring = test_keyring();
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.to_owned();
            let keyring = keyring.clone();
            tokio::spawn(async move { Store::open(&url, keyring).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().unwrap());
    }
    let new = new_job("onboard");
    stores[0].insert_job(&new).await.unwrap();
    for store in &stores {
        assert!(store.get_job(new.id).await.unwrap().is_some());
        store.close().await;
    }
}

/// A process whose master key is not the one the database was written with refuses to open it
/// (instead of failing every job later), and says how to share the key.
pub async fn master_key_mismatch_is_refused(h: &Harness) {
    h.store
        .put_secret("acct", "a", &SecretString::from("value-a"))
        .await
        .unwrap();
    let refused = |result: Result<Store, StoreError>| match result {
        Ok(_) => panic!("a store opened with a foreign master key"),
        Err(e) => {
            assert_eq!(e.code(), "master_key_mismatch", "{e}");
            let text = e.to_string();
            assert!(text.contains("AZURE_CORTEX_MASTER_KEY"), "{text}");
            assert!(text.contains("docs/operations.md"), "{text}");
            text
        }
    };
    // Another data directory's freshly generated key: a different id.
    let text = refused(Store::open(&h.url, Keyring::generate().unwrap()).await);
    assert!(
        text.contains(&h.key_id),
        "names the database's key id: {text}"
    );
    // The same id with other key bytes (two hand-made AZURE_CORTEX_MASTER_KEY values).
    let text = refused(Store::open(&h.url, Keyring::from_key(&h.key_id, rand::random())).await);
    assert!(text.contains("fingerprints differ"), "{text}");
    // What is recorded identifies the key without containing it.
    let recorded = h
        .raw_strings("SELECT fingerprint FROM key_fingerprints", &[])
        .await;
    let hex_key: String = h.key.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let fingerprint = recorded[0].clone().unwrap();
    assert_eq!(fingerprint.len(), 32);
    assert!(
        !hex_key.contains(&fingerprint),
        "the fingerprint is not a piece of the key"
    );
    // The same key opens, and a rotation (new key, old one kept) is accepted and recorded.
    h.open_another(h.keyring.clone()).await.close().await;
    let next: [u8; 32] = rand::random();
    let rotated = Keyring::from_key("k-next", next).with_previous(&h.key_id, h.key);
    h.open_another(rotated).await.close().await;
    h.open_another(Keyring::from_key("k-next", next))
        .await
        .close()
        .await;
    assert_eq!(
        h.raw_strings("SELECT key_id FROM key_fingerprints ORDER BY key_id", &[])
            .await
            .len(),
        2
    );
}

fn source_row(
    row: u64,
    job_id: Option<JobId>,
    account: &str,
    problems: &[(&str, &str)],
) -> BatchSourceRow {
    BatchSourceRow {
        row,
        job_id,
        account_id: account.to_owned(),
        name: format!("name of {account}"),
        problems: problems
            .iter()
            .map(|(field, message)| RowProblem {
                field: (*field).to_owned(),
                message: (*message).to_owned(),
            })
            .collect(),
    }
}

/// A batch keeps every row of its source — the skipped ones with their problems — with the
/// original row numbers, in the batch's transaction.
pub async fn batch_keeps_its_source_rows(h: &Harness) {
    let store = &h.store;
    let batch = new_batch("from a file");
    let (a, b) = (new_job("onboard"), new_job("onboard"));
    // Given out of order: read back by row number.
    let rows = vec![
        source_row(5, Some(b.id), "s-5", &[]),
        source_row(2, Some(a.id), "s-2", &[]),
        source_row(
            21,
            None,
            "{bad}",
            &[
                ("row 21 subscription_id", "is not a UUID"),
                ("row 21 name", "is required"),
            ],
        ),
        source_row(
            20,
            None,
            "s-2",
            &[("row 20 subscription_id", "s-2 is already in row 2")],
        ),
    ];
    store
        .insert_batch_with_rows(&batch, &[a.clone(), b.clone()], &rows)
        .await
        .unwrap();
    let back = store.batch_rows(batch.id).await.unwrap();
    let numbers: Vec<u64> = back.iter().map(|r| r.row).collect();
    assert_eq!(numbers, [2, 5, 20, 21]);
    assert_eq!(back[0], rows[1]);
    assert_eq!(back[1], rows[0]);
    assert_eq!(back[2], rows[3]);
    assert_eq!(back[3], rows[2], "both problems of row 21, in order");
    // The skipped rows are not jobs.
    assert_eq!(
        store.batch_summary(batch.id).await.unwrap().unwrap().total,
        2
    );

    // A batch bigger than one statement's share of parameters goes in whole and in order.
    let big = new_batch("big");
    let jobs: Vec<NewJob> = (0..1_500).map(|_| new_job("onboard")).collect();
    let rows: Vec<BatchSourceRow> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| source_row(i as u64 + 2, Some(j.id), &format!("s-{i}"), &[]))
        .collect();
    store
        .insert_batch_with_rows(&big, &jobs, &rows)
        .await
        .unwrap();
    assert_eq!(store.batch_rows(big.id).await.unwrap(), rows);
    assert_eq!(
        store.batch_summary(big.id).await.unwrap().unwrap().total,
        1_500
    );
    assert_eq!(
        job(store, jobs[1_499].id).await.request,
        jobs[1_499].request
    );

    // A batch without a source, and an unknown batch: no rows.
    let plain = new_batch("plain");
    store
        .insert_batch(&plain, &[new_job("onboard")])
        .await
        .unwrap();
    assert!(store.batch_rows(plain.id).await.unwrap().is_empty());
    assert!(store.batch_rows(BatchId::new()).await.unwrap().is_empty());

    // Refused before anything is written.
    let refused = |rows: Vec<BatchSourceRow>| async move {
        let batch = new_batch("refused");
        let job = new_job("onboard");
        let err = store
            .insert_batch_with_rows(&batch, std::slice::from_ref(&job), &rows)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid", "{err:?}");
        assert!(store.batch_summary(batch.id).await.unwrap().is_none());
        assert!(store.get_job(job.id).await.unwrap().is_none());
        (err.to_string(), job.id)
    };
    let (err, _) = refused(vec![source_row(0, None, "s", &[("x", "y")])]).await;
    assert!(err.contains("row number 0"), "{err}");
    let (err, _) = refused(vec![
        source_row(3, None, "s", &[]),
        source_row(3, None, "t", &[]),
    ])
    .await;
    assert!(err.contains("row 3 is listed twice"), "{err}");
    let stranger = JobId::new();
    let (err, _) = refused(vec![source_row(2, Some(stranger), "s", &[])]).await;
    assert!(err.contains("not in the batch"), "{err}");

    // A clash on a job leaves no rows behind either.
    let clash_batch = new_batch("clash");
    let mut clash = new_job("onboard");
    clash.id = a.id;
    let err = store
        .insert_batch_with_rows(
            &clash_batch,
            std::slice::from_ref(&clash),
            &[source_row(2, None, "s", &[("f", "m")])],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "conflict", "{err:?}");
    assert!(store.batch_rows(clash_batch.id).await.unwrap().is_empty());
}

fn health_check(key: &str, round: i64, status: &str) -> cortex_store::HealthCheck {
    cortex_store::HealthCheck {
        account_key: key.to_owned(),
        platform: "prisma".to_owned(),
        account_id: "5ab1e000-1111-4222-8333-444444444444".to_owned(),
        account_name: "watched".to_owned(),
        job_id: JobId::new().to_string(),
        round,
        checked_at_ms: 1_000 * round,
        status: status.to_owned(),
        capabilities: json!([{"capability": "flow_logs", "status": status}]),
        changes: json!([]),
        error: None,
    }
}

/// One winner per account and round, even when replicas race; an expired unfinished lease is
/// won again; a finished round is not.
pub async fn watch_leases_once_per_round(h: &Harness) {
    let store = &h.store;
    let key = "prisma:default:5ab1e000-1111-4222-8333-444444444444";
    let lease = Duration::from_secs(60);
    let mut racers = Vec::new();
    for n in 0..8 {
        let store = store.clone();
        racers.push(tokio::spawn(async move {
            store
                .claim_watch(key, 7, &format!("replica-{n}"), lease, 1_000)
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for r in racers {
        winners += usize::from(r.await.unwrap());
    }
    assert_eq!(winners, 1);
    // Within the lease nobody else wins; after it, an unfinished round is won again.
    assert!(
        !store
            .claim_watch(key, 7, "late", lease, 30_000)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_watch(key, 7, "late", lease, 61_001)
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_watch(key, 7, "replica-0-or-other")
            .await
            .unwrap()
    );
    assert!(store.finish_watch(key, 7, "late").await.unwrap());
    assert!(
        !store
            .claim_watch(key, 7, "later", lease, 999_999)
            .await
            .unwrap()
    );
    // An older round is never claimed after a newer one; the next round is.
    assert!(
        !store
            .claim_watch(key, 6, "old", lease, 999_999)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_watch(key, 8, "next", lease, 999_999)
            .await
            .unwrap()
    );
}

/// History is newest first, one row per account and round; the latest per account is listed.
pub async fn health_history_and_latest(h: &Harness) {
    let store = &h.store;
    let a = "prisma:default:a";
    let b = "prisma:default:b";
    assert!(
        store
            .record_health(&health_check(a, 1, "ok"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .record_health(&health_check(a, 2, "error"))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .record_health(&health_check(a, 2, "ok"))
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .record_health(&health_check(b, 2, "ok"))
            .await
            .unwrap()
            .is_some()
    );
    let history = store.health_history(a, 10).await.unwrap();
    let statuses: Vec<_> = history
        .iter()
        .map(|r| (r.check.round, r.check.status.as_str()))
        .collect();
    assert_eq!(statuses, [(2, "error"), (1, "ok")]);
    assert_eq!(
        history[0].check,
        health_check(a, 2, "error").with_job(&history[0].check.job_id)
    );
    let latest = store.latest_health().await.unwrap();
    let latest: BTreeMap<_, _> = latest
        .iter()
        .map(|r| {
            (
                r.check.account_key.as_str(),
                (r.check.round, r.check.status.as_str()),
            )
        })
        .collect();
    assert_eq!(latest, BTreeMap::from([(a, (2, "error")), (b, (2, "ok"))]));
}

trait WithJob {
    fn with_job(self, job: &str) -> Self;
}

impl WithJob for cortex_store::HealthCheck {
    fn with_job(mut self, job: &str) -> Self {
        self.job_id = job.to_owned();
        self
    }
}

/// A notification is inserted once per dedupe key, with a pending delivery per sink; outcomes
/// are recorded and the dead ones listed.
pub async fn notifications_once_and_dead_letters(h: &Harness) {
    let store = &h.store;
    let note = cortex_store::NewNotification {
        dedupe_key: "degraded:prisma:default:a:2".to_owned(),
        kind: "capability_degraded".to_owned(),
        account_key: Some("prisma:default:a".to_owned()),
        payload: json!({"kind": "capability_degraded", "account": "a"}),
        created_at_ms: 5_000,
    };
    let sinks = ["ops-hook".to_owned(), "slack".to_owned()];
    let mut racers = Vec::new();
    for _ in 0..4 {
        let (store, note, sinks) = (store.clone(), note.clone(), sinks.clone());
        racers.push(tokio::spawn(async move {
            store.insert_notification(&note, &sinks).await.unwrap()
        }));
    }
    let mut ids = Vec::new();
    for r in racers {
        ids.extend(r.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "one insert wins: {ids:?}");
    let id = ids[0];
    let all = store.deliveries(None, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .all(|d| d.state == "pending" && d.payload == note.payload)
    );
    assert!(
        store
            .set_delivery(id, "ops-hook", "delivered", 1, None, 6_000)
            .await
            .unwrap()
    );
    assert!(
        store
            .set_delivery(
                id,
                "slack",
                "dead",
                5,
                Some("HTTP 500 from the sink"),
                7_000
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .set_delivery(id, "slack", "lost", 5, None, 7_000)
            .await
            .is_err()
    );
    let dead = store.deliveries(Some("dead"), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].sink, "slack");
    assert_eq!(dead[0].attempts, 5);
    assert_eq!(
        dead[0].last_error.as_deref(),
        Some("HTTP 500 from the sink")
    );
    assert_eq!(dead[0].kind, "capability_degraded");
}

/// A named lease has one holder at a time; the holder renews it; a released or expired lease
/// goes to the next taker; a holder that lost it cannot release the new holder's.
pub async fn named_leases_have_one_holder(h: &Harness) {
    use std::time::Duration;
    let store = &h.store;
    let other = h.open_another(h.keyring.clone()).await;
    let name = "tenant-identity/azure/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    let long = Duration::from_secs(60);
    assert!(store.try_named_lease(name, "worker-a", long).await.unwrap());
    assert!(!other.try_named_lease(name, "worker-b", long).await.unwrap());
    // Renewal by the holder; another name is free.
    assert!(store.try_named_lease(name, "worker-a", long).await.unwrap());
    assert!(
        other
            .try_named_lease("tenant-identity/azure/other", "worker-b", long)
            .await
            .unwrap()
    );
    assert!(!other.release_named_lease(name, "worker-b").await.unwrap());
    assert!(store.release_named_lease(name, "worker-a").await.unwrap());
    assert!(
        other
            .try_named_lease(name, "worker-b", Duration::from_millis(50))
            .await
            .unwrap()
    );
    assert!(!store.try_named_lease(name, "worker-a", long).await.unwrap());
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Expired: taken over; the old holder's release does nothing to the new one.
    assert!(store.try_named_lease(name, "worker-a", long).await.unwrap());
    assert!(!other.release_named_lease(name, "worker-b").await.unwrap());
    assert!(!other.try_named_lease(name, "worker-b", long).await.unwrap());
    other.close().await;
}

/// A watch on one replica hears of events and state changes made by another replica of the
/// same database (PostgreSQL `LISTEN/NOTIFY`), coalesced and only for its own job; on SQLite a
/// watch is never pushed (readers poll there).
pub async fn job_changes_reach_other_replicas(h: &Harness) {
    let watched = new_job("onboard");
    let other_job = new_job("onboard");
    h.store.insert_job(&watched).await.unwrap();
    h.store.insert_job(&other_job).await.unwrap();
    let mut watch = h.store.watch_job(watched.id).await;
    if h.backend == Backend::Sqlite {
        assert!(!watch.pushed(), "SQLite has no change notices");
        return;
    }
    assert!(watch.pushed());
    let replica_b = h.open_another(h.keyring.clone()).await;
    // Liveness bound only (a notice takes milliseconds; bench/ measures it).
    let next = async |watch: &mut cortex_store::JobWatch| {
        tokio::time::timeout(Duration::from_secs(20), watch.changed())
            .await
            .expect("a change notice from the other replica")
    };
    replica_b
        .append_event(other_job.id, &json!({"type": "progress"}))
        .await
        .unwrap();
    for n in 1..=3 {
        replica_b
            .append_event(watched.id, &json!({"type": "progress", "n": n}))
            .await
            .unwrap();
    }
    // Notices of one job arrive in commit order: once the last is seen, all were.
    let mut seen = 0;
    while seen < 3 {
        let changes = next(&mut watch).await;
        assert!(!changes.state && !changes.missed, "{changes:?}");
        seen = changes.event_seq.expect("an event seq");
    }
    assert_eq!(seen, 3);
    // A state change: claimed, then finished by replica B.
    let claimed = replica_b
        .claim_job("worker-b", LEASE)
        .await
        .unwrap()
        .unwrap();
    replica_b
        .finish_job(claimed.id, "worker-b", JobState::Succeeded, None, None)
        .await
        .unwrap();
    if claimed.id == watched.id {
        assert!(next(&mut watch).await.state);
    } else {
        // The other job went first: cancelling ours is a state change too.
        assert!(replica_b.request_cancel(watched.id).await.unwrap());
        assert!(next(&mut watch).await.state);
    }
    replica_b.close().await;
}

fn desired_state(key: &str, origin: &str, enabled: bool) -> cortex_store::DesiredStateRecord {
    cortex_store::DesiredStateRecord {
        account_key: key.to_owned(),
        platform: "prisma".to_owned(),
        connection: None,
        account_id: key.rsplit(':').next().unwrap_or(key).to_owned(),
        account_name: format!("name of {key}"),
        origin: origin.to_owned(),
        job_id: None,
        source: "adoption".to_owned(),
        desired: json!({"enabled": enabled, "features": ["Remediation"]}),
        updated_at_ms: 1_000,
        updated_by: "alice@example.com".to_owned(),
    }
}

/// Desired states are replaced per account; an unknown origin is refused; drift findings keep
/// the latest per account and hand back the previous fingerprint.
pub async fn desired_states_and_drift_findings(h: &Harness) {
    let store = &h.store;
    let a = "prisma:default:a";
    store
        .put_desired_state(&desired_state(a, "adopted", true))
        .await
        .unwrap();
    store
        .put_desired_state(&desired_state(a, "adopted", false))
        .await
        .unwrap();
    let err = store
        .put_desired_state(&desired_state("prisma:default:b", "stolen", true))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid");
    let all = store.desired_states().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].desired["enabled"], false);
    assert_eq!(all[0].connection, None);

    let finding = |fingerprint: &str, at: i64| cortex_store::DriftFinding {
        account_key: a.to_owned(),
        account_id: "a".to_owned(),
        account_name: "name of a".to_owned(),
        checked_at_ms: at,
        fingerprint: fingerprint.to_owned(),
        differences: json!([{"field": "enabled", "desired": true, "current": false}]),
        error: None,
    };
    assert_eq!(
        store.put_drift_finding(&finding("f1", 1)).await.unwrap(),
        None
    );
    assert_eq!(
        store.put_drift_finding(&finding("", 2)).await.unwrap(),
        Some("f1".to_owned())
    );
    let findings = store.drift_findings().await.unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].checked_at_ms, 2);
    assert_eq!(findings[0].fingerprint, "");
}
