//! The official Prisma Cloud Python clients, pinned and unchanged, against the emulator over
//! https: `prismacloud-api` 5.3.0 (the SDK), `prismacloud-cli` 0.8.11 (`pc`) and `pcpi` 1.0.1.
//!
//! `scripts/python-clients` installs them into virtualenvs under `target/` (idempotent, so
//! these tests never skip: a missing client is installed, a failed install fails the test).
//! The clients accept only `*.prismacloud.io` hosts without a port, so each test reaches the
//! emulator the way docs/emulator.md tells users to: its certificate names
//! `api.sandbox.prismacloud.io`, and its CONNECT proxy routes that host to it
//! (`HTTPS_PROXY`), with the emulator's CA as the trusted bundle.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use prisma_emulator::connect_proxy::ProxyRoutes;
use prisma_emulator::{EmulatorConfig, RunningEmulator};
use prisma_types::SecretString;
use tokio_util::sync::CancellationToken;

const HOST: &str = "api.sandbox.prismacloud.io";
const KEY: &str = "real-client-key";
const SECRET: &str = "real-client-secret-0123456789";
/// A client secret the clients send; it must never come back or reach the snapshot.
const CANARY: &str = "CANARY-azure-client-secret-7f3a";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `scripts/python-clients` once per test process; returns the virtualenv root.
fn clients() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let out = Command::new(workspace_root().join("scripts/python-clients"))
            .output()
            .expect("scripts/python-clients runs");
        assert!(
            out.status.success(),
            "installing the Python clients failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(
            stdout
                .lines()
                .last()
                .expect("the script prints the root")
                .trim(),
        )
    })
}

/// The emulator over TLS for `HOST`, its CONNECT proxy, and a home directory for the clients.
struct Tenant {
    emulator: RunningEmulator,
    proxy: String,
    ca: PathBuf,
    home: tempfile::TempDir,
    stop: CancellationToken,
}

impl Tenant {
    async fn start() -> Self {
        let mut config = EmulatorConfig::new(KEY, SecretString::from(SECRET));
        config.read_delay = std::time::Duration::ZERO;
        let tls = prisma_emulator::tls::generate(&[HOST.to_owned()]).unwrap();
        let stop = CancellationToken::new();
        let emulator = prisma_emulator::spawn(
            "127.0.0.1:0".parse().unwrap(),
            config,
            Some(tls.acceptor),
            stop.clone().cancelled_owned(),
        )
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(prisma_emulator::connect_proxy::serve(
            listener,
            ProxyRoutes {
                hosts: vec![HOST.to_owned()],
                upstream: emulator.addr,
            },
            stop.clone().cancelled_owned(),
        ));
        let home = tempfile::tempdir().unwrap();
        let ca = home.path().join("emulator-ca.pem");
        std::fs::write(&ca, tls.ca_cert_pem).unwrap();
        // `pc` asks once whether its community-support notice was read; this is the answer it
        // stores, so it does not prompt.
        std::fs::create_dir_all(home.path().join(".prismacloud")).unwrap();
        std::fs::write(
            home.path()
                .join(".prismacloud/.community_supported_accepted"),
            "Yes",
        )
        .unwrap();
        Self {
            emulator,
            proxy,
            ca,
            home,
            stop,
        }
    }

    /// A client process: `program` from the virtualenv `venv`, with the proxy, the CA and a
    /// clean environment (no proxy or Prisma variables from the caller leak in).
    fn command(&self, venv: &str, program: &str) -> Command {
        let bin = clients().join(venv).join("bin");
        let mut cmd = Command::new(bin.join(program));
        cmd.env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("HOME", self.home.path())
            .env("HTTPS_PROXY", &self.proxy)
            .env("REQUESTS_CA_BUNDLE", &self.ca)
            .env("SDK_CANARY_CLIENT_SECRET", CANARY)
            .current_dir(self.home.path());
        cmd
    }

    async fn run(&self, mut cmd: Command) -> Output {
        let out = tokio::task::spawn_blocking(move || cmd.output().expect("the client starts"))
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "client failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn requests(&self, endpoint: &str) -> u64 {
        prisma_emulator::admin::stats_report(&self.emulator.state)
            .endpoints
            .get(endpoint)
            .map_or(0, |s| s.admitted)
    }
}

