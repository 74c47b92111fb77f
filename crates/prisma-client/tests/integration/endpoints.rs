//! Every endpoint, through the client, against the emulator.

use std::time::Duration;

use prisma_client::{FeatureScope, TemplateScope};
use prisma_types::account::{
    AccountScope, AzureCredentials, EntraTenant, HierarchyEntry, SelectionType, TenantWithGroups,
};
use prisma_types::{
    AccountGroupId, AccountName, AzureAccount, Environment, Feature, FeatureSet, ManagementGroupId,
    ObjectId, SubscriptionId, TenantId,
};

use crate::common::*;

fn creds(n: u32) -> AzureCredentials {
    AzureCredentials::new(
        ObjectId::parse(&guid(0xc1d0, n)).unwrap(),
        client_secret(n),
        ObjectId::parse(&guid(0x5e00, n)).unwrap(),
    )
    .unwrap()
}

fn tenant(n: u32) -> AzureAccount {
    AzureAccount::new(
        AccountScope::Tenant(TenantWithGroups {
            tenant_id: TenantId::parse(&guid(0x7e77, n)).unwrap(),
            name: AccountName::parse(&format!("tenant {n}")).unwrap(),
            default_account_group_id: AccountGroupId::parse(DEFAULT_GROUP).unwrap(),
            selection: vec![
                HierarchyEntry::WholeTenant,
                HierarchyEntry::ManagementGroup(
                    ManagementGroupId::parse("mg-development").unwrap(),
                    SelectionType::Exclude,
                ),
            ],
            features: FeatureSet::new([Feature::AgentlessScanning]),
            monitor_flow_logs: true,
            environment: Environment::Azure,
            enabled: true,
        }),
        creds(n),
    )
    .unwrap()
}

#[tokio::test]
async fn features_for_each_scope() {
    let emu = TestEmulator::start(|_| {}).await;
    let t = emu.client();
    let sub = t
        .client
        .supported_features(FeatureScope::Subscription, Environment::Azure)
        .await
        .unwrap();
    assert_eq!(
        (sub.account_type.as_str(), sub.deployment_type.as_str()),
        ("account", "global")
    );
    assert_eq!(sub.supported_features.len(), 5);
    let mg = t
        .client
        .supported_features(FeatureScope::TenantWithGroups, Environment::AzureGov)
        .await
        .unwrap();
    assert_eq!(
        (mg.account_type.as_str(), mg.deployment_type.as_str()),
        ("tenantWithMgmt", "gov")
    );
    let entra = t
        .client
        .supported_features(FeatureScope::EntraOnly, Environment::Azure)
        .await
        .unwrap();
    assert_eq!(
        entra.supported_features,
        ["Cloud Visibility Compliance and Governance"]
    );
}

#[tokio::test]
async fn templates_for_each_scope_and_china_refused() {
    let emu = TestEmulator::start(|_| {}).await;
    let t = emu.client();
    let tenant_id = TenantId::parse(&guid(0x7e77, 1)).unwrap();
    let sub = TemplateScope::Subscription {
        tenant_id: tenant_id.clone(),
        subscription_id: SubscriptionId::parse(&guid(0x5ab5, 1)).unwrap(),
    };
    let tf = t
        .client
        .azure_template(
            &sub,
            &FeatureSet::new([Feature::Remediation]),
            Environment::Azure,
        )
        .await
        .unwrap();
    let outputs: Vec<_> = tf["output"].as_object().unwrap().keys().cloned().collect();
    assert!(
        outputs.contains(&"d__application_client_secret".to_owned()),
        "{outputs:?}"
    );
    let mg = t
        .client
        .azure_template(
            &TemplateScope::TenantWithGroups {
                tenant_id: tenant_id.clone(),
            },
            &FeatureSet::default(),
            Environment::Azure,
        )
        .await
        .unwrap();
    assert!(mg["data"]["azurerm_management_group"]["tenant_root_group"].is_object());
    let entra = t
        .client
        .azure_template(
            &TemplateScope::EntraOnly { tenant_id },
            &FeatureSet::default(),
            Environment::Azure,
        )
        .await
        .unwrap();
    assert!(entra["output"]["f_consent_link"].is_object());
    assert!(entra["resource"].get("azurerm_role_definition").is_none());
    let err = t
        .client
        .azure_template(&sub, &FeatureSet::default(), Environment::AzureChina)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Azure China"), "{err}");
}

#[tokio::test]
async fn status_checks_reproduce_real_failures() {
    let emu = TestEmulator::start(|_| {}).await;
    let t = emu.client();
    let healthy = t.client.status_check(&subscription(1)).await.unwrap();
    assert!(healthy.iter().all(|c| c.status == "ok"), "{healthy:?}");
    // A subscription ID starting 0000dead is "not found" in the emulator's Azure.
    let missing = subscription_with(&format!("0000dead{}", &guid(0, 1)[8..]), 2);
    let checks = t.client.status_check(&missing).await.unwrap();
    assert!(
        checks.iter().all(|c| c.status == "error"
            && c.status_message
                .message
                .contains("Azure Subscription not found")),
        "{checks:?}"
    );
    // Missing Graph consent on a tenant: the message lists the eight permissions.
    let consent = AzureAccount::new(
        AccountScope::Entra(EntraTenant {
            tenant_id: TenantId::parse(&format!("00000c0c{}", &guid(0, 3)[8..])).unwrap(),
            name: AccountName::parse("entra").unwrap(),
            group_ids: vec![AccountGroupId::parse(DEFAULT_GROUP).unwrap()],
            environment: Environment::Azure,
            enabled: true,
        }),
        creds(3),
    )
    .unwrap();
    let checks = t.client.status_check(&consent).await.unwrap();
    let entra = checks
        .iter()
        .find(|c| c.status == "error")
        .expect("an error");
    for p in [
        "User.Read.All",
        "Application.Read.All",
        "Reports.Read.All",
        "Directory.Read.All",
        "Domain.Read.All",
        "Group.Read.All",
        "GroupMember.Read.All",
        "Policy.Read.All",
    ] {
        assert!(entra.status_message.message.contains(p), "{p}: {entra:?}");
    }
    // After onboarding, the config status keeps the message and the remediation.
    t.client.add_azure_account(&consent, true).await.unwrap();
    let status = t.client.config_status(consent.account_id()).await.unwrap();
    assert_eq!(status.len(), 1);
    assert!(
        status[0].remediation.to_lowercase().contains("consent"),
        "{status:?}"
    );
    assert_eq!(status[0].sub_components.len(), 8);
}

