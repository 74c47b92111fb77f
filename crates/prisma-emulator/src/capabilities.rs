//! Capability checks: what the emulator answers on `POST /cas/v1/cloud_account/status/azure`
//! (pre-flight, `CloudAccountStatus[]`) and `GET /account/{id}/config/status` (after onboarding,
//! only warning/error items with `remediation` and `subComponents`).
//!
//! The real service validates the credentials and the Azure permissions behind every capability
//! being onboarded (`../shared/reference/prisma-api.md` §3.5, §5). The emulator has no Azure, so
//! it decides the outcome from a *scenario*, chosen per request by the rules below. These rules
//! are the emulator's contract: tests, demos and users rely on them.
//!
//! # Which capabilities a request asks for ([`requested_capabilities`])
//!
//! Returned in [`Capability::ALL`] order, without duplicates:
//!
//! * [`Capability::Configuration`] ("Cloud Visibility Compliance and Governance") always, except
//!   for a Microsoft Entra ID-only tenant. An Entra-only tenant is `cloudAccount.accountType`
//!   `tenant` without `rootSyncEnabled: true` (root sync is what brings in management groups and
//!   subscriptions).
//! * [`Capability::FlowLogs`] if and only if `monitorFlowLogs` is `true`.
//! * One capability per entry of `features` whose `state` is `enabled` (case-insensitive). Names
//!   are display names, compared case-insensitively: "Agentless Scanning", "Serverless Function
//!   Scanning", "Remediation", "Auto Protect". Unknown names (and the always-on "Cloud Visibility
//!   Compliance and Governance") are ignored here; validation happens elsewhere.
//! * [`Capability::Remediation`] also when the legacy `cloudAccount.protectionMode` is
//!   `MONITOR_AND_PROTECT` (the v1 spelling of the Remediation feature).
//! * [`Capability::EntraId`] for every tenant account (`accountType` `tenant`).
//!
//! # Which scenario applies ([`ScenarioBook::scenario_for`]), first match wins
//!
//! 1. An explicit entry in the [`ScenarioBook`] (scenario file or admin endpoint) for the
//!    subscription ID (`cloudAccount.accountId`), then the tenant ID (`tenantId`), then the client
//!    ID (`clientId`). IDs are compared trimmed and lower-case.
//! 2. A marker in the first 8 hex digits of the subscription ID (for tenant accounts: of the
//!    tenant ID), so a user can trigger a failure just by typing an ID:
//!
//!    | Prefix     | Scenario                                   |
//!    | ---------- | ------------------------------------------ |
//!    | `0000dead` | [`Scenario::SubscriptionNotFound`]         |
//!    | `0000bad5` | [`Scenario::WrongServicePrincipal`]        |
//!    | `00000c0c` | [`Scenario::MissingGraphConsent`]          |
//!    | `0000f10e` | [`Scenario::FlowLogsRoleMissing`]          |
//!    | `00000a9e` | [`Scenario::AgentlessRoleMissing`]         |
//!    | `00005e1f` | [`Scenario::ServerlessRoleMissing`]        |
//!    | `00000fed` | [`Scenario::RemediationRoleMissing`]       |
//!    | `00000a7e` | [`Scenario::AutoProtectKeyVaultMissing`]   |
//!
//! 3. `servicePrincipalId` equal to `clientId` (case-insensitive): the application (client) ID
//!    was pasted instead of the Enterprise Application Object ID, the commonest real mistake →
//!    [`Scenario::WrongServicePrincipal`].
//! 4. Otherwise [`Scenario::Healthy`].
//!
//! # What each scenario does ([`evaluate`])
//!
//! Only requested capabilities are ever reported. A capability a scenario does not affect is `ok`.
//!
//! * `healthy`: every requested capability `ok`, message "All checks passed.".
//! * `subscription_not_found`: every requested capability `error`, message
//!   "Authentication failed. Azure Subscription not found." (Prisma's text); the remediation says
//!   to check that the subscription exists, is not deleted or disabled, and that the ID is right.
//! * `wrong_service_principal`: every requested capability `error` at once (the real symptom),
//!   with a message about the service principal's permissions; the remediation says to use the
//!   Object ID from *Enterprise applications*, not the App registration's object ID or the client
//!   ID.
//! * `missing_graph_consent`: [`Capability::EntraId`] `error` (tenant accounts always request
//!   it). A subscription account has no Entra ID capability, so its
//!   [`Capability::Configuration`] check gets a `warning` with the same text instead. The message
//!   is Prisma's: "Prisma Cloud application is not assigned following role(s): User.Read.All,
//!   Application.Read.All, Reports.Read.All, Directory.Read.All, Domain.Read.All, Group.Read.All,
//!   GroupMember.Read.All, Policy.Read.All"; the remediation is to grant admin consent (portal,
//!   the template's `f_consent_link`, or `azuread_app_role_assignment`); the config status item has
//!   one sub-component per missing permission (8).
//! * `flow_logs_role_missing`: [`Capability::FlowLogs`] `error` naming
//!   `Microsoft.Network/networkWatchers/queryFlowLogStatus/action` and the built-in role "Reader
//!   and Data Access". Without `monitorFlowLogs` the account behaves as healthy.
//! * `agentless_role_missing`, `serverless_role_missing`, `remediation_role_missing`: that
//!   capability `error`, naming the missing actions and role, only if requested (else healthy).
//! * `auto_protect_key_vault_missing`: [`Capability::AutoProtect`] `error` naming the data actions
//!   `Microsoft.KeyVault/vaults/keys/unwrapKey/action` and `Microsoft.KeyVault/vaults/keys/wrapKey/action`
//!   and the role "Key Vault Crypto Service Encryption User". Prisma's troubleshooting page prints
//!   them as `…/keys/unwrapaction` and `…/keys/wrapaction`; we use the real Azure RBAC names and
//!   say so in the remediation. (Prisma's UI calls this component "Agent Based Workload
//!   Protection".)
//!
//! # Wire mapping
//!
//! * [`to_status_checks`]: every result becomes `{id, name, status, statusMessage}` with `id` the
//!   capability's snake-case name (`configuration`, `flow_logs`, `agentless_scanning`,
//!   `serverless_scanning`, `remediation`, `auto_protect`, `entra_id`), `name` its
//!   [`Capability::component_name`], and `staticMessage: true` (our messages are display text, not
//!   i18n keys; the field's meaning is unpublished).
//! * [`to_config_status`]: only `warning`/`error` results, with `remediation` and one
//!   sub-component per missing permission, action or data action (none for
//!   `subscription_not_found` and `wrong_service_principal`, whose cause is not a permission).
//!
//! Our choices where the real API is unpublished (prisma-api.md §5.3, §11): the status values
//! `ok` / `warning` / `error`; the component names "Cloud Visibility Compliance and Governance",
//! "Flow Logs", "Agentless Scanning", "Serverless Function Scanning", "Remediation", "Auto
//! Protect", "Microsoft Entra ID"; the per-feature action lists for Agentless, Serverless and
//! Remediation (derived from historical Prisma templates, §4.3).

