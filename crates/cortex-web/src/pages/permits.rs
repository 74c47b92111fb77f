//! Who may press what on the pages, and what a refused form does.
//!
//! [`PageAction`] is the one table: every action a page offers, with the least role that may
//! take it — the role its API route's extractor ([`crate::auth::Operator`],
//! [`crate::auth::Admin`]) enforces, which `tests/web/permits.rs` checks route by route.
//! [`May`] is that table for one user; every template reads it as `nav.may.…`, so a page
//! never shows a button its user cannot use.
//!
//! A page's form does not reject its caller with the API's JSON: [`FormCaller`] hands the
//! handler the verdict of [`FormCaller::permit`], and a refused form comes back as its page
//! with the message and what was typed ([`Refused::Page`]) — or, when there is no session any
//! more, as a trip to the sign-in page that comes back to the form ([`Refused::SignIn`]). The
//! form's values survive that trip in the browser tab: `assets/forms.js` keeps them in
//! `sessionStorage` on submit (never a password field, never the CSRF token) and puts them
//! back when the form page is opened with `?restore=1`, which is where the sign-in sends the
//! user. The server never sees them on the way, so nothing typed travels in a URL or a log.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Redirect;

use super::onboard::Problem;
use super::url_encode;
use crate::auth::{Principal, Role, page_principal};

/// Everything a page lets a user do besides reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageAction {
    /// Start an onboarding: the wizard and bulk (check and start).
    Onboard,
    /// Approve, cancel or resume a job.
    ControlJobs,
    /// Re-run a batch's failed rows.
    RetryBatches,
    /// Test a Prisma Cloud connection.
    TestConnections,
    /// Save (add or replace) a Prisma Cloud connection.
    SaveConnections,
    /// Delete a saved Prisma Cloud connection.
    DeleteConnections,
    /// Retry or discard a notification no sink took.
    HandleDeadLetters,
    /// Add, test or delete a notification sink.
    ManageSinks,
    /// Rotate an account's secret, offboard it, check or mend its drift, adopt accounts.
    ManageAccounts,
}

impl PageAction {
    pub const ALL: [PageAction; 9] = [
        PageAction::Onboard,
        PageAction::ControlJobs,
        PageAction::RetryBatches,
        PageAction::TestConnections,
        PageAction::SaveConnections,
        PageAction::DeleteConnections,
        PageAction::HandleDeadLetters,
        PageAction::ManageSinks,
        PageAction::ManageAccounts,
    ];

    /// The least role allowed to take the action (as the API enforces it).
    pub const fn needs(self) -> Role {
        match self {
            PageAction::Onboard
            | PageAction::ControlJobs
            | PageAction::RetryBatches
            | PageAction::TestConnections
            | PageAction::HandleDeadLetters
            | PageAction::ManageAccounts => Role::Operator,
            PageAction::SaveConnections
            | PageAction::DeleteConnections
            | PageAction::ManageSinks => Role::Admin,
        }
    }

    /// The action in words, as the subject of a sentence.
    pub const fn words(self) -> &'static str {
        match self {
            PageAction::Onboard => "starting an onboarding",
            PageAction::ControlJobs => "approving, cancelling or resuming a job",
            PageAction::RetryBatches => "retrying a batch",
            PageAction::TestConnections => "testing a connection",
            PageAction::SaveConnections => "saving a connection",
            PageAction::DeleteConnections => "deleting a connection",
            PageAction::HandleDeadLetters => "retrying or discarding a dead letter",
            PageAction::ManageSinks => "adding, testing or deleting a notification sink",
            PageAction::ManageAccounts => {
                "rotating, offboarding, reconciling or adopting an account"
            }
        }
    }

    pub fn allowed(self, role: Role) -> bool {
        role >= self.needs()
    }
}

/// What one user may do: [`PageAction`]'s table for their role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct May {
    pub onboard: bool,
    pub control_jobs: bool,
    pub retry_batches: bool,
    pub test_connections: bool,
    pub save_connections: bool,
    pub delete_connections: bool,
    pub handle_dead_letters: bool,
    pub manage_sinks: bool,
    pub manage_accounts: bool,
}

impl May {
    pub fn of(role: Role) -> Self {
        let may = |a: PageAction| a.allowed(role);
        May {
            onboard: may(PageAction::Onboard),
            control_jobs: may(PageAction::ControlJobs),
            retry_batches: may(PageAction::RetryBatches),
            test_connections: may(PageAction::TestConnections),
            save_connections: may(PageAction::SaveConnections),
            delete_connections: may(PageAction::DeleteConnections),
            handle_dead_letters: may(PageAction::HandleDeadLetters),
            manage_sinks: may(PageAction::ManageSinks),
            manage_accounts: may(PageAction::ManageAccounts),
        }
    }

    /// Whether any action at all is allowed (a viewer: none).
    pub fn anything(&self) -> bool {
        PageAction::ALL.iter().any(|a| self.get(*a))
    }

