//! The batch's identity choice at the HTTP edge: the API's `identity_per` (default: one
//! identity per tenant) and the bulk page's radio buttons.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::*;
use crate::workflows::{page, post_form};

/// Submits `rows` as a batch; waits for its jobs; their client IDs.
async fn batch_client_ids(server: &Server, auth: &Auth, body: Value) -> BTreeSet<String> {
    let (status, accepted) = server
        .call("POST", "/api/v1/batches", auth, Some(body))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let mut ids = BTreeSet::new();
    for job in accepted["jobs"].as_array().unwrap() {
        let job = job.as_str().unwrap();
        let state = server.wait_for(job, |s| s.is_terminal()).await;
        let (_, view) = server
            .call("GET", &format!("/api/v1/jobs/{job}"), auth, None)
            .await;
        assert_eq!(state.to_string(), "succeeded", "{view}");
        ids.insert(view["result"]["client_id"].as_str().unwrap().to_owned());
    }
    ids
}

fn rows(ns: u16, n: u32) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut row = subscription(i);
            row["subscription_id"] = json!(guid(ns, i));
            row["name"] = json!(format!("shared-{ns:x}-{i}"));
            row
        })
        .collect()
}

#[tokio::test]
async fn an_api_batch_shares_one_identity_per_tenant_unless_told_otherwise() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let shared = batch_client_ids(
        &server,
        &auth,
        json!({ "label": "shared", "rows": rows(0x51a0, 5) }),
    )
    .await;
    assert_eq!(shared.len(), 1, "{shared:?}");
    // A later batch in the tenant: the same identity.
    let again = batch_client_ids(
        &server,
        &auth,
        json!({ "label": "more", "rows": rows(0x51a1, 2), "identity_per": "shared-tenant" }),
    )
    .await;
    assert_eq!(again, shared);
    let own = batch_client_ids(
        &server,
        &auth,
        json!({ "label": "own", "rows": rows(0x51a2, 3), "identity_per": "subscription" }),
    )
    .await;
    assert_eq!(own.len(), 3, "{own:?}");
    assert!(own.is_disjoint(&shared));
}

#[tokio::test]
async fn what_the_shared_identity_cannot_give_is_refused_naming_the_row() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let mut body = json!({ "label": "x", "rows": rows(0x51b0, 2) });
    body["rows"][1]["audit_log_export"] = json!(true);
    let (status, error) = server
        .call("POST", "/api/v1/batches", &auth, Some(body.clone()))
        .await;
    assert_eq!(status, 400, "{error}");
    let text = error.to_string();
    assert!(text.contains("rows[1].audit_log_export"), "{text}");
    assert!(text.contains("--identity-per subscription"), "{text}");
    // Per subscription, the same rows are fine.
    body["identity_per"] = json!("subscription");
    let (status, accepted) = server
        .call("POST", "/api/v1/batches", &auth, Some(body.clone()))
        .await;
    assert_eq!(status, 202, "{accepted}");

    body["identity_per"] = json!("per-job");
    let (status, error) = server
        .call("POST", "/api/v1/batches", &auth, Some(body))
        .await;
    assert_eq!(status, 400);
    assert!(error.to_string().contains("identity_per"), "{error}");
}

#[tokio::test]
async fn the_bulk_page_offers_the_choice_and_keeps_it() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let (_, html) = page(&server, "/bulk", &auth).await;
    assert!(
        html.contains(
            r#"id="identity_per-shared" name="identity_per" value="shared-tenant" checked"#
        ),
        "shared is the default"
    );
    assert!(
        html.contains("opens every subscription of the tenant"),
        "the trade-off"
    );
    let csv = format!("subscription_id,name\n{},one\n", guid(0x51c0, 1));
    let fields = format!(
        "action=check&tenant_id={TENANT}&new_groups=Default%20Account%20Group&identity=builtin&identity_per=subscription&csv={}",
        urlencode(&csv)
    );
    let r = post_form(&server, "/bulk", &auth, &fields).await;
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"value="subscription" checked"#),
        "the choice is kept"
    );
    // Shared, with Directory Readers: the row says what to do.
    let fields = format!(
        "action=check&tenant_id={TENANT}&new_groups=Default%20Account%20Group&identity=builtin&directory_readers=on\
         &identity_per=shared-tenant&csv={}",
        urlencode(&csv)
    );
    let html = post_form(&server, "/bulk", &auth, &fields)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("row 2 directory_readers"), "{html}");
}