use std::collections::BTreeMap;

use prisma_types::feature::Feature;
use prisma_types::wire::{
    AzureAccountRequest, CloudAccountStatus, ConfigStatusItem, StatusMessage,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A capability Prisma checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Configuration,
    FlowLogs,
    AgentlessScanning,
    ServerlessScanning,
    Remediation,
    AutoProtect,
    EntraId,
}

impl Capability {
    /// Every capability, in the order results are reported.
    pub const ALL: [Capability; 7] = [
        Capability::Configuration,
        Capability::FlowLogs,
        Capability::AgentlessScanning,
        Capability::ServerlessScanning,
        Capability::Remediation,
        Capability::AutoProtect,
        Capability::EntraId,
    ];

    /// The component `name` in status responses.
    pub fn component_name(self) -> &'static str {
        match self {
            Capability::Configuration => prisma_types::feature::ALWAYS_ON_FEATURE,
            Capability::FlowLogs => "Flow Logs",
            Capability::AgentlessScanning => "Agentless Scanning",
            Capability::ServerlessScanning => "Serverless Function Scanning",
            Capability::Remediation => "Remediation",
            Capability::AutoProtect => "Auto Protect",
            Capability::EntraId => "Microsoft Entra ID",
        }
    }

    /// The snake-case name (same as serde), used as the `id` of a status check.
    fn id(self) -> &'static str {
        match self {
            Capability::Configuration => "configuration",
            Capability::FlowLogs => "flow_logs",
            Capability::AgentlessScanning => "agentless_scanning",
            Capability::ServerlessScanning => "serverless_scanning",
            Capability::Remediation => "remediation",
            Capability::AutoProtect => "auto_protect",
            Capability::EntraId => "entra_id",
        }
    }

    fn from_feature(feature: Feature) -> Capability {
        match feature {
            Feature::AgentlessScanning => Capability::AgentlessScanning,
            Feature::AutoProtect => Capability::AutoProtect,
            Feature::Remediation => Capability::Remediation,
            Feature::ServerlessFunctionScanning => Capability::ServerlessScanning,
        }
    }
}

/// A failure that can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    Healthy,
    SubscriptionNotFound,
    WrongServicePrincipal,
    MissingGraphConsent,
    FlowLogsRoleMissing,
    AgentlessRoleMissing,
    ServerlessRoleMissing,
    RemediationRoleMissing,
    AutoProtectKeyVaultMissing,
}

impl Scenario {
    pub(crate) const ALL: [Scenario; 9] = [
        Scenario::Healthy,
        Scenario::SubscriptionNotFound,
        Scenario::WrongServicePrincipal,
        Scenario::MissingGraphConsent,
        Scenario::FlowLogsRoleMissing,
        Scenario::AgentlessRoleMissing,
        Scenario::ServerlessRoleMissing,
        Scenario::RemediationRoleMissing,
        Scenario::AutoProtectKeyVaultMissing,
    ];

    /// The snake-case name (same as serde).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scenario::Healthy => "healthy",
            Scenario::SubscriptionNotFound => "subscription_not_found",
            Scenario::WrongServicePrincipal => "wrong_service_principal",
            Scenario::MissingGraphConsent => "missing_graph_consent",
            Scenario::FlowLogsRoleMissing => "flow_logs_role_missing",
            Scenario::AgentlessRoleMissing => "agentless_role_missing",
            Scenario::ServerlessRoleMissing => "serverless_role_missing",
            Scenario::RemediationRoleMissing => "remediation_role_missing",
            Scenario::AutoProtectKeyVaultMissing => "auto_protect_key_vault_missing",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Scenario> {
        let name = name.trim();
        Scenario::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

/// ID prefixes (first 8 hex digits) that select a scenario without any configuration.
const MARKERS: [(&str, Scenario); 8] = [
    ("0000dead", Scenario::SubscriptionNotFound),
    ("0000bad5", Scenario::WrongServicePrincipal),
    ("00000c0c", Scenario::MissingGraphConsent),
    ("0000f10e", Scenario::FlowLogsRoleMissing),
    ("00000a9e", Scenario::AgentlessRoleMissing),
    ("00005e1f", Scenario::ServerlessRoleMissing),
    ("00000fed", Scenario::RemediationRoleMissing),
    ("00000a7e", Scenario::AutoProtectKeyVaultMissing),
];

/// Runtime scenario assignments (scenario file / admin endpoint) by subscription, tenant or
/// client ID.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ScenarioBook {
    pub by_id: BTreeMap<String, Scenario>,
}

impl ScenarioBook {
    /// Reads a JSON scenario file: `{"by_id": {"<guid>": "missing_graph_consent", ...}}`.
    /// IDs are stored lower-case. Errors name the problem (bad JSON, unknown key, unknown
    /// scenario name with the list of valid ones, an ID given twice with different scenarios).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("scenario file is not valid JSON: {e}"))?;
        let Value::Object(top) = value else {
            return Err(format!(
                "scenario file must be a JSON object like {{\"by_id\": {{\"<id>\": \"{}\"}}}}",
                Scenario::MissingGraphConsent.as_str()
            ));
        };
        if let Some(key) = top.keys().find(|k| k.as_str() != "by_id") {
            return Err(format!(
                "scenario file: unknown key \"{key}\" (expected only \"by_id\")"
            ));
        }
        let mut by_id = BTreeMap::new();
        match top.get("by_id") {
            None | Some(Value::Null) => {}
            Some(Value::Object(entries)) => {
                for (raw_id, entry) in entries {
                    let id = normalize_id(raw_id);
                    if id.is_empty() {
                        return Err("scenario file: by_id contains an empty ID".to_owned());
                    }
                    let Value::String(name) = entry else {
                        return Err(format!(
                            "scenario file: by_id[\"{raw_id}\"] must be a scenario name string, \
                             not {entry}"
                        ));
                    };
                    let scenario = Scenario::parse(name).ok_or_else(|| {
                        format!(
                            "scenario file: by_id[\"{raw_id}\"]: unknown scenario \"{name}\"; \
                             expected one of: {}",
                            Scenario::ALL.map(Scenario::as_str).join(", ")
                        )
                    })?;
                    if let Some(previous) = by_id.insert(id, scenario)
                        && previous != scenario
                    {
                        return Err(format!(
                            "scenario file: ID \"{raw_id}\" is given twice (ignoring case) with \
                             different scenarios: {} and {}",
                            previous.as_str(),
                            scenario.as_str()
                        ));
                    }
                }
            }
            Some(other) => {
                return Err(format!(
                    "scenario file: \"by_id\" must be an object mapping IDs to scenario names, \
                     not {other}"
                ));
            }
        }
        Ok(Self { by_id })
    }

