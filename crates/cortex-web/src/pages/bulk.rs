//! Bulk onboarding: a CSV of subscriptions (pasted, or a file read into the text box by the
//! page's script) with the options every row shares. "Check the rows" validates each row and
//! shows a table naming every problem by row and field; nothing starts until the operator
//! presses "Onboard", which submits the valid rows as one batch (rows with problems are
//! left out, and the button says how many) and opens the batch's live page. The skipped rows
//! are kept with the batch (their row numbers and problems): its page and CSV report show them.
//! The check's results sit right above the buttons, so the operator reads them before starting.
//!
//! The file format and the row checks are the CLI's (`onboarding_engine::batch_file`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use onboarding_engine::batch_file::{
    BatchDefaults, Hints, parse_rows, split_checked, validate_rows,
};
use onboarding_engine::request::FieldError;
use onboarding_engine::{IdentityPer, RawRequest};
use prisma_types::SecretString;
use serde_json::Value;

use super::onboard::{
    ConnectionOption, FeatureOption, OnboardValues, Problem, Submitted, connection_options,
    features, request_of,
};
use super::{FormCaller, FormPage, Nav, PageAction, PageUser, no_store};
use crate::error::ApiError;
use crate::extract::FormFields;
use crate::state::AppState;

const HINTS: Hints = Hints {
    tenant: " (add a tenant_id column or fill in the default tenant)",
    name: " (fill the name column or give a name template)",
};

/// A row as checked.
pub struct RowCheck {
    pub row: u64,
    pub subscription_id: String,
    pub name: String,
    pub problems: Vec<Problem>,
}

/// A row of a batch's file that was skipped, as the batch page shows it.
pub struct SkippedRowView {
    pub row: u64,
    pub subscription_id: String,
    pub name: String,
    pub problems: Vec<Problem>,
}

