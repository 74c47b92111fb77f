//! The tenant as the caller sees it: the management-group tree (ARM's `descendants` of the
//! tenant root group) with each subscription's name and state (ARM's subscription list).

use serde::Serialize;

use crate::credentials::Session;
use crate::http::get_json;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub display_name: String,
    /// `None` for the tenant root group.
    pub parent: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub display_name: String,
    /// ARM's state: `Enabled`, `Warned`, `PastDue`, `Disabled`; `Unknown` when the caller
    /// sees the subscription in the tree but may not read it.
    pub state: String,
    pub management_group: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct TenantTree {
    pub tenant_id: String,
    /// Parents before children; the first is the tenant root group.
    pub groups: Vec<Group>,
    pub subscriptions: Vec<Subscription>,
}

#[derive(Clone, Debug, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct DiscoveryError {
    pub field: &'static str,
    /// A sentence with the fix.
    pub message: String,
    /// Why: the input names something the credentials cannot read, Azure refused, or Azure
    /// throttled (callers map it to their status: a bad request, a refusal, a retry later).
    #[serde(skip)]
    pub kind: DiscoveryFailure,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DiscoveryFailure {
    /// The tenant asked for is not the credentials' tenant.
    #[default]
    WrongTenant,
    /// ARM answered 401/403: the principal may not read this.
    NoAccess,
    /// ARM answered 429.
    Throttled,
    /// ARM was unreachable or answered something else.
    Unavailable,
}

/// `what` failed with `e`, in words with the fix.
fn arm_failure(what: &str, e: &crate::http::ApiError) -> DiscoveryError {
    let (kind, message) = match e.status {
        429 => (
            DiscoveryFailure::Throttled,
            format!(
                "Azure Resource Manager is throttling these calls while {what} ({}: {}): wait a minute and try again; other tools reading the tenant with the same principal share its limit",
                e.code, e.message
            ),
        ),
        401 | 403 => (
            DiscoveryFailure::NoAccess,
            format!(
                "the principal may not read the tenant while {what} ({}: {}): give it Reader at the tenant root group, or at the management groups to cover (docs/azure-privileges.md)",
                e.code, e.message
            ),
        ),
        _ => (
            DiscoveryFailure::Unavailable,
            format!("{what} failed ({e}): check the ARM endpoint and try again"),
        ),
    };
    DiscoveryError {
        field: "tenant",
        message,
        kind,
    }
}

fn last_segment(id: &str) -> String {
    id.rsplit('/').next().unwrap_or_default().to_owned()
}

