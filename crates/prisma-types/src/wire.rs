//! Request and response bodies of the Prisma Cloud CSPM API, field for field.
//!
//! Field names follow `../shared/reference/prisma-api.md` exactly (camelCase on the wire).
//! Inbound identifiers stay `String` here on purpose: the emulator must be able to receive a
//! malformed ID and answer `invalid_account_id_format`, and the client builds these bodies only
//! from validated [`crate::account`] types. Response models are lenient (`#[serde(default)]`),
//! because the real service omits fields freely.

use serde::{Deserialize, Serialize};

use crate::secret::{self, SecretString};

// ---------------------------------------------------------------------------------------------
// Authentication (§1)

/// `POST /login`.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    pub username: String,
    #[serde(serialize_with = "secret::serialize_exposed")]
    pub password: SecretString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prisma_id: Option<String>,
}

/// The answer of `POST /login` and `GET /auth_token/extend`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "secret::serialize_exposed_opt"
    )]
    pub token: Option<SecretString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default)]
    pub customer_names: Vec<CustomerName>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CustomerName {
    pub customer_name: String,
    #[serde(default)]
    pub prisma_id: String,
    #[serde(default)]
    pub tos_accepted: bool,
}

// ---------------------------------------------------------------------------------------------
// Errors (§6)

/// One entry of the `x-redlock-status` response header (a JSON array of these).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RedlockStatus {
    pub i18n_key: String,
    #[serde(default = "default_severity")]
    pub severity: String,
    #[serde(default)]
    pub subject: Option<String>,
}

fn default_severity() -> String {
    "error".to_owned()
}

/// The JSON error body of the CAS template and features services (Spring style).
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
    pub status: String,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub debug_message: String,
}

/// The response header that carries [`RedlockStatus`] entries.
pub const REDLOCK_STATUS_HEADER: &str = "x-redlock-status";
/// The request header that carries the JWT.
pub const AUTH_HEADER: &str = "x-redlock-auth";
/// The request id Prisma returns on every response.
pub const REQUEST_ID_HEADER: &str = "x-redlock-request-id";

// ---------------------------------------------------------------------------------------------
// Features and template (§3.1, §3.2)

/// `POST /cas/v1/features/cloud/azure`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct FeaturesRequest {
    pub account_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_sync_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_partition: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FeaturesResponse {
    #[serde(default)]
    pub cloud_type: String,
    #[serde(default)]
    pub deployment_type: String,
    #[serde(default)]
    pub account_type: String,
    #[serde(default)]
    pub license_type: String,
    #[serde(default)]
    pub supported_features: Vec<String>,
}

/// `POST /cas/v1/azure_template`. The answer is the Terraform JSON configuration itself.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRequest {
    pub account_type: String,
    pub tenant_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_sync_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Add / update / status (§3.3–3.5, legacy §3.8)

/// Body of `POST /cas/v1/azure_account`, `PUT /cas/v1/azure_account/{id}`,
/// `POST /cas/v1/cloud_account/status/azure` and the legacy `/cloud/azure` endpoints.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct AzureAccountRequest {
    pub cloud_account: CloudAccountSpec,
    #[serde(default)]
    pub client_id: String,
    #[serde(default = "empty_secret", serialize_with = "secret::serialize_exposed")]
    pub key: SecretString,
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default)]
    pub environment_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_flow_logs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<FeatureState>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_account_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hierarchy_selection: Option<Vec<HierarchySelection>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_sync_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_group_mode: Option<String>,
}

fn empty_secret() -> SecretString {
    SecretString::new(String::new())
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccountSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default)]
    pub account_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_ids: Option<Vec<String>>,
    /// Legacy v1 only: `MONITOR` or `MONITOR_AND_PROTECT` (= the Remediation feature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection_mode: Option<String>,
}

/// A feature in a request: `{name, state, defaultMemberState}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FeatureState {
    pub name: String,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_member_state: Option<String>,
}

/// One entry of `hierarchySelection`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HierarchySelection {
    pub resource_id: String,
    #[serde(default)]
    pub display_name: String,
    /// `SUBSCRIPTION` | `MANAGEMENT_GROUP` | `TENANT`.
    pub node_type: String,
    /// `ALL` | `INCLUDE` | `EXCLUDE`.
    pub selection_type: String,
}

/// One capability check of `POST /cas/v1/cloud_account/status/azure`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccountStatus {
    #[serde(default)]
    pub id: String,
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub status_message: StatusMessage,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatusMessage {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub static_message: bool,
}

