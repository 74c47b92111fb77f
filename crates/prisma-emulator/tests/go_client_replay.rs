//! The Terraform provider's Go client (`prisma-cloud-go`, vendored in
//! `PaloAltoNetworks/terraform-provider-prismacloud` under
//! `vendor/github.com/paloaltonetworks/prisma-cloud-go/`), replayed: the exact request bodies
//! its structs marshal to (every field present, `""`/`false`/`0` zero values, `null` for nil
//! slices, as Go's `encoding/json` writes them) on the paths its funcs build, and the fields
//! its response structs decode checked on what the emulator answers.
//!
//! Resources covered: `prismacloud_cloud_account_v2` (Azure), `prismacloud_org_cloud_account_v2`
//! (Azure tenant), the legacy `prismacloud_cloud_account` (Azure) and
//! `prismacloud_account_group`, with their data sources' list and lookup-by-name calls and the
//! provider's update-after-read.

use prisma_emulator::EmulatorConfig;
use prisma_types::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const KEY: &str = "go-client-key";
const SECRET: &str = "go-client-secret-0123456789";
const TENANT: &str = "7e000000-0000-4000-8000-0000000000e5";
const ORG_TENANT: &str = "7e000000-0000-4000-8000-0000000000f6";
const SUB: &str = "5d000000-0000-4000-8000-0000000000e5";
const LEGACY_SUB: &str = "5d000000-0000-4000-8000-0000000000e6";
const CLIENT: &str = "c1000000-0000-4000-8000-0000000000e5";
const SP: &str = "5e000000-0000-4000-8000-0000000000e5";
const CLIENT_SECRET: &str = "go-canary-azure-client-secret";

struct GoClient {
    http: reqwest::Client,
    base: String,
    token: String,
    stop: CancellationToken,
}

impl GoClient {
    async fn start() -> Self {
        let mut config = EmulatorConfig::new(KEY, SecretString::from(SECRET));
        config.read_delay = std::time::Duration::ZERO;
        let stop = CancellationToken::new();
        let emu = prisma_emulator::spawn(
            "127.0.0.1:0".parse().unwrap(),
            config,
            None,
            stop.clone().cancelled_owned(),
        )
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let base = emu.base_url();
        // client.go: `Initialize` posts username/password (customerName omitempty).
        let login: Value = http
            .post(format!("{base}/login"))
            .json(&json!({"username": KEY, "password": SECRET}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            http,
            base,
            token: login["token"].as_str().unwrap().to_owned(),
            stop,
        }
    }

    /// `Communicate(method, path, nil, body, &ans)`: JSON in, JSON (or nothing) out; any
    /// non-2xx is a failure of the replayed call.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, text) = self.try_call(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, String) {
        let mut req = self
            .http
            .request(method, format!("{}/{path}", self.base))
            .header("x-redlock-auth", &self.token)
            .header("Content-Type", "application/json");
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        let res = req.send().await.unwrap();
        (res.status(), res.text().await.unwrap())
    }

    /// The Go client's `Get` for Azure: `ListSuffix + "azureAccounts" + id`.
    async fn azure_account(&self, id: &str) -> Value {
        self.call(
            reqwest::Method::GET,
            &format!("v1/cloudAccounts/azureAccounts/{id}"),
            None,
        )
        .await
    }

    async fn default_group(&self) -> String {
        let names = self
            .call(reqwest::Method::GET, "cloud/group/name", None)
            .await;
        group_id_by_name(&names, "Default Account Group")
    }
}

