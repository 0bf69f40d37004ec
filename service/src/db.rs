//! Opening the connection pool for SQLite, PostgreSQL or MariaDB, and running
//! the migrations (under a database-wide lock: see [`migrate_lock`]).
//!
//! One pool serves every request. Lock waits are bounded on every backend
//! (`lock_timeout` on PostgreSQL, `innodb_lock_wait_timeout` on MariaDB,
//! `busy_timeout` on SQLite) so a stuck lock turns into a retryable error that
//! [`crate::tx`] handles, never into a request that hangs.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};

mod fixed_sql;
pub mod migrate_lock;
mod reads;
pub use fixed_sql::FixedSql;
pub use reads::{Db, READ_RETRY_KINDS};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::{AssertSqlSafe, Executor};
pub use sea_orm::DbErr;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

use crate::tx::{RetryPolicy, Runner};

/// Pool and lock-wait settings (each one a flag and an env var of `cubby`).
#[derive(Clone, Debug)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub idle_timeout: Duration,
    /// Connections are closed and replaced after this age (like `pool_recycle`).
    pub max_lifetime: Duration,
    /// Ping a pooled connection before handing it out (like `pool_pre_ping`).
    /// Off by default: a dead connection fails its first statement instead,
    /// which [`crate::tx::run`] and [`Db`] retry on a fresh one.
    pub test_before_acquire: bool,
    /// How long one statement waits for a row lock (or SQLite's write lock)
    /// before the database reports a retryable error.
    pub lock_timeout: Duration,
    /// SQLite: write transactions on a pool of one connection of their
    /// own rather than on the shared pool.
    pub sqlite_dedicated_writer: bool,
    /// SQLite: queue writers in the process (off only to measure what the
    /// queue gains).
    pub sqlite_writer_queue: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 20,
            acquire_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            test_before_acquire: false,
            lock_timeout: Duration::from_secs(5),
            sqlite_dedicated_writer: false,
            sqlite_writer_queue: true,
        }
    }
}

/// Opens the pool. SQLite gets WAL, `busy_timeout` and foreign keys; every
/// backend gets its lock-wait bound.
pub async fn connect(url: &str, pool: &PoolSettings) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(pool.max_connections)
        .min_connections(0)
        .acquire_timeout(pool.acquire_timeout)
        .idle_timeout(pool.idle_timeout)
        .max_lifetime(pool.max_lifetime)
        .test_before_acquire(pool.test_before_acquire)
        .sqlx_logging(false);

    let lock_timeout = pool.lock_timeout;
    opts.map_sqlx_sqlite_opts(move |o| {
        o.journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(lock_timeout)
            .foreign_keys(true)
            .create_if_missing(true)
    });
    let pg_lock_timeout = format!("{}ms", lock_timeout.as_millis().max(1));
    // Edits run at READ COMMITTED (see `tx`). Making it the session default
    // here, rather than a `SET TRANSACTION` in every edit, saves a round
    // trip per write transaction; get-or-create still sets REPEATABLE READ.
    opts.map_sqlx_postgres_opts(move |o| {
        o.options([
            ("lock_timeout", pg_lock_timeout.as_str()),
            ("default_transaction_isolation", "read committed"),
        ])
    });
    // MariaDB counts this in whole seconds (at least 1).
    let mysql_secs = lock_timeout.as_secs().max(1);
    opts.map_sqlx_mysql_pool_opts(move |o| {
        o.after_connect(move |conn, _meta| {
            Box::pin(async move {
                let sql = format!("SET SESSION innodb_lock_wait_timeout = {mysql_secs}");
                conn.execute(AssertSqlSafe(sql)).await?;
                conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                    .await?;
                Ok(())
            })
        })
    });
    open_when_free(opts, pool.lock_timeout).await
}

/// The transaction runner for the pool `db` opened on `url`: on SQLite
/// with its process-wide writer queue, and with `sqlite_dedicated_writer`
/// also the one write connection it runs write transactions on.
pub async fn runner(
    url: &str,
    pool: &PoolSettings,
    policy: RetryPolicy,
    db: &DatabaseConnection,
) -> Result<Runner, DbErr> {
    if !pool.sqlite_writer_queue {
        return Ok(Runner::without_queue(policy));
    }
    let runner = Runner::new(policy, db);
    if !(pool.sqlite_dedicated_writer && db.get_database_backend() == DbBackend::Sqlite) {
        return Ok(runner);
    }
    let one = PoolSettings {
        max_connections: 1,
        ..pool.clone()
    };
    Ok(runner.with_writer(connect(url, &one).await?))
}

/// Opens the pool, waiting while another process holds SQLite's lock: the
/// first connection to a fresh file switches it to WAL, which needs the
/// file to itself, so processes started together (G19) can see `database
/// is locked` here, before any busy handler applies. Retried with a short
/// jittered pause for up to `patience` (at least 10 s); other errors and
/// other backends fail at once.
async fn open_when_free(
    opts: ConnectOptions,
    patience: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let deadline = std::time::Instant::now() + patience.max(Duration::from_secs(10));
    loop {
        match Database::connect(opts.clone()).await {
            Err(err)
                if crate::tx::classify(&err) == Some(crate::tx::Conflict::Busy)
                    && std::time::Instant::now() < deadline =>
            {
                tracing::info!(error = %err, "the database file is busy; opening again");
                let pause = rand::Rng::random_range(&mut rand::rng(), 20..120);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            other => return other,
        }
    }
}

/// Applies every pending migration, holding the migration lock: processes
/// started together on one database migrate one after the other (G19).
pub async fn migrate_up(db: &DatabaseConnection) -> Result<(), DbErr> {
    migrate_lock::run_locked(db, migrate_lock::Step::Up).await
}

/// Reverts the newest `steps` migrations (all of them when `None`), holding
/// the migration lock.
pub async fn migrate_down(db: &DatabaseConnection, steps: Option<u32>) -> Result<(), DbErr> {
    migrate_lock::run_locked(db, migrate_lock::Step::Down(steps)).await
}

/// Each migration's name and whether it is applied, oldest first. Read-only:
/// it never creates the migrations table (that happens only under the lock).
pub async fn migration_status(db: &DatabaseConnection) -> Result<Vec<(String, bool)>, DbErr> {
    let all = Migrator::get_migration_with_status_read_only(db).await?;
    Ok(all
        .iter()
        .map(|m| {
            let applied = matches!(m.status(), migration::MigrationStatus::Applied);
            (m.name().to_owned(), applied)
        })
        .collect())
}

/// `SELECT 1`: is the database reachable?
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}
