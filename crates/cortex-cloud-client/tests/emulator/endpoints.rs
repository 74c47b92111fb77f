use cortex_cloud_types::filter::{FilterData, FilterNode, SortOrder};
use cortex_cloud_types::wire::{EditInstance, SubscriptionModification};
use cortex_cloud_types::{
    CapabilityName, CapabilityStatus, CloudProvider, InstanceStatus, KeyType, ModificationType,
    Scope,
};
use prisma_emulator::Faults;

use crate::common::*;

const KEY: &str = "StandardKey0123456789abcdefghijklmnopqrstuvwxyz";

#[tokio::test]
async fn an_instance_from_pending_to_deleted_through_every_endpoint() {
    let emu = emulator(KeyType::Standard, KEY, Faults::default()).await;
    let (c, events) = client(&emu, key(KeyType::Standard, KEY));

    let links = c
        .create_instance_template(&request(Scope::AccountGroup, TENANT))
        .await
        .unwrap();
    let pending = links
        .tracking_guid()
        .expect("the links carry the tracking GUID");
    assert!(
        links
            .manual
            .tf
            .as_deref()
            .unwrap()
            .contains(&format!("/tf-{pending}-"))
    );
    assert!(links.manual.arm.as_deref().unwrap().contains("Expires="));

    // Pending instances are found when asked for, and only then.
    let asked = FilterData::new().all(vec![
        FilterNode::eq("ID", pending.as_str()),
        FilterNode::eq("STATUS", "PENDING"),
    ]);
    let page = c.get_instances(&asked).await.unwrap();
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].status, InstanceStatus::Pending);
    assert!(
        c.get_instances(&FilterData::new())
            .await
            .unwrap()
            .data
            .is_empty()
    );

    // The callback creates a new, connected instance.
    let id = connect(&emu, &pending, 3);
    let connected = FilterData::new()
        .all(vec![
            FilterNode::eq("CLOUD_PROVIDER", "AZURE"),
            FilterNode::neq("STATUS", "PENDING"),
        ])
        .sorted("CREATION_TIME", SortOrder::Desc)
        .page(0, 100);
    let rows = c.get_instances(&connected).await.unwrap().data;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].instance_id, id);
    assert_eq!(rows[0].account_details.organization_id, TENANT);
    assert_eq!(rows[0].accounts, 3);
    assert!(
        rows[0].collection_configuration.audit_logs.enabled,
        "stringified config decoded"
    );

    let details = c.get_instance_details(&id).await.unwrap();
    assert_eq!(details.scope, "ACCOUNT_GROUP");
    assert!(
        details.retrieving().count() > 0,
        "capabilities start retrieving"
    );
    emu.running.state.cortex.lock().set_capability(
        &id,
        CapabilityName::Registry,
        CapabilityStatus::Error,
        Some("no container registry found".into()),
    );
    let details = c.get_instance_details(&id).await.unwrap();
    assert_eq!(details.status, InstanceStatus::Error);
    let registry = details
        .security_capabilities
        .iter()
        .find(|c| c.name == "REGISTRY")
        .unwrap();
    assert_eq!(
        registry.message.as_deref(),
        Some("no container registry found")
    );

    // Accounts: filters, paging, toggling.
    let all = c.all_accounts(&id).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].subscription(), all[0].account_id);
    let second = c
        .get_accounts(
            &id,
            &FilterData::new()
                .sorted("CLOUD_ACCOUNT_ID", SortOrder::Asc)
                .page(1, 2),
        )
        .await
        .unwrap();
    assert_eq!(
        (second.data.len(), second.filter_count, second.total_count),
        (1, 3, 3)
    );
    c.enable_disable_accounts(&id, &[all[1].subscription().to_owned()], false)
        .await
        .unwrap();
    let disabled = c
        .get_accounts(
            &id,
            &FilterData::new().all(vec![FilterNode::eq("STATUS", "DISABLED")]),
        )
        .await
        .unwrap();
    assert_eq!(disabled.data.len(), 1);
    assert_eq!(disabled.data[0].cloud_account_id, all[1].cloud_account_id);

    // Edit: new links, pending changes flagged.
    let edit = EditInstance {
        id: id.clone(),
        scan_env_id: String::new(),
        instance_name: "renamed".into(),
        cloud_provider: CloudProvider::Azure,
        custom_resources_tags: vec![],
        scope_modifications: cortex_cloud_types::wire::ScopeModifications {
            subscriptions: Some(SubscriptionModification {
                enabled: true,
                kind: Some(ModificationType::Exclude),
                subscription_ids: Some(vec![all[0].subscription().to_owned()]),
            }),
            ..Default::default()
        },
        additional_capabilities: None,
        collection_configuration: None,
        cloud_partition: None,
    };
    let links = c.edit_instance(&edit).await.unwrap();
    assert_eq!(links.tracking_guid().as_deref(), Some(id.as_str()));
    let row = &c
        .get_instances(&FilterData::new().all(vec![FilterNode::eq("INSTANCE_NAME", "renamed")]))
        .await
        .unwrap()
        .data[0];
    assert_eq!(row.is_pending_changes, 1);

    let identifiers = c.get_identifiers(&id).await.unwrap();
    assert!(
        identifiers
            .identifiers
            .iter()
            .any(|i| i.kind == "SERVICE_PRINCIPAL")
    );
    let regions = c.list_regions().await.unwrap();
    assert!(regions.iter().any(|r| r.value == "eastus"));

    c.enable_disable_instances(std::slice::from_ref(&id), false)
        .await
        .unwrap();
    assert_eq!(
        c.get_instance_details(&id).await.unwrap().status,
        InstanceStatus::Disabled
    );
    c.enable_disable_instances(std::slice::from_ref(&id), true)
        .await
        .unwrap();
    assert_eq!(
        c.get_instance_details(&id).await.unwrap().status,
        InstanceStatus::Error
    );
    c.delete_instances(std::slice::from_ref(&id)).await.unwrap();
    assert_eq!(
        c.get_instance_details(&id).await.unwrap_err().status(),
        Some(422)
    );
    let deleted = c
        .get_instances(&FilterData::new().all(vec![FilterNode::eq("STATUS", "DELETED")]))
        .await
        .unwrap();
    assert_eq!(deleted.data.len(), 1);

    let calls = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| {
            matches!(
                e,
                cortex_cloud_client::HttpEvent::Call {
                    status: Some(200),
                    ..
                }
            )
        })
        .count();
    assert!(calls >= 20, "{calls}");
}

