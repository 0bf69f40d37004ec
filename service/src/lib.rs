//! cubby's business rules and every database transaction.
//!
//! The `api` crate parses HTTP and calls exactly one function here per request;
//! this crate knows nothing of HTTP. Every write goes through [`tx::run`], which
//! picks the isolation level, takes the SQLite write lock up front, and retries
//! the whole transaction on the conflicts a database reports (G13). Errors are
//! one closed enum, [`Error`], which the `api` crate maps to problem+json.

pub mod access;
pub mod assets;
pub mod assignments;
pub mod auth;
pub mod backpack;
pub mod blob;
pub mod db;
pub mod error;
pub mod gc;
pub mod groups;
pub mod idempotency;
pub mod library;
pub mod object_blob;
pub mod page;
pub mod projects;
pub mod sb3;
pub mod storage_quota;
pub mod text;
pub mod tx;

pub use error::{Code, Error};
pub use sea_orm::DatabaseConnection;

use std::time::Duration;

/// What every service call needs: the pool and the settings that shape the rules.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The pool; reads through it survive a database restart ([`db::Db`]).
    pub db: db::Db,
    pub blobs: blob::Blobs,
    /// How writes run: the retry policy and SQLite's writer queue.
    pub retry: tx::Runner,
    pub settings: Settings,
    pub faults: Faults,
    /// New assets this process is writing now (uploads of the same one wait).
    pub uploads: assets::UploadsInFlight,
    /// The newest version this process committed of recently saved projects
    /// (lets a stale save skip SQLite's writer queue).
    pub committed: projects::CommittedVersions,
}

/// Failures the black-box tests inject to prove the rollback rules (G11).
/// All off in production; set only through hidden test settings.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Fail project writes after the body file is written, just before COMMIT.
    pub fail_before_commit: bool,
}

/// The current time, to whole seconds: every backend stores and returns it
/// unchanged (MariaDB's TIMESTAMP has no fractions), so a response made from
/// memory equals the same row read back later.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(0)
}

/// Limits and lifetimes from the configuration (see the README's table).
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// Projects one user may own.
    pub project_quota: u32,
    /// Largest project body, asset or backpack item in bytes.
    pub max_body_bytes: u64,
    /// Largest `.sb3` import, packed and unpacked, in bytes.
    pub max_import_bytes: u64,
    /// Saved versions kept per project.
    pub keep_versions: u32,
    /// How long a claimed upstream token refresh may take before another
    /// request may claim it (S9).
    pub refresh_lease: Duration,
    /// Bytes one user may make cubby store (S8); `0`: no limit (the count
    /// is kept all the same).
    pub user_storage_quota_bytes: u64,
    /// How long a deleted project stays in the trash before gc purges it.
    pub trash_retention: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            project_quota: 1000,
            max_body_bytes: 10 * 1024 * 1024,
            max_import_bytes: 50 * 1024 * 1024,
            keep_versions: 50,
            refresh_lease: Duration::from_secs(30),
            user_storage_quota_bytes: 1 << 30,
            trash_retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}
