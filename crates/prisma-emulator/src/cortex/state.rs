//! What the Cortex face remembers: integration instances (pending ones keyed by their
//! tracking GUID), the accounts (subscriptions) and capability statuses of connected ones, and
//! the approved tenants.
//!
//! Routes and the template callback change it through the methods here, with the time passed
//! in (`now_ms`), so tests can move time without sleeping. Pending instances older than the
//! configured TTL (30 days) are dropped on every read.
//!
//! Everything here is plain data (serde): the write-through snapshot ([`crate::snapshot`])
//! saves it beside the Prisma face's accounts. A capability still retrieving after a callback
//! carries the status it will settle to and when ([`Settlement`], epoch milliseconds), and
//! [`CortexFace::lock`] applies what is due before anyone reads — no timer task, so a restart
//! from the snapshot resumes the course where it was.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use cortex_cloud_types::wire::{
    AccountDetails, AccountRow, ApprovedTenant, CreateInstanceTemplate, EditInstance,
    InstanceDetails, InstanceRow, Scan, SecurityCapability,
};
use cortex_cloud_types::{CapabilityName, CapabilityStatus, InstanceStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::NonceBook;
use super::config::CortexConfig;
use super::filters::Searchable;

/// The face's shared state: instances behind a lock, and the advanced-key nonces.
pub struct CortexFace {
    state: Mutex<CortexState>,
    pub nonces: NonceBook,
    /// Signs template links and callback upload URLs (a fresh key per process).
    pub links: super::template::LinkSigner,
}

impl CortexFace {
    pub fn new(config: &CortexConfig) -> Self {
        Self {
            state: Mutex::new(CortexState::new(&config.approved_tenants)),
            nonces: NonceBook::default(),
            links: super::template::LinkSigner::for_keys(&config.keys),
        }
    }

    /// The state, with every capability settlement due by now applied.
    pub fn lock(&self) -> MutexGuard<'_, CortexState> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.settle(crate::clock::epoch_millis());
        s
    }
}

/// The id of the platform's managed outpost, reported as `outpost_id` of MANAGED instances.
pub const MANAGED_OUTPOST_ID: &str = "0a11ce5e0a11ce5e0a11ce5e0a11ce5e";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    pub subscription_id: String,
    pub name: String,
    pub enabled: bool,
    pub created_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Capability {
    pub name: CapabilityName,
    pub status: CapabilityStatus,
    /// Warning or error text (UNCONFIRMED field `message`, see docs/emulator.md).
    pub message: Option<String>,
    /// While retrieving after a callback: the final status and when it applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settles: Option<Settlement>,
}

/// A capability's final status, due at `at_ms` (epoch milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub at_ms: i64,
    pub status: CapabilityStatus,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    pub status: InstanceStatus,
    /// What `create_instance_template` asked for (and `edit_instance` changed).
    pub config: CreateInstanceTemplate,
    pub account_details: AccountDetails,
    /// `TF` or `ARM` once connected; empty while pending.
    pub provisioning_method: String,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub deleted_ms: Option<i64>,
    /// When the template links were last issued (they expire after the link TTL).
    pub links_issued_ms: i64,
    pub accounts: Vec<Account>,
    pub capabilities: Vec<Capability>,
    /// For an instance created by a callback: the pending instance it came from.
    pub from_pending: Option<String>,
    pub is_pending_changes: bool,
}

impl Instance {
    pub fn is_pending(&self) -> bool {
        self.status == InstanceStatus::Pending
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted_ms.is_some()
    }

    pub fn name(&self) -> String {
        self.config.instance_name.clone().unwrap_or_default()
    }