impl Drop for GoClient {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// `group.Identify`: `GET cloud/group/name` into `[]NameId`, first exact name match.
fn group_id_by_name(names: &Value, name: &str) -> String {
    names
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no group {name} in {names}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every key a Go response struct decodes must be there with the JSON type of its Go field
/// (a missing key would silently decode as the zero value and show up as a Terraform diff).
fn assert_decodes(value: &Value, fields: &[(&str, &str)]) {
    for (field, kind) in fields {
        let v = &value[*field];
        let ok = match *kind {
            "string" => v.is_string(),
            "bool" => v.is_boolean(),
            "int" => v.is_i64() || v.is_u64(),
            "array" => v.is_array(),
            "string|null" => v.is_string() || v.is_null(),
            other => panic!("unknown kind {other}"),
        };
        assert!(ok, "{field} should be a {kind}: {value}");
    }
}

/// `accountv2.CloudAccountAzureResp` / `org.CloudAccountAzureResp`
/// (cloud/account-v2/structs.go, cloud/account-v2/org/structs.go).
const CLOUD_ACCOUNT_AZURE_RESP: &[(&str, &str)] = &[
    ("accountId", "string"),
    ("name", "string"),
    ("cloudType", "string"),
    ("enabled", "bool"),
    ("parentId", "string|null"),
    ("accountType", "string"),
    ("deleted", "bool"),
    ("protectionMode", "string"),
    ("deploymentType", "string"),
    ("customerName", "string"),
    ("createdEpochMillis", "int"),
    ("lastModifiedEpochMillis", "int"),
    ("lastModifiedBy", "string"),
    ("features", "array"),
    ("deploymentTypeDescription", "string"),
];

#[tokio::test]
async fn cloud_account_v2_azure_create_poll_identify_update_disable_delete() {
    let go = GoClient::start().await;
    let group = go.default_group().await;
    // accountv2.Azure + CloudAccountAzure (cloud/account-v2/structs.go), POSTed by
    // createUpdate to Suffix + "azure_account" = cas/v1/azure_account.
    let mut body = json!({
        "cloudAccount": {"accountId": SUB, "enabled": true, "name": "tf-subscription",
                         "accountType": "account", "groupIds": [group]},
        "clientId": CLIENT, "key": CLIENT_SECRET, "monitorFlowLogs": false,
        "tenantId": TENANT, "servicePrincipalId": SP, "environmentType": "azure",
        "features": [{"name": "Remediation", "state": "enabled"}],
        "enabled": true
    });
    go.call(
        reqwest::Method::POST,
        "cas/v1/azure_account",
        Some(body.clone()),
    )
    .await;

    // The provider polls Get (ListSuffix + "azureAccounts" + id) into accountv2.AzureV2.
    let read = go.azure_account(SUB).await;
    assert_decodes(&read["cloudAccount"], CLOUD_ACCOUNT_AZURE_RESP);
    assert_decodes(
        &read,
        &[
            ("clientId", "string"),
            ("environmentType", "string"),
            ("key", "string"),
            ("monitorFlowLogs", "bool"),
            ("servicePrincipalId", "string"),
            ("groupIds", "array"),
            ("tenantId", "string"),
        ],
    );
    let account = &read["cloudAccount"];
    assert_eq!(account["protectionMode"], "MONITOR_AND_PROTECT");
    assert_eq!(account["lastModifiedBy"], KEY);
    assert_eq!(account["customerName"], "sandbox");
    assert_eq!(account["features"][0]["featureState"], "enabled");
    assert!(!read.to_string().contains(CLIENT_SECRET));

    // The data source's Identify: List (ListSuffixAzure) into []AzureAccountResponse, match
    // cloudType case-insensitively and name exactly.
    let list = go
        .call(reqwest::Method::GET, "v1/cloudAccounts/azureAccounts", None)
        .await;
    let found: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["cloudAccount"]["cloudType"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("azure"))
                && a["cloudAccount"]["name"] == "tf-subscription"
        })
        .collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["cloudAccount"]["accountId"], SUB);

    // Update after read: the same struct with the changed name, PUT to .../azure_account/{id}.
    body["cloudAccount"]["name"] = json!("tf-subscription-2");
    go.call(
        reqwest::Method::PUT,
        &format!("cas/v1/azure_account/{SUB}"),
        Some(body),
    )
    .await;
    let read = go.azure_account(SUB).await;
    assert_eq!(read["cloudAccount"]["name"], "tf-subscription-2");

    // disable_on_destroy: DisableCloudAccount PATCHes cloud/{id}/status/false; then Delete.
    go.call(
        reqwest::Method::PATCH,
        &format!("cloud/{SUB}/status/false"),
        None,
    )
    .await;
    let read = go.azure_account(SUB).await;
    assert_eq!(read["cloudAccount"]["enabled"], false);
    go.call(reqwest::Method::DELETE, &format!("cloud/azure/{SUB}"), None)
        .await;
    let (status, _) = go
        .try_call(
            reqwest::Method::GET,
            &format!("v1/cloudAccounts/azureAccounts/{SUB}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn org_cloud_account_v2_azure_tenant_without_environment_type() {
    let go = GoClient::start().await;
    let group = go.default_group().await;
    // org.AzureOrg + OrgAccountAzure (cloud/account-v2/org/structs.go): no environmentType
    // field at all, groupIds/features nil, protectionMode "".
    let mut body = json!({
        "cloudAccount": {"accountId": ORG_TENANT, "enabled": true, "groupIds": null,
                         "name": "tf-tenant", "protectionMode": "", "accountType": "tenant"},
        "enabled": true, "clientId": CLIENT,
        "hierarchySelection": [{"resourceId": ORG_TENANT, "displayName": "Tenant Root Group",
                                "nodeType": "TENANT", "selectionType": "ALL"}],
        "defaultAccountGroupId": group, "key": CLIENT_SECRET, "monitorFlowLogs": false,
        "tenantId": ORG_TENANT, "servicePrincipalId": SP, "features": null,
        "rootSyncEnabled": true
    });
    go.call(
        reqwest::Method::POST,
        "cas/v1/azure_account",
        Some(body.clone()),
    )
    .await;
    // org.Get: ListSuffix + "azureAccounts" + id into org.AzureOrgV2.
    let read = go.azure_account(ORG_TENANT).await;
    assert_decodes(&read["cloudAccount"], CLOUD_ACCOUNT_AZURE_RESP);
    assert_decodes(
        &read,
        &[
            ("clientId", "string"),
            ("environmentType", "string"),
            ("hierarchySelection", "array"),
            ("defaultAccountGroupId", "string"),
            ("rootSyncEnabled", "bool"),
            ("groupIds", "array"),
            ("tenantId", "string"),
        ],
    );
    assert_eq!(read["environmentType"], "azure", "defaulted, not refused");
    assert_eq!(read["cloudAccount"]["accountType"], "tenant");
    assert_eq!(read["hierarchySelection"][0]["nodeType"], "TENANT");
    // org.Identify for azure: ListAzure, then cloudType/name.
    let list = go
        .call(reqwest::Method::GET, "v1/cloudAccounts/azureAccounts", None)
        .await;
    let tenant = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["cloudAccount"]["name"] == "tf-tenant")
        .expect("the tenant is listed");
    assert_eq!(tenant["cloudAccount"]["accountId"], ORG_TENANT);
    let children = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["cloudAccount"]["parentId"] == ORG_TENANT)
        .count();
    assert_eq!(
        children, 6,
        "the tenant's subscriptions are listed as its children"
    );
    // Update after read: createUpdate PUTs to azure_account/{OrgAccountAzure.AccountId}.
    body["cloudAccount"]["name"] = json!("tf-tenant-2");
    go.call(
        reqwest::Method::PUT,
        &format!("cas/v1/azure_account/{ORG_TENANT}"),
        Some(body),
    )
    .await;
    let read = go.azure_account(ORG_TENANT).await;
    assert_eq!(read["cloudAccount"]["name"], "tf-tenant-2");
    go.call(
        reqwest::Method::DELETE,
        &format!("cloud/azure/{ORG_TENANT}"),
        None,
    )
    .await;
}

