//! `azure-cortex instances list | show | accounts | enable | disable | delete`: the integration
//! instances of a Cortex Cloud tenant, read live from its Cloud Onboarding API through
//! `cortex-cloud-client` (nothing here is stored locally). `disable` stops Cortex scanning an
//! instance (kept, `enable` resumes it); `delete` removes it from Cortex — the Azure resources
//! its template created stay — after typing its ID with `--interactive`. The client pages through every result
//! (`filter_data.paging`), so a tenant with thousands of instances lists them all.
//!
//! `--connection` names the Cortex Cloud connection ([`super::onboard_cortex`] explains
//! which; `cortex-sandbox` by default with `--sandbox`). Bad input exits 2 naming the field:
//! a Prisma Cloud connection or an unknown one (`connection`), a status Cortex does not have
//! (`status`), an id that is not an instance ID or that the tenant does not know (`id`). The
//! JSON shapes are `schemas/cortex_instances.schema.json`.

use cortex_cloud_client::CortexClient;
use cortex_cloud_types::filter::{FilterData, FilterNode};
use cortex_cloud_types::wire::{AccountRow, InstanceDetails, InstanceRow};
use onboarding_engine::connections::CORTEX_SANDBOX_CONNECTION;
use onboarding_engine::connections::cortex::client_config;
use onboarding_engine::cortex::CortexAccount;
use serde::Serialize;

use super::onboard_cortex::connection_error;
use crate::GlobalArgs;
use crate::exit::{CliError, Exit};
use crate::output::Out;
use crate::session::Session;

pub const EXAMPLES: &str = "\
Examples:
  azure-cortex --sandbox instances list
  azure-cortex instances list --connection cortex-prod --status warning --output json
  azure-cortex instances list --connection cortex-prod --status pending
  azure-cortex instances show 3f1c0d2e9a8b47c6b5d4e3f2a1b0c9d8 --connection cortex-prod
  azure-cortex instances accounts 3f1c0d2e9a8b47c6b5d4e3f2a1b0c9d8 --connection cortex-prod
  azure-cortex instances disable 3f1c0d2e9a8b47c6b5d4e3f2a1b0c9d8 --connection cortex-prod
  azure-cortex instances delete 3f1c0d2e9a8b47c6b5d4e3f2a1b0c9d8 --connection cortex-prod --interactive";

/// The statuses an instance can have (`--status`).
pub const STATUSES: [&str; 6] = [
    "pending",
    "connected",
    "warning",
    "error",
    "disabled",
    "deleted",
];

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConnectionArg {
    /// The Cortex Cloud connection [default with --sandbox: cortex-sandbox].
    #[arg(long, value_name = "NAME")]
    pub connection: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum InstancesCommand {
    /// List the tenant's Azure instances (Cortex leaves pending ones out unless asked for).
    List {
        /// Only instances with this status: pending, connected, warning, error, disabled,
        /// deleted.
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        #[command(flatten)]
        connection: ConnectionArg,
    },
    /// One instance: its status, scope, scan mode and each security capability with its text.
    Show {
        /// The instance ID (32 hexadecimal digits).
        #[arg(value_name = "ID")]
        id: String,
        #[command(flatten)]
        connection: ConnectionArg,
    },
    /// The accounts (Azure subscriptions) an instance covers.
    Accounts {
        #[arg(value_name = "ID")]
        id: String,
        #[command(flatten)]
        connection: ConnectionArg,
    },
    /// Resume scanning a disabled instance.
    Enable {
        #[arg(value_name = "ID")]
        id: String,
        #[command(flatten)]
        connection: ConnectionArg,
    },
    /// Stop scanning an instance (kept in Cortex Cloud; `enable` resumes it).
    Disable {
        #[arg(value_name = "ID")]
        id: String,
        #[command(flatten)]
        connection: ConnectionArg,
    },
    /// Delete an instance from Cortex Cloud (its Azure resources stay; asks first with
    /// --interactive).
    Delete {
        #[arg(value_name = "ID")]
        id: String,
        #[command(flatten)]
        connection: ConnectionArg,
    },
}

/// An instance as listed.
#[derive(Serialize, Debug, Clone)]
pub struct InstanceItem {
    pub id: String,
    pub name: String,
    pub status: String,
    /// Cortex's scope: `ORGANIZATION`, `ACCOUNT_GROUP` or `ACCOUNT`.
    pub scope: String,
    pub scan_mode: String,
    /// What the instance covers: the tenant, and the group or subscription.
    pub tenant_id: String,
    pub account_id: String,
    pub management_group: String,
    /// The security capabilities turned on (Cortex's names).
    pub capabilities: Vec<String>,
    pub accounts: u64,
    /// Milliseconds since the epoch, when Cortex says.
    pub created_ms: Option<i64>,
}

/// A security capability as `instances show` reports it.
#[derive(Serialize, Debug, Clone)]
pub struct CapabilityItem {
    pub name: String,
    pub description: String,
    /// `connected` | `warning` | `disabled` | `error` | `retrieving`.
    pub status: String,
    pub code: i64,
    /// Cortex's text for a warning or an error, as given; empty otherwise.
    pub message: String,
}

/// `instances show`.
#[derive(Serialize, Debug, Clone)]
pub struct InstanceView {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub connection: String,
    pub id: String,
    pub name: String,
    pub status: String,
    pub scope: String,
    pub scan_mode: String,
    pub outpost_id: String,
    pub audit_logs: bool,
    pub upgrade_available: bool,
    pub capabilities: Vec<CapabilityItem>,
}

fn item(row: &InstanceRow) -> InstanceItem {
    let audit = row.collection_configuration.audit_logs.enabled;
    let d = &row.account_details;
    InstanceItem {
        id: row.instance_id.clone(),
        name: row.instance_name.clone(),
        status: row.status.as_str().to_owned(),
        scope: row.scope.clone(),
        scan_mode: row.scan_mode.clone(),
        tenant_id: d.organization_id.clone(),
        account_id: d.account_id.clone(),
        management_group: d.account_group.clone(),
        capabilities: row
            .additional_capabilities
            .requested(audit)
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| name.as_str().to_owned())
            .collect(),
        accounts: row.accounts,
        created_ms: row.created().map(|m| m.0),
    }
}

