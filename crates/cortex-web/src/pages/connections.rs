//! The connections page (`/connections`): Prisma Cloud and Cortex Cloud.
//!
//! Everyone signed in sees the list: name, platform, URL, the key id (a Prisma access key id
//! masked; a Cortex key id and its type), and that the secret is stored encrypted (`default`
//! is the server's configured connection, `cortex-sandbox` the sandbox's Cortex Cloud one;
//! their keys come from the server's configuration). Operators get a "Test connection" button
//! per row: a form POST to `/connections/{name}/test` that renders the page again with the
//! outcome as an icon and a word. Admins also get one form per platform to add a connection
//! (the secret in a password field with `autocomplete=new-password`; saving an existing name
//! replaces it) and a Delete button per saved connection. Every form carries the session's CSRF token; a refused form comes back
//! with each problem named and the values kept — except the secret, which is never echoed.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use onboarding_engine::{ConnectionName, RawConnection};
use prisma_types::SecretString;

use askama::Template;
use askama_web::WebTemplate;

use super::onboard::Problem;
use super::{
    Badge, FormCaller, FormPage, Nav, PageAction, PageUser, Refused, no_store, url_encode,
};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::form_pairs;
use crate::state::AppState;

pub struct ConnectionRow {
    pub name: String,
    /// "Prisma Cloud" or "Cortex Cloud".
    pub platform: String,
    pub default: bool,
    pub api_url: String,
    /// The access key id masked (Prisma Cloud), or the key id and its type (Cortex Cloud).
    pub key_id: String,
    /// Where the secret is kept, in words.
    pub secret: String,
    pub description: String,
    pub problem: Option<String>,
}

/// The add forms' values (never the secret): the form of `platform` shows them.
#[derive(Default)]
pub struct ConnectionValues {
    /// `prisma` or `cortex`: which form was sent.
    pub platform: String,
    pub name: String,
    pub api_url: String,
    pub access_key_id: String,
    pub key_id: String,
    pub key_type: String,
}

impl ConnectionValues {
    /// The values the Prisma Cloud form shows (empty when the Cortex one was sent).
    pub fn prisma(&self) -> ConnectionValues {
        if self.platform == "cortex" {
            ConnectionValues::default()
        } else {
            self.clone_values()
        }
    }

    /// The values the Cortex Cloud form shows (empty when the Prisma one was sent).
    pub fn cortex(&self) -> ConnectionValues {
        if self.platform == "cortex" {
            self.clone_values()
        } else {
            ConnectionValues::default()
        }
    }

    fn clone_values(&self) -> ConnectionValues {
        ConnectionValues {
            platform: self.platform.clone(),
            name: self.name.clone(),
            api_url: self.api_url.clone(),
            access_key_id: self.access_key_id.clone(),
            key_id: self.key_id.clone(),
            key_type: self.key_type.clone(),
        }
    }
}

/// A test's outcome, shown as an icon and a word.
pub struct Tested {
    pub name: String,
    pub badge: Badge,
    pub message: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "connections.html")]
pub struct ConnectionsPage {
    pub nav: Nav,
    pub connections: Vec<ConnectionRow>,
    pub list_error: Option<String>,
    pub values: ConnectionValues,
    pub problems: Vec<Problem>,
    /// "Saved connection x." and the like, after a redirect.
    pub notice: Option<String>,
    pub tested: Option<Tested>,
}

/// What a render adds to the list.
#[derive(Default)]
struct Extras {
    values: ConnectionValues,
    problems: Vec<Problem>,
    notice: Option<String>,
    tested: Option<Tested>,
}

async fn render(state: &AppState, p: &Principal, status: StatusCode, extras: Extras) -> Response {
    let (connections, list_error) = match state.engine().list_connections().await {
        Ok(views) => (
            views
                .into_iter()
                .map(|c| ConnectionRow {
                    secret: if c.default {
                        "from the server's configuration".into()
                    } else {
                        "stored encrypted".into()
                    },
                    key_id: match (&c.key_id, c.key_type) {
                        (Some(id), Some(t)) => format!("{id} ({t})"),
                        (Some(id), None) => id.clone(),
                        _ => c.access_key_id.clone(),
                    },
                    platform: c.platform.title().into(),
                    name: c.name,
                    default: c.default,
                    api_url: c.api_url,
                    description: c.description,
                    problem: c.problem,
                })
                .collect(),
            None,
        ),
        Err(e) => {
            let e = ApiError::from(e);
            (Vec::new(), Some(e.body.message))
        }
    };
    no_store(
        (
            status,
            ConnectionsPage {
                nav: Nav::of(p),
                connections,
                list_error,
                values: extras.values,
                problems: extras.problems,
                notice: extras.notice,
                tested: extras.tested,
            },
        )
            .into_response(),
    )
}

