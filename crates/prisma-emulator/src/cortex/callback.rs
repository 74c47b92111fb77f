//! The template's callback: `PUT <upload_output_url>` with the `create_connector` body (§7.4),
//! which makes Cortex create the connected instance; and what that instance reports over time.
//!
//! # The upload URL
//!
//! Each pending instance's bundle carries `{base}/_cortex/upload/<connector_id>?Expires=…&Signature=…`,
//! signed by the emulator's [`LinkSigner`] and valid as long as the pending instance (30 days,
//! [`UPLOAD_VALIDITY`]). The real URL is an opaque Cortex URL whose authentication is not
//! documented (§7.4 [UNCONFIRMED]); a signature in the query string is the emulator's choice.
//! A missing or wrong signature gets `403`, an expired one `410`, a body that is not a
//! `create_connector` `400`, a body for another template or tenant `422` — every error in the
//! API's `reply.err_*` shape, naming the field ([`CallbackError`]). Success is `200` (terracurl
//! and the twin accept 200 and 202); a second callback for the same connector answers `200`
//! again and creates nothing (a resumed `terraform apply` may call twice).
//!
//! # The accounts it brings in ([`accounts_in_scope`])
//!
//! From the emulator's synthetic hierarchy of the tenant ([`crate::store::tenant_hierarchy`]):
//! every subscription at tenant scope, the subscriptions under `account_group` at
//! management-group scope (the hosting subscription alone if the group is not in the
//! hierarchy), the one subscription at subscription scope; the hosting subscription is always
//! among them. The pending instance's `scope_modifications.subscriptions` include/exclude list
//! then applies (tenant and management-group scopes).
//!
//! # Capabilities over time ([`capability_plan`], [`CapabilityPlan::status_at`])
//!
//! All eight Azure capabilities are listed (§4.3). One not chosen is `2` (disabled) at once.
//! A chosen one is `4` (retrieving) until its turn, then its final code: the chosen ones finish
//! one after the other, evenly over the configured delay after the callback (the last at the
//! full delay). Final codes are `0` (connected) unless a scenario says otherwise.
//!
//! # Scenarios ([`scenario_for`]): warnings and errors on demand
//!
//! A marker in the first 8 hex digits of the hosting subscription ID (`account_id`), else of
//! the tenant ID, as on the Prisma face — so a user triggers one just by picking the ID:
//!
//! | Prefix     | Capability affected  | Final code | Message |
//! | ---------- | -------------------- | ---------- | ------- |
//! | `0000a0d1` | `AUDIT_LOGS`         | 1 warning  | [`AUDIT_LOGS_WARNING`] |
//! | `0000ad50` | `ADS`                | 1 warning  | [`ADS_WARNING`] |
//! | `0000dead` | `DISCOVERY`          | 3 error    | [`DISCOVERY_ERROR`] |
//! | `0000bad5` | `PERMISSIONS`        | 3 error    | [`PERMISSIONS_ERROR`] |
//!
//! A scenario whose capability was not chosen changes nothing. The instance's `status` is
//! `ERROR` if a capability ended in error, else `WARNING` if one ended in a warning, else
//! `CONNECTED` (also while capabilities are still retrieving).

use std::collections::BTreeMap;
use std::time::Duration;

use azure_config::cortex::CortexScope;
use prisma_types::{ManagementGroupId, ObjectId, SubscriptionId, TenantId};
use serde_json::{Map, Value, json};

use super::template::{LinkSigner, signed_url};
use crate::store::tenant_hierarchy;

/// Path prefix of upload URLs.
pub const UPLOAD_PATH_PREFIX: &str = "/_cortex/upload/";
/// How long an upload URL is valid: as long as a pending instance lives (§8.1: 30 days).
pub const UPLOAD_VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default time from the callback until the last chosen capability reports its final code.
pub const DEFAULT_CAPABILITY_DELAY: Duration = Duration::from_secs(8);

/// The signed upload URL of a pending instance's connector.
pub fn upload_url(
    base_url: &str,
    connector_id: &str,
    issued_at: i64,
    signer: &LinkSigner,
) -> String {
    signed_url(
        base_url,
        &format!("{UPLOAD_PATH_PREFIX}{connector_id}"),
        issued_at,
        UPLOAD_VALIDITY,
        signer,
    )
}

