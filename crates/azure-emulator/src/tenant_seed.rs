//! The seeded sandbox tenant "Contoso": its management-group tree, subscriptions, callers
//! (users, service principals, managed identities) with their Azure role assignments and Entra
//! directory roles.
//!
//! Plain data with no dependency on anything else, so that every emulated face (ARM, Graph,
//! the token endpoints here, and the platform emulators' tenant hierarchies) describes the same
//! tenant. Everything is deterministic: the same ids on every run.
//!
//! The tree (management group ids; subscriptions per group in brackets):
//!
//! ```text
//! <tenant id> "Tenant Root Group"
//! └── contoso-root "Contoso"
//!     ├── contoso-platform "Platform"                 [1]
//!     │   ├── contoso-connectivity "Connectivity"     [2]
//!     │   ├── contoso-identity "Identity"             [1]
//!     │   └── contoso-management "Management"         [2]
//!     ├── contoso-landing-zones "Landing zones"
//!     │   ├── contoso-corp "Corp"                     [12, one Warned]
//!     │   └── contoso-online "Online"                 [10, one PastDue]
//!     ├── contoso-sandbox "Sandbox"                   [4]
//!     └── contoso-decommissioned "Decommissioned"     [4, all Disabled]
//! ```
//!
//! 36 subscriptions, 6 of them not `Enabled`. The callers and what they may do are in
//! [`callers`]; `docs/emulator.md` ("Emulated Azure") lists them with the scenario each serves.

/// The tenant's id (also the tenant root group's id).
pub const TENANT_ID: &str = "3f6e2a10-7c4d-4b8e-9a21-5d0c8e7b6a41";
pub const TENANT_NAME: &str = "Contoso";
pub const TENANT_DOMAIN: &str = "contoso.example";

/// Built-in Azure role definition ids (the same in every tenant).
pub mod roles {
    pub const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
    pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    pub const USER_ACCESS_ADMINISTRATOR: &str = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
    pub const RBAC_ADMINISTRATOR: &str = "f58310d9-a9f6-439a-9e8d-f62e7b41a168";

    /// `(id, roleName, description)` of every built-in role the emulator knows.
    pub const BUILT_IN: [(&str, &str, &str); 5] = [
        (
            OWNER,
            "Owner",
            "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
        ),
        (
            CONTRIBUTOR,
            "Contributor",
            "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.",
        ),
        (
            READER,
            "Reader",
            "View all resources, but does not allow you to make any changes.",
        ),
        (
            USER_ACCESS_ADMINISTRATOR,
            "User Access Administrator",
            "Lets you manage user access to Azure resources.",
        ),
        (
            RBAC_ADMINISTRATOR,
            "Role Based Access Control Administrator",
            "Manage access to Azure resources by assigning roles using Azure RBAC.",
        ),
    ];
}

/// Entra directory role template ids (the same in every tenant).
pub mod directory_roles {
    pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
    pub const PRIVILEGED_ROLE_ADMINISTRATOR: &str = "e8611ab8-c189-46e8-94e1-60213ab1f814";
    pub const APPLICATION_ADMINISTRATOR: &str = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3";
    pub const CLOUD_APPLICATION_ADMINISTRATOR: &str = "158c047a-c907-4556-b7ef-446551a6b5f7";
    pub const DIRECTORY_READERS: &str = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b";
    pub const SECURITY_ADMINISTRATOR: &str = "194ae4cb-b126-40b2-bd5b-6091b380977d";

