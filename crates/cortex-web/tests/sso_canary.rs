//! Nothing about tokens in the logs: a whole single sign-on (and a refused one) with every log
//! line captured at trace level; neither the client secret, the authorization code, the state,
//! nor any JWT (`eyJ…`) appears.
//!
//! Its own test binary: it installs the process-wide tracing subscriber.

#[path = "web/common.rs"]
mod common;
#[path = "web/sso_harness.rs"]
mod sso_harness;

use azure_emulator::TokenFaults;
use prisma_types::testing::LogCapture;
use sso_harness::{CLIENT_SECRET, SsoOptions, SsoServer, set_cookie};

#[test]
fn no_token_secret_or_code_reaches_the_logs() {
    let capture = LogCapture::install_global();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = SsoServer::start(SsoOptions::default()).await;
        let (r, callback, state) = server.sign_in("alice@contoso.example").await;
        assert_eq!(r.status(), 200);
        let session = set_cookie(&r, "cortex_session").unwrap();
        let code = url::Url::parse(&callback)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        // A refused one logs its reason, and still nothing else.
        server
            .fault_next_token(TokenFaults {
                bad_signature: true,
                ..TokenFaults::default()
            })
            .await;
        let (r, _, _) = server.sign_in("alice@contoso.example").await;
        assert_eq!(r.status(), 401);
        let audit = serde_json::to_string(&server.audit().await).unwrap();

        let logs = capture.text();
        assert!(
            logs.contains("single sign-on refused"),
            "the refusal is logged"
        );
        for (what, canary) in [
            ("client secret", CLIENT_SECRET),
            ("authorization code", code.as_str()),
            ("state", state.as_str()),
            ("session cookie", session.as_str()),
            ("a JWT", "eyJ"),
        ] {
            assert!(!logs.contains(canary), "the {what} is in the logs");
            assert!(!audit.contains(canary), "the {what} is in the audit log");
        }
    });
}
