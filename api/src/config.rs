//! Every setting of `cubby`, each one a flag and an environment variable
//! (the flag wins). Nothing is required: the defaults serve on SQLite under
//! `./cubby-data` at `127.0.0.1:8080`. The README's configuration table is
//! this file in prose; `cubby --help` prints it too.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::Args;

/// The blob store a configuration asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlobStoreKind {
    /// Files under this directory (`<data dir>/blobs`).
    Local(PathBuf),
    /// Objects in an S3-compatible bucket.
    S3(service::object_blob::S3Location),
}

#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Database URL: `sqlite:…`, `postgres://…` or `mysql://…` (MariaDB).
    /// Default: `sqlite://<data dir>/cubby.db?mode=rwc`.
    #[arg(
        long,
        env = "CUBBY_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Directory for the SQLite database (by default) and the blob files.
    #[arg(
        long,
        env = "CUBBY_DATA_DIR",
        default_value = "./cubby-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Where blobs live: `local` (files under `<data dir>/blobs`) or
    /// `s3://BUCKET[/PREFIX]` (S3-compatible object storage, connected with
    /// the standard `AWS_*` variables; lets several machines share one
    /// deployment).
    #[arg(
        long,
        env = "CUBBY_BLOB_STORE",
        default_value = "local",
        global = true,
        hide_env_values = true
    )]
    pub blob_store: String,

    /// Listen address; port 0 picks a free port (the printed URL shows it).
    #[arg(
        long,
        env = "CUBBY_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: SocketAddr,

    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "CUBBY_WORKERS", global = true)]
    pub workers: Option<usize>,

    /// Database pool size.
    #[arg(
        long,
        env = "CUBBY_DB_MAX_CONNECTIONS",
        default_value_t = 20,
        global = true
    )]
    pub db_max_connections: u32,

    /// Seconds to wait for a pooled connection before answering 503 `busy`.
    #[arg(
        long,
        env = "CUBBY_DB_ACQUIRE_TIMEOUT_SECS",
        default_value_t = 10,
        global = true
    )]
    pub db_acquire_timeout_secs: u64,

    /// Seconds an unused pooled connection is kept.
    #[arg(
        long,
        env = "CUBBY_DB_IDLE_TIMEOUT_SECS",
        default_value_t = 600,
        global = true
    )]
    pub db_idle_timeout_secs: u64,

    /// Seconds after which a pooled connection is replaced (like `pool_recycle`).
    #[arg(
        long,
        env = "CUBBY_DB_MAX_LIFETIME_SECS",
        default_value_t = 3600,
        global = true
    )]
    pub db_max_lifetime_secs: u64,

    /// Ping a pooled connection before using it (like `pool_pre_ping`).
    #[arg(long, env = "CUBBY_DB_TEST_BEFORE_ACQUIRE", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, global = true)]
    pub db_test_before_acquire: bool,

    /// Milliseconds one statement waits for a row lock (SQLite: the write
    /// lock) before the transaction is retried.
    #[arg(
        long,
        env = "CUBBY_DB_LOCK_TIMEOUT_MS",
        default_value_t = 5000,
        global = true
    )]
    pub db_lock_timeout_ms: u64,

    /// SQLite: run write transactions on one dedicated connection instead
    /// of the shared pool (both queue in the process first; see `tx`).
    #[arg(long, env = "CUBBY_DB_SQLITE_DEDICATED_WRITER", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, global = true, hide = true)]
    pub db_sqlite_dedicated_writer: bool,

    /// SQLite: `false` turns the in-process writer queue off (writers wait
    /// in SQLite's busy handler, as before it existed): for benchmarks only.
    #[arg(long, env = "CUBBY_DB_SQLITE_WRITER_QUEUE", default_value = "true", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, global = true, hide = true)]
    pub db_sqlite_writer_queue: bool,

    /// Milliseconds a transaction that keeps losing races is retried before
    /// the request answers 503 `busy`.
    #[arg(
        long,
        env = "CUBBY_TX_RETRY_BUDGET_MS",
        default_value_t = 10000,
        global = true
    )]
    pub tx_retry_budget_ms: u64,

    /// Enable `POST /auth/dev/login` (refused unless bound to loopback).
    #[arg(long, env = "CUBBY_DEV_LOGIN", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, global = true)]
    pub dev_login: bool,

    /// Hours a login session lasts.
    #[arg(
        long,
        env = "CUBBY_SESSION_TTL_HOURS",
        default_value_t = 168,
        global = true
    )]
    pub session_ttl_hours: u64,

    /// Login attempts per minute from one IP address (a school behind one
    /// NAT shares an address: keep it generous); 0 turns the limit off.
    #[arg(
        long,
        env = "CUBBY_LOGIN_RATE_PER_IP",
        default_value_t = 600,
        global = true
    )]
    pub login_rate_per_ip: u32,

    /// Login attempts per minute for one username (dev login); 0 turns it off.
    #[arg(
        long,
        env = "CUBBY_LOGIN_RATE_PER_USER",
        default_value_t = 60,
        global = true
    )]
    pub login_rate_per_user: u32,

    /// Wrong class join codes one user may send per window before every
    /// join of theirs is 429 until the window passes; 0 turns it off.
    #[arg(
        long,
        env = "CUBBY_JOIN_FAILURES_PER_USER",
        default_value_t = 10,
        global = true
    )]
    pub join_failures_per_user: u32,

    /// Wrong class join codes from one IP address per window (a school
    /// behind one NAT shares an address; right codes never count); 0 turns
    /// it off.
    #[arg(
        long,
        env = "CUBBY_JOIN_FAILURES_PER_IP",
        default_value_t = 100,
        global = true
    )]
    pub join_failures_per_ip: u32,

    /// The window of the join-code limits, in seconds.
    #[arg(
        long,
        env = "CUBBY_JOIN_FAILURE_WINDOW_SECS",
        default_value_t = 900,
        value_parser = clap::value_parser!(u64).range(1..=86_400),
        global = true
    )]
    pub join_failure_window_secs: u64,

    /// Projects one user may own.
    #[arg(
        long,
        env = "CUBBY_PROJECT_QUOTA",
        default_value_t = 1000,
        global = true
    )]
    pub project_quota: u32,

    /// Seconds a request body may take to arrive; a slower one is cut off
    /// with 408 `request_timeout`.
    #[arg(
        long,
        env = "CUBBY_BODY_TIMEOUT_SECS",
        default_value_t = 120,
        global = true
    )]
    pub body_timeout_secs: u64,

    /// Largest project body, asset or backpack item, in bytes.
    #[arg(long, env = "CUBBY_MAX_BODY_BYTES", default_value_t = 10 * 1024 * 1024, global = true)]
    pub max_body_bytes: u64,

    /// Largest `.sb3` import, in bytes: the upload itself, and again the
    /// total of its unpacked files (declared and actually inflated).
    #[arg(long, env = "CUBBY_MAX_IMPORT_BYTES", default_value_t = 50 * 1024 * 1024, global = true)]
    pub max_import_bytes: u64,

    /// Saved versions kept per project.
    #[arg(long, env = "CUBBY_KEEP_VERSIONS", default_value_t = 50, global = true)]
    pub keep_versions: u32,

    /// Bytes one user may make cubby store: new assets, backpack files and
    /// every kept version of the user's projects (default 1 GiB); 0: no limit.
    #[arg(
        long,
        env = "CUBBY_USER_STORAGE_QUOTA_BYTES",
        default_value_t = 1 << 30,
        global = true
    )]
    pub user_storage_quota_bytes: u64,

    /// Days a deleted project stays in its owner's trash before gc purges it.
    #[arg(
        long,
        env = "CUBBY_TRASH_RETENTION_DAYS",
        default_value_t = 30,
        global = true
    )]
    pub trash_retention_days: u32,

    /// The trash retention in seconds, overriding `CUBBY_TRASH_RETENTION_DAYS`
    /// when set. Hidden: for tests (and a deployment that wants less than a
    /// day); 0 purges the whole trash at the next gc.
    #[arg(long, env = "CUBBY_TRASH_RETENTION_SECS", global = true, hide = true)]
    pub trash_retention_secs: Option<u64>,

    /// OIDC issuer URL (discovery); OIDC login is off while unset.
    #[arg(long, env = "CUBBY_OIDC_ISSUER", global = true)]
    pub oidc_issuer: Option<String>,

    /// OIDC client id.
    #[arg(long, env = "CUBBY_OIDC_CLIENT_ID", global = true)]
    pub oidc_client_id: Option<String>,

    /// OIDC client secret.
    #[arg(
        long,
        env = "CUBBY_OIDC_CLIENT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub oidc_client_secret: Option<String>,

    /// The public base URL of this deployment (redirect URI = this + `/auth/callback`).
    #[arg(long, env = "CUBBY_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// The claim that lists the user's groups (classes).
    #[arg(
        long,
        env = "CUBBY_OIDC_GROUPS_CLAIM",
        default_value = "groups",
        global = true
    )]
    pub oidc_groups_claim: String,

    /// The claim that carries the role (`teacher` or `student`).
    #[arg(
        long,
        env = "CUBBY_OIDC_ROLE_CLAIM",
        default_value = "role",
        global = true
    )]
    pub oidc_role_claim: String,

    /// Seconds a blob file must be old before `gc` may remove it (it must
    /// outlast any request that writes a file and then commits).
    #[arg(
        long,
        env = "CUBBY_GC_GRACE_SECS",
        default_value_t = 3600,
        global = true
    )]
    pub gc_grace_secs: u64,

    /// Seconds between garbage collections inside `serve` (0: never).
    #[arg(
        long,
        env = "CUBBY_GC_INTERVAL_SECS",
        default_value_t = 3600,
        global = true
    )]
    pub gc_interval_secs: u64,

    /// Test-only: every blob write fails (G11 tests). Never in production.
    #[arg(long, env = "CUBBY_TEST_FAIL_BLOB_WRITES", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, global = true, hide = true)]
    pub test_fail_blob_writes: bool,

    /// Test-only: project writes fail just before COMMIT (G11 tests). Never in production.
    #[arg(long, env = "CUBBY_TEST_FAIL_BEFORE_COMMIT", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, global = true, hide = true)]
    pub test_fail_before_commit: bool,

    /// How long a request that refreshes a session's upstream tokens holds
    /// the refresh before another may try (a crashed refresher's lease
    /// expires). Hidden: the default suits every deployment; tests shorten it.
    #[arg(
        long,
        env = "CUBBY_REFRESH_LEASE_SECS",
        default_value_t = 30,
        global = true,
        hide = true
    )]
    pub refresh_lease_secs: u64,

    /// Test-only routes (`/__test/panic`), for the black-box suite. Never in production.
    #[arg(long, env = "CUBBY_TEST_ROUTES", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, global = true, hide = true)]
    pub test_routes: bool,

    /// The `dist/` folder of `@scratch/scratch-gui-standalone`; serves the editor when set.
    #[arg(long, env = "CUBBY_EDITOR_DIR", global = true)]
    pub editor_dir: Option<PathBuf>,

    /// Seconds the editor page waits between automatic saves while a
    /// project keeps changing (it also saves at once when the tab is
    /// hidden). 1–3600.
    #[arg(long, env = "CUBBY_AUTOSAVE_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3600), global = true)]
    pub autosave_seconds: u32,
}

