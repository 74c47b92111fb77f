//! The store's behaviour, run against SQLite and PostgreSQL.
//!
//! Every story in `common/stories.rs` runs once per backend: `sqlite::<story>` on a file in a
//! temp dir, `postgres::<story>` on its own database in a throwaway cluster that the tests start
//! (see `common/pg.rs`; missing PostgreSQL binaries fail the tests, they never skip).

mod common;

macro_rules! stories {
    ($($story:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $story() {
                    let h = crate::common::Harness::sqlite().await;
                    crate::common::stories::$story(&h).await;
                    h.store.close().await;
                }
            )+

            /// Several processes opening (creating) a new database file at once.
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_first_open() {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/cortex.db", dir.path().display());
                crate::common::stories::concurrent_first_open(&url).await;
            }
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $story() {
                    let h = crate::common::Harness::postgres(stringify!($story)).await;
                    crate::common::stories::$story(&h).await;
                    h.store.close().await;
                }
            )+

            /// Several replicas opening an empty database at once.
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_first_open() {
                let url = crate::common::pg::fresh_database("concurrent_first_open").await;
                crate::common::stories::concurrent_first_open(&url).await;
            }
        }
    };
}

stories!(
    migrations_idempotent,
    insert_and_get_job,
    duplicate_job_is_conflict,
    insert_batch_is_atomic,
    concurrent_claims_never_overlap,
    claims_oldest_first,
    any_job_to_run_counts_queued_and_running_only,
    expired_lease_is_reclaimed,
    concurrent_event_appends_are_gapless,
    batched_event_appends_are_gapless_and_atomic,
    steps_upsert,
    steps_and_events_recorded_together,
    cancel_approve_requeue,
    batch_summary_counts,
    secrets_round_trip_encrypted_at_rest,
    secrets_in_bulk,
    secrets_list_names_and_delete_one,
    secrets_tamper_is_detected,
    secrets_rotation,
    audit_list_ordering,
    master_key_mismatch_is_refused,
    batch_keeps_its_source_rows,
    watch_leases_once_per_round,
    health_history_and_latest,
    notifications_once_and_dead_letters,
    named_leases_have_one_holder,
    desired_states_and_drift_findings,
    job_changes_reach_other_replicas,
);

mod misc {
    use std::os::unix::fs::PermissionsExt;

    use cortex_store::{Keyring, Store, keyring};

    #[tokio::test]
    async fn unsupported_url_is_a_config_error_without_the_url() {
        let err = Store::open("mysql://root:hunter2@db/x", Keyring::generate().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "config");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn in_memory_sqlite_works() {
        let store = Store::open("sqlite::memory:", Keyring::generate().unwrap())
            .await
            .unwrap();
        assert_eq!(store.backend(), "sqlite");
        let job = cortex_store::NewJob {
            id: cortex_store::JobId::new(),
            batch_id: None,
            kind: "k".into(),
            request: serde_json::json!({}),
            created_by: "me".into(),
        };
        store.insert_job(&job).await.unwrap();
        assert!(store.get_job(job.id).await.unwrap().is_some());
        store.close().await;
    }

    /// Through the public API (the env-var path is unit-tested inside the crate).
    #[test]
    fn key_file_mode_0600_and_looser_refused() {
        assert!(
            std::env::var_os(keyring::ENV_MASTER_KEY).is_none(),
            "unset {} to run the tests: it overrides the key file",
            keyring::ENV_MASTER_KEY
        );
        let dir = tempfile::tempdir().unwrap();
        let created = Keyring::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(keyring::KEY_FILE_NAME);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = Keyring::load_or_create(dir.path()).unwrap();
        assert_eq!(loaded.current_key_id(), created.current_key_id());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(created.current_key_id()));
        assert!(!format!("{loaded:?}").contains(&text[text.find("\"keys\"").unwrap()..]));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Keyring::load_or_create(dir.path()).unwrap_err();
        assert_eq!(err.code(), "config");
        assert!(err.to_string().contains("0644"), "{err}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let rotated = Keyring::rotate_file(dir.path()).unwrap();
        assert_ne!(rotated.current_key_id(), created.current_key_id());
        assert!(rotated.key_ids().any(|id| id == created.current_key_id()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
