//! `azure-cortex onboard batch FILE.csv`: every subscription of a CSV file as one batch.
//!
//! Each row becomes a request with the command's options ([`CommonArgs`]); every row is
//! validated — and every problem reported with its row and field — before anything is
//! submitted. The batch runs in this process with one overall progress bar, as many jobs at once
//! as the rate limits and round-trip times call for (`--concurrency N` fixes it);
//! the result lists every row that failed. Exit 0 (all onboarded), 3 (some failed), 1 (none),
//! 4 (interrupted).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use onboarding_engine::batch_file::{
    BatchDefaults, BatchItem, CsvRow, Hints, parse_rows, validate_rows,
};
use onboarding_engine::{Concurrency, IdentityPer, OnboardingRequest, RawRequest};
use prisma_types::SecretString;

use crate::GlobalArgs;
use crate::commands::onboard::{CommonArgs, missing_secret};
use crate::commands::{actor, run_jobs};
use crate::exit::{CliError, Exit};
use crate::output::{Followed, Out, human};
use crate::report::batch_result;
use crate::session::Session;

pub const EXAMPLES: &str = "\
The CSV has a header row: subscription_id,name,groups,tenant_id (groups `;`-separated;
tenant_id optional when --tenant is given). Rows are numbered as in a spreadsheet (the header
is row 1); every row is checked before anything starts.

Example file:
  subscription_id,name,groups
  8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f,prod,Production;Default Account Group
  9a7d2b4c-1e3f-4a5b-8c6d-7e8f9a0b1c2d,dev,Development

Examples:
  azure-cortex onboard batch subs.csv --tenant 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
  azure-cortex onboard batch subs.csv --tenant … --name 'azure-{subscription_id}' --output json
  azure-cortex onboard batch subs.csv --tenant … --identity-per subscription --audit-log-export

One identity per tenant (--identity-per shared-tenant, the default): the batch's subscriptions
in a tenant share one app registration and client secret, each granted its own roles, in one
Terraform configuration per tenant; a later batch in the tenant adds to it.";

#[derive(clap::Args, Debug)]
pub struct BatchArgs {
    /// The CSV file (columns: subscription_id, name, groups, tenant_id).
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,
    /// Tenant of the rows without a tenant_id.
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: Option<String>,
    /// Name for rows without one; `{subscription_id}` and `{tenant_id}` are filled in.
    #[arg(long)]
    pub name: Option<String>,
    /// A label for the batch (default: the file name).
    #[arg(long)]
    pub label: Option<String>,
    /// Run exactly N jobs at once [default: sized from the rate limits and round-trip times,
    /// at most 128, of which at most 32 run Terraform at a time].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: Option<u16>,
    /// How the builtin identity is made: one per tenant shared by its subscriptions (one app
    /// registration and secret, one Terraform run per tenant; later batches add to it), or
    /// one per subscription. The shared secret opens every subscription of the tenant; rows
    /// with --audit-log-export, --directory-readers or --require-approval need
    /// `subscription`.
    #[arg(long, value_enum, value_name = "PER", default_value = "shared-tenant")]
    pub identity_per: IdentityPerArg,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `--identity-per` ([`IdentityPer`]).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityPerArg {
    SharedTenant,
    Subscription,
}

impl From<IdentityPerArg> for IdentityPer {
    fn from(a: IdentityPerArg) -> Self {
        match a {
            IdentityPerArg::SharedTenant => IdentityPer::SharedTenant,
            IdentityPerArg::Subscription => IdentityPer::Subscription,
        }
    }
}

const HINTS: Hints = Hints {
    tenant: " (add a tenant_id column or --tenant)",
    name: " (fill the name column or give --name)",
};

/// Reads the file; a missing name column is fine when `--name` gives a template.
fn read_rows(path: &Path, name_template: bool) -> Result<Vec<CsvRow>, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::field("file", format!("cannot read {}: {e}", path.display())))?;
    parse_rows(
        &bytes,
        name_template,
        " (or give --name, e.g. --name 'azure-{subscription_id}')",
    )
    .map_err(CliError::invalid)
}