/// The batch page's skipped rows.
pub fn skipped_views(report: &onboarding_engine::BatchReport) -> Vec<SkippedRowView> {
    report
        .skipped
        .iter()
        .map(|s| SkippedRowView {
            row: s.row,
            subscription_id: s.subscription_id.clone(),
            name: s.name.clone(),
            problems: problems(s.problems.clone()),
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "bulk.html")]
pub struct BulkPage {
    pub nav: Nav,
    pub values: OnboardValues,
    pub features: Vec<FeatureOption>,
    pub connections: Vec<ConnectionOption>,
    pub csv: String,
    pub label: String,
    /// `shared-tenant` (the default) or `subscription`: how builtin rows get their identity.
    pub identity_per: &'static str,
    /// Problems of the whole file or form (header, a missing secret).
    pub problems: Vec<Problem>,
    /// The rows, once checked.
    pub rows: Vec<RowCheck>,
    pub valid: usize,
    pub invalid: usize,
}

impl BulkPage {
    fn checked(&self) -> bool {
        !self.rows.is_empty()
    }

    /// The numbers of the rows with problems: `8, 20, 21`.
    fn invalid_rows(&self) -> String {
        self.rows
            .iter()
            .filter(|r| !r.problems.is_empty())
            .map(|r| r.row.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub async fn bulk_page(State(state): State<AppState>, PageUser(p): PageUser) -> Response {
    no_store(
        BulkPage {
            nav: Nav::of(&p),
            connections: connection_options(&state, "default").await,
            values: OnboardValues {
                review: false,
                new_groups: "Default Account Group".into(),
                ..OnboardValues::default()
            },
            features: features(&[]),
            csv: String::new(),
            label: String::new(),
            identity_per: IdentityPer::default().as_str(),
            problems: Vec::new(),
            rows: Vec::new(),
            valid: 0,
            invalid: 0,
        }
        .into_response(),
    )
}

fn problems(errors: Vec<FieldError>) -> Vec<Problem> {
    errors
        .into_iter()
        .map(|e| Problem {
            field: e.field,
            message: e.message,
        })
        .collect()
}

/// The shared options as the rows' defaults, and the client secret of an existing identity.
fn defaults_of(mut request: Value) -> Result<(RawRequest, Option<SecretString>), Vec<FieldError>> {
    // The wizard's review applies to one job; a batch runs straight through.
    if let Value::Object(map) = &mut request {
        map.remove("require_approval");
    }
    crate::routes::jobs::split_secret(request, "")
}

pub async fn bulk_submit(
    State(state): State<AppState>,
    caller: FormCaller,
    body: String,
) -> Response {
    let form = FormFields::parse(&body);
    let start = form.get("action") == "start";
    let csv = form.raw("csv");
    let label = match form.get("label").as_str() {
        "" => "bulk onboarding".to_owned(),
        l => l.chars().take(200).collect(),
    };
    let Submitted {
        request,
        values,
        features: chosen,
        ..
    } = request_of(&form);
    let this = FormPage {
        path: "/bulk",
        secret: (values.identity == "existing").then_some("client secret"),
    };
    let (who, refused) = match caller.permit_on_page(PageAction::Onboard, &this) {
        Ok(permit) => permit,
        Err(to) => return to.into_response(),
    };
    // An unknown value falls back to the default; the radio buttons offer only the two.
    let identity_per = IdentityPer::parse(&form.get("identity_per")).unwrap_or_default();
    let connections = connection_options(&state, &values.connection).await;
    let mut page = BulkPage {
        nav: Nav::of(&who),
        connections,
        values,
        features: features(&chosen),
        csv: csv.clone(),
        label: label.clone(),
        identity_per: identity_per.as_str(),
        problems: Vec::new(),
        rows: Vec::new(),
        valid: 0,
        invalid: 0,
    };
    if let Some((status, problem)) = refused {
        page.problems.push(problem);
        return no_store((status, page).into_response());
    }
    let refuse = |page: BulkPage| no_store((StatusCode::BAD_REQUEST, page).into_response());
    let (base, secret) = match defaults_of(request) {
        Ok(d) => d,
        Err(e) => {
            page.problems = problems(e);
            return refuse(page);
        }
    };
    // Checked once here rather than once per row by the engine.
    if base.identity.as_deref() == Some("existing") {
        let problem = match &secret {
            None => Some("is required for an existing app registration".to_owned()),
            Some(s) => prisma_types::account::validate_client_secret(s)
                .err()
                .map(|e| e.message),
        };
        if let Some(message) = problem {
            page.problems.push(Problem {
                field: "client_secret".into(),
                message,
            });
        }
    }
    let name_template = base.name.is_some();
    let rows = match parse_rows(
        csv.as_bytes(),
        name_template,
        " (or give a name template, e.g. azure-{subscription_id})",
    ) {
        // The same limit as the API's batches (`max_batch_rows`).
        Ok(rows) if rows.len() > state.config().max_batch_rows as usize => {
            page.problems.push(Problem {
                field: "csv".into(),
                message: format!(
                    "has {} rows; at most {} at a time (max_batch_rows)",
                    rows.len(),
                    state.config().max_batch_rows
                ),
            });
            return refuse(page);
        }
        Ok(rows) => rows,
        Err(e) => {
            page.problems.extend(problems(e));
            return refuse(page);
        }
    };
    let defaults = BatchDefaults {
        request: base,
        hints: Some(HINTS),
        identity_per,
    };
    let checked = validate_rows(&rows, &defaults);
    for c in &checked {
        let (name, problems) = match &c.result {
            Ok(request) => (request.name.as_str().to_owned(), Vec::new()),
            Err(e) => (c.row.name.clone().unwrap_or_default(), problems(e.clone())),
        };
        page.rows.push(RowCheck {
            row: c.row.row,
            subscription_id: c.row.subscription_id.clone(),
            name,
            problems,
        });
    }
    // The skipped rows are kept with the batch, with their row numbers and problems.
    let (items, skipped) = split_checked(checked, &secret);
    page.valid = items.len();
    page.invalid = skipped.len();
    if !start || !page.problems.is_empty() || items.is_empty() {
        let status = if page.problems.is_empty() && !items.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        return no_store((status, page).into_response());
    }
    match state
        .engine()
        .submit_batch_rows(&label, items, skipped, &who.actor())
        .await
    {
        Ok((batch, _)) => Redirect::to(&format!("/batches/{batch}")).into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            page.problems.extend(super::problems_of(&e, "batch"));
            no_store((e.status, page).into_response())
        }
    }
}
