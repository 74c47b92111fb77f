//! Lookups the jobs of one batch share: the account groups (to resolve names) and the features
//! each account shape supports. Read once per batch and connection instead of once per job —
//! one `GET /cloud/group` per job capped a named-group batch at that endpoint's rate limit.
//!
//! The first job that needs a lookup makes it while the others wait for its answer (a group
//! it creates is added to the shared list, so the batch creates each missing group once). A
//! job outside a batch gets lookups of its own. Entries expire after [`TTL`] (a batch that runs
//! for hours sees groups created meanwhile) and only the [`KEPT`] most recent batches are kept.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cortex_store::BatchId;
use prisma_client::FeatureScope;
use prisma_types::feature::Environment;
use prisma_types::wire::{AccountGroup, FeaturesResponse};

use crate::connections::ConnectionName;

pub const TTL: Duration = Duration::from_secs(600);
pub const KEPT: usize = 64;

/// One batch's lookups (for one connection).
#[derive(Default)]
pub(crate) struct Lookups {
    /// The account groups, once read; the lock makes concurrent jobs wait for one read.
    pub groups: tokio::sync::Mutex<Option<Vec<AccountGroup>>>,
    pub features: tokio::sync::Mutex<HashMap<(FeatureScope, Environment), FeaturesResponse>>,
}

type Key = (BatchId, Option<ConnectionName>);

/// The lookups of the batches being run, most recent last.
#[derive(Default)]
pub(crate) struct BatchLookups {
    entries: Mutex<VecDeque<(Key, Instant, Arc<Lookups>)>>,
}

impl BatchLookups {
    /// The shared lookups of `batch` on `connection`; fresh ones for a job without a batch.
    pub fn of(&self, batch: Option<BatchId>, connection: Option<&ConnectionName>) -> Arc<Lookups> {
        let Some(batch) = batch else {
            return Arc::default();
        };
        let key = (batch, connection.cloned());
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(_, at, _)| now.duration_since(*at) < TTL);
        if let Some((_, _, found)) = entries.iter().find(|(k, _, _)| *k == key) {
            return found.clone();
        }
        if entries.len() >= KEPT {
            entries.pop_front();
        }
        let fresh = Arc::<Lookups>::default();
        entries.push_back((key, now, fresh.clone()));
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_batch_and_connection() {
        let lookups = BatchLookups::default();
        let (a, b) = (BatchId(uuid::Uuid::now_v7()), BatchId(uuid::Uuid::now_v7()));
        let other = ConnectionName::parse("eu").unwrap();
        assert!(Arc::ptr_eq(
            &lookups.of(Some(a), None),
            &lookups.of(Some(a), None)
        ));
        assert!(!Arc::ptr_eq(
            &lookups.of(Some(a), None),
            &lookups.of(Some(b), None)
        ));
        assert!(!Arc::ptr_eq(
            &lookups.of(Some(a), None),
            &lookups.of(Some(a), Some(&other))
        ));
        assert!(!Arc::ptr_eq(
            &lookups.of(None, None),
            &lookups.of(None, None)
        ));
        // Bounded: the oldest batch goes first.
        for _ in 0..KEPT {
            lookups.of(Some(BatchId(uuid::Uuid::now_v7())), None);
        }
        assert_eq!(lookups.entries.lock().unwrap().len(), KEPT);
        assert!(
            !lookups
                .entries
                .lock()
                .unwrap()
                .iter()
                .any(|(k, _, _)| k.0 == a)
        );
    }
}
