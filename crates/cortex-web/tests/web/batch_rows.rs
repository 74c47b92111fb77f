//! A batch from the bulk page keeps every row of its file — the skipped (invalid) ones with
//! their problems — with the original row numbers: in the batch API, on the batch page and in
//! the CSV report. The bulk page shows the check's results right above its start button.

use crate::common::*;
use crate::workflows::{bulk_csv, bulk_fields, location, page, post_form};

/// Starts a bulk batch from `csv`, waits for its jobs, and returns the batch id.
async fn finished_bulk_batch(server: &Server, auth: &Auth, csv: &str) -> String {
    let r = post_form(server, "/bulk", auth, &bulk_fields("start", csv)).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let batch = location(&r).strip_prefix("/batches/").unwrap().to_owned();
    let (_, view) = server
        .call("GET", &format!("/api/v1/batches/{batch}"), auth, None)
        .await;
    for row in view["rows"].as_array().unwrap() {
        server
            .wait_for(row["job_id"].as_str().unwrap(), |s| s.is_terminal())
            .await;
    }
    batch
}

/// The batch's CSV report.
async fn report_csv(server: &Server, auth: &Auth, batch: &str) -> String {
    let r = server
        .request(
            "GET",
            &format!("/api/v1/batches/{batch}/report.csv"),
            auth,
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

#[tokio::test]
async fn the_check_results_sit_right_above_the_start_button() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let csv = bulk_csv(4, Some(2));
    let r = post_form(&server, "/bulk", &auth, &bulk_fields("check", &csv)).await;
    let html = r.text().await.unwrap();
    let check = html.find(r#"id="check""#).expect("the check's results");
    let start = html.find(r#"id="start""#).expect("the start button");
    let features = html.find("5. Features").unwrap();
    assert!(
        features < check && check < start,
        "the results come after the last option and right before the buttons"
    );
    assert!(
        !html[check..start].contains("<fieldset"),
        "nothing in between"
    );
    assert!(html.contains("Onboarding skips row 4;"), "{html}");
}

#[tokio::test]
async fn skipped_rows_are_kept_with_their_numbers_in_the_api_the_page_and_the_csv() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    // Six data rows (rows 2-7); row 5 (the fourth) is invalid; a blank line before the last
    // row makes it row 8, as a spreadsheet numbers it.
    let mut csv = bulk_csv(6, Some(3));
    let last = csv.trim_end().rsplit('\n').next().unwrap().to_owned();
    csv = csv.replace(&format!("{last}\n"), &format!("\n{last}\n"));
    let batch = finished_bulk_batch(&server, &auth, &csv).await;

    // The API.
    let (status, view) = server
        .call("GET", &format!("/api/v1/batches/{batch}"), &auth, None)
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["total"], 5, "the skipped row is not a job: {view}");
    let rows: Vec<_> = view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [2, 3, 4, 6, 8]);
    let skipped = view["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{view}");
    assert_eq!(skipped[0]["row"], 5);
    assert_eq!(skipped[0]["subscription_id"], "not-a-guid");
    assert_eq!(skipped[0]["name"], "bulk-3");
    assert_eq!(skipped[0]["problems"][0]["field"], "row 5 subscription_id");
    assert!(
        !skipped[0]["problems"][0]["message"]
            .as_str()
            .unwrap()
            .is_empty()
    );

    // The page: every row in row order, the skipped one with its problem.
    let (status, html) = page(&server, &format!("/batches/{batch}"), &auth).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"<dd id="n-skipped">1</dd>"#), "{html}");
    assert!(html.contains(r#"<dd id="n-total">5</dd>"#), "{html}");
    assert!(html.contains("skipped for its problems (rows 5)"), "{html}");
    let order: Vec<usize> = ["2", "3", "4", "5", "6", "8"]
        .iter()
        .map(|n| {
            html.find(&format!(r#"data-row="{n}""#))
                .unwrap_or_else(|| panic!("row {n}: {html}"))
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "row order: {order:?}"
    );
    let skipped_row = &html[order[3]..order[4]];
    assert!(
        skipped_row.contains("data-skipped=\"true\""),
        "{skipped_row}"
    );
    assert!(
        skipped_row.contains("row 5 subscription_id"),
        "{skipped_row}"
    );
    assert!(skipped_row.contains("not-a-guid") && skipped_row.contains("bulk-3"));

    // The CSV: every row of the file with its original number, the skipped one included.
    let text = report_csv(&server, &auth, &batch).await;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "row",
            "subscription_id",
            "name",
            "state",
            "outcome",
            "error_code",
            "error_message",
            "job_id"
        ]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let numbers: Vec<&str> = records.iter().map(|r| &r[0]).collect();
    assert_eq!(numbers, ["2", "3", "4", "5", "6", "8"], "{text}");
    let bad = &records[3];
    assert_eq!(
        (&bad[1], &bad[2], &bad[3]),
        ("not-a-guid", "bulk-3", "skipped")
    );
    assert_eq!((&bad[4], &bad[5], &bad[7]), ("", "invalid_row", ""));
    assert!(bad[6].starts_with("row 5 subscription_id: "), "{text}");
    for good in records.iter().filter(|r| &r[0] != "5") {
        assert_eq!((&good[3], &good[4]), ("succeeded", "created"), "{text}");
        assert!(!good[7].is_empty(), "a job id: {text}");
    }
}

#[tokio::test]
async fn a_batch_of_json_rows_has_no_row_numbers_and_no_skipped_rows() {
    let server = Server::start().await;
    let auth = server.login(OPERATOR).await;
    let body = serde_json::json!({"label": "api", "rows": [subscription(1), subscription(2)]});
    let (status, accepted) = server
        .call("POST", "/api/v1/batches", &auth, Some(body))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let batch = accepted["id"].as_str().unwrap();
    let (_, view) = server
        .call("GET", &format!("/api/v1/batches/{batch}"), &auth, None)
        .await;
    assert_eq!(view["skipped"], serde_json::json!([]), "{view}");
    assert!(
        view["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["row"].is_null())
    );
    let text = report_csv(&server, &auth, batch).await;
    let lines: Vec<_> = text.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines.iter().all(|l| l.starts_with(',')),
        "an empty row cell: {text}"
    );
}
