//! After onboarding: rotating an account's Azure client secret and offboarding it, each a job
//! on the shared runner ([`crate::job`]) with steps, events and resume like an onboarding.
//!
//! * **Rotation** (`rotate_secret`: prerequisites → add_password → update_account → verify →
//!   remove_old_password). For an identity our Terraform created, a keyed password is added
//!   beside the old one on the restored encrypted state ([`azure_config::passwords`]), the
//!   platform account is tested with and switched to the new secret, its capabilities are
//!   verified green, and only then the old password is removed. Until `update_account`
//!   succeeds the old secret is the one in use and still exists; a failure anywhere leaves it
//!   working and the job's error says what to do (resume continues where it stopped). For an
//!   `existing` identity (and Prisma's own template) the new secret comes from a file, the
//!   environment or the API body, is stored encrypted with the job, then tested, set, verified.
//! * **Offboarding** (`offboard`: prerequisites → plan_destroy → offboard_account →
//!   destroy_identity). The account is disabled (or deleted) in the platform; for identities
//!   we created, `terraform destroy` of the identity follows, behind the approval gate when
//!   asked (the review shows the destroy plan). A tenant's shared identity that other accounts
//!   still use is never destroyed: asked for, the job is refused with the accounts named.
//!   Existing identities are not ours: platform side only, and the job says so.
//!
//! Both work on the account's latest onboarding job: its request, its checkpoints (groups,
//! identity IDs) and the secrets stored under it (the client secret and the Terraform state).

use cortex_store::{JobId, JobState, NewJob};
use prisma_types::SecretString;
use prisma_types::account::validate_client_secret;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::connections::ConnectionName;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::identity::CLIENT_SECRET;
use crate::request::{FieldError, IdentitySource, OnboardingRequest, RequestErrors};
use crate::watch::{WatchedAccount, onboarded_accounts};

/// The job kind of a client-secret rotation.
pub const ROTATE_KIND: &str = "rotate_secret";
/// The job kind of an offboarding.
pub const OFFBOARD_KIND: &str = "offboard";

/// Why the secret of an account on its tenant's shared identity is not rotated.
const SHARED_IDENTITY_ROTATION: &str = "it uses its tenant's shared identity, whose one secret \
     serves every subscription of the tenant onboarded with it; rotating it for all of them at \
     once is not supported yet";

/// Why a rotation was submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    OnDemand,
    /// The health watch, at the configured lead time before the secret's end date.
    Automatic,
}

/// A rotation job's stored request (never a secret: a supplied one is stored encrypted).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RotateRequest {
    pub account_id: String,
    pub account_name: String,
    /// The onboarding job whose identity is rotated.
    pub onboarding_job: String,
    pub connection: Option<ConnectionName>,
    /// Terraform rotation: the new password's key. `None`: the new secret was supplied.
    pub password_key: Option<String>,
    /// A supplied secret's end date, when the caller gave it (the watch warns ahead of it).
    pub secret_expiry: Option<String>,
    pub trigger: Trigger,
    /// The end date of the secret this rotation replaces (automatic rotations run once each).
    pub replaces_expiry: Option<String>,
}

/// What [`Engine::submit_rotation`] takes from the caller.
#[derive(Clone, Debug, Default)]
pub struct RotateOptions {
    /// The connection the account was onboarded through (`None`: any; an account onboarded
    /// through several must name one).
    pub connection: Option<String>,
    /// The new secret, for identities not created here (from a file, the environment or an
    /// API body; never a command-line value).
    pub client_secret: Option<SecretString>,
    /// That secret's end date (RFC 3339), so the watch can warn ahead of it.
    pub secret_expiry: Option<String>,
}

/// An offboarding job's stored request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OffboardRequest {
    pub account_id: String,
    pub account_name: String,
    pub onboarding_job: String,
    pub connection: Option<ConnectionName>,
    /// Delete the account in the platform (default: disable it, keeping its history).
    pub delete: bool,
    /// `terraform destroy` the Azure identity.
    pub destroy_identity: bool,
    /// Why the identity is kept, when it is.
    pub identity_kept_because: Option<String>,
    pub require_approval: bool,
}

