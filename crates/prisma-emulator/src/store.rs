//! The emulator's state: cloud accounts, account groups, and the Azure hierarchy behind each
//! tenant. One mutex guards it; every operation is short and never awaits while holding it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use prisma_types::wire::{AzureAccountRequest, HierarchyNode};
use serde::{Deserialize, Serialize};

use crate::capabilities::CapabilityResult;

/// The group every tenant has.
pub const DEFAULT_GROUP_NAME: &str = "Default Account Group";

#[derive(Debug, Clone)]
pub struct AccountRecord {
    /// Subscription ID, or tenant ID for tenant accounts; for tenant children, the child's ID.
    pub account_id: String,
    pub name: String,
    /// `account` or `tenant`.
    pub account_type: String,
    pub request: AzureAccountRequest,
    pub enabled: bool,
    pub parent_account_id: Option<String>,
    pub group_ids: Vec<String>,
    pub created_ms: i64,
    pub modified_ms: i64,
    /// The access key of the last write (`lastModifiedBy` on reads).
    pub modified_by: String,
    /// Reads see the account only from this moment (eventual consistency).
    pub readable_at: Instant,
    pub checks: Vec<CapabilityResult>,
}

impl AccountRecord {
    pub fn is_readable(&self, now: Instant) -> bool {
        now >= self.readable_at
    }
}

/// An account group as stored. Field names follow `AccountGroupModel`, so a snapshot holds
/// them as the API spells them; `account_ids` is derived from the accounts' `group_ids`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GroupRecord {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub account_ids: Vec<String>,
    #[serde(default)]
    pub auto_created: bool,
    #[serde(default)]
    pub cloud_account_count: u32,
    #[serde(default)]
    pub last_modified_ts: i64,
    #[serde(default)]
    pub last_modified_by: String,
}

#[derive(Debug, Default)]
pub struct Store {
    pub accounts: BTreeMap<String, AccountRecord>,
    pub groups: BTreeMap<String, GroupRecord>,
}

impl Store {
    pub fn new() -> Self {
        let mut store = Store::default();
        let id = "00000000-0000-4000-8000-00000000d0a9".to_owned();
        store.groups.insert(
            id.clone(),
            GroupRecord {
                id,
                name: DEFAULT_GROUP_NAME.to_owned(),
                description: "Created by the emulator, like every tenant's default group"
                    .to_owned(),
                auto_created: true,
                last_modified_by: "Prisma Cloud System Admin".to_owned(),
                ..GroupRecord::default()
            },
        );
        store
    }

    pub fn account_by_name(&self, name: &str) -> Option<&AccountRecord> {
        self.accounts.values().find(|a| a.name == name)
    }

    pub fn group_by_name(&self, name: &str) -> Option<&GroupRecord> {
        self.groups
            .values()
            .find(|g| g.name.eq_ignore_ascii_case(name))
    }

    /// Recomputes `accountIds` / `cloudAccountCount` of every group from the accounts.
    pub fn refresh_group_membership(&mut self) {
        for group in self.groups.values_mut() {
            group.account_ids.clear();
        }
        for account in self.accounts.values() {
            for gid in &account.group_ids {
                if let Some(group) = self.groups.get_mut(gid) {
                    group.account_ids.push(account.account_id.clone());
                }
            }
        }
        for group in self.groups.values_mut() {
            group.cloud_account_count = group.account_ids.len() as u32;
        }
    }

    /// Accounts whose `parent_account_id` is `parent`.
    pub fn children_of(&self, parent: &str) -> Vec<String> {
        self.accounts
            .values()
            .filter(|a| a.parent_account_id.as_deref() == Some(parent))
            .map(|a| a.account_id.clone())
            .collect()
    }
}