pub async fn page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    RawQuery(query): RawQuery,
) -> Response {
    // After a redirect: a valid connection name only (anything else is ignored).
    let notice = form_pairs(query.as_deref().unwrap_or(""))
        .into_iter()
        .find_map(|(k, v)| {
            let name = ConnectionName::parse(&v).ok()?;
            match k.as_str() {
                "saved" => Some(format!("Saved connection {name}.")),
                "deleted" => Some(format!("Deleted connection {name}.")),
                _ => None,
            }
        });
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

/// The connections page: where its forms come back to, and the secret the add form asks for.
const THIS: FormPage<'static> = FormPage {
    path: "/connections",
    secret: Some("secret key"),
};

/// The caller, if allowed; else the page again with why (and `values` as typed), or the trip
/// to the sign-in page.
async fn permit(
    state: &AppState,
    caller: FormCaller,
    action: PageAction,
    values: ConnectionValues,
) -> Result<Principal, Response> {
    let form = FormPage {
        secret: (action == PageAction::SaveConnections).then_some("secret key"),
        ..THIS
    };
    match caller.permit(action, &form) {
        Ok(who) => Ok(who),
        Err(Refused::SignIn(to)) => Err(to.into_response()),
        Err(Refused::Page {
            who,
            status,
            problem,
        }) => Err(render(
            state,
            &who,
            status,
            Extras {
                values,
                problems: vec![problem],
                ..Extras::default()
            },
        )
        .await),
    }
}

pub async fn add(State(state): State<AppState>, caller: FormCaller, body: String) -> Response {
    let form = form_pairs(&body);
    let one = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.trim().is_empty())
    };
    let raw = RawConnection {
        platform: one("platform"),
        name: one("name"),
        api_url: one("api_url"),
        access_key_id: one("access_key_id"),
        secret_key: one("secret_key").map(SecretString::from),
        key_id: one("key_id").map(|id| id.as_str().into()),
        key: one("key").map(SecretString::from),
        key_type: one("key_type"),
    };
    let values = || ConnectionValues {
        platform: raw.platform.clone().unwrap_or_default(),
        name: raw.name.clone().unwrap_or_default(),
        api_url: raw.api_url.clone().unwrap_or_default(),
        access_key_id: raw.access_key_id.clone().unwrap_or_default(),
        key_id: one("key_id").unwrap_or_default(),
        key_type: raw.key_type.clone().unwrap_or_default(),
    };
    let who = match permit(&state, caller, PageAction::SaveConnections, values()).await {
        Ok(who) => who,
        Err(page) => return page,
    };
    match crate::routes::connections::save_connection(&state, &raw, &who.actor()).await {
        Ok((saved, _)) => {
            Redirect::to(&format!("/connections?saved={}", url_encode(&saved.name))).into_response()
        }
        Err(e) => {
            render(
                &state,
                &who,
                e.status,
                Extras {
                    values: values(),
                    problems: super::problems_of(&e, "connection"),
                    ..Extras::default()
                },
            )
            .await
        }
    }
}

pub async fn test(
    State(state): State<AppState>,
    caller: FormCaller,
    Path(name): Path<String>,
) -> Response {
    let who = match permit(
        &state,
        caller,
        PageAction::TestConnections,
        Default::default(),
    )
    .await
    {
        Ok(who) => who,
        Err(page) => return page,
    };
    match crate::routes::connections::test_connection(&state, &name, &who.actor()).await {
        Ok(result) => {
            let badge = if result.ok {
                Badge {
                    icon: "ok",
                    text: "Connection OK".into(),
                    class: "ok",
                }
            } else {
                Badge {
                    icon: "bad",
                    text: "Connection failed".into(),
                    class: "bad",
                }
            };
            let tested = Tested {
                name: result.name,
                badge,
                message: result.message,
            };
            render(
                &state,
                &who,
                StatusCode::OK,
                Extras {
                    tested: Some(tested),
                    ..Extras::default()
                },
            )
            .await
        }
        Err(e) => {
            let problems = super::problems_of(&e, "connection");
            render(
                &state,
                &who,
                e.status,
                Extras {
                    problems,
                    ..Extras::default()
                },
            )
            .await
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    caller: FormCaller,
    Path(name): Path<String>,
) -> Response {
    let who = match permit(
        &state,
        caller,
        PageAction::DeleteConnections,
        Default::default(),
    )
    .await
    {
        Ok(who) => who,
        Err(page) => return page,
    };
    let deleted = async {
        let name = crate::routes::connections::saved_target(&name)?;
        if state
            .engine()
            .delete_connection(&name, &who.actor())
            .await?
        {
            Ok(name)
        } else {
            Err(ApiError::not_found(format!("connection {name} not found")))
        }
    }
    .await;
    match deleted {
        Ok(name) => Redirect::to(&format!(
            "/connections?deleted={}",
            url_encode(name.as_str())
        ))
        .into_response(),
        Err(e) => {
            let problems = super::problems_of(&e, "connection");
            render(
                &state,
                &who,
                e.status,
                Extras {
                    problems,
                    ..Extras::default()
                },
            )
            .await
        }
    }
}
