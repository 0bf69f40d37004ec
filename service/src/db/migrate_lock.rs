//! A database-wide lock around applying or reverting migrations (G19).
//!
//! Several `cubby serve` (or `cubby migrate`) processes started together on
//! one fresh database would otherwise all run the same `CREATE TABLE`s, and
//! all but one would exit with "already exists". Whoever takes the lock first
//! migrates; the others wait for it, then find nothing pending.
//!
//! * **PostgreSQL**: `pg_advisory_lock(PG_LOCK_KEY)` on a connection of its
//!   own, opened outside the pool with the pool's connect options, held while
//!   the migrator runs on the pool, and `pg_advisory_unlock` on that same
//!   connection. It must not be a pooled statement: the pool hands each
//!   statement whichever connection is free, and sea-orm-migration opens one
//!   transaction per migration on PostgreSQL, so a lock taken through the pool
//!   could be released on another connection (a no-op) and stay held.
//!   Advisory locks belong to the current database and to the session: a
//!   commit does not release them, a dropped connection does.
//! * **MariaDB**: `GET_LOCK('cubby_migrate:<database>', …)` / `RELEASE_LOCK`,
//!   the same way. Named locks are server-wide, hence the database in the
//!   name; the implicit commits of DDL do not release them.
//! * **SQLite** has no named locks; its write lock is the lock. The whole run
//!   is one `BEGIN IMMEDIATE` transaction on one connection (SQLite's DDL is
//!   transactional), so a second process waits at `BEGIN` until the first
//!   has committed, and then sees every migration applied. This was chosen
//!   over retrying when a `CREATE` says "already exists": a retry has to
//!   guess which errors are races, and the others could see (and act on) a
//!   half-migrated schema; the transaction also leaves nothing behind when
//!   a migration fails.
//!
//! The wait is bounded by [`LOCK_WAIT`]; after that the process gives up with
//! an error instead of hanging.

use std::sync::Arc;
use std::time::{Duration, Instant};

use migration::{IntoSchemaManagerConnection, Migrator, MigratorTrait};
use sea_orm::sqlx::{self, ConnectOptions, Connection};
use sea_orm::{
    DatabaseConnection, DatabaseConnectionType, DbErr, RuntimeErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

use crate::tx::{classify, Conflict};

/// How long a process waits for another one's migrations.
pub const LOCK_WAIT: Duration = Duration::from_secs(600);

/// The advisory lock key on PostgreSQL ("cubby" in ASCII, then 1).
const PG_LOCK_KEY: i64 = 0x0063_7562_6279_0001;

/// Between two `BEGIN IMMEDIATE` attempts on SQLite (each already waits
/// `busy_timeout`).
const SQLITE_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// What to do under the lock.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    Up,
    Down(Option<u32>),
}

async fn apply<'c, C: IntoSchemaManagerConnection<'c>>(db: C, step: Step) -> Result<(), DbErr> {
    match step {
        Step::Up => Migrator::up(db, None).await,
        Step::Down(n) => Migrator::down(db, n).await,
    }
}

/// Runs `step` while holding the database-wide migration lock.
pub async fn run_locked(db: &DatabaseConnection, step: Step) -> Result<(), DbErr> {
    match &db.inner {
        DatabaseConnectionType::SqlxPostgresPoolConnection(_) => postgres(db, step).await,
        DatabaseConnectionType::SqlxMySqlPoolConnection(_) => mysql(db, step).await,
        DatabaseConnectionType::SqlxSqlitePoolConnection(_) => sqlite(db, step).await,
        _ => Err(DbErr::Custom(
            "migrations need a PostgreSQL, MariaDB or SQLite pool".into(),
        )),
    }
}

fn conn_err(e: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e)))
}

fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
}

/// The migration's result, unless it succeeded and the unlock failed.
/// After a locked run: closes the lock's connection and reports the run's
/// error first, else a lock that was no longer held at the release.
async fn finish(
    lock: impl sqlx::Connection,
    run: Result<(), DbErr>,
    released: Result<bool, DbErr>,
) -> Result<(), DbErr> {
    let unlock = released.and_then(|held| match held {
        true => Ok(()),
        false => Err(DbErr::Custom(
            "the migration lock was lost while migrating".into(),
        )),
    });
    if let Err(e) = lock.close().await {
        tracing::warn!(error = %e, "closing the migration lock connection failed");
    }
    first_error(run, unlock)
}