/// How the template was run (`provisioning_method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProvisioningMethod {
    Tf,
    Arm,
}

impl ProvisioningMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisioningMethod::Tf => "TF",
            ProvisioningMethod::Arm => "ARM",
        }
    }
}

/// A checked `create_connector` body.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateConnector {
    pub template_id: String,
    pub template_version: BTreeMap<String, String>,
    pub connector_id: String,
    pub provisioning_method: ProvisioningMethod,
    /// The hosting subscription.
    pub account_id: SubscriptionId,
    pub account_name: String,
    /// The management group (the tenant ID at tenant scope); `None` when empty.
    pub account_group: Option<ManagementGroupId>,
    pub organization_id: TenantId,
    /// `credentials.client_id`: Cortex's application.
    pub client_id: ObjectId,
    pub resources_data: Map<String, Value>,
}

/// A refused callback: the HTTP status and the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CallbackError {
    pub status: u16,
    pub field: String,
    pub message: String,
}

impl CallbackError {
    fn new(status: u16, field: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// `{"reply": {"err_code", "err_msg", "err_extra": [{type, loc, msg}]}}`; never echoes input.
    pub fn reply_body(&self) -> Value {
        json!({ "reply": {
            "err_code": self.status,
            "err_msg": format!("{}: {}", self.field, self.message),
            "err_extra": [{ "type": "value_error", "loc": ["body", self.field], "msg": self.message }],
        }})
    }
}

fn bad(field: &str, message: impl Into<String>) -> CallbackError {
    CallbackError::new(400, field, message)
}

fn string_field<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, CallbackError> {
    body.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(field, "is required and must be a string"))
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Parses and checks the body's shape, naming the first bad field.
pub fn parse(bytes: &[u8]) -> Result<CreateConnector, CallbackError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|_| bad("body", "is not valid JSON"))?;
    let body = value
        .as_object()
        .ok_or_else(|| bad("body", "must be a JSON object"))?;
    let operation = string_field(body, "operation")?;
    if operation != "create_connector" {
        return Err(bad("operation", "must be create_connector"));
    }
    let template_id = string_field(body, "template_id")?;
    if !is_hex32(template_id) {
        return Err(bad(
            "template_id",
            "must be 32 lower-case hexadecimal digits",
        ));
    }
    let connector_id = string_field(body, "connector_id")?;
    if !is_hex32(connector_id) {
        return Err(bad(
            "connector_id",
            "must be 32 lower-case hexadecimal digits",
        ));
    }
    let template_version = match body.get("template_version") {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(bad("template_version", "values must be version strings")),
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?,
        _ => return Err(bad("template_version", "is required and must be an object")),
    };
    let provisioning_method = match string_field(body, "provisioning_method")? {
        "TF" => ProvisioningMethod::Tf,
        "ARM" => ProvisioningMethod::Arm,
        _ => return Err(bad("provisioning_method", "must be TF or ARM")),
    };
    let account_id = SubscriptionId::parse_as("account_id", string_field(body, "account_id")?)
        .map_err(|e| bad("account_id", e.to_string()))?;
    let account_name = body
        .get("account_name")
        .map(|v| v.as_str().map(str::to_owned))
        .unwrap_or(Some(String::new()))
        .ok_or_else(|| bad("account_name", "must be a string"))?;
    let account_group = match string_field(body, "account_group")? {
        "" => None,
        group => Some(
            ManagementGroupId::parse_as("account_group", group)
                .map_err(|e| bad("account_group", e.to_string()))?,
        ),
    };
    let organization_id =
        TenantId::parse_as("organization_id", string_field(body, "organization_id")?)
            .map_err(|e| bad("organization_id", e.to_string()))?;
    let credentials = body
        .get("credentials")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("credentials", "is required and must be an object"))?;
    let client_id = ObjectId::parse_as(
        "credentials.client_id",
        credentials
            .get("client_id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("credentials.client_id", "is required"))?,
    )
    .map_err(|e| bad("credentials.client_id", e.to_string()))?;
    let cred_tenant = credentials
        .get("tenant_id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("credentials.tenant_id", "is required"))?;
    if !cred_tenant.eq_ignore_ascii_case(organization_id.as_str()) {
        return Err(bad("credentials.tenant_id", "must equal organization_id"));
    }
    let resources_data = body
        .get("resources_data")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| bad("resources_data", "is required and must be an object"))?;
    Ok(CreateConnector {
        template_id: template_id.to_owned(),
        template_version,
        connector_id: connector_id.to_owned(),
        provisioning_method,
        account_id,
        account_name,
        account_group,
        organization_id,
        client_id,
        resources_data,
    })
}