#[tokio::test]
async fn filters_and_paging_walk_every_instance() {
    let emu = emulator(KeyType::Standard, KEY, Faults::default()).await;
    let (c, _) = client(&emu, key(KeyType::Standard, KEY));
    let links = c
        .create_instance_template(&request(Scope::Organization, TENANT))
        .await
        .unwrap();
    let pending = links.tracking_guid().unwrap();
    let ids: Vec<String> = (0..7).map(|i| connect(&emu, &pending, i % 3 + 1)).collect();
    let page = |from, to| {
        FilterData::new()
            .sorted("ID", SortOrder::Asc)
            .page(from, to)
    };
    let first = c.get_instances(&page(0, 3)).await.unwrap();
    assert_eq!(
        (first.data.len(), first.filter_count, first.total_count),
        (3, 7, 7)
    );
    let last = c.get_instances(&page(6, 9)).await.unwrap();
    assert_eq!(last.data.len(), 1);
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(last.data[0].instance_id, sorted[6]);
    let everything = c.all_instances(&FilterData::new()).await.unwrap();
    assert_eq!(everything.len(), 7);
    let or = FilterData::new();
    let or = FilterData {
        filter: Some(FilterNode::Or(vec![
            FilterNode::eq("ID", ids[0].as_str()),
            FilterNode::eq("ID", ids[1].as_str()),
        ])),
        ..or
    };
    assert_eq!(c.get_instances(&or).await.unwrap().data.len(), 2);
}

#[tokio::test]
async fn field_errors_come_back_named() {
    let emu = emulator(KeyType::Standard, KEY, Faults::default()).await;
    let (c, _) = client(&emu, key(KeyType::Standard, KEY));
    // An unapproved tenant: the emulator's 422 names the field.
    let e = c
        .create_instance_template(&request(
            Scope::Organization,
            "99999999-9999-4999-8999-999999999999",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(422));
    assert_eq!(e.field(), Some("account_details.organization_id"));
    assert!(e.to_string().contains("approve"), "{e}");
    // Unknown search field.
    let bad = FilterData::new().all(vec![FilterNode::eq("COLOUR", "blue")]);
    let e = c.get_instances(&bad).await.unwrap_err();
    assert_eq!(e.field(), Some("filter_data.filter.AND.0.SEARCH_FIELD"));
    // An unknown instance.
    let e = c
        .get_accounts(&"a".repeat(32), &FilterData::new())
        .await
        .unwrap_err();
    assert_eq!(e.field(), Some("instance_id"));
    // Refused before sending: no round trip, the field named.
    let mut sub = request(Scope::Account, TENANT);
    sub.scope_modifications.subscriptions = Some(SubscriptionModification {
        enabled: true,
        kind: Some(ModificationType::Include),
        subscription_ids: Some(vec![TENANT.into()]),
    });
    let e = c.create_instance_template(&sub).await.unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    assert!(
        e.to_string().contains("scope_modifications.subscriptions"),
        "{e}"
    );
    let e = c.enable_disable_instances(&[], true).await.unwrap_err();
    assert!(e.to_string().contains("ids"), "{e}");
    // What the emulator says about a body a client cannot send through this library.
    let http = reqwest::Client::new();
    let raw = |body: &'static str| {
        http.post(format!(
            "{}/public_api/v1/cloud_onboarding/create_instance_template",
            emu.running.base_url()
        ))
        .header("authorization", KEY)
        .header("x-xdr-auth-id", KEY_ID.to_string())
        .body(body)
        .send()
    };
    let r = raw(r#"{"cloud_provider":"AZURE"}"#).await.unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("request_data"), "{text}");
    let r = raw(
        r#"{"request_data":{"cloud_provider":"AZURE","scope":"TENANT","scan_mode":"MANAGED"}}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["reply"]["err_extra"][0]["loc"],
        serde_json::json!(["body", "request_data", "scope"])
    );
}
