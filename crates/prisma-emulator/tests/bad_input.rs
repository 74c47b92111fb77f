//! Bad input against the emulator: every malformed body, path, query or credential must get
//! the documented 4xx status and i18n key (`/work/shared/reference/prisma-api.md` §3, §6) and
//! never a 5xx, a panic or a dropped connection.
//!
//! Each test runs its own emulator and a table of cases; a table runs to the end and then
//! fails with every mismatch at once, so one run shows the whole picture. Run with
//! `--nocapture` to see the PASS/FAIL line of every case.

mod support {
    use std::fmt::Write as _;
    use std::time::Duration;

    use prisma_emulator::{EmulatorConfig, RateLimits, RunningEmulator};
    use prisma_types::SecretString;
    pub use reqwest::Method;
    use serde_json::{Value, json};
    use tokio_util::sync::CancellationToken;

    pub const ACCESS_KEY: &str = "ak";
    pub const SECRET_KEY: &str = "sk";
    pub const DEFAULT_GROUP: &str = "00000000-0000-4000-8000-00000000d0a9";
    pub const TENANT: &str = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    pub const SUB: &str = "3f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f";
    pub const CLIENT: &str = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a";
    pub const SP: &str = "6e5d4c3b-2a1f-4e0d-9c8b-7a6f5e4d3c2b";
    /// A second subscription.
    pub const OTHER_SUB: &str = "4a3b2c1d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
    /// A well-formed GUID that names nothing in the emulator.
    pub const UNKNOWN: &str = "9b8a7f6e-5d4c-4b3a-a291-8f7e6d5c4b3a";

    pub const BAD: &str = "bad_request";
    pub const ID_FORMAT: &str = "invalid_account_id_format";

    /// A request body: JSON (sent as `application/json`), raw bytes with an optional
    /// `Content-Type`, or nothing.
    pub enum Body {
        None,
        Json(Value),
        Raw(Option<&'static str>, Vec<u8>),
    }

    impl Body {
        /// Raw text sent as `application/json`.
        pub fn text(s: impl Into<String>) -> Self {
            Body::Raw(Some("application/json"), s.into().into_bytes())
        }

        /// `value` serialised, with the given `Content-Type` (or none).
        pub fn typed(content_type: Option<&'static str>, value: &Value) -> Self {
            Body::Raw(content_type, value.to_string().into_bytes())
        }
    }

    /// What came back: status, the first `x-redlock-status` entry, and the body text.
    #[derive(Debug)]
    pub struct Answer {
        pub status: u16,
        pub key: Option<String>,
        pub subject: Option<String>,
        pub body: String,
    }

    /// Which error style a case expects (§6.1 header, or §6.3 JSON body).
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Style {
        Redlock,
        ApiErrorBody,
    }

    pub struct Case {
        pub name: String,
        pub method: Method,
        pub path: String,
        pub body: Body,
        /// `None`: send the session token; `Some(None)`: no header; `Some(Some(t))`: send `t`.
        pub auth: Option<Option<String>>,
        pub status: u16,
        /// Expected i18n key (header style) — `None` means not checked (successes).
        pub key: Option<&'static str>,
        pub subject: Option<&'static str>,
        pub style: Style,
    }

    impl Case {
        pub fn new(
            name: impl Into<String>,
            method: Method,
            path: impl Into<String>,
            body: Body,
        ) -> Self {
            Self {
                name: name.into(),
                method,
                path: path.into(),
                body,
                auth: None,
                status: 0,
                key: None,
                subject: None,
                style: Style::Redlock,
            }
        }

        /// An error answer in the `x-redlock-status` style.
        pub fn fails(mut self, status: u16, key: &'static str) -> Self {
            self.status = status;
            self.key = Some(key);
            self
        }

        /// An error answer in the CAS `ApiError` JSON-body style.
        pub fn api_error(mut self, status: u16) -> Self {
            self.status = status;
            self.style = Style::ApiErrorBody;
            self
        }

        pub fn ok(mut self) -> Self {
            self.status = 200;
            self
        }

        pub fn status(mut self, status: u16) -> Self {
            self.status = status;
            self
        }

        /// The expected `subject` of the `x-redlock-status` entry.
        pub fn at(mut self, subject: &'static str) -> Self {
            self.subject = Some(subject);
            self
        }

        pub fn token(mut self, token: Option<&str>) -> Self {
            self.auth = Some(token.map(str::to_owned));
            self
        }
    }

    pub fn post(name: impl Into<String>, path: impl Into<String>, body: Body) -> Case {
        Case::new(name, Method::POST, path, body)
    }

    pub fn get(name: impl Into<String>, path: impl Into<String>) -> Case {
        Case::new(name, Method::GET, path, Body::None)
    }

    /// `POST /cas/v1/azure_account` with a JSON body.
    pub fn add(name: impl Into<String>, body: Value) -> Case {
        post(name, "/cas/v1/azure_account", Body::Json(body))
    }

    /// A copy of `value` with the field at JSON pointer `pointer` set to `new`.
    pub fn set(value: &Value, pointer: &str, new: impl Into<Value>) -> Value {
        let mut value = value.clone();
        let (parent, field) = pointer.rsplit_once('/').expect("a JSON pointer");
        match value.pointer_mut(parent) {
            Some(Value::Object(m)) => {
                m.insert(field.to_owned(), new.into());
            }
            Some(Value::Array(a)) => a[field.parse::<usize>().unwrap()] = new.into(),
            _ => panic!("{pointer}: no object or array to set the field in"),
        }
        value
    }

    /// A copy of `value` without the field at JSON pointer `pointer`.
    pub fn unset(value: &Value, pointer: &str) -> Value {
        let mut value = value.clone();
        let (parent, field) = pointer.rsplit_once('/').expect("a JSON pointer");
        let removed = value
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .and_then(|m| m.remove(field));
        assert!(removed.is_some(), "{pointer}: nothing to remove");
        value
    }

