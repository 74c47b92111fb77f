//! One server for one test: the emulator, a SQLite store in a temp dir, the engine (replayed
//! Terraform), the web server on 127.0.0.1:0 with an in-process worker, and three users (an
//! operator, a viewer and an admin).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use cortex_store::{JobId, JobState, Keyring, Store};
use cortex_web::{AppState, AuthStore, Role, WebConfig};
use onboarding_engine::{Engine, EngineConfig, TerraformMode};
use prisma_client::{BaseUrl, ClientConfig, Credentials, RetryPolicy};
use prisma_emulator::{EmulatorConfig, RunningEmulator};
use prisma_types::SecretString;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

pub const ACCESS_KEY: &str = "web-test-key";
pub const SECRET_KEY: &str = "web-test-secret-0123456789";
pub const TENANT: &str = "7e4a0000-aaaa-4bbb-8ccc-000000000001";
pub const OPERATOR: (&str, &str) = ("olivia", "operator-password-1");
pub const VIEWER: (&str, &str) = ("victor", "viewer-password-22");
pub const ADMIN: (&str, &str) = ("ada", "admin-password-333");

pub struct Server {
    pub emu: RunningEmulator,
    emu_stop: CancellationToken,
    pub stop: CancellationToken,
    pub dir: TempDir,
    pub addr: SocketAddr,
    pub base: String,
    pub engine: Engine,
    pub http: reqwest::Client,
    pub task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
        self.emu_stop.cancel();
    }
}

pub struct Options {
    pub worker: bool,
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    pub login_max_failures: u32,
    /// Last changes to the web configuration (connection limits, token lifetimes, …).
    pub configure: fn(&mut WebConfig),
    /// The job store's URL; `None`: SQLite in the server's directory.
    pub database_url: Option<String>,
    /// Last changes to the emulator's configuration (its Cortex Cloud keys, …).
    pub emulator: fn(&mut EmulatorConfig),
    /// Where coverage reads Azure (`None`: the process's environment).
    pub azure: Option<cortex_web::AzureAccess>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            worker: true,
            tls: None,
            login_max_failures: 5,
            configure: |_| {},
            database_url: None,
            emulator: |_| {},
            azure: None,
        }
    }
}

pub async fn open_store(dir: &std::path::Path) -> Store {
    open_store_at(dir, None).await
}

/// The store at `url` (SQLite in `dir` when `None`), with `dir`'s master key.
async fn open_store_at(dir: &std::path::Path, url: Option<&str>) -> Store {
    let sqlite = format!("sqlite://{}", dir.join("cortex.db").display());
    Store::open(
        url.unwrap_or(&sqlite),
        Keyring::load_or_create(dir).unwrap(),
    )
    .await
    .unwrap()
}

/// An engine on the store in `dir`, talking to the emulator at `emulator_url`. A second one on
/// the same directory stands for a worker in another process (its event bus is its own).
pub async fn engine_on(dir: &std::path::Path, emulator_url: &str) -> Engine {
    engine_at(dir, emulator_url, None).await
}

