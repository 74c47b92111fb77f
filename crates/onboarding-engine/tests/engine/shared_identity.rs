//! Bulk with one identity per tenant, on the real `terraform` with the twin: a batch in one
//! tenant plans one app registration and one role set per subscription and registers every
//! subscription with that identity; later batches in the tenant add to the same identity, and
//! two batches at once never apply on one state together.

use std::collections::BTreeSet;

use cortex_store::{JobId, JobState};
use onboarding_engine::{IdentityPer, OnboardingRequest};
use prisma_types::SecretString;

use crate::common::*;

/// A hang guard for the 50-job batch: it takes well under a minute alone, several on a loaded
/// machine.
const BIG_BATCH: std::time::Duration = std::time::Duration::from_secs(600);

fn shared_batch(ns: u16, n: u32) -> Vec<(OnboardingRequest, Option<SecretString>)> {
    (0..n)
        .map(|i| {
            let mut request = subscription(&guid(ns, i), &format!("sub-{ns:x}-{i}"))
                .validate()
                .unwrap();
            IdentityPer::SharedTenant.apply(&mut request).unwrap();
            (request, None)
        })
        .collect()
}

/// What the batch's jobs planned, by builtin address (the twin's addresses mapped back), and
/// which jobs ran Terraform at all.
struct Planned {
    creates: Vec<String>,
    other_actions: Vec<String>,
    jobs_that_planned: usize,
    /// How many changes each job that planned planned.
    per_job: Vec<usize>,
}

impl Planned {
    fn count(&self, config_address: &str) -> usize {
        self.creates
            .iter()
            .filter(|a| *a == config_address || a.starts_with(&format!("{config_address}[")))
            .count()
    }
}

async fn planned(sb: &Sandbox, jobs: &[JobId]) -> Planned {
    let mut p = Planned {
        creates: Vec::new(),
        other_actions: Vec::new(),
        jobs_that_planned: 0,
        per_job: Vec::new(),
    };
    for job in jobs {
        // `apply` of a saved plan repeats its planned changes: each counts once per job.
        let mut seen = BTreeSet::new();
        for e in sb.events(*job).await {
            if e.event["type"] == "terraform_planned_change" {
                let twin = e.event["address"].as_str().unwrap();
                let address = azure_config::twin::builtin_address(twin).unwrap();
                let action = e.event["action"].as_str().unwrap().to_owned();
                if !seen.insert((address.clone(), action.clone())) {
                    continue;
                }
                match action.as_str() {
                    "create" => p.creates.push(address),
                    other => p.other_actions.push(format!("{other} {address}")),
                }
            }
        }
        if !seen.is_empty() {
            p.jobs_that_planned += 1;
            p.per_job.push(seen.len());
        }
    }
    p
}

