//! `serve` and `users`: the real binary serving the API on a free port in the sandbox — sign
//! in with the password printed at the first start, submit a job that the in-process worker
//! runs, stop with SIGINT (exit 0, sandbox saved); a second start prints no password and reads
//! its settings from a file and the environment. `users add` and its bad input (exit 2).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use prisma_types::testing::{contains_bytes, files_under};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// A running `azure-cortex serve` and what it printed before "Press Ctrl-C to stop."
pub(crate) struct Served {
    child: Child,
    pub(crate) banner: Vec<String>,
    url: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

pub(crate) fn binary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_azure-cortex"));
    c.env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("AZURE_CORTEX_DATA_DIR")
        .env_remove("AZURE_CORTEX_DATABASE_URL")
        .env_remove("AZURE_CORTEX_PASSWORD")
        .env_remove("PRISMA_API_URL")
        .env_remove("PRISMACLOUD_URL");
    for (key, _) in std::env::vars() {
        if key.starts_with("CORTEX_WEB_") {
            c.env_remove(key);
        }
    }
    c
}

impl Served {
    /// Starts the server and reads stdout up to its last banner line (`json`: one line).
    pub(crate) fn start(mut command: Command, json: bool) -> Served {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let last = json || line == "Press Ctrl-C to stop.";
                    banner.push(line);
                    if last {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let err = stderr.join().unwrap_or_default();
                    panic!("no banner; stdout so far: {banner:#?}\nstderr: {err}");
                }
            }
        }
        // The rest of stdout (nothing is expected) is drained so the server never blocks.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        let url = if json {
            let v: Value = serde_json::from_str(&banner[0]).expect("a JSON line");
            v["url"].as_str().unwrap().to_owned()
        } else {
            banner[0]
                .strip_prefix("Listening on ")
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_else(|| panic!("the URL line: {banner:#?}"))
                .to_owned()
        };
        Served {
            child,
            banner,
            url,
            stderr: Some(stderr),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Sends `signal` and waits (at most 10 s) for the exit; returns the code and stderr.
    pub(crate) fn stop(mut self, signal: &str) -> (Option<i32>, String) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the server did not exit within 10 s of {signal}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default());
        (status.code(), stderr.unwrap_or_default())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Signs in; returns the cookie (`name=value`) and the CSRF token.
pub(crate) async fn login(url: &str, name: &str, password: &str) -> (String, String) {
    let r = http()
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"name": name, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login as {name}");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("cortex_session="), "{cookie}");
    let body: Value = r.json().await.unwrap();
    (cookie, body["csrf_token"].as_str().unwrap().to_owned())
}