    /// Shape 1 of §3.3: a subscription.
    pub fn subscription_body(subscription: &str, name: &str) -> Value {
        json!({
            "cloudAccount": {
                "accountId": subscription,
                "accountType": "account",
                "enabled": true,
                "name": name,
                "groupIds": [DEFAULT_GROUP],
            },
            "clientId": CLIENT,
            "key": "client-secret-value",
            "tenantId": TENANT,
            "servicePrincipalId": SP,
            "environmentType": "azure",
            "monitorFlowLogs": false,
            "features": [{"name": "Remediation", "state": "enabled"}],
        })
    }

    /// Shape 2 of §3.3: a tenant with management groups and subscriptions.
    pub fn tenant_body(tenant: &str, name: &str) -> Value {
        json!({
            "cloudAccount": {"accountType": "tenant", "enabled": true, "name": name},
            "clientId": CLIENT,
            "key": "client-secret-value",
            "tenantId": tenant,
            "servicePrincipalId": SP,
            "environmentType": "azure",
            "monitorFlowLogs": false,
            "features": [{"name": "Agentless Scanning", "state": "enabled",
                          "defaultMemberState": "enabled"}],
            "defaultAccountGroupId": DEFAULT_GROUP,
            "rootSyncEnabled": true,
            "hierarchySelection": [{"resourceId": tenant, "displayName": "Tenant Root Group",
                                    "nodeType": "TENANT", "selectionType": "ALL"}],
        })
    }

    /// Shape 3 of §3.3: a Microsoft Entra ID-only tenant.
    pub fn entra_body(tenant: &str, name: &str) -> Value {
        json!({
            "cloudAccount": {"accountType": "tenant", "enabled": true, "name": name,
                             "groupIds": [DEFAULT_GROUP]},
            "clientId": CLIENT,
            "key": "client-secret-value",
            "tenantId": tenant,
            "servicePrincipalId": SP,
            "environmentType": "azure",
            "monitorFlowLogs": false,
            "features": [],
        })
    }

    /// A running emulator with a logged-in session; stopped on drop.
    pub struct Emu {
        pub base: String,
        pub token: String,
        pub http: reqwest::Client,
        stop: CancellationToken,
        _emu: RunningEmulator,
    }

    impl Drop for Emu {
        fn drop(&mut self) {
            self.stop.cancel();
        }
    }

    impl Emu {
        pub async fn start() -> Self {
            let stop = CancellationToken::new();
            let mut config = EmulatorConfig::new(ACCESS_KEY, SecretString::from(SECRET_KEY));
            config.rate_limits = RateLimits::disabled();
            let emu = prisma_emulator::spawn(
                "127.0.0.1:0".parse().unwrap(),
                config,
                None,
                stop.clone().cancelled_owned(),
            )
            .await
            .expect("emulator starts");
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            let mut this = Self {
                base: emu.base_url(),
                token: String::new(),
                http,
                stop,
                _emu: emu,
            };
            this.token = this
                .login()
                .await
                .expect("login with the configured key works");
            this
        }

        /// `POST /login` with the configured key; the token.
        pub async fn login(&self) -> Result<String, String> {
            let body = json!({"username": ACCESS_KEY, "password": SECRET_KEY});
            let answer = self
                .send(None, Method::POST, "/login", Body::Json(body))
                .await?;
            if answer.status != 200 {
                return Err(format!("login answered {answer:?}"));
            }
            let v: Value = serde_json::from_str(&answer.body).map_err(|e| e.to_string())?;
            v["token"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| "no token".to_owned())
        }

        /// Sends a request with the session token.
        pub async fn call(&self, method: Method, path: &str, body: Body) -> Result<Answer, String> {
            self.send(Some(&self.token), method, path, body).await
        }

        /// Sends a request; `Err` is a transport failure (a dropped connection, e.g. a panic).
        pub async fn send(
            &self,
            token: Option<&str>,
            method: Method,
            path: &str,
            body: Body,
        ) -> Result<Answer, String> {
            let mut req = self.http.request(method, format!("{}{path}", self.base));
            if let Some(t) = token {
                req = req.header("x-redlock-auth", t);
            }
            req = match body {
                Body::None => req,
                Body::Json(v) => req
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&v).unwrap()),
                Body::Raw(ct, bytes) => {
                    let req = match ct {
                        Some(ct) => req.header("content-type", ct),
                        None => req,
                    };
                    req.body(bytes)
                }
            };
            let resp = req
                .send()
                .await
                .map_err(|e| format!("transport error: {e:?}"))?;
            let status = resp.status().as_u16();
            let entry = resp
                .headers()
                .get("x-redlock-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|s| serde_json::from_str::<Vec<Value>>(s).ok())
                .and_then(|entries| entries.into_iter().next());
            let field = |name: &str| {
                entry
                    .as_ref()
                    .and_then(|e| e[name].as_str())
                    .map(str::to_owned)
            };
            let (key, subject) = (field("i18nKey"), field("subject"));
            let body = resp
                .text()
                .await
                .map_err(|e| format!("reading the body: {e:?}"))?;
            Ok(Answer {
                status,
                key,
                subject,
                body,
            })
        }

