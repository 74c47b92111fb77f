//! The dashboard: server-side paging of the accounts and the recent jobs (bounded page sizes,
//! links that keep the search), account names that link to their newest job, kinds in words,
//! and the client-secret expiry of a subscription whose identity we created.

use serde_json::json;

use crate::common::*;

/// The dashboard at `query`, with the HTML entities of links decoded.
async fn dashboard(server: &Server, auth: &Auth, query: &str) -> String {
    let r = server
        .request("GET", &format!("/{query}"), auth, None)
        .await;
    assert_eq!(r.status(), 200, "{query}");
    r.text()
        .await
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

fn account_rows(html: &str) -> usize {
    html.matches("<tr data-account=").count()
}

/// The accounts card (the recent jobs' names are the same words).
fn accounts_card(html: &str) -> &str {
    &html[html.find(r#"id="accounts-h""#).unwrap()..html.find(r#"id="jobs-h""#).unwrap()]
}

/// The `<nav id="{id}">` element's text.
fn pager<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!(r#"<nav class="pager" id="{id}""#))
        .unwrap_or_else(|| panic!("no {id}: {html}"));
    let end = start + html[start..].find("</nav>").unwrap();
    &html[start..end]
}

/// Submits `n` subscription jobs (they stay queued: no worker); their ids, oldest first.
async fn queued_jobs(server: &Server, n: u32) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let raw: onboarding_engine::RawRequest = serde_json::from_value(json!({
            "scope": "subscription",
            "subscription_id": guid(0xda50, i),
            "tenant_id": TENANT,
            "name": format!("paged-{i:02}"),
            "groups": ["Default Account Group"],
        }))
        .unwrap();
        let job = server
            .engine
            .submit(&raw.validate().unwrap(), None, "tester")
            .await
            .unwrap();
        ids.push(job.to_string());
    }
    ids
}

#[tokio::test]
async fn accounts_and_jobs_are_paged_on_the_server_with_bounded_page_sizes() {
    let server = Server::start_with(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let auth = server.login(VIEWER).await;
    let jobs = queued_jobs(&server, 30).await;

    // The default page size shows all 30; 10 a page makes three pages.
    let html = dashboard(&server, &auth, "").await;
    assert_eq!(account_rows(&html), 30);
    assert!(pager(&html, "accounts-pages").contains("1 to 30 of 30 accounts"));
    let html = dashboard(&server, &auth, "?per_page=10").await;
    assert_eq!(account_rows(&html), 10);
    let nav = pager(&html, "accounts-pages");
    assert!(
        nav.contains("1 to 10 of 30 accounts · page 1 of 3"),
        "{nav}"
    );
    assert!(
        nav.contains(r#"href="/?page=2&per_page=10&jobs_page=1#accounts-h" rel="next""#),
        "{nav}"
    );
    assert!(
        nav.contains(r#"href="/?page=3&per_page=10&jobs_page=1#accounts-h" rel="last""#),
        "{nav}"
    );
    assert!(
        !nav.contains(r#"rel="prev""#),
        "no previous page on the first: {nav}"
    );
    // Sorted by name: page 2 holds paged-10 … paged-19.
    let html = dashboard(&server, &auth, "?page=2&per_page=10").await;
    let card = accounts_card(&html);
    assert!(card.contains(">paged-10<") && card.contains(">paged-19<"));
    assert!(!card.contains(">paged-09<") && !card.contains(">paged-20<"));
    let nav = pager(&html, "accounts-pages");
    assert!(
        nav.contains(r#"href="/?page=1&per_page=10&jobs_page=1#accounts-h" rel="prev""#),
        "{nav}"
    );
    // Past the last page: the last page. Nonsense: the defaults.
    let html = dashboard(&server, &auth, "?page=99&per_page=10").await;
    assert_eq!(account_rows(&html), 10);
    assert!(accounts_card(&html).contains(">paged-29<"));
    let nav = pager(&html, "accounts-pages");
    assert!(
        nav.contains("21 to 30 of 30 accounts · page 3 of 3"),
        "{nav}"
    );
    assert!(
        !nav.contains(r#"rel="next""#),
        "no next page on the last: {nav}"
    );
    let html = dashboard(&server, &auth, "?page=-1&per_page=ten").await;
    assert!(
        html.contains("1 to 30 of 30 accounts"),
        "bad numbers fall back to the defaults"
    );
    // Page sizes are bounded: 1 becomes the minimum, a million the maximum.
    let html = dashboard(&server, &auth, "?per_page=1").await;
    assert_eq!(account_rows(&html), 10, "at least 10 a page");
    let html = dashboard(&server, &auth, "?per_page=1000000").await;
    assert!(
        html.contains(r#"<option value="200" selected>"#),
        "at most 200 a page"
    );

    // Paging applies to the matches; the links keep the search and the filter (encoded).
    let html = dashboard(&server, &auth, "?q=paged-1&per_page=10").await;
    assert_eq!(account_rows(&html), 10, "paged-10 … paged-19 match");
    assert!(!pager(&html, "accounts-pages").contains("rel=\"next\""));
    let html = dashboard(&server, &auth, "?q=paged&per_page=10&filter=attention").await;
    let nav = pager(&html, "accounts-pages");
    assert!(
        nav.contains(
            r#"href="/?page=2&per_page=10&jobs_page=1&q=paged&filter=attention#accounts-h""#
        ),
        "{nav}"
    );
    // A search with spaces, `&` and non-ASCII letters survives the round trip.
    let html = dashboard(&server, &auth, "?q=p%C3%A4ged%20%26%20x&per_page=10").await;
    assert!(html.contains("No account matches."));
    let nav = pager(&html, "jobs-pages");
    assert!(nav.contains("&q=p%C3%A4ged%20%26%20x#jobs-h"), "{nav}");

    // Recent jobs: 25 a page, newest first; the second page has the five oldest.
    let html = dashboard(&server, &auth, "").await;
    let nav = pager(&html, "jobs-pages");
    assert!(nav.contains("1 to 25 of 30 jobs · page 1 of 2"), "{nav}");
    assert!(
        nav.contains(r#"href="/?page=1&per_page=50&jobs_page=2#jobs-h" rel="next""#),
        "{nav}"
    );
    let html = dashboard(&server, &auth, "?jobs_page=2").await;
    let recent = &html[html.find(r#"id="jobs-h""#).unwrap()..];
    for (i, id) in jobs.iter().enumerate() {
        assert_eq!(recent.contains(&format!("/jobs/{id}")), i < 5, "job {i}");
    }
}

#[tokio::test]
async fn account_names_link_to_their_page_and_kinds_read_as_words() {
    let server = Server::start_with(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let auth = server.login(VIEWER).await;
    let jobs = queued_jobs(&server, 2).await;
    let html = dashboard(&server, &auth, "").await;
    for (i, id) in jobs.iter().enumerate() {
        let account = guid(0xda50, i as u32);
        assert!(
            html.contains(&format!(
                r#"<td><a href="/accounts/{account}">paged-{i:02}</a></td>"#
            )),
            "{html}"
        );
        assert!(
            html.contains(&format!(r#"<a href="/jobs/{id}">"#)),
            "{html}"
        );
    }
    assert!(html.contains("<td>Subscription</td>"), "{html}");
    assert!(html.contains("<td>Subscription onboarding</td>"), "{html}");
    assert!(!html.contains("onboard_subscription"), "{html}");
    let job_page = server
        .request("GET", &format!("/jobs/{}", jobs[0]), &auth, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(job_page.contains("Subscription onboarding"), "{job_page}");
    assert!(!job_page.contains("onboard_subscription"));
}

#[tokio::test]
async fn a_subscription_we_created_an_identity_for_shows_its_secret_expiry() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let mut body = subscription(7);
    body["secret_rotation_days"] = json!(120);
    let (status, job) = server.call("POST", "/api/v1/jobs", &auth, Some(body)).await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap();
    let state = server.wait_for(id, |s| s.is_terminal()).await;
    assert_eq!(state, cortex_store::JobState::Succeeded);
    let html = dashboard(&server, &auth, "").await;
    let row_start = html
        .find(&format!(r#"data-account="{}""#, guid(0x5b00, 7)))
        .unwrap();
    let row = &html[row_start..row_start + html[row_start..].find("</tr>").unwrap()];
    assert!(
        row.contains("119 days left") || row.contains("120 days left"),
        "{row}"
    );
    let expiry = (time::OffsetDateTime::now_utc() + time::Duration::days(120)).date();
    let day_before = expiry.previous_day().unwrap();
    assert!(
        row.contains(&expiry.to_string()) || row.contains(&day_before.to_string()),
        "{row}"
    );
}