/// Builds and validates every row; all problems of all rows at once.
fn batch_requests(
    args: &BatchArgs,
    rows: &[CsvRow],
    secret: &Option<SecretString>,
) -> Result<Vec<OnboardingRequest>, CliError> {
    let mut errors = Vec::new();
    if args.common.existing() && secret.is_none() {
        errors.push(missing_secret());
    }
    let defaults = BatchDefaults {
        request: RawRequest {
            tenant_id: args.tenant.clone(),
            name: args.name.clone(),
            ..args.common.raw()
        },
        hints: Some(HINTS),
        identity_per: args.identity_per.into(),
    };
    let mut requests = Vec::new();
    for checked in validate_rows(rows, &defaults) {
        match checked.result {
            Ok(r) => requests.push(r),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(requests)
    } else {
        Err(CliError::invalid(errors))
    }
}

pub async fn run(global: &GlobalArgs, out: &Out, args: BatchArgs) -> Result<Exit, CliError> {
    let secret = args.common.client_secret()?;
    let rows = read_rows(&args.file, args.name.is_some())?;
    let requests = batch_requests(&args, &rows, &secret)?;
    let label = args.label.clone().unwrap_or_else(|| {
        args.file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "batch".into())
    });
    let session = Session::open(global).await?;
    if let Some(n) = args.concurrency {
        session
            .engine
            .set_concurrency(Concurrency::Fixed(usize::from(n)));
    }
    let result = run_batch(out, &session, &args, &rows, requests, secret, &label).await;
    session.finish(result).await
}

async fn run_batch(
    out: &Out,
    session: &Session,
    args: &BatchArgs,
    rows: &[CsvRow],
    requests: Vec<OnboardingRequest>,
    secret: Option<SecretString>,
    label: &str,
) -> Result<Exit, CliError> {
    // Every row is valid here (a file with a bad row is refused whole); the batch records
    // each job's row number, so its web page and CSV report show them too.
    let items = rows
        .iter()
        .zip(requests)
        .map(|(row, request)| BatchItem {
            row: row.row,
            request,
            secret: secret.clone(),
        })
        .collect();
    let (batch, jobs) = session
        .engine
        .submit_batch_rows(label, items, Vec::new(), &actor())
        .await?;
    if args.common.no_wait {
        if out.json() {
            out.json_line(&serde_json::json!({
                "type": "submitted",
                "batch_id": batch.to_string(),
                "job_ids": jobs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }));
        } else {
            out.line(&batch.to_string());
        }
        return Ok(Exit::Success);
    }
    if !out.json() {
        out.note(&out.err_style.dim(&format!(
            "batch {batch}: {} subscriptions from {label}",
            jobs.len()
        )));
    }
    let row_of: HashMap<_, _> = jobs.iter().zip(rows).map(|(j, r)| (*j, r.row)).collect();
    let followed: Vec<Followed> = jobs
        .iter()
        .zip(rows)
        .map(|(job, row)| Followed {
            job: *job,
            label: format!(
                "row {} {}",
                row.row,
                row.name.as_deref().unwrap_or(&row.subscription_id)
            ),
        })
        .collect();
    let interrupted = run_jobs(session, out, &followed, 0, Some((batch, jobs.len()))).await?;
    let result = batch_result(session.store(), batch, &row_of).await?;
    if out.json() {
        out.json_line(&serde_json::to_value(&result).unwrap_or_default());
    } else {
        human::print_batch_result(out, &result);
    }
    Ok(if interrupted {
        Exit::Cancelled
    } else {
        result.exit()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_secret_and_bad_rows_are_reported_together() {
        let args = BatchArgs {
            file: "x.csv".into(),
            tenant: Some("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into()),
            name: None,
            label: None,
            concurrency: None,
            identity_per: IdentityPerArg::SharedTenant,
            common: CommonArgs {
                identity: Some("existing".into()),
                ..CommonArgs::default()
            },
        };
        let rows = [CsvRow {
            row: 2,
            subscription_id: "{bad}".into(),
            name: None,
            groups: Vec::new(),
            tenant_id: None,
        }];
        let err = batch_requests(&args, &rows, &None).unwrap_err();
        let fields: Vec<_> = err.fields.iter().map(|f| f.field.as_str()).collect();
        assert!(fields.contains(&"client_secret"), "{fields:?}");
        assert!(fields.contains(&"row 2 subscription_id"), "{fields:?}");
        assert!(err.message.contains("give --name"), "{err}");
    }

    #[test]
    fn identity_per_shares_the_tenant_identity_by_default() {
        let mut args = BatchArgs {
            file: "x.csv".into(),
            tenant: Some("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d".into()),
            name: Some("azure-{subscription_id}".into()),
            label: None,
            concurrency: None,
            identity_per: IdentityPerArg::SharedTenant,
            common: CommonArgs {
                groups: vec!["Default Account Group".into()],
                ..CommonArgs::default()
            },
        };
        let rows = [CsvRow {
            row: 2,
            subscription_id: "8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f".into(),
            name: None,
            groups: Vec::new(),
            tenant_id: None,
        }];
        let shared = batch_requests(&args, &rows, &None).unwrap();
        assert!(matches!(
            shared[0].identity,
            onboarding_engine::IdentitySource::SharedTenant { .. }
        ));
        args.identity_per = IdentityPerArg::Subscription;
        let own = batch_requests(&args, &rows, &None).unwrap();
        assert!(matches!(
            own[0].identity,
            onboarding_engine::IdentitySource::Builtin { .. }
        ));
    }
}
