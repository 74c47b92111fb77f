//! The account page's actions (`POST /accounts/{id}/{action}`) and the two sections that offer
//! them: *lifecycle* (`templates/account_lifecycle.html`: rotate the client secret, offboard)
//! and *drift* (`templates/account_drift.html`: the last check's differences, check now,
//! reconcile, adopt current).
//!
//! What a section offers is decided as the engine decides a submission
//! ([`onboarding_engine::Engine::lifecycle_choices`], [`drift::managed_account`]): a rotation
//! that would be refused (a tenant's shared identity), a destroy that would be refused (a
//! shared identity, one not created here) or any lifecycle action on an adopted account is
//! shown as its reason, never as a button that fails. Every form is an operator's
//! ([`PageAction::ManageAccounts`]), carries the session's CSRF token, and calls the engine
//! function the API calls. A job-starting form redirects to its job page (the approval gate
//! there shows the destroy plan or the reconcile review); a refused one comes back as the
//! account page with the problem — never with the secret that was typed.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use cortex_store::JobRecord;
use onboarding_engine::EngineError;
use onboarding_engine::drift::{self, Origin};
use onboarding_engine::lifecycle::{OffboardOptions, RotateOptions, RotationChoice};
use prisma_types::SecretString;

use super::account::{Extras, page_account_id, render};
use super::health_view::{ago, at, now_ms};
use super::{FormCaller, FormPage, PageAction, PageError, Refused, problems_of};
use crate::error::ApiError;
use crate::extract::FormFields;
use crate::state::AppState;

/// What the lifecycle section offers.
pub struct LifecycleView {
    /// Why neither rotation nor offboarding is offered (not onboarded here, adopted, a job
    /// already working on it).
    pub unavailable: Option<String>,
    /// The connection the account was onboarded through (sent back with the forms).
    pub connection: String,
    /// Our Terraform makes the new secret: a button only (else the form asks for it).
    pub rotate_terraform: bool,
    /// Why rotation is refused for this account.
    pub rotate_refused: Option<String>,
    /// The identity can be destroyed (and is, unless the user keeps it).
    pub destroy_offered: bool,
    /// Why the identity is kept whatever the user asks.
    pub destroy_refused: Option<String>,
}

impl LifecycleView {
    fn unavailable(why: String) -> Self {
        LifecycleView {
            unavailable: Some(why),
            connection: String::new(),
            rotate_terraform: false,
            rotate_refused: None,
            destroy_offered: false,
            destroy_refused: None,
        }
    }