/// Reads `tenant`'s tree. The credentials' tenant is the only one they can read.
pub async fn discover(session: &Session, tenant: &str) -> Result<TenantTree, DiscoveryError> {
    let own = &session.identity.tenant_id;
    if !tenant.eq_ignore_ascii_case(own) {
        return Err(DiscoveryError {
            field: "tenant",
            message: format!(
                "`{tenant}` is not the tenant of the Azure credentials in use; they sign in to {own}"
            ),
            kind: DiscoveryFailure::WrongTenant,
        });
    }
    let arm = &session.endpoints.arm;
    let descendants_of = |group: &str| {
        format!(
            "{arm}providers/Microsoft.Management/managementGroups/{group}/descendants?api-version=2020-05-01"
        )
    };
    // The whole tree from the tenant root group; a caller with access lower down (Owner of a
    // group below the root, as is common) gets the tree below each top group it can see.
    let mut items: Vec<serde_json::Value> = Vec::new();
    match get_json(&session.http, &descendants_of(own), &session.arm_token).await {
        Ok(d) => items.extend(d["value"].as_array().cloned().unwrap_or_default()),
        Err(e) if e.status == 403 => {
            let list_url = format!(
                "{arm}providers/Microsoft.Management/managementGroups?api-version=2020-05-01"
            );
            let visible = get_json(&session.http, &list_url, &session.arm_token)
                .await
                .map_err(|e| arm_failure("listing the management groups", &e))?;
            let visible: Vec<serde_json::Value> =
                visible["value"].as_array().cloned().unwrap_or_default();
            let names: Vec<&str> = visible.iter().filter_map(|g| g["name"].as_str()).collect();
            let tops: Vec<&serde_json::Value> = visible
                .iter()
                .filter(|g| {
                    g["properties"]["parent"]["id"]
                        .as_str()
                        .map(last_segment)
                        .is_none_or(|p| !names.iter().any(|n| n.eq_ignore_ascii_case(&p)))
                })
                .collect();
            if tops.is_empty() {
                return Err(DiscoveryError {
                    field: "tenant",
                    message: format!(
                        "the principal may not read any management group of {own} ({}): give it Reader at the tenant root group (docs/azure-privileges.md)",
                        e.code
                    ),
                    kind: DiscoveryFailure::NoAccess,
                });
            }
            for top in tops {
                let name = top["name"].as_str().unwrap_or_default();
                items.push(top.clone());
                let d = get_json(&session.http, &descendants_of(name), &session.arm_token)
                    .await
                    .map_err(|e| {
                        arm_failure(&format!("reading the management groups below {name}"), &e)
                    })?;
                items.extend(d["value"].as_array().cloned().unwrap_or_default());
            }
        }
        Err(e) => return Err(arm_failure("reading the management groups", &e)),
    }
    let subs_url = format!("{arm}subscriptions?api-version=2022-12-01");
    let listed = get_json(&session.http, &subs_url, &session.arm_token)
        .await
        .map_err(|e| arm_failure("listing subscriptions", &e))?;
    let state_of = |id: &str| {
        listed["value"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| {
                s["subscriptionId"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(id))
            })
            .and_then(|s| s["state"].as_str())
            .unwrap_or("Unknown")
            .to_owned()
    };
    let mut groups = vec![Group {
        id: own.clone(),
        display_name: "Tenant Root Group".into(),
        parent: None,
    }];
    let mut subscriptions = Vec::new();
    for item in &items {
        let name = item["name"].as_str().unwrap_or_default().to_owned();
        let display_name = item["properties"]["displayName"]
            .as_str()
            .unwrap_or(&name)
            .to_owned();
        let parent = item["properties"]["parent"]["id"]
            .as_str()
            .map(last_segment)
            .unwrap_or_else(|| own.clone());
        match item["type"].as_str() {
            Some("Microsoft.Management/managementGroups") => groups.push(Group {
                id: name,
                display_name,
                parent: Some(parent),
            }),
            Some("Microsoft.Management/managementGroups/subscriptions") => {
                subscriptions.push(Subscription {
                    state: state_of(&name),
                    id: name,
                    display_name,
                    management_group: parent,
                })
            }
            _ => {}
        }
    }
    Ok(TenantTree {
        tenant_id: own.clone(),
        groups,
        subscriptions,
    })
}

impl TenantTree {
    /// The group and every group below it.
    pub fn subtree(&self, group: &str) -> Vec<&Group> {
        let mut out: Vec<&Group> = self
            .groups
            .iter()
            .filter(|g| g.id.eq_ignore_ascii_case(group))
            .collect();
        let mut i = 0;
        while i < out.len() {
            let id = out[i].id.clone();
            out.extend(self.groups.iter().filter(|g| {
                g.parent
                    .as_deref()
                    .is_some_and(|p| p.eq_ignore_ascii_case(&id))
            }));
            i += 1;
        }
        out
    }

    /// Subscriptions in `group` or below.
    pub fn subscriptions_under(&self, group: &str) -> Vec<&Subscription> {
        let groups = self.subtree(group);
        self.subscriptions
            .iter()
            .filter(|s| {
                groups
                    .iter()
                    .any(|g| g.id.eq_ignore_ascii_case(&s.management_group))
            })
            .collect()
    }
}