    /// Which scenario applies to a request; see the module documentation for the rules.
    pub fn scenario_for(&self, req: &AzureAccountRequest) -> Scenario {
        let subscription_id = req.cloud_account.account_id.as_deref().unwrap_or("");
        for id in [
            subscription_id,
            req.tenant_id.as_str(),
            req.client_id.as_str(),
        ] {
            if let Some(scenario) = self.lookup(id) {
                return scenario;
            }
        }

        let marked_id = if is_tenant(req) && !req.tenant_id.trim().is_empty() {
            req.tenant_id.as_str()
        } else {
            subscription_id
        };
        if let Some(scenario) = marker_scenario(marked_id) {
            return scenario;
        }

        let client_id = normalize_id(&req.client_id);
        let sp_id = normalize_id(req.service_principal_id.as_deref().unwrap_or(""));
        if !sp_id.is_empty() && sp_id == client_id {
            return Scenario::WrongServicePrincipal;
        }

        Scenario::Healthy
    }

    fn lookup(&self, id: &str) -> Option<Scenario> {
        let id = normalize_id(id);
        if id.is_empty() {
            return None;
        }
        self.by_id.get(&id).copied().or_else(|| {
            // Entries added through the admin endpoint may not be normalized.
            self.by_id
                .iter()
                .find(|(key, _)| normalize_id(key) == id)
                .map(|(_, s)| *s)
        })
    }
}

fn normalize_id(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

fn marker_scenario(id: &str) -> Option<Scenario> {
    let id = normalize_id(id);
    let prefix = id.get(..8)?;
    MARKERS
        .iter()
        .find(|(marker, _)| *marker == prefix)
        .map(|(_, s)| *s)
}

fn is_tenant(req: &AzureAccountRequest) -> bool {
    req.cloud_account
        .account_type
        .trim()
        .eq_ignore_ascii_case("tenant")
}

/// The capabilities a request asks for (always Configuration except Entra-only; FlowLogs iff
/// `monitorFlowLogs`; one per enabled feature; EntraId for tenant accounts), in
/// [`Capability::ALL`] order.
pub fn requested_capabilities(req: &AzureAccountRequest) -> Vec<Capability> {
    let tenant = is_tenant(req);
    let entra_only = tenant && req.root_sync_enabled != Some(true);
    let mut wanted: Vec<Capability> = Vec::new();
    if !entra_only {
        wanted.push(Capability::Configuration);
    }
    if req.monitor_flow_logs == Some(true) {
        wanted.push(Capability::FlowLogs);
    }
    for state in req.features.iter().flatten() {
        if !state.state.trim().eq_ignore_ascii_case("enabled") {
            continue;
        }
        let name = state.name.trim();
        if let Some(feature) = Feature::ALL
            .into_iter()
            .find(|f| f.display_name().eq_ignore_ascii_case(name))
        {
            wanted.push(Capability::from_feature(feature));
        }
    }
    let protection = req.cloud_account.protection_mode.as_deref().unwrap_or("");
    if protection
        .trim()
        .eq_ignore_ascii_case("MONITOR_AND_PROTECT")
    {
        wanted.push(Capability::Remediation);
    }
    if tenant {
        wanted.push(Capability::EntraId);
    }
    Capability::ALL
        .into_iter()
        .filter(|c| wanted.contains(c))
        .collect()
}

/// The outcome of one capability check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapabilityResult {
    pub capability: Capability,
    /// `"ok"`, `"warning"` or `"error"`.
    pub status: &'static str,
    pub message: String,
    pub remediation: String,
}

const OK: &str = "ok";
const WARNING: &str = "warning";
const ERROR: &str = "error";
const OK_MESSAGE: &str = "All checks passed.";

/// One missing permission: a sub-component of a config status item.
struct Missing {
    name: &'static str,
    message: &'static str,
    remediation: &'static str,
}

/// A failure's texts, and what is missing.
struct Finding {
    message: &'static str,
    remediation: &'static str,
    missing: &'static [Missing],
}

const SUBSCRIPTION_NOT_FOUND: Finding = Finding {
    message: "Authentication failed. Azure Subscription not found.",
    remediation: "Log in to the Azure portal and check that the subscription exists and is not \
                  deleted or disabled (Prisma Cloud cannot monitor a deleted or disabled \
                  subscription), that it belongs to the tenant given as tenantId, and that \
                  cloudAccount.accountId is its subscription ID (not the tenant or client ID).",
    missing: &[],
};

const WRONG_SERVICE_PRINCIPAL: Finding = Finding {
    message: "Prisma Cloud could not verify the permissions of the service principal: no role \
              assignments or API permissions were found for the given servicePrincipalId. The \
              Enterprise Application Object ID is probably wrong.",
    remediation: "Use the Enterprise Application Object ID: in the Azure portal open Microsoft \
                  Entra ID > Enterprise applications > All applications, search for the Prisma \
                  Cloud app and copy its Object ID (template output \
                  e__enterprise_application_object_id / e_service_principal_object_id). Do not \
                  use the Object ID shown under App registrations, nor the Application (client) \
                  ID. Also verify the role assignments and the Graph admin consent.",
    missing: &[],
};