impl Config {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}/cubby.db?mode=rwc", self.data_dir.display()),
        }
    }

    /// Which blob store `--blob-store` names. Parsed at start-up (not by
    /// clap) so that a bad value is a start-up error like any other (exit 1).
    pub fn blob_store_kind(&self) -> Result<BlobStoreKind, String> {
        match self.blob_store.trim() {
            "" | "local" => Ok(BlobStoreKind::Local(self.data_dir.join("blobs"))),
            other => service::object_blob::S3Location::parse(other).map(BlobStoreKind::S3),
        }
    }

    pub fn pool_settings(&self) -> service::db::PoolSettings {
        service::db::PoolSettings {
            max_connections: self.db_max_connections.max(1),
            acquire_timeout: Duration::from_secs(self.db_acquire_timeout_secs),
            idle_timeout: Duration::from_secs(self.db_idle_timeout_secs),
            max_lifetime: Duration::from_secs(self.db_max_lifetime_secs),
            test_before_acquire: self.db_test_before_acquire,
            lock_timeout: Duration::from_millis(self.db_lock_timeout_ms.max(1)),
            sqlite_dedicated_writer: self.db_sqlite_dedicated_writer,
            sqlite_writer_queue: self.db_sqlite_writer_queue,
        }
    }

    pub fn retry_policy(&self) -> service::tx::RetryPolicy {
        service::tx::RetryPolicy {
            budget: Duration::from_millis(self.tx_retry_budget_ms),
            ..Default::default()
        }
    }

    pub fn service_settings(&self) -> service::Settings {
        service::Settings {
            session_ttl: Duration::from_secs(self.session_ttl_hours.max(1) * 3600),
            project_quota: self.project_quota,
            max_body_bytes: self.max_body_bytes,
            max_import_bytes: self.max_import_bytes,
            keep_versions: self.keep_versions.max(1),
            refresh_lease: Duration::from_secs(self.refresh_lease_secs.max(1)),
            user_storage_quota_bytes: self.user_storage_quota_bytes,
            trash_retention: self.trash_retention(),
        }
    }

    /// How long a project stays in the trash (at most 100 years).
    pub fn trash_retention(&self) -> Duration {
        const MAX_SECS: u64 = 100 * 366 * 24 * 3600;
        let secs = self
            .trash_retention_secs
            .unwrap_or(u64::from(self.trash_retention_days) * 24 * 3600);
        Duration::from_secs(secs.min(MAX_SECS))
    }

    pub fn gc_grace(&self) -> Duration {
        Duration::from_secs(self.gc_grace_secs)
    }

    /// Cookies get `Secure` when the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}