/// What the callback must agree with: the pending instance the upload URL belongs to.
#[derive(Clone, Debug)]
pub struct PendingTemplate<'a> {
    pub guid: &'a str,
    pub connector_id: &'a str,
    pub tenant_id: &'a str,
    pub scope: CortexScope,
}

/// Checks that `body` is the callback of `pending`'s template (`422` naming the field if not).
pub fn check(pending: &PendingTemplate<'_>, body: &CreateConnector) -> Result<(), CallbackError> {
    let mismatch = |field: &str, what: &str| {
        CallbackError::new(
            422,
            field,
            format!("does not match {what} of this upload URL"),
        )
    };
    if body.connector_id != pending.connector_id {
        return Err(mismatch("connector_id", "the connector"));
    }
    if body.template_id != pending.guid {
        return Err(mismatch("template_id", "the template"));
    }
    if !body
        .organization_id
        .as_str()
        .eq_ignore_ascii_case(pending.tenant_id)
    {
        return Err(mismatch("organization_id", "the tenant"));
    }
    let group = body.account_group.as_ref().map(ManagementGroupId::as_str);
    match pending.scope {
        CortexScope::Tenant
            if !group.is_some_and(|g| g.eq_ignore_ascii_case(pending.tenant_id)) =>
        {
            Err(CallbackError::new(
                422,
                "account_group",
                "must be the tenant ID (the tenant root management group) at tenant scope",
            ))
        }
        CortexScope::ManagementGroup if group.is_none() => Err(CallbackError::new(
            422,
            "account_group",
            "must name the management group at management-group scope",
        )),
        CortexScope::Subscription if group.is_some() => Err(CallbackError::new(
            422,
            "account_group",
            "must be empty at subscription scope",
        )),
        _ => Ok(()),
    }
}

/// The pending instance's `scope_modifications.subscriptions`, when enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionFilter {
    /// `INCLUDE` (true) or `EXCLUDE` (false).
    pub include: bool,
    pub subscription_ids: Vec<String>,
}

/// A subscription the new instance reports under `get_accounts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveredAccount {
    pub subscription_id: String,
    pub name: String,
}

/// The subscriptions the instance covers (see the module docs).
pub fn accounts_in_scope(
    scope: CortexScope,
    body: &CreateConnector,
    filter: Option<&SubscriptionFilter>,
) -> Vec<DiscoveredAccount> {
    let tenant = body.organization_id.as_str();
    let hierarchy = tenant_hierarchy(tenant);
    let subscriptions = hierarchy.iter().filter(|n| n.node_type == "ACCOUNT");
    let mut accounts: Vec<DiscoveredAccount> = match scope {
        CortexScope::Tenant => subscriptions
            .map(|n| DiscoveredAccount {
                subscription_id: n.id.clone(),
                name: n.display_name.clone(),
            })
            .collect(),
        CortexScope::ManagementGroup => {
            let group = body
                .account_group
                .as_ref()
                .map(ManagementGroupId::as_str)
                .unwrap_or_default();
            subscriptions
                .filter(|n| {
                    n.parent
                        .as_deref()
                        .is_some_and(|p| p.eq_ignore_ascii_case(group))
                })
                .map(|n| DiscoveredAccount {
                    subscription_id: n.id.clone(),
                    name: n.display_name.clone(),
                })
                .collect()
        }
        CortexScope::Subscription => Vec::new(),
    };
    let hosting = body.account_id.as_str();
    if !accounts.iter().any(|a| a.subscription_id == hosting) {
        let name = if body.account_name.is_empty() {
            format!("Azure subscription {hosting}")
        } else {
            body.account_name.clone()
        };
        accounts.insert(
            0,
            DiscoveredAccount {
                subscription_id: hosting.to_owned(),
                name,
            },
        );
    }
    if let (Some(f), true) = (filter, scope.has_management_group()) {
        let listed = |id: &str| {
            f.subscription_ids
                .iter()
                .any(|s| s.trim().eq_ignore_ascii_case(id))
        };
        accounts.retain(|a| listed(&a.subscription_id) == f.include);
    }
    accounts
}