const GRAPH_CONSENT: Finding = Finding {
    message: "Prisma Cloud application is not assigned following role(s): User.Read.All, \
              Application.Read.All, Reports.Read.All, Directory.Read.All, Domain.Read.All, \
              Group.Read.All, GroupMember.Read.All, Policy.Read.All",
    remediation: "Grant admin consent for the Microsoft Graph application permissions: in the \
                  Azure portal open App registrations > the Prisma Cloud app > API permissions > \
                  Grant admin consent for the tenant (or open the template's f_consent_link \
                  output), and check that every permission shows a green check mark. With \
                  Terraform, grant each app role with an azuread_app_role_assignment on the \
                  Microsoft Graph service principal.",
    missing: &[
        Missing {
            name: "User.Read.All",
            message: "Microsoft Graph application permission User.Read.All is not granted.",
            remediation: "Grant admin consent for app role df021288-bdef-4463-88db-98f22de89214.",
        },
        Missing {
            name: "Application.Read.All",
            message: "Microsoft Graph application permission Application.Read.All is not granted.",
            remediation: "Grant admin consent for app role 9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30.",
        },
        Missing {
            name: "Reports.Read.All",
            message: "Microsoft Graph application permission Reports.Read.All is not granted.",
            remediation: "Grant admin consent for app role 230c1aed-a721-4c5d-9cb4-a90514e508ef.",
        },
        Missing {
            name: "Directory.Read.All",
            message: "Microsoft Graph application permission Directory.Read.All is not granted.",
            remediation: "Grant admin consent for app role 7ab1d382-f21e-4acd-a863-ba3e13f7da61.",
        },
        Missing {
            name: "Domain.Read.All",
            message: "Microsoft Graph application permission Domain.Read.All is not granted.",
            remediation: "Grant admin consent for app role dbb9058a-0e50-45d7-ae91-66909b5d4664.",
        },
        Missing {
            name: "Group.Read.All",
            message: "Microsoft Graph application permission Group.Read.All is not granted.",
            remediation: "Grant admin consent for app role 5b567255-7703-4780-807c-7be8301ae99b.",
        },
        Missing {
            name: "GroupMember.Read.All",
            message: "Microsoft Graph application permission GroupMember.Read.All is not granted.",
            remediation: "Grant admin consent for app role 98830695-27a2-44f7-8c18-0c3ebc9698f6.",
        },
        Missing {
            name: "Policy.Read.All",
            message: "Microsoft Graph application permission Policy.Read.All is not granted.",
            remediation: "Grant admin consent for app role 246dd0d5-5bd0-4def-940b-0421030a5b68.",
        },
    ],
};

const FLOW_LOGS: Finding = Finding {
    message: "Prisma Cloud is not assigned the following action(s): \
              \"Microsoft.Network/networkWatchers/queryFlowLogStatus/action\" (role \"Reader and \
              Data Access\" is missing).",
    remediation: "Assign the built-in role \"Reader and Data Access\" to the Prisma Cloud service \
                  principal at the subscription (or tenant root management group) scope, and \
                  include Microsoft.Network/networkWatchers/queryFlowLogStatus/action in the \
                  Prisma Cloud custom role (re-apply the onboarding template generated with flow \
                  logs). NSG flow logs must also be enabled in Network Watcher and written to a \
                  storage account in the NSG's region.",
    missing: &[Missing {
        name: "Microsoft.Network/networkWatchers/queryFlowLogStatus/action",
        message: "Action Microsoft.Network/networkWatchers/queryFlowLogStatus/action is not \
                  assigned.",
        remediation: "Assign \"Reader and Data Access\" and add the action to the custom role.",
    }],
};

const AGENTLESS: Finding = Finding {
    message: "Prisma Cloud is not assigned the following action(s) needed by the Prisma Cloud \
              custom role for Agentless Scanning: \
              \"Microsoft.Resources/subscriptions/resourceGroups/write\", \
              \"Microsoft.Compute/disks/write\", \"Microsoft.Compute/disks/delete\", \
              \"Microsoft.Compute/disks/beginGetAccess/action\", \
              \"Microsoft.Compute/snapshots/write\", \"Microsoft.Compute/snapshots/delete\", \
              \"Microsoft.Compute/virtualMachines/write\", \
              \"Microsoft.Compute/virtualMachines/delete\"",
    remediation: "Re-apply the onboarding Terraform template generated with the Agentless \
                  Scanning feature so that the Prisma Cloud custom role contains the agentless \
                  actions, and check that the role is assigned to the Prisma Cloud service \
                  principal at the subscription (or tenant root management group) scope.",
    missing: &[
        Missing {
            name: "Microsoft.Resources/subscriptions/resourceGroups/write",
            message: "Action Microsoft.Resources/subscriptions/resourceGroups/write is not \
                      assigned.",
            remediation: "Add the action to the Prisma Cloud custom role.",
        },
        Missing {
            name: "Microsoft.Compute/disks/write",
            message: "Action Microsoft.Compute/disks/write is not assigned.",
            remediation: "Add the action to the Prisma Cloud custom role.",
        },
        Missing {
            name: "Microsoft.Compute/disks/delete",
            message: "Action Microsoft.Compute/disks/delete is not assigned.",
            remediation: "Add the action to the Prisma Cloud custom role.",
        },
        Missing {
            name: "Microsoft.Compute/disks/beginGetAccess/action",
            message: "Action Microsoft.Compute/disks/beginGetAccess/action is not assigned.",
            remediation: "Add the action to the Prisma Cloud custom role.",
        },
        Missing {
            name: "Microsoft.Compute/snapshots/write",
            message: "Action Microsoft.Compute/snapshots/write is not assigned.",
            remediation: "Add the action to the Prisma Cloud custom role.",
        },
        Missing {
            name: "Microsoft.Compute/snapshots/delete",
            message: "Action Microsoft.Compute/snapshots/delete is not assigned.",
            remediation: "Add the action to the Prisma Cloud custom role.",
        },
        Missing {
            name: "Microsoft.Compute/virtualMachines/write",
            message: "Action Microsoft.Compute/virtualMachines/write is not assigned.",
            remediation: "Add the action to the Prisma Cloud custom role.",
        },
        Missing {
            name: "Microsoft.Compute/virtualMachines/delete",
            message: "Action Microsoft.Compute/virtualMachines/delete is not assigned.",
            remediation: "Add the action to the Prisma Cloud custom role.",
        },
    ],
};

