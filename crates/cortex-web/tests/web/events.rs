//! Server-Sent Events: every event in order, exact resume with Last-Event-ID, batches, and
//! streams that end on shutdown.

use std::time::Duration;

use cortex_store::JobId;
use serde_json::json;

use crate::common::{Auth, OPERATOR, Options, Server, VIEWER, read_sse, subscription};

#[tokio::test]
async fn a_job_stream_delivers_every_event_in_order_and_resumes_exactly() {
    let server = Server::start().await;
    let op = server.token(OPERATOR).await;
    let viewer = server.login(VIEWER).await;
    let (status, job) = server
        .call("POST", "/api/v1/jobs", &op, Some(subscription(1)))
        .await;
    assert_eq!(status, 202);
    let id = job["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/jobs/{id}/events");

    // Errors first: 401, 400 (id, Last-Event-ID, after), 404.
    let (status, _) = server.call("GET", &path, &Auth::None, None).await;
    assert_eq!(status, 401);
    let (status, b) = server
        .call("GET", "/api/v1/jobs/zzz/events", &viewer, None)
        .await;
    assert_eq!((status, b["field"].as_str()), (400, Some("id")));
    let r = server
        .http
        .get(server.url(&path))
        .headers(viewer.headers())
        .header("last-event-id", "seven")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["field"],
        "Last-Event-ID"
    );
    let (status, b) = server
        .call("GET", &format!("{path}?after=-1"), &viewer, None)
        .await;
    assert_eq!((status, b["field"].as_str()), (400, Some("after")));
    let (status, _) = server
        .call(
            "GET",
            "/api/v1/jobs/00000000-0000-4000-8000-000000000000/events",
            &viewer,
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Follow the job live from the start to its end.
    let r = server.request("GET", &path, &viewer, None).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(r.headers()["x-accel-buffering"], "no");
    let (events, _) = read_sse(r, |_| false, Duration::from_secs(60)).await;
    let (end, data): (Vec<_>, Vec<_>) = events.into_iter().partition(|e| e.event == "end");
    assert_eq!(end.len(), 1, "one end event");
    assert_eq!(end[0].json()["state"], "succeeded");
    let seqs: Vec<i64> = data
        .iter()
        .map(|e| e.json()["seq"].as_i64().unwrap())
        .collect();
    let ids: Vec<i64> = data
        .iter()
        .map(|e| e.id.as_ref().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, ids);
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "gapless, in order, once"
    );
    let stored = server
        .engine
        .store()
        .events_after(id.parse::<JobId>().unwrap(), 0, 100_000)
        .await
        .unwrap();
    assert_eq!(stored.len(), data.len());
    for (s, e) in stored.iter().zip(&data) {
        assert_eq!(e.json()["event"], s.event);
        assert_eq!(e.json()["job_id"], id.as_str());
    }
    assert_eq!(
        data.last().unwrap().json()["event"]["type"],
        "job_succeeded"
    );
    assert!(data.len() > 10, "a real run: {} events", data.len());

    // Reconnect from the middle: exactly the rest, then end.
    let middle = data.len() / 2;
    let r = server
        .http
        .get(server.url(&path))
        .headers(viewer.headers())
        .header("last-event-id", middle.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (rest, _) = read_sse(r, |_| false, Duration::from_secs(20)).await;
    let rest_seqs: Vec<i64> = rest
        .iter()
        .filter(|e| e.event != "end")
        .map(|e| e.id.as_ref().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        rest_seqs,
        ((middle as i64 + 1)..=data.len() as i64).collect::<Vec<_>>()
    );
    assert_eq!(rest.last().unwrap().event, "end");
    // `after` works the same for a first connection; the header wins over it.
    let r = server
        .http
        .get(server.url(&format!("{path}?after=1")))
        .headers(viewer.headers())
        .header("last-event-id", (data.len() - 1).to_string())
        .send()
        .await
        .unwrap();
    let (tail, _) = read_sse(r, |_| false, Duration::from_secs(20)).await;
    assert_eq!(tail.len(), 2, "{tail:?}");
    assert_eq!(tail[0].id.as_deref(), Some(data.len().to_string().as_str()));
}

