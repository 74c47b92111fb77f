//! `azure-cortex accounts list | show | status | enable | disable | offboard | health`: the Azure
//! accounts Prisma Cloud has, straight from its API (or the sandbox emulator).
//!
//! `offboard` disables the account (Prisma stops scanning it and keeps its history); only
//! `offboard --delete` deletes it. For an account onboarded here, `offboard` is a job that
//! also destroys the Azure identity created for it (`--keep-identity` keeps it;
//! `--require-approval` stops at the destroy plan), and `rotate-secret` rotates its client
//! secret ([`super::lifecycle`]).

use prisma_client::PrismaClient;
use prisma_types::wire::CloudAccountListItem;

use super::drift::DriftCommand;
use crate::GlobalArgs;
use crate::exit::{CliError, Exit};
use crate::output::Out;
use crate::session::Prisma;

pub const EXAMPLES: &str = "\
Examples:
  azure-cortex accounts list
  azure-cortex --sandbox accounts list --output json
  azure-cortex accounts status 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f
  azure-cortex accounts offboard 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f            # disables
  azure-cortex accounts offboard 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f --delete   # deletes
  azure-cortex accounts offboard 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f --require-approval --interactive
  azure-cortex accounts rotate-secret 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f
  azure-cortex accounts rotate-secret 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f --secret-file new-secret.txt
  azure-cortex accounts health --output json
  azure-cortex accounts health 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f              # its history
  azure-cortex accounts drift --output json
  azure-cortex accounts reconcile 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f --require-approval
  azure-cortex accounts reconcile 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f --adopt-current
  azure-cortex accounts adopt --list
  azure-cortex accounts adopt 8f2c1a3e-4b5d-4c6e-9f70-1a2b3c4d5e6f";