    pub fn outpost_id(&self) -> String {
        self.config
            .scan_env_id
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| MANAGED_OUTPOST_ID.to_owned())
    }

    /// The overall status from the capabilities: ERROR if any errs, WARNING if any warns.
    pub fn derive_status(&mut self) {
        if self.is_pending() || self.status == InstanceStatus::Disabled || self.is_deleted() {
            return;
        }
        let any = |s| self.capabilities.iter().any(|c| c.status == s);
        self.status = if any(CapabilityStatus::Error) {
            InstanceStatus::Error
        } else if any(CapabilityStatus::Warning) {
            InstanceStatus::Warning
        } else {
            InstanceStatus::Connected
        };
    }

    pub fn row(&self) -> InstanceRow {
        InstanceRow {
            instance_id: self.id.clone(),
            instance_name: self.name(),
            cloud_provider: self.config.cloud_provider.as_str().to_owned(),
            scope: self.config.scope.as_str().to_owned(),
            scan_mode: self.config.scan_mode.as_str().to_owned(),
            status: self.status.clone(),
            custom_resources_tags: self.config.custom_resources_tags.clone(),
            collection_configuration: self.config.collection_configuration.clone(),
            additional_capabilities: self.config.additional_capabilities.clone(),
            scope_modifications: self.config.scope_modifications.clone(),
            provisioning_method: self.provisioning_method.clone(),
            account_details: self.account_details.clone(),
            cloud_partition: self
                .config
                .cloud_partition
                .map(|p| p.as_str())
                .unwrap_or("COMMERCIAL")
                .to_owned(),
            creation_time: Some(cortex_cloud_types::lenient::Millis(self.created_ms)),
            created_at: None,
            modified_at: None,
            deleted_at: self.deleted_ms.map(cortex_cloud_types::lenient::Millis),
            outpost_id: self.outpost_id(),
            accounts: self.accounts.len() as u64,
            account_name: self.account_details.account_name.clone(),
            update_status: if self.is_pending_changes {
                "PENDING_UPDATE".into()
            } else {
                String::new()
            },
            is_pending_changes: u8::from(self.is_pending_changes),
        }
    }

    pub fn details(&self) -> InstanceDetails {
        InstanceDetails {
            id: self.id.clone(),
            collector: self.config.cloud_provider.as_str().to_owned(),
            instance_name: self.name(),
            scope: self.config.scope.as_str().to_owned(),
            tags: self.config.custom_resources_tags.clone(),
            scan: Scan {
                scan_method: self.config.scan_mode.as_str().to_owned(),
                status_ui: 0,
                outpost_id: self.outpost_id(),
            },
            status: self.status.clone(),
            cloud_provider: self.config.cloud_provider.as_str().to_owned(),
            security_capabilities: self
                .capabilities
                .iter()
                .map(|c| SecurityCapability {
                    name: c.name.as_str().to_owned(),
                    description: c.name.description().to_owned(),
                    status: c.status,
                    last_scan_coverage: None,
                    message: c.message.clone(),
                })
                .collect(),
            collection_configuration: self.config.collection_configuration.clone(),
            additional_capabilities: self.config.additional_capabilities.clone(),
            upgrade_available: false,
        }
    }
}

impl Searchable for Instance {
    fn field(&self, name: &str) -> Value {
        match name {
            "ID" => self.id.clone().into(),
            "STATUS" => self.status.as_str().into(),
            "CLOUD_PROVIDER" | "PROVIDER" => self.config.cloud_provider.as_str().into(),
            "INSTANCE_NAME" => self.name().into(),
            "SCOPE" => self.config.scope.as_str().into(),
            "SCAN_MODE" => self.config.scan_mode.as_str().into(),
            "CREATION_TIME" => self.created_ms.into(),
            "OUTPOST_ID" => self.outpost_id().into(),
            "AUTHENTICATION_METHOD" => self.provisioning_method.clone().into(),
            _ => Value::Null,
        }
    }
}

impl Account {
    pub fn row(&self) -> AccountRow {
        AccountRow {
            status: self.status().to_owned(),
            account_name: self.name.clone(),
            account_id: self.subscription_id.clone(),
            cloud_account_id: self.subscription_id.clone(),
            environment: "COMMERCIAL".into(),
            kind: "SUBSCRIPTION".into(),
            created_at: self.created_ms.to_string(),
        }
    }

    pub fn status(&self) -> &'static str {
        if self.enabled { "ACTIVE" } else { "DISABLED" }
    }
}

impl Searchable for Account {
    fn field(&self, name: &str) -> Value {
        match name {
            "STATUS" => self.status().into(),
            "ACCOUNT_NAME" => self.name.clone().into(),
            "CLOUD_ACCOUNT_ID" => self.subscription_id.clone().into(),
            "ENVIRONMENT" => "COMMERCIAL".into(),
            "TYPE" => "SUBSCRIPTION".into(),
            "CREATED_AT" => self.created_ms.into(),
            _ => Value::Null,
        }
    }
}