#[tokio::test]
async fn a_stream_that_follows_live_ends_when_the_job_is_cancelled() {
    let server = Server::start_with(Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let op = server.token(OPERATOR).await;
    let (_, job) = server
        .call("POST", "/api/v1/jobs", &op, Some(subscription(1)))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let r = server
        .request("GET", &format!("/api/v1/jobs/{id}/events"), &op, None)
        .await;
    assert_eq!(r.status(), 200);
    let reader = tokio::spawn(read_sse(r, |_| false, Duration::from_secs(20)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Cancelled while queued: no worker ever writes an event; the stream notices and ends.
    let (status, _) = server
        .call("POST", &format!("/api/v1/jobs/{id}/cancel"), &op, None)
        .await;
    assert_eq!(status, 200);
    let (events, _) = reader.await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event, "end");
    assert_eq!(events[0].json()["state"], "cancelled");
}

#[tokio::test]
async fn streams_end_on_shutdown_and_the_server_stops() {
    let mut server = Server::start_with(Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let op = server.token(OPERATOR).await;
    let (_, job) = server
        .call("POST", "/api/v1/jobs", &op, Some(subscription(1)))
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let (_, batch) = server
        .call(
            "POST",
            "/api/v1/batches",
            &op,
            Some(json!({"label": "b", "rows": [subscription(2)]})),
        )
        .await;
    let batch = batch["id"].as_str().unwrap().to_owned();
    let job_stream = server
        .request("GET", &format!("/api/v1/jobs/{id}/events"), &op, None)
        .await;
    let batch_stream = server
        .request("GET", &format!("/api/v1/batches/{batch}/events"), &op, None)
        .await;
    assert_eq!(
        (job_stream.status().as_u16(), batch_stream.status().as_u16()),
        (200, 200)
    );
    let a = tokio::spawn(read_sse(job_stream, |_| false, Duration::from_secs(10)));
    let b = tokio::spawn(read_sse(batch_stream, |_| false, Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.stop.cancel();
    let task = server.task.take().unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("graceful shutdown does not wait for event streams")
        .unwrap()
        .unwrap();
    let (job_events, _) = a.await.unwrap();
    assert!(job_events.is_empty(), "{job_events:?}");
    let (batch_events, _) = b.await.unwrap();
    assert_eq!(batch_events.len(), 1, "only the snapshot: {batch_events:?}");
    assert_eq!(batch_events[0].event, "snapshot");
}

#[tokio::test]
async fn a_batch_stream_snapshots_then_follows_every_job_to_the_end() {
    let server = Server::start_with(Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let op = server.token(OPERATOR).await;
    let rows: Vec<_> = (1..=3).map(subscription).collect();
    let (status, accepted) = server
        .call(
            "POST",
            "/api/v1/batches",
            &op,
            Some(json!({"label": "three", "rows": rows})),
        )
        .await;
    assert_eq!(status, 202);
    let batch = accepted["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/batches/{batch}/events");
    let (status, b) = server
        .call("GET", "/api/v1/batches/x/events", &op, None)
        .await;
    assert_eq!((status, b["field"].as_str()), (400, Some("id")));
    let (status, _) = server
        .call(
            "GET",
            "/api/v1/batches/00000000-0000-4000-8000-000000000000/events",
            &op,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = server.call("GET", &path, &Auth::None, None).await;
    assert_eq!(status, 401);
    let r = server
        .http
        .get(server.url(&path))
        .headers(op.headers())
        .header("last-event-id", "17")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Several subscribers share the batch's one hub; each receives everything.
    let mut readers = Vec::new();
    for _ in 0..12 {
        let r = server.request("GET", &path, &op, None).await;
        assert_eq!(r.status(), 200);
        readers.push(tokio::spawn(read_sse(
            r,
            |_| false,
            Duration::from_secs(90),
        )));
    }
    // Run the jobs now, with the streams open.
    server
        .engine
        .run_worker(tokio_util::sync::CancellationToken::new(), true)
        .await
        .unwrap();
    let mut all = Vec::new();
    for reader in readers {
        all.push(reader.await.unwrap().0);
    }
    for events in &all[1..] {
        let messages = |list: &[crate::common::SseEvent]| -> Vec<Option<String>> {
            list.iter()
                .filter(|e| e.event == "message")
                .map(|e| e.id.clone())
                .collect()
        };
        assert_eq!(
            messages(events),
            messages(&all[0]),
            "every subscriber sees the same events"
        );
        assert_eq!(events.last().unwrap().event, "end");
    }
    let events = all.swap_remove(0);
    assert_eq!(events.first().unwrap().event, "snapshot");
    let snapshot = events[0].json();
    assert_eq!(snapshot["batch"]["total"], 3);
    assert_eq!(events.last().unwrap().event, "end");
    assert_eq!(events.last().unwrap().json()["onboarded"], 3);
    let jobs: Vec<String> = accepted["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j.as_str().unwrap().to_owned())
        .collect();
    for job in &jobs {
        let seqs: Vec<i64> = events
            .iter()
            .filter(|e| e.event == "message" && e.json()["job_id"] == job.as_str())
            .map(|e| {
                let id = e.id.clone().unwrap();
                let (j, s) = id.split_once(':').unwrap();
                assert_eq!(j, job);
                s.parse().unwrap()
            })
            .collect();
        let stored = server
            .engine
            .store()
            .events_after(job.parse().unwrap(), 0, 100_000)
            .await
            .unwrap()
            .len() as i64;
        assert_eq!(seqs, (1..=stored).collect::<Vec<_>>(), "job {job}");
    }

    // A reconnect after the end: a snapshot of the finished batch, then end at once.
    let last = events[events.len() - 2].id.clone().unwrap();
    let r = server
        .http
        .get(server.url(&path))
        .headers(op.headers())
        .header("last-event-id", &last)
        .send()
        .await
        .unwrap();
    let (again, _) = read_sse(r, |_| false, Duration::from_secs(10)).await;
    assert_eq!(
        again.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["snapshot", "end"]
    );
    assert_eq!(again[0].json()["resumed_after"], last.as_str());
    assert_eq!(again[0].json()["batch"]["onboarded"], 3);
}

/// A job run by a worker in another process (here: a second engine on the same store, with an
/// event bus of its own) is followed through the store: the stream delivers the plan while the
/// job waits for approval, then the rest after a resume from `Last-Event-ID`, gapless.
#[tokio::test]
async fn a_job_run_by_another_process_is_followed_through_the_store() {
    let server = Server::start_with(Options {
        worker: false,
        ..Default::default()
    })
    .await;
    let other = crate::common::engine_on(server.dir.path(), &server.emu.base_url()).await;
    let op = server.token(OPERATOR).await;
    let mut request = subscription(41);
    request["require_approval"] = json!(true);
    let (status, accepted) = server
        .call("POST", "/api/v1/jobs", &op, Some(request))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let job = accepted["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/jobs/{job}/events");
    let r = server.request("GET", &path, &op, None).await;
    let reader = tokio::spawn(read_sse(
        r,
        |e| e.event == "message" && e.json()["event"]["type"] == "approval_required",
        Duration::from_secs(30),
    ));
    // The other process plans and stops at the approval gate; the job cannot end before it is
    // approved, so the stream must deliver the plan while it waits.
    other
        .run_worker(tokio_util::sync::CancellationToken::new(), true)
        .await
        .unwrap();
    let (before, _) = reader.await.unwrap();
    assert_eq!(
        before.last().unwrap().json()["event"]["type"],
        "approval_required"
    );
    let last = before.last().unwrap().id.clone().unwrap();
    let (status, body) = server
        .call("POST", &format!("/api/v1/jobs/{job}/approve"), &op, None)
        .await;
    assert_eq!(status, 200, "{body}");
    let r = server
        .http
        .get(server.url(&path))
        .headers(op.headers())
        .header("last-event-id", &last)
        .send()
        .await
        .unwrap();
    let reader = tokio::spawn(read_sse(r, |e| e.event == "end", Duration::from_secs(30)));
    other
        .run_worker(tokio_util::sync::CancellationToken::new(), true)
        .await
        .unwrap();
    let (after, _) = reader.await.unwrap();
    assert_eq!(after.last().unwrap().event, "end");
    let seqs: Vec<i64> = before
        .iter()
        .chain(&after)
        .filter(|e| e.event == "message")
        .map(|e| e.json()["seq"].as_i64().unwrap())
        .collect();
    let id: cortex_store::JobId = job.parse().unwrap();
    let stored = server
        .engine
        .store()
        .events_after(id, 0, 100_000)
        .await
        .unwrap()
        .len() as i64;
    assert_eq!(seqs, (1..=stored).collect::<Vec<_>>());
}