/// What [`Engine::submit_offboard`] takes from the caller.
#[derive(Clone, Debug, Default)]
pub struct OffboardOptions {
    pub connection: Option<String>,
    pub delete: bool,
    /// `Some(true)`: destroy (refused where impossible); `Some(false)`: keep; `None`: destroy
    /// identities we created, keep the others.
    pub destroy_identity: Option<bool>,
    /// Stop at the destroy plan for review (approve to continue).
    pub require_approval: bool,
}

/// How a rotation of an account's secret would go ([`Engine::lifecycle_choices`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "why")]
pub enum RotationChoice {
    /// Our Terraform makes the new password (nothing to type).
    Terraform,
    /// The identity is not ours: the caller gives the new secret.
    SuppliedSecret,
    /// Not possible for this account, and why.
    Refused(String),
}

/// What rotation and offboarding can do for one account, before anyone asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LifecycleChoices {
    pub rotation: RotationChoice,
    /// Whether an offboarding destroys the Azure identity unless told to keep it.
    pub destroy_by_default: bool,
    /// Why the identity cannot be destroyed (a shared identity, one not created here).
    pub destroy_refused: Option<String>,
    /// A rotation or offboarding already working on the account (nothing else can start).
    pub busy: Option<String>,
}

/// Who made an account's identity, as rotation and offboarding see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ownership {
    /// Our configuration, one identity for the account: rotated and destroyed by Terraform.
    Ours,
    /// Prisma's template applied by us: destroyed by Terraform; rotated with a supplied secret.
    Template,
    /// The tenant's shared identity (bulk).
    SharedTenant,
    /// Not created here.
    Existing,
}

