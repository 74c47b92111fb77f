//! A job stream on one replica follows a job that a worker of another replica runs, through
//! PostgreSQL's change notices (`cortex_store::notify`) rather than polling.

use std::time::Duration;

use serde_json::json;

use crate::common::{OPERATOR, Options, Server, engine_at, read_sse, subscription};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_on_replica_a_follows_a_job_run_on_replica_b() {
    let url = cortex_store::testing::fresh_database("replica_streams").await;
    let a = Server::start_with(Options {
        worker: false,
        database_url: Some(url.clone()),
        ..Default::default()
    })
    .await;
    // Replica B: its own engine (its own event bus) on the same database and master key.
    let b = engine_at(a.dir.path(), &a.emu.base_url(), Some(&url)).await;
    let op = a.token(OPERATOR).await;
    let (status, accepted) = a
        .call("POST", "/api/v1/jobs", &op, Some(subscription(7)))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let job = accepted["id"].as_str().unwrap().to_owned();
    let r = a
        .request("GET", &format!("/api/v1/jobs/{job}/events"), &op, None)
        .await;
    assert_eq!(r.status(), 200);
    let reader = tokio::spawn(read_sse(r, |e| e.event == "end", Duration::from_secs(20)));
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn({
        let stop = stop.clone();
        async move { b.run_worker(stop, false).await }
    });
    // Without notices replica A would look at the store only every 30 s (its back-up poll
    // where notices are pushed): the whole job arriving within the 20 s bound is the notices'.
    let (events, raw) = reader.await.unwrap();
    stop.cancel();
    worker.await.unwrap().unwrap();
    let end = events.last().expect("events");
    assert_eq!(end.event, "end", "{raw}");
    assert_eq!(end.json(), json!({"state": "succeeded"}), "{raw}");
    let seqs: Vec<i64> = events
        .iter()
        .filter(|e| e.event == "message")
        .map(|e| e.json()["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.len() > 5, "{raw}");
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "{raw}");
    let types: Vec<String> = events
        .iter()
        .filter(|e| e.event == "message")
        .map(|e| e.json()["event"]["type"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(types.last().map(String::as_str), Some("job_succeeded"));
}
