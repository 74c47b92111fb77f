//! `azure-cortex groups list | create`: Prisma Cloud account groups.

use crate::GlobalArgs;
use crate::exit::{CliError, Exit};
use crate::output::Out;
use crate::session::Prisma;

pub const EXAMPLES: &str = "\
Examples:
  azure-cortex groups list
  azure-cortex groups create Production --description 'Production subscriptions'";

#[derive(clap::Subcommand, Debug)]
pub enum GroupsCommand {
    /// List account groups.
    List,
    /// Create an account group (an existing one of the same name is reported, not duplicated).
    Create {
        /// The group's name (1-100 characters).
        #[arg(value_name = "NAME")]
        name: String,
        /// A description.
        #[arg(long, default_value = "Created by azure-cortex")]
        description: String,
    },
}

pub async fn run(global: &GlobalArgs, out: &Out, command: GroupsCommand) -> Result<Exit, CliError> {
    let prisma = Prisma::connect(global).await?;
    let result: Result<Exit, CliError> = async {
        let client = prisma.client()?;
        match command {
            GroupsCommand::List => {
                let groups = client.list_account_groups().await?;
                if out.json() {
                    out.json_line(&serde_json::Value::Array(
                        groups
                            .iter()
                            .map(|g| {
                                serde_json::json!({
                                    "id": g.id, "name": g.name, "description": g.description,
                                    "account_ids": g.account_ids, "auto_created": g.auto_created,
                                })
                            })
                            .collect(),
                    ));
                } else {
                    out.line(&format!("{:<36}  {:>8}  NAME", "ID", "ACCOUNTS"));
                    for g in &groups {
                        out.line(&format!(
                            "{:<36}  {:>8}  {}",
                            g.id,
                            g.account_ids.len(),
                            g.name
                        ));
                    }
                }
            }
            GroupsCommand::Create { name, description } => {
                let (group, outcome) = client.create_account_group(&name, &description).await?;
                let outcome = match outcome {
                    prisma_client::Outcome::Created => "created",
                    prisma_client::Outcome::Adopted => "existed",
                };
                if out.json() {
                    out.json_line(&serde_json::json!({
                        "type": "group", "id": group.id, "name": group.name, "outcome": outcome,
                    }));
                } else {
                    out.line(&format!("Group '{}' {outcome}: {}", group.name, group.id));
                }
            }
        }
        Ok(Exit::Success)
    }
    .await;
    let closed = prisma.close().await;
    let exit = result?;
    closed?;
    Ok(exit)
}
