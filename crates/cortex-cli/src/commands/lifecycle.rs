//! `azure-cortex accounts rotate-secret ID` and `accounts offboard ID`: jobs on the engine
//! ([`onboarding_engine::lifecycle`]) run in this process and followed like an onboarding, with
//! the same result object (`schemas/result.schema.json`, `kind`-specific `outcome`).
//!
//! A new secret (identities not created here) comes from `--secret-file` or `--secret-env`,
//! never a command-line value. Nothing prompts without `--interactive`; the destroy plan
//! review is opt-in (`--require-approval`), approved with `jobs approve` or, with
//! `--interactive`, at the prompt.

use std::path::PathBuf;

use onboarding_engine::EngineError;
use onboarding_engine::lifecycle::{OffboardOptions, RotateOptions};
use prisma_types::SecretString;

use crate::GlobalArgs;
use crate::commands::{actor, follow_job};
use crate::exit::{CliError, Exit};
use crate::output::Out;
use crate::session::Session;

#[derive(clap::Args, Debug)]
pub struct RotateArgs {
    /// Subscription or tenant ID.
    #[arg(value_name = "ACCOUNT_ID")]
    pub id: String,
    /// The new secret, for identities not created here: read from this file.
    #[arg(long, value_name = "FILE", conflicts_with = "secret_env")]
    pub secret_file: Option<PathBuf>,
    /// The new secret, for identities not created here: read from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub secret_env: Option<String>,
    /// That secret's end date (RFC 3339), so the health watch warns ahead of it.
    #[arg(long, value_name = "DATE")]
    pub secret_expiry: Option<String>,
    /// The connection the account was onboarded through (when several were used).
    #[arg(long)]
    pub connection: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct OffboardArgs {
    #[arg(value_name = "ACCOUNT_ID")]
    pub id: String,
    /// Delete the account instead of disabling it.
    #[arg(long)]
    pub delete: bool,
    /// Destroy the Azure identity (the default for identities created here; refused for a
    /// shared identity still in use or one not created here).
    #[arg(long, conflicts_with = "keep_identity")]
    pub destroy_identity: bool,
    /// Keep the Azure identity.
    #[arg(long)]
    pub keep_identity: bool,
    /// Stop at the destroy plan until the job is approved (`jobs approve`).
    #[arg(long)]
    pub require_approval: bool,
    #[arg(long)]
    pub connection: Option<String>,
}

fn secret_from(args: &RotateArgs) -> Result<Option<SecretString>, CliError> {
    let (text, field) = if let Some(path) = &args.secret_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::field(
                "secret_file",
                format!("cannot read {}: {}", path.display(), e.kind()),
            )
        })?;
        (text, "secret_file")
    } else if let Some(var) = &args.secret_env {
        let text = std::env::var(var).map_err(|_| {
            CliError::field(
                "secret_env",
                format!("the environment variable {var} is not set"),
            )
        })?;
        (text, "secret_env")
    } else {
        return Ok(None);
    };
    let value = text.trim_end_matches(['\r', '\n']);
    if value.is_empty() {
        return Err(CliError::field(field, "the secret is empty"));
    }
    Ok(Some(SecretString::from(value.to_owned())))
}

pub async fn rotate(global: &GlobalArgs, out: &Out, args: RotateArgs) -> Result<Exit, CliError> {
    let options = RotateOptions {
        connection: args.connection.clone(),
        client_secret: secret_from(&args)?,
        secret_expiry: args.secret_expiry.clone(),
    };
    let session = Session::open(global).await?;
    let result = async {
        let job = session
            .engine
            .submit_rotation(&args.id, options, &actor())
            .await?;
        follow_job(global, out, &session, job, 0).await
    }
    .await;
    session.finish(result).await
}

/// The job path; `Ok(None)`: the account was not onboarded here (the caller offboards it in
/// the platform only).
pub async fn offboard(
    global: &GlobalArgs,
    out: &Out,
    args: &OffboardArgs,
) -> Result<Option<Exit>, CliError> {
    let options = OffboardOptions {
        connection: args.connection.clone(),
        delete: args.delete,
        destroy_identity: match (args.destroy_identity, args.keep_identity) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        require_approval: args.require_approval,
    };
    let session = Session::open(global).await?;
    let result = async {
        if global.interactive {
            let question = format!(
                "Offboard account {} ({}{})? Type its ID to confirm: ",
                args.id,
                if args.delete { "delete" } else { "disable" },
                if args.keep_identity {
                    ", identity kept"
                } else {
                    ", identity destroyed if created here"
                }
            );
            let typed = tokio::task::spawn_blocking(move || crate::prompt::answer(&question))
                .await
                .ok()
                .flatten();
            if typed.as_deref().map(str::trim).map(str::to_ascii_lowercase)
                != Some(args.id.trim().to_ascii_lowercase())
            {
                out.note("not offboarded");
                return Ok(Some(Exit::Cancelled));
            }
        }
        match session
            .engine
            .submit_offboard(&args.id, options, &actor())
            .await
        {
            Ok(job) => follow_job(global, out, &session, job, 0).await.map(Some),
            Err(EngineError::AccountNotFound { .. })
                if !args.destroy_identity && !args.require_approval =>
            {
                out.note(
                    "the account was not onboarded here: offboarding it in Prisma Cloud only \
                     (there is no identity of ours to destroy)",
                );
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    match result {
        Ok(None) => {
            session.close().await?;
            Ok(None)
        }
        other => session
            .finish(other.map(|e| e.unwrap_or(Exit::Success)))
            .await
            .map(Some),
    }
}