impl Drop for Tenant {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_configures_and_manages_accounts_and_groups() {
    let tenant = Tenant::start().await;
    let mut cmd = tenant.command("sdk", "python");
    cmd.arg(script("sdk_calls.py"))
        .env("PC_URL", HOST)
        .env("PC_IDENTITY", KEY)
        .env("PC_SECRET", SECRET);
    let out = tenant.run(cmd).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["children"], 6);
    // It really went through the emulator, over the proxy and TLS.
    assert_eq!(
        tenant.requests("GET /meta_info"),
        1,
        "configure() reads meta_info"
    );
    assert!(tenant.requests("GET /auth_token/extend") >= 1);
    assert!(tenant.requests("PUT /cloud/group/{group_id}") >= 1);
    assert!(tenant.requests("GET /cloud/{cloud_type}/{account_id}/project") >= 1);
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains(CANARY), "the client secret came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcpi_logs_in_calls_and_refreshes() {
    let tenant = Tenant::start().await;
    let mut cmd = tenant.command("sdk", "python");
    cmd.arg(script("pcpi_calls.py"))
        .env("PRISMA_PCPI_URL", format!("https://{HOST}"))
        .env("PRISMA_PCPI_ID", KEY)
        .env("PRISMA_PCPI_SECRET", SECRET)
        .env("PRISMA_PCPI_VERIFY", &tenant.ca);
    let out = tenant.run(cmd).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.lines().last().unwrap().contains("\"ok\": true"));
    assert_eq!(tenant.requests("POST /cas/v1/azure_account"), 1);
    assert!(tenant.requests("POST /login") >= 1);
}

/// `pc cloud names|list|type` in json, csv and the table (`text`) output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pc_cli_lists_clouds_in_every_output_format() {
    let tenant = Tenant::start().await;
    seed_one_account(&tenant, "pc-subscription").await;
    let pc = |args: &[&str]| {
        let mut cmd = tenant.command("cli", "pc");
        cmd.args(["--config", "env"])
            .args(args)
            .env("PC_URL", HOST)
            .env("PC_IDENTITY", KEY)
            .env("PC_SECRET", SECRET)
            .env("PC_VERIFY", &tenant.ca);
        cmd
    };
    for command in ["names", "list"] {
        let json = tenant.run(pc(&["-o", "json", "cloud", command])).await;
        let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| {
            panic!(
                "pc -o json cloud {command}: {e}: {}",
                String::from_utf8_lossy(&json.stdout)
            )
        });
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 1, "pc cloud {command}: {rows:?}");
        assert_eq!(rows[0]["name"], "pc-subscription");
        let csv = tenant.run(pc(&["-o", "csv", "cloud", command])).await;
        let csv = String::from_utf8(csv.stdout).unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert!(header.contains(&"name"), "{csv}");
        assert!(lines.next().unwrap().contains("pc-subscription"), "{csv}");
        let table = tenant.run(pc(&["-o", "text", "cloud", command])).await;
        let table = String::from_utf8(table.stdout).unwrap();
        assert!(
            table.contains("pc-subscription") && table.contains('╒'),
            "{table}"
        );
    }
    let types = tenant.run(pc(&["-o", "json", "cloud", "type"])).await;
    assert!(String::from_utf8_lossy(&types.stdout).contains("azure"));
    assert!(tenant.requests("GET /cloud/name") >= 3);
}

async fn seed_one_account(tenant: &Tenant, name: &str) {
    let ca = std::fs::read(&tenant.ca).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let base = tenant.emulator.base_url();
    let login: serde_json::Value = http
        .post(format!("{base}/login"))
        .json(&serde_json::json!({"username": KEY, "password": SECRET}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap();
    let groups: serde_json::Value = http
        .get(format!("{base}/cloud/group"))
        .header("x-redlock-auth", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = http
        .post(format!("{base}/cas/v1/azure_account"))
        .header("x-redlock-auth", token)
        .json(&serde_json::json!({
            "cloudAccount": {"accountId": "5d000000-0000-4000-8000-0000000000d4",
                             "accountType": "account", "name": name,
                             "groupIds": [groups[0]["id"]]},
            "clientId": "c1000000-0000-4000-8000-0000000000d4", "key": CANARY,
            "tenantId": "7e000000-0000-4000-8000-0000000000d4",
            "servicePrincipalId": "5e000000-0000-4000-8000-0000000000d4"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}