#[tokio::test]
async fn tenants_with_children_lists_and_lifecycle() {
    let emu = TestEmulator::start(|_| {}).await;
    let t = emu.client();
    let tenant = tenant(1);
    let children = t
        .client
        .list_children(tenant.tenant_id().as_str(), &tenant)
        .await
        .unwrap();
    assert_eq!(
        children.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["mg-production", "mg-development"]
    );
    let subs = t
        .client
        .list_children("mg-production", &tenant)
        .await
        .unwrap();
    assert_eq!(subs.len(), 3);
    assert!(subs.iter().all(|s| s.node_type == "ACCOUNT"));

    t.client.add_azure_account(&tenant, true).await.unwrap();
    let view = t
        .client
        .wait_until_readable(tenant.account_id(), Duration::from_secs(3))
        .await
        .unwrap();
    assert!(view.root_sync_enabled);
    assert_eq!(view.hierarchy_selection.len(), 2);
    assert_eq!(
        view.cloud_account.features[0].feature_name,
        "compute-agentless"
    );
    // The whole tenant minus mg-development: the three subscriptions of mg-production.
    let all = t.client.list_accounts().await.unwrap();
    assert_eq!(
        all.len(),
        1 + 3,
        "the tenant and its selected subscriptions"
    );
    let child_ids: Vec<_> = all
        .iter()
        .filter(|a| a.parent_account_id.is_some())
        .map(|a| a.account_id.clone())
        .collect();
    let mut expected: Vec<_> = subs.iter().map(|s| s.id.clone()).collect();
    expected.sort();
    let mut got = child_ids.clone();
    got.sort();
    assert_eq!(got, expected);
    let names = t.client.list_account_names().await.unwrap();
    assert_eq!(names.len(), 4);
    let details = t.client.account_details(tenant.account_id()).await.unwrap();
    assert_eq!(details.cloud_account.number_of_child_accounts, 3);
    assert_eq!(details.key, "********");

    // A child cannot be offboarded alone; disabling with children works; the tenant can go.
    let err = t.client.offboard(&subs[0].id).await.unwrap_err();
    assert!(err.has_key("cannot_delete_org_child"), "{err}");
    t.client
        .set_account_enabled(tenant.account_id(), false, true)
        .await
        .unwrap();
    assert!(
        t.client
            .list_accounts()
            .await
            .unwrap()
            .iter()
            .all(|a| !a.enabled)
    );
    t.client.offboard(tenant.account_id()).await.unwrap();
    assert!(t.client.list_accounts().await.unwrap().is_empty());
    t.client
        .offboard(tenant.account_id())
        .await
        .expect("offboarding twice is fine");
}

#[tokio::test]
async fn update_keeps_the_stored_secret_and_groups_are_listed() {
    let emu = TestEmulator::start(|_| {}).await;
    let t = emu.client();
    let account = subscription(5);
    t.client.add_azure_account(&account, false).await.unwrap();
    t.client.update_azure_account(&account, true).await.unwrap();
    let groups = t.client.list_account_groups().await.unwrap();
    let default = groups
        .iter()
        .find(|g| g.name == "Default Account Group")
        .unwrap();
    assert_eq!(default.account_ids, [account.account_id()]);
    let stored = emu.emu.state.store().accounts[account.account_id()]
        .request
        .key
        .clone();
    assert_eq!(stored.expose(), client_secret(5).expose());
}

#[tokio::test]
async fn legacy_bodies_of_older_clients_are_accepted() {
    let emu = TestEmulator::start(|_| {}).await;
    let t = emu.client();
    t.client.ensure_session().await.unwrap();
    let http = reqwest::Client::new();
    let base = emu.emu.base_url();
    let token = emu.raw_login().await;
    let token = token.as_str();
    let sub = guid(0x1e9a, 1);
    let body = serde_json::json!({
        "cloudAccount": {"accountId": sub, "accountType": "account", "enabled": true, "name": "legacy",
                         "groupIds": [DEFAULT_GROUP], "protectionMode": "MONITOR_AND_PROTECT"},
        "clientId": guid(0xc1d0, 9), "key": "legacy-secret-value-123", "tenantId": guid(0x7e4a, 1),
        "servicePrincipalId": guid(0x5e00, 9), "monitorFlowLogs": false, "environmentType": "azure"
    });
    let r = http
        .post(format!("{base}/cloud/azure"))
        .header("x-redlock-auth", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{base}/cloud/status/azure"))
        .header("x-redlock-auth", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let checks: Vec<serde_json::Value> = r.json().await.unwrap();
    assert!(
        checks.iter().any(|c| c["name"] == "Remediation"),
        "protectionMode maps to Remediation: {checks:?}"
    );
    let r = http
        .put(format!("{base}/cloud/azure/{sub}"))
        .header("x-redlock-auth", token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let view = t.client.get_azure_account(&sub).await.unwrap().unwrap();
    assert_eq!(view.cloud_account.features[0].display_name, "Remediation");
}