async fn get(url: &str, cookie: &str) -> (u16, Value) {
    let r = http()
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_api_and_its_jobs_in_the_sandbox_and_stops_cleanly() {
    let sb = Sandbox::new();
    let data_dir = sb.data_dir();
    let mut first = binary();
    first
        .args([
            "--sandbox",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(["--sandbox-step-secs", "0.02"]);
    let server = Served::start(first, false);
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    assert!(!server.url.ends_with(":0"), "the real port: {}", server.url);
    let password = server
        .banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .unwrap_or_else(|| panic!("a password line: {:#?}", server.banner))
        .to_owned();
    let banner = server.banner.join("\n");
    assert_eq!(banner.matches(password.as_str()).count(), 1, "{banner}");
    assert!(banner.contains("name:     admin"), "{banner}");

    let r = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http()
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["paths"]["/api/v1/jobs"].is_object());

    let (cookie, csrf) = login(&server.url, "admin", &password).await;
    let canary = format!("CANARY-SERVE-SECRET-{}", std::process::id());
    let account = sub(50, 1);
    let r = http()
        .post(server.url("/api/v1/jobs"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({
            "scope": "subscription",
            "subscription_id": account,
            "tenant_id": TENANT,
            "name": "served",
            "groups": ["Default Account Group"],
            "identity": "existing",
            "client_id": CLIENT_ID,
            "service_principal_id": SP_OBJECT_ID,
            "client_secret": canary,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let job = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let detail = loop {
        let (status, detail) = get(&server.url(&format!("/api/v1/jobs/{job}")), &cookie).await;
        assert_eq!(status, 200, "{detail}");
        match detail["state"].as_str().unwrap() {
            "succeeded" => break detail,
            "failed" | "cancelled" => panic!("the job ended {detail}"),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the job did not finish: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(detail["created_by"], "web:admin");

    let (code, stderr) = server.stop("-INT");
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(!stderr.contains(&password), "the password is never logged");
    assert!(!stderr.contains(&canary));

    // Nothing in the data directory holds the password or the client secret in plaintext; the
    // sandbox's accounts were saved at shutdown.
    for (path, bytes) in files_under(data_dir) {
        assert!(
            !contains_bytes(&bytes, password.as_bytes()),
            "{}",
            path.display()
        );
        assert!(
            !contains_bytes(&bytes, canary.as_bytes()),
            "{}",
            path.display()
        );
    }
    let snapshot = std::fs::read_to_string(data_dir.join("sandbox-emulator.json")).unwrap();
    assert!(snapshot.contains(&account), "the account was saved");

    // A user added from the command line signs in on the next start.
    binary()
        .arg("--data-dir")
        .arg(data_dir)
        .args(["users", "add", "olivia", "--role", "operator"])
        .env("AZURE_CORTEX_PASSWORD", "operator-password-1")
        .output()
        .map(|o| assert!(o.status.success(), "{}", text(&o.stderr)))
        .unwrap();

    // Second start: the settings from a file and the environment (env beats file: no worker
    // here); the admin exists, so no password is printed.
    let config = data_dir.join("web.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\nsandbox = true\nworker = true\n",
            data_dir.display().to_string()
        ),
    )
    .unwrap();
    let mut second = binary();
    second
        .args(["serve", "--output", "json", "--config"])
        .arg(&config)
        .env("CORTEX_WEB_WORKER", "false");
    let server = Served::start(second, true);
    let line: Value = serde_json::from_str(&server.banner[0]).unwrap();
    assert_eq!(line["type"], "listening");
    assert_eq!(line["sandbox"], true);
    assert_eq!(line["worker"], false, "env beats file: {line}");
    assert!(line["admin"].is_null(), "no new password: {line}");
    assert!(!server.banner.join("\n").contains(&password));
    let (cookie, _) = login(&server.url, "admin", &password).await;
    let (status, detail) = get(&server.url(&format!("/api/v1/jobs/{job}")), &cookie).await;
    assert_eq!((status, detail["state"].as_str()), (200, Some("succeeded")));

    // The operator added from the command line submits a job; without a worker it stays
    // queued and its event stream stays open — until SIGTERM ends it and the server exits 0.
    let (cookie, csrf) = login(&server.url, "olivia", "operator-password-1").await;
    let r = http()
        .post(server.url("/api/v1/jobs"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({
            "subscription_id": sub(50, 2), "tenant_id": TENANT, "name": "queued",
            "groups": ["Default Account Group"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let queued = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stream = reqwest::Client::new()
        .get(server.url(&format!("/api/v1/jobs/{queued}/events")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let stopping = tokio::task::spawn_blocking(move || server.stop("-TERM"));
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the event stream ended at shutdown");
    let (code, stderr) = stopping.await.unwrap();
    assert_eq!(code, Some(0), "stderr: {stderr}");
}

#[test]
fn serve_refuses_bad_settings_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("never-created");
    let cases: [(&[&str], &str); 5] = [
        (&["--sandbox", "serve", "--tls-cert", "c.pem"], "tls_key"),
        (
            &[
                "--sandbox",
                "serve",
                "--tls-cert",
                "/nonexistent/c.pem",
                "--tls-key",
                "k.pem",
            ],
            "/nonexistent/c.pem",
        ),
        (
            &["--sandbox", "serve", "--config", "/nonexistent/web.toml"],
            "config",
        ),
        (&["--sandbox", "serve", "--listen", "nowhere"], "--listen"),
        // Without --sandbox Prisma Cloud comes from PRISMA_*, unset here.
        (&["serve"], "PRISMA_API_URL"),
    ];
    for (args, named) in cases {
        let out = binary()
            .arg("--data-dir")
            .arg(&fresh)
            .args(args)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} names {named}: {stderr}");
        assert!(!fresh.exists(), "{args:?} created the data directory");
    }
}

#[test]
fn users_add_creates_users_and_names_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let users = |args: &[&str], password: Option<&str>| {
        let mut c = binary();
        c.arg("--data-dir").arg(&data_dir).arg("users").args(args);
        if let Some(p) = password {
            c.env("AZURE_CORTEX_PASSWORD", p);
        }
        c.output().unwrap()
    };
    // Bad input: exit 2, the field named, nothing created.
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "from-a-file-password\n").unwrap();
    let file = password_file.to_str().unwrap();
    for (args, password, named) in [
        (
            &["add", "bad name!", "--role", "viewer"][..],
            Some("a-good-password-1"),
            "name",
        ),
        (
            &["add", "vera", "--role", "root"][..],
            Some("a-good-password-1"),
            "--role",
        ),
        (&["add", "vera"][..], Some("a-good-password-1"), "--role"),
        (
            &["add", "vera", "--role", "viewer"][..],
            None,
            "AZURE_CORTEX_PASSWORD",
        ),
        (
            &["add", "vera", "--role", "viewer"][..],
            Some("short"),
            "password",
        ),
        (
            &[
                "add",
                "vera",
                "--role",
                "viewer",
                "--password",
                "a-good-password-1",
            ][..],
            None,
            "--password",
        ),
        (
            &[
                "add",
                "vera",
                "--role",
                "viewer",
                "--password-file",
                "/nonexistent",
            ][..],
            None,
            "password_file",
        ),
    ] {
        let out = users(args, password);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?} names {named}: {stderr}");
        assert!(!data_dir.exists(), "{args:?} created the data directory");
    }
    let out = users(
        &["add", "vera", "--role", "viewer", "--output", "json"],
        Some("a-good-password-1"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let user: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (user["name"].as_str(), user["role"].as_str()),
        (Some("vera"), Some("viewer"))
    );
    let out = users(
        &["add", "wanda", "--role", "admin", "--password-file", file],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("Created admin wanda"),
        "{}",
        text(&out.stdout)
    );
    // A name is taken regardless of case.
    let out = users(
        &["add", "VERA", "--role", "viewer", "--output", "json"],
        Some("a-good-password-1"),
    );
    assert_eq!(out.status.code(), Some(2));
    let error: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["errors"][0]["field"], "name", "{error}");
    let out = users(&["list", "--output", "json"], None);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["vera", "wanda"]);
    assert!(
        !contains_bytes(&out.stdout, b"password"),
        "no hash is listed"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data_dir), 0o700);
        assert_eq!(mode(&data_dir.join("web-auth.db")), 0o600);
    }
}

/// `serve --sandbox` on a free port over `data_dir`, with the Terraform twin's step time.
/// The `admin` password a first start printed.
fn generated_password(server: &Served) -> String {
    server
        .banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .expect("a password line")
        .to_owned()
}

fn serve_sandbox(data_dir: &Path, step_secs: &str) -> Served {
    let mut command = binary();
    command
        .args([
            "--sandbox",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(["--sandbox-step-secs", step_secs]);
    Served::start(command, false)
}

/// Signs in as admin on a first sandbox start (the printed password).
async fn admin_session(server: &Served) -> (String, String) {
    let password = generated_password(server);
    login(&server.url, "admin", &password).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_hands_a_running_job_back_to_the_queue() {
    let sb = Sandbox::new();
    let server = serve_sandbox(sb.data_dir(), "1");
    let (cookie, csrf) = admin_session(&server).await;
    let r = http()
        .post(server.url("/api/v1/jobs"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({
            "subscription_id": sub(51, 1), "tenant_id": TENANT, "name": "interrupted",
            "groups": ["Default Account Group"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let job = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, detail) = get(&server.url(&format!("/api/v1/jobs/{job}")), &cookie).await;
        if detail["state"] == "running" {
            break;
        }
        assert_eq!(detail["state"], "queued", "{detail}");
        assert!(Instant::now() < deadline, "the worker never took the job");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (code, stderr) = server.stop("-INT");
    assert_eq!(code, Some(0), "stderr: {stderr}");
    let out = sb
        .cmd()
        .args(["jobs", "show", &job, "--output", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let shown: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(shown["state"], "queued", "released for resume: {shown}");
}

/// A CA and a server certificate for 127.0.0.1 as PEM files; returns (cert, key, CA PEM).
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let cert = dir.join("tls.crt");
    let key = dir.join("tls.key");
    std::fs::write(&cert, format!("{}{}", leaf.pem(), ca_cert.pem())).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    (cert, key, ca_cert.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_speaks_https_with_tls_cert_and_key() {
    let sb = Sandbox::new();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, ca) = certificate(certs.path());
    let mut command = binary();
    command
        .args([
            "--sandbox",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(sb.data_dir())
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key);
    let server = Served::start(command, false);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (code, stderr) = server.stop("-INT");
    assert_eq!(code, Some(0), "stderr: {stderr}");
}

/// `kill -9` of `serve --sandbox` in the middle of a 50-row batch: the in-process emulator's
/// accounts are written through to the data directory, so after a restart every job succeeds
/// (the ones that were running resume once their lease expires) and the emulator holds exactly
/// the 50 accounts, none twice — the dashboard shows no succeeded job whose account is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_serve_sandbox_mid_batch_loses_no_account() {
    const ROWS: u32 = 50;
    let sb = Sandbox::new();
    let serve = || serve_sandbox(sb.data_dir(), "0.05");
    let server = serve();
    let password = generated_password(&server);
    let (cookie, csrf) = login(&server.url, "admin", &password).await;
    let rows: Vec<Value> = (1..=ROWS)
        .map(|n| {
            json!({"subscription_id": sub(52, n), "tenant_id": TENANT,
                   "name": format!("crash-{n}"), "groups": ["Default Account Group"]})
        })
        .collect();
    let r = http()
        .post(server.url("/api/v1/batches"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"label": "kill -9", "rows": rows}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let batch = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let succeeded = |view: &Value| view["by_state"]["succeeded"].as_u64().unwrap_or(0);

    // Kill once some jobs have succeeded and others have not.
    let deadline = Instant::now() + Duration::from_secs(60);
    let at_kill = loop {
        let (_, view) = get(&server.url(&format!("/api/v1/batches/{batch}")), &cookie).await;
        if succeeded(&view) >= 5 {
            break view;
        }
        assert!(Instant::now() < deadline, "no job succeeded: {view}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (code, _) = server.stop("-KILL");
    assert_eq!(code, None, "killed by a signal");
    assert!(
        succeeded(&at_kill) < u64::from(ROWS),
        "the kill landed after the batch: {at_kill}"
    );
    let snapshot = std::fs::read_to_string(sb.data_dir().join("sandbox-emulator.json"))
        .expect("the emulator's state is on disk without a clean shutdown");
    let saved: Value = serde_json::from_str(&snapshot).unwrap();
    assert!(
        saved["accounts"].as_array().unwrap().len() as u64 >= succeeded(&at_kill),
        "every account a succeeded job registered was saved before the kill"
    );

    let server = serve();
    let (cookie, _) = login(&server.url, "admin", &password).await;
    // Jobs that were running at the kill resume once their 30 s lease expires.
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let (_, view) = get(&server.url(&format!("/api/v1/batches/{batch}")), &cookie).await;
        if succeeded(&view) == u64::from(ROWS) || view["pending"] == 0 {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "the batch never finished: {view}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        succeeded(&done),
        u64::from(ROWS),
        "every job succeeded: {done}"
    );
    let (status, accounts) = get(&server.url("/api/v1/accounts"), &cookie).await;
    assert_eq!(status, 200, "{accounts}");
    // Beside the accounts the sandbox's first start plants for the seeded tenant.
    let seeded: Vec<String> =
        prisma_emulator::seed::sandbox_accounts(&azure_emulator::tenant_seed::contoso())
            .into_iter()
            .map(|a| a.subscription_id)
            .collect();
    let ids: Vec<&str> = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["accountId"].as_str().unwrap())
        .filter(|id| !seeded.iter().any(|s| s == id))
        .collect();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), ROWS as usize, "exactly {ROWS} accounts: {ids:?}");
    assert_eq!(unique.len(), ROWS as usize, "none twice");
    for n in 1..=ROWS {
        assert!(unique.contains(sub(52, n).as_str()), "account {n} is there");
    }
    let (code, stderr) = server.stop("-TERM");
    assert_eq!(code, Some(0), "stderr: {stderr}");
}

/// `serve --sandbox` starts the emulated Azure beside the Prisma Cloud emulator: its first
/// start plants part of the seeded tenant as accounts, the coverage API reads the seeded tenant
/// through the emulated ARM and Graph with no Azure configured, `discover` on the same data
/// directory agrees with it, and a second start plants nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sandbox_reads_the_emulated_azure_and_starts_with_part_of_the_tenant_onboarded() {
    use azure_emulator::tenant_seed::{self, TENANT_ID};
    let sb = Sandbox::new();
    let server = serve_sandbox(sb.data_dir(), "0.05");
    let banner = server.banner.join("\n");
    assert!(banner.contains("an emulated Azure"), "{banner}");
    let password = generated_password(&server);
    let (cookie, _) = login(&server.url, "admin", &password).await;
    let (status, coverage) = get(&server.url("/api/v1/coverage"), &cookie).await;
    assert_eq!(status, 200, "{coverage}");
    let seed = tenant_seed::contoso();
    let planted = prisma_emulator::seed::sandbox_accounts(&seed);
    assert_eq!(coverage["tenant_id"], TENANT_ID);
    assert_eq!(coverage["principal"], "ci-onboarding");
    assert_eq!(
        coverage["totals"]["subscriptions"],
        seed.subscriptions.len()
    );
    assert_eq!(coverage["totals"]["own_account"], 14);
    assert_eq!(coverage["totals"]["not_working"], 2);
    assert_eq!(
        coverage["totals"]["not_onboarded"],
        seed.subscriptions.len() - planted.len()
    );
    // The seam for runtime degradation: the emulator's controls, for the data dir's owner only.
    {
        use std::os::unix::fs::PermissionsExt;
        let file = sb.data_dir().join("sandbox-emulator-admin.json");
        assert!(
            banner.contains(&file.display().to_string()),
            "the banner names the file: {banner}"
        );
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let seam: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let token = seam["token"].as_str().unwrap();
        assert!(!banner.contains(token), "the token is never printed");
        let key = seam["secret_key"].as_str().unwrap();
        assert!(!banner.contains(key), "nor the emulator's key");
        let r = reqwest::Client::new()
            .get(format!("{}/_emulator/clock", seam["url"].as_str().unwrap()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let (code, stderr) = server.stop("-TERM");
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(
        !sb.data_dir().join("sandbox-emulator-admin.json").exists(),
        "the controls' file goes with the process"
    );

    let out = sb
        .cmd()
        .args(["discover", "--tenant", TENANT_ID, "--output", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let discovered: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        discovered["totals"], coverage["totals"],
        "one implementation"
    );
    assert_eq!(discovered["subscriptions"], coverage["subscriptions"]);

    // A second start keeps the saved state and plants nothing again: an account offboarded
    // (disabled) in between stays disabled.
    sb.cmd()
        .args(["accounts", "offboard", &planted[0].subscription_id])
        .assert()
        .success();
    let server = serve_sandbox(sb.data_dir(), "0.05");
    let (cookie, _) = login(&server.url, "admin", &password).await;
    let (_, again) = get(&server.url("/api/v1/coverage"), &cookie).await;
    assert_eq!(again["totals"]["own_account"], 13, "{}", again["totals"]);
    assert_eq!(again["totals"]["not_working"], 3, "{}", again["totals"]);
    let (code, stderr) = server.stop("-TERM");
    assert_eq!(code, Some(0), "stderr: {stderr}");
}
