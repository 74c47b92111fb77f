//! Creates that are never duplicated: commit-then-drop, adoption, eventual consistency.

use std::time::Duration;

use prisma_client::{ClientEvent, Outcome};
use prisma_emulator::Faults;

use crate::common::*;

#[tokio::test]
async fn commit_then_drop_gives_exactly_one_account_and_a_success() {
    for read_delay in [Duration::ZERO, Duration::from_millis(400)] {
        let emu = TestEmulator::start(|c| c.read_delay = read_delay).await;
        let t = emu.client();
        t.client.ensure_session().await.unwrap();
        emu.set_faults(Faults {
            p_commit_then_drop: 1.0,
            ..Faults::default()
        });
        let account = subscription(1);
        let reg = t
            .client
            .add_azure_account(&account, true)
            .await
            .expect("success despite the drop");
        assert!(reg.reconciled);
        assert_eq!(reg.account_id, account.account_id());
        // Readable at once → read back finds it (created); not yet readable → the re-send is
        // refused as a duplicate (adopted). Either way: one account.
        let expected = if read_delay.is_zero() {
            Outcome::Created
        } else {
            Outcome::Adopted
        };
        assert_eq!(reg.outcome, expected, "read delay {read_delay:?}");
        assert_eq!(emu.stats().accounts, 1);
        assert_eq!(
            emu.stats().endpoints["POST /cas/v1/azure_account"].commit_then_drop,
            1
        );
        assert!(
            t.events()
                .iter()
                .any(|e| matches!(e, ClientEvent::Reconciled { .. }))
        );
    }
}

#[tokio::test]
async fn a_duplicate_is_adopted_and_reported_as_such() {
    let emu = TestEmulator::start(|_| {}).await;
    let t = emu.client();
    let account = subscription(2);
    assert_eq!(
        t.client
            .add_azure_account(&account, true)
            .await
            .unwrap()
            .outcome,
        Outcome::Created
    );
    let again = t.client.add_azure_account(&account, true).await.unwrap();
    assert_eq!(again.outcome, Outcome::Adopted);
    assert!(!again.reconciled);
    assert_eq!(emu.stats().accounts, 1);
}

#[tokio::test]
async fn a_new_account_becomes_readable_after_the_consistency_delay() {
    let emu = TestEmulator::start(|c| c.read_delay = Duration::from_millis(600)).await;
    let t = emu.client();
    let account = subscription(3);
    t.client.add_azure_account(&account, true).await.unwrap();
    assert!(
        t.client
            .get_azure_account(account.account_id())
            .await
            .unwrap()
            .is_none()
    );
    let view = t
        .client
        .wait_until_readable(account.account_id(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(view.cloud_account.account_id, account.account_id());
    assert_eq!(
        view.key, "********",
        "the secret is only ever returned masked"
    );
}

#[tokio::test]
async fn account_groups_are_created_once_even_when_the_answer_is_lost() {
    let emu = TestEmulator::start(|_| {}).await;
    let t = emu.client();
    t.client.ensure_session().await.unwrap();
    emu.set_faults(Faults {
        p_commit_then_drop: 1.0,
        ..Faults::default()
    });
    let (group, outcome) = t.client.create_account_group("Payments", "").await.unwrap();
    assert_eq!(
        (group.name.as_str(), outcome),
        ("Payments", Outcome::Created)
    );
    emu.set_faults(Faults::default());
    let (_, outcome) = t.client.create_account_group("payments", "").await.unwrap();
    assert_eq!(outcome, Outcome::Adopted);
    let groups = t.client.list_account_groups().await.unwrap();
    assert_eq!(groups.iter().filter(|g| g.name == "Payments").count(), 1);
}

#[tokio::test]
async fn a_create_answered_503_is_sent_again_without_a_read_back_and_one_answered_500_is_read_back()
{
    const READ_BACK: &str = "GET /v1/cloudAccounts/azureAccounts/{account_id}";
    const CREATE: &str = "POST /cas/v1/azure_account";
    let emu = TestEmulator::start(|_| {}).await;
    let t = emu.client();
    t.client.ensure_session().await.unwrap();
    // A 503 says the server could not handle the request: re-sent after its Retry-After.
    emu.set_faults(Faults {
        p_503: 0.5,
        retry_after_secs: 0,
        ..Faults::default()
    });
    for n in 1..=8 {
        let reg = t
            .client
            .add_azure_account(&subscription(n), true)
            .await
            .unwrap();
        assert_eq!(reg.outcome, Outcome::Created);
        assert!(
            !reg.reconciled,
            "account {n} was looked up before the re-send"
        );
    }
    let stats = emu.stats();
    assert!(
        stats.endpoints[CREATE].injected_503 > 0,
        "the seed drew no 503"
    );
    assert_eq!(stats.accounts, 8);
    assert_eq!(stats.duplicates_refused, 0);
    assert!(
        !stats.endpoints.contains_key(READ_BACK),
        "{:?}",
        stats.endpoints.keys()
    );
    // A 500 may follow work the server did: the account is looked up before another create.
    let t = emu.client_with(|c| c.retry.max_attempts = 2);
    emu.set_faults(Faults::default());
    t.client.ensure_session().await.unwrap();
    emu.set_faults(Faults {
        p_500: 1.0,
        ..Faults::default()
    });
    let err = t.client.add_azure_account(&subscription(9), true).await;
    assert!(err.is_err());
    assert!(emu.stats().endpoints[READ_BACK].requests > 0);
}
