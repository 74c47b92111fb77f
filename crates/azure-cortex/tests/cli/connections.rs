//! Connections that never finish do not take the server down: `azure-cortex serve` under the
//! usual open-file limit (`ulimit -n 1024`, set by a shell around the real binary) with a
//! thousand idle or half-sent connections still answers `/healthz`, says so on `/metrics`
//! and in its log, and never runs out of file descriptors. And `users token` makes the
//! scoped, expiring API tokens the server honours.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::common::Sandbox;
use crate::serve::{Served, binary, login};

const IDLE: usize = 1000;

/// `azure-cortex ARGS…` run by `bash -c 'ulimit -n LIMIT; exec …'` (the binary's environment
/// as [`binary`] cleans it).
fn with_file_limit(limit: u32, args: &[&str]) -> Command {
    let clean = binary();
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
        .arg(clean.get_program())
        .args(args);
    for (key, value) in clean.get_envs() {
        match value {
            Some(v) => c.env(key, v),
            None => c.env_remove(key),
        };
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_under_ulimit_1024_do_not_stop_healthz() {
    let sb = Sandbox::new();
    let data_dir = sb.data_dir().display().to_string();
    let mut command = with_file_limit(
        1024,
        &[
            "--sandbox",
            "--output",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &data_dir,
        ],
    );
    command.env("RUST_LOG", "warn");
    let server = Served::start(command, true);
    let banner: Value = serde_json::from_str(&server.banner[0]).unwrap();
    let password = banner["admin"]["password"].as_str().unwrap().to_owned();
    let addr = banner["address"].as_str().unwrap().to_owned();
    let (cookie, _) = login(&server.url(""), "admin", &password).await;

    // A thousand connections: half say nothing, half send a request head that never ends.
    let mut idle = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        let mut s = TcpStream::connect(&addr).await.unwrap_or_else(|e| {
            panic!("connection {i}: {e} (this test needs an open-file limit above 1100)")
        });
        if i % 2 == 1 {
            let _ = s
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await;
        }
        idle.push(s);
    }
    // A fresh client is served while all of them are open.
    let fresh = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let r = fresh.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let metrics = fresh
        .get(server.url("/metrics"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} not in {metrics}"))
    };
    // 1024 open files leave room for 896 connections (an eighth is kept for the rest).
    assert_eq!(value("cortex_web_connections{state=\"limit\"}"), 896);
    assert!(value("cortex_web_connections{state=\"open\"}") <= 896);
    assert!(
        value("cortex_web_connections_closed_total{reason=\"evicted_idle\"}")
            >= (IDLE - 896) as u64
    );
    drop(idle);
    let (code, stderr) = server.stop("-INT");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("connection limit reached"), "{stderr}");
    assert!(stderr.contains("max_connections lowered"), "{stderr}");
    assert!(!stderr.contains("Too many open files"), "{stderr}");
}

/// `users token` makes a scoped, expiring token that the server then honours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_token_creates_a_scoped_expiring_token() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let users = |args: &[&str]| {
        let mut c = binary();
        c.arg("--data-dir")
            .arg(&data_dir)
            .arg("users")
            .args(args)
            .env("AZURE_CORTEX_PASSWORD", "a-good-password-1");
        c.output().unwrap()
    };
    let added = users(&["add", "paula", "--role", "operator"]);
    assert!(added.status.success(), "{added:?}");
    for (args, named) in [
        (
            &["token", "paula", "--name", "p", "--expires-in-days", "366"][..],
            "expires",
        ),
        (
            &["token", "paula", "--name", "p", "--scope", "admin"][..],
            "--scope",
        ),
        (
            &["token", "nobody", "--name", "p"][..],
            "no user named nobody",
        ),
        (&["token", "paula", "--name", ""][..], "name"),
    ] {
        let out = users(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    let out = users(&[
        "--output",
        "json",
        "token",
        "paula",
        "--name",
        "prometheus",
        "--scope",
        "metrics-only",
        "--expires-in-days",
        "3",
    ]);
    assert!(out.status.success(), "{out:?}");
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["scope"], "metrics-only");
    assert_eq!(
        line["expires_at"].as_i64().unwrap() - line["created_at"].as_i64().unwrap(),
        3 * 86_400
    );
    let token = line["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("cxw_"));

    let mut command = binary();
    command
        .args([
            "--sandbox",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-worker",
            "--data-dir",
        ])
        .arg(&data_dir);
    let server = Served::start(command, false);
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(server.url(path))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(30))
            .send()
    };
    assert_eq!(get("/metrics").await.unwrap().status(), 200);
    let r = get("/api/v1/jobs").await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "token_scope");
    let (code, stderr) = server.stop("-INT");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains(&token));
}