    /// `(roleTemplateId, displayName)`.
    pub const ALL: [(&str, &str); 6] = [
        (GLOBAL_ADMINISTRATOR, "Global Administrator"),
        (
            PRIVILEGED_ROLE_ADMINISTRATOR,
            "Privileged Role Administrator",
        ),
        (APPLICATION_ADMINISTRATOR, "Application Administrator"),
        (
            CLOUD_APPLICATION_ADMINISTRATOR,
            "Cloud Application Administrator",
        ),
        (DIRECTORY_READERS, "Directory Readers"),
        (SECURITY_ADMINISTRATOR, "Security Administrator"),
    ];
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagementGroup {
    pub id: String,
    pub display_name: String,
    /// `None` only for the tenant root group.
    pub parent: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub display_name: String,
    /// ARM's `state`: `Enabled`, `Warned`, `PastDue`, `Disabled`.
    pub state: &'static str,
    pub management_group: String,
}

/// How a caller signs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A person signed in with the Azure CLI (refresh token grant).
    User { user_principal_name: String },
    /// A service principal with a client secret.
    Secret { client_id: String, secret: String },
    /// A service principal with a certificate; the certificate itself is registered at run
    /// time (tests make one), by client id.
    Certificate { client_id: String },
    /// A service principal trusting federated tokens from `issuer` with `subject`
    /// (GitHub Actions, AKS workload identity).
    Federated {
        client_id: String,
        subject: String,
        audience: String,
    },
    /// A managed identity; `system_assigned` answers IMDS calls without a client id.
    ManagedIdentity {
        client_id: String,
        system_assigned: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Entra object id (of the user or the service principal).
    pub object_id: String,
    pub display_name: String,
    pub credential: Credential,
    /// `(role definition id, scope)`; scopes are ARM ids (`/subscriptions/…`,
    /// `/providers/Microsoft.Management/managementGroups/…`).
    pub role_assignments: Vec<(&'static str, String)>,
    /// Directory role template ids.
    pub directory_roles: Vec<&'static str>,
}

impl Caller {
    pub fn client_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::User { .. } => None,
            Credential::Secret { client_id, .. }
            | Credential::Certificate { client_id }
            | Credential::Federated { client_id, .. }
            | Credential::ManagedIdentity { client_id, .. } => Some(client_id),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Tenant {
    pub tenant_id: String,
    pub display_name: String,
    pub domain: String,
    /// Parents before children; the first is the tenant root group.
    pub management_groups: Vec<ManagementGroup>,
    pub subscriptions: Vec<Subscription>,
    pub callers: Vec<Caller>,
}

/// The ARM id of a management group.
pub fn mg_scope(id: &str) -> String {
    format!("/providers/Microsoft.Management/managementGroups/{id}")
}

/// The ARM id of a subscription.
pub fn sub_scope(id: &str) -> String {
    format!("/subscriptions/{id}")
}

/// Caller object ids and client ids the tests and the sandbox name.
pub mod ids {
    /// alice@contoso.example: Global Administrator, Owner at the tenant root group (Azure CLI).
    pub const ALICE: &str = "2b000000-0000-4000-8000-00000000b001";
    /// ci-onboarding (client secret): Owner at contoso-root, Privileged Role Administrator and
    /// Application Administrator.
    pub const CI_ONBOARDING: &str = "2b000000-0000-4000-8000-00000000b002";
    pub const CI_ONBOARDING_APP: &str = "4c000000-0000-4000-8000-00000000c002";
    /// ci-reader (client secret): Reader at contoso-root, no directory role.
    pub const CI_READER: &str = "2b000000-0000-4000-8000-00000000b003";
    pub const CI_READER_APP: &str = "4c000000-0000-4000-8000-00000000c003";
    /// ci-cert (certificate): Owner at contoso-landing-zones, Application Administrator.
    pub const CI_CERT: &str = "2b000000-0000-4000-8000-00000000b004";
    pub const CI_CERT_APP: &str = "4c000000-0000-4000-8000-00000000c004";
    /// gh-deploy (federated, GitHub Actions): Owner at contoso-root, Global Administrator.
    pub const GH_DEPLOY: &str = "2b000000-0000-4000-8000-00000000b005";
    pub const GH_DEPLOY_APP: &str = "4c000000-0000-4000-8000-00000000c005";
    /// aks-onboarder (federated, AKS workload identity): User Access Administrator and Reader
    /// at contoso-root, Cloud Application Administrator.
    pub const AKS_ONBOARDER: &str = "2b000000-0000-4000-8000-00000000b006";
    pub const AKS_ONBOARDER_APP: &str = "4c000000-0000-4000-8000-00000000c006";
    /// vm-onboarder (system-assigned managed identity): Owner at contoso-root, Privileged
    /// Role Administrator and Application Administrator.
    pub const VM_ONBOARDER: &str = "2b000000-0000-4000-8000-00000000b007";
    pub const VM_ONBOARDER_APP: &str = "4c000000-0000-4000-8000-00000000c007";
    /// The secret of ci-onboarding and ci-reader in the sandbox.
    pub const SANDBOX_SECRET: &str = "sandbox~Secret.0123456789abcdef";
    /// The federated subjects.
    pub const GH_SUBJECT: &str = "repo:contoso/onboarding:ref:refs/heads/main";
    pub const AKS_SUBJECT: &str = "system:serviceaccount:onboarding:azure-cortex";
    pub const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";
}

fn sub_id(n: usize) -> String {
    format!("5b1c0000-0000-4000-8000-{n:012}")
}

/// The sandbox tenant (see the module docs).
pub fn contoso() -> Tenant {
    use directory_roles as dr;
    let tid = TENANT_ID.to_owned();
    let mg = |id: &str, name: &str, parent: &str| ManagementGroup {
        id: id.into(),
        display_name: name.into(),
        parent: Some(parent.into()),
    };
    let management_groups = vec![
        ManagementGroup {
            id: tid.clone(),
            display_name: "Tenant Root Group".into(),
            parent: None,
        },
        mg("contoso-root", "Contoso", &tid),
        mg("contoso-platform", "Platform", "contoso-root"),
        mg("contoso-connectivity", "Connectivity", "contoso-platform"),
        mg("contoso-identity", "Identity", "contoso-platform"),
        mg("contoso-management", "Management", "contoso-platform"),
        mg("contoso-landing-zones", "Landing zones", "contoso-root"),
        mg("contoso-corp", "Corp", "contoso-landing-zones"),
        mg("contoso-online", "Online", "contoso-landing-zones"),
        mg("contoso-sandbox", "Sandbox", "contoso-root"),
        mg("contoso-decommissioned", "Decommissioned", "contoso-root"),
    ];
    // (group, name prefix, how many, states by index)
    let layout: [(&str, &str, usize); 8] = [
        ("contoso-platform", "platform-shared", 1),
        ("contoso-connectivity", "connectivity-hub", 2),
        ("contoso-identity", "identity", 1),
        ("contoso-management", "management", 2),
        ("contoso-corp", "corp-app", 12),
        ("contoso-online", "online-web", 10),
        ("contoso-sandbox", "sandbox-dev", 4),
        ("contoso-decommissioned", "legacy", 4),
    ];
    let mut subscriptions = Vec::new();
    for (group, prefix, count) in layout {
        for i in 1..=count {
            let state = match (group, i) {
                ("contoso-decommissioned", _) => "Disabled",
                ("contoso-corp", 12) => "Warned",
                ("contoso-online", 10) => "PastDue",
                _ => "Enabled",
            };
            subscriptions.push(Subscription {
                id: sub_id(subscriptions.len() + 1),
                display_name: format!("{prefix}-{i:02}"),
                state,
                management_group: group.into(),
            });
        }
    }
    let root = mg_scope("contoso-root");
    let callers = vec![
        Caller {
            object_id: ids::ALICE.into(),
            display_name: "Alice Admin".into(),
            credential: Credential::User {
                user_principal_name: format!("alice@{TENANT_DOMAIN}"),
            },
            role_assignments: vec![(roles::OWNER, mg_scope(&tid))],
            directory_roles: vec![dr::GLOBAL_ADMINISTRATOR],
        },
        Caller {
            object_id: ids::CI_ONBOARDING.into(),
            display_name: "ci-onboarding".into(),
            credential: Credential::Secret {
                client_id: ids::CI_ONBOARDING_APP.into(),
                secret: ids::SANDBOX_SECRET.into(),
            },
            role_assignments: vec![(roles::OWNER, root.clone())],
            directory_roles: vec![
                dr::PRIVILEGED_ROLE_ADMINISTRATOR,
                dr::APPLICATION_ADMINISTRATOR,
            ],
        },
        Caller {
            object_id: ids::CI_READER.into(),
            display_name: "ci-reader".into(),
            credential: Credential::Secret {
                client_id: ids::CI_READER_APP.into(),
                secret: ids::SANDBOX_SECRET.into(),
            },
            role_assignments: vec![(roles::READER, root.clone())],
            directory_roles: vec![],
        },
        Caller {
            object_id: ids::CI_CERT.into(),
            display_name: "ci-cert".into(),
            credential: Credential::Certificate {
                client_id: ids::CI_CERT_APP.into(),
            },
            role_assignments: vec![(roles::OWNER, mg_scope("contoso-landing-zones"))],
            directory_roles: vec![dr::APPLICATION_ADMINISTRATOR],
        },
        Caller {
            object_id: ids::GH_DEPLOY.into(),
            display_name: "gh-deploy".into(),
            credential: Credential::Federated {
                client_id: ids::GH_DEPLOY_APP.into(),
                subject: ids::GH_SUBJECT.into(),
                audience: ids::FEDERATED_AUDIENCE.into(),
            },
            role_assignments: vec![(roles::OWNER, root.clone())],
            directory_roles: vec![dr::GLOBAL_ADMINISTRATOR],
        },
        Caller {
            object_id: ids::AKS_ONBOARDER.into(),
            display_name: "aks-onboarder".into(),
            credential: Credential::Federated {
                client_id: ids::AKS_ONBOARDER_APP.into(),
                subject: ids::AKS_SUBJECT.into(),
                audience: ids::FEDERATED_AUDIENCE.into(),
            },
            role_assignments: vec![
                (roles::USER_ACCESS_ADMINISTRATOR, root.clone()),
                (roles::READER, root.clone()),
            ],
            directory_roles: vec![dr::CLOUD_APPLICATION_ADMINISTRATOR],
        },
        Caller {
            object_id: ids::VM_ONBOARDER.into(),
            display_name: "vm-onboarder".into(),
            credential: Credential::ManagedIdentity {
                client_id: ids::VM_ONBOARDER_APP.into(),
                system_assigned: true,
            },
            role_assignments: vec![(roles::OWNER, root)],
            directory_roles: vec![
                dr::PRIVILEGED_ROLE_ADMINISTRATOR,
                dr::APPLICATION_ADMINISTRATOR,
            ],
        },
    ];
    Tenant {
        tenant_id: tid,
        display_name: TENANT_NAME.into(),
        domain: TENANT_DOMAIN.into(),
        management_groups,
        subscriptions,
        callers,
    }
}

impl Tenant {
    pub fn group(&self, id: &str) -> Option<&ManagementGroup> {
        self.management_groups
            .iter()
            .find(|g| g.id.eq_ignore_ascii_case(id))
    }

    pub fn subscription(&self, id: &str) -> Option<&Subscription> {
        self.subscriptions
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
    }

    /// The ARM scopes above `scope` and `scope` itself, nearest last: the tenant root group
    /// first. Unknown scopes have no ancestors.
    pub fn scope_chain(&self, scope: &str) -> Vec<String> {
        let lower = scope.trim_end_matches('/').to_ascii_lowercase();
        let mut group = if let Some(sub) = lower.strip_prefix("/subscriptions/") {
            let Some(s) = self.subscription(sub.split('/').next().unwrap_or_default()) else {
                return Vec::new();
            };
            let mut chain = vec![sub_scope(&s.id)];
            let mut next = Some(s.management_group.clone());
            while let Some(id) = next {
                let Some(g) = self.group(&id) else { break };
                chain.push(mg_scope(&g.id));
                next = g.parent.clone();
            }
            chain.reverse();
            return chain;
        } else if let Some(id) =
            lower.strip_prefix("/providers/microsoft.management/managementgroups/")
        {
            self.group(id).cloned()
        } else {
            None
        };
        let mut chain = Vec::new();
        while let Some(g) = group {
            chain.push(mg_scope(&g.id));
            group = g.parent.as_deref().and_then(|p| self.group(p)).cloned();
        }
        chain.reverse();
        chain
    }

    /// Groups and subscriptions under `group` (not itself), parents before children.
    pub fn descendants(&self, group: &str) -> (Vec<&ManagementGroup>, Vec<&Subscription>) {
        let mut groups: Vec<&ManagementGroup> = Vec::new();
        let mut frontier = vec![group.to_ascii_lowercase()];
        while let Some(id) = frontier.pop() {
            for g in &self.management_groups {
                if g.parent
                    .as_deref()
                    .is_some_and(|p| p.eq_ignore_ascii_case(&id))
                {
                    groups.push(g);
                    frontier.push(g.id.to_ascii_lowercase());
                }
            }
        }
        let under = |mg: &str| {
            mg.eq_ignore_ascii_case(group) || groups.iter().any(|g| g.id.eq_ignore_ascii_case(mg))
        };
        let subs = self
            .subscriptions
            .iter()
            .filter(|s| under(&s.management_group))
            .collect();
        (groups, subs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_is_consistent() {
        let t = contoso();
        assert_eq!(t.subscriptions.len(), 36);
        assert_eq!(
            t.subscriptions
                .iter()
                .filter(|s| s.state != "Enabled")
                .count(),
            6
        );
        for g in &t.management_groups[1..] {
            assert!(t.group(g.parent.as_deref().unwrap()).is_some(), "{g:?}");
        }
        let (groups, subs) = t.descendants(TENANT_ID);
        assert_eq!(groups.len(), 10);
        assert_eq!(subs.len(), 36);
        let chain = t.scope_chain(&sub_scope(&t.subscriptions[10].id));
        assert_eq!(chain.first().unwrap(), &mg_scope(TENANT_ID));
        assert_eq!(chain[2], mg_scope("contoso-landing-zones"));
        assert!(t.scope_chain("/subscriptions/nope").is_empty());
    }
}
