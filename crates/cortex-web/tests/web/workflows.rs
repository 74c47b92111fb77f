//! The pages' workflows over HTTP: the wizard's scopes and its plan review with the job
//! buttons, bulk onboarding (check, then start the valid rows; the batch page; the CSV
//! export), the audit page.

use serde_json::json;

use crate::common::*;

/// Posts a form as the signed-in `auth` (its CSRF token in the body, like the pages do).
pub(crate) async fn post_form(
    server: &Server,
    path: &str,
    auth: &Auth,
    fields: &str,
) -> reqwest::Response {
    let Auth::Cookie { cookie, csrf } = auth else {
        panic!("a page form needs a session")
    };
    let csrf = csrf
        .as_deref()
        .map_or(String::new(), |c| format!("csrf_token={c}&"));
    server
        .http
        .post(server.url(path))
        .header("cookie", cookie.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{csrf}{fields}"))
        .send()
        .await
        .unwrap()
}

pub(crate) async fn page(server: &Server, path: &str, auth: &Auth) -> (u16, String) {
    let r = server.request("GET", path, auth, None).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

pub(crate) fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_plan_is_reviewed_then_approved_and_the_buttons_follow_the_state() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let fields = format!(
        "scope=subscription&tenant_id={TENANT}&subscription_id={}&name=reviewed\
         &groups=Default+Account+Group&identity=builtin&review=on",
        guid(0x7a00, 1)
    );
    let r = post_form(&server, "/onboard", &auth, &fields).await;
    assert_eq!(r.status(), 303);
    let job = location(&r).strip_prefix("/jobs/").unwrap().to_owned();
    let state = server
        .wait_for(&job, |s| {
            s.as_str() == "awaiting_approval" || s.is_terminal()
        })
        .await;
    assert_eq!(state.as_str(), "awaiting_approval");

    let (status, html) = page(&server, &format!("/jobs/{job}"), &auth).await;
    assert_eq!(status, 200);
    assert!(html.contains("Review the Terraform plan"), "{html}");
    assert!(html.contains(" to add, "), "the plan's counts: {html}");
    assert!(
        html.contains(&format!(
            r#"action="/jobs/{job}/approve" id="approve-form">"#
        )),
        "the approve button is shown: {html}"
    );
    assert!(html.contains(r#"id="resume-form" hidden"#));
    // A viewer sees the review but no buttons.
    let viewer = server.login(VIEWER).await;
    let (_, html) = page(&server, &format!("/jobs/{job}"), &viewer).await;
    assert!(!html.contains("approve-form"));
    // Without the CSRF token: refused, nothing approved.
    let r = post_form(
        &server,
        &format!("/jobs/{job}/approve"),
        &auth.without_csrf(),
        "",
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(
        !server
            .engine
            .store()
            .get_job(job.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .approved
    );
    // Approve: back to the job page, and it runs to the end.
    let r = post_form(&server, &format!("/jobs/{job}/approve"), &auth, "").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), format!("/jobs/{job}"));
    assert_eq!(
        server.wait_for(&job, |s| s.is_terminal()).await.as_str(),
        "succeeded"
    );
    // The result: the identity's IDs, never its secret.
    let (_, html) = page(&server, &format!("/jobs/{job}"), &auth).await;
    let (_, api) = server
        .call("GET", &format!("/api/v1/jobs/{job}"), &auth, None)
        .await;
    let client_id = api["result"]["client_id"]
        .as_str()
        .expect("a client id")
        .to_owned();
    assert!(
        html.contains("Service principal object id") && html.contains(&client_id),
        "{html}"
    );
    // A finished job cannot be cancelled: an HTML page says why.
    let r = post_form(&server, &format!("/jobs/{job}/cancel"), &auth, "").await;
    assert_eq!(r.status(), 409);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("only a queued, running or awaiting_approval job")
    );
    let r = post_form(&server, &format!("/jobs/{job}/explode"), &auth, "").await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_review_can_be_cancelled_and_the_job_resumed() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let fields = format!(
        "tenant_id={TENANT}&subscription_id={}&name=cancelled&groups=Default+Account+Group&review=on",
        guid(0x7a00, 2)
    );
    let r = post_form(&server, "/onboard", &auth, &fields).await;
    let job = location(&r).strip_prefix("/jobs/").unwrap().to_owned();
    server
        .wait_for(&job, |s| s.as_str() == "awaiting_approval")
        .await;
    let r = post_form(&server, &format!("/jobs/{job}/cancel"), &auth, "").await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        server.wait_for(&job, |s| s.is_terminal()).await.as_str(),
        "cancelled"
    );
    let (_, html) = page(&server, &format!("/jobs/{job}"), &auth).await;
    assert!(
        html.contains(&format!(r#"action="/jobs/{job}/resume" id="resume-form">"#)),
        "{html}"
    );
    let r = post_form(&server, &format!("/jobs/{job}/resume"), &auth, "").await;
    assert_eq!(r.status(), 303);
    // Resumed, it stops at the review again (approval is per plan).
    assert_eq!(
        server
            .wait_for(&job, |s| s.as_str() == "awaiting_approval"
                || s.is_terminal())
            .await
            .as_str(),
        "awaiting_approval"
    );
}

#[tokio::test]
async fn the_wizard_onboards_a_tenant_and_entra_id() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    for (scope, extra) in [
        (
            "tenant",
            "&exclude_subscriptions=".to_owned() + &guid(0x7b00, 9),
        ),
        ("entra", String::new()),
    ] {
        let fields = format!(
            "scope={scope}&tenant_id={TENANT}&subscription_id=ignored&name=wizard-{scope}\
             &groups=Default+Account+Group&identity=builtin{extra}"
        );
        let r = post_form(&server, "/onboard", &auth, &fields).await;
        assert_eq!(r.status(), 303, "{scope}: {}", r.text().await.unwrap());
        let job = location(&r).strip_prefix("/jobs/").unwrap().to_owned();
        assert_eq!(
            server.wait_for(&job, |s| s.is_terminal()).await.as_str(),
            "succeeded",
            "{scope}"
        );
        let (_, body) = server
            .call("GET", &format!("/api/v1/jobs/{job}"), &auth, None)
            .await;
        assert_eq!(body["request"]["scope"]["kind"], scope, "{body}");
    }
    // A tenant scope with a bad exclusion names the field.
    let r = post_form(
        &server,
        "/onboard",
        &auth,
        &format!("scope=tenant&tenant_id={TENANT}&name=x&groups=G&exclude_subscriptions=nope"),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("exclude_subscriptions"));
}

pub(crate) fn bulk_csv(rows: u32, bad_row: Option<u32>) -> String {
    let mut csv = String::from("subscription_id,name,groups\n");
    for n in 0..rows {
        let id = if Some(n) == bad_row {
            "not-a-guid".to_owned()
        } else {
            guid(0x7c00, n)
        };
        let name = if n == 0 {
            "=HYPERLINK(\"x\")".to_owned()
        } else {
            format!("bulk-{n}")
        };
        csv.push_str(&format!(
            "{id},\"{}\",Default Account Group\n",
            name.replace('"', "\"\"")
        ));
    }
    csv
}

pub(crate) fn bulk_fields(action: &str, csv: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    format!(
        "action={action}&label=nightly&tenant_id={TENANT}&identity=existing\
         &client_id={}&service_principal_id={}&client_secret=bulk-secret-0123456789&csv={}",
        guid(0x7d00, 1),
        guid(0x7d00, 2),
        enc(csv)
    )
}

#[tokio::test]
async fn bulk_checks_every_row_then_starts_the_valid_ones_and_exports_the_results() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let csv = bulk_csv(6, Some(3));
    // Check: every row shown, the bad one named by row and field; nothing submitted.
    let r = post_form(&server, "/bulk", &auth, &bulk_fields("check", &csv)).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Checked: 5 valid, 1 with problems"), "{html}");
    assert!(
        html.contains("row 5 subscription_id"),
        "row numbers count the header: {html}"
    );
    assert!(
        html.contains("Onboard 5 subscriptions (skip 1 invalid row)"),
        "{html}"
    );
    assert!(!html.contains("bulk-secret"), "the secret is not echoed");
    let (_, jobs) = server.call("GET", "/api/v1/jobs", &auth, None).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "{jobs}");
    // File-level problems: the header is named as row 1.
    let r = post_form(
        &server,
        "/bulk",
        &auth,
        &bulk_fields("start", "subscription,name\nx,y\n"),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("row 1"));
    // Start: the valid rows become one batch, and on to its page.
    let r = post_form(&server, "/bulk", &auth, &bulk_fields("start", &csv)).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let batch = location(&r).strip_prefix("/batches/").unwrap().to_owned();
    let (_, view) = server
        .call("GET", &format!("/api/v1/batches/{batch}"), &auth, None)
        .await;
    assert_eq!(view["total"], 5, "{view}");
    for row in view["rows"].as_array().unwrap() {
        server
            .wait_for(row["job_id"].as_str().unwrap(), |s| s.is_terminal())
            .await;
    }
    let (status, html) = page(&server, &format!("/batches/{batch}"), &auth).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"<dd id="n-onboarded">5</dd>"#), "{html}");
    assert!(html.contains("bulk-5"));
    // The skipped row is on the page as skipped (tests/web/batch_rows.rs has the details).
    assert!(
        html.contains(r#"<tr data-row="5" data-skipped="true">"#),
        "{html}"
    );
    // The export: a header and a row per subscription; a formula-looking name is defused.
    let r = server
        .request(
            "GET",
            &format!("/api/v1/batches/{batch}/report.csv"),
            &auth,
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = r.text().await.unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(
        lines[0],
        "row,subscription_id,name,state,outcome,error_code,error_message,job_id"
    );
    assert_eq!(lines.len(), 7, "five jobs and the skipped row: {text}");
    assert!(text.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{text}");
    assert_eq!(text.matches(",succeeded,created,").count(), 5, "{text}");
    // The export's error paths.
    let viewer = server.login(VIEWER).await;
    for (auth, path, status) in [
        (
            &Auth::None,
            format!("/api/v1/batches/{batch}/report.csv"),
            401,
        ),
        (&viewer, "/api/v1/batches/nope/report.csv".to_owned(), 400),
        (
            &viewer,
            "/api/v1/batches/01a20352-ec2b-729d-a976-bca61dd4a3c5/report.csv".to_owned(),
            404,
        ),
        (&viewer, format!("/api/v1/batches/{batch}/report.csv"), 200),
    ] {
        let (got, body) = server.call("GET", &path, auth, None).await;
        assert_eq!(got, status, "{path}: {body}");
    }
    // A viewer sees the bulk page but cannot start anything.
    assert_eq!(page(&server, "/bulk", &viewer).await.0, 200);
    let r = post_form(&server, "/bulk", &viewer, &bulk_fields("start", &csv)).await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn bulk_names_a_missing_secret_and_refuses_an_all_invalid_file() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let fields = bulk_fields("start", &bulk_csv(2, None))
        .replace("&client_secret=bulk-secret-0123456789", "");
    let r = post_form(&server, "/bulk", &auth, &fields).await;
    assert_eq!(r.status(), 400);
    let html = r.text().await.unwrap();
    assert!(html.contains("client_secret"), "{html}");
    assert!(
        !html.contains(r#"id="start""#),
        "no start button while the form has problems"
    );
    let r = post_form(
        &server,
        "/bulk",
        &auth,
        &bulk_fields("start", &bulk_csv(1, Some(0))),
    )
    .await;
    assert_eq!(r.status(), 400);
    // An unknown Prisma Cloud connection is refused before anything starts.
    let fields = bulk_fields("start", &bulk_csv(2, None)) + "&connection=no-such-connection";
    let r = post_form(&server, "/bulk", &auth, &fields).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("connection"));
    // More rows than a batch may have (this server: 20) are refused as a whole.
    let r = post_form(
        &server,
        "/bulk",
        &auth,
        &bulk_fields("check", &bulk_csv(21, None)),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("has 21 rows; at most 20"));
    let (_, jobs) = server.call("GET", "/api/v1/jobs", &auth, None).await;
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_audit_page_lists_and_filters_who_did_what() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let (status, body) = server
        .call(
            "POST",
            "/api/v1/groups",
            &auth,
            Some(json!({"name": "Audited <group>"})),
        )
        .await;
    assert!(status == 201 || status == 200, "{body}");
    let (status, html) = page(&server, "/audit", &auth).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("web:{}", OPERATOR.0)), "{html}");
    assert!(!html.contains("Audited <group>"), "escaped");
    let (_, html) = page(&server, "/audit?q=no-such-actor", &auth).await;
    assert!(html.contains("Nothing recorded that matches"), "{html}");
    assert_eq!(page(&server, "/audit", &Auth::None).await.0, 303);
}

#[tokio::test]
async fn the_dashboard_joins_accounts_with_our_jobs_and_filters_them() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let healthy = guid(0x7e00, 1);
    // The emulator's marker 0000f10e: the flow-logs role is missing.
    let broken = "0000f10e-1111-4222-8333-444444444444".to_owned();
    for (id, name) in [(&healthy, "dash-healthy"), (&broken, "dash-broken")] {
        let mut request = subscription(1);
        request["subscription_id"] = json!(id);
        request["name"] = json!(name);
        request["flow_logs"] = json!(true);
        // Registered despite the failing pre-flight check, so the dashboard has its account.
        request["register_anyway"] = json!(true);
        let (status, body) = server
            .call("POST", "/api/v1/jobs", &auth, Some(request))
            .await;
        assert_eq!(status, 202, "{body}");
        server
            .wait_for(body["id"].as_str().unwrap(), |s| s.is_terminal())
            .await;
    }
    let row = |html: &str, id: &str| -> String {
        let start = html.find(&format!(r#"<tr data-account="{id}""#)).expect(id);
        html[start..start + html[start..].find("</tr>").unwrap()].to_owned()
    };
    let (status, html) = page(&server, "/", &auth).await;
    assert_eq!(status, 200);
    let good = row(&html, &healthy);
    assert!(
        good.contains(r#"i-ok" aria-hidden="true"></span> ok</span> Flow Logs"#),
        "{good}"
    );
    assert!(
        good.contains("succeeded") && !good.contains("data-attention"),
        "{good}"
    );
    let bad = row(&html, &broken);
    assert!(bad.contains(r#"data-attention="true""#), "{bad}");
    assert!(
        bad.contains(r#"i-bad" aria-hidden="true"></span> error</span>"#),
        "{bad}"
    );
    assert!(bad.contains("failed"), "{bad}");
    // Filters and search.
    let (_, html) = page(&server, "/?filter=attention", &auth).await;
    assert!(html.contains(&broken) && !html.contains(&healthy), "{html}");
    let (_, html) = page(&server, "/?q=HEALTHY", &auth).await;
    assert!(html.contains(&healthy) && !html.contains(&broken));
    let (_, html) = page(&server, "/?q=nothing-like-this", &auth).await;
    assert!(html.contains("No account matches."));
}

#[tokio::test]
async fn a_batch_retries_only_its_failed_rows() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    // The emulator's marker 0000f10e fails the flow-logs check; the other row is healthy.
    let broken = "0000f10e-1111-4222-8333-555555555555";
    let csv = format!(
        "subscription_id,name,groups\n{},retry-ok,Default Account Group\n{broken},retry-bad,Default Account Group\n",
        guid(0x7f00, 1)
    );
    let fields = bulk_fields("start", &csv) + "&flow_logs=on";
    let r = post_form(&server, "/bulk", &auth, &fields).await;
    assert_eq!(r.status(), 303);
    let batch = location(&r).strip_prefix("/batches/").unwrap().to_owned();
    let (_, view) = server
        .call("GET", &format!("/api/v1/batches/{batch}"), &auth, None)
        .await;
    let jobs: Vec<String> = view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["job_id"].as_str().unwrap().to_owned())
        .collect();
    for j in &jobs {
        server.wait_for(j, |s| s.is_terminal()).await;
    }
    let (_, html) = page(&server, &format!("/batches/{batch}"), &auth).await;
    assert!(
        html.contains(r#"id="retry-form">"#),
        "the retry button shows: {html}"
    );
    let attempts = |id: &str| {
        let engine = server.engine.clone();
        let id = id.parse().unwrap();
        async move { engine.store().get_job(id).await.unwrap().unwrap().attempts }
    };
    let before: Vec<i32> = futures::future::join_all(jobs.iter().map(|j| attempts(j))).await;
    // The API answers with the re-queued jobs: only the failed one.
    let viewer = server.login(VIEWER).await;
    let (status, _) = server
        .call(
            "POST",
            &format!("/api/v1/batches/{batch}/retry"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(status, 403);
    let r = post_form(&server, &format!("/batches/{batch}/retry"), &auth, "").await;
    assert_eq!(r.status(), 303);
    for j in &jobs {
        server.wait_for(j, |s| s.is_terminal()).await;
    }
    let after: Vec<i32> = futures::future::join_all(jobs.iter().map(|j| attempts(j))).await;
    let bad_index = view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["account_id"] == broken)
        .unwrap();
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        if i == bad_index {
            assert_eq!(*a, b + 1, "the failed row ran again");
        } else {
            assert_eq!(a, b, "the onboarded row was left alone");
        }
    }
    let (_, audit) = server.call("GET", "/api/v1/audit", &auth, None).await;
    assert!(audit.to_string().contains("batch.retried"), "{audit}");
}
