//! What a batch's jobs share: lookups made once per batch, and the worker's concurrency.

use cortex_store::JobState;
use onboarding_engine::Concurrency;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_named_group_jobs_reads_the_groups_and_features_once() {
    let sb = Sandbox::start(sandbox_mode()).await;
    let jobs = 12u32;
    let items = (0..jobs)
        .map(|n| {
            let mut raw = existing(&guid(0xba7c, n), &format!("shared-{n}"), n);
            // One group that exists, one the batch creates: named, so both need the list.
            raw.groups = vec!["Default Account Group".into(), "Batch Team".into()];
            raw.create_missing_groups = true;
            raw.features = vec!["Agentless Scanning".into()];
            (raw.validate().unwrap(), Some(secret(n)))
        })
        .collect();
    let (batch, _) = sb.engine.submit_batch("shared", items, "t").await.unwrap();
    sb.run().await;
    let summary = sb.engine.batch_summary(batch).await.unwrap().unwrap();
    assert_eq!(
        summary.by_state.get(&JobState::Succeeded).copied(),
        Some(u64::from(jobs)),
        "{summary:?}"
    );
    let stats = sb.stats();
    let requests = |endpoint: &str| stats.endpoints.get(endpoint).map_or(0, |e| e.requests);
    assert_eq!(requests("GET /cloud/group"), 1, "{:?}", stats.endpoints);
    assert_eq!(requests("POST /cloud/group"), 1, "{:?}", stats.endpoints);
    assert_eq!(
        requests("POST /cas/v1/features/cloud/{cloud_type}"),
        1,
        "{:?}",
        stats.endpoints
    );
    // Every job got both groups.
    let groups = sb.engine.client().list_account_groups().await.unwrap();
    let team = groups.iter().find(|g| g.name == "Batch Team").unwrap();
    assert_eq!(team.account_ids.len(), jobs as usize);
}

fn batch_of(
    ns: u16,
    n: u32,
) -> Vec<(
    onboarding_engine::OnboardingRequest,
    Option<prisma_types::SecretString>,
)> {
    (0..n)
        .map(|i| {
            let raw = existing(&guid(ns, i), &format!("job-{i}"), i);
            (raw.validate().unwrap(), Some(secret(i)))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_rate_budget_sizes_the_worker_below_its_starting_guess() {
    // 2 requests/s per endpoint, one call per endpoint per job: 2 jobs/s is all the budget
    // allows, so Little's law needs a few jobs in flight, not the starting 8 (nor the max 64).
    let sb = Sandbox::start_with(
        sandbox_mode(),
        |e| e.rate_limits = prisma_emulator::RateLimits::uniform(2.0, 2),
        |c| c.concurrency = 64,
    )
    .await;
    assert_eq!(
        sb.engine.concurrency_limit(),
        onboarding_engine::concurrency::INITIAL
    );
    sb.engine
        .submit_batch("slow", batch_of(0xba7d, 6), "t")
        .await
        .unwrap();
    sb.run().await;
    let sized = sb.engine.concurrency_limit();
    assert!(
        (2..onboarding_engine::concurrency::INITIAL).contains(&sized),
        "{sized}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_concurrency_is_never_exceeded() {
    let sb = Sandbox::start(sandbox_mode()).await;
    sb.engine.set_concurrency(Concurrency::Fixed(2));
    assert_eq!(sb.engine.concurrency_limit(), 2);
    let (_, jobs) = sb
        .engine
        .submit_batch("fixed", batch_of(0xba7e, 6), "t")
        .await
        .unwrap();
    sb.run().await;
    // Each job's span, from its first event to its last: at most two overlap at any time.
    let mut edges = Vec::new();
    for job in jobs {
        let events = sb.events(job).await;
        sb.succeeded(job).await;
        edges.push((events.first().unwrap().at, 1i32));
        edges.push((events.last().unwrap().at, -1i32));
    }
    edges.sort();
    let mut running = 0;
    let mut most = 0;
    for (_, delta) in edges {
        running += delta;
        most = most.max(running);
    }
    assert!(most <= 2, "{most} jobs ran at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_runs_wait_for_a_slot_whatever_the_jobs_concurrency() {
    let Some(mode) = twin() else { return };
    let sb = Sandbox::start_with(mode, |_| {}, |c| c.terraform_concurrency = 1).await;
    sb.engine.set_concurrency(Concurrency::Fixed(3));
    let items = (0..3)
        .map(|n| {
            let raw = subscription(&guid(0xba7f, n), &format!("tf-{n}"));
            (raw.validate().unwrap(), None)
        })
        .collect();
    let (_, jobs) = sb.engine.submit_batch("slots", items, "t").await.unwrap();
    sb.run().await;
    // Each job's Terraform run, from the start of its init to the end of its apply: with one
    // slot, no two overlap, though three jobs ran at once.
    let mut runs = Vec::new();
    let mut waited = 0;
    for job in jobs {
        sb.succeeded(job).await;
        let events = sb.events(job).await;
        let phase = |name: &str| {
            events
                .iter()
                .find(|e| e.event["type"] == "terraform_phase" && e.event["phase"] == name)
                .unwrap_or_else(|| panic!("no {name} phase in {events:?}"))
        };
        let init = phase("init");
        let elapsed = init.event["elapsed_ms"].as_i64().unwrap();
        runs.push((
            init.at - time::Duration::milliseconds(elapsed),
            phase("apply").at,
        ));
        waited += events
            .iter()
            .filter(|e| {
                e.event["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("waiting for a Terraform slot"))
            })
            .count();
    }
    runs.sort();
    for pair in runs.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "two Terraform runs overlap: {runs:?}"
        );
    }
    assert!(waited >= 1, "a job that waited for the slot says so");
}
