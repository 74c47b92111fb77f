//! Notification sinks, `GET /notifications/sinks`: each saved sink masked (its URL's scheme and
//! host only, whether it signs — never the URL's path or the signing key, which are its
//! credentials), a form to add one (admin), and *Test* and *Delete* per sink (admin). The
//! forms go through the API's own functions ([`crate::routes::health`]): the same validation,
//! the same audit entries. A refused form comes back with its name and kind, never the URL or
//! the key.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use onboarding_engine::watch::notify::{self, RawSink};

use super::onboard::Problem;
use super::{Badge, FormCaller, FormPage, Nav, PageAction, PageError, PageUser, Refused, badge};
use super::{no_store, url_encode};
use crate::auth::Principal;
use crate::extract::FormFields;
use crate::state::AppState;

pub struct SinkRow {
    pub name: String,
    pub kind: &'static str,
    pub url: String,
    pub signed: bool,
}

/// A test delivery's outcome.
pub struct Tested {
    pub name: String,
    pub badge: Badge,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "sinks.html")]
pub struct SinksPage {
    pub nav: Nav,
    pub sinks: Vec<SinkRow>,
    pub notice: Option<String>,
    pub tested: Option<Tested>,
    pub problems: Vec<Problem>,
    /// What was typed, for a refused form: never the URL or the key.
    pub name: String,
    pub kind: String,
}

const THIS: FormPage<'static> = FormPage {
    path: "/notifications/sinks",
    secret: Some("URL and signing key"),
};

#[derive(Default)]
struct Extras {
    notice: Option<String>,
    tested: Option<Tested>,
    problems: Vec<Problem>,
    name: String,
    kind: String,
}

async fn render(
    state: &AppState,
    who: &Principal,
    status: StatusCode,
    extras: Extras,
) -> Result<Response, PageError> {
    let sinks = notify::load_sinks(state.engine().store())
        .await?
        .iter()
        .map(|s| {
            let v = s.view();
            SinkRow {
                name: v.name,
                kind: v.kind.as_str(),
                url: v.url,
                signed: v.signed,
            }
        })
        .collect();
    Ok(no_store(
        (
            status,
            SinksPage {
                nav: Nav::of(who),
                sinks,
                notice: extras.notice,
                tested: extras.tested,
                problems: extras.problems,
                name: extras.name,
                kind: if extras.kind.is_empty() {
                    "webhook".to_owned()
                } else {
                    extras.kind
                },
            },
        )
            .into_response(),
    ))
}

async fn permitted(
    state: &AppState,
    caller: FormCaller,
    extras: impl FnOnce() -> Extras,
) -> Result<Principal, Response> {
    match caller.permit(PageAction::ManageSinks, &THIS) {
        Ok(who) => Ok(who),
        Err(Refused::SignIn(to)) => Err(to.into_response()),
        Err(Refused::Page {
            who,
            status,
            problem,
        }) => {
            let mut e = extras();
            e.problems = vec![problem];
            Err(render(state, &who, status, e)
                .await
                .unwrap_or_else(IntoResponse::into_response))
        }
    }
}

/// `GET /notifications/sinks` (`?saved=<name>` or `?deleted=<name>` after an action).
pub async fn page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let query = FormFields::parse(query.as_deref().unwrap_or(""));
    let notice = match (query.get("saved"), query.get("deleted")) {
        (s, _) if !s.is_empty() => Some(format!("Sink {s} saved.")),
        (_, d) if !d.is_empty() => Some(format!("Sink {d} deleted.")),
        _ => None,
    };
    render(
        &state,
        &p,
        StatusCode::OK,
        Extras {
            notice,
            ..Extras::default()
        },
    )
    .await
}

/// `POST /notifications/sinks`: add (or replace) one.
pub async fn add(
    State(state): State<AppState>,
    caller: FormCaller,
    body: String,
) -> Result<Response, PageError> {
    let form = FormFields::parse(&body);
    let typed = || Extras {
        name: form.raw("name"),
        kind: form.raw("kind"),
        ..Extras::default()
    };
    let who = match permitted(&state, caller, typed).await {
        Ok(who) => who,
        Err(page) => return Ok(page),
    };
    let optional = |k: &str| Some(form.raw(k)).filter(|v| !v.trim().is_empty());
    let raw = RawSink {
        name: optional("name"),
        kind: optional("kind"),
        url: optional("url"),
        signing_key: optional("signing_key"),
    };
    match crate::routes::health::save_sink_as(&state, &who, &raw).await {
        Ok(view) => Ok(Redirect::to(&format!(
            "/notifications/sinks?saved={}",
            url_encode(&view.name)
        ))
        .into_response()),
        Err(e) => {
            let mut extras = typed();
            extras.problems = super::problems_of(&e, "sink");
            render(&state, &who, e.status, extras).await
        }
    }
}

/// `POST /notifications/sinks/{name}/test` and `/delete`.
pub async fn action(
    State(state): State<AppState>,
    caller: FormCaller,
    Path((name, action)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let who = match permitted(&state, caller, Extras::default).await {
        Ok(who) => who,
        Err(page) => return Ok(page),
    };
    let outcome = match action.as_str() {
        "delete" => crate::routes::health::delete_sink_as(&state, &who, &name)
            .await
            .map(|()| None),
        "test" => crate::routes::health::test_sink_as(&state, &who, &name)
            .await
            .map(Some),
        _ => Err(crate::error::ApiError::not_found(
            "there is no such action on a sink",
        )),
    };
    match outcome {
        Ok(None) => Ok(Redirect::to(&format!(
            "/notifications/sinks?deleted={}",
            url_encode(&name)
        ))
        .into_response()),
        Ok(Some(t)) => {
            let (b, detail) = if t.delivered {
                let mut b = badge("ok");
                b.text = "delivered".to_owned();
                (b, "The sink took the test notification.".to_owned())
            } else {
                let mut b = badge("error");
                b.text = "not delivered".to_owned();
                (
                    b,
                    format!(
                        "The sink did not take it: {}.",
                        t.last_error.as_deref().unwrap_or("no answer")
                    ),
                )
            };
            render(
                &state,
                &who,
                StatusCode::OK,
                Extras {
                    tested: Some(Tested {
                        name: t.name,
                        badge: b,
                        detail,
                    }),
                    ..Extras::default()
                },
            )
            .await
        }
        Err(e) => Err(PageError(e)),
    }
}