#[tokio::test]
async fn legacy_cloud_account_azure_without_account_type() {
    let go = GoClient::start().await;
    let group = go.default_group().await;
    // account.Azure + account.CloudAccount (cloud/account/structs.go): accountType is a plain
    // string, so an unset one is sent as "" — and there is no environmentType.
    let mut body = json!({
        "cloudAccount": {"accountId": LEGACY_SUB, "enabled": true, "groupIds": [group],
                         "name": "tf-legacy", "protectionMode": "MONITOR", "accountType": ""},
        "clientId": CLIENT, "key": CLIENT_SECRET, "monitorFlowLogs": false,
        "tenantId": TENANT, "servicePrincipalId": SP
    });
    go.call(reqwest::Method::POST, "cloud/azure", Some(body.clone()))
        .await;
    // account.Identify: Names() into []NameTypeId, cloudType compared case-sensitively.
    let names = go.call(reqwest::Method::GET, "cloud/name", None).await;
    let hit = names
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["cloudType"] == "azure" && n["name"] == "tf-legacy")
        .expect("found by name");
    assert_eq!(hit["id"], LEGACY_SUB);
    // account.Get into account.Azure: cloudAccount is account.CloudAccount.
    let read = go
        .call(
            reqwest::Method::GET,
            &format!("cloud/azure/{LEGACY_SUB}"),
            None,
        )
        .await;
    assert_decodes(
        &read["cloudAccount"],
        &[
            ("accountId", "string"),
            ("enabled", "bool"),
            ("groupIds", "array"),
            ("name", "string"),
            ("protectionMode", "string"),
            ("accountType", "string"),
        ],
    );
    assert_decodes(
        &read,
        &[
            ("clientId", "string"),
            ("key", "string"),
            ("monitorFlowLogs", "bool"),
            ("tenantId", "string"),
            ("servicePrincipalId", "string"),
        ],
    );
    assert_eq!(read["cloudAccount"]["accountType"], "account");
    assert_eq!(read["cloudAccount"]["protectionMode"], "MONITOR");
    // account.List: GET cloud into []account.Account.
    let list = go.call(reqwest::Method::GET, "cloud", None).await;
    let item = &list.as_array().unwrap()[0];
    assert_decodes(
        item,
        &[
            ("name", "string"),
            ("cloudType", "string"),
            ("accountType", "string"),
            ("enabled", "bool"),
            ("lastModifiedTs", "int"),
            ("lastModifiedBy", "string"),
            ("protectionMode", "string"),
            ("groupIds", "array"),
            ("groups", "array"),
            ("status", "string"),
            ("numberOfChildAccounts", "int"),
            ("accountId", "string"),
            ("addedOn", "int"),
        ],
    );
    // Update after read: the provider re-sends the struct it holds; here with the masked key
    // the read returned, which keeps the stored secret. MONITOR_AND_PROTECT turns Remediation on.
    body["key"] = read["key"].clone();
    body["cloudAccount"]["protectionMode"] = json!("MONITOR_AND_PROTECT");
    go.call(
        reqwest::Method::PUT,
        &format!("cloud/azure/{LEGACY_SUB}"),
        Some(body),
    )
    .await;
    let read = go
        .call(
            reqwest::Method::GET,
            &format!("cloud/azure/{LEGACY_SUB}"),
            None,
        )
        .await;
    assert_eq!(
        read["cloudAccount"]["protectionMode"],
        "MONITOR_AND_PROTECT"
    );
    go.call(
        reqwest::Method::DELETE,
        &format!("cloud/azure/{LEGACY_SUB}"),
        None,
    )
    .await;
}