/// [`engine_on`] with the job store at `database_url` (`None`: SQLite in `dir`).
pub async fn engine_at(
    dir: &std::path::Path,
    emulator_url: &str,
    database_url: Option<&str>,
) -> Engine {
    let store = open_store_at(dir, database_url).await;
    let mut config = EngineConfig::new(
        dir.to_path_buf(),
        TerraformMode::Replay {
            pace: Duration::from_millis(2),
        },
    );
    config.sandbox = true;
    config.verify_timeout = Duration::from_secs(5);
    config.poll_interval = Duration::from_millis(50);
    let mut client = ClientConfig::new(
        BaseUrl::parse(emulator_url, false).unwrap(),
        Credentials::new(ACCESS_KEY, SECRET_KEY),
    );
    client.retry = RetryPolicy {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(500),
        ..RetryPolicy::default()
    };
    Engine::new(store, client, config).unwrap()
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let mut emulator = EmulatorConfig::new(ACCESS_KEY, SecretString::from(SECRET_KEY));
        emulator.read_delay = Duration::from_millis(50);
        (options.emulator)(&mut emulator);
        let emu_stop = CancellationToken::new();
        let emu = prisma_emulator::spawn(
            "127.0.0.1:0".parse().unwrap(),
            emulator,
            None,
            emu_stop.clone().cancelled_owned(),
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let engine = engine_at(dir.path(), &emu.base_url(), options.database_url.as_deref()).await;

        let mut web = WebConfig::for_data_dir(dir.path());
        web.worker = options.worker;
        web.login_max_failures = options.login_max_failures;
        web.max_batch_rows = 20;
        if let Some((cert, key)) = &options.tls {
            web.tls = Some(cortex_web::config::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        (options.configure)(&mut web);
        let auth = AuthStore::open(&web.auth_database).await.unwrap();
        auth.create_user(OPERATOR.0, &SecretString::from(OPERATOR.1), Role::Operator)
            .await
            .unwrap();
        auth.create_user(VIEWER.0, &SecretString::from(VIEWER.1), Role::Viewer)
            .await
            .unwrap();
        auth.create_user(ADMIN.0, &SecretString::from(ADMIN.1), Role::Admin)
            .await
            .unwrap();
        let tls = options.tls.is_some();
        let app = AppState::new(engine.clone(), auth, web).unwrap();
        if let Some(azure) = options.azure {
            app.set_azure(azure);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(cortex_web::serve(
            listener,
            app,
            stop.clone().cancelled_owned(),
        ));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let scheme = if tls { "https" } else { "http" };
        Server {
            emu,
            emu_stop,
            stop,
            dir,
            addr,
            base: format!("{scheme}://{addr}"),
            engine,
            http,
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Signs in; panics unless it works.
    pub async fn login(&self, (name, password): (&str, &str)) -> Auth {
        let r = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"name": name, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login as {name}");
        let cookie = r
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let body: Value = r.json().await.unwrap();
        Auth::Cookie {
            cookie,
            csrf: Some(body["csrf_token"].as_str().unwrap().to_owned()),
        }
    }

    /// Saves the connection `body` through the API as `admin` (expecting 201); the answer.
    pub async fn save_connection(&self, admin: &Auth, body: Value) -> Value {
        let (status, saved) = self
            .call("POST", "/api/v1/connections", admin, Some(body))
            .await;
        assert_eq!(status, 201, "{saved}");
        saved
    }

    /// An API token for the user (signed in for it).
    pub async fn token(&self, user: (&str, &str)) -> Auth {
        let session = self.login(user).await;
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/tokens",
                &session,
                Some(json!({"name": "test"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        Auth::Bearer(body["token"].as_str().unwrap().to_owned())
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        auth: &Auth,
        body: Option<Value>,
    ) -> reqwest::Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, self.url(path))
            .headers(auth.headers());
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    /// Status and JSON body (or `{"text": …}` for a non-JSON body).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        auth: &Auth,
        body: Option<Value>,
    ) -> (u16, Value) {
        let r = self.request(method, path, auth, body).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "text": text }));
        (status, value)
    }

    pub async fn wait_for(&self, job: &str, done: impl Fn(JobState) -> bool) -> JobState {
        let id: JobId = job.parse().unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let state = self
                .engine
                .store()
                .get_job(id)
                .await
                .unwrap()
                .unwrap()
                .state;
            if done(state) {
                return state;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {job} stuck in {state}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Cookie {
        cookie: String,
        csrf: Option<String>,
    },
    Bearer(String),
}

impl Auth {
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        match self {
            Auth::None => {}
            Auth::Cookie { cookie, csrf } => {
                h.insert("cookie", HeaderValue::from_str(cookie).unwrap());
                if let Some(csrf) = csrf {
                    h.insert("x-csrf-token", HeaderValue::from_str(csrf).unwrap());
                }
            }
            Auth::Bearer(t) => {
                h.insert(
                    "authorization",
                    HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
                );
            }
        }
        h
    }

    /// The same session without its CSRF token.
    pub fn without_csrf(&self) -> Auth {
        match self {
            Auth::Cookie { cookie, .. } => Auth::Cookie {
                cookie: cookie.clone(),
                csrf: None,
            },
            other => other.clone(),
        }
    }
}

pub fn guid(ns: u16, n: u32) -> String {
    format!(
        "{ns:04x}{:04x}-1111-4222-8333-{:012x}",
        n >> 16,
        u64::from(n)
    )
}

/// A subscription request (builtin identity).
pub fn subscription(n: u32) -> Value {
    json!({
        "scope": "subscription",
        "subscription_id": guid(0x5b00, n),
        "tenant_id": TENANT,
        "name": format!("web-{n}"),
        "groups": ["Default Account Group"],
    })
}

#[derive(Clone, Debug, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// Reads an event stream until it ends (or `until` says stop, or the timeout); returns the
/// events and the raw text.
pub async fn read_sse(
    mut response: reqwest::Response,
    until: impl Fn(&SseEvent) -> bool,
    timeout: Duration,
) -> (Vec<SseEvent>, String) {
    let mut raw = String::new();
    let mut events = Vec::new();
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(c))) => c,
            Ok(Ok(None)) | Ok(Err(_)) => break,
            Err(_) => panic!("event stream did not end in {timeout:?}; got {events:?}"),
        };
        let text = String::from_utf8_lossy(&chunk).into_owned();
        raw.push_str(&text);
        buffer.push_str(&text);
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let mut e = SseEvent {
                id: None,
                event: "message".into(),
                data: String::new(),
            };
            let mut any = false;
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    e.id = Some(v.trim().to_owned());
                    any = true;
                } else if let Some(v) = line.strip_prefix("event:") {
                    e.event = v.trim().to_owned();
                    any = true;
                } else if let Some(v) = line.strip_prefix("data:") {
                    if !e.data.is_empty() {
                        e.data.push('\n');
                    }
                    e.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    any = true;
                }
            }
            if any {
                let stop = until(&e);
                events.push(e);
                if stop {
                    return (events, raw);
                }
            }
        }
    }
    (events, raw)
}

/// A form POST with the session cookie (and the CSRF token in the body when given).
pub async fn post_form(
    server: &Server,
    path: &str,
    auth: &Auth,
    csrf: bool,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let Auth::Cookie {
        cookie,
        csrf: token,
    } = auth
    else {
        panic!("a session")
    };
    let mut pairs: Vec<(&str, &str)> = fields.to_vec();
    if csrf {
        pairs.push(("csrf_token", token.as_deref().unwrap()));
    }
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    server
        .http
        .post(server.url(path))
        .header("cookie", cookie.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The actions of a page's POST forms, in order (apart from signing out).
pub fn form_actions(html: &str) -> Vec<String> {
    html.match_indices(r#"<form method="post" action=""#)
        .map(|(i, m)| {
            let rest = &html[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .filter(|a| a != "/logout")
        .collect()
}