        /// Runs the cases in order and fails with every mismatch at once.
        pub async fn run(&self, table: &str, cases: Vec<Case>) {
            let mut failures = Vec::new();
            for case in cases {
                let token = match &case.auth {
                    None => Some(self.token.clone()),
                    Some(t) => t.clone(),
                };
                let name = case.name.clone();
                let result = self
                    .send(token.as_deref(), case.method.clone(), &case.path, case.body)
                    .await;
                let mut problems = match &result {
                    Ok(answer) => judge(answer, case.status, case.key, case.subject, case.style),
                    Err(e) => vec![e.clone()],
                };
                let got = match &result {
                    Ok(a) => format!("{} {:?} {:?}", a.status, a.key, a.subject),
                    Err(e) => e.clone(),
                };
                if problems.is_empty() {
                    println!("PASS {table}: {name} -> {got}");
                } else {
                    // Error bodies only: a success may carry a token.
                    if let Some(a) = result.as_ref().ok().filter(|a| a.status >= 400) {
                        let text: String = a.body.chars().take(200).collect();
                        problems.push(format!("body {text:?}"));
                    }
                    println!("FAIL {table}: {name} -> {got}: {}", problems.join("; "));
                    failures.push(format!("{name}: {}", problems.join("; ")));
                }
            }
            assert!(
                failures.is_empty(),
                "{table}: {} case(s) failed:\n  {}",
                failures.len(),
                failures.join("\n  ")
            );
        }
    }

    /// The differences between an answer and what was expected (empty: as expected).
    pub fn judge(
        answer: &Answer,
        status: u16,
        key: Option<&str>,
        subject: Option<&str>,
        style: Style,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        if answer.status >= 500 {
            problems.push(format!("server error {}", answer.status));
        }
        if answer.status != status {
            problems.push(format!("status {} (want {status})", answer.status));
        }
        match style {
            Style::Redlock => {
                if let Some(key) = key
                    && answer.key.as_deref() != Some(key)
                {
                    problems.push(format!("i18nKey {:?} (want {key:?})", answer.key));
                }
                if let Some(subject) = subject
                    && answer.subject.as_deref() != Some(subject)
                {
                    problems.push(format!("subject {:?} (want {subject:?})", answer.subject));
                }
            }
            Style::ApiErrorBody => {
                // §6.3: `{status: "400 BAD_REQUEST", timestamp, message, debugMessage}`.
                match serde_json::from_str::<Value>(&answer.body) {
                    Ok(body) => {
                        let mut want = String::new();
                        let reason = reqwest::StatusCode::from_u16(status)
                            .ok()
                            .and_then(|s| s.canonical_reason())
                            .unwrap_or("")
                            .to_ascii_uppercase()
                            .replace(' ', "_");
                        let _ = write!(want, "{status} {reason}");
                        if body["status"].as_str() != Some(want.as_str()) {
                            problems
                                .push(format!("body status {} (want {want:?})", body["status"]));
                        }
                        if body["message"].as_str().is_none_or(str::is_empty) {
                            problems.push("body has no message".to_owned());
                        }
                        if body["timestamp"].as_str().is_none() {
                            problems.push("body has no timestamp".to_owned());
                        }
                    }
                    Err(_) => problems.push(format!("body is not JSON: {:?}", answer.body)),
                }
            }
        }
        problems
    }
}

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use support::*;

const ADD: &str = "/cas/v1/azure_account";
const STATUS: &str = "/cas/v1/cloud_account/status/azure";
const ACCOUNT_ID: &str = "cloudAccount.accountId";

// ---------------------------------------------------------------------------------------------
// POST /cas/v1/azure_account (§3.3): body rejections, field validation, duplicates.

