//! The Coverage page and `GET /api/v1/coverage` over the emulated Azure (the seeded tenant)
//! and the Prisma Cloud emulator with the sandbox's seeded accounts: the counts match both;
//! filters; a selection reviewed and onboarded as one batch of exactly those subscriptions;
//! bad selections named by field; Azure's refusals (throttled, no access, no token) shown as
//! sentences with the fix, never a 500.

use azure_emulator::cloud::Scenario;
use azure_emulator::tenant_seed::{self, TENANT_ID, ids};
use serde_json::{Value, json};

use crate::common::*;

struct Fixture {
    server: Server,
    cloud: azure_emulator::RunningCloud,
    seed: tenant_seed::Tenant,
    planted: Vec<prisma_emulator::seed::SeedAccount>,
}

/// The server with Azure pointed at a fresh emulated cloud, signed in as `client_id`.
async fn fixture(client_id: &str) -> Fixture {
    fixture_with(client_id, |_| {}).await
}

/// [`fixture`] with the emulator's configuration changed by `emulator` first.
async fn fixture_with(
    client_id: &str,
    emulator: fn(&mut prisma_emulator::EmulatorConfig),
) -> Fixture {
    let seed = tenant_seed::contoso();
    let cloud = azure_emulator::spawn_cloud(
        "127.0.0.1:0".parse().unwrap(),
        seed.clone(),
        std::future::pending(),
    )
    .await
    .unwrap();
    let env = azure_access::Env::from_pairs([
        ("ARM_TENANT_ID", TENANT_ID),
        ("ARM_CLIENT_ID", client_id),
        ("ARM_CLIENT_SECRET", ids::SANDBOX_SECRET),
    ]);
    let azure = cortex_web::AzureAccess {
        env,
        endpoints: Ok(azure_access::Endpoints::emulated(&cloud.base_url())),
    };
    let server = Server::start_with(Options {
        azure: Some(azure),
        emulator,
        ..Default::default()
    })
    .await;
    prisma_emulator::seed::plant(&server.emu.state);
    let planted = prisma_emulator::seed::sandbox_accounts(&seed);
    Fixture {
        server,
        cloud,
        seed,
        planted,
    }
}