const SERVERLESS: Finding = Finding {
    message: "Prisma Cloud is not assigned the following action(s) needed by the Prisma Cloud \
              custom role for Serverless Function Scanning: \
              \"Microsoft.Web/sites/config/list/action\", \
              \"Microsoft.Web/sites/publishxml/action\"",
    remediation: "Re-apply the onboarding Terraform template generated with the Serverless \
                  Function Scanning feature so that the Prisma Cloud custom role contains the \
                  function app actions, and check that the role is assigned to the Prisma Cloud \
                  service principal at the subscription (or tenant root management group) scope.",
    missing: &[
        Missing {
            name: "Microsoft.Web/sites/config/list/action",
            message: "Action Microsoft.Web/sites/config/list/action is not assigned.",
            remediation: "Add the action to the Prisma Cloud custom role.",
        },
        Missing {
            name: "Microsoft.Web/sites/publishxml/action",
            message: "Action Microsoft.Web/sites/publishxml/action is not assigned.",
            remediation: "Add the action to the Prisma Cloud custom role.",
        },
    ],
};

const REMEDIATION: Finding = Finding {
    message: "Prisma Cloud is not assigned the following action(s) needed for Remediation (role \
              \"Network Contributor\" is missing): \
              \"Microsoft.Network/networkSecurityGroups/securityRules/write\", \
              \"Microsoft.Storage/storageAccounts/write\"",
    remediation: "Assign the built-in role \"Network Contributor\" (network auto-remediation) and, \
                  for storage auto-remediation, \"Storage Account Contributor\" to the Prisma \
                  Cloud service principal at the subscription (or tenant root management group) \
                  scope, or re-apply the onboarding template generated with the Remediation \
                  feature.",
    missing: &[
        Missing {
            name: "Microsoft.Network/networkSecurityGroups/securityRules/write",
            message: "Action Microsoft.Network/networkSecurityGroups/securityRules/write is not \
                      assigned.",
            remediation: "Assign the built-in role \"Network Contributor\".",
        },
        Missing {
            name: "Microsoft.Storage/storageAccounts/write",
            message: "Action Microsoft.Storage/storageAccounts/write is not assigned.",
            remediation: "Assign the built-in role \"Storage Account Contributor\".",
        },
    ],
};

const KEY_VAULT: Finding = Finding {
    message: "Prisma Cloud is not assigned the following data actions: \
              \"Microsoft.KeyVault/vaults/keys/unwrapKey/action\", \
              \"Microsoft.KeyVault/vaults/keys/wrapKey/action\"",
    remediation: "Assign the built-in role \"Key Vault Crypto Service Encryption User\" at the \
                  tenant or subscription scope to the Prisma Cloud app registration's service \
                  principal. (Prisma's troubleshooting page spells these data actions \
                  \"Microsoft.KeyVault/vaults/keys/unwrapaction\" and \
                  \"Microsoft.KeyVault/vaults/keys/wrapaction\".)",
    missing: &[
        Missing {
            name: "Microsoft.KeyVault/vaults/keys/unwrapKey/action",
            message: "Data action Microsoft.KeyVault/vaults/keys/unwrapKey/action is not \
                      assigned.",
            remediation: "Assign the built-in role \"Key Vault Crypto Service Encryption User\".",
        },
        Missing {
            name: "Microsoft.KeyVault/vaults/keys/wrapKey/action",
            message: "Data action Microsoft.KeyVault/vaults/keys/wrapKey/action is not assigned.",
            remediation: "Assign the built-in role \"Key Vault Crypto Service Encryption User\".",
        },
    ],
};

/// Every finding, to recover the sub-components of a result from its message.
const FINDINGS: [&Finding; 8] = [
    &SUBSCRIPTION_NOT_FOUND,
    &WRONG_SERVICE_PRINCIPAL,
    &GRAPH_CONSENT,
    &FLOW_LOGS,
    &AGENTLESS,
    &SERVERLESS,
    &REMEDIATION,
    &KEY_VAULT,
];

/// Checks every requested capability under the scenario that applies to `req`.
pub fn evaluate(req: &AzureAccountRequest, book: &ScenarioBook) -> Vec<CapabilityResult> {
    let scenario = book.scenario_for(req);
    let capabilities = requested_capabilities(req);
    let has_entra = capabilities.contains(&Capability::EntraId);
    let only = |wanted: Capability, cap: Capability, finding: &'static Finding| {
        (cap == wanted).then_some((ERROR, finding))
    };
    capabilities
        .iter()
        .map(|&cap| {
            let failure: Option<(&'static str, &'static Finding)> = match scenario {
                Scenario::Healthy => None,
                Scenario::SubscriptionNotFound => Some((ERROR, &SUBSCRIPTION_NOT_FOUND)),
                Scenario::WrongServicePrincipal => Some((ERROR, &WRONG_SERVICE_PRINCIPAL)),
                Scenario::MissingGraphConsent => match cap {
                    Capability::EntraId => Some((ERROR, &GRAPH_CONSENT)),
                    Capability::Configuration if !has_entra => Some((WARNING, &GRAPH_CONSENT)),
                    _ => None,
                },
                Scenario::FlowLogsRoleMissing => only(Capability::FlowLogs, cap, &FLOW_LOGS),
                Scenario::AgentlessRoleMissing => {
                    only(Capability::AgentlessScanning, cap, &AGENTLESS)
                }
                Scenario::ServerlessRoleMissing => {
                    only(Capability::ServerlessScanning, cap, &SERVERLESS)
                }
                Scenario::RemediationRoleMissing => {
                    only(Capability::Remediation, cap, &REMEDIATION)
                }
                Scenario::AutoProtectKeyVaultMissing => {
                    only(Capability::AutoProtect, cap, &KEY_VAULT)
                }
            };
            match failure {
                Some((status, finding)) => CapabilityResult {
                    capability: cap,
                    status,
                    message: finding.message.to_owned(),
                    remediation: finding.remediation.to_owned(),
                },
                None => CapabilityResult {
                    capability: cap,
                    status: OK,
                    message: OK_MESSAGE.to_owned(),
                    remediation: String::new(),
                },
            }
        })
        .collect()
}