/// Capability status codes (§4.3).
pub mod status {
    pub const CONNECTED: u8 = 0;
    pub const WARNING: u8 = 1;
    pub const DISABLED: u8 = 2;
    pub const ERROR: u8 = 3;
    pub const RETRIEVING: u8 = 4;
}

/// The eight Azure capabilities in the order the API lists them, with their descriptions.
pub const CAPABILITIES: [(&str, &str); 8] = [
    ("PERMISSIONS", "Permissions"),
    ("DISCOVERY", "Discovery Engine"),
    ("ADS", "Agentless Disk Scanning"),
    ("DSPM", "Data Security Scanning"),
    ("AUDIT_LOGS", "Audit Logs"),
    ("REGISTRY", "Registry Scanning"),
    ("SERVERLESS", "Serverless Scanning"),
    ("IDENTITY_SECURITY", "Identity Security"),
];

/// What the pending instance asked for (`additional_capabilities`, `collection_configuration`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChosenCapabilities {
    pub agentless_disk_scanning: bool,
    pub data_security_posture_management: bool,
    pub registry_scanning: bool,
    pub serverless_scanning: bool,
    pub audit_logs: bool,
}

pub const AUDIT_LOGS_WARNING: &str = "Audit logs: no events have arrived from the Event Hub yet. \
    Check that the subscriptions' diagnostic settings send the activity log to it.";
pub const ADS_WARNING: &str = "Agentless Disk Scanning: 2 virtual machines could not be scanned: \
    access to their disk encryption set was denied.";
pub const DISCOVERY_ERROR: &str = "Discovery Engine: authorization failed for \
    Microsoft.Resources/subscriptions/read. Check the cortex-reader role assignment at the scope.";
pub const PERMISSIONS_ERROR: &str = "Permissions: Cortex's service principal lacks the Microsoft \
    Graph application role Application.Read.All. Grant admin consent and re-run the template.";

/// A scenario: which capability ends how, with which message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CortexScenario {
    Healthy,
    AuditLogsWarning,
    AdsWarning,
    DiscoveryError,
    PermissionsError,
}

impl CortexScenario {
    const MARKERS: [(&'static str, CortexScenario); 4] = [
        ("0000a0d1", CortexScenario::AuditLogsWarning),
        ("0000ad50", CortexScenario::AdsWarning),
        ("0000dead", CortexScenario::DiscoveryError),
        ("0000bad5", CortexScenario::PermissionsError),
    ];

    fn outcome(self) -> Option<(&'static str, u8, &'static str)> {
        match self {
            CortexScenario::Healthy => None,
            CortexScenario::AuditLogsWarning => {
                Some(("AUDIT_LOGS", status::WARNING, AUDIT_LOGS_WARNING))
            }
            CortexScenario::AdsWarning => Some(("ADS", status::WARNING, ADS_WARNING)),
            CortexScenario::DiscoveryError => Some(("DISCOVERY", status::ERROR, DISCOVERY_ERROR)),
            CortexScenario::PermissionsError => {
                Some(("PERMISSIONS", status::ERROR, PERMISSIONS_ERROR))
            }
        }
    }
}

/// The scenario of a callback: a marker in the hosting subscription, else in the tenant.
pub fn scenario_for(body: &CreateConnector) -> CortexScenario {
    [body.account_id.as_str(), body.organization_id.as_str()]
        .into_iter()
        .find_map(|id| {
            CortexScenario::MARKERS
                .iter()
                .find(|(marker, _)| id.to_ascii_lowercase().starts_with(marker))
                .map(|(_, s)| *s)
        })
        .unwrap_or(CortexScenario::Healthy)
}

/// One capability's course after the callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapabilityPlan {
    pub name: &'static str,
    pub description: &'static str,
    /// The code once retrieved.
    pub final_status: u8,
    /// Milliseconds after the callback at which `final_status` applies (0 for disabled ones).
    pub ready_after_ms: u64,
    /// Why it ended in a warning or an error.
    pub message: Option<&'static str>,
}

