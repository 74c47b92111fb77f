//! The dead letters, `GET /notifications/dead-letters`: every notification a sink did not take
//! after its retries — the sink (by name: its URL is a secret), what it was about, the last
//! error and the attempts — each with *Retry* (re-queued and delivered again at once) and
//! *Discard*, both audited and both the API's own functions ([`crate::routes::health`]).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::health_view::DeliveryRow;
use super::onboard::Problem;
use super::{FormCaller, FormPage, Nav, PageAction, PageError, PageUser, Refused, no_store};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::FormFields;
use crate::state::AppState;

/// How many dead letters the page lists (the newest).
const SHOWN: u32 = 500;

#[derive(Template, WebTemplate)]
#[template(path = "dead_letters.html")]
pub struct DeadLettersPage {
    pub nav: Nav,
    pub letters: Vec<DeliveryRow>,
    /// What the last action did ("Notification 12 to ops-hook re-queued: …").
    pub notice: Option<String>,
    pub problems: Vec<Problem>,
}

async fn render(
    state: &AppState,
    who: &Principal,
    status: axum::http::StatusCode,
    notice: Option<String>,
    problems: Vec<Problem>,
) -> Result<Response, PageError> {
    let letters = state
        .engine()
        .store()
        .deliveries(Some("dead"), SHOWN)
        .await?
        .iter()
        .map(DeliveryRow::from)
        .collect();
    Ok(no_store(
        (
            status,
            DeadLettersPage {
                nav: Nav::of(who),
                letters,
                notice,
                problems,
            },
        )
            .into_response(),
    ))
}

/// `GET /notifications/dead-letters` (`?retried=<id>/<sink>` or `?discarded=…` after an action).
pub async fn dead_letters(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let query = FormFields::parse(query.as_deref().unwrap_or(""));
    let notice = match (query.get("retried"), query.get("discarded")) {
        (r, _) if !r.is_empty() => Some(format!(
            "Notification {r} re-queued: it is being delivered again. Reload to see whether the \
             sink took it (it leaves this list) or refused again."
        )),
        (_, d) if !d.is_empty() => Some(format!("Notification {d} discarded.")),
        _ => None,
    };
    render(&state, &p, axum::http::StatusCode::OK, notice, Vec::new()).await
}

/// `POST /notifications/dead-letters/{id}/{sink}/retry` and `/discard`.
pub async fn dead_letter_action(
    State(state): State<AppState>,
    caller: FormCaller,
    Path((id, sink, action)): Path<(String, String, String)>,
) -> Result<Response, PageError> {
    let form = FormPage {
        path: "/notifications/dead-letters",
        secret: None,
    };
    let who = match caller.permit(PageAction::HandleDeadLetters, &form) {
        Ok(who) => who,
        Err(Refused::SignIn(to)) => return Ok(to.into_response()),
        Err(Refused::Page {
            who,
            status,
            problem,
        }) => return render(&state, &who, status, None, vec![problem]).await,
    };
    let done = match action.as_str() {
        "retry" => crate::routes::health::retry_dead_letter(&state, &who, &id, &sink)
            .await
            .map(|(id, sink)| format!("retried={id}/{sink}")),
        "discard" => crate::routes::health::discard_dead_letter(&state, &who, &id, &sink)
            .await
            .map(|(id, sink)| format!("discarded={id}/{sink}")),
        _ => Err(ApiError::not_found(
            "there is no such action on a dead letter",
        )),
    };
    match done {
        Ok(query) => {
            Ok(Redirect::to(&format!("/notifications/dead-letters?{query}")).into_response())
        }
        Err(e) => Err(PageError(e)),
    }
}