impl Ownership {
    pub(crate) fn of(request: &OnboardingRequest) -> Self {
        match request.identity {
            IdentitySource::Builtin { .. } => Ownership::Ours,
            IdentitySource::PrismaTemplate => Ownership::Template,
            IdentitySource::SharedTenant { .. } => Ownership::SharedTenant,
            IdentitySource::Existing { .. } => Ownership::Existing,
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> EngineError {
    EngineError::Invalid(RequestErrors {
        errors: vec![FieldError {
            field: field.into(),
            message: message.into(),
        }],
    })
}

/// The key of a new password: `r` and the UTC time to the millisecond (so keys sort in
/// creation order, as [`azure_config::passwords::Passwords::from_state`] expects). Seconds were
/// not enough: a second rotation submitted within the second the first one finished got the
/// same key, so Terraform saw no new password. Rotations of one account never run at once
/// (`lifecycle_account` refuses a second), and each takes a Terraform apply, so two of them
/// cannot share a millisecond. Keys made to the second by earlier versions still sort first
/// (a key that is a prefix of another sorts before it).
fn new_password_key(now: OffsetDateTime) -> String {
    format!(
        "r{:04}{:02}{:02}t{:02}{:02}{:02}{:03}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

impl Engine {
    /// The onboarded account `account_id` (through `connection`, if given), or why not —
    /// including a rotation or offboarding already working on it.
    async fn lifecycle_account(
        &self,
        account_id: &str,
        connection: Option<&str>,
    ) -> Result<(WatchedAccount, OnboardingRequest), EngineError> {
        let (account, request) = self.onboarded_account(account_id, connection).await?;
        if let Some(why) = self.busy_with(&account).await? {
            return Err(EngineError::NotPossible {
                what: format!("account {}", account.account_id),
                why,
            });
        }
        Ok((account, request))
    }

    /// The onboarded account `account_id` (through `connection`, if given) and the request of
    /// its onboarding job.
    async fn onboarded_account(
        &self,
        account_id: &str,
        connection: Option<&str>,
    ) -> Result<(WatchedAccount, OnboardingRequest), EngineError> {
        let account_id = account_id.trim();
        let connection = match connection.map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(c) if c == crate::connections::DEFAULT_CONNECTION => Some(c.to_owned()),
            Some(c) => Some(
                ConnectionName::parse_as("connection", c)
                    .map_err(|e| invalid("connection", e.to_string()))?
                    .to_string(),
            ),
        };
        let matches: Vec<WatchedAccount> = onboarded_accounts(self.store())
            .await?
            .into_iter()
            .filter(|a| a.account_id.eq_ignore_ascii_case(account_id))
            .filter(|a| {
                connection.as_deref().is_none_or(|c| {
                    a.connection.as_ref().map_or(
                        crate::connections::DEFAULT_CONNECTION,
                        ConnectionName::as_str,
                    ) == c
                })
            })
            .collect();
        let account = match matches.len() {
            0 => {
                return Err(EngineError::AccountNotFound {
                    account_id: account_id.to_owned(),
                });
            }
            1 => matches.into_iter().next().expect("one"),
            _ => {
                return Err(invalid(
                    "connection",
                    "the account was onboarded through several connections: name one",
                ));
            }
        };
        if account.job_id.is_empty() {
            // Adopted: watched, but onboarded elsewhere (no job, no Terraform state here).
            let why = crate::drift::lifecycle(crate::drift::Origin::Adopted)
                .unavailable
                .map(|u| u.message)
                .unwrap_or_default();
            return Err(EngineError::NotPossible {
                what: format!("account {}", account.account_id),
                why,
            });
        }
        let job_id: JobId = account
            .job_id
            .parse()
            .map_err(|_| EngineError::Workspace("onboarding job id unreadable".into()))?;
        let job =
            self.store()
                .get_job(job_id)
                .await?
                .ok_or_else(|| EngineError::AccountNotFound {
                    account_id: account_id.to_owned(),
                })?;
        let request: OnboardingRequest = serde_json::from_value(job.request)
            .map_err(|e| EngineError::Workspace(format!("stored request unreadable: {e}")))?;
        Ok((account, request))
    }

    /// A rotation or offboarding of the account already queued, running or waiting: which.
    async fn busy_with(&self, account: &WatchedAccount) -> Result<Option<String>, EngineError> {
        for job in self.store().list_jobs(None, u32::MAX).await? {
            let lifecycle = job.kind == ROTATE_KIND || job.kind == OFFBOARD_KIND;
            let open = matches!(
                job.state,
                JobState::Queued | JobState::Running | JobState::AwaitingApproval
            );
            if lifecycle
                && open
                && job.request["onboarding_job"].as_str() == Some(account.job_id.as_str())
            {
                return Ok(Some(format!(
                    "job {} ({}) is already working on it: wait for it, or cancel it",
                    job.id, job.kind
                )));
            }
        }
        Ok(None)
    }

    /// What rotation and offboarding can do for the onboarded account `account_id` (through
    /// `connection`, if given), decided as [`Engine::submit_rotation`] and
    /// [`Engine::submit_offboard`] decide it — so a page offers only what would be accepted and
    /// says why for the rest, instead of a button that fails.
    pub async fn lifecycle_choices(
        &self,
        account_id: &str,
        connection: Option<&str>,
    ) -> Result<LifecycleChoices, EngineError> {
        let (account, onboarding) = self.onboarded_account(account_id, connection).await?;
        let rotation = match Ownership::of(&onboarding) {
            Ownership::Ours => RotationChoice::Terraform,
            Ownership::Existing | Ownership::Template => RotationChoice::SuppliedSecret,
            Ownership::SharedTenant => RotationChoice::Refused(SHARED_IDENTITY_ROTATION.into()),
        };
        let (destroy_by_default, kept) = self.destroy_decision(&account, &onboarding, None).await?;
        Ok(LifecycleChoices {
            rotation,
            destroy_by_default,
            destroy_refused: (!destroy_by_default).then(|| kept.unwrap_or_default()),
            busy: self.busy_with(&account).await?,
        })
    }

    async fn insert_lifecycle_job(
        &self,
        kind: &str,
        request: serde_json::Value,
        secret: Option<&SecretString>,
        actor: &str,
        detail: serde_json::Value,
    ) -> Result<JobId, EngineError> {
        let mut stored = request;
        crate::origin::RequestId::stamp(&mut stored);
        let job = NewJob {
            id: JobId(uuid::Uuid::now_v7()),
            batch_id: None,
            kind: kind.to_owned(),
            request: stored,
            created_by: actor.to_owned(),
        };
        if let Some(secret) = secret {
            self.store()
                .put_secret(&job.id.to_string(), CLIENT_SECRET, secret)
                .await?;
        }
        if let Err(e) = self.store().insert_job(&job).await {
            let _ = self.store().delete_secrets(&job.id.to_string()).await;
            return Err(e.into());
        }
        self.audit(actor, "job.submitted", &job.id.to_string(), detail)
            .await;
        Ok(job.id)
    }

    /// Submits a rotation of the account's Azure client secret (see the module docs).
    pub async fn submit_rotation(
        &self,
        account_id: &str,
        options: RotateOptions,
        actor: &str,
    ) -> Result<JobId, EngineError> {
        self.submit_rotation_as(account_id, options, Trigger::OnDemand, None, actor)
            .await
    }

    pub(crate) async fn submit_rotation_as(
        &self,
        account_id: &str,
        options: RotateOptions,
        trigger: Trigger,
        replaces_expiry: Option<String>,
        actor: &str,
    ) -> Result<JobId, EngineError> {
        let (account, onboarding) = self
            .lifecycle_account(account_id, options.connection.as_deref())
            .await?;
        let secret_expiry = match options.secret_expiry.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                    invalid(
                        "secret_expiry",
                        "must be an RFC 3339 date and time, e.g. 2027-06-30T00:00:00Z",
                    )
                })?;
                Some(text.to_owned())
            }
        };
        let ownership = Ownership::of(&onboarding);
        let password_key = match (ownership, &options.client_secret) {
            (Ownership::Ours, None) => Some(new_password_key(OffsetDateTime::now_utc())),
            (Ownership::Ours, Some(_)) => {
                return Err(invalid(
                    "client_secret",
                    "not accepted for this account: its identity was created here, so the \
                     rotation makes the new secret itself (Terraform)",
                ));
            }
            (Ownership::SharedTenant, _) => {
                return Err(EngineError::NotPossible {
                    what: format!("rotating account {}'s secret", account.account_id),
                    why: SHARED_IDENTITY_ROTATION.into(),
                });
            }
            (Ownership::Existing | Ownership::Template, None) => {
                return Err(invalid(
                    "client_secret",
                    "is required: this identity was not created by our Terraform configuration, \
                     so give its new secret (from a file, an environment variable or the API \
                     body)",
                ));
            }
            (Ownership::Existing | Ownership::Template, Some(secret)) => {
                validate_client_secret(secret).map_err(|e| invalid("client_secret", e.message))?;
                None
            }
        };
        if password_key.is_some() && secret_expiry.is_some() {
            return Err(invalid(
                "secret_expiry",
                "only for a supplied secret: Terraform sets the new secret's end date",
            ));
        }
        let request = RotateRequest {
            account_id: account.account_id.clone(),
            account_name: account.account_name.clone(),
            onboarding_job: account.job_id.clone(),
            connection: account.connection.clone(),
            password_key,
            secret_expiry,
            trigger,
            replaces_expiry,
        };
        let value =
            serde_json::to_value(&request).map_err(|e| EngineError::Workspace(e.to_string()))?;
        self.insert_lifecycle_job(
            ROTATE_KIND,
            value,
            options.client_secret.as_ref(),
            actor,
            serde_json::json!({
                "kind": ROTATE_KIND, "account": account.account_id, "trigger": trigger,
            }),
        )
        .await
    }

