//! A SQLite store in a temp dir with a few jobs, for the unit tests of the event path.

use cortex_store::{JobId, Keyring, NewJob, Store};
use serde_json::json;

/// Opens a store in `dir` holding `n` queued jobs; returns it with their ids.
pub(crate) async fn store_with_jobs(dir: &std::path::Path, n: usize) -> (Store, Vec<JobId>) {
    let keyring = Keyring::load_or_create(dir).unwrap();
    let url = format!("sqlite://{}", dir.join("cortex.db").display());
    let store = Store::open(&url, keyring).await.unwrap();
    let mut jobs = Vec::new();
    for _ in 0..n {
        let job = NewJob {
            id: JobId::new(),
            batch_id: None,
            kind: "onboard".into(),
            request: json!({}),
            created_by: "test".into(),
        };
        store.insert_job(&job).await.unwrap();
        jobs.push(job.id);
    }
    (store, jobs)
}