/// Unparseable or wrongly shaped bodies are `400 bad_request` and oversized ones
/// `413 request_too_large` (`WireJson`); the subject is the JSON path, or `body` if none.
#[tokio::test]
async fn add_account_rejects_unparseable_bodies() {
    let emu = Emu::start().await;
    let v = subscription_body(SUB, "parse cases");
    let positional = json!([
        {"accountId": OTHER_SUB, "accountType": "account", "name": "positional",
         "groupIds": [DEFAULT_GROUP]},
        CLIENT, "client-secret-value", TENANT, "azure",
    ]);
    let huge = set(&v, "/cloudAccount/name", "a".repeat(1024 * 1024 + 16));
    let deep = format!("{}{}", "[".repeat(4096), "]".repeat(4096));
    let bad_utf8 = Body::Raw(
        Some("application/json"),
        b"{\"key\": \"\xff\xfe\"}".to_vec(),
    );
    #[rustfmt::skip]
    let cases = vec![
        post("non-JSON body", ADD, Body::text("this is not json")).fails(400, BAD).at("body"),
        post("truncated JSON", ADD, Body::text(r#"{"cloudAccount": {"#)).fails(400, BAD).at("body"),
        post("empty body", ADD, Body::text("")).fails(400, BAD).at("body"),
        // An array is not an object, even when serde could read it as the struct's fields in
        // order: a Jackson-style service refuses it, and so must the emulator.
        add("JSON array, empty", json!([])).fails(400, BAD).at("body"),
        add("JSON array holding the body", json!([v.clone()])).fails(400, BAD).at("body"),
        add("JSON array of the fields in order", positional).fails(400, BAD).at("body"),
        add("JSON string", json!("hello")).fails(400, BAD).at("body"),
        add("JSON number", json!(42)).fails(400, BAD).at("body"),
        add("JSON null", Value::Null).fails(400, BAD).at("body"),
        add("empty object", json!({})).fails(400, BAD),
        add("cloudAccount is a string", set(&v, "/cloudAccount", "x"))
            .fails(400, BAD).at("cloudAccount"),
        add("cloudAccount.name is a number", set(&v, "/cloudAccount/name", 7))
            .fails(400, BAD).at("cloudAccount.name"),
        add("features is an object", set(&v, "/features", json!({"a": 1})))
            .fails(400, BAD).at("features"),
        add("key is a number", set(&v, "/key", 12345)).fails(400, BAD).at("key"),
        post("nesting past the parser's limit", ADD, Body::text(deep)).fails(400, BAD),
        post("invalid UTF-8", ADD, bad_utf8).fails(400, BAD),
        post("no Content-Type", ADD, Body::typed(None, &v)).fails(400, BAD),
        post("Content-Type text/plain", ADD, Body::typed(Some("text/plain"), &v)).fails(400, BAD),
        add("body over 1 MiB", huge).fails(413, "request_too_large"),
    ];
    emu.run("add/parse", cases).await;
}

/// Every validation rule of §3.3 / §10.4, with its documented key and the offending field.
#[tokio::test]
async fn add_account_rejects_invalid_fields() {
    let emu = Emu::start().await;
    let v = subscription_body(SUB, "field cases");
    let entra = entra_body(TENANT, "entra cases");
    let tenant = tenant_body(TENANT, "tenant cases");
    let malformed_ids = [
        ("braced", format!("{{{SUB}}}")),
        ("urn:uuid", format!("urn:uuid:{SUB}")),
        ("32 digits, no hyphens", SUB.replace('-', "")),
        ("empty", String::new()),
        ("x", "x".to_owned()),
        (
            "nil GUID",
            "00000000-0000-0000-0000-000000000000".to_owned(),
        ),
    ];
    let mut cases = Vec::new();
    // Subscription and tenant IDs are canonical 8-4-4-4-12 GUIDs.
    for (what, id) in &malformed_ids {
        let body = set(&v, "/cloudAccount/accountId", id.as_str());
        cases.push(
            add(format!("accountId {what}"), body)
                .fails(400, ID_FORMAT)
                .at(ACCOUNT_ID),
        );
        let body = set(&v, "/tenantId", id.as_str());
        cases.push(
            add(format!("tenantId {what}"), body)
                .fails(400, ID_FORMAT)
                .at("tenantId"),
        );
    }
    // Names are non-empty after trimming, at most 255 characters, without control characters.
    for (what, name) in [
        ("empty", String::new()),
        ("whitespace", "  \t ".to_owned()),
        ("300 characters", "n".repeat(300)),
        ("with a control character", "bad\u{7}name".to_owned()),
    ] {
        let body = set(&v, "/cloudAccount/name", name);
        cases.push(
            add(format!("name {what}"), body)
                .fails(400, BAD)
                .at("cloudAccount.name"),
        );
    }
    let feature =
        |name: &str, state: &str| set(&v, "/features", json!([{"name": name, "state": state}]));
    #[rustfmt::skip]
    cases.extend([
        // accountType is account or tenant; anything else is 404 invalid_account_type.
        add("accountType bogus", set(&v, "/cloudAccount/accountType", "bogus"))
            .fails(404, "invalid_account_type").at("cloudAccount.accountType"),
        add("accountType management_group",
            set(&v, "/cloudAccount/accountType", "management_group"))
            .fails(404, "invalid_account_type"),
        add("accountId missing", unset(&v, "/cloudAccount/accountId"))
            .fails(400, ID_FORMAT).at(ACCOUNT_ID),
        // Features: known display names, state enabled|disabled, never the always-on one.
        add("unknown feature", feature("Teleportation", "enabled")).fails(400, BAD).at("features"),
        add("always-on feature sent",
            feature("Cloud Visibility Compliance and Governance", "enabled"))
            .fails(400, BAD).at("features"),
        add("feature state maybe", feature("Remediation", "maybe")).fails(400, BAD).at("features"),
        // Account groups.
        add("groupIds empty", set(&v, "/cloudAccount/groupIds", json!([])))
            .fails(400, "cannot_select_zero_account_groups").at("cloudAccount.groupIds"),
        add("groupIds missing", unset(&v, "/cloudAccount/groupIds"))
            .fails(400, "cannot_select_zero_account_groups"),
        add("groupIds unknown", set(&v, "/cloudAccount/groupIds", json!([UNKNOWN])))
            .fails(400, "invalid_account_group_ids"),
        // Credentials and environment.
        add("environmentType mars", set(&v, "/environmentType", "mars"))
            .fails(400, BAD).at("environmentType"),
        add("key empty", set(&v, "/key", "")).fails(400, BAD).at("key"),
        add("key missing", unset(&v, "/key")).fails(400, BAD).at("key"),
        add("clientId not a GUID", set(&v, "/clientId", "my-app")).fails(400, BAD).at("clientId"),
        add("servicePrincipalId not a GUID", set(&v, "/servicePrincipalId", "sp"))
            .fails(400, BAD).at("servicePrincipalId"),
        // Entra-ID-only tenants: no flow logs, no optional features, filed under the tenant ID.
        add("Entra-only tenant with monitorFlowLogs", set(&entra, "/monitorFlowLogs", true))
            .fails(400, BAD).at("monitorFlowLogs"),
        add("Entra-only tenant with an enabled feature",
            set(&entra, "/features", json!([{"name": "Remediation", "state": "enabled"}])))
            .fails(400, BAD).at("features"),
        add("Entra-only tenant, accountId another GUID",
            set(&entra, "/cloudAccount/accountId", SUB))
            .fails(400, ID_FORMAT).at(ACCOUNT_ID),
        // Tenants with management groups: a default group, a well-formed hierarchySelection.
        add("tenant with rootSync, no defaultAccountGroupId",
            unset(&tenant, "/defaultAccountGroupId"))
            .fails(400, "cannot_select_zero_account_groups").at("defaultAccountGroupId"),
        add("tenant with rootSync, unknown defaultAccountGroupId",
            set(&tenant, "/defaultAccountGroupId", UNKNOWN))
            .fails(400, "invalid_account_group_ids"),
        add("hierarchySelection nodeType PLANET",
            set(&tenant, "/hierarchySelection/0/nodeType", "PLANET"))
            .fails(400, BAD).at("hierarchySelection[0]"),
        add("hierarchySelection selectionType SOME",
            set(&tenant, "/hierarchySelection/0/selectionType", "SOME"))
            .fails(400, BAD).at("hierarchySelection[0]"),
        add("hierarchySelection SUBSCRIPTION with resourceId x",
            set(&tenant, "/hierarchySelection/0",
                json!({"resourceId": "x", "nodeType": "SUBSCRIPTION", "selectionType": "INCLUDE"})))
            .fails(400, BAD).at("hierarchySelection[0]"),
    ]);
    emu.run("add/fields", cases).await;
}

/// A valid body is accepted once; the same account again is `duplicate_cloud_account`, the
/// same name on another subscription `duplicate_cloud_account_name` (§3.3).
#[tokio::test]
async fn add_account_rejects_duplicates() {
    let emu = Emu::start().await;
    let third = "5b4c3d2e-6f7a-4b8c-9d0e-1f2a3b4c5d6e";
    let upper = SUB.to_ascii_uppercase();
    #[rustfmt::skip]
    let cases = vec![
        add("valid subscription", subscription_body(SUB, "dup one")).ok(),
        add("same body again", subscription_body(SUB, "dup one"))
            .fails(400, "duplicate_cloud_account"),
        add("same subscription in upper case, new name", subscription_body(&upper, "dup two"))
            .fails(400, "duplicate_cloud_account"),
        add("same name, other subscription", subscription_body(OTHER_SUB, "dup one"))
            .fails(400, "duplicate_cloud_account_name"),
        add("other subscription, other name", subscription_body(third, "dup three")).ok(),
        add("valid Entra-only tenant", entra_body(TENANT, "dup tenant")).ok(),
        add("same tenant again", entra_body(TENANT, "dup tenant 2"))
            .fails(400, "duplicate_cloud_account"),
    ];
    emu.run("add/duplicates", cases).await;
}

// ---------------------------------------------------------------------------------------------
// PUT /cas/v1/azure_account/{id} (§3.4).

/// Update checks the path ID, finds the account, then applies the add rules to the body.
#[tokio::test]
async fn update_account_rejects_bad_input() {
    let emu = Emu::start().await;
    let put = |name: &str, id: &str, body: Value| {
        Case::new(name, Method::PUT, format!("{ADD}/{id}"), Body::Json(body))
    };
    let v = subscription_body(SUB, "update one");
    #[rustfmt::skip]
    let cases = vec![
        add("setup: first account", v.clone()).ok(),
        add("setup: second account", subscription_body(OTHER_SUB, "update two")).ok(),
        put("unknown account", UNKNOWN, subscription_body(UNKNOWN, "nobody"))
            .fails(404, "not_found"),
        put("path ID not a GUID", "not-a-guid", v.clone()).fails(400, ID_FORMAT),
        put("body accountId differs from the path", SUB, subscription_body(OTHER_SUB, "x"))
            .fails(400, ID_FORMAT).at(ACCOUNT_ID),
        put("accountType bogus", SUB, set(&v, "/cloudAccount/accountType", "bogus"))
            .fails(404, "invalid_account_type"),
        put("name of the other account", SUB, subscription_body(SUB, "update two"))
            .fails(400, "duplicate_cloud_account_name"),
        put("groupIds empty", SUB, set(&v, "/cloudAccount/groupIds", json!([])))
            .fails(400, "cannot_select_zero_account_groups"),
        put("groupIds unknown", SUB, set(&v, "/cloudAccount/groupIds", json!([UNKNOWN])))
            .fails(400, "invalid_account_group_ids"),
        Case::new("non-JSON body", Method::PUT, format!("{ADD}/{SUB}"), Body::text("nope"))
            .fails(400, BAD),
        // §3.4: clients re-send the masked key they read; the stored secret is kept.
        put("masked key re-sent (control)", SUB, set(&v, "/key", "********")).ok(),
    ];
    emu.run("update", cases).await;
}

// ---------------------------------------------------------------------------------------------
// POST /cas/v1/cloud_account/status/azure (§3.5, §6.2): the only documented error is
// `400 bad_request`.

#[tokio::test]
async fn status_check_errors_are_documented_bad_request() {
    let emu = Emu::start().await;
    let v = subscription_body(SUB, "status cases");
    let status = |name: &str, body: Value| post(name, STATUS, Body::Json(body));
    #[rustfmt::skip]
    let cases = vec![
        status("valid body (control)", v.clone()).ok(),
        post("non-JSON body", STATUS, Body::text("nope")).fails(400, BAD),
        status("JSON array", json!([])).fails(400, BAD),
        status("name empty", set(&v, "/cloudAccount/name", "")).fails(400, BAD),
        status("unknown feature", set(&v, "/features", json!([{"name": "X", "state": "enabled"}])))
            .fails(400, BAD),
        status("accountType bogus", set(&v, "/cloudAccount/accountType", "bogus")).fails(400, BAD),
        status("accountId x", set(&v, "/cloudAccount/accountId", "x")).fails(400, BAD),
        status("tenantId x", set(&v, "/tenantId", "x")).fails(400, BAD),
    ];
    emu.run("status", cases).await;
}

// ---------------------------------------------------------------------------------------------
// Authentication (§1, §6.2).

#[tokio::test]
async fn authentication_failures_are_401_or_400() {
    let emu = Emu::start().await;
    let login = |name: &str, body: Value| post(name, "/login", Body::Json(body)).token(None);
    let bearer = format!("Bearer {}", emu.token);
    let spec_content_type = Body::typed(
        Some("application/json; charset=UTF-8"),
        &json!({"username": ACCESS_KEY, "password": SECRET_KEY}),
    );
    #[rustfmt::skip]
    let cases = vec![
        get("no x-redlock-auth", "/cloud").token(None).fails(401, "auth_token_missing"),
        get("empty x-redlock-auth", "/cloud").token(Some("")).fails(401, "auth_token_missing"),
        get("garbage token", "/cloud").token(Some("garbage")).fails(401, "invalid_auth_token"),
        get("three-part garbage token", "/cloud").token(Some("abc.def.ghi"))
            .fails(401, "invalid_auth_token"),
        get("token with a Bearer prefix", "/cloud").token(Some(&bearer))
            .fails(401, "invalid_auth_token"),
        get("extend with a garbage token", "/auth_token/extend").token(Some("garbage"))
            .fails(401, "invalid_auth_token"),
        add("add account without a token", subscription_body(SUB, "no token")).token(None)
            .fails(401, "auth_token_missing"),
        login("wrong password", json!({"username": ACCESS_KEY, "password": "nope"}))
            .fails(401, "invalid_credentials"),
        login("unknown access key", json!({"username": "who", "password": SECRET_KEY}))
            .fails(401, "invalid_credentials"),
        login("unknown customerName",
              json!({"username": ACCESS_KEY, "password": SECRET_KEY, "customerName": "elsewhere"}))
            .fails(401, "invalid_credentials"),
        login("empty object", json!({})).fails(400, BAD),
        login("password missing", json!({"username": ACCESS_KEY})).fails(400, BAD),
        login("username missing", json!({"password": SECRET_KEY})).fails(400, BAD),
        login("password is a number", json!({"username": ACCESS_KEY, "password": 1}))
            .fails(400, BAD).at("password"),
        login("JSON array [key, secret]", json!([ACCESS_KEY, SECRET_KEY]))
            .fails(400, BAD).at("body"),
        post("form-encoded body", "/login", Body::text("username=ak&password=sk")).token(None)
            .fails(400, BAD),
        // The spec's own content type (§1.1) is accepted.
        post("charset=UTF-8 content type (control)", "/login", spec_content_type).token(None).ok(),
    ];
    emu.run("auth", cases).await;
}

// ---------------------------------------------------------------------------------------------
// Path parameters and routing (§3.7, §5.2, §6.2, §8.4).

#[tokio::test]
async fn bad_paths_get_documented_errors() {
    let emu = Emu::start().await;
    let patch = |name: &str, path: String| Case::new(name, Method::PATCH, path, Body::None);
    let delete = |name: &str, path: String| Case::new(name, Method::DELETE, path, Body::None);
    let long = "a".repeat(4000);
    #[rustfmt::skip]
    let cases = vec![
        get("details: ID not a GUID", "/cloud/azure/not-a-guid").fails(400, ID_FORMAT),
        get("details: ID braced", format!("/cloud/azure/%7B{SUB}%7D")).fails(400, ID_FORMAT),
        get("details: 4000-character ID", format!("/cloud/azure/{long}")).fails(400, ID_FORMAT),
        get("details: cloud type aws", format!("/cloud/aws/{SUB}"))
            .fails(400, "invalid_cloud_type"),
        get("details: unknown account", format!("/cloud/azure/{UNKNOWN}")).status(404),
        get("v1 read: unknown account", format!("/v1/cloudAccounts/azureAccounts/{UNKNOWN}"))
            .fails(404, "not_found"),
        get("v1 read: ID not a GUID", "/v1/cloudAccounts/azureAccounts/not-a-guid")
            .fails(400, ID_FORMAT),
        delete("delete: unknown account", format!("/cloud/azure/{UNKNOWN}")).fails(404, ID_FORMAT),
        delete("delete: cloud type gcp", format!("/cloud/gcp/{UNKNOWN}"))
            .fails(400, "invalid_cloud_type"),
        patch("status: enabled=maybe", format!("/cloud/{UNKNOWN}/status/maybe"))
            .fails(400, "invalid_account_patch"),
        patch("status: ID not a GUID", "/cloud/not-a-guid/status/true".to_owned())
            .fails(400, ID_FORMAT),
        patch("status: unknown account", format!("/cloud/{UNKNOWN}/status/false"))
            .fails(404, ID_FORMAT),
        get("config status: ID not a GUID", "/account/not-a-guid/config/status").fails(400, BAD),
        get("config status: unknown account", format!("/account/{UNKNOWN}/config/status"))
            .fails(400, BAD),
        get("unknown route", "/no/such/route").status(404),
        get("unknown CAS route", "/cas/v1/azure_account_typo").status(404),
        get("wrong method on add account", ADD).status(405),
        get("wrong method on login", "/login").status(405),
    ];
    emu.run("paths", cases).await;
    // DELETE of a malformed ID: §6.2 lists invalid_account_id_format under 404 (not 400) for
    // DELETE, while GET answers 400; either status will do, the key is the documented one.
    let a = emu
        .call(Method::DELETE, "/cloud/azure/not-a-guid", Body::None)
        .await
        .unwrap();
    assert!(matches!(a.status, 400 | 404), "{a:?}");
    assert_eq!(a.key.as_deref(), Some(ID_FORMAT), "{a:?}");
}

/// Query strings and percent-encodings the extractors cannot decode are a 400, never a 5xx;
/// the edge layer turns axum's plain-text rejection into an API error (docs/emulator.md §4.1).
#[tokio::test]
async fn undecodable_queries_and_paths_are_400() {
    let emu = Emu::start().await;
    let body = |name: &str| Body::Json(subscription_body(SUB, name));
    #[rustfmt::skip]
    let cases = vec![
        post("skipStatusChecks=true (control)", format!("{ADD}?skipStatusChecks=true"), body("q1"))
            .ok(),
        post("skipStatusChecks=maybe", format!("{ADD}?skipStatusChecks=maybe"), body("q2"))
            .fails(400, "bad_request").at("path_or_query"),
        Case::new("updateChildren=maybe", Method::PATCH,
                  format!("/cloud/{SUB}/status/true?updateChildren=maybe"), Body::None)
            .fails(400, "bad_request").at("path_or_query"),
        get("details: ID with invalid UTF-8 percent-encoding", "/cloud/azure/%FF%FE")
            .fails(400, "bad_request").at("path_or_query"),
    ];
    emu.run("query/path decoding", cases).await;
}

// ---------------------------------------------------------------------------------------------
// Template and features (§3.1, §3.2): errors are `ApiError` JSON bodies (§6.3).

#[tokio::test]
async fn template_and_features_errors_are_json_bodies() {
    let emu = Emu::start().await;
    const TEMPLATE: &str = "/cas/v1/azure_template";
    const FEATURES: &str = "/cas/v1/features/cloud/azure";
    let t = json!({
        "accountType": "account", "tenantId": TENANT, "subscriptionId": SUB,
        "features": ["Remediation"], "deploymentType": "azure",
    });
    let template = |name: &str, body: Value| post(name, TEMPLATE, Body::Json(body));
    let features = |name: &str, body: Value| post(name, FEATURES, Body::Json(body));
    #[rustfmt::skip]
    let cases = vec![
        template("template: valid (control)", t.clone()).ok(),
        template("template: deploymentType azure_china", set(&t, "/deploymentType", "azure_china"))
            .api_error(400),
        template("template: deploymentType mars", set(&t, "/deploymentType", "mars"))
            .api_error(400),
        template("template: tenantId braced", set(&t, "/tenantId", format!("{{{TENANT}}}")))
            .api_error(400),
        template("template: tenantId x", set(&t, "/tenantId", "x")).api_error(400),
        template("template: subscriptionId missing", unset(&t, "/subscriptionId")).api_error(400),
        template("template: unknown feature", set(&t, "/features", json!(["Teleportation"])))
            .api_error(400),
        template("template: always-on feature",
                 set(&t, "/features", json!(["Cloud Visibility Compliance and Governance"])))
            .api_error(400),
        template("template: accountType organization", set(&t, "/accountType", "organization"))
            .api_error(400),
        template("template: features is a string", set(&t, "/features", "Remediation"))
            .api_error(400),
        post("template: non-JSON", TEMPLATE, Body::text("nope")).api_error(400),
        post("template: no Content-Type", TEMPLATE, Body::typed(None, &t)).api_error(400),
        features("features: valid (control)", json!({"accountType": "account"})).ok(),
        features("features: accountType organization", json!({"accountType": "organization"}))
            .api_error(400),
        features("features: deploymentType mars",
                 json!({"accountType": "account", "deploymentType": "mars"}))
            .api_error(400),
        features("features: accountType missing", json!({"deploymentType": "azure"}))
            .api_error(400),
        features("features: JSON array", json!([])).api_error(400),
        post("features: non-JSON", FEATURES, Body::text("nope")).api_error(400),
    ];
    emu.run("template/features", cases).await;
}

// ---------------------------------------------------------------------------------------------
// Account groups (§8.5).

#[tokio::test]
async fn account_group_errors() {
    let emu = Emu::start().await;
    let group = |name: &str, body: Value| post(name, "/cloud/group", Body::Json(body));
    let named = |name: &str| json!({"name": name, "accountIds": []});
    #[rustfmt::skip]
    let cases = vec![
        group("empty name", named("")).fails(400, "invalid_account_group_name").at("name"),
        group("whitespace name", named("   ")).fails(400, "invalid_account_group_name"),
        // Every tenant has "Default Account Group"; names compare case-insensitively.
        group("default group's name, lower case", named("default account group"))
            .fails(400, "account_group_name_already_exists"),
        group("default group's name, padded", named("  Default Account Group  "))
            .fails(400, "account_group_name_already_exists"),
        group("unknown accountIds", json!({"name": "g1", "accountIds": [UNKNOWN]}))
            .fails(400, "invalid_account_ids"),
        group("accountIds not GUIDs", json!({"name": "g2", "accountIds": ["x"]}))
            .fails(400, "invalid_account_ids"),
        group("name missing", json!({"accountIds": []})).status(400),
        group("name is a number", json!({"name": 5, "accountIds": []})).status(400),
        post("non-JSON", "/cloud/group", Body::text("nope")).fails(400, BAD),
        group("new group (control)", named("Bad Input Group")).ok(),
        group("same name, other case", named("BAD INPUT GROUP"))
            .fails(400, "account_group_name_already_exists"),
    ];
    emu.run("groups", cases).await;
}

// ---------------------------------------------------------------------------------------------
// Tenant children (§3.6): 400 bad_request.

#[tokio::test]
async fn children_errors() {
    let emu = Emu::start().await;
    let path = |parent: &str| {
        format!("/cloud-accounts-manager/v1/cloudAccounts/azureAccounts/{parent}/children")
    };
    let v = json!({
        "cloudAccount": {"accountType": "tenant", "accountId": TENANT},
        "clientId": CLIENT, "key": "client-secret-value", "tenantId": TENANT,
        "servicePrincipalId": SP, "environmentType": "azure",
        "rootSyncEnabled": true, "monitorFlowLogs": false,
    });
    let children = |name: &str, body: Value| post(name, path(TENANT), Body::Json(body));
    #[rustfmt::skip]
    let cases = vec![
        children("valid (control)", v.clone()).ok(),
        children("rootSyncEnabled false", set(&v, "/rootSyncEnabled", false)).fails(400, BAD),
        children("rootSyncEnabled missing", unset(&v, "/rootSyncEnabled")).fails(400, BAD),
        children("key empty", set(&v, "/key", "")).fails(400, BAD).at("key"),
        children("accountType account", set(&v, "/cloudAccount/accountType", "account"))
            .fails(400, BAD),
        children("tenantId x", set(&v, "/tenantId", "x")).fails(400, BAD).at("tenantId"),
        children("clientId not a GUID", set(&v, "/clientId", "app")).fails(400, BAD).at("clientId"),
        post("parent with illegal characters", path("bad%20parent!"), Body::Json(v.clone()))
            .fails(400, BAD),
        post("non-JSON", path(TENANT), Body::text("nope")).fails(400, BAD),
    ];
    emu.run("children", cases).await;
}

// ---------------------------------------------------------------------------------------------
// Legacy v1 endpoints (§3.8): `azure` is the only cloud type here.

#[tokio::test]
async fn legacy_endpoints_reject_other_clouds() {
    let emu = Emu::start().await;
    let v = subscription_body(SUB, "legacy");
    let body = || Body::Json(v.clone());
    let bogus = Body::Json(set(&v, "/cloudAccount/accountType", "bogus"));
    #[rustfmt::skip]
    let cases = vec![
        post("add: cloud type aws", "/cloud/aws", body()).fails(400, "invalid_cloud_type"),
        post("status: cloud type oci", "/cloud/status/oci", body())
            .fails(400, "invalid_cloud_type"),
        Case::new("update: cloud type gcp", Method::PUT, format!("/cloud/gcp/{SUB}"), body())
            .fails(400, "invalid_cloud_type"),
        post("add: accountType bogus", "/cloud/azure", bogus).fails(404, "invalid_account_type"),
        post("add: non-JSON", "/cloud/azure", Body::text("nope")).fails(400, BAD),
    ];
    emu.run("legacy", cases).await;
}

// ---------------------------------------------------------------------------------------------
// Fuzz-ish: 200 randomly mutated bodies (fixed seed) against add and status-check. Every answer
// must be 2xx or 4xx, and the server must still answer afterwards.

/// One step of a path into a JSON value.
#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Every path to a value under `v` (not the root itself).
fn paths(v: &Value, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    let children: Vec<(Seg, &Value)> = match v {
        Value::Object(m) => m.iter().map(|(k, c)| (Seg::Key(k.clone()), c)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, c)| (Seg::Index(i), c))
            .collect(),
        _ => Vec::new(),
    };
    for (seg, child) in children {
        prefix.push(seg);
        out.push(prefix.clone());
        paths(child, prefix, out);
        prefix.pop();
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, seg| match seg {
        Seg::Key(k) => v.get_mut(k.as_str()),
        Seg::Index(i) => v.get_mut(*i),
    })
}

/// Drops a random field or replaces a random value with something of the wrong kind.
fn mutate(rng: &mut StdRng, body: &mut Value) {
    let mut all = Vec::new();
    paths(body, &mut Vec::new(), &mut all);
    if all.is_empty() {
        return;
    }
    let path = all[rng.random_range(0..all.len())].clone();
    let replacement = match rng.random_range(0..8) {
        0 => {
            let (last, parent) = path.split_last().unwrap();
            match (at_mut(body, parent), last) {
                (Some(Value::Object(m)), Seg::Key(k)) => {
                    m.remove(k);
                }
                (Some(Value::Array(a)), Seg::Index(i)) => {
                    a.remove(*i);
                }
                _ => {}
            }
            return;
        }
        1 => Value::Null,
        2 => match rng.random_range(0..4) {
            0 => json!(rng.random_range(-1_000_000i64..1_000_000)),
            1 => json!(1e308),
            2 => json!(u64::MAX),
            _ => json!(-0.5),
        },
        3 => json!("x".repeat(rng.random_range(256..40_000))),
        4 => json!({"nested": {"deeper": [1, {"x": null}, "y"]}}),
        5 => json!(["a", 1, null]),
        6 => json!(rng.random_bool(0.5)),
        _ => {
            let odd = [
                "",
                " ",
                "\u{0}",
                "\u{202e}ü✓",
                "{}",
                "-1",
                "00000000-0000-0000-0000-000000000000",
            ];
            json!(odd[rng.random_range(0..odd.len())])
        }
    };
    if let Some(slot) = at_mut(body, &path) {
        *slot = replacement;
    }
}

#[tokio::test]
async fn fuzzed_bodies_never_cause_server_errors() {
    let emu = Emu::start().await;
    let mut rng = StdRng::seed_from_u64(0x0BAD_1A7E);
    let mut tally = std::collections::BTreeMap::<(&str, u16), u32>::new();
    let mut failures = Vec::new();
    for i in 0..200u32 {
        let sub = format!("3f2c1a3e-4b5d-4c6e-9f70-{:012x}", i + 1);
        let tenant = format!("{:08x}-4e5f-4a6b-8c7d-9e0f1a2b3c4d", 0x7a00_0000 + i);
        let name = format!("fuzz {i}");
        let mut body = match i % 3 {
            0 => subscription_body(&sub, &name),
            1 => tenant_body(&tenant, &name),
            _ => entra_body(&tenant, &name),
        };
        for _ in 0..rng.random_range(1..=3) {
            mutate(&mut rng, &mut body);
        }
        for path in [STATUS, ADD] {
            match emu.call(Method::POST, path, Body::Json(body.clone())).await {
                Ok(a) if (200..300).contains(&a.status) || (400..500).contains(&a.status) => {
                    *tally.entry((path, a.status)).or_default() += 1;
                }
                Ok(a) => failures.push(format!(
                    "#{i} {path}: {} {:?} {:?} for {}",
                    a.status,
                    a.key,
                    a.subject,
                    shorten(&body)
                )),
                Err(e) => failures.push(format!("#{i} {path}: {e} for {}", shorten(&body))),
            }
        }
    }
    println!("fuzz answers (endpoint, status) -> count: {tally:?}");
    assert!(
        failures.is_empty(),
        "{} bad answer(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    // The mutations must exercise both sides, or the loop proves little.
    assert!(
        tally.keys().any(|(_, s)| *s == 200),
        "no mutated body was accepted: {tally:?}"
    );
    assert!(
        tally.keys().any(|(_, s)| *s == 400),
        "no mutated body was rejected: {tally:?}"
    );
    // Still answering: a fresh login and a read.
    emu.login()
        .await
        .expect("login still works after the fuzz loop");
    let a = emu
        .call(Method::GET, "/cloud", Body::None)
        .await
        .expect("GET /cloud answers");
    assert_eq!(a.status, 200, "{a:?}");
}

/// A body for a failure message, without kilobytes of filler.
fn shorten(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 600 {
        format!("{}…", s.chars().take(600).collect::<String>())
    } else {
        s
    }
}
