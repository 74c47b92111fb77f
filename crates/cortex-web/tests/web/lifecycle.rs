//! The rotation and offboarding API: each a 202 job, bad input a 400 naming the field, what
//! cannot be done a 409 saying why, an account not onboarded here a 404; the supplied secret in
//! no answer; the job page shows the job's own steps.

use serde_json::json;

use crate::common::*;

const NEW_SECRET: &str = "CANARY-ROTATED-SECRET-0077~q";
const OLD_SECRET: &str = "CANARY-FIRST-SECRET-0076~q";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_and_offboarding_are_jobs_with_clear_refusals() {
    let server = Server::start().await;
    let op = server.login(OPERATOR).await;
    let viewer = server.login(VIEWER).await;
    let sub = guid(0x5b00, 31);
    let mut body = subscription(31);
    body["identity"] = json!("existing");
    body["client_id"] = json!(guid(0xc1d0, 31));
    body["service_principal_id"] = json!(guid(0x5e00, 31));
    body["client_secret"] = json!(OLD_SECRET);
    let (status, job) = server.call("POST", "/api/v1/jobs", &op, Some(body)).await;
    assert_eq!(status, 202, "{job}");
    server
        .wait_for(job["id"].as_str().unwrap(), |s| s.is_terminal())
        .await;

    let rotate = format!("/api/v1/accounts/{sub}/rotate-secret");
    let mut answers = Vec::new();
    let (status, err) = server.call("POST", &rotate, &op, Some(json!({}))).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (400, Some("client_secret")),
        "{err}"
    );
    let (status, err) = server
        .call("POST", &rotate, &op, Some(json!({"client_secret": 7})))
        .await;
    assert_eq!(status, 400, "{err}");
    answers.push(err);
    let (status, err) = server
        .call(
            "POST",
            &rotate,
            &viewer,
            Some(json!({"client_secret": NEW_SECRET})),
        )
        .await;
    assert_eq!(status, 403, "a viewer cannot rotate: {err}");
    let (status, err) = server
        .call(
            "POST",
            &format!("/api/v1/accounts/{}/rotate-secret", guid(0x5b00, 99)),
            &op,
            Some(json!({"client_secret": NEW_SECRET})),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (404, Some("account_not_found"))
    );
    answers.push(err);
    let (status, accepted) = server
        .call(
            "POST",
            &rotate,
            &op,
            Some(json!({"client_secret": NEW_SECRET, "secret_expiry": "2027-06-30T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(
        server.wait_for(&id, |s| s.is_terminal()).await,
        cortex_store::JobState::Succeeded
    );
    let (_, shown) = server
        .call("GET", &format!("/api/v1/jobs/{id}"), &op, None)
        .await;
    assert_eq!(shown["kind"], "rotate_secret", "{shown}");
    answers.push(accepted);
    answers.push(shown);
    let page = server
        .request("GET", &format!("/jobs/{id}"), &op, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Switch the account to the new secret"),
        "the rotation's steps"
    );
    assert!(!page.contains("Resolve groups and features"));
    assert!(!page.contains(NEW_SECRET) && !page.contains(OLD_SECRET));

    let offboard = format!("/api/v1/accounts/{sub}/offboard");
    let (status, err) = server
        .call(
            "POST",
            &offboard,
            &op,
            Some(json!({"destroy_identity": true})),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("not_possible")),
        "{err}"
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("not ours to destroy")
    );
    let (status, err) = server
        .call("POST", &offboard, &op, Some(json!({"delete": "yes"})))
        .await;
    assert_eq!(status, 400, "{err}");
    let (status, accepted) = server
        .call("POST", &offboard, &op, Some(json!({"delete": true})))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap();
    assert_eq!(
        server.wait_for(id, |s| s.is_terminal()).await,
        cortex_store::JobState::Succeeded
    );
    let (status, _) = server.call("POST", &rotate, &op, Some(json!({}))).await;
    assert_eq!(status, 404, "offboarded: not onboarded here any more");
    for answer in answers {
        let text = answer.to_string();
        assert!(
            !text.contains(NEW_SECRET) && !text.contains(OLD_SECRET),
            "{text}"
        );
    }
}