fn first_error(run: Result<(), DbErr>, unlock: Result<(), DbErr>) -> Result<(), DbErr> {
    match (run, unlock) {
        (Err(e), Err(unlock)) => {
            tracing::warn!(error = %unlock, "releasing the migration lock failed");
            Err(e)
        }
        (Err(e), Ok(())) => Err(e),
        (Ok(()), unlock) => unlock,
    }
}

async fn postgres(db: &DatabaseConnection, step: Step) -> Result<(), DbErr> {
    let options = db.get_postgres_connection_pool().connect_options();
    let mut lock = options.connect().await.map_err(conn_err)?;
    // The pool's `lock_timeout` (seconds) would cut the wait short; this
    // session waits up to LOCK_WAIT for the advisory lock.
    let wait = format!("SET lock_timeout = '{}s'", LOCK_WAIT.as_secs());
    sqlx::raw_sql(sqlx::AssertSqlSafe(wait))
        .execute(&mut lock)
        .await
        .map_err(query_err)?;
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(PG_LOCK_KEY)
        .fetch_one(&mut lock)
        .await
        .map_err(query_err)?;
    if !got {
        tracing::info!("waiting for another process's migrations (PostgreSQL advisory lock)");
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(PG_LOCK_KEY)
            .execute(&mut lock)
            .await
            .map_err(query_err)?;
    }
    let run = apply(db, step).await;
    let released = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1)")
        .bind(PG_LOCK_KEY)
        .fetch_one(&mut lock)
        .await
        .map_err(query_err);
    finish(lock, run, released).await
}

async fn mysql(db: &DatabaseConnection, step: Step) -> Result<(), DbErr> {
    let options = db.get_mysql_connection_pool().connect_options();
    let mut lock = options.connect().await.map_err(conn_err)?;
    // At most 64 characters; a longer database name only shares its lock.
    let name: String =
        sqlx::query_scalar("SELECT LEFT(CONCAT('cubby_migrate:', COALESCE(DATABASE(), '')), 64)")
            .fetch_one(&mut lock)
            .await
            .map_err(query_err)?;
    // 1: taken, 0: timed out, NULL: an error (e.g. killed).
    let get = |secs: u64| {
        sqlx::query_scalar::<_, Option<i64>>("SELECT GET_LOCK(?, ?)")
            .bind(name.clone())
            .bind(secs)
    };
    let mut got = get(0).fetch_one(&mut lock).await.map_err(query_err)?;
    if got != Some(1) {
        tracing::info!("waiting for another process's migrations (MariaDB GET_LOCK)");
        got = get(LOCK_WAIT.as_secs())
            .fetch_one(&mut lock)
            .await
            .map_err(query_err)?;
    }
    if got != Some(1) {
        let _ = lock.close().await;
        return Err(DbErr::Custom(format!(
            "another process held the migration lock {name:?} for over {}s",
            LOCK_WAIT.as_secs()
        )));
    }
    let run = apply(db, step).await;
    let released = sqlx::query_scalar::<_, Option<i64>>("SELECT RELEASE_LOCK(?)")
        .bind(name.clone())
        .fetch_one(&mut lock)
        .await
        .map(|r| r == Some(1))
        .map_err(query_err);
    finish(lock, run, released).await
}

async fn sqlite(db: &DatabaseConnection, step: Step) -> Result<(), DbErr> {
    let immediate = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    let deadline = Instant::now() + LOCK_WAIT;
    let mut said = false;
    let txn = loop {
        match db.begin_with_options(immediate).await {
            Ok(txn) => break txn,
            Err(e) if classify(&e) == Some(Conflict::Busy) && Instant::now() < deadline => {
                if !said {
                    tracing::info!("waiting for another process's migrations (SQLite write lock)");
                    said = true;
                }
                tokio::time::sleep(SQLITE_RETRY_PAUSE).await;
            }
            Err(e) => return Err(e),
        }
    };
    match apply(&txn, step).await {
        Ok(()) => txn.commit().await,
        Err(e) => {
            if let Err(rollback) = txn.rollback().await {
                tracing::warn!(error = %rollback, "rolling back a failed migration failed");
            }
            Err(e)
        }
    }
}