#[derive(clap::Subcommand, Debug)]
pub enum AccountsCommand {
    /// List the Azure accounts in Prisma Cloud.
    List,
    /// Show one account: identity, cloud, features, groups.
    Show {
        /// Subscription or tenant ID.
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Show the account's capability checks with remediation (exit 1 if any is in error).
    Status {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Enable the account (and its children).
    Enable {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Disable the account (and its children).
    Disable {
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Offboard: disable the account (with --delete, delete it) and destroy the Azure
    /// identity created for it here.
    Offboard(super::lifecycle::OffboardArgs),
    /// Rotate the account's Azure client secret without downtime.
    RotateSecret(super::lifecycle::RotateArgs),
    /// What the health watch recorded: every onboarded account's current health, or one
    /// account's history (from the store).
    Health {
        /// Show this account's history instead.
        #[arg(value_name = "ID")]
        id: Option<String>,
        /// Run one watch round in this process first.
        #[arg(long)]
        check: bool,
    },
    /// Compare managed accounts with what azure-cortex set (desired → current), field by
    /// field; exit 1 if one drifted.
    Drift {
        /// Only this account.
        #[arg(value_name = "ACCOUNT_ID")]
        id: Option<String>,
    },
    /// Put the desired configuration back (a job with a review), or adopt the current one.
    Reconcile {
        #[arg(value_name = "ACCOUNT_ID")]
        id: String,
        /// Make the current configuration the new desired state instead (audited).
        #[arg(long)]
        adopt_current: bool,
        /// Stop at the review of what will change until approved (`jobs approve`).
        #[arg(long, conflicts_with = "adopt_current")]
        require_approval: bool,
    },
    /// Adopt accounts onboarded elsewhere (health watch and drift; no rotation or destroy).
    Adopt {
        /// List the Prisma Cloud accounts not managed here.
        #[arg(long)]
        list: bool,
        #[arg(value_name = "ACCOUNT_ID")]
        ids: Vec<String>,
    },
}

pub async fn run(
    global: &GlobalArgs,
    out: &Out,
    command: AccountsCommand,
) -> Result<Exit, CliError> {
    let command = match command {
        AccountsCommand::Health { id, check } => {
            return super::health::run(global, out, id, check).await;
        }
        AccountsCommand::RotateSecret(args) => {
            return super::lifecycle::rotate(global, out, args).await;
        }
        AccountsCommand::Offboard(args) => {
            if let Some(exit) = super::lifecycle::offboard(global, out, &args).await? {
                return Ok(exit);
            }
            AccountsCommand::Offboard(args)
        }
        other => match DriftCommand::from_accounts(other) {
            Ok(drift) => return super::drift::run(global, out, drift).await,
            Err(other) => other,
        },
    };
    let prisma = Prisma::connect(global).await?;
    let result = match prisma.client() {
        Ok(client) => dispatch(global, out, &client, command).await,
        Err(e) => Err(e),
    };
    let closed = prisma.close().await;
    let exit = result?;
    closed?;
    Ok(exit)
}

/// A 404 on an account is the caller naming one that does not exist.
fn not_found(id: &str) -> impl Fn(prisma_client::Error) -> CliError + '_ {
    move |e| {
        if e.status() == Some(404) {
            CliError::new(
                Exit::Usage,
                "not_found",
                format!("account {id} does not exist in Prisma Cloud"),
            )
        } else {
            e.into()
        }
    }
}

fn item_json(a: &CloudAccountListItem) -> serde_json::Value {
    serde_json::json!({
        "account_id": a.account_id,
        "name": a.name,
        "cloud_type": a.cloud_type,
        "account_type": a.account_type,
        "parent_account_id": a.parent_account_id,
        "enabled": a.enabled,
        "status": a.status,
        "deployment_type": a.deployment_type,
        "group_ids": a.group_ids,
        "child_accounts": a.number_of_child_accounts,
    })
}

async fn dispatch(
    global: &GlobalArgs,
    out: &Out,
    client: &PrismaClient,
    command: AccountsCommand,
) -> Result<Exit, CliError> {
    match command {
        // Read from the store before any Prisma connection (see `run`).
        AccountsCommand::Health { id, check } => super::health::run(global, out, id, check).await,
        AccountsCommand::RotateSecret(args) => super::lifecycle::rotate(global, out, args).await,
        // Read from the store and the platform through the engine (see `run`).
        command @ (AccountsCommand::Drift { .. }
        | AccountsCommand::Reconcile { .. }
        | AccountsCommand::Adopt { .. }) => match DriftCommand::from_accounts(command) {
            Ok(drift) => super::drift::run(global, out, drift).await,
            Err(_) => Ok(Exit::Usage),
        },
        AccountsCommand::List => {
            let accounts = client.list_accounts().await?;
            let azure: Vec<_> = accounts
                .iter()
                .filter(|a| a.cloud_type.is_empty() || a.cloud_type == "azure")
                .collect();
            if out.json() {
                out.json_line(&serde_json::Value::Array(
                    azure.iter().map(|a| item_json(a)).collect(),
                ));
            } else if azure.is_empty() {
                out.line("No Azure accounts.");
            } else {
                out.line(&format!(
                    "{:<36}  {:<12}  {:<8}  {:<10}  NAME",
                    "ACCOUNT", "TYPE", "ENABLED", "STATUS"
                ));
                for a in azure {
                    out.line(&format!(
                        "{:<36}  {:<12}  {:<8}  {:<10}  {}",
                        a.account_id,
                        a.account_type,
                        if a.enabled { "yes" } else { "no" },
                        a.status,
                        a.name
                    ));
                }
            }
            Ok(Exit::Success)
        }
        AccountsCommand::Show { id } => {
            let d = client.account_details(&id).await.map_err(not_found(&id))?;
            let mut value = item_json(&d.cloud_account);
            value["tenant_id"] = d.tenant_id.clone().into();
            value["client_id"] = d.client_id.clone().into();
            value["service_principal_id"] = d.service_principal_id.clone().into();
            value["environment"] = d.environment_type.clone().into();
            value["flow_logs"] = d.monitor_flow_logs.into();
            value["features"] = serde_json::to_value(&d.features).unwrap_or_default();
            if out.json() {
                out.json_line(&value);
            } else {
                let c = &d.cloud_account;
                out.line(&format!("account      {}", c.account_id));
                out.line(&format!("name         {}", c.name));
                out.line(&format!("type         {}", c.account_type));
                out.line(&format!("enabled      {}", c.enabled));
                out.line(&format!("tenant       {}", d.tenant_id));
                out.line(&format!("client ID    {}", d.client_id));
                out.line(&format!("SP object ID {}", d.service_principal_id));
                out.line(&format!("environment  {}", d.environment_type));
                out.line(&format!("flow logs    {}", d.monitor_flow_logs));
                out.line(&format!("groups       {}", c.group_ids.join(", ")));
                for f in &d.features {
                    out.line(&format!("feature      {}: {}", f.name, f.state));
                }
            }
            Ok(Exit::Success)
        }
        AccountsCommand::Status { id } => {
            let items = client.config_status(&id).await.map_err(not_found(&id))?;
            let failing = items.iter().any(|i| i.status == "error");
            if out.json() {
                out.json_line(&serde_json::json!({
                    "type": "account_status",
                    "account_id": id,
                    "ok": !failing,
                    "items": items.iter().map(|i| serde_json::json!({
                        "name": i.name, "status": i.status,
                        "message": i.message, "remediation": i.remediation,
                    })).collect::<Vec<_>>(),
                }));
            } else if items.is_empty() {
                out.line(&format!(
                    "{} every capability of {id} is ok",
                    out.style.green("✓")
                ));
            } else {
                for i in &items {
                    let mark = match i.status.as_str() {
                        "ok" => out.style.green("✓"),
                        "warning" => out.style.yellow("!"),
                        _ => out.style.red("✗"),
                    };
                    out.line(&format!("{mark} {}: {} {}", i.name, i.status, i.message));
                    if !i.remediation.is_empty() {
                        out.line(&format!("    fix: {}", i.remediation));
                    }
                }
            }
            Ok(if failing { Exit::Failed } else { Exit::Success })
        }
        AccountsCommand::Enable { id } => set_enabled(out, client, &id, true, "enable").await,
        AccountsCommand::Disable { id } => set_enabled(out, client, &id, false, "disable").await,
        AccountsCommand::Offboard(args) if !args.delete => {
            set_enabled(out, client, &args.id, false, "offboard").await
        }
        AccountsCommand::Offboard(args) => {
            let id = args.id;
            prisma_types::TenantId::parse_as("account_id", &id)?;
            if global.interactive {
                let question =
                    format!("Delete account {id} from Prisma Cloud? Type its ID to confirm: ");
                let typed = tokio::task::spawn_blocking(move || crate::prompt::answer(&question))
                    .await
                    .ok()
                    .flatten();
                if typed.as_deref().map(str::to_ascii_lowercase) != Some(id.to_ascii_lowercase()) {
                    out.note("not deleted");
                    return Ok(Exit::Cancelled);
                }
            }
            client.offboard(&id).await?;
            if out.json() {
                out.json_line(&serde_json::json!({
                    "type": "account_action", "action": "delete", "account_id": id,
                }));
            } else {
                out.line(&format!("Deleted account {id} from Prisma Cloud."));
            }
            Ok(Exit::Success)
        }
    }
}

async fn set_enabled(
    out: &Out,
    client: &PrismaClient,
    id: &str,
    enabled: bool,
    action: &str,
) -> Result<Exit, CliError> {
    client
        .set_account_enabled(id, enabled, true)
        .await
        .map_err(not_found(id))?;
    if out.json() {
        out.json_line(&serde_json::json!({
            "type": "account_action", "action": action, "account_id": id, "enabled": enabled,
        }));
    } else if action == "offboard" {
        out.line(&format!(
            "Offboarded account {id}: disabled (Prisma Cloud stops scanning it and keeps its \
             history). Delete it with `accounts offboard {id} --delete`."
        ));
    } else {
        out.line(&format!(
            "{} account {id}.",
            if enabled { "Enabled" } else { "Disabled" }
        ));
    }
    Ok(Exit::Success)
}