fn view(connection: &str, d: &InstanceDetails) -> InstanceView {
    InstanceView {
        kind: "cortex_instance",
        connection: connection.to_owned(),
        id: d.id.clone(),
        name: d.instance_name.clone(),
        status: d.status.as_str().to_owned(),
        scope: d.scope.clone(),
        scan_mode: d.scan.scan_method.clone(),
        outpost_id: d.scan.outpost_id.clone(),
        audit_logs: d.collection_configuration.audit_logs.enabled,
        upgrade_available: d.upgrade_available,
        capabilities: d
            .security_capabilities
            .iter()
            .map(|c| CapabilityItem {
                name: c.name.clone(),
                description: c.description.clone(),
                status: c.status.label().to_owned(),
                code: c.status.code(),
                message: c.message.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

fn account(a: &AccountRow) -> CortexAccount {
    CortexAccount {
        account_id: a.subscription().to_owned(),
        name: a.account_name.clone(),
        status: a.status.clone(),
        kind: a.kind.clone(),
    }
}

/// The connection's name: the flag, else `cortex-sandbox` with `--sandbox`.
fn connection_name(global: &GlobalArgs, arg: &ConnectionArg) -> Result<String, CliError> {
    match (&arg.connection, global.sandbox) {
        (Some(name), _) => Ok(name.trim().to_owned()),
        (None, true) => Ok(CORTEX_SANDBOX_CONNECTION.to_owned()),
        (None, false) => Err(CliError::field(
            "connection",
            "is required: a Cortex Cloud connection saved under Connections (--connection)",
        )),
    }
}

/// The id must be an instance ID before anything is asked.
fn instance_id(raw: &str) -> Result<String, CliError> {
    let id = raw.trim().to_ascii_lowercase();
    if cortex_cloud_types::is_instance_id(&id) {
        Ok(id)
    } else {
        Err(CliError::field(
            "id",
            "must be an instance ID: 32 hexadecimal digits (`instances list` shows them)",
        ))
    }
}

/// `status` as Cortex spells it.
fn status_filter(raw: &str) -> Result<String, CliError> {
    let s = raw.trim().to_ascii_lowercase();
    if STATUSES.contains(&s.as_str()) {
        Ok(s.to_ascii_uppercase())
    } else {
        Err(CliError::field(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ))
    }
}

/// A client error: one that names the instance id (Cortex does not know it) is bad input.
fn api_error(e: cortex_cloud_client::Error, id: Option<&str>) -> CliError {
    let names_id = e
        .field()
        .is_some_and(|f| f == "id" || f.starts_with("ids") || f == "instance_id");
    match id {
        Some(id) if names_id => CliError::field(
            "id",
            format!("Cortex Cloud has no instance {id} on this connection"),
        ),
        _ => CliError::failed(format!("cortex_{}", e.code()), e.to_string()),
    }
}

pub async fn run(
    global: &GlobalArgs,
    out: &Out,
    command: InstancesCommand,
) -> Result<Exit, CliError> {
    // Everything that can be checked without the tenant is checked first.
    let (connection, id, status) = match &command {
        InstancesCommand::List { status, connection } => (
            connection_name(global, connection)?,
            None,
            status.as_deref().map(status_filter).transpose()?,
        ),
        InstancesCommand::Show { id, connection }
        | InstancesCommand::Accounts { id, connection }
        | InstancesCommand::Enable { id, connection }
        | InstancesCommand::Disable { id, connection }
        | InstancesCommand::Delete { id, connection } => (
            connection_name(global, connection)?,
            Some(instance_id(id)?),
            None,
        ),
    };
    let session = Session::open(global).await?;
    let result = async {
        let engine = &session.engine;
        let target = engine
            .cortex_connection(&connection)
            .await
            .map_err(connection_error)?;
        let client = CortexClient::new(client_config(&target, engine.extra_ca_pem()))
            .map_err(|e| CliError::failed("cortex_client", e.to_string()))?;
        match command {
            InstancesCommand::List { .. } => list(out, &client, &connection, status).await,
            InstancesCommand::Show { .. } => {
                let id = id.unwrap_or_default();
                let details = client
                    .get_instance_details(&id)
                    .await
                    .map_err(|e| api_error(e, Some(&id)))?;
                print_view(out, &view(&connection, &details));
                Ok(Exit::Success)
            }
            InstancesCommand::Accounts { .. } => {
                let id = id.unwrap_or_default();
                let rows = client
                    .all_accounts(&id)
                    .await
                    .map_err(|e| api_error(e, Some(&id)))?;
                let accounts: Vec<CortexAccount> = rows.iter().map(account).collect();
                if out.json() {
                    out.json_line(&serde_json::json!({
                        "type": "cortex_accounts",
                        "connection": connection,
                        "instance_id": id,
                        "total": accounts.len(),
                        "accounts": accounts,
                    }));
                } else if accounts.is_empty() {
                    out.line(&format!("instance {id} covers no account"));
                } else {
                    out.line(&format!("{:<38} {:<10} NAME", "SUBSCRIPTION", "STATUS"));
                    for a in &accounts {
                        out.line(&format!("{:<38} {:<10} {}", a.account_id, a.status, a.name));
                    }
                }
                Ok(Exit::Success)
            }
            InstancesCommand::Enable { .. } => {
                change(
                    out,
                    &client,
                    &connection,
                    &id.unwrap_or_default(),
                    Change::Enable,
                )
                .await
            }
            InstancesCommand::Disable { .. } => {
                change(
                    out,
                    &client,
                    &connection,
                    &id.unwrap_or_default(),
                    Change::Disable,
                )
                .await
            }
            InstancesCommand::Delete { .. } => {
                let id = id.unwrap_or_default();
                if global.interactive && !confirmed_delete(&id).await {
                    out.note("not deleted");
                    return Ok(Exit::Cancelled);
                }
                change(out, &client, &connection, &id, Change::Delete).await
            }
        }
    }
    .await;
    session.finish(result).await
}

/// What `enable`, `disable` and `delete` do to one instance.
#[derive(Clone, Copy)]
enum Change {
    Enable,
    Disable,
    Delete,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Enable => "enable",
            Change::Disable => "disable",
            Change::Delete => "delete",
        }
    }

    fn done(self) -> &'static str {
        match self {
            Change::Enable => "enabled: Cortex Cloud scans it again",
            Change::Disable => {
                "disabled: Cortex Cloud stops scanning it (`instances enable` resumes)"
            }
            Change::Delete => {
                "deleted from Cortex Cloud (the Azure resources its template created stay)"
            }
        }
    }
}

/// With `--interactive`: the instance is deleted only if its ID is typed back.
async fn confirmed_delete(id: &str) -> bool {
    let question = format!("Delete instance {id} from Cortex Cloud? Type its ID to confirm: ");
    let typed = tokio::task::spawn_blocking(move || crate::prompt::answer(&question))
        .await
        .ok()
        .flatten();
    typed.is_some_and(|t| t.trim().eq_ignore_ascii_case(id))
}

async fn change(
    out: &Out,
    client: &CortexClient,
    connection: &str,
    id: &str,
    change: Change,
) -> Result<Exit, CliError> {
    let ids = [id.to_owned()];
    match change {
        Change::Enable => client.enable_disable_instances(&ids, true).await,
        Change::Disable => client.enable_disable_instances(&ids, false).await,
        Change::Delete => client.delete_instances(&ids).await,
    }
    .map_err(|e| api_error(e, Some(id)))?;
    if out.json() {
        out.json_line(&serde_json::json!({
            "type": "cortex_instance_action",
            "connection": connection,
            "instance_id": id,
            "action": change.name(),
        }));
    } else {
        out.line(&format!("Instance {id} {}.", change.done()));
    }
    Ok(Exit::Success)
}

async fn list(
    out: &Out,
    client: &CortexClient,
    connection: &str,
    status: Option<String>,
) -> Result<Exit, CliError> {
    let mut nodes = vec![FilterNode::eq("CLOUD_PROVIDER", "AZURE")];
    if let Some(status) = &status {
        nodes.push(FilterNode::eq("STATUS", status.as_str()));
    }
    let filter = FilterData::new().all(nodes);
    let rows = client
        .all_instances(&filter)
        .await
        .map_err(|e| api_error(e, None))?;
    let items: Vec<InstanceItem> = rows.iter().map(item).collect();
    if out.json() {
        out.json_line(&serde_json::json!({
            "type": "cortex_instances",
            "connection": connection,
            "status": status,
            "total": items.len(),
            "instances": items,
        }));
        return Ok(Exit::Success);
    }
    if items.is_empty() {
        out.line(&format!(
            "no {}Azure instance on connection {connection}{}",
            status
                .as_deref()
                .map(|s| format!("{} ", s.to_ascii_lowercase()))
                .unwrap_or_default(),
            if status.is_none() {
                " (pending ones: --status pending)"
            } else {
                ""
            }
        ));
        return Ok(Exit::Success);
    }
    out.line(&format!(
        "{:<32}  {:<10} {:<13} {:>8}  NAME",
        "ID", "STATUS", "SCOPE", "ACCOUNTS"
    ));
    for i in &items {
        out.line(&format!(
            "{:<32}  {:<10} {:<13} {:>8}  {}",
            i.id, i.status, i.scope, i.accounts, i.name
        ));
    }
    out.line(&format!("{} instance(s)", items.len()));
    Ok(Exit::Success)
}

fn print_view(out: &Out, v: &InstanceView) {
    if out.json() {
        out.json_line(&serde_json::to_value(v).unwrap_or_default());
        return;
    }
    out.line(&format!("instance   {} ({})", v.id, v.name));
    out.line(&format!("status     {}", v.status));
    out.line(&format!("scope      {}", v.scope));
    let scan = match (v.scan_mode.as_str(), v.outpost_id.as_str()) {
        ("", _) => "managed by Cortex Cloud".to_owned(),
        (m, "") => m.to_ascii_lowercase(),
        (m, o) => format!("{} (outpost {o})", m.to_ascii_lowercase()),
    };
    out.line(&format!("scan       {scan}"));
    out.line(&format!(
        "audit logs {}",
        if v.audit_logs { "on" } else { "off" }
    ));
    if v.upgrade_available {
        out.line("upgrade    available: re-run its template");
    }
    out.line("capabilities");
    for c in &v.capabilities {
        let mut line = format!("  {:<18} {}", c.name, c.status);
        if !c.message.is_empty() {
            line.push_str(&format!(": {}", c.message));
        }
        out.line(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_statuses_are_checked_before_the_tenant_is_asked() {
        assert_eq!(
            instance_id(" 3F1C0D2E9A8B47C6B5D4E3F2A1B0C9D8 ").unwrap(),
            "3f1c0d2e9a8b47c6b5d4e3f2a1b0c9d8"
        );
        for bad in ["", "xyz", "3f1c0d2e-9a8b-47c6-b5d4-e3f2a1b0c9d8"] {
            let e = instance_id(bad).unwrap_err();
            assert_eq!((e.exit, e.fields[0].field.as_str()), (Exit::Usage, "id"));
        }
        assert_eq!(status_filter("Warning").unwrap(), "WARNING");
        let e = status_filter("sleepy").unwrap_err();
        assert_eq!(e.fields[0].field, "status");
        assert!(e.message.contains("pending, connected"), "{}", e.message);
    }
}