    /// Submits an offboarding of the account (see the module docs). A destroy that cannot be
    /// done (a shared identity still in use, an identity not created here) is refused here,
    /// before anything changes, with the reason.
    pub async fn submit_offboard(
        &self,
        account_id: &str,
        options: OffboardOptions,
        actor: &str,
    ) -> Result<JobId, EngineError> {
        let (account, onboarding) = self
            .lifecycle_account(account_id, options.connection.as_deref())
            .await?;
        let (destroy_identity, kept) = self
            .destroy_decision(&account, &onboarding, options.destroy_identity)
            .await?;
        let request = OffboardRequest {
            account_id: account.account_id.clone(),
            account_name: account.account_name.clone(),
            onboarding_job: account.job_id.clone(),
            connection: account.connection.clone(),
            delete: options.delete,
            destroy_identity,
            identity_kept_because: kept,
            require_approval: options.require_approval && destroy_identity,
        };
        let value =
            serde_json::to_value(&request).map_err(|e| EngineError::Workspace(e.to_string()))?;
        self.insert_lifecycle_job(
            OFFBOARD_KIND,
            value,
            None,
            actor,
            serde_json::json!({
                "kind": OFFBOARD_KIND, "account": account.account_id,
                "delete": options.delete, "destroy_identity": destroy_identity,
            }),
        )
        .await
    }