/// One item of `GET /account/{id}/config/status` (only warnings and errors are listed).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigStatusItem {
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub remediation: String,
    #[serde(default)]
    pub sub_components: Vec<ConfigStatusItem>,
}

// ---------------------------------------------------------------------------------------------
// Reads (§3.7, §8)

/// `GET /v1/cloudAccounts/azureAccounts/{id}`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct AzureAccountView {
    pub cloud_account: AzureCloudAccountView,
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub service_principal_id: String,
    /// Always asterisks.
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub environment_type: String,
    #[serde(default)]
    pub monitor_flow_logs: bool,
    #[serde(default)]
    pub group_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_account_group_id: Option<String>,
    #[serde(default)]
    pub root_sync_enabled: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hierarchy_selection: Vec<HierarchySelection>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct AzureCloudAccountView {
    pub account_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub cloud_type: String,
    #[serde(default)]
    pub account_type: String,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub deployment_type: String,
    #[serde(default)]
    pub deployment_type_description: String,
    #[serde(default)]
    pub created_epoch_millis: i64,
    #[serde(default)]
    pub last_modified_epoch_millis: i64,
    /// `MONITOR`, or `MONITOR_AND_PROTECT` with Remediation on.
    #[serde(default)]
    pub protection_mode: String,
    #[serde(default)]
    pub last_modified_by: String,
    #[serde(default)]
    pub customer_name: String,
    #[serde(default)]
    pub features: Vec<FeatureView>,
}

/// A feature as reads return it: note `featureName`/`featureState`, not `name`/`state`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FeatureView {
    pub feature_name: String,
    pub feature_state: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_member_state: Option<String>,
}

/// `GET /cloud/azure/{id}`: the nested shape real clients read.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccountDetails {
    pub cloud_account: CloudAccountListItem,
    #[serde(default)]
    pub client_id: String,
    /// Always asterisks.
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default)]
    pub service_principal_id: String,
    #[serde(default)]
    pub monitor_flow_logs: bool,
    #[serde(default)]
    pub environment_type: String,
    #[serde(default)]
    pub features: Vec<FeatureState>,
}

/// An element of `GET /cloud`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccountListItem {
    pub account_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub cloud_type: String,
    #[serde(default)]
    pub account_type: String,
    #[serde(default)]
    pub parent_account_id: Option<String>,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub last_modified_ts: i64,
    #[serde(default)]
    pub last_modified_by: String,
    #[serde(default)]
    pub added_on: i64,
    /// `MONITOR`, or `MONITOR_AND_PROTECT` with Remediation on.
    #[serde(default)]
    pub protection_mode: String,
    #[serde(default)]
    pub deployment_type: String,
    #[serde(default)]
    pub group_ids: Vec<String>,
    #[serde(default)]
    pub groups: Vec<GroupRef>,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub number_of_child_accounts: u32,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub id: String,
    pub name: String,
}

/// An element of `GET /cloud/name`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccountName {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub cloud_type: String,
    #[serde(default)]
    pub parent_account_name: Option<String>,
}

/// An element of `GET /cloud/group`, and the answer of `POST /cloud/group`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct AccountGroup {
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
}

/// Body of `POST /cloud/group`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct AccountGroupRequest {
    pub name: String,
    #[serde(default)]
    pub account_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Body of `POST /cloud-accounts-manager/v1/cloudAccounts/azureAccounts/{parent}/children`.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ListChildrenRequest {
    pub cloud_account: ChildrenCloudAccount,
    #[serde(default)]
    pub client_id: String,
    #[serde(default = "empty_secret", serialize_with = "secret::serialize_exposed")]
    pub key: SecretString,
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default)]
    pub service_principal_id: String,
    #[serde(default)]
    pub environment_type: String,
    #[serde(default)]
    pub root_sync_enabled: bool,
    #[serde(default)]
    pub monitor_flow_logs: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct ChildrenCloudAccount {
    #[serde(default)]
    pub account_type: String,
    #[serde(default)]
    pub account_id: String,
}

/// A node of the Azure hierarchy: `TENANT`, `MANAGEMENT_GROUP` or `ACCOUNT` (subscription).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HierarchyNode {
    pub id: String,
    #[serde(rename = "type")]
    pub node_type: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub has_child: bool,
}
