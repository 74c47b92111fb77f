//! The emulated Entra ID provider on 127.0.0.1:0, driven over HTTP the way a relying party does:
//! discovery, the sign-in page, the token endpoint, the JWKS (signatures checked here with
//! aws-lc against the published `n`/`e`), rotation, overage, refusals.

use std::collections::HashMap;

use azure_emulator::entra::{SANDBOX_ADMINS_GROUP, SANDBOX_OPERATOR_APP_ROLE};
use azure_emulator::{EntraConfig, RunningAzure};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

const CLIENT: &str = "6f2b0a4e-1c3d-4e5f-8a9b-0c1d2e3f4a5b";
const SECRET: &str = "emulator-test-secret";
const REDIRECT: &str = "http://127.0.0.1:9/auth/oidc/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-extra";

async fn start() -> RunningAzure {
    azure_emulator::spawn(
        "127.0.0.1:0".parse().unwrap(),
        EntraConfig::sandbox(CLIENT, SECRET, REDIRECT, "http://127.0.0.1:9/login"),
        std::future::pending(),
    )
    .await
    .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn challenge(verifier: &str) -> String {
    use sha2::Digest as _;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

#[test]
fn the_challenge_is_rfc7636s() {
    // RFC 7636 appendix B.
    assert_eq!(
        challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

fn authorize_query(nonce: &str, redirect: &str) -> Vec<(&'static str, String)> {
    vec![
        ("client_id", CLIENT.into()),
        ("response_type", "code".into()),
        ("redirect_uri", redirect.into()),
        ("scope", "openid profile email".into()),
        ("state", "st-123".into()),
        ("nonce", nonce.into()),
        ("code_challenge", challenge(VERIFIER)),
        ("code_challenge_method", "S256".into()),
    ]
}

/// `application/x-www-form-urlencoded` (reqwest's `form` feature is off in the workspace).
fn form_body<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k.as_ref(), v.as_ref());
    }
    s.finish()
}

fn location_query(r: &reqwest::Response) -> HashMap<String, String> {
    let location = r.headers()["location"].to_str().unwrap();
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

/// Signs `user` in on the page; returns the code.
async fn sign_in(azure: &RunningAzure, user: &str, nonce: &str) -> String {
    let authorize = format!("{}/oauth2/v2.0/authorize", tenant_url(azure));
    let page = http()
        .get(&authorize)
        .query(&authorize_query(nonce, REDIRECT))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("alice@contoso.example"), "{html}");
    let mut form = authorize_query(nonce, REDIRECT);
    form.push(("user", user.into()));
    let r = http()
        .post(&authorize)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&form))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let q = location_query(&r);
    assert_eq!(q["state"], "st-123");
    q["code"].clone()
}

fn tenant_url(azure: &RunningAzure) -> String {
    format!(
        "{}/{}",
        azure.base_url(),
        azure_emulator::entra::SANDBOX_TENANT
    )
}

async fn redeem(azure: &RunningAzure, code: &str, verifier: &str) -> reqwest::Response {
    redeem_as(azure, code, verifier, SECRET).await
}

async fn redeem_as(
    azure: &RunningAzure,
    code: &str,
    verifier: &str,
    secret: &str,
) -> reqwest::Response {
    http()
        .post(format!("{}/oauth2/v2.0/token", tenant_url(azure)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT),
            ("client_secret", secret),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ]))
        .send()
        .await
        .unwrap()
}

fn part(jwt: &str, i: usize) -> Value {
    let p = jwt.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

/// Checks the RS256 signature against the JWKS key named by the token's `kid`.
fn verify(jwt: &str, jwks: &Value) -> bool {
    let kid = part(jwt, 0)["kid"].as_str().unwrap().to_owned();
    let Some(key) = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
    else {
        return false;
    };
    let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(key["e"].as_str().unwrap()).unwrap();
    let (input, sig) = jwt.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let components = aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e };
    components
        .verify(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            &sig,
        )
        .is_ok()
}