/// The answer of `POST /cas/v1/cloud_account/status/azure`: one check per result.
pub fn to_status_checks(results: &[CapabilityResult]) -> Vec<CloudAccountStatus> {
    results
        .iter()
        .map(|r| CloudAccountStatus {
            id: r.capability.id().to_owned(),
            name: r.capability.component_name().to_owned(),
            status: r.status.to_owned(),
            status_message: StatusMessage {
                message: r.message.clone(),
                static_message: true,
            },
        })
        .collect()
}

/// The answer of `GET /account/{id}/config/status`: only warnings and errors, with remediation
/// and one sub-component per missing permission.
pub fn to_config_status(results: &[CapabilityResult]) -> Vec<ConfigStatusItem> {
    results
        .iter()
        .filter(|r| r.status != OK)
        .map(|r| {
            let missing = FINDINGS
                .iter()
                .find(|f| f.message == r.message)
                .map_or(&[][..], |f| f.missing);
            ConfigStatusItem {
                name: r.capability.component_name().to_owned(),
                status: r.status.to_owned(),
                message: r.message.clone(),
                remediation: r.remediation.clone(),
                sub_components: missing
                    .iter()
                    .map(|m| ConfigStatusItem {
                        name: m.name.to_owned(),
                        status: r.status.to_owned(),
                        message: m.message.to_owned(),
                        remediation: m.remediation.to_owned(),
                        sub_components: Vec::new(),
                    })
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SUB: &str = "3f2a1b4c-5d6e-4f70-8192-a3b4c5d6e7f8";
    const TENANT: &str = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a";
    const CLIENT: &str = "11111111-2222-4333-8444-555555555555";
    const SP: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";

    const GRAPH_PERMISSIONS: [&str; 8] = [
        "User.Read.All",
        "Application.Read.All",
        "Reports.Read.All",
        "Directory.Read.All",
        "Domain.Read.All",
        "Group.Read.All",
        "GroupMember.Read.All",
        "Policy.Read.All",
    ];

    fn request(body: serde_json::Value) -> AzureAccountRequest {
        serde_json::from_value(body).expect("test body deserializes")
    }

    fn subscription_body(subscription_id: &str) -> serde_json::Value {
        json!({
            "cloudAccount": {
                "accountId": subscription_id,
                "accountType": "account",
                "enabled": true,
                "name": "prod-sub",
                "groupIds": ["g-1"]
            },
            "clientId": CLIENT,
            "key": "s3cret",
            "tenantId": TENANT,
            "servicePrincipalId": SP,
            "environmentType": "azure",
            "monitorFlowLogs": false
        })
    }

    fn subscription(subscription_id: &str) -> AzureAccountRequest {
        request(subscription_body(subscription_id))
    }

    fn tenant_body(tenant_id: &str, root_sync: bool) -> serde_json::Value {
        json!({
            "cloudAccount": { "accountType": "tenant", "enabled": true, "name": "my-tenant" },
            "clientId": CLIENT,
            "key": "s3cret",
            "tenantId": tenant_id,
            "servicePrincipalId": SP,
            "environmentType": "azure",
            "monitorFlowLogs": false,
            "rootSyncEnabled": root_sync,
            "features": []
        })
    }

    fn marked(prefix: &str) -> String {
        format!("{prefix}-0000-4000-8000-000000000000")
    }

    fn all_features_body(subscription_id: &str) -> serde_json::Value {
        let mut body = subscription_body(subscription_id);
        body["monitorFlowLogs"] = json!(true);
        body["features"] = json!([
            { "name": "Agentless Scanning", "state": "enabled" },
            { "name": "Serverless Function Scanning", "state": "enabled" },
            { "name": "Remediation", "state": "enabled" },
            { "name": "Auto Protect", "state": "enabled" }
        ]);
        body
    }

    fn statuses(results: &[CapabilityResult]) -> Vec<(Capability, &'static str)> {
        results.iter().map(|r| (r.capability, r.status)).collect()
    }

    #[test]
    fn every_marker_prefix_selects_its_scenario() {
        let book = ScenarioBook::default();
        let cases = [
            ("0000dead", Scenario::SubscriptionNotFound),
            ("00000c0c", Scenario::MissingGraphConsent),
            ("0000f10e", Scenario::FlowLogsRoleMissing),
            ("00000a9e", Scenario::AgentlessRoleMissing),
            ("00005e1f", Scenario::ServerlessRoleMissing),
            ("00000fed", Scenario::RemediationRoleMissing),
            ("00000a7e", Scenario::AutoProtectKeyVaultMissing),
            ("0000bad5", Scenario::WrongServicePrincipal),
        ];
        for (prefix, expected) in cases {
            assert_eq!(
                book.scenario_for(&subscription(&marked(prefix))),
                expected,
                "{prefix}"
            );
            // Upper-case input works too.
            let upper = marked(prefix).to_ascii_uppercase();
            assert_eq!(
                book.scenario_for(&subscription(&upper)),
                expected,
                "{upper}"
            );
            // Tenant accounts are marked through the tenant ID.
            let tenant = request(tenant_body(&marked(prefix), true));
            assert_eq!(book.scenario_for(&tenant), expected, "tenant {prefix}");
        }
        assert_eq!(book.scenario_for(&subscription(SUB)), Scenario::Healthy);
        // A marker in the tenant ID of a subscription account does not count.
        let mut body = subscription_body(SUB);
        body["tenantId"] = json!(marked("0000dead"));
        assert_eq!(book.scenario_for(&request(body)), Scenario::Healthy);
    }

    #[test]
    fn explicit_book_entry_beats_marker_and_matches_any_id_ignoring_case() {
        let marked_sub = marked("0000dead");
        let book = ScenarioBook::from_json(&format!(
            r#"{{"by_id": {{"{}": "healthy"}}}}"#,
            marked_sub.to_ascii_uppercase()
        ))
        .unwrap();
        assert_eq!(book.by_id.keys().next().unwrap(), &marked_sub);
        assert_eq!(
            book.scenario_for(&subscription(&marked_sub)),
            Scenario::Healthy
        );

        // Subscription entry wins over tenant entry, tenant over client.
        let book = ScenarioBook::from_json(&format!(
            r#"{{"by_id": {{"{SUB}": "flow_logs_role_missing", "{TENANT}": "missing_graph_consent",
                "{CLIENT}": "subscription_not_found"}}}}"#
        ))
        .unwrap();
        assert_eq!(
            book.scenario_for(&subscription(SUB)),
            Scenario::FlowLogsRoleMissing
        );
        let other_sub = "abcdefab-0000-4000-8000-000000000000";
        assert_eq!(
            book.scenario_for(&subscription(other_sub)),
            Scenario::MissingGraphConsent
        );
        let mut body = subscription_body(other_sub);
        body["tenantId"] = json!("12121212-0000-4000-8000-000000000000");
        assert_eq!(
            book.scenario_for(&request(body)),
            Scenario::SubscriptionNotFound
        );

        // A non-normalized entry inserted directly (admin endpoint) still matches.
        let mut book = ScenarioBook::default();
        book.by_id.insert(
            format!("  {}  ", SUB.to_ascii_uppercase()),
            Scenario::AgentlessRoleMissing,
        );
        assert_eq!(
            book.scenario_for(&subscription(SUB)),
            Scenario::AgentlessRoleMissing
        );
    }

    #[test]
    fn service_principal_equal_to_client_id_is_wrong_service_principal() {
        let book = ScenarioBook::default();
        let mut body = all_features_body(SUB);
        body["servicePrincipalId"] = json!(CLIENT.to_ascii_uppercase());
        let req = request(body);
        assert_eq!(book.scenario_for(&req), Scenario::WrongServicePrincipal);

        let results = evaluate(&req, &book);
        assert_eq!(results.len(), 6);
        for r in &results {
            assert_eq!(r.status, "error", "{:?}", r.capability);
            assert!(r.message.contains("service principal"), "{}", r.message);
            assert!(
                r.remediation.contains("Enterprise applications"),
                "{}",
                r.remediation
            );
            assert!(
                r.remediation.contains("App registrations"),
                "{}",
                r.remediation
            );
        }
        assert_eq!(to_config_status(&results).len(), 6);

        // A missing servicePrincipalId is not treated as equal to the client ID.
        let mut body = subscription_body(SUB);
        body.as_object_mut().unwrap().remove("servicePrincipalId");
        assert_eq!(book.scenario_for(&request(body)), Scenario::Healthy);
    }

    #[test]
    fn healthy_subscription_reports_exactly_the_requested_capabilities_ok() {
        let mut body = subscription_body(SUB);
        body["monitorFlowLogs"] = json!(true);
        body["features"] = json!([
            { "name": "Agentless Scanning", "state": "enabled" },
            { "name": "Auto Protect", "state": "enabled" },
            { "name": "Remediation", "state": "disabled" },
            { "name": "Telepathy", "state": "enabled" }
        ]);
        let req = request(body);
        assert_eq!(
            requested_capabilities(&req),
            vec![
                Capability::Configuration,
                Capability::FlowLogs,
                Capability::AgentlessScanning,
                Capability::AutoProtect
            ]
        );
        let results = evaluate(&req, &ScenarioBook::default());
        assert_eq!(
            statuses(&results),
            vec![
                (Capability::Configuration, "ok"),
                (Capability::FlowLogs, "ok"),
                (Capability::AgentlessScanning, "ok"),
                (Capability::AutoProtect, "ok")
            ]
        );
        assert!(results.iter().all(|r| r.remediation.is_empty()));

        let checks = to_status_checks(&results);
        let ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "configuration",
                "flow_logs",
                "agentless_scanning",
                "auto_protect"
            ]
        );
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Cloud Visibility Compliance and Governance",
                "Flow Logs",
                "Agentless Scanning",
                "Auto Protect"
            ]
        );
        let wire = serde_json::to_value(&checks[0]).unwrap();
        assert_eq!(wire["status"], "ok");
        assert_eq!(wire["statusMessage"]["staticMessage"], true);
        assert!(to_config_status(&results).is_empty());
    }

    #[test]
    fn requested_capabilities_by_account_shape() {
        // Entra-only tenant: no Configuration, only Entra ID.
        let entra = request(tenant_body(TENANT, false));
        assert_eq!(requested_capabilities(&entra), vec![Capability::EntraId]);
        // Tenant with management groups: Configuration + Entra ID (+ features).
        let mut body = tenant_body(TENANT, true);
        body["features"] = json!([{ "name": "serverless function scanning", "state": "Enabled" }]);
        assert_eq!(
            requested_capabilities(&request(body)),
            vec![
                Capability::Configuration,
                Capability::ServerlessScanning,
                Capability::EntraId
            ]
        );
        // Legacy protection mode means Remediation.
        let mut body = subscription_body(SUB);
        body["cloudAccount"]["protectionMode"] = json!("MONITOR_AND_PROTECT");
        assert_eq!(
            requested_capabilities(&request(body)),
            vec![Capability::Configuration, Capability::Remediation]
        );
    }

    #[test]
    fn missing_graph_consent_lists_all_eight_permissions() {
        let book = ScenarioBook::default();
        let req = request(tenant_body(&marked("00000c0c"), true));
        let results = evaluate(&req, &book);
        assert_eq!(
            statuses(&results),
            vec![
                (Capability::Configuration, "ok"),
                (Capability::EntraId, "error")
            ]
        );
        let entra = &results[1];
        assert_eq!(
            entra.message,
            "Prisma Cloud application is not assigned following role(s): User.Read.All, \
             Application.Read.All, Reports.Read.All, Directory.Read.All, Domain.Read.All, \
             Group.Read.All, GroupMember.Read.All, Policy.Read.All"
        );
        for permission in GRAPH_PERMISSIONS {
            assert!(entra.message.contains(permission), "{permission}");
        }
        assert!(entra.remediation.contains("admin consent"));
        assert!(entra.remediation.contains("azuread_app_role_assignment"));
        assert!(entra.remediation.contains("f_consent_link"));

        let config = to_config_status(&results);
        assert_eq!(config.len(), 1);
        assert_eq!(config[0].name, "Microsoft Entra ID");
        assert_eq!(config[0].status, "error");
        assert_eq!(config[0].sub_components.len(), 8);
        let subs: Vec<&str> = config[0]
            .sub_components
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(subs, GRAPH_PERMISSIONS);
        assert!(config[0].sub_components.iter().all(|s| s.status == "error"));

        // Subscription account: the Configuration check gets a warning with the same text.
        let results = evaluate(&subscription(&marked("00000c0c")), &book);
        assert_eq!(
            statuses(&results),
            vec![(Capability::Configuration, "warning")]
        );
        let config = to_config_status(&results);
        assert_eq!(config[0].name, "Cloud Visibility Compliance and Governance");
        assert_eq!(config[0].sub_components.len(), 8);
    }

    #[test]
    fn to_config_status_drops_ok_items() {
        let book = ScenarioBook::default();
        let req = request(all_features_body(&marked("00000a7e")));
        let results = evaluate(&req, &book);
        assert_eq!(results.len(), 6);
        assert_eq!(results.iter().filter(|r| r.status == "ok").count(), 5);
        let auto = results
            .iter()
            .find(|r| r.capability == Capability::AutoProtect)
            .unwrap();
        assert_eq!(auto.status, "error");
        assert!(
            auto.message
                .contains("Microsoft.KeyVault/vaults/keys/unwrapKey/action")
        );
        assert!(
            auto.message
                .contains("Microsoft.KeyVault/vaults/keys/wrapKey/action")
        );
        assert!(
            auto.remediation
                .contains("Key Vault Crypto Service Encryption User")
        );
        assert!(auto.remediation.contains("unwrapaction"));

        assert_eq!(to_status_checks(&results).len(), 6);
        let config = to_config_status(&results);
        assert_eq!(config.len(), 1);
        assert_eq!(config[0].name, "Auto Protect");
        assert_eq!(config[0].status, "error");
        assert!(!config[0].remediation.is_empty());
        let subs: Vec<&str> = config[0]
            .sub_components
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            subs,
            [
                "Microsoft.KeyVault/vaults/keys/unwrapKey/action",
                "Microsoft.KeyVault/vaults/keys/wrapKey/action"
            ]
        );
        let wire = serde_json::to_value(&config).unwrap();
        assert_eq!(wire[0]["subComponents"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn role_scenarios_fail_only_their_capability() {
        let book = ScenarioBook::default();
        let cases = [
            (
                "0000f10e",
                Capability::FlowLogs,
                "queryFlowLogStatus/action",
                "Reader and Data Access",
            ),
            (
                "00000a9e",
                Capability::AgentlessScanning,
                "Microsoft.Compute/snapshots/write",
                "custom role",
            ),
            (
                "00005e1f",
                Capability::ServerlessScanning,
                "Microsoft.Web/sites/config/list/action",
                "custom role",
            ),
            (
                "00000fed",
                Capability::Remediation,
                "securityRules/write",
                "Network Contributor",
            ),
        ];
        for (prefix, failing, action, role) in cases {
            let results = evaluate(&request(all_features_body(&marked(prefix))), &book);
            for r in &results {
                if r.capability == failing {
                    assert_eq!(r.status, "error", "{prefix}");
                    assert!(r.message.contains(action), "{prefix}: {}", r.message);
                    assert!(r.message.contains(role), "{prefix}: {}", r.message);
                } else {
                    assert_eq!(r.status, "ok", "{prefix} {:?}", r.capability);
                }
            }
            let config = to_config_status(&results);
            assert_eq!(config.len(), 1, "{prefix}");
            assert!(
                config[0]
                    .sub_components
                    .iter()
                    .any(|s| s.name.contains(action)),
                "{prefix}"
            );
        }
    }

    #[test]
    fn flow_logs_role_missing_without_flow_logs_is_healthy() {
        let mut body = subscription_body(&marked("0000f10e"));
        body["features"] = json!([{ "name": "Agentless Scanning", "state": "enabled" }]);
        let req = request(body);
        assert_eq!(
            ScenarioBook::default().scenario_for(&req),
            Scenario::FlowLogsRoleMissing
        );
        let results = evaluate(&req, &ScenarioBook::default());
        assert_eq!(
            statuses(&results),
            vec![
                (Capability::Configuration, "ok"),
                (Capability::AgentlessScanning, "ok")
            ]
        );
        assert!(to_config_status(&results).is_empty());
    }

    #[test]
    fn subscription_not_found_fails_everything_with_prismas_message() {
        let results = evaluate(
            &request(all_features_body(&marked("0000dead"))),
            &ScenarioBook::default(),
        );
        assert_eq!(results.len(), 6);
        for r in &results {
            assert_eq!(r.status, "error");
            assert_eq!(
                r.message,
                "Authentication failed. Azure Subscription not found."
            );
            assert!(r.remediation.contains("disabled"));
        }
        let config = to_config_status(&results);
        assert_eq!(config.len(), 6);
        assert!(config.iter().all(|c| c.sub_components.is_empty()));
    }

    #[test]
    fn from_json_reports_problems() {
        let err = ScenarioBook::from_json(&format!(r#"{{"by_id": {{"{SUB}": "on_fire"}}}}"#))
            .unwrap_err();
        assert!(err.contains("unknown scenario \"on_fire\""), "{err}");
        assert!(err.contains(SUB), "{err}");
        assert!(err.contains("missing_graph_consent"), "{err}");

        let err = ScenarioBook::from_json("{\"by_id\": ").unwrap_err();
        assert!(err.contains("not valid JSON"), "{err}");
        let err = ScenarioBook::from_json(r#"{"byid": {}}"#).unwrap_err();
        assert!(err.contains("unknown key \"byid\""), "{err}");
        let err = ScenarioBook::from_json(r#"{"by_id": {"x": 3}}"#).unwrap_err();
        assert!(err.contains("must be a scenario name string"), "{err}");
        let err = ScenarioBook::from_json(r#"{"by_id": []}"#).unwrap_err();
        assert!(err.contains("must be an object"), "{err}");
        let err = ScenarioBook::from_json(
            r#"{"by_id": {"AB": "healthy", "ab": "subscription_not_found"}}"#,
        )
        .unwrap_err();
        assert!(err.contains("twice"), "{err}");

        let book = ScenarioBook::from_json("{}").unwrap();
        assert!(book.by_id.is_empty());
        let book = ScenarioBook::from_json(&format!(
            r#"{{"by_id": {{"{SUB}": "auto_protect_key_vault_missing"}}}}"#
        ))
        .unwrap();
        assert_eq!(
            book.by_id.get(SUB),
            Some(&Scenario::AutoProtectKeyVaultMissing)
        );
    }

    #[test]
    fn snake_names_match_serde() {
        for cap in Capability::ALL {
            assert_eq!(serde_json::to_value(cap).unwrap(), cap.id());
        }
        for scenario in Scenario::ALL {
            assert_eq!(serde_json::to_value(scenario).unwrap(), scenario.as_str());
        }
    }
}