/// Every job succeeded; the client IDs they registered with (one per distinct identity).
async fn client_ids(sb: &Sandbox, jobs: &[JobId]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for job in jobs {
        let record = sb.job(*job).await;
        assert_eq!(record.state, JobState::Succeeded, "{:?}", record.error);
        let result = record.result.unwrap();
        assert_eq!(result["outcome"], "created");
        ids.insert(result["client_id"].as_str().unwrap().to_owned());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_subscriptions_in_one_tenant_share_one_identity_and_a_second_batch_adds_to_it() {
    let Some(mode) = twin() else { return };
    let sb = Sandbox::start_with(mode, |_| {}, |c| c.concurrency = 8).await;
    let (_, first) = sb
        .engine
        .submit_batch("fifty", shared_batch(0x5a00, 50), "t")
        .await
        .unwrap();
    sb.run_within(BIG_BATCH).await;

    let plan = planned(&sb, &first).await;
    assert_eq!(
        plan.jobs_that_planned, 1,
        "one Terraform run for the batch: {:?}",
        plan.per_job
    );
    assert_eq!(plan.count("azuread_application.prisma_cloud"), 1);
    assert_eq!(plan.count("azuread_service_principal.prisma_cloud"), 1);
    assert_eq!(plan.count("azuread_application_password.prisma_cloud"), 1);
    assert_eq!(plan.count("azurerm_role_definition.prisma_cloud"), 50);
    assert_eq!(plan.count("time_sleep.role_definition_propagation"), 50);
    assert_eq!(plan.count("azurerm_role_assignment.custom"), 50);
    // No features asked: Reader is each subscription's one built-in role.
    assert_eq!(plan.count("azurerm_role_assignment.builtin"), 50);
    assert!(plan.other_actions.is_empty(), "{:?}", plan.other_actions);
    let ids = client_ids(&sb, &first).await;
    assert_eq!(ids.len(), 1, "one identity: {ids:?}");

    // 50 accounts in Prisma Cloud, every one with the shared identity's client ID.
    let accounts = sb.engine.client().list_accounts().await.unwrap();
    assert_eq!(accounts.len(), 50);

    // A second batch in the same tenant: the same identity, its plan adds only the new role
    // sets (nothing changed or replaced).
    let (_, second) = sb
        .engine
        .submit_batch("ten more", shared_batch(0x5b00, 10), "t")
        .await
        .unwrap();
    sb.run_within(BIG_BATCH).await;
    let plan = planned(&sb, &second).await;
    assert_eq!(plan.jobs_that_planned, 1);
    assert_eq!(plan.count("azuread_application.prisma_cloud"), 0);
    assert_eq!(plan.count("azuread_application_password.prisma_cloud"), 0);
    assert_eq!(plan.count("azurerm_role_assignment.custom"), 10);
    assert_eq!(plan.count("azurerm_role_definition.prisma_cloud"), 10);
    assert_eq!(plan.creates.len(), 10 * 4, "{:?}", plan.creates);
    assert!(
        plan.creates.iter().all(|a| a.contains("5b00")),
        "{:?}",
        plan.creates
    );
    assert!(plan.other_actions.is_empty(), "{:?}", plan.other_actions);
    assert_eq!(client_ids(&sb, &second).await, ids);
    assert_eq!(sb.engine.client().list_accounts().await.unwrap().len(), 60);

    // No plaintext state or provider directory is left in the tenant's workspace.
    let workspaces = sb.dir.path().join("workspaces");
    let tenant = std::fs::read_dir(&workspaces)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("tenant-identity")
        })
        .expect("the tenant's workspace");
    for gone in [
        "terraform.tfstate",
        "terraform.tfstate.backup",
        "tfplan",
        ".terraform",
    ] {
        assert!(
            !tenant.join(gone).exists(),
            "{gone} left in {}",
            tenant.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_batches_in_one_tenant_at_once_apply_one_after_the_other() {
    let Some(mode) = twin() else { return };
    let sb = Sandbox::start_with(mode, |_| {}, |c| c.concurrency = 8).await;
    let (_, a) = sb
        .engine
        .submit_batch("a", shared_batch(0x6a00, 12), "t")
        .await
        .unwrap();
    let (_, b) = sb
        .engine
        .submit_batch("b", shared_batch(0x6b00, 8), "t")
        .await
        .unwrap();
    sb.run().await;
    let all: Vec<JobId> = a.iter().chain(&b).copied().collect();
    let plan = planned(&sb, &all).await;
    // Had two applies run on the one state at once, each would have planned the identity.
    assert_eq!(plan.jobs_that_planned, 2);
    assert_eq!(plan.count("azuread_application.prisma_cloud"), 1);
    assert_eq!(plan.count("azurerm_role_assignment.custom"), 20);
    assert!(plan.other_actions.is_empty(), "{:?}", plan.other_actions);
    assert_eq!(client_ids(&sb, &all).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_subscription_identities_stay_one_per_row() {
    let Some(mode) = twin() else { return };
    let sb = Sandbox::start(mode).await;
    let items = (0..3)
        .map(|i| {
            let mut request = subscription(&guid(0x7a00, i), &format!("own-{i}"))
                .validate()
                .unwrap();
            IdentityPer::Subscription.apply(&mut request).unwrap();
            (request, None)
        })
        .collect();
    let (_, jobs) = sb.engine.submit_batch("own", items, "t").await.unwrap();
    sb.run().await;
    let plan = planned(&sb, &jobs).await;
    assert_eq!(plan.jobs_that_planned, 3);
    assert_eq!(plan.count("azuread_application.prisma_cloud"), 3);
    assert_eq!(client_ids(&sb, &jobs).await.len(), 3);
}

/// The chunks whose role sets a job's Terraform runs applied, with their sizes, from its
/// "role sets, chunk K: N subscription(s)" log lines.
async fn chunks_applied(sb: &Sandbox, jobs: &[JobId]) -> Vec<(u32, usize)> {
    let mut chunks = Vec::new();
    for job in jobs {
        for e in sb.events(*job).await {
            let Some(text) = e.event["message"].as_str() else {
                continue;
            };
            if let Some(rest) = text.strip_prefix("role sets, chunk ") {
                let (chunk, rest) = rest.split_once(": ").unwrap();
                let size = rest.split_once(' ').unwrap().0;
                chunks.push((chunk.parse().unwrap(), size.parse().unwrap()));
            }
        }
    }
    chunks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_sets_go_in_chunk_states_and_a_later_batch_plans_only_the_chunks_it_adds_to() {
    let Some(mode) = twin() else { return };
    let sb = Sandbox::start_with(
        mode,
        |_| {},
        |c| {
            c.concurrency = 8;
            c.role_set_chunk = 4;
        },
    )
    .await;
    let (_, first) = sb
        .engine
        .submit_batch("ten", shared_batch(0x8a00, 10), "t")
        .await
        .unwrap();
    sb.run_within(BIG_BATCH).await;
    let plan = planned(&sb, &first).await;
    assert_eq!(plan.jobs_that_planned, 1, "{:?}", plan.per_job);
    assert_eq!(plan.count("azuread_application.prisma_cloud"), 1);
    assert_eq!(plan.count("azurerm_role_definition.prisma_cloud"), 10);
    assert_eq!(plan.count("azurerm_role_assignment.custom"), 10);
    assert_eq!(plan.count("azurerm_role_assignment.builtin"), 10);
    assert!(plan.other_actions.is_empty(), "{:?}", plan.other_actions);
    assert_eq!(chunks_applied(&sb, &first).await, [(0, 4), (1, 4), (2, 2)]);
    let ids = client_ids(&sb, &first).await;
    assert_eq!(ids.len(), 1);

    // Each chunk has a state of its own in the store (the identity's beside them), and a
    // workspace without plaintext state.
    let store = sb.engine.store();
    let key = onboarding_engine::tenant_identity::owner(
        prisma_types::Environment::Azure,
        &prisma_types::TenantId::parse(TENANT).unwrap(),
    );
    for state_owner in [
        key.clone(),
        format!("{key}/roles-0"),
        format!("{key}/roles-1"),
        format!("{key}/roles-2"),
    ] {
        assert!(
            store
                .get_secret(&state_owner, onboarding_engine::identity::TERRAFORM_STATE)
                .await
                .unwrap()
                .is_some(),
            "no state for {state_owner}"
        );
        let workspace = sb
            .dir
            .path()
            .join("workspaces")
            .join(state_owner.replace('/', "-"));
        assert!(workspace.is_dir(), "{}", workspace.display());
        assert!(!workspace.join("terraform.tfstate").exists());
    }

    // Three more: chunk 2 fills up (two), chunk 3 opens (one); chunks 0 and 1 are not planned.
    let (_, second) = sb
        .engine
        .submit_batch("three more", shared_batch(0x8b00, 3), "t")
        .await
        .unwrap();
    sb.run_within(BIG_BATCH).await;
    assert_eq!(chunks_applied(&sb, &second).await, [(2, 4), (3, 1)]);
    let plan = planned(&sb, &second).await;
    assert_eq!(plan.jobs_that_planned, 1);
    assert_eq!(plan.creates.len(), 3 * 4, "{:?}", plan.creates);
    assert!(
        plan.creates.iter().all(|a| a.contains("8b00")),
        "{:?}",
        plan.creates
    );
    assert!(plan.other_actions.is_empty(), "{:?}", plan.other_actions);
    assert_eq!(client_ids(&sb, &second).await, ids);
    assert_eq!(sb.engine.client().list_accounts().await.unwrap().len(), 13);
}
