//! The runtime health controls (`crate::aging`): a capability made to fail and recover on an
//! onboarded account, and a client secret aged past its end date by advancing the emulator
//! clock — with no waiting, behind the admin token.

use prisma_emulator::{EmulatorConfig, RunningEmulator};
use prisma_types::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const KEY: &str = "aging-test-key";
const SECRET: &str = "aging-test-secret-0123456789";
const ADMIN: &str = "aging-admin-token";
const SUB: &str = "5ab1e000-1111-4222-8333-444444444444";
const TENANT: &str = "7e7a0000-1111-4222-8333-444444444444";

struct Emu {
    emu: RunningEmulator,
    _stop: CancellationToken,
    http: reqwest::Client,
    token: String,
}

impl Emu {
    async fn start() -> Emu {
        let mut config = EmulatorConfig::new(KEY, SecretString::from(SECRET));
        config.admin_token = Some(SecretString::from(ADMIN.to_owned()));
        let stop = CancellationToken::new();
        let emu = prisma_emulator::spawn(
            "127.0.0.1:0".parse().unwrap(),
            config,
            None,
            stop.clone().cancelled_owned(),
        )
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let login: Value = http
            .post(format!("{}/login", emu.base_url()))
            .json(&json!({"username": KEY, "password": SECRET}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["token"].as_str().unwrap().to_owned();
        Emu {
            emu,
            _stop: stop,
            http,
            token,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    async fn account_body(&self, key: &str) -> Value {
        let groups: Value = self
            .http
            .get(self.url("/cloud/group"))
            .header("x-redlock-auth", &self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        json!({
            "cloudAccount": {"accountId": SUB, "accountType": "account", "enabled": true,
                             "name": "aging", "groupIds": [groups[0]["id"]]},
            "clientId": "c11e0000-1111-4222-8333-444444444444", "key": key, "tenantId": TENANT,
            "servicePrincipalId": "5e550000-1111-4222-8333-444444444444",
            "environmentType": "azure", "monitorFlowLogs": true,
        })
    }

    async fn onboard(&self, key: &str) {
        let add = self
            .http
            .post(self.url("/cas/v1/azure_account"))
            .header("x-redlock-auth", &self.token)
            .json(&self.account_body(key).await);
        assert_eq!(add.send().await.unwrap().status(), 200);
    }

    /// Rotates the account's key (what a secret rotation sends).
    async fn update_key(&self, key: &str) {
        let put = self
            .http
            .put(self.url(&format!("/cas/v1/azure_account/{SUB}")))
            .header("x-redlock-auth", &self.token)
            .json(&self.account_body(key).await);
        let answer = put.send().await.unwrap();
        assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    }

    /// `GET /account/{id}/config/status`: (component, status, message) of each problem.
    async fn problems(&self) -> Vec<(String, String, String)> {
        let items: Vec<Value> = self
            .http
            .get(self.url(&format!("/account/{SUB}/config/status")))
            .header("x-redlock-auth", &self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        items
            .iter()
            .map(|i| {
                let text = |k: &str| i[k].as_str().unwrap().to_owned();
                (text("name"), text("status"), text("message"))
            })
            .collect()
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> reqwest::Response {
        self.http
            .request(method, self.url(path))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_capability_fails_and_recovers_at_runtime() {
    let e = Emu::start().await;
    e.onboard("first-client-secret").await;
    assert!(e.problems().await.is_empty());

    let path = format!("/_emulator/accounts/{SUB}/scenario");
    let failed = e
        .admin(
            reqwest::Method::PUT,
            &path,
            json!({"scenario": "flow_logs_role_missing"}),
        )
        .await;
    assert_eq!(failed.status(), 204);
    let problems = e.problems().await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, "Flow Logs");
    assert_eq!(problems[0].1, "error");
    assert!(problems[0].2.contains("queryFlowLogStatus"), "{problems:?}");
    // The list's summary follows.
    let list: Vec<Value> = e
        .http
        .get(e.url("/cloud"))
        .header("x-redlock-auth", &e.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["status"], "error");

    let healthy = json!({"scenario": "healthy"});
    assert_eq!(
        e.admin(reqwest::Method::PUT, &path, healthy).await.status(),
        204
    );
    assert!(e.problems().await.is_empty());
}

#[tokio::test]
async fn a_secret_expires_when_the_clock_passes_its_end_date_and_a_new_key_heals() {
    let e = Emu::start().await;
    e.onboard("first-client-secret").await;
    let clock: Value = e
        .admin(reqwest::Method::GET, "/_emulator/clock", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(clock["offset_secs"], 0);
    let now = time::OffsetDateTime::parse(
        clock["now"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let end = (now + time::Duration::days(7))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let set = e
        .admin(
            reqwest::Method::PUT,
            &format!("/_emulator/accounts/{SUB}/secret"),
            json!({"end_date": end}),
        )
        .await;
    assert_eq!(set.status(), 204);
    assert!(e.problems().await.is_empty(), "not expired yet");

    let advanced: Value = e
        .admin(
            reqwest::Method::POST,
            "/_emulator/clock",
            json!({"advance_secs": 8 * 86400}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(advanced["offset_secs"], 8 * 86400);
    let problems = e.problems().await;
    assert_eq!(problems.len(), 2, "every capability: {problems:?}");
    assert!(
        problems
            .iter()
            .all(|(_, s, m)| s == "error" && m.contains("AADSTS7000222")),
        "{problems:?}"
    );

    // A rotation (an update with a new key) leaves the old secret's end date behind.
    e.update_key("second-client-secret").await;
    assert!(e.problems().await.is_empty());
}

#[tokio::test]
async fn the_controls_need_the_admin_token_and_name_bad_fields() {
    let e = Emu::start().await;
    e.onboard("first-client-secret").await;
    let path = format!("/_emulator/accounts/{SUB}/scenario");
    let anonymous = e
        .http
        .put(e.url(&path))
        .json(&json!({"scenario": "healthy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let clock = e.http.get(e.url("/_emulator/clock")).send().await.unwrap();
    assert_eq!(clock.status(), 401);

    let bad = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    };
    let (status, text) = bad(e
        .admin(reqwest::Method::PUT, &path, json!({"scenario": "on_fire"}))
        .await)
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("on_fire") && text.contains("flow_logs_role_missing"));
    let other = "0ff00000-1111-4222-8333-444444444444";
    let (status, text) = bad(e
        .admin(
            reqwest::Method::PUT,
            &format!("/_emulator/accounts/{other}/scenario"),
            json!({"scenario": "healthy"}),
        )
        .await)
    .await;
    assert_eq!(status, 404, "{text}");
    let (status, text) = bad(e
        .admin(
            reqwest::Method::PUT,
            &format!("/_emulator/accounts/{SUB}/secret"),
            json!({"end_date": "next tuesday"}),
        )
        .await)
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("end_date"), "{text}");
    let (status, text) = bad(e
        .admin(
            reqwest::Method::POST,
            "/_emulator/clock",
            json!({"advance_secs": -5}),
        )
        .await)
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("advance_secs"), "{text}");
}
