//! The sandbox's starting point on the platform side: some subscriptions of the seeded Azure
//! tenant ([`azure_emulator::tenant_seed`]) are already onboarded, so a newcomer's first
//! coverage view shows a realistic mix (own accounts, one disabled, one failing, the rest not
//! onboarded) instead of an empty list. Only `serve --sandbox` plants them, on a first start
//! (no saved state); the accounts then live in the snapshot like any other.
//!
//! Which ones ([`sandbox_accounts`]): every subscription under *Platform* (6) and the first
//! eight of *Corp* have their own enabled account; `corp-app-09`'s account is disabled;
//! `corp-app-10`'s is failing (its service principal id is the app's client id, the
//! emulator's `WrongServicePrincipal` scenario, so the state survives a snapshot reload);
//! *Online*, *Sandbox* and *Decommissioned* are not onboarded.

use azure_emulator::tenant_seed::{Tenant, contoso};
use prisma_types::SecretString;
use prisma_types::wire::{AzureAccountRequest, CloudAccountSpec};

use crate::capabilities::evaluate;
use crate::state::EmulatorState;
use crate::store::{AccountRecord, readable_after};

/// An account the sandbox starts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedAccount {
    pub subscription_id: String,
    pub name: String,
    pub enabled: bool,
    /// Its status checks fail (the account is in error).
    pub failing: bool,
}

/// The client id the seeded accounts were registered with (an app registration of the tenant).
pub const SEED_CLIENT_ID: &str = "4c000000-0000-4000-8000-00000000c0a1";

/// The accounts of [`plant`] for `tenant` (see the module docs).
pub fn sandbox_accounts(tenant: &Tenant) -> Vec<SeedAccount> {
    let platform = tenant.descendants("contoso-platform").1;
    let corp = tenant.descendants("contoso-corp").1;
    let account = |s: &azure_emulator::tenant_seed::Subscription, enabled, failing| SeedAccount {
        subscription_id: s.id.clone(),
        name: s.display_name.clone(),
        enabled,
        failing,
    };
    let mut out: Vec<SeedAccount> = platform.iter().map(|s| account(s, true, false)).collect();
    for (i, s) in corp.iter().enumerate().take(10) {
        out.push(account(s, i != 8, i == 9));
    }
    out
}

/// Adds the seeded tenant's [`sandbox_accounts`] (Contoso) to the emulator, in the Default
/// Account Group; an account that exists already is left as it is. Returns how many were added.
pub fn plant(state: &EmulatorState) -> usize {
    let tenant = contoso();
    let book = state.scenarios();
    let now = crate::clock::epoch_millis();
    let mut store = state.store();
    let group = store
        .group_by_name(crate::store::DEFAULT_GROUP_NAME)
        .map(|g| g.id.clone());
    let groups: Vec<String> = group.into_iter().collect();
    let mut added = 0;
    for seed in sandbox_accounts(&tenant) {
        if store.accounts.contains_key(&seed.subscription_id) {
            continue;
        }
        let request = AzureAccountRequest {
            cloud_account: CloudAccountSpec {
                account_id: Some(seed.subscription_id.clone()),
                account_type: "account".into(),
                enabled: Some(seed.enabled),
                name: seed.name.clone(),
                group_ids: Some(groups.clone()),
                protection_mode: None,
            },
            client_id: SEED_CLIENT_ID.into(),
            key: SecretString::from(SecretString::masked()),
            tenant_id: tenant.tenant_id.clone(),
            environment_type: "azure".into(),
            service_principal_id: Some(if seed.failing {
                SEED_CLIENT_ID.into()
            } else {
                "2b000000-0000-4000-8000-00000000c0a1".into()
            }),
            monitor_flow_logs: None,
            features: None,
            default_account_group_id: None,
            hierarchy_selection: None,
            root_sync_enabled: None,
            account_group_mode: None,
        };
        let checks = evaluate(&request, &book);
        store.accounts.insert(
            seed.subscription_id.clone(),
            AccountRecord {
                account_id: seed.subscription_id,
                name: seed.name,
                account_type: "account".into(),
                request,
                enabled: seed.enabled,
                parent_account_id: None,
                group_ids: groups.clone(),
                created_ms: now,
                modified_ms: now,
                modified_by: "sandbox seed".into(),
                readable_at: readable_after(std::time::Duration::ZERO),
                checks,
            },
        );
        added += 1;
    }
    store.refresh_group_membership();
    added
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_a_mix_and_planting_twice_adds_nothing() {
        let plan = sandbox_accounts(&contoso());
        assert_eq!(plan.len(), 16);
        assert_eq!(plan.iter().filter(|a| !a.enabled).count(), 1);
        assert_eq!(plan.iter().filter(|a| a.failing).count(), 1);
        let state = EmulatorState::new(crate::EmulatorConfig::new("k", "s"));
        assert_eq!(plant(&state), 16);
        assert_eq!(plant(&state), 0);
        let store = state.store();
        let failing = plan.iter().find(|a| a.failing).unwrap();
        let record = &store.accounts[&failing.subscription_id];
        assert!(
            record.checks.iter().any(|c| c.status == "error"),
            "{:?}",
            record.checks
        );
        let healthy = &store.accounts[&plan[0].subscription_id];
        assert!(
            healthy.checks.iter().all(|c| c.status != "error"),
            "{:?}",
            healthy.checks
        );
    }
}
