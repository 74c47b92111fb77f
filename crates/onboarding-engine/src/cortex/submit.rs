//! Submitting a Cortex Cloud onboarding: [`Engine::submit_cortex`].

use cortex_store::{JobId, NewJob};

use super::request::{CortexConnectionRef, CortexRequest};
use super::result::CORTEX_JOB_KIND;
use crate::connections::{CORTEX_SANDBOX_CONNECTION, Platform};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::request::{FieldError, RequestErrors};

fn connection_problem(message: String) -> EngineError {
    EngineError::Invalid(RequestErrors {
        errors: vec![FieldError {
            field: "connection".into(),
            message,
        }],
    })
}

impl Engine {
    /// Persists one Cortex Cloud onboarding (validated by
    /// [`super::RawCortexRequest::validate`]) as a queued job of kind
    /// [`CORTEX_JOB_KIND`]. The request holds no secret: the key stays in its connection.
    ///
    /// Refused before anything is written: a connection that does not exist (or
    /// `cortex-sandbox` outside the sandbox) → [`EngineError::Invalid`] naming `connection`;
    /// a Prisma Cloud connection → [`EngineError::WrongPlatform`]; one that cannot be
    /// decrypted → [`EngineError::ConnectionUnreadable`].
    pub async fn submit_cortex(
        &self,
        request: &CortexRequest,
        actor: &str,
    ) -> Result<JobId, EngineError> {
        self.check_cortex_connection(&request.connection).await?;
        let mut stored =
            serde_json::to_value(request).map_err(|e| EngineError::Workspace(e.to_string()))?;
        crate::origin::RequestId::stamp(&mut stored);
        let job = NewJob {
            id: JobId(uuid::Uuid::now_v7()),
            batch_id: None,
            kind: CORTEX_JOB_KIND.to_owned(),
            request: stored,
            created_by: actor.to_owned(),
        };
        self.inner().store.insert_job(&job).await?;
        self.audit(
            actor,
            "job.submitted",
            &job.id.to_string(),
            serde_json::json!({
                "kind": job.kind,
                "platform": "cortex",
                "connection": request.connection.as_str(),
                "scope": request.scope.api_name(),
                "account": request.label(),
            }),
        )
        .await;
        Ok(job.id)
    }

    /// The request's Cortex Cloud connection exists now and is a Cortex one.
    pub(crate) async fn check_cortex_connection(
        &self,
        connection: &CortexConnectionRef,
    ) -> Result<(), EngineError> {
        match connection {
            CortexConnectionRef::Sandbox if self.config().cortex_sandbox.is_some() => Ok(()),
            CortexConnectionRef::Sandbox => Err(connection_problem(format!(
                "{CORTEX_SANDBOX_CONNECTION} exists only in sandbox mode; save a Cortex Cloud \
                 connection under Connections and name it here"
            ))),
            CortexConnectionRef::Saved(name) => match self.inner().load_connection(name).await? {
                None => Err(connection_problem(format!(
                    "no Cortex Cloud connection named '{name}'; the saved ones are listed \
                         under Connections (GET /api/v1/connections)"
                ))),
                Some(c) if c.platform() != Platform::Cortex => Err(EngineError::WrongPlatform {
                    name: name.to_string(),
                    found: c.platform(),
                    wanted: Platform::Cortex,
                }),
                Some(_) => Ok(()),
            },
        }
    }
}
