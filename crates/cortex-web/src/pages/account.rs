//! One account's page, `GET /accounts/{id}` (a subscription or tenant GUID): what it is, its
//! current health per capability, the health history as a timeline, its client secret's end
//! date, and the notifications about it — then the actions on it.
//!
//! The facts come from our own records (the newest onboarding job for the account and the
//! health watch's checks) and, when it answers, the platform (Prisma Cloud's view of the
//! account). An ID that is not a GUID, or an account we know nothing of, is a 404 page.
//!
//! # The actions area
//!
//! Other features add their buttons and sections to the page without touching the rest: each
//! adds its own partial template (`account_<feature>.html`, included in `account.html`'s
//! marked actions area) and its own field on [`AccountPage`] (filled in [`account_page`]),
//! at the marked lines.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cortex_store::{JobRecord, JobState};

use super::account_actions::{self, DriftView, LifecycleView};
use super::dashboard::{SecretExpiry, account_kind_label, secret_expiry};
use super::health_view::{self, CapabilityNow, DeliveryRow, HealthNow, Timeline};
use super::onboard::Problem;
use super::{Badge, Nav, PageError, PageUser, badge, job_name, no_store, when};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::FormFields;
use crate::state::AppState;

/// How many of our newest jobs are searched for the account's onboarding.
const JOBS_LOOKED_AT: u32 = 5000;
/// How many checks the timeline shows (the newest).
pub const TIMELINE_CHECKS: u32 = 100;
/// How many of the newest deliveries are searched for the account's notifications.
const DELIVERIES_LOOKED_AT: u32 = 1000;

/// The onboarding job an account came from.
pub struct OnboardingJob {
    pub id: String,
    pub state: Badge,
    pub at: String,
    /// The platform connection it used (`default` when none was named).
    pub connection: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub nav: Nav,
    /// The account's ID as the platform has it (lower-case GUID).
    pub id: String,
    pub name: String,
    pub kind: String,
    /// Enabled / disabled in the platform, "not in Prisma Cloud", or unknown (it did not answer).
    pub platform_status: Badge,
    /// Why the platform's view is missing, when it did not answer.
    pub platform_error: Option<String>,
    /// The newest onboarding job for this account, if we onboarded it.
    pub job: Option<OnboardingJob>,
    /// The client secret's end date, when our Terraform created it.
    pub secret: Option<SecretExpiry>,
    /// What to do about a secret near or past its end.
    pub secret_warning: Option<String>,
    /// The newest check's health, and what changed last; `None` before the first check.
    pub health: Option<HealthNow>,
    /// The capabilities as the newest check saw them.
    pub capabilities: Vec<(CapabilityNow, Badge)>,
    /// The history (newest [`TIMELINE_CHECKS`]) as strips per capability and as a table.
    pub timeline: Option<Timeline>,
    /// The notifications about this account, each delivery to a sink, newest first.
    pub notifications: Vec<DeliveryRow>,
    // ---- actions area: each feature adds one field below its own marker line ----
    /// What the last action did, or why a form was refused (shown above the actions).
    pub notice: Option<String>,
    pub problems: Vec<Problem>,
    // [h15life: rotate secret, offboard]
    pub lifecycle: LifecycleView,
    // [h15drift: drift]
    /// The account's drift, when it is managed here (onboarded or adopted).
    pub drift: Option<DriftView>,
}

/// What a page's form adds to the account page it comes back to.
pub struct Extras {
    pub status: StatusCode,
    pub notice: Option<String>,
    pub problems: Vec<Problem>,
}

impl Default for Extras {
    fn default() -> Self {
        Extras {
            status: StatusCode::OK,
            notice: None,
            problems: Vec::new(),
        }
    }
}

/// The account ID of a page address: a GUID, else 404 (there is no such page).
pub fn page_account_id(raw: &str) -> Result<String, PageError> {
    prisma_types::TenantId::parse(raw)
        .map(|id| id.to_string())
        .map_err(|_| {
            PageError(ApiError::not_found(
                "there is no account at this address: an account ID is a subscription or tenant GUID",
            ))
        })
}

/// The account a job is about (the subscription, or the tenant for tenant and Entra scopes),
/// or the account its result registered.
fn is_about(job: &JobRecord, id: &str) -> bool {
    let scope = &job.request["scope"];
    [
        scope["subscription_id"].as_str(),
        scope["tenant_id"].as_str(),
        job.result.as_ref().and_then(|r| r["account_id"].as_str()),
    ]
    .into_iter()
    .flatten()
    .any(|a| a.eq_ignore_ascii_case(id))
}

/// The newest onboarding job for the account (a succeeded one first: it is what the platform
/// has).
async fn onboarding_job(state: &AppState, id: &str) -> Result<Option<JobRecord>, PageError> {
    let jobs = state
        .engine()
        .store()
        .list_jobs(None, JOBS_LOOKED_AT)
        .await?;
    let mut about = jobs
        .into_iter()
        .filter(|j| j.kind.starts_with("onboard_") && is_about(j, id));
    let first = about.next();
    if first
        .as_ref()
        .is_some_and(|j| j.state == JobState::Succeeded)
    {
        return Ok(first);
    }
    Ok(about.find(|j| j.state == JobState::Succeeded).or(first))
}