#[tokio::test]
async fn account_group_create_identify_read_update_delete() {
    let go = GoClient::start().await;
    let default = go.default_group().await;
    // group.Group (cloud/account/group/structs.go): id omitempty, accounts/alertRules
    // omitempty, accountIds a nil slice → null.
    go.call(
        reqwest::Method::POST,
        "cloud/group",
        Some(
            json!({"name": "tf-group", "description": "", "lastModifiedBy": "",
                    "lastModifiedTs": 0, "accountIds": null}),
        ),
    )
    .await;
    let names = go
        .call(reqwest::Method::GET, "cloud/group/name", None)
        .await;
    let id = group_id_by_name(&names, "tf-group");
    let read = go
        .call(reqwest::Method::GET, &format!("cloud/group/{id}"), None)
        .await;
    assert_decodes(
        &read,
        &[
            ("id", "string"),
            ("name", "string"),
            ("description", "string"),
            ("lastModifiedBy", "string"),
            ("lastModifiedTs", "int"),
            ("accountIds", "array"),
        ],
    );
    assert_eq!(read["lastModifiedBy"], KEY);

    // A subscription to put in the group (the v2 body, as above).
    go.call(
        reqwest::Method::POST,
        "cas/v1/azure_account",
        Some(json!({
            "cloudAccount": {"accountId": SUB, "enabled": true, "name": "tf-member",
                             "accountType": "account", "groupIds": [default]},
            "clientId": CLIENT, "key": CLIENT_SECRET, "monitorFlowLogs": false,
            "tenantId": TENANT, "servicePrincipalId": SP, "environmentType": "azure",
            "features": null, "enabled": true
        })),
    )
    .await;
    // Update after read: the Group as read (id, lastModified*, accounts…) with new values.
    let mut update = read.clone();
    update["name"] = json!("tf-group-2");
    update["description"] = json!("managed by terraform");
    update["accountIds"] = json!([SUB]);
    go.call(
        reqwest::Method::PUT,
        &format!("cloud/group/{id}"),
        Some(update),
    )
    .await;
    let read = go
        .call(reqwest::Method::GET, &format!("cloud/group/{id}"), None)
        .await;
    assert_eq!(read["name"], "tf-group-2");
    assert_eq!(read["accountIds"], json!([SUB]));
    assert_eq!(read["accounts"][0]["name"], "tf-member");
    assert_eq!(read["accounts"][0]["type"], "azure");
    let account = go.azure_account(SUB).await;
    assert_eq!(
        account["groupIds"].as_array().unwrap().len(),
        2,
        "the account is in both groups"
    );

    // Delete is refused while the group holds an account, then succeeds once it is empty.
    let (status, _) = go
        .try_call(reqwest::Method::DELETE, &format!("cloud/group/{id}"), None)
        .await;
    assert_eq!(status, 409);
    let mut empty = read.clone();
    empty["accountIds"] = json!(null);
    go.call(
        reqwest::Method::PUT,
        &format!("cloud/group/{id}"),
        Some(empty),
    )
    .await;
    go.call(reqwest::Method::DELETE, &format!("cloud/group/{id}"), None)
        .await;
    // group.Get of a deleted group: the Go client maps invalid_id to "object not found".
    let (status, text) = go
        .try_call(reqwest::Method::GET, &format!("cloud/group/{id}"), None)
        .await;
    assert_eq!(status, 400, "{text}");
}
