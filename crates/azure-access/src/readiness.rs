//! The one check `doctor` and the job's prerequisites share: credentials, then (for a target)
//! privileges, as a result with the words both print.

use crate::credentials::{self, CredentialError, Identity};
use crate::env::{Endpoints, Env};
use crate::privileges::{self, Missing, PrivilegeError, Report, Target};

#[derive(Debug)]
pub struct Ready {
    pub identity: Identity,
    /// With a target: the roles read (and nothing missing).
    pub privileges: Option<Report>,
}

#[derive(Debug)]
pub enum NotReady {
    Credentials(CredentialError),
    /// The target's scope does not exist or cannot be read.
    Scope(Identity, PrivilegeError),
    Missing(Identity, Vec<Missing>),
}

impl NotReady {
    /// What is wrong, in one paragraph.
    pub fn what(&self) -> String {
        match self {
            NotReady::Credentials(e) => e.reason.clone(),
            NotReady::Scope(_, e) => e.to_string(),
            NotReady::Missing(identity, missing) => format!(
                "{} {} lacks privileges Terraform needs: {}",
                identity.principal_kind,
                identity.principal_name,
                missing
                    .iter()
                    .map(Missing::words)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }

    pub fn fix(&self) -> String {
        match self {
            NotReady::Credentials(e) => e.fix.clone(),
            NotReady::Scope(..) => "choose a scope that exists and the principal can read (`azure-cortex discover` lists them)".into(),
            NotReady::Missing(..) => "have an administrator grant the roles above (docs/azure-privileges.md), or onboard with an existing identity".into(),
        }
    }

    pub fn identity(&self) -> Option<&Identity> {
        match self {
            NotReady::Credentials(_) => None,
            NotReady::Scope(i, _) | NotReady::Missing(i, _) => Some(i),
        }
    }
}

/// Credentials, then privileges for `target`.
pub async fn ready(
    env: &Env,
    endpoints: &Endpoints,
    target: Option<&Target>,
) -> Result<Ready, NotReady> {
    let session = credentials::check(env, endpoints)
        .await
        .map_err(NotReady::Credentials)?;
    let Some(target) = target else {
        return Ok(Ready {
            identity: session.identity,
            privileges: None,
        });
    };
    match privileges::check(&session, target).await {
        Ok(report) if report.missing.is_empty() => Ok(Ready {
            identity: session.identity,
            privileges: Some(report),
        }),
        Ok(report) => Err(NotReady::Missing(session.identity, report.missing)),
        Err(e) => Err(NotReady::Scope(session.identity, e)),
    }
}
