//! The official Go SDK `PaloAltoNetworks/cortex-cloud-go` (`cloudonboarding/`, `types/cloudonboarding/`,
//! `types/filter/`), replayed against the emulator's Cortex face: the exact bodies its
//! `MarshalJSON` methods write (Go's `encoding/json`: a nil slice is `null`, an unset `*bool`
//! or `*string` is `null`, `omitempty` fields absent, `FilterData` always with `sort`, `paging`
//! and `filter` — `null` when unset), and the fields its reply structs decode checked for the
//! JSON types Go requires (`int` fields must be numbers, `string` fields strings; the
//! stringified `collection_configuration` / `additional_capabilities` / `custom_resources_tags`
//! must unmarshal a second time, as `Marshal()` does). The Azure tracking GUID is taken from the
//! ARM link with the SDK's regex `arm-([a-f0-9]{32})-`, and the instance is connected by its
//! template's callback in between, as in real use.

mod cortex_support;

use cortex_cloud_types::KeyType;
use prisma_emulator::cortex::config::DEMO_TENANT;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const KEY: &str = "go-sdk-cortex-key-0123456789";
const SUB: &str = "5d000000-0000-4000-8000-00000000060a";

struct Sdk {
    http: reqwest::Client,
    base: String,
}

impl Sdk {
    /// `internal/client`: POST, JSON body as marshalled, the reply under `reply`.
    async fn post(&self, endpoint: &str, request_data: Value) -> Value {
        let r = self
            .http
            .post(format!(
                "{}/public_api/v1/cloud_onboarding/{endpoint}",
                self.base
            ))
            .header("Authorization", KEY)
            .header("x-xdr-auth-id", "9")
            .header("Content-Type", "application/json")
            .header(
                "User-Agent",
                "cortex-cloud-go/1.1.0 (cloudonboarding; go1.24; linux/amd64)",
            )
            .json(&json!({ "request_data": request_data }))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{endpoint}: {status} {body}");
        body["reply"].clone()
    }
}

/// A Go `string` field: absent, or a JSON string (`null` leaves the zero value too).
fn go_string(v: &Value, field: &str) {
    assert!(
        matches!(
            v.get(field),
            None | Some(Value::String(_)) | Some(Value::Null)
        ),
        "{field}: {v}"
    );
}

/// A Go `int` field: absent, `null`, or a JSON integer (a string would fail to decode).
fn go_int(v: &Value, field: &str) {
    assert!(
        matches!(v.get(field), None | Some(Value::Null)) || v[field].is_i64() || v[field].is_u64(),
        "{field} must be a number for Go: {v}"
    );
}

/// A stringified JSON field `Marshal()` unmarshals again into a struct (or a slice for tags).
fn go_stringified(v: &Value, field: &str, object: bool) -> Value {
    let s = v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} must be a string for Go: {v}"));
    if s.is_empty() {
        return Value::Null;
    }
    let inner: Value = serde_json::from_str(s).unwrap_or_else(|e| panic!("{field}: {e}: {s}"));
    assert_eq!(inner.is_object(), object, "{field}: {inner}");
    inner
}

fn check_list_row(row: &Value) {
    for f in [
        "instance_name",
        "cloud_provider",
        "account_name",
        "scope",
        "scan_mode",
        "provisioning_method",
        "instance_id",
        "status",
        "outpost_id",
        "update_status",
    ] {
        go_string(row, f);
    }
    for f in [
        "accounts",
        "deleted_at",
        "creation_time",
        "is_pending_changes",
    ] {
        go_int(row, f);
    }
    let tags = go_stringified(row, "custom_resources_tags", false);
    assert!(tags.is_null() || tags.is_array());
    let cc = go_stringified(row, "collection_configuration", true);
    assert!(cc["audit_logs"]["enabled"].is_boolean(), "{cc}");
    go_stringified(row, "additional_capabilities", true);
}