/// `GET /accounts/{id}` (`?done=<action>` after an action that stays on the page).
pub async fn account_page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Path(raw): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let id = page_account_id(&raw)?;
    let done = FormFields::parse(query.as_deref().unwrap_or("")).get("done");
    let extras = Extras {
        notice: account_actions::done_notice(&done),
        ..Extras::default()
    };
    render(&state, &p, id, extras).await
}

/// The account page of `id` (a parsed account ID) for `p`, with what a form adds.
pub(super) async fn render(
    state: &AppState,
    p: &Principal,
    id: String,
    extras: Extras,
) -> Result<Response, PageError> {
    let state = state.clone();
    let job = onboarding_job(&state, &id).await?;
    let (platform, platform_error) = match state.engine().client().get_azure_account(&id).await {
        Ok(view) => (view, None),
        Err(e) => (
            None,
            Some(format!(
                "Prisma Cloud could not be asked about this account: {e}"
            )),
        ),
    };
    let watched = !onboarding_engine::watch::account_history(state.engine().store(), &id, 1)
        .await?
        .is_empty();
    if job.is_none() && platform.is_none() && platform_error.is_none() && !watched {
        return Err(PageError(ApiError::not_found(format!(
            "account {id} is neither in Prisma Cloud nor onboarded by us"
        ))));
    }
    let (name, kind, platform_status) = match (&platform, &job) {
        (Some(v), _) => (
            v.cloud_account.name.clone(),
            account_kind_label(&v.cloud_account.account_type),
            badge(if v.cloud_account.enabled {
                "enabled"
            } else {
                "disabled"
            }),
        ),
        (None, Some(j)) => (
            job_name(&j.request),
            account_kind_label(j.request["scope"]["kind"].as_str().unwrap_or_default()),
            if platform_error.is_some() {
                badge("unknown")
            } else {
                badge("not_in_prisma_cloud")
            },
        ),
        (None, None) => (id.clone(), String::new(), badge("unknown")),
    };
    let secret = job.as_ref().and_then(secret_expiry);
    let secret_warning = secret.as_ref().and_then(|s| match s.badge.class {
        "bad" => Some(format!(
            "The client secret ended on {}: the platform can no longer read this account. \
             Rotate it now.",
            s.date
        )),
        "warn" => Some(format!(
            "The client secret ends on {} ({}): rotate it before then.",
            s.date, s.badge.text
        )),
        _ => None,
    });
    let store = state.engine().store();
    let history = onboarding_engine::watch::account_history(store, &id, TIMELINE_CHECKS).await?;
    let now = health_view::now_ms();
    let health = history.first().map(|latest| {
        let last_change = history
            .iter()
            .find(|r| r.check.changes != serde_json::json!([]));
        HealthNow::of(latest, last_change, now)
    });
    let capabilities = history
        .first()
        .map(|latest| {
            health_view::capabilities(latest)
                .into_iter()
                .map(|c| {
                    let b = badge(&c.status);
                    (c, b)
                })
                .collect()
        })
        .unwrap_or_default();
    let timeline = Timeline::of(&history);
    let notifications = store
        .deliveries(None, DELIVERIES_LOOKED_AT)
        .await?
        .iter()
        .filter(|d| {
            d.payload["account"]["account_id"]
                .as_str()
                .is_some_and(|a| a.eq_ignore_ascii_case(&id))
        })
        .map(DeliveryRow::from)
        .collect();
    let lifecycle = LifecycleView::of(&state, &id, job.as_ref()).await?;
    let drift = DriftView::of(&state, &id).await?;
    let job = job.map(|j| OnboardingJob {
        id: j.id.to_string(),
        state: badge(j.state.as_str()),
        at: when(j.created_at),
        connection: j.request["connection"]
            .as_str()
            .unwrap_or(onboarding_engine::connections::DEFAULT_CONNECTION)
            .to_owned(),
    });
    Ok(no_store(
        (
            extras.status,
            AccountPage {
                nav: Nav::of(p),
                id,
                name,
                kind,
                platform_status,
                platform_error,
                job,
                secret,
                secret_warning,
                health,
                capabilities,
                timeline,
                notifications,
                // ---- actions area: each feature fills its field below its own marker line ----
                notice: extras.notice,
                problems: extras.problems,
                // [h15life: rotate secret, offboard]
                lifecycle,
                // [h15drift: drift]
                drift,
            },
        )
            .into_response(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_guid_is_an_account_address() {
        assert_eq!(
            page_account_id("0F5C2E4A-1B2C-4D3E-8F90-A1B2C3D4E5F6").ok(),
            Some("0f5c2e4a-1b2c-4d3e-8f90-a1b2c3d4e5f6".to_owned())
        );
        for bad in ["", "x", "../etc", "0f5c2e4a-1b2c-4d3e-8f90"] {
            let e = page_account_id(bad).expect_err("refused");
            assert_eq!(e.0.status, axum::http::StatusCode::NOT_FOUND, "{bad}");
        }
    }
}
