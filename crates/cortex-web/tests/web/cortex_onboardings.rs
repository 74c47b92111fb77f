//! `POST /api/v1/cortex/onboardings`: a Cortex Cloud onboarding queued as a job
//! (`cortex_onboarding`) on a saved Cortex connection; every bad field named at once (400); a
//! Prisma Cloud connection refused as `wrong_platform`; viewers may not submit.

use serde_json::{Value, json};

use crate::common::*;
use crate::cortex_connections::{fields, save_connection};

const TENANT: &str = "0091a7ea-5021-42d3-a276-18004980b42b";
const HOSTING: &str = "00c9e000-1111-4222-8333-000000000001";

fn onboarding(connection: &str) -> Value {
    json!({
        "connection": connection,
        "tenant_id": TENANT,
        "scope": "management_group",
        "subscription_id": HOSTING,
        "management_group_id": "mg-production",
        "capabilities": ["ADS", "dspm"],
        "exclude_regions": ["westus"],
    })
}

#[tokio::test]
async fn a_cortex_onboarding_is_queued_and_bad_fields_are_named() {
    let server = Server::start().await;
    let admin = server.login(ADMIN).await;
    let operator = server.login(OPERATOR).await;
    let viewer = server.login(VIEWER).await;
    save_connection(
        &server,
        &admin,
        json!({
            "platform": "cortex", "name": "cortex-eu",
            "api_url": "https://acme.xdr.eu.paloaltonetworks.com",
            "key_id": 17, "key": "CANARY-CORTEX-ONBOARDING-KEY-x1", "key_type": "advanced",
        }),
    )
    .await;
    save_connection(
        &server,
        &admin,
        json!({
            "name": "prisma-eu", "api_url": server.emu.base_url(),
            "access_key_id": ACCESS_KEY, "secret_key": "prisma-secret-0123456789",
        }),
    )
    .await;

    let (status, accepted) = server
        .call(
            "POST",
            "/api/v1/cortex/onboardings",
            &operator,
            Some(onboarding("cortex-eu")),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["state"], "queued");
    let id = accepted["id"].as_str().unwrap();
    assert_eq!(accepted["events"], format!("/api/v1/jobs/{id}/events"));
    let (status, job) = server
        .call("GET", &format!("/api/v1/jobs/{id}"), &viewer, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(job["kind"], "cortex_onboarding");
    assert_eq!(job["request"]["scope"], "management_group");
    assert_eq!(job["request"]["connection"], "cortex-eu");
    assert!(
        !job.to_string().contains("CANARY"),
        "no key in the job view"
    );

    // Every bad field at once.
    let (status, e) = server
        .call(
            "POST",
            "/api/v1/cortex/onboardings",
            &operator,
            Some(json!({
                "connection": "cortex-eu", "tenant_id": "not-a-guid", "scope": "galaxy",
                "subscription_id": HOSTING, "capabilities": ["telepathy"],
                "include_regions": [],
            })),
        )
        .await;
    assert_eq!((status, e["code"].as_str()), (400, Some("invalid_request")));
    let named = fields(&e);
    for field in ["tenant_id", "scope", "include_regions", "capabilities"] {
        assert!(named.iter().any(|f| f == field), "{field} in {named:?}");
    }
    // An unknown field, a Prisma connection, a missing one, a viewer.
    let mut extra = onboarding("cortex-eu");
    extra["account_name"] = json!("x");
    let (status, e) = server
        .call("POST", "/api/v1/cortex/onboardings", &operator, Some(extra))
        .await;
    assert_eq!(
        (status, e["field"].as_str()),
        (400, Some("account_name")),
        "{e}"
    );
    let (status, e) = server
        .call(
            "POST",
            "/api/v1/cortex/onboardings",
            &operator,
            Some(onboarding("prisma-eu")),
        )
        .await;
    assert_eq!(
        (status, e["code"].as_str(), e["field"].as_str()),
        (400, Some("wrong_platform"), Some("connection")),
        "{e}"
    );
    let (status, e) = server
        .call(
            "POST",
            "/api/v1/cortex/onboardings",
            &operator,
            Some(onboarding("nowhere")),
        )
        .await;
    assert_eq!(
        (status, fields(&e)),
        (400, vec!["connection".to_owned()]),
        "{e}"
    );
    let (status, _) = server
        .call(
            "POST",
            "/api/v1/cortex/onboardings",
            &viewer,
            Some(onboarding("cortex-eu")),
        )
        .await;
    assert_eq!(status, 403);
    let (_, jobs) = server.call("GET", "/api/v1/jobs", &viewer, None).await;
    assert_eq!(
        jobs["jobs"].as_array().unwrap().len(),
        1,
        "nothing queued for a refused request"
    );
}
