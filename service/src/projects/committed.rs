//! The newest version this process has committed of each recently saved
//! project: an in-memory hint that lets a save which can only be refused
//! (its version is stale) give back its turn in SQLite's writer queue
//! without a transaction (see [`crate::tx::run_unless`]). Only a hint:
//! another process's saves are not in it, and the save's transaction still
//! checks the version itself. Versions only grow, so a version recorded
//! here that is newer than the one a save expects proves the save stale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// How many projects are remembered; past that the record starts afresh
/// (forgetting only makes a stale save take a turn, as before).
const REMEMBERED: usize = 16 * 1024;

/// Project id → the newest version committed here. One per process, shared
/// by every [`crate::Ctx`] clone.
#[derive(Clone, Debug, Default)]
pub struct CommittedVersions(Arc<Mutex<HashMap<i64, i32>>>);

impl CommittedVersions {
    /// Notes that `version` of project `id` committed.
    pub(crate) fn record(&self, id: i64, version: i32) {
        let mut versions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if versions.len() >= REMEMBERED && !versions.contains_key(&id) {
            versions.clear();
        }
        let newest = versions.entry(id).or_insert(version);
        *newest = (*newest).max(version);
    }

    /// Is `expected` the newest version of project `id` this process has
    /// committed? (A save expecting it is most likely current: only another
    /// process's save could have moved the project on since.)
    pub(crate) fn is_newest(&self, id: i64, expected: i32) -> bool {
        let versions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        versions.get(&id) == Some(&expected)
    }

    /// Is a save of project `id` that expects `expected` known to be stale?
    pub(crate) fn is_stale(&self, id: i64, expected: i32) -> bool {
        let versions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        versions.get(&id).is_some_and(|newest| *newest > expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_newer_recorded_version_proves_a_save_stale() {
        let committed = CommittedVersions::default();
        assert!(!committed.is_stale(7, 1), "nothing recorded");
        committed.record(7, 3);
        committed.record(7, 2); // a late note of an older commit changes nothing
        assert!(committed.is_stale(7, 2));
        assert!(!committed.is_stale(7, 3));
        assert!(!committed.is_stale(7, 4));
        assert!(!committed.is_stale(8, 1));
        assert!(committed.is_newest(7, 3));
        assert!(!committed.is_newest(7, 2));
        assert!(!committed.is_newest(7, 4));
        assert!(!committed.is_newest(8, 1));
    }
}