impl CapabilityPlan {
    /// The status `elapsed_ms` after the callback.
    pub fn status_at(&self, elapsed_ms: u64) -> u8 {
        if elapsed_ms >= self.ready_after_ms {
            self.final_status
        } else {
            status::RETRIEVING
        }
    }

    /// The message, once the final status applies.
    pub fn message_at(&self, elapsed_ms: u64) -> Option<&'static str> {
        self.message.filter(|_| elapsed_ms >= self.ready_after_ms)
    }
}

/// Every capability's course for an instance created by a callback.
pub fn capability_plan(
    scope: CortexScope,
    chosen: ChosenCapabilities,
    scenario: CortexScenario,
    delay: Duration,
) -> Vec<CapabilityPlan> {
    let on = |name: &str| match name {
        "PERMISSIONS" | "DISCOVERY" => true,
        "ADS" => chosen.agentless_disk_scanning,
        "DSPM" => chosen.data_security_posture_management,
        "AUDIT_LOGS" => chosen.audit_logs,
        "REGISTRY" => chosen.registry_scanning,
        "SERVERLESS" => chosen.serverless_scanning,
        "IDENTITY_SECURITY" => scope == CortexScope::Tenant,
        _ => false,
    };
    let enabled = CAPABILITIES.iter().filter(|(n, _)| on(n)).count() as u64;
    let delay_ms = delay.as_millis() as u64;
    let outcome = scenario.outcome();
    let mut turn = 0;
    CAPABILITIES
        .iter()
        .map(|(name, description)| {
            if !on(name) {
                return CapabilityPlan {
                    name,
                    description,
                    final_status: status::DISABLED,
                    ready_after_ms: 0,
                    message: None,
                };
            }
            turn += 1;
            let (final_status, message) = match outcome {
                Some((n, code, message)) if n == *name => (code, Some(message)),
                _ => (status::CONNECTED, None),
            };
            CapabilityPlan {
                name,
                description,
                final_status,
                ready_after_ms: delay_ms * turn / enabled.max(1),
                message,
            }
        })
        .collect()
}