    pub fn get(&self, action: PageAction) -> bool {
        match action {
            PageAction::Onboard => self.onboard,
            PageAction::ControlJobs => self.control_jobs,
            PageAction::RetryBatches => self.retry_batches,
            PageAction::TestConnections => self.test_connections,
            PageAction::SaveConnections => self.save_connections,
            PageAction::DeleteConnections => self.delete_connections,
            PageAction::HandleDeadLetters => self.handle_dead_letters,
            PageAction::ManageSinks => self.manage_sinks,
            PageAction::ManageAccounts => self.manage_accounts,
        }
    }
}

/// The sender of a page's form, not yet judged (this extractor never rejects).
pub struct FormCaller(Option<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for FormCaller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(FormCaller(page_principal(parts)))
    }
}

/// Why a form was not taken, and what to show instead.
pub enum Refused {
    /// No session (it expired, or the user signed out elsewhere): to the sign-in page, which
    /// comes back to the form with `?restore=1`.
    SignIn(Redirect),
    /// Signed in, but the role does not allow it or the form's CSRF token is stale: the page
    /// again, with this problem and the values as typed.
    Page {
        who: Box<Principal>,
        status: StatusCode,
        problem: Problem,
    },
}

/// The form a handler serves: the page it comes back to and its secret field, if any.
pub struct FormPage<'a> {
    /// The page the form is on (`/onboard`), where the sign-in comes back to.
    pub path: &'a str,
    /// The secret the form asks for, in words ("client secret"), which is never sent back.
    pub secret: Option<&'a str>,
}

impl FormPage<'_> {
    fn secret_note(&self) -> String {
        match self.secret {
            Some(s) => format!(" The {s} is never sent back to the browser: type it again."),
            None => String::new(),
        }
    }
}

impl FormCaller {
    /// The caller as the session or token says, before any check.
    pub fn into_principal(self) -> Option<Principal> {
        self.0
    }

    /// [`Self::permit`] for a handler that builds its page first and shows a refusal on it:
    /// the caller, and why they may not (the status and the problem) if they may not. Only a
    /// caller without a session is turned away at once, to sign in and come back.
    pub fn permit_on_page(
        self,
        action: PageAction,
        form: &FormPage<'_>,
    ) -> Result<(Principal, Option<(StatusCode, Problem)>), Redirect> {
        match self.permit(action, form) {
            Ok(who) => Ok((who, None)),
            Err(Refused::SignIn(to)) => Err(to),
            Err(Refused::Page {
                who,
                status,
                problem,
            }) => Ok((*who, Some((status, problem)))),
        }
    }

    /// The caller, if they may take `action` with this form.
    pub fn permit(self, action: PageAction, form: &FormPage<'_>) -> Result<Principal, Refused> {
        let Some(who) = self.0 else {
            return Err(Refused::SignIn(sign_in_and_back(form.path)));
        };
        if !who.csrf_ok {
            let message = format!(
                "This form was out of date (you signed in again since it was opened, or it was \
                 sent from another site), so nothing was changed. Check the values below and \
                 submit again.{}",
                form.secret_note()
            );
            return Err(Refused::Page {
                who: Box::new(who),
                status: StatusCode::FORBIDDEN,
                problem: Problem {
                    field: "session".into(),
                    message,
                },
            });
        }
        if !action.allowed(who.user.role) {
            let message = format!(
                "{} is {}: {} needs the {} role, so nothing was changed.{}",
                who.user.name,
                who.user.role.with_article(),
                action.words(),
                action.needs(),
                form.secret_note()
            );
            return Err(Refused::Page {
                who: Box::new(who),
                status: StatusCode::FORBIDDEN,
                problem: Problem {
                    field: "role".into(),
                    message,
                },
            });
        }
        Ok(who)
    }
}

/// `303` to the sign-in page, saying the session ended, and from there back to `path` with
/// `?restore=1` (the page's script then puts back what was typed).
pub fn sign_in_and_back(path: &str) -> Redirect {
    let back = format!("{path}?restore=1");
    Redirect::to(&format!("/login?next={}", url_encode(&back)))
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;

    #[test]
    fn viewers_may_do_nothing_operators_all_but_connections_admins_everything() {
        assert!(!May::of(Role::Viewer).anything());
        let operator = May::of(Role::Operator);
        assert!(operator.onboard && operator.control_jobs && operator.retry_batches);
        assert!(operator.test_connections);
        assert!(!operator.save_connections && !operator.delete_connections);
        assert!(operator.handle_dead_letters && !operator.manage_sinks);
        assert!(operator.manage_accounts);
        let admin = May::of(Role::Admin);
        assert!(PageAction::ALL.iter().all(|a| admin.get(*a)));
    }

    #[test]
    fn the_sign_in_detour_comes_back_to_the_form() {
        let r = sign_in_and_back("/onboard").into_response();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()["location"],
            "/login?next=/onboard%3Frestore%3D1"
        );
    }
}
