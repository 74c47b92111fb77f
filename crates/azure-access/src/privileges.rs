//! What the chosen scope, features and identity source need from the caller, compared with
//! the Azure roles it holds at the scope (ARM, inherited ones included) and its Entra
//! directory roles (Graph). `docs/azure-privileges.md` is the same table in prose.

use serde::Serialize;
use serde_json::Value;

use crate::credentials::Session;
use crate::http::{ApiError, get_json};

/// Where and what Terraform will create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub scope: TargetScope,
    /// Terraform creates the app registration (`false`: an existing identity, nothing is
    /// created, nothing is needed from the caller).
    pub creates_identity: bool,
    /// Assign the Directory Readers role to the new service principal.
    pub directory_readers: bool,
    /// Export Entra ID audit logs (diagnostic settings on the directory).
    pub audit_log_export: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetScope {
    Subscription(String),
    ManagementGroup(String),
    /// The tenant root group (its id is the tenant id).
    Tenant(String),
    /// Entra ID only: no Azure role assignment.
    EntraOnly,
}

impl TargetScope {
    fn arm_id(&self) -> Option<String> {
        match self {
            TargetScope::Subscription(id) => Some(format!("/subscriptions/{id}")),
            TargetScope::ManagementGroup(id) | TargetScope::Tenant(id) => Some(format!(
                "/providers/Microsoft.Management/managementGroups/{id}"
            )),
            TargetScope::EntraOnly => None,
        }
    }

    fn words(&self) -> String {
        match self {
            TargetScope::Subscription(id) => format!("subscription `{id}`"),
            TargetScope::ManagementGroup(id) => format!("management group `{id}`"),
            TargetScope::Tenant(id) => format!("the tenant root group `{id}`"),
            TargetScope::EntraOnly => "Entra ID".into(),
        }
    }
}

/// One privilege the caller lacks.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Missing {
    /// What Terraform would do.
    pub action: String,
    /// Any one of these is enough.
    pub needs: Vec<&'static str>,
    /// The caller's roles of that kind (Azure roles at the scope, or directory roles).
    pub have: Vec<String>,
    /// Where the roles are granted.
    pub place: String,
}

impl Missing {
    /// "assigning roles at management group `contoso-root` needs Owner or User Access
    /// Administrator there; you have Reader".
    pub fn words(&self) -> String {
        let needs = match self.needs.as_slice() {
            [one] => (*one).to_owned(),
            [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
            [] => String::new(),
        };
        let have = if self.have.is_empty() {
            "you have none".to_owned()
        } else {
            format!("you have {}", self.have.join(", "))
        };
        format!("{} needs {needs} {}; {have}", self.action, self.place)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub azure_roles: Vec<String>,
    pub directory_roles: Vec<String>,
    pub missing: Vec<Missing>,
}

/// Why the check could not be made (bad input names the field and what exists).
#[derive(Clone, Debug, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PrivilegeError {
    pub field: &'static str,
    pub message: String,
}

const ASSIGN_ROLES: [&str; 2] = ["Owner", "User Access Administrator"];
const CREATE_APP: [&str; 3] = [
    "Application Administrator",
    "Cloud Application Administrator",
    "Global Administrator",
];
const CONSENT: [&str; 2] = ["Privileged Role Administrator", "Global Administrator"];
const AUDIT_LOGS: [&str; 2] = ["Security Administrator", "Global Administrator"];

/// What `target` needs that `azure_roles` (at the scope) and `directory_roles` lack.
pub fn missing(
    target: &Target,
    azure_roles: &[String],
    directory_roles: &[String],
) -> Vec<Missing> {
    let mut out = Vec::new();
    if !target.creates_identity {
        return out;
    }
    let has = |held: &[String], any: &[&str]| {
        held.iter()
            .any(|h| any.iter().any(|a| h.eq_ignore_ascii_case(a)))
    };
    let mut want = |action: String, needs: &[&'static str], azure: bool, place: String| {
        let held = if azure { azure_roles } else { directory_roles };
        if !has(held, needs) {
            out.push(Missing {
                action,
                needs: needs.to_vec(),
                have: held.to_vec(),
                place,
            });
        }
    };
    if target.scope != TargetScope::EntraOnly {
        let scope = target.scope.words();
        let mut action = format!("creating the custom role and assigning roles at {scope}");
        if matches!(target.scope, TargetScope::Tenant(_)) {
            action.push_str(" (a Global Administrator must first elevate access: Entra ID → Properties → Access management for Azure resources)");
        }
        want(action, &ASSIGN_ROLES, true, "there".into());
    }
    want(
        "creating the app registration and its service principal".into(),
        &CREATE_APP,
        false,
        "in Entra ID".into(),
    );
    want(
        "granting admin consent for Microsoft Graph application permissions".into(),
        &CONSENT,
        false,
        "in Entra ID".into(),
    );
    if target.directory_readers {
        want(
            "assigning the Directory Readers role to the service principal".into(),
            &CONSENT,
            false,
            "in Entra ID".into(),
        );
    }
    if target.audit_log_export {
        want(
            "exporting Entra ID audit logs (directory diagnostic settings)".into(),
            &AUDIT_LOGS,
            false,
            "in Entra ID".into(),
        );
    }
    out
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v[key].as_str().map(str::to_owned))
        .collect()
}