/// The instance's `status` `elapsed_ms` after the callback.
pub fn instance_status(plan: &[CapabilityPlan], elapsed_ms: u64) -> &'static str {
    let now: Vec<u8> = plan.iter().map(|c| c.status_at(elapsed_ms)).collect();
    if now.contains(&status::ERROR) {
        "ERROR"
    } else if now.contains(&status::WARNING) {
        "WARNING"
    } else {
        "CONNECTED"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "11111111-2222-4333-8444-555555555555";
    const HOSTING: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";
    const GUID: &str = "e22b3a29260c404183d1a0ea6cbd4418";
    const CONNECTOR: &str = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";

    fn body(account_group: &str, account_id: &str) -> Value {
        json!({
            "operation": "create_connector", "template_id": GUID,
            "template_version": {"BASE-tf_org_base": "1.0.0"}, "connector_id": CONNECTOR,
            "provisioning_method": "TF", "account_id": account_id, "account_name": "",
            "account_group": account_group, "organization_id": TENANT,
            "credentials": {"client_id": "0a1b2c3d-0000-4000-8000-00000000c0de", "tenant_id": TENANT},
            "resources_data": {"client_id": "0a1b2c3d-0000-4000-8000-00000000c0de"},
        })
    }

    fn parsed(v: &Value) -> Result<CreateConnector, CallbackError> {
        parse(v.to_string().as_bytes())
    }

    fn pending(scope: CortexScope) -> PendingTemplate<'static> {
        PendingTemplate {
            guid: GUID,
            connector_id: CONNECTOR,
            tenant_id: TENANT,
            scope,
        }
    }

    #[test]
    fn parse_names_the_bad_field() {
        let good = body(TENANT, HOSTING);
        assert!(parsed(&good).is_ok());
        for (field, value, want) in [
            ("operation", json!("delete_connector"), "operation"),
            ("template_id", json!("nothex"), "template_id"),
            ("connector_id", json!(7), "connector_id"),
            ("provisioning_method", json!("CLI"), "provisioning_method"),
            ("account_id", json!("not-a-guid"), "account_id"),
            ("organization_id", json!(""), "organization_id"),
            ("template_version", json!([]), "template_version"),
            ("resources_data", json!("x"), "resources_data"),
            (
                "credentials",
                json!({"client_id": "x", "tenant_id": TENANT}),
                "credentials.client_id",
            ),
            ("account_group", json!("bad/name"), "account_group"),
        ] {
            let mut b = good.clone();
            b[field] = value;
            let err = parsed(&b).unwrap_err();
            assert_eq!((err.status, err.field.as_str()), (400, want), "{field}");
        }
        let mut other_tenant = good;
        other_tenant["credentials"]["tenant_id"] = json!(HOSTING);
        assert_eq!(
            parsed(&other_tenant).unwrap_err().field,
            "credentials.tenant_id"
        );
        assert_eq!(parse(b"{").unwrap_err().field, "body");
        let reply = parsed(&json!({"operation": 1})).unwrap_err().reply_body();
        assert_eq!(reply["reply"]["err_code"], 400);
        assert_eq!(reply["reply"]["err_extra"][0]["loc"][1], "operation");
    }

    #[test]
    fn check_matches_the_pending_template_and_scope() {
        let tenant_body = parsed(&body(TENANT, HOSTING)).unwrap();
        assert_eq!(check(&pending(CortexScope::Tenant), &tenant_body), Ok(()));
        let err = check(&pending(CortexScope::Subscription), &tenant_body).unwrap_err();
        assert_eq!((err.status, err.field.as_str()), (422, "account_group"));
        let mg_body = parsed(&body("mg-production", HOSTING)).unwrap();
        assert_eq!(
            check(&pending(CortexScope::ManagementGroup), &mg_body),
            Ok(())
        );
        assert_eq!(
            check(&pending(CortexScope::Tenant), &mg_body)
                .unwrap_err()
                .field,
            "account_group"
        );
        let sub_body = parsed(&body("", HOSTING)).unwrap();
        assert_eq!(
            check(&pending(CortexScope::Subscription), &sub_body),
            Ok(())
        );
        let other = PendingTemplate {
            guid: "ffffffffffffffffffffffffffffffff",
            ..pending(CortexScope::Tenant)
        };
        assert_eq!(
            check(&other, &tenant_body).unwrap_err().field,
            "template_id"
        );
        let other = PendingTemplate {
            connector_id: "ffffffffffffffffffffffffffffffff",
            ..pending(CortexScope::Tenant)
        };
        assert_eq!(
            check(&other, &tenant_body).unwrap_err().field,
            "connector_id"
        );
        let other = PendingTemplate {
            tenant_id: HOSTING,
            ..pending(CortexScope::Tenant)
        };
        assert_eq!(
            check(&other, &tenant_body).unwrap_err().field,
            "organization_id"
        );
    }

    #[test]
    fn accounts_follow_the_scope_and_the_subscription_filter() {
        let tenant = accounts_in_scope(
            CortexScope::Tenant,
            &parsed(&body(TENANT, HOSTING)).unwrap(),
            None,
        );
        assert_eq!(
            tenant.len(),
            7,
            "six synthetic subscriptions and the hosting one"
        );
        assert_eq!(tenant[0].subscription_id, HOSTING);
        let mg_body = parsed(&body("mg-production", HOSTING)).unwrap();
        let mg = accounts_in_scope(CortexScope::ManagementGroup, &mg_body, None);
        assert_eq!(mg.len(), 4);
        assert!(
            mg[1..]
                .iter()
                .all(|a| a.name.starts_with("production subscription"))
        );
        let excluded = SubscriptionFilter {
            include: false,
            subscription_ids: vec![mg[1].subscription_id.to_uppercase()],
        };
        let filtered = accounts_in_scope(CortexScope::ManagementGroup, &mg_body, Some(&excluded));
        assert_eq!(filtered.len(), 3);
        assert!(!filtered.contains(&mg[1]));
        let included = SubscriptionFilter {
            include: true,
            subscription_ids: vec![mg[2].subscription_id.clone()],
        };
        assert_eq!(
            accounts_in_scope(CortexScope::ManagementGroup, &mg_body, Some(&included)),
            vec![mg[2].clone()]
        );
        let sub = accounts_in_scope(
            CortexScope::Subscription,
            &parsed(&body("", HOSTING)).unwrap(),
            Some(&included),
        );
        assert_eq!(
            sub.len(),
            1,
            "the filter does not apply at subscription scope"
        );
        assert_eq!(sub[0].name, format!("Azure subscription {HOSTING}"));
    }

    #[test]
    fn capabilities_retrieve_then_settle_over_the_delay() {
        let chosen = ChosenCapabilities {
            agentless_disk_scanning: true,
            audit_logs: true,
            ..Default::default()
        };
        let plan = capability_plan(
            CortexScope::Tenant,
            chosen,
            CortexScenario::Healthy,
            Duration::from_secs(5),
        );
        let names: Vec<&str> = plan.iter().map(|c| c.name).collect();
        assert_eq!(names, CAPABILITIES.map(|(n, _)| n));
        let at = |ms| plan.iter().map(|c| c.status_at(ms)).collect::<Vec<_>>();
        // PERMISSIONS, DISCOVERY, ADS, AUDIT_LOGS, IDENTITY_SECURITY on; DSPM, REGISTRY, SERVERLESS off.
        assert_eq!(at(0), [4, 4, 4, 2, 4, 2, 2, 4]);
        assert_eq!(at(1000), [0, 4, 4, 2, 4, 2, 2, 4]);
        assert_eq!(at(4999), [0, 0, 0, 2, 0, 2, 2, 4]);
        assert_eq!(at(5000), [0, 0, 0, 2, 0, 2, 2, 0]);
        assert_eq!(instance_status(&plan, 5000), "CONNECTED");
        let mg = capability_plan(
            CortexScope::ManagementGroup,
            chosen,
            CortexScenario::Healthy,
            Duration::ZERO,
        );
        assert_eq!(
            mg[7].status_at(0),
            status::DISABLED,
            "identity security is tenant-only"
        );
    }

    #[test]
    fn scenarios_come_from_markers_and_keep_their_message() {
        let b = |account: &str| parsed(&body(TENANT, account)).unwrap();
        assert_eq!(scenario_for(&b(HOSTING)), CortexScenario::Healthy);
        assert_eq!(
            scenario_for(&b("0000a0d1-7777-4888-9999-aaaaaaaaaaaa")),
            CortexScenario::AuditLogsWarning
        );
        assert_eq!(
            scenario_for(&b("0000DEAD-7777-4888-9999-aaaaaaaaaaaa")),
            CortexScenario::DiscoveryError
        );
        let chosen = ChosenCapabilities {
            audit_logs: true,
            ..Default::default()
        };
        let delay = Duration::from_secs(2);
        let warn = capability_plan(
            CortexScope::Subscription,
            chosen,
            CortexScenario::AuditLogsWarning,
            delay,
        );
        let audit = warn.iter().find(|c| c.name == "AUDIT_LOGS").unwrap();
        assert_eq!(audit.status_at(0), status::RETRIEVING);
        assert_eq!(audit.message_at(0), None);
        assert_eq!(audit.status_at(2000), status::WARNING);
        assert_eq!(audit.message_at(2000), Some(AUDIT_LOGS_WARNING));
        assert_eq!(instance_status(&warn, 2000), "WARNING");
        let error = capability_plan(
            CortexScope::Subscription,
            chosen,
            CortexScenario::PermissionsError,
            delay,
        );
        assert_eq!(instance_status(&error, 2000), "ERROR");
        // A scenario on a capability that was not chosen changes nothing.
        let ads = capability_plan(
            CortexScope::Subscription,
            chosen,
            CortexScenario::AdsWarning,
            delay,
        );
        assert_eq!(instance_status(&ads, 2000), "CONNECTED");
        assert!(ads.iter().all(|c| c.message.is_none()));
    }
}
