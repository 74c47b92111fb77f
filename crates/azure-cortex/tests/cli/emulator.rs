//! `azure-cortex emulator` as a user runs it for the official clients: `--tls --tls-name
//! api.sandbox.prismacloud.io --connect-proxy` reaches the emulator at that name through the
//! proxy (and nowhere else), `--state-file` keeps what was written across a `kill -9`, and a
//! listener beyond loopback puts `/_emulator/*` behind the token it prints.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const HOST: &str = "api.sandbox.prismacloud.io";
const SECRET: &str = "emulator-cmd-secret-0123456789";

struct Emulator {
    child: Child,
    lines: Vec<String>,
}

impl Emulator {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_azure-cortex"))
            .arg("emulator")
            .args(["--access-key", "cmd-key", "--read-delay-ms", "0"])
            .args(args)
            .env("AZURE_CORTEX_EMULATOR_SECRET_KEY", SECRET)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !lines.iter().any(|l: &String| l == "Press Ctrl-C to stop.") {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(_) => panic!("no banner: {lines:#?}"),
            }
        }
        Self { child, lines }
    }

    /// The word after `prefix` on the banner line that starts with it.
    fn after(&self, prefix: &str) -> String {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line: {:#?}", self.lines))
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn official_host_through_the_connect_proxy_and_state_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let state = dir.path().join("state.json");
    let args = |ca: &std::path::Path, state: &std::path::Path| -> Vec<String> {
        vec![
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--tls".into(),
            "--tls-name".into(),
            HOST.into(),
            "--ca-cert-out".into(),
            ca.display().to_string(),
            "--connect-proxy".into(),
            "127.0.0.1:0".into(),
            "--state-file".into(),
            state.display().to_string(),
        ]
    };
    let owned = args(&ca, &state);
    let emulator = Emulator::start(&owned.iter().map(String::as_str).collect::<Vec<_>>());
    let proxy = emulator.after("CONNECT proxy on ");
    let client = |proxy: &str, ca: &std::path::Path| {
        let pem = std::fs::read(ca).unwrap();
        reqwest::Client::builder()
            .proxy(reqwest::Proxy::https(proxy).unwrap())
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    };
    let http = client(&proxy, &ca);
    let login = |http: reqwest::Client| async move {
        let r = http
            .post(format!("https://{HOST}/login"))
            .json(&json!({"username": "cmd-key", "password": SECRET}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let token = login(http.clone()).await;
    let r = http
        .post(format!("https://{HOST}/cloud/group"))
        .header("x-redlock-auth", &token)
        .json(&json!({"name": "kept-across-kill", "accountIds": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The proxy opens no tunnel to any other host.
    let elsewhere = http.get("https://pypi.org/simple/").send().await;
    assert!(elsewhere.is_err(), "the proxy tunnelled to another host");
    drop(emulator); // SIGKILL

    let emulator = Emulator::start(&owned.iter().map(String::as_str).collect::<Vec<_>>());
    let http = client(&emulator.after("CONNECT proxy on "), &ca);
    let token = login(http.clone()).await;
    let names: Value = http
        .get(format!("https://{HOST}/cloud/group/name"))
        .header("x-redlock-auth", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        names
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "kept-across-kill"),
        "{names}"
    );
}

#[tokio::test]
async fn beyond_loopback_the_admin_endpoints_need_the_printed_token() {
    let emulator = Emulator::start(&["--listen", "0.0.0.0:0"]);
    let token = emulator.after("Admin endpoints (/_emulator/*) need: Authorization: Bearer ");
    let port = emulator
        .after("Prisma Cloud API emulator listening on ")
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let url = format!("http://127.0.0.1:{port}/_emulator/stats");
    let http = reqwest::Client::new();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let r = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // On loopback without a token file they stay open, and no token is printed.
    let local = Emulator::start(&["--listen", "127.0.0.1:0"]);
    assert!(!local.lines.iter().any(|l| l.contains("Bearer")));
}

#[tokio::test]
async fn the_cortex_face_prints_a_demo_key_or_takes_the_one_given() {
    // No Cortex flags: a demo key is generated and printed, and it works.
    let demo = Emulator::start(&["--listen", "127.0.0.1:0", "--cortex-key-type", "standard"]);
    let url = demo.after("  CORTEXCLOUD_API_URL=");
    let id = demo.after("  CORTEXCLOUD_API_KEY_ID=");
    let key = demo.after("  CORTEXCLOUD_API_KEY=");
    assert_eq!(demo.after("  CORTEXCLOUD_API_KEY_TYPE="), "standard");
    let http = reqwest::Client::new();
    let validate = |key: String, id: String| {
        http.get(format!("{url}/api_keys/validate"))
            .header("authorization", key)
            .header("x-xdr-auth-id", id)
            .send()
    };
    assert_eq!(
        validate(key.clone(), id.clone()).await.unwrap().status(),
        200
    );
    assert_eq!(validate("x".repeat(40), id).await.unwrap().status(), 401);

    // A key given through the environment is not printed.
    const CORTEX_KEY: &str = "cortex-cmd-key-0123456789abcdef";
    let mut child = Command::new(env!("CARGO_BIN_EXE_azure-cortex"))
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--cortex-key-id",
            "42",
            "--cortex-key-type",
            "standard",
        ])
        .env("AZURE_CORTEX_EMULATOR_CORTEX_KEY", CORTEX_KEY)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut banner = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        let done = line == "Press Ctrl-C to stop.";
        banner.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        banner
            .iter()
            .any(|l| l == "Cortex Cloud key: 42 (standard, key as configured)"),
        "{banner:#?}"
    );
    assert!(
        !banner.iter().any(|l| l.contains(CORTEX_KEY)),
        "{banner:#?}"
    );

    // Bad flags name themselves and start nothing.
    for (args, named) in [
        (vec!["--cortex-key-id", "abc"], "--cortex-key-id"),
        (vec!["--cortex-key-type", "bearer"], "--cortex-key-type"),
        (
            vec!["--cortex-approved-tenant", "not-a-guid"],
            "--cortex-approved-tenant",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_azure-cortex"))
            .args(["emulator", "--listen", "127.0.0.1:0"])
            .args(&args)
            .env("AZURE_CORTEX_EMULATOR_CORTEX_KEY", CORTEX_KEY)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}