#[tokio::test]
async fn the_go_sdks_bodies_are_answered_with_replies_it_decodes() {
    let config = cortex_support::config(9, KEY, KeyType::Standard, std::time::Duration::ZERO, true);
    let stop = CancellationToken::new();
    let emu = prisma_emulator::spawn(
        "127.0.0.1:0".parse().unwrap(),
        config,
        None,
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    let sdk = Sdk {
        http: reqwest::Client::new(),
        base: emu.base_url(),
    };

    // CreateIntegrationTemplateRequest.MarshalJSON: account_details only with an organization,
    // unset *bool flags null (this SDK version has no serverless flag), unset instance name
    // null, empty ScopeModifications {} (every member omitempty), no tags given: a nil slice,
    // `null`.
    let created = sdk
        .post("create_instance_template", json!({
            "account_details": {"organization_id": DEMO_TENANT},
            "additional_capabilities": {
                "xsiam_analytics": true, "data_security_posture_management": null,
                "registry_scanning": true, "registry_scanning_options": {"type": "ALL"},
                "agentless_disk_scanning": false},
            "cloud_provider": "AZURE",
            "collection_configuration": {"audit_logs": {"enabled": true, "collection_method": "AUTOMATED", "data_events": false}},
            "custom_resources_tags": null,
            "instance_name": null,
            "scan_mode": "MANAGED",
            "scope": "ACCOUNT",
            "scope_modifications": {},
        }))
        .await;
    // CreateTemplateOrEditIntegrationInstanceResponse: automated.{link,tracking_guid} *string,
    // manual.{TF,CF,ARM} *string.
    for f in ["link", "tracking_guid"] {
        go_string(&created["automated"], f);
    }
    let arm = created["manual"]["ARM"].as_str().unwrap();
    let file = arm.split('?').next().unwrap().rsplit('/').next().unwrap();
    let guid = file.strip_prefix("arm-").unwrap()[..32].to_owned();
    assert!(
        guid.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{file}"
    );

    // ListIntegrationInstancesRequest: filter_data with sort null (no sort given).
    let pending = sdk
        .post(
            "get_instances",
            json!({ "filter_data": {
            "sort": null, "paging": {"from": 0, "to": 1000},
            "filter": {"AND": [
                {"SEARCH_FIELD": "ID", "SEARCH_TYPE": "EQ", "SEARCH_VALUE": guid},
                {"SEARCH_FIELD": "STATUS", "SEARCH_TYPE": "EQ", "SEARCH_VALUE": "PENDING"}]}}}),
        )
        .await;
    assert_eq!(pending["DATA"].as_array().unwrap().len(), 1, "{pending}");
    check_list_row(&pending["DATA"][0]);
    assert_eq!(pending["DATA"][0]["instance_id"], guid.as_str());

    // The template runs and calls back.
    let tf = created["manual"]["TF"].as_str().unwrap();
    let bytes = sdk
        .http
        .get(tf)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let tfvars = cortex_support::bundle_tfvars(&bytes);
    let put = sdk
        .http
        .put(tfvars["upload_output_url"].as_str().unwrap())
        .json(&json!({
            "operation": "create_connector", "template_id": guid,
            "template_version": tfvars["template_version"], "connector_id": tfvars["connector_id"],
            "provisioning_method": "TF", "account_id": SUB, "account_name": "", "account_group": "",
            "organization_id": DEMO_TENANT,
            "credentials": {"client_id": tfvars["outpost_client_id"], "tenant_id": DEMO_TENANT},
            "resources_data": {"client_id": tfvars["outpost_client_id"]},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);

    let listed = sdk
        .post(
            "get_instances",
            json!({ "filter_data": {
            "sort": [{"FIELD": "CREATION_TIME", "ORDER": "DESC"}], "paging": {"from": 0, "to": 100},
            "filter": {"AND": [
                {"SEARCH_FIELD": "CLOUD_PROVIDER", "SEARCH_TYPE": "EQ", "SEARCH_VALUE": "AZURE"},
                {"SEARCH_FIELD": "STATUS", "SEARCH_TYPE": "NEQ", "SEARCH_VALUE": "PENDING"}]}}}),
        )
        .await;
    let row = &listed["DATA"][0];
    check_list_row(row);
    let id = row["instance_id"].as_str().unwrap().to_owned();
    assert_ne!(id, guid);

    // GetIntegrationInstanceRequest: {"id"}; GetIntegrationInstanceResponse.Marshal().
    let details = sdk.post("get_instance_details", json!({ "id": id })).await;
    for f in [
        "id",
        "collector",
        "instance_name",
        "scope",
        "status",
        "cloud_provider",
    ] {
        go_string(&details, f);
    }
    go_int(&details["scan"], "status_ui");
    go_string(&details["scan"], "scan_method");
    let cc = go_stringified(&details, "collection_configuration", true);
    assert_eq!(cc["audit_logs"]["enabled"], true);
    let ac = go_stringified(&details, "additional_capabilities", true);
    assert_eq!(ac["registry_scanning"], true);
    for c in details["security_capabilities"].as_array().unwrap() {
        go_string(c, "name");
        go_int(c, "status");
    }
    assert!(details["tags"].is_array() || details["tags"].is_null());

    // get_accounts with a FilterData that has no sort and no filter: both null.
    let accounts = sdk
        .post(
            "get_accounts",
            json!({ "instance_id": id, "filter_data": {
            "sort": null, "paging": {"from": 0, "to": 100}, "filter": null}}),
        )
        .await;
    go_int(&accounts, "FILTER_COUNT");
    go_int(&accounts, "TOTAL_COUNT");
    let account = &accounts["DATA"][0];
    for f in [
        "status",
        "account_name",
        "account_id",
        "environment",
        "type",
        "created_at",
    ] {
        go_string(account, f);
    }
    assert_eq!(account["account_id"], SUB);

    // EnableDisableAccountsInInstancesRequestData, EnableOrDisableIntegrationInstancesRequest,
    // DeleteIntegrationInstanceRequest: replies decode into empty structs.
    let off = sdk
        .post(
            "enable_disable_account",
            json!({ "ids": [SUB], "instance_id": id, "enable": false }),
        )
        .await;
    assert!(off.is_object(), "{off}");
    let off = sdk
        .post(
            "enable_disable_instance",
            json!({ "ids": [id], "enable": false }),
        )
        .await;
    assert!(off.is_object(), "{off}");
    let gone = sdk.post("delete_instance", json!({ "ids": [id] })).await;
    assert!(gone.is_object(), "{gone}");
    stop.cancel();
}