/// Reads the caller's roles and compares them with what `target` needs.
pub async fn check(session: &Session, target: &Target) -> Result<Report, PrivilegeError> {
    let oid = &session.identity.principal_object_id;
    let arm = &session.endpoints.arm;
    let mut azure_roles = Vec::new();
    if let Some(scope) = target.scope.arm_id() {
        let url = format!(
            "{arm}{}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=atScope() and assignedTo('{oid}')",
            scope.trim_start_matches('/')
        );
        let assignments = match get_json(&session.http, &url, &session.arm_token).await {
            Ok(a) => a,
            Err(e) => {
                let mut err = scope_error(&target.scope, e);
                if err.field == "management_group_id" {
                    let groups = visible_groups(session).await;
                    err.message.push_str(&format!(
                        "; the groups you can see: {}",
                        if groups.is_empty() {
                            "none".into()
                        } else {
                            groups.join(", ")
                        }
                    ));
                }
                return Err(err);
            }
        };
        let defs_url = format!(
            "{arm}{}/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-04-01",
            scope.trim_start_matches('/')
        );
        let definitions = get_json(&session.http, &defs_url, &session.arm_token)
            .await
            .map_err(|e| PrivilegeError {
                field: "scope",
                message: format!("reading role definitions failed: {e}"),
            })?;
        for a in assignments["value"].as_array().into_iter().flatten() {
            let def = a["properties"]["roleDefinitionId"]
                .as_str()
                .unwrap_or_default();
            let guid = def.rsplit('/').next().unwrap_or_default();
            let name = definitions["value"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|d| {
                    d["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(guid))
                })
                .and_then(|d| d["properties"]["roleName"].as_str())
                .unwrap_or(guid)
                .to_owned();
            if !azure_roles.contains(&name) {
                azure_roles.push(name);
            }
        }
    }
    let graph = &session.endpoints.graph;
    let url = if session.identity.principal_kind == "user" {
        format!("{graph}v1.0/me/memberOf")
    } else {
        format!("{graph}v1.0/servicePrincipals/{oid}/memberOf")
    };
    let member_of = get_json(&session.http, &url, &session.graph_token)
        .await
        .map_err(|e| PrivilegeError {
            field: "identity",
            message: format!("reading the directory roles from Microsoft Graph failed: {e}"),
        })?;
    let directory_roles: Vec<String> = member_of["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["@odata.type"] == "#microsoft.graph.directoryRole")
        .filter_map(|v| v["displayName"].as_str().map(str::to_owned))
        .collect();
    let missing = missing(target, &azure_roles, &directory_roles);
    Ok(Report {
        azure_roles,
        directory_roles,
        missing,
    })
}

/// A scope that does not exist or cannot be seen: name it and what exists.
fn scope_error(scope: &TargetScope, e: ApiError) -> PrivilegeError {
    match (scope, e.status) {
        (TargetScope::Subscription(id), 403 | 404) => PrivilegeError {
            field: "subscription_id",
            message: format!(
                "subscription `{id}` does not exist or is not visible to this principal ({})",
                e.code
            ),
        },
        (TargetScope::ManagementGroup(id) | TargetScope::Tenant(id), 404) => PrivilegeError {
            field: "management_group_id",
            message: format!("management group `{id}` does not exist in the tenant"),
        },
        (TargetScope::ManagementGroup(id) | TargetScope::Tenant(id), 403) => PrivilegeError {
            field: "management_group_id",
            message: format!(
                "management group `{id}` is not visible to this principal ({})",
                e.code
            ),
        },
        _ => PrivilegeError {
            field: "scope",
            message: format!("reading role assignments failed: {e}"),
        },
    }
}

/// The caller's visible management groups, for an error that names what exists.
pub async fn visible_groups(session: &Session) -> Vec<String> {
    let url = format!(
        "{}providers/Microsoft.Management/managementGroups?api-version=2020-05-01",
        session.endpoints.arm
    );
    get_json(&session.http, &url, &session.arm_token)
        .await
        .map(|v| ids(&v, "name"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn the_words_name_the_role_the_scope_and_what_is_held() {
        let target = Target {
            scope: TargetScope::ManagementGroup("contoso-root".into()),
            creates_identity: true,
            directory_readers: true,
            audit_log_export: false,
        };
        let m = missing(&target, &s(&["Reader"]), &s(&["Application Administrator"]));
        let words: Vec<String> = m.iter().map(Missing::words).collect();
        assert_eq!(
            words,
            [
                "creating the custom role and assigning roles at management group `contoso-root` needs Owner or User Access Administrator there; you have Reader",
                "granting admin consent for Microsoft Graph application permissions needs Privileged Role Administrator or Global Administrator in Entra ID; you have Application Administrator",
                "assigning the Directory Readers role to the service principal needs Privileged Role Administrator or Global Administrator in Entra ID; you have Application Administrator",
            ]
        );
        assert!(
            missing(
                &Target {
                    creates_identity: false,
                    ..target.clone()
                },
                &[],
                &[]
            )
            .is_empty()
        );
        assert!(missing(&target, &s(&["Owner"]), &s(&["Global Administrator"])).is_empty());
    }
}