async fn page(server: &Server, path: &str, auth: &Auth) -> (u16, String) {
    let r = server.request("GET", path, auth, None).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

fn rows(html: &str) -> Vec<&str> {
    html.split("data-subscription=\"")
        .skip(1)
        .map(|s| &s[..36])
        .collect()
}

#[tokio::test]
async fn coverage_joins_the_seeded_tenant_with_the_accounts_and_a_selection_becomes_one_batch() {
    let f = fixture(ids::CI_ONBOARDING_APP).await;
    let server = &f.server;
    let viewer = server.login(VIEWER).await;
    let (status, body) = server.call("GET", "/api/v1/coverage", &viewer, None).await;
    assert_eq!(status, 200, "{body}");
    // The same object as `discover --output json` (its schema, less `type`).
    let schema: Value = serde_json::from_str(include_str!(
        "../../../cortex-cli/schemas/coverage.schema.json"
    ))
    .unwrap();
    let schema = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = schema
        .iter_errors(&body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let own = f.planted.iter().filter(|a| a.enabled && !a.failing).count();
    let not_working = f.planted.len() - own;
    assert_eq!(body["tenant_id"], TENANT_ID);
    assert_eq!(body["principal"], "ci-onboarding");
    assert_eq!(body["platform"], "prisma");
    let totals = &body["totals"];
    assert_eq!(totals["subscriptions"], f.seed.subscriptions.len());
    assert_eq!(totals["own_account"], own);
    assert_eq!(totals["not_working"], not_working);
    assert_eq!(
        totals["not_onboarded"],
        f.seed.subscriptions.len() - f.planted.len()
    );
    assert_eq!(totals["covered"], 0);
    let groups = body["groups"].as_array().unwrap();
    assert_eq!(groups.len(), f.seed.management_groups.len());
    let platform = groups
        .iter()
        .find(|g| g["id"] == "contoso-platform")
        .unwrap();
    assert_eq!(platform["counts"]["own_account"], 6);
    let subs = body["subscriptions"].as_array().unwrap();
    let by_id = |id: &str| subs.iter().find(|s| s["id"] == id).unwrap().clone();
    let disabled = f.planted.iter().find(|a| !a.enabled).unwrap();
    assert_eq!(
        by_id(&disabled.subscription_id)["coverage"],
        serde_json::json!({"state": "not_working", "why": "disabled"})
    );
    let failing = f.planted.iter().find(|a| a.failing).unwrap();
    assert_eq!(
        by_id(&failing.subscription_id)["coverage"]["why"],
        "failing"
    );
    assert_eq!(
        by_id(&f.planted[0].subscription_id)["account_name"],
        f.planted[0].name.as_str()
    );
    let (_, only) = server
        .call("GET", "/api/v1/coverage?not_covered=true", &viewer, None)
        .await;
    let not_covered = f.seed.subscriptions.len() - own;
    assert_eq!(only["subscriptions"].as_array().unwrap().len(), not_covered);

    // The page: counts, words, and the filters.
    let (status, html) = page(server, "/coverage", &viewer).await;
    assert_eq!(status, 200);
    assert!(html.contains("<strong>36</strong> subscriptions"), "{html}");
    assert!(html.contains(&format!("own account {}", f.planted[0].name)));
    assert!(html.contains("onboarded but disabled") && html.contains("onboarded but failing"));
    assert_eq!(rows(&html).len(), f.seed.subscriptions.len());
    assert!(
        html.contains("Onboarding from here needs the operator role"),
        "a viewer only reads"
    );
    let (_, html) = page(server, "/coverage?not_covered=on", &viewer).await;
    assert_eq!(rows(&html).len(), not_covered);
    let (_, html) = page(
        server,
        "/coverage?not_covered=on&group=contoso-landing-zones&q=online",
        &viewer,
    )
    .await;
    assert_eq!(rows(&html).len(), 10, "Online's ten, none of Corp's");

    // Review two, then start them as one batch through the bulk path.
    let op = server.login(OPERATOR).await;
    let online: Vec<&str> = f
        .seed
        .subscriptions
        .iter()
        .filter(|s| s.management_group == "contoso-online")
        .map(|s| s.id.as_str())
        .take(2)
        .collect();
    let r = post_form(
        server,
        "/coverage/review",
        &op,
        true,
        &[
            ("action", "selected"),
            ("subscription", online[0]),
            ("subscription", online[1]),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let review = r.text().await.unwrap();
    assert_eq!(
        rows(&review),
        online,
        "the review lists what will be created"
    );
    assert!(review.contains("2 Prisma Cloud accounts"));
    assert!(
        review.contains("one tenant account"),
        "the tenant alternative is offered"
    );
    let csv = review
        .split("<textarea name=\"csv\" hidden>")
        .nth(1)
        .and_then(|s| s.split("</textarea>").next())
        .unwrap()
        .to_owned();
    let r = post_form(
        server,
        "/bulk",
        &op,
        true,
        &[
            ("action", "start"),
            ("csv", &csv),
            ("tenant_id", TENANT_ID),
            ("label", "coverage: 2 subscriptions"),
            ("new_groups", "Default Account Group"),
            ("identity_per", "shared-tenant"),
        ],
    )
    .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let batch = r.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/batches/")
        .to_owned();
    let (status, view) = server
        .call("GET", &format!("/api/v1/batches/{batch}"), &op, None)
        .await;
    assert_eq!(status, 200, "{view}");
    let mut in_batch: Vec<String> = view["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["account_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    in_batch.sort();
    let mut wanted: Vec<String> = online.iter().map(|s| s.to_string()).collect();
    wanted.sort();
    assert_eq!(
        in_batch, wanted,
        "the batch's rows are exactly the selection: {view}"
    );

    // A management group's not covered subscriptions: Decommissioned's are disabled in Azure.
    let r = post_form(
        server,
        "/coverage/review",
        &op,
        true,
        &[("action", "group"), ("onboard_group", "contoso-sandbox")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(rows(&r.text().await.unwrap()).len(), 4);
}

#[tokio::test]
async fn bad_selections_and_tenants_are_named_and_start_nothing() {
    let f = fixture(ids::CI_ONBOARDING_APP).await;
    let server = &f.server;
    let op = server.login(OPERATOR).await;
    let covered = &f.planted[0].subscription_id;
    let disabled_in_azure = f
        .seed
        .subscriptions
        .iter()
        .find(|s| s.state == "Disabled")
        .unwrap();
    for (fields, words) in [
        (
            vec![
                ("action", "selected"),
                ("subscription", "11111111-2222-4333-8444-555555555555"),
            ],
            "is not a subscription of tenant",
        ),
        (
            vec![("action", "selected"), ("subscription", covered.as_str())],
            "nothing to onboard",
        ),
        (
            vec![
                ("action", "selected"),
                ("subscription", disabled_in_azure.id.as_str()),
            ],
            "disabled in Azure",
        ),
        (vec![("action", "selected")], "nothing is selected"),
        (
            vec![("action", "group"), ("onboard_group", "contoso-nowhere")],
            "is not a management group",
        ),
    ] {
        let r = post_form(server, "/coverage/review", &op, true, &fields).await;
        assert_eq!(r.status(), 400, "{fields:?}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("Nothing was selected for onboarding") && html.contains(words),
            "{fields:?}: {html}"
        );
    }
    let viewer = server.login(VIEWER).await;
    let r = post_form(
        server,
        "/coverage/review",
        &viewer,
        true,
        &[("action", "shown")],
    )
    .await;
    assert_eq!(r.status(), 403, "a viewer cannot onboard");
    for (query, words) in [
        ("tenant=contoso", "tenant"),
        (
            "tenant=11111111-2222-4333-8444-555555555555",
            "is not the tenant of the Azure credentials in use",
        ),
        ("colour=blue", "colour"),
    ] {
        let (status, body) = server
            .call("GET", &format!("/api/v1/coverage?{query}"), &viewer, None)
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.to_string().contains(words), "{query}: {body}");
    }
    let jobs = server.engine.store().list_jobs(None, 10).await.unwrap();
    assert!(jobs.is_empty(), "nothing started: {}", jobs.len());
}

#[tokio::test]
async fn azure_refusals_are_sentences_with_the_fix_never_a_500() {
    let f = fixture(ids::CI_ONBOARDING_APP).await;
    let server = &f.server;
    let viewer = server.login(VIEWER).await;
    let cases: [(Scenario, u16, &str, &str); 3] = [
        (
            Scenario {
                throttle_arm: true,
                ..Scenario::default()
            },
            503,
            "azure_throttled",
            "wait a minute and try again",
        ),
        (
            Scenario {
                without_role_assignments: vec![ids::CI_ONBOARDING.into()],
                ..Scenario::default()
            },
            502,
            "azure_no_access",
            "give it Reader at the tenant root group",
        ),
        (
            Scenario {
                refuse_tokens: true,
                ..Scenario::default()
            },
            503,
            "azure_credentials",
            "Fix:",
        ),
    ];
    for (scenario, status, code, fix) in cases {
        f.cloud.state.set_scenario(scenario);
        let r = server
            .request("GET", "/api/v1/coverage", &viewer, None)
            .await;
        assert_eq!(r.status().as_u16(), status, "{code}");
        if code == "azure_throttled" {
            assert_eq!(r.headers()["retry-after"], "30");
        }
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], code, "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(fix), "{code}: {message}");
        assert!(
            message.chars().next().unwrap().is_uppercase() && message.ends_with('.'),
            "a sentence: {message}"
        );
        assert!(
            !message.contains(ids::SANDBOX_SECRET),
            "no secret in the answer"
        );
        let (page_status, html) = page(server, "/coverage", &viewer).await;
        assert_eq!(page_status, 200, "the page explains instead of failing");
        assert!(
            html.contains("The tenant could not be read from Azure") && html.contains(fix),
            "{html}"
        );
        assert!(!html.contains(ids::SANDBOX_SECRET));
    }
}

const CORTEX_KEY: &str = "CANARY-CORTEX-COVERAGE-KEY-0a1b2c3d4e5f60718293a4b5c6d7e8f9";

fn with_cortex_key(config: &mut prisma_emulator::EmulatorConfig) {
    config.cortex = prisma_emulator::cortex::CortexConfig::new(
        cortex_cloud_types::KeyId::new(7).unwrap(),
        cortex_cloud_types::SecretString::from(CORTEX_KEY),
        cortex_cloud_types::KeyType::Standard,
    );
    config.cortex.approved_tenants.push(TENANT_ID.to_owned());
}

/// A connected instance in the emulator's Cortex face, as its template's callback would
/// leave it: `scope` with `account_group`/`account_id`, covering `subscriptions`, with
/// `scope_modifications` as given.
fn connected_instance(
    server: &Server,
    scope: &str,
    account_group: &str,
    account_id: &str,
    scope_modifications: Value,
    subscriptions: &[&tenant_seed::Subscription],
) -> String {
    let config = serde_json::from_value(json!({
        "cloud_provider": "AZURE", "scope": scope, "scan_mode": "MANAGED",
        "account_details": {"organization_id": TENANT_ID},
        "collection_configuration": {"audit_logs": {"enabled": false}},
        "scope_modifications": scope_modifications,
        "additional_capabilities": {},
    }))
    .unwrap();
    let mut face = server.emu.state.cortex.lock();
    let pending = face.create_pending(config, 1).id.clone();
    face.connect(
        &pending,
        prisma_emulator::cortex::state::Connection {
            organization_id: TENANT_ID.into(),
            account_group: account_group.into(),
            account_id: account_id.into(),
            account_name: String::new(),
            provisioning_method: "TF".into(),
            subscriptions: subscriptions
                .iter()
                .map(|s| (s.id.clone(), s.display_name.clone()))
                .collect(),
        },
        2,
    )
    .unwrap()
}

#[tokio::test]
async fn a_cortex_connection_covers_what_its_instances_cover_and_a_selection_opens_the_cortex_wizard()
 {
    let f = fixture_with(ids::CI_ONBOARDING_APP, with_cortex_key).await;
    let server = &f.server;
    let admin = server.login(ADMIN).await;
    server
        .save_connection(
            &admin,
            json!({
                "platform": "cortex", "name": "cortex-eu", "api_url": server.emu.base_url(),
                "key_id": 7, "key": CORTEX_KEY, "key_type": "standard",
            }),
        )
        .await;
    let platform = f.seed.descendants("contoso-platform").1;
    let corp = f.seed.descendants("contoso-corp").1;
    let online = f.seed.descendants("contoso-online").1;
    // Platform by a management-group instance; two of Corp by a tenant instance with an
    // include list; one of Online by its own instance, then disabled; one pending instance of
    // the whole tenant (its template never ran) covers nothing.
    connected_instance(
        server,
        "ACCOUNT_GROUP",
        "contoso-platform",
        &platform[0].id,
        json!({}),
        &platform,
    );
    connected_instance(
        server,
        "ORGANIZATION",
        TENANT_ID,
        &corp[0].id,
        json!({"subscriptions": {"enabled": true, "type": "INCLUDE",
            "subscription_ids": [corp[0].id, corp[1].id]}}),
        &corp[..2],
    );
    let own = connected_instance(
        server,
        "ACCOUNT",
        "",
        &online[0].id,
        json!({}),
        &online[..1],
    );
    server.emu.state.cortex.lock().set_enabled(&[own], false, 3);
    {
        let config = serde_json::from_value(json!({
            "cloud_provider": "AZURE", "scope": "ORGANIZATION", "scan_mode": "MANAGED",
            "account_details": {"organization_id": TENANT_ID},
        }))
        .unwrap();
        server.emu.state.cortex.lock().create_pending(config, 4);
    }

    let viewer = server.login(VIEWER).await;
    let (status, body) = server
        .call(
            "GET",
            "/api/v1/coverage?connection=cortex-eu",
            &viewer,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["platform"], &body["connection"]),
        (&json!("cortex"), &json!("cortex-eu"))
    );
    let totals = &body["totals"];
    let n = f.seed.subscriptions.len();
    assert_eq!(totals["subscriptions"], n);
    assert_eq!(totals["covered"], platform.len() + 2, "{totals}");
    assert_eq!(totals["not_working"], 1, "{totals}");
    assert_eq!(totals["own_account"], 0, "{totals}");
    assert_eq!(totals["not_onboarded"], n - platform.len() - 3, "{totals}");
    let subs = body["subscriptions"].as_array().unwrap();
    let coverage_of = |id: &str| subs.iter().find(|s| s["id"] == id).unwrap()["coverage"].clone();
    assert_eq!(
        coverage_of(&platform[1].id),
        json!({"state": "covered", "by": "contoso-platform", "scope": "management_group"})
    );
    assert_eq!(coverage_of(&corp[1].id)["scope"], "tenant");
    assert_eq!(
        coverage_of(&corp[2].id)["state"],
        "not_onboarded",
        "outside the include list"
    );
    assert_eq!(
        coverage_of(&online[0].id),
        json!({"state": "not_working", "why": "disabled"})
    );

    // An unknown connection is named; the Prisma Cloud default is unchanged.
    let (status, body) = server
        .call("GET", "/api/v1/coverage?connection=nope", &viewer, None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "connection", "{body}");
    let (_, prisma) = server.call("GET", "/api/v1/coverage", &viewer, None).await;
    assert_eq!(prisma["platform"], "prisma");

    // The page says which platform it joined with.
    let (status, html) = page(server, "/coverage?connection=cortex-eu", &viewer).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(
            "joined with the Cortex Cloud integration instances of the connection cortex-eu"
        ),
        "{html}"
    );
    assert!(html.contains("covered by management group account contoso-platform"));
    assert!(!html.contains(CORTEX_KEY));

    // A selection: one tenant instance with an include list, in the Cortex wizard.
    let op = server.login(OPERATOR).await;
    let review = |fields: Vec<(&'static str, String)>| {
        let op = &op;
        async move {
            let mut form = vec![("connection", "cortex-eu")];
            form.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
            let r = post_form(server, "/coverage/review", op, true, &form).await;
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let selection = review(vec![
        ("action", "selected".into()),
        ("subscription", corp[2].id.clone()),
        ("subscription", corp[3].id.clone()),
    ])
    .await;
    assert_eq!(rows(&selection), [corp[2].id.as_str(), corp[3].id.as_str()]);
    assert!(
        selection.contains("Cortex Cloud has no batches"),
        "{selection}"
    );
    assert!(
        !selection.contains("action=\"/bulk\""),
        "no Prisma batch form for Cortex"
    );
    let href = selection
        .split("id=\"cortex-wizard\"")
        .next()
        .and_then(|s| s.rsplit("href=\"").next())
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    assert!(href.starts_with("/onboard?connection=cortex-eu"), "{href}");
    assert!(
        href.contains("scope=tenant") && href.contains("subscriptions_mode=include"),
        "{href}"
    );
    let (status, wizard) = page(server, &href, &op).await;
    assert_eq!(status, 200);
    assert!(
        wizard.contains(&format!("{}\n{}", corp[2].id, corp[3].id)),
        "the list is filled in: {href} {}",
        wizard
            .split("id=\"subscriptions\"")
            .nth(1)
            .unwrap_or(&wizard)
    );
    assert!(
        wizard.contains(&format!("value=\"{TENANT_ID}\"")),
        "the tenant is filled in"
    );

    // A management group: one instance of that group.
    let group = review(vec![
        ("action", "group".into()),
        ("onboard_group", "contoso-online".into()),
    ])
    .await;
    assert!(
        group.contains("instance for management group <code>contoso-online</code>"),
        "{group}"
    );
    assert!(
        group
            .replace("&#38;", "&")
            .contains("scope=management_group&management_group_id=contoso-online"),
        "{group}"
    );
}