    pub async fn of(
        state: &AppState,
        id: &str,
        job: Option<&JobRecord>,
    ) -> Result<Self, PageError> {
        let connection = job
            .and_then(|j| j.request["connection"].as_str())
            .unwrap_or(onboarding_engine::connections::DEFAULT_CONNECTION)
            .to_owned();
        let choices = match state
            .engine()
            .lifecycle_choices(id, Some(&connection))
            .await
        {
            Ok(c) => c,
            Err(EngineError::AccountNotFound { .. }) => {
                return Ok(Self::unavailable(
                    "Unavailable: this account was not onboarded here (or it was offboarded), \
                     so there is no Azure identity of ours to rotate or destroy."
                        .to_owned(),
                ));
            }
            // An adopted account: no Terraform state here.
            Err(EngineError::NotPossible { why, .. }) => {
                return Ok(Self::unavailable(format!("Unavailable: {why}.")));
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(busy) = choices.busy {
            return Ok(Self::unavailable(format!("Unavailable while {busy}.")));
        }
        // Neither Terraform nor refused: the form asks for the new secret.
        let (rotate_terraform, rotate_refused) = match choices.rotation {
            RotationChoice::Terraform => (true, None),
            RotationChoice::SuppliedSecret => (false, None),
            RotationChoice::Refused(why) => (false, Some(why)),
        };
        Ok(LifecycleView {
            unavailable: None,
            connection,
            rotate_terraform,
            rotate_refused,
            destroy_offered: choices.destroy_by_default,
            destroy_refused: choices.destroy_refused,
        })
    }
}

/// One field the platform has otherwise than desired.
pub struct DifferenceRow {
    pub field: String,
    pub desired: String,
    pub current: String,
}

/// What the drift section shows for a managed account.
pub struct DriftView {
    /// `onboarded` or `adopted`.
    pub origin: &'static str,
    /// Where the desired state comes from, in words.
    pub desired_source: &'static str,
    /// When the last check ran; `None` before the first.
    pub checked: Option<String>,
    /// Why the last check could not compare.
    pub error: Option<String>,
    pub differences: Vec<DifferenceRow>,
}

impl DriftView {
    /// The account's drift as the last check recorded it; `None` when it is not managed here.
    pub async fn of(state: &AppState, id: &str) -> Result<Option<Self>, PageError> {
        let account = match drift::managed_account(state.engine(), id, None).await {
            Ok(a) => a,
            Err(EngineError::NotManaged { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let finding = drift::recorded(state.engine())
            .await?
            .into_iter()
            .find(|f| f.account_key == account.key);
        let differences = finding
            .as_ref()
            .and_then(|f| {
                serde_json::from_value::<Vec<drift::Difference>>(f.differences.clone()).ok()
            })
            .unwrap_or_default()
            .into_iter()
            .map(|d| DifferenceRow {
                field: d.field.replace('_', " "),
                desired: drift::config::words(&d.desired),
                current: drift::config::words(&d.current),
            })
            .collect();
        Ok(Some(DriftView {
            origin: account.origin.as_str(),
            desired_source: match (account.origin, account.desired_source.as_str()) {
                (_, "adopt_current") => "the platform's configuration, adopted as current",
                (Origin::Adopted, _) => "what the account had when it was adopted",
                (Origin::Onboarded, _) => "what its onboarding job set",
            },
            checked: finding.as_ref().map(|f| {
                format!(
                    "{} ({})",
                    at(f.checked_at_ms),
                    ago(now_ms(), f.checked_at_ms)
                )
            }),
            error: finding.and_then(|f| f.error),
            differences,
        }))
    }
}

/// The notice of `?done=<action>` after an action that comes back to the account page.
pub fn done_notice(done: &str) -> Option<String> {
    match done {
        "checked" => Some("Checked for drift just now.".to_owned()),
        "adopted_current" => Some(
            "The platform's current configuration is now the desired state: nothing to \
             reconcile."
                .to_owned(),
        ),
        _ => None,
    }
}

/// `POST /accounts/{id}/rotate-secret`, `/offboard`, `/reconcile`, `/adopt-current`,
/// `/check-drift`.
pub async fn account_action(
    State(state): State<AppState>,
    caller: FormCaller,
    Path((raw, action)): Path<(String, String)>,
    body: String,
) -> Result<Response, PageError> {
    let id = page_account_id(&raw)?;
    let path = format!("/accounts/{id}");
    let form = FormPage {
        path: &path,
        secret: (action == "rotate-secret").then_some("new client secret"),
    };
    let who = match caller.permit(PageAction::ManageAccounts, &form) {
        Ok(who) => who,
        Err(Refused::SignIn(to)) => return Ok(to.into_response()),
        Err(Refused::Page {
            who,
            status,
            problem,
        }) => {
            let refused = ApiError::forbidden(problem.message.clone());
            let extras = Extras {
                status,
                problems: vec![problem],
                ..Extras::default()
            };
            // No page to come back to (an account we know nothing of): the refusal alone.
            return render(&state, &who, id, extras)
                .await
                .or(Err(PageError(refused)));
        }
    };
    let fields = FormFields::parse(&body);
    let actor = who.actor();
    let engine = state.engine();
    let connection = Some(fields.get("connection")).filter(|c| !c.is_empty());
    let outcome: Result<String, ApiError> = match action.as_str() {
        "rotate-secret" => {
            let secret = Some(fields.raw("client_secret")).filter(|s| !s.trim().is_empty());
            let options = RotateOptions {
                connection,
                client_secret: secret.map(SecretString::from),
                secret_expiry: Some(fields.get("secret_expiry")).filter(|s| !s.is_empty()),
            };
            engine
                .submit_rotation(&id, options, &actor)
                .await
                .map(|job| format!("/jobs/{job}"))
                .map_err(ApiError::from)
        }
        "offboard" => match offboard_options(&fields, connection) {
            Ok(options) => engine
                .submit_offboard(&id, options, &actor)
                .await
                .map(|job| format!("/jobs/{job}"))
                .map_err(ApiError::from),
            Err(e) => Err(e),
        },
        "reconcile" => drift::submit_reconcile(engine, &id, None, true, &actor)
            .await
            .map(|job| format!("/jobs/{job}"))
            .map_err(ApiError::from),
        "adopt-current" => match crate::routes::drift::watch(&state) {
            Ok(watch) => drift::adopt_current(&watch, &id, None, &actor)
                .await
                .map(|_| format!("{path}?done=adopted_current"))
                .map_err(ApiError::from),
            Err(e) => Err(e),
        },
        "check-drift" => match crate::routes::drift::watch(&state) {
            Ok(watch) => match drift::managed_account(engine, &id, None).await {
                Ok(account) => drift::check(&watch, &account)
                    .await
                    .map(|_| format!("{path}?done=checked"))
                    .map_err(ApiError::from),
                Err(e) => Err(e.into()),
            },
            Err(e) => Err(e),
        },
        _ => return Err(ApiError::not_found(format!("no action {action:?} on an account")).into()),
    };
    match outcome {
        Ok(to) => Ok(Redirect::to(&to).into_response()),
        Err(e) => {
            let extras = Extras {
                status: e.status,
                problems: problems_of(&e, "account"),
                ..Extras::default()
            };
            render(&state, &who, id, extras).await
        }
    }
}

/// The offboard form's fields: `mode` (`disable` or `delete`), `identity` (`destroy`, `keep`,
/// or absent where the page offers no choice), `review` (ticked: stop at the destroy plan).
fn offboard_options(
    fields: &FormFields,
    connection: Option<String>,
) -> Result<OffboardOptions, ApiError> {
    let delete = match fields.get("mode").as_str() {
        "" | "disable" => false,
        "delete" => true,
        _ => {
            return Err(ApiError::bad_parameter(
                "mode",
                "must be disable (keep the account's history) or delete",
            ));
        }
    };
    let destroy_identity = match fields.get("identity").as_str() {
        "" => None,
        "destroy" => Some(true),
        "keep" => Some(false),
        _ => {
            return Err(ApiError::bad_parameter(
                "identity",
                "must be destroy or keep",
            ));
        }
    };
    Ok(OffboardOptions {
        connection,
        delete,
        destroy_identity,
        require_approval: fields.get("review") == "on",
    })
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn the_offboard_form_names_a_bad_field() {
        let options = offboard_options(
            &FormFields::parse("mode=delete&identity=keep&review=on"),
            None,
        )
        .unwrap();
        assert!(options.delete && options.require_approval);
        assert_eq!(options.destroy_identity, Some(false));
        let options = offboard_options(&FormFields::parse(""), None).unwrap();
        assert!(!options.delete && !options.require_approval);
        assert_eq!(options.destroy_identity, None);
        for (body, field) in [("mode=erase", "mode"), ("identity=maybe", "identity")] {
            let e = offboard_options(&FormFields::parse(body), None).expect_err(body);
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert_eq!(e.body.field.as_deref(), Some(field));
        }
    }

    #[test]
    fn only_known_actions_have_a_notice() {
        assert!(done_notice("checked").is_some());
        assert!(done_notice("adopted_current").is_some());
        assert!(done_notice("<script>").is_none());
    }
}