/// What the template run reports when it calls back (the `create_connector` body, parsed).
#[derive(Debug, Clone)]
pub struct Connection {
    pub organization_id: String,
    /// The management group (tenant / MG scope).
    pub account_group: String,
    /// The hosting subscription (subscription scope: the one subscription).
    pub account_id: String,
    pub account_name: String,
    /// `TF` or `ARM`.
    pub provisioning_method: String,
    /// The subscriptions the instance covers, with display names.
    pub subscriptions: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("no pending instance {0}")]
    NoSuchPending(String),
    #[error("the callback names tenant {got}, the pending instance was created for {want}")]
    WrongTenant { got: String, want: String },
}

/// Serialised as it is into the snapshot (`"cortex"`); `next_settlement_ms` is recomputed.
#[derive(Serialize, Deserialize)]
pub struct CortexState {
    instances: BTreeMap<String, Instance>,
    approved: Vec<ApprovedTenant>,
    /// The earliest pending [`Settlement`] (`i64::MAX`: none). After a load it is 0, so the
    /// first [`CortexState::settle`] looks at every capability.
    #[serde(skip)]
    next_settlement_ms: i64,
}

/// A fresh 32-hex id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl CortexState {
    pub fn new(approved: &[String]) -> Self {
        Self {
            instances: BTreeMap::new(),
            approved: approved
                .iter()
                .map(|t| ApprovedTenant {
                    tenant_id: t.to_ascii_lowercase(),
                    is_still_approved: true,
                })
                .collect(),
            next_settlement_ms: i64::MAX,
        }
    }

    /// Replaces this state with one restored from a snapshot, keeping the tenants `configured`
    /// now that the snapshot does not mention (a tenant the snapshot withdrew stays withdrawn).
    pub fn restore(&mut self, mut saved: CortexState, configured: &[String]) {
        for tenant in configured {
            if !saved
                .approved
                .iter()
                .any(|t| t.tenant_id.eq_ignore_ascii_case(tenant))
            {
                saved.set_approved(tenant, true);
            }
        }
        saved.next_settlement_ms = 0;
        *self = saved;
    }

    /// Applies every [`Settlement`] due by `now_ms`; the instances' statuses follow.
    pub fn settle(&mut self, now_ms: i64) {
        if now_ms < self.next_settlement_ms {
            return;
        }
        let mut next = i64::MAX;
        for i in self.instances.values_mut() {
            let mut changed = false;
            for c in &mut i.capabilities {
                match c.settles.take() {
                    Some(s) if s.at_ms <= now_ms => {
                        c.status = s.status;
                        c.message = s.message;
                        changed = true;
                    }
                    Some(s) => {
                        next = next.min(s.at_ms);
                        c.settles = Some(s);
                    }
                    None => {}
                }
            }
            if changed {
                i.derive_status();
            }
        }
        self.next_settlement_ms = next;
    }

    /// Lets one capability of an instance settle to `status` at `at_ms`.
    pub fn schedule_capability(
        &mut self,
        instance_id: &str,
        name: CapabilityName,
        settlement: Settlement,
    ) -> bool {
        let at = settlement.at_ms;
        let Some(c) = self
            .get_mut(instance_id)
            .and_then(|i| i.capabilities.iter_mut().find(|c| c.name == name))
        else {
            return false;
        };
        c.settles = Some(settlement);
        self.next_settlement_ms = self.next_settlement_ms.min(at);
        true
    }

    pub fn approved_tenants(&self) -> &[ApprovedTenant] {
        &self.approved
    }

    pub fn is_approved(&self, tenant: &str) -> bool {
        self.approved
            .iter()
            .any(|t| t.is_still_approved && t.tenant_id.eq_ignore_ascii_case(tenant))
    }

    /// Approves (or withdraws approval of) a tenant.
    pub fn set_approved(&mut self, tenant: &str, approved: bool) {
        let tenant = tenant.to_ascii_lowercase();
        match self.approved.iter_mut().find(|t| t.tenant_id == tenant) {
            Some(t) => t.is_still_approved = approved,
            None => self.approved.push(ApprovedTenant {
                tenant_id: tenant,
                is_still_approved: approved,
            }),
        }
    }

    /// Drops pending instances created more than `ttl_ms` before `now_ms`; returns how many.
    pub fn expire_pending(&mut self, now_ms: i64, ttl_ms: i64) -> usize {
        let before = self.instances.len();
        self.instances
            .retain(|_, i| !(i.is_pending() && now_ms - i.created_ms > ttl_ms));
        before - self.instances.len()
    }

    /// Creates a pending instance; its id is the tracking GUID the links carry.
    pub fn create_pending(&mut self, config: CreateInstanceTemplate, now_ms: i64) -> &Instance {
        let id = new_id();
        let account_details = AccountDetails {
            organization_id: config
                .account_details
                .as_ref()
                .map(|d| d.organization_id.to_ascii_lowercase())
                .unwrap_or_default(),
            ..Default::default()
        };
        let instance = Instance {
            id: id.clone(),
            status: InstanceStatus::Pending,
            config,
            account_details,
            provisioning_method: String::new(),
            created_ms: now_ms,
            modified_ms: now_ms,
            deleted_ms: None,
            links_issued_ms: now_ms,
            accounts: Vec::new(),
            capabilities: Vec::new(),
            from_pending: None,
            is_pending_changes: false,
        };
        self.instances.entry(id).or_insert(instance)
    }

    /// Every instance not deleted, pending ones included.
    pub fn all(&self) -> impl Iterator<Item = &Instance> {
        self.instances.values().filter(|i| !i.is_deleted())
    }

    /// Every instance ever created, deleted ones included.
    pub fn all_with_deleted(&self) -> impl Iterator<Item = &Instance> {
        self.instances.values()
    }

    pub fn get(&self, id: &str) -> Option<&Instance> {
        self.instances
            .get(&id.to_ascii_lowercase())
            .filter(|i| !i.is_deleted())
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Instance> {
        self.instances
            .get_mut(&id.to_ascii_lowercase())
            .filter(|i| !i.is_deleted())
    }

    /// The ids of `ids` that name no instance (for a 422 before anything changes).
    pub fn missing<'a>(&self, ids: &'a [String]) -> Option<&'a String> {
        ids.iter().find(|id| self.get(id).is_none())
    }

    /// The template callback: a new connected instance from pending `pending_id` (which stays,
    /// so one template can create several instances). Capabilities the request asked for
    /// start at 4 (retrieving), the rest at 2 (disabled).
    pub fn connect(
        &mut self,
        pending_id: &str,
        c: Connection,
        now_ms: i64,
    ) -> Result<String, ConnectError> {
        let pending = self
            .get(pending_id)
            .filter(|p| p.is_pending())
            .ok_or_else(|| ConnectError::NoSuchPending(pending_id.to_owned()))?;
        let want = pending.account_details.organization_id.clone();
        if !want.is_empty() && !want.eq_ignore_ascii_case(&c.organization_id) {
            return Err(ConnectError::WrongTenant {
                got: c.organization_id,
                want,
            });
        }
        let audit = pending.config.collection_configuration.audit_logs.enabled;
        let capabilities = pending
            .config
            .additional_capabilities
            .requested(audit)
            .into_iter()
            .map(|(name, on)| Capability {
                name,
                status: if on {
                    CapabilityStatus::Retrieving
                } else {
                    CapabilityStatus::Disabled
                },
                message: None,
                settles: None,
            })
            .collect();
        let id = new_id();
        let instance = Instance {
            id: id.clone(),
            status: InstanceStatus::Connected,
            config: pending.config.clone(),
            account_details: AccountDetails {
                organization_id: c.organization_id.to_ascii_lowercase(),
                account_id: c.account_id,
                csp_org_id: c.organization_id.to_ascii_lowercase(),
                account_name: c.account_name,
                account_group: c.account_group,
            },
            provisioning_method: c.provisioning_method,
            created_ms: now_ms,
            modified_ms: now_ms,
            deleted_ms: None,
            links_issued_ms: pending.links_issued_ms,
            accounts: c
                .subscriptions
                .into_iter()
                .map(|(subscription_id, name)| Account {
                    subscription_id: subscription_id.to_ascii_lowercase(),
                    name,
                    enabled: true,
                    created_ms: now_ms,
                })
                .collect(),
            capabilities,
            from_pending: Some(pending_id.to_ascii_lowercase()),
            is_pending_changes: false,
        };
        self.instances.insert(id.clone(), instance);
        Ok(id)
    }

    /// Sets one capability's status (and text); the overall status follows.
    pub fn set_capability(
        &mut self,
        instance_id: &str,
        name: CapabilityName,
        status: CapabilityStatus,
        message: Option<String>,
    ) -> bool {
        let Some(i) = self.get_mut(instance_id) else {
            return false;
        };
        let Some(c) = i.capabilities.iter_mut().find(|c| c.name == name) else {
            return false;
        };
        c.status = status;
        c.message = message;
        c.settles = None;
        i.derive_status();
        true
    }

    /// Applies an edit: configuration replaced, `is_pending_changes` set until the new template
    /// runs; the links are issued again.
    pub fn edit(&mut self, e: EditInstance, now_ms: i64) -> Option<&Instance> {
        let i = self.get_mut(&e.id)?;
        if !e.instance_name.is_empty() {
            i.config.instance_name = Some(e.instance_name);
        }
        if !e.scan_env_id.is_empty() && e.scan_env_id != MANAGED_OUTPOST_ID {
            i.config.scan_env_id = Some(e.scan_env_id);
        }
        i.config.custom_resources_tags = e.custom_resources_tags;
        i.config.scope_modifications = e.scope_modifications;
        if let Some(c) = e.additional_capabilities {
            i.config.additional_capabilities = c;
        }
        if let Some(c) = e.collection_configuration {
            i.config.collection_configuration = c;
        }
        if e.cloud_partition.is_some() {
            i.config.cloud_partition = e.cloud_partition;
        }
        i.is_pending_changes = !i.is_pending();
        i.modified_ms = now_ms;
        i.links_issued_ms = now_ms;
        Some(i)
    }

    /// Enables or disables instances (all exist: check [`Self::missing`] first).
    pub fn set_enabled(&mut self, ids: &[String], enable: bool, now_ms: i64) {
        for id in ids {
            if let Some(i) = self.get_mut(id) {
                if i.is_pending() {
                    continue;
                }
                i.modified_ms = now_ms;
                if enable {
                    i.status = InstanceStatus::Connected;
                    i.derive_status();
                } else {
                    i.status = InstanceStatus::Disabled;
                }
            }
        }
    }

    /// Deletes instances: kept with status DELETED and `deleted_at`, hidden from everything
    /// but a filter that asks for DELETED.
    pub fn delete(&mut self, ids: &[String], now_ms: i64) {
        for id in ids {
            if let Some(i) = self.get_mut(id) {
                i.status = InstanceStatus::Deleted;
                i.deleted_ms = Some(now_ms);
            }
        }
    }

    /// Enables or disables accounts of one instance; returns the first unknown account id.
    pub fn set_accounts_enabled(
        &mut self,
        instance_id: &str,
        ids: &[String],
        enable: bool,
    ) -> Result<(), String> {
        let Some(i) = self.get_mut(instance_id) else {
            return Err(instance_id.to_owned());
        };
        if let Some(bad) = ids.iter().find(|id| {
            !i.accounts
                .iter()
                .any(|a| a.subscription_id.eq_ignore_ascii_case(id))
        }) {
            return Err(bad.clone());
        }
        for a in &mut i.accounts {
            if ids
                .iter()
                .any(|id| id.eq_ignore_ascii_case(&a.subscription_id))
            {
                a.enabled = enable;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex_cloud_types::wire::{
        AdditionalCapabilities, CollectionConfiguration, ScopeModifications,
    };
    use cortex_cloud_types::{CloudProvider, ScanMode, Scope};

    const TENANT: &str = "0091a7ea-5021-42d3-a276-18004980b42b";

    fn request() -> CreateInstanceTemplate {
        CreateInstanceTemplate {
            cloud_provider: CloudProvider::Azure,
            scope: Scope::AccountGroup,
            scan_mode: ScanMode::Managed,
            account_details: Some(AccountDetails {
                organization_id: TENANT.into(),
                ..Default::default()
            }),
            instance_name: Some("mg".into()),
            custom_resources_tags: vec![],
            collection_configuration: CollectionConfiguration::default(),
            scope_modifications: ScopeModifications::default(),
            additional_capabilities: AdditionalCapabilities {
                registry_scanning: Some(true),
                ..Default::default()
            },
            scan_env_id: None,
            cloud_partition: None,
        }
    }

    fn connection() -> Connection {
        Connection {
            organization_id: TENANT.into(),
            account_group: "mg-prod".into(),
            account_id: "11111111-1111-1111-1111-111111111111".into(),
            account_name: "hosting".into(),
            provisioning_method: "TF".into(),
            subscriptions: vec![
                ("11111111-1111-1111-1111-111111111111".into(), "one".into()),
                ("22222222-2222-2222-2222-222222222222".into(), "two".into()),
            ],
        }
    }

    #[test]
    fn a_pending_instance_connects_and_expires_after_its_ttl() {
        let mut s = CortexState::new(&[TENANT.into()]);
        let pending = s.create_pending(request(), 1_000).id.clone();
        assert_eq!(pending.len(), 32);
        let id = s.connect(&pending, connection(), 2_000).unwrap();
        assert_ne!(id, pending, "the callback creates a new instance");
        let i = s.get(&id).unwrap();
        assert_eq!(i.accounts.len(), 2);
        let reg = i
            .capabilities
            .iter()
            .find(|c| c.name == CapabilityName::Registry)
            .unwrap();
        assert_eq!(reg.status, CapabilityStatus::Retrieving);
        let ads = i
            .capabilities
            .iter()
            .find(|c| c.name == CapabilityName::Ads)
            .unwrap();
        assert_eq!(ads.status, CapabilityStatus::Disabled);
        assert!(s.set_capability(
            &id,
            CapabilityName::Registry,
            CapabilityStatus::Error,
            Some("no registry".into())
        ));
        assert_eq!(s.get(&id).unwrap().status, InstanceStatus::Error);
        let mut other = connection();
        other.organization_id = "99999999-9999-9999-9999-999999999999".into();
        assert!(matches!(
            s.connect(&pending, other, 3_000),
            Err(ConnectError::WrongTenant { .. })
        ));
        let day = 24 * 3600 * 1000;
        assert_eq!(s.expire_pending(1_000 + 30 * day, 30 * day), 0);
        assert_eq!(s.expire_pending(1_001 + 30 * day, 30 * day), 1);
        assert!(s.get(&pending).is_none());
        assert!(s.get(&id).is_some(), "connected instances never expire");
    }

    #[test]
    fn settlements_apply_when_due_and_survive_a_round_trip() {
        let mut s = CortexState::new(&[TENANT.into()]);
        let pending = s.create_pending(request(), 0).id.clone();
        let id = s.connect(&pending, connection(), 0).unwrap();
        let warning = Settlement {
            at_ms: 1_000,
            status: CapabilityStatus::Warning,
            message: Some("slow registry".into()),
        };
        assert!(s.schedule_capability(&id, CapabilityName::Registry, warning));
        s.settle(999);
        let registry = |s: &CortexState| {
            s.get(&id)
                .unwrap()
                .capabilities
                .iter()
                .find(|c| c.name == CapabilityName::Registry)
                .cloned()
                .unwrap()
        };
        assert_eq!(registry(&s).status, CapabilityStatus::Retrieving);
        // Saved and restored before it was due: the restored state still settles it.
        let text = serde_json::to_string(&s).unwrap();
        let mut restored = CortexState::new(&[]);
        restored.restore(serde_json::from_str(&text).unwrap(), &[]);
        restored.settle(1_000);
        let c = registry(&restored);
        assert_eq!(c.status, CapabilityStatus::Warning);
        assert_eq!(c.message.as_deref(), Some("slow registry"));
        assert!(c.settles.is_none());
        assert_eq!(restored.get(&id).unwrap().status, InstanceStatus::Warning);
        assert!(restored.is_approved(TENANT), "approvals come back too");
    }

    #[test]
    fn toggles_and_deletes() {
        let mut s = CortexState::new(&[]);
        assert!(!s.is_approved(TENANT));
        s.set_approved(TENANT, true);
        assert!(s.is_approved(&TENANT.to_uppercase()));
        let pending = s.create_pending(request(), 0).id.clone();
        let id = s.connect(&pending, connection(), 0).unwrap();
        s.set_enabled(std::slice::from_ref(&id), false, 1);
        assert_eq!(s.get(&id).unwrap().status, InstanceStatus::Disabled);
        assert_eq!(
            s.set_accounts_enabled(&id, &["33333333-3333-3333-3333-333333333333".into()], false),
            Err("33333333-3333-3333-3333-333333333333".into())
        );
        s.set_accounts_enabled(&id, &["22222222-2222-2222-2222-222222222222".into()], false)
            .unwrap();
        assert_eq!(s.get(&id).unwrap().accounts[1].status(), "DISABLED");
        s.delete(std::slice::from_ref(&id), 2);
        assert!(s.get(&id).is_none());
        assert_eq!(s.all_with_deleted().filter(|i| i.is_deleted()).count(), 1);
    }
}