async fn jwks(azure: &RunningAzure) -> Value {
    http()
        .get(format!("{}/discovery/v2.0/keys", tenant_url(azure)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn discovery_sign_in_and_token_as_a_relying_party_sees_them() {
    let azure = start().await;
    let doc: Value = http()
        .get(format!(
            "{}/v2.0/.well-known/openid-configuration",
            tenant_url(&azure)
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], azure.issuer());
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{}/oauth2/v2.0/authorize", tenant_url(&azure))
    );
    assert_eq!(doc["id_token_signing_alg_values_supported"][0], "RS256");

    let code = sign_in(&azure, "alice@contoso.example", "n-1").await;
    let r = redeem(&azure, &code, VERIFIER).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let id_token = body["id_token"].as_str().unwrap();
    assert!(verify(id_token, &jwks(&azure).await));
    let claims = part(id_token, 1);
    assert_eq!(claims["aud"], CLIENT);
    assert_eq!(claims["iss"], azure.issuer());
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["oid"], "1a000000-0000-4000-8000-00000000a001");
    assert_eq!(claims["preferred_username"], "alice@contoso.example");
    assert_eq!(claims["name"], "Alice Admin");
    assert!(
        claims["groups"]
            .as_array()
            .unwrap()
            .contains(&Value::from(SANDBOX_ADMINS_GROUP))
    );
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    assert_eq!(part(id_token, 0)["alg"], "RS256");

    // One-time codes: the replay is refused as Entra does.
    let again = redeem(&azure, &code, VERIFIER).await;
    assert_eq!(again.status(), 400);
    let e: Value = again.json().await.unwrap();
    assert_eq!(e["error"], "invalid_grant");
    assert_eq!(e["error_codes"][0], 54005);
}

#[tokio::test]
async fn pkce_client_secret_and_redirect_uri_are_enforced() {
    let azure = start().await;
    let code = sign_in(&azure, "vera@contoso.example", "n").await;
    let wrong = redeem(
        &azure,
        &code,
        "a-different-verifier-that-is-long-enough-1234567",
    )
    .await;
    let e: Value = wrong.json().await.unwrap();
    assert_eq!(e["error_codes"][0], 501481, "{e}");

    let code = sign_in(&azure, "vera@contoso.example", "n").await;
    let r = redeem_as(&azure, &code, VERIFIER, "wrong").await;
    assert_eq!(r.status(), 401);

    // A redirect URI that is not registered: an error page, never a redirect.
    let authorize = format!("{}/oauth2/v2.0/authorize", tenant_url(&azure));
    let r = http()
        .get(&authorize)
        .query(&authorize_query("n", "http://evil.example/cb"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("AADSTS50011"));

    // No PKCE: refused on the redirect URI with the state.
    let mut q = authorize_query("n", REDIRECT);
    q.retain(|(k, _)| !k.starts_with("code_challenge"));
    let r = http().get(&authorize).query(&q).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let back = location_query(&r);
    assert_eq!(back["error"], "invalid_request");
    assert_eq!(back["state"], "st-123");
    assert!(back["error_description"].contains("AADSTS9002325"));

    // Cancel on the page: access_denied.
    let mut form = authorize_query("n", REDIRECT);
    form.push(("cancel", "1".into()));
    let r = http()
        .post(&authorize)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&form))
        .send()
        .await
        .unwrap();
    assert_eq!(location_query(&r)["error"], "access_denied");
}

#[tokio::test]
async fn rotation_publishes_the_new_key_and_keeps_the_old_one() {
    let azure = start().await;
    let code = sign_in(&azure, "alice@contoso.example", "n").await;
    let before: Value = redeem(&azure, &code, VERIFIER).await.json().await.unwrap();
    let old_token = before["id_token"].as_str().unwrap().to_owned();
    let rotated: Value = http()
        .post(format!("{}/_emulator/entra/keys/rotate", azure.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rotated["previous"], part(&old_token, 0)["kid"]);
    let code = sign_in(&azure, "alice@contoso.example", "n").await;
    let after: Value = redeem(&azure, &code, VERIFIER).await.json().await.unwrap();
    let new_token = after["id_token"].as_str().unwrap();
    assert_eq!(part(new_token, 0)["kid"], rotated["kid"]);
    let set = jwks(&azure).await;
    assert!(verify(new_token, &set), "new key published");
    assert!(verify(&old_token, &set), "old key still published");
}

#[tokio::test]
async fn overage_app_roles_and_faults() {
    let azure = start().await;
    let code = sign_in(&azure, "gina@contoso.example", "n").await;
    let body: Value = redeem(&azure, &code, VERIFIER).await.json().await.unwrap();
    let claims = part(body["id_token"].as_str().unwrap(), 1);
    assert!(claims.get("groups").is_none());
    assert_eq!(claims["_claim_names"]["groups"], "src1");
    assert!(
        claims["_claim_sources"]["src1"]["endpoint"]
            .as_str()
            .unwrap()
            .ends_with("/users/1a000000-0000-4000-8000-00000000a005/getMemberObjects")
    );
    assert_eq!(claims["roles"][0], SANDBOX_OPERATOR_APP_ROLE);

    // A fault applies to the next token only.
    let r = http()
        .post(format!("{}/_emulator/entra/next-token", azure.base_url()))
        .json(&serde_json::json!({"bad_signature": true, "audience": "someone-else"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let code = sign_in(&azure, "alice@contoso.example", "n").await;
    let body: Value = redeem(&azure, &code, VERIFIER).await.json().await.unwrap();
    let bad = body["id_token"].as_str().unwrap();
    assert_eq!(part(bad, 1)["aud"], "someone-else");
    assert!(!verify(bad, &jwks(&azure).await));
    let code = sign_in(&azure, "alice@contoso.example", "n").await;
    let body: Value = redeem(&azure, &code, VERIFIER).await.json().await.unwrap();
    assert!(verify(
        body["id_token"].as_str().unwrap(),
        &jwks(&azure).await
    ));

    // Unknown users are refused on the page.
    let mut form = authorize_query("n", REDIRECT);
    form.push(("user", "mallory@contoso.example".into()));
    let r = http()
        .post(format!("{}/oauth2/v2.0/authorize", tenant_url(&azure)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&form))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS50034"));

    // End-session goes back only to a registered URI.
    let logout = format!("{}/oauth2/v2.0/logout", tenant_url(&azure));
    let r = http()
        .get(&logout)
        .query(&[("post_logout_redirect_uri", "http://127.0.0.1:9/login")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = http()
        .get(&logout)
        .query(&[("post_logout_redirect_uri", "http://evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You signed out"));
}
