//! The Adopt page, `GET /adoption`: the platform's Azure accounts onboarded outside the product
//! ([`drift::adoptable`]) with a form to take them into management (operator), and the accounts
//! adopted so far. An adopted account is watched and compared for drift from then on; rotation
//! and destroy stay unavailable for it (no Terraform state here), which its page says.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use onboarding_engine::drift::{self, AdoptableAccount, Origin};

use super::onboard::Problem;
use super::problems_of;
use super::{FormCaller, FormPage, Nav, PageAction, PageError, PageUser, Refused, no_store};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::FormFields;
use crate::state::AppState;

/// An account adopted earlier.
pub struct AdoptedRow {
    pub account_id: String,
    pub name: String,
    pub connection: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "adoption.html")]
pub struct AdoptionPage {
    pub nav: Nav,
    pub adoptable: Vec<AdoptableAccount>,
    /// Why the platform's accounts could not be listed.
    pub platform_error: Option<String>,
    pub adopted: Vec<AdoptedRow>,
    pub notice: Option<String>,
    pub problems: Vec<Problem>,
}

const THIS: FormPage<'static> = FormPage {
    path: "/adoption",
    secret: None,
};

async fn render(
    state: &AppState,
    who: &Principal,
    status: StatusCode,
    notice: Option<String>,
    problems: Vec<Problem>,
) -> Result<Response, PageError> {
    let (adoptable, platform_error) = match drift::adoptable(state.engine(), None).await {
        Ok(a) => (a, None),
        Err(e) => (
            Vec::new(),
            Some(format!(
                "Prisma Cloud could not be asked for its accounts: {}",
                ApiError::from(e).body.message
            )),
        ),
    };
    let adopted = drift::managed_accounts(state.engine())
        .await?
        .into_iter()
        .filter(|a| a.origin == Origin::Adopted)
        .map(|a| AdoptedRow {
            account_id: a.account_id,
            name: a.account_name,
            connection: a.connection,
        })
        .collect();
    Ok(no_store(
        (
            status,
            AdoptionPage {
                nav: Nav::of(who),
                adoptable,
                platform_error,
                adopted,
                notice,
                problems,
            },
        )
            .into_response(),
    ))
}

/// `GET /adoption` (`?adopted=<n>` after adopting).
pub async fn page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let adopted = FormFields::parse(query.as_deref().unwrap_or(""))
        .get("adopted")
        .parse::<usize>()
        .ok();
    let notice = adopted.map(|n| {
        format!(
            "Adopted {n} account{}: the health watch and drift checks follow {} from now on.",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        )
    });
    render(&state, &p, StatusCode::OK, notice, Vec::new()).await
}

/// `POST /adoption`: adopt the ticked accounts (`account_ids`), all or none.
pub async fn adopt(
    State(state): State<AppState>,
    caller: FormCaller,
    body: String,
) -> Result<Response, PageError> {
    let who = match caller.permit(PageAction::ManageAccounts, &THIS) {
        Ok(who) => who,
        Err(Refused::SignIn(to)) => return Ok(to.into_response()),
        Err(Refused::Page {
            who,
            status,
            problem,
        }) => return render(&state, &who, status, None, vec![problem]).await,
    };
    let ids = FormFields::parse(&body).all("account_ids");
    let outcome = if ids.is_empty() {
        Err(ApiError::bad_parameter(
            "account_ids",
            "tick at least one account to adopt",
        ))
    } else {
        match crate::routes::drift::watch(&state) {
            Ok(watch) => drift::adopt(&watch, &ids, None, &who.actor())
                .await
                .map_err(ApiError::from),
            Err(e) => Err(e),
        }
    };
    match outcome {
        Ok(adopted) => {
            Ok(Redirect::to(&format!("/adoption?adopted={}", adopted.len())).into_response())
        }
        Err(e) => render(&state, &who, e.status, None, problems_of(&e, "account_ids")).await,
    }
}