    /// Whether the offboarding destroys the identity, and why not when it does not.
    pub(crate) async fn destroy_decision(
        &self,
        account: &WatchedAccount,
        onboarding: &OnboardingRequest,
        asked: Option<bool>,
    ) -> Result<(bool, Option<String>), EngineError> {
        let refuse = |why: String| EngineError::NotPossible {
            what: format!("destroying account {}'s Azure identity", account.account_id),
            why,
        };
        match (Ownership::of(onboarding), asked) {
            (_, Some(false)) => Ok((false, Some("kept as asked".into()))),
            (Ownership::Ours | Ownership::Template, _) => Ok((true, None)),
            (Ownership::Existing, Some(true)) => Err(refuse(
                "the identity was not created here (identity existing): it is not ours to \
                 destroy; offboard with the identity kept and remove it in Azure yourself"
                    .into(),
            )),
            (Ownership::Existing, None) => Ok((
                false,
                Some(
                    "the identity was not created here (identity existing): platform side only"
                        .into(),
                ),
            )),
            (Ownership::SharedTenant, asked) => {
                let others = self.shared_identity_users(account, onboarding).await?;
                let why = if others.is_empty() {
                    "it is the tenant's shared identity; destroying it from one account's \
                     offboarding is not supported yet (no other account uses it)"
                        .to_owned()
                } else {
                    format!(
                        "it is the tenant's shared identity, still used by {} other account(s): {}; \
                         offboard those first, or keep the identity",
                        others.len(),
                        others.join(", ")
                    )
                };
                if asked == Some(true) {
                    Err(refuse(why))
                } else {
                    Ok((false, Some(why)))
                }
            }
        }
    }

    /// The other onboarded accounts on the same tenant's shared identity (`name (id)`).
    async fn shared_identity_users(
        &self,
        account: &WatchedAccount,
        onboarding: &OnboardingRequest,
    ) -> Result<Vec<String>, EngineError> {
        let owner =
            crate::tenant_identity::owner(onboarding.environment, onboarding.scope.tenant_id());
        let mut users = Vec::new();
        for other in onboarded_accounts(self.store()).await? {
            if other.key == account.key {
                continue;
            }
            let Ok(id) = other.job_id.parse::<JobId>() else {
                continue;
            };
            let Some(job) = self.store().get_job(id).await? else {
                continue;
            };
            let Ok(r) = serde_json::from_value::<OnboardingRequest>(job.request) else {
                continue;
            };
            if Ownership::of(&r) == Ownership::SharedTenant
                && crate::tenant_identity::owner(r.environment, r.scope.tenant_id()) == owner
            {
                users.push(format!("{} ({})", other.account_name, other.account_id));
            }
        }
        Ok(users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_keys_sort_in_time_order_and_parse() {
        let a = new_password_key(time::macros::datetime!(2026-12-02 03:04:05.007 UTC));
        let same_second = new_password_key(time::macros::datetime!(2026-12-02 03:04:05.300 UTC));
        let b = new_password_key(time::macros::datetime!(2027-01-01 00:00:00 UTC));
        assert_eq!(a, "r20261202t030405007");
        assert!(a < same_second, "two rotations in one second get two keys");
        assert!(same_second < b);
        assert!(
            "r20261202t030405" < a.as_str(),
            "a key made to the second sorts first"
        );
        azure_config::passwords::PasswordKey::parse(&a).unwrap();
    }
}