/// A deterministic Azure hierarchy for a tenant: the seeded sandbox tenant's own tree
/// ([`azure_emulator::tenant_seed`], the same the emulated ARM answers) for its id; for any
/// other, the root group (named by the tenant ID), two management groups, and three
/// subscriptions under each. The same tenant always yields the same IDs, so tests and users can
/// include or exclude them by ID.
pub fn tenant_hierarchy(tenant_id: &str) -> Vec<HierarchyNode> {
    if tenant_id.eq_ignore_ascii_case(azure_emulator::tenant_seed::TENANT_ID) {
        return seeded_hierarchy(&azure_emulator::tenant_seed::contoso());
    }
    let seed = tenant_id.replace('-', "");
    let seed = &seed[..seed.len().min(20)];
    let mut nodes = vec![HierarchyNode {
        id: tenant_id.to_owned(),
        node_type: "TENANT".to_owned(),
        display_name: "Tenant Root Group".to_owned(),
        parent: None,
        has_child: true,
    }];
    for (m, mg) in ["mg-production", "mg-development"].iter().enumerate() {
        nodes.push(HierarchyNode {
            id: (*mg).to_owned(),
            node_type: "MANAGEMENT_GROUP".to_owned(),
            display_name: mg.trim_start_matches("mg-").to_owned(),
            parent: Some(tenant_id.to_owned()),
            has_child: true,
        });
        for s in 0..3 {
            // 20 hex digits of the tenant + 12 derived digits → a stable, valid GUID.
            let tail = format!(
                "{:04x}{:08x}",
                m * 16 + s + 1,
                0x5ab0_0000u32 + (m * 3 + s) as u32
            );
            let raw = format!("{seed}{tail}");
            let id = format!(
                "{}-{}-{}-{}-{}",
                &raw[0..8],
                &raw[8..12],
                &raw[12..16],
                &raw[16..20],
                &raw[20..32]
            );
            nodes.push(HierarchyNode {
                id,
                node_type: "ACCOUNT".to_owned(),
                display_name: format!("{} subscription {}", mg.trim_start_matches("mg-"), s + 1),
                parent: Some((*mg).to_owned()),
                has_child: false,
            });
        }
    }
    nodes
}

/// The seeded tenant's tree as Prisma Cloud's hierarchy nodes, parents before children.
fn seeded_hierarchy(tenant: &azure_emulator::tenant_seed::Tenant) -> Vec<HierarchyNode> {
    let has_child = |id: &str| {
        tenant
            .management_groups
            .iter()
            .any(|g| g.parent.as_deref() == Some(id))
            || tenant
                .subscriptions
                .iter()
                .any(|s| s.management_group == id)
    };
    let groups = tenant.management_groups.iter().map(|g| HierarchyNode {
        id: g.id.clone(),
        node_type: if g.parent.is_none() {
            "TENANT"
        } else {
            "MANAGEMENT_GROUP"
        }
        .to_owned(),
        display_name: g.display_name.clone(),
        parent: g.parent.clone(),
        has_child: has_child(&g.id),
    });
    let subscriptions = tenant.subscriptions.iter().map(|s| HierarchyNode {
        id: s.id.clone(),
        node_type: "ACCOUNT".to_owned(),
        display_name: s.display_name.clone(),
        parent: Some(s.management_group.clone()),
        has_child: false,
    });
    groups.chain(subscriptions).collect()
}

pub fn readable_after(delay: Duration) -> Instant {
    Instant::now() + delay
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_is_stable_and_well_formed() {
        let t = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
        let a = tenant_hierarchy(t);
        assert_eq!(a, tenant_hierarchy(t));
        assert_eq!(a.len(), 1 + 2 + 6);
        for n in a.iter().filter(|n| n.node_type == "ACCOUNT") {
            prisma_types::SubscriptionId::parse(&n.id).unwrap();
        }
    }

    #[test]
    fn the_seeded_tenant_has_the_tree_the_emulated_arm_answers() {
        let seed = azure_emulator::tenant_seed::contoso();
        let nodes = tenant_hierarchy(&seed.tenant_id.to_uppercase());
        let accounts: Vec<_> = nodes.iter().filter(|n| n.node_type == "ACCOUNT").collect();
        assert_eq!(accounts.len(), seed.subscriptions.len());
        assert_eq!(
            nodes.len(),
            seed.subscriptions.len() + seed.management_groups.len()
        );
        let corp = nodes.iter().find(|n| n.id == "contoso-corp").unwrap();
        assert_eq!(corp.parent.as_deref(), Some("contoso-landing-zones"));
        assert!(corp.has_child);
        assert_eq!(nodes[0].node_type, "TENANT");
    }
}
