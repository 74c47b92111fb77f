//! A web server with single sign-on against the emulated Entra ID on loopback, and a client
//! that walks the browser's part of the flow (start → the provider's sign-in page → callback),
//! keeping the cookies by hand.

#![allow(dead_code)]

use std::collections::BTreeMap;

use azure_emulator::entra::{
    DirectoryUser, SANDBOX_ADMINS_GROUP, SANDBOX_OPERATOR_APP_ROLE, SANDBOX_VIEWERS_GROUP,
};
use azure_emulator::{EntraConfig, RunningAzure, TokenFaults};
use cortex_store::AuditRecord;
use cortex_web::auth::oidc::{OidcConfig, OidcSettings};
use cortex_web::{AppState, AuthStore, Role, WebConfig};
use prisma_types::SecretString;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use super::common::{ADMIN, engine_on};

pub const CLIENT_ID: &str = "3f6c2b1a-0d4e-4f5a-9b8c-7d6e5f4a3b2c";
/// A recognisable client secret: the canary test looks for it in the logs.
pub const CLIENT_SECRET: &str = "CANARY-OIDC-CLIENT-SECRET-q8Zt~1";

pub struct SsoOptions {
    pub local_users: bool,
    /// Register our callback at the provider (false: the provider does not know it).
    pub register_redirect: bool,
    /// Map the operator app role.
    pub map_app_roles: bool,
    /// Directory users beyond the sandbox's five.
    pub extra_users: Vec<DirectoryUser>,
}

impl Default for SsoOptions {
    fn default() -> Self {
        Self {
            local_users: true,
            register_redirect: true,
            map_app_roles: true,
            extra_users: Vec::new(),
        }
    }
}

pub struct SsoServer {
    pub azure: RunningAzure,
    pub base: String,
    pub engine: onboarding_engine::Engine,
    pub http: reqwest::Client,
    stop: CancellationToken,
    _dir: TempDir,
}

impl Drop for SsoServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The value of cookie `name` among a response's `Set-Cookie` headers.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location: {}", r.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

impl SsoServer {
    pub async fn start(options: SsoOptions) -> Self {
        let stop = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let redirect = format!("{base}/auth/oidc/callback");
        let registered = if options.register_redirect {
            redirect.clone()
        } else {
            "http://127.0.0.1:1/auth/oidc/callback".to_owned()
        };
        let mut tenant = EntraConfig::sandbox(
            CLIENT_ID,
            CLIENT_SECRET,
            &registered,
            &format!("{base}/login"),
        );
        tenant.users.extend(options.extra_users);
        let azure = azure_emulator::spawn(
            "127.0.0.1:0".parse().unwrap(),
            tenant,
            stop.clone().cancelled_owned(),
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        // No job runs here: the engine's Prisma Cloud is never called.
        let engine = engine_on(dir.path(), "http://127.0.0.1:9").await;
        let mut web = WebConfig::for_data_dir(dir.path());
        web.local_users = options.local_users;
        let mut app_roles = BTreeMap::new();
        if options.map_app_roles {
            app_roles.insert(SANDBOX_OPERATOR_APP_ROLE.to_owned(), "operator".to_owned());
        }
        web.oidc = Some(
            OidcConfig::check(OidcSettings {
                issuer: Some(azure.issuer()),
                client_id: Some(CLIENT_ID.into()),
                client_secret: Some(SecretString::from(CLIENT_SECRET)),
                redirect_url: Some(redirect),
                groups: Some(BTreeMap::from([
                    (SANDBOX_ADMINS_GROUP.to_owned(), "admin".to_owned()),
                    (SANDBOX_VIEWERS_GROUP.to_owned(), "viewer".to_owned()),
                ])),
                app_roles: Some(app_roles),
                ..OidcSettings::default()
            })
            .unwrap(),
        );
        let auth = AuthStore::open(&web.auth_database).await.unwrap();
        auth.create_user(ADMIN.0, &SecretString::from(ADMIN.1), Role::Admin)
            .await
            .unwrap();
        let app = AppState::new(engine.clone(), auth, web).unwrap();
        tokio::spawn(cortex_web::serve(
            listener,
            app,
            stop.clone().cancelled_owned(),
        ));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        SsoServer {
            azure,
            base,
            engine,
            http,
            stop,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /auth/oidc/start`: the provider's authorize URL and the state cookie.
    pub async fn start_login(&self, next: &str) -> (String, String) {
        let r = self
            .http
            .get(self.url(&format!("/auth/oidc/start?next={next}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{:?}", r.text().await);
        let state = set_cookie(&r, "cortex_oidc_state").expect("the state cookie");
        (location(&r), state)
    }

    /// Submits the provider's sign-in page for `user` (as its form does); the callback URL.
    pub async fn pick_user(&self, authorize_url: &str, user: &str) -> reqwest::Response {
        let page = self.http.get(authorize_url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        self.submit_authorize(authorize_url, "user", user).await
    }

    /// POSTs the sign-in page's form: the authorize request's parameters and `field=value`.
    pub async fn submit_authorize(
        &self,
        authorize_url: &str,
        field: &str,
        value: &str,
    ) -> reqwest::Response {
        let url = url::Url::parse(authorize_url).unwrap();
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in url.query_pairs() {
            form.append_pair(&k, &v);
        }
        form.append_pair(field, value);
        let mut action = url.clone();
        action.set_query(None);
        self.http
            .post(action)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.finish())
            .send()
            .await
            .unwrap()
    }

    /// The callback with (or without) the state cookie.
    pub async fn callback(&self, callback_url: &str, state: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(callback_url);
        if let Some(s) = state {
            req = req.header("cookie", format!("cortex_oidc_state={s}"));
        }
        req.send().await.unwrap()
    }

    /// The whole flow for `user`: the callback's response, and its URL (to replay it).
    pub async fn sign_in(&self, user: &str) -> (reqwest::Response, String, String) {
        let (authorize, state) = self.start_login("/").await;
        let r = self.pick_user(&authorize, user).await;
        assert_eq!(r.status(), 303, "{:?}", r.text().await);
        let callback = location(&r);
        assert!(callback.starts_with(&self.base), "{callback}");
        (
            self.callback(&callback, Some(&state)).await,
            callback,
            state,
        )
    }

    /// The session (`name`, `role`) behind a session cookie value.
    pub async fn whoami(&self, session: &str) -> (String, String) {
        let r = self
            .http
            .get(self.url("/api/v1/auth/session"))
            .header("cookie", format!("cortex_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        (
            v["user"]["name"].as_str().unwrap().to_owned(),
            v["user"]["role"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn fault_next_token(&self, faults: TokenFaults) {
        self.azure.entra.set_next_token_faults(faults);
    }

    pub async fn audit(&self) -> Vec<AuditRecord> {
        self.engine.store().list_audit(100).await.unwrap()
    }
}

/// A directory user in more groups than fit in a token, with no app role.
pub fn overage_user() -> DirectoryUser {
    DirectoryUser {
        object_id: "1a000000-0000-4000-8000-00000000a0ff".into(),
        user_principal_name: "henry@contoso.example".into(),
        display_name: "Henry Overage".into(),
        groups: (0..250)
            .map(|i| format!("7f000000-0000-4000-8000-{i:012x}"))
            .chain([SANDBOX_ADMINS_GROUP.to_owned()])
            .collect(),
        app_roles: Vec::new(),
    }
}
