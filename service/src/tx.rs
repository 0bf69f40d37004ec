//! The transaction core: every write transaction in cubby runs through [`run`].
//!
//! * Isolation is chosen per operation ([`Kind`]): edits run at READ COMMITTED
//!   (the connections' session default) and serialise on row locks
//!   (`SELECT … FOR UPDATE`, or an `UPDATE` whose WHERE is the check);
//!   get-or-create runs at REPEATABLE READ, where its snapshot is the point.
//!   On SQLite every write transaction is `BEGIN IMMEDIATE`, because
//!   sea-query emits no `FOR UPDATE` there: the database-wide write lock is
//!   taken before the first read.
//! * Errors the engine reports for a race (PostgreSQL 40001/40P01/55P03,
//!   MariaDB 1213/1205, SQLite BUSY/LOCKED) roll back and re-run the whole
//!   transaction after a capped, jittered exponential backoff, until the time
//!   budget is spent; then the caller gets [`Error::Busy`] (503 + Retry-After).
//!   Nothing of a rolled-back attempt stays written (G13).
//! * A connection that died (the database restarted, the network dropped)
//!   is retried the same way, on a fresh connection: the pool does not ping
//!   a connection before handing it out, so a dead one shows itself by
//!   failing its first statement, and the pool drops it when it comes back.
//!   Nothing was committed on a connection that fails before `COMMIT`. At
//!   `COMMIT` itself an I/O error leaves the outcome unknown, so that is
//!   never retried (see [`Conflict::retryable_at_commit`]).
//! * Unique violations are *not* retried here: each caller decides what a
//!   duplicate means (dedup, next slug suffix, idempotent replay).
//! * On SQLite, the writers of one process queue for their turn in this
//!   process (the [`Runner`]'s write queue) before `BEGIN IMMEDIATE`:
//!   SQLite's busy handler sleeps (up to 100 ms at a time) instead of waking a waiter when the
//!   lock frees, so concurrent writers waiting there collapse throughput. A
//!   FIFO async lock wakes the next writer at once, and serves them in
//!   arrival order. Reads take no turn (WAL lets them run beside the
//!   writer). Other processes on the same file are not in the queue: for
//!   them `busy_timeout` and the retries above still apply (G13).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use sea_orm::sqlx;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, IsolationLevel, RuntimeErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::error::{Error, Result};

/// The `op` names passed to [`run`], so their metrics exist from start-up.
pub const OPERATIONS: &[&str] = &[
    "login",
    "login.begin",
    "login.finish",
    "session.refresh",
    "logout",
    "project.create",
    "project.copy",
    "project.save",
    "project.delete",
    "project.share",
    "project.restore",
    "project.purge",
    "project.gc_purge",
    "group.create",
    "group.join",
    "group.rotate_code",
    "group.remove_member",
    "project.thumbnail",
    "project.import",
    "asset.create",
    "backpack.add",
    "backpack.delete",
    "gc.expire",
    "assignment.create",
    "assignment.update",
    "assignment.start",
    "assignment.submit",
    "submission.feedback",
];

/// Which isolation an operation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Lock the rows you change, then check and write: READ COMMITTED.
    Edit,
    /// Insert-if-absent by a unique key, then read: REPEATABLE READ.
    GetOrCreate,
}

/// How long and how fast to retry a transaction that lost a race.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Total time after which no new attempt starts.
    pub budget: Duration,
    /// First backoff; doubles with every attempt.
    pub base_delay: Duration,
    /// Largest backoff between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(10),
            base_delay: Duration::from_millis(4),
            max_delay: Duration::from_millis(250),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a random delay in `[0, min(max, base * 2^attempt)]`, at least 1 ms.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        let millis = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rand::rng().random_range(1..=millis))
    }
}

/// How write transactions run: the retry policy and, on SQLite, the
/// process's queue in front of the write lock. One per process (cloned into
/// every [`crate::Ctx`], sharing the queue).
#[derive(Clone, Debug, Default)]
pub struct Runner {
    pub policy: RetryPolicy,
    queue: Option<Arc<WriteQueue>>,
}

impl Runner {
    /// A runner for `db`: with a writer queue when it is SQLite.
    pub fn new(policy: RetryPolicy, db: &DatabaseConnection) -> Self {
        let queue = (db.get_database_backend() == DbBackend::Sqlite)
            .then(|| Arc::new(WriteQueue::default()));
        Self { policy, queue }
    }

    /// Do this runner's write transactions take turns in a queue (SQLite)?
    pub fn queues_writers(&self) -> bool {
        self.queue.is_some()
    }

    /// A runner with no writer queue, whatever the backend.
    pub fn without_queue(policy: RetryPolicy) -> Self {
        Self {
            policy,
            queue: None,
        }
    }

    /// Runs SQLite's write transactions on `writer` (a pool of one
    /// connection to the same file) instead of on the shared pool; no
    /// change on other backends.
    pub fn with_writer(mut self, writer: DatabaseConnection) -> Self {
        if self.queue.is_some() {
            self.queue = Some(Arc::new(WriteQueue {
                turn: tokio::sync::Mutex::new(()),
                writer: Some(writer),
            }));
        }
        self
    }
}

/// The turn to write, on SQLite: a `tokio::sync::Mutex`, which queues its
/// waiters first come, first served. Its guard is held for one attempt,
/// `BEGIN IMMEDIATE` to `COMMIT` or `ROLLBACK`, and dropped before a retry's
/// backoff so the next writer goes meanwhile.
#[derive(Debug, Default)]
struct WriteQueue {
    turn: tokio::sync::Mutex<()>,
    /// The dedicated write connection, when there is one.
    writer: Option<DatabaseConnection>,
}

/// The failures a fresh attempt can get past: the conflicts a database
/// reports for a race, and a connection that died.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conflict {
    Serialization,
    Deadlock,
    LockTimeout,
    Busy,
    /// The server ended the session itself, saying so (shutdown, restart,
    /// connection killed): PostgreSQL 57P01–57P03, MariaDB 1053 and 1927.
    SessionEnded,
    /// The connection broke under us: an I/O error or a network error.
    Disconnected,
}

impl Conflict {
    pub fn label(self) -> &'static str {
        match self {
            Conflict::Serialization => "serialization",
            Conflict::Deadlock => "deadlock",
            Conflict::LockTimeout => "lock_timeout",
            Conflict::Busy => "busy",
            Conflict::SessionEnded => "session_ended",
            Conflict::Disconnected => "disconnected",
        }
    }

    /// A dead connection rather than a race.
    pub fn is_lost_connection(self) -> bool {
        matches!(self, Conflict::SessionEnded | Conflict::Disconnected)
    }

    /// May a transaction of this kind whose `COMMIT` failed this way run
    /// again? If the failure proves the commit did not happen, or if running
    /// it again after a commit changes nothing:
    ///
    /// * a race reported at `COMMIT` rolled the transaction back;
    /// * PostgreSQL ends a session only where it checks for interrupts: a
    ///   backend told to stop while waiting for the next command stops
    ///   before reading it, and one committing holds interrupts until its
    ///   reply is queued, so "terminating connection" as the answer to
    ///   `COMMIT` means the commit never ran;
    /// * a get-or-create ([`Kind::GetOrCreate`], a login) run again after it
    ///   committed finds the rows it made and writes no others, but for a
    ///   new session whose token only the second run returns (the first
    ///   one's token was never sent to anyone, and the session expires);
    /// * otherwise a broken connection, or MariaDB's shutdown message (which
    ///   it may send in place of the reply to a statement that did run),
    ///   leaves the outcome unknown: retrying could write twice, so the
    ///   caller gets an error instead.
    pub fn retryable_at_commit(self, backend: DbBackend, kind: Kind) -> bool {
        match self {
            Conflict::Serialization | Conflict::Deadlock | Conflict::LockTimeout => true,
            Conflict::Busy => true,
            _ if kind == Kind::GetOrCreate => true,
            Conflict::SessionEnded => backend == DbBackend::Postgres,
            Conflict::Disconnected => false,
        }
    }
}

/// Is this database error one that a fresh attempt can get past (a race,
/// or a dead connection)?
pub fn classify(err: &DbErr) -> Option<Conflict> {
    let (DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Query(RuntimeErr::SqlxError(e))
    | DbErr::Conn(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let db_err = match e.as_ref() {
        sqlx::Error::Database(db_err) => db_err,
        sqlx::Error::Io(_) => return Some(Conflict::Disconnected),
        _ => return None,
    };
    if let Some(mysql) = db_err.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return mysql_conflict(mysql.number());
    }
    let code = db_err.code();
    if db_err
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        return code.as_deref().and_then(postgres_conflict);
    }
    if db_err
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        return code.as_deref().and_then(sqlite_conflict);
    }
    None
}

/// MariaDB error numbers: 1213 deadlock, 1205 lock wait timeout; 1053
/// server shutdown, 1927 connection killed; 1152 aborted connection and
/// 1158–1161 network read/write errors.
fn mysql_conflict(number: u16) -> Option<Conflict> {
    match number {
        1213 => Some(Conflict::Deadlock),
        1205 => Some(Conflict::LockTimeout),
        1053 | 1927 => Some(Conflict::SessionEnded),
        1152 | 1158..=1161 => Some(Conflict::Disconnected),
        _ => None,
    }
}

/// PostgreSQL SQLSTATEs: 40001 serialization failure, 40P01 deadlock,
/// 55P03 lock not available (our `lock_timeout`); 57P01 admin shutdown,
/// 57P02 crash shutdown, 57P03 cannot connect now; class 08, connection
/// exceptions.
fn postgres_conflict(sqlstate: &str) -> Option<Conflict> {
    match sqlstate {
        "40001" => Some(Conflict::Serialization),
        "40P01" => Some(Conflict::Deadlock),
        "55P03" => Some(Conflict::LockTimeout),
        "57P01" | "57P02" | "57P03" => Some(Conflict::SessionEnded),
        s if s.starts_with("08") => Some(Conflict::Disconnected),
        _ => None,
    }
}

/// SQLite (extended) result codes: the primary code is the low byte;
/// 5 is BUSY, 6 is LOCKED (e.g. 517 = BUSY_SNAPSHOT, 261 = BUSY_RECOVERY).
fn sqlite_conflict(code: &str) -> Option<Conflict> {
    match code.parse::<i32>().ok()? & 0xff {
        5 | 6 => Some(Conflict::Busy),
        _ => None,
    }
}

fn options(backend: DbBackend, kind: Kind) -> TransactionOptions {
    if backend == DbBackend::Sqlite {
        return TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
    }
    // READ COMMITTED is every connection's session default (`db::connect`),
    // so an edit needs no `SET TRANSACTION`: one round trip less.
    let isolation = match kind {
        Kind::Edit => None,
        Kind::GetOrCreate => Some(IsolationLevel::RepeatableRead),
    };
    TransactionOptions {
        isolation_level: isolation,
        ..Default::default()
    }
}

/// Runs `body` in a transaction of the given kind, committing on `Ok` and
/// rolling back on `Err`, and re-runs it while the database reports a
/// retryable conflict and the time budget lasts. `op` names the operation in
/// the metrics. On SQLite each attempt first waits for its turn in the
/// process's writer queue (timed in `cubby_tx_queue_wait_seconds`).
///
/// `body` may run several times: it must do all its work through the
/// transaction it is given, and any side effect outside the database (a file
/// written) must be undone by the caller when this returns an error.
pub async fn run<T, F>(
    db: &DatabaseConnection,
    runner: &Runner,
    op: &'static str,
    kind: Kind,
    body: F,
) -> Result<T>
where
    F: AsyncFnMut(&DatabaseTransaction) -> Result<T>,
{
    let never_refused = || None::<std::convert::Infallible>;
    let done = run_unless(db, runner, op, kind, never_refused, body).await?;
    Ok(done.unwrap_or_else(|never| match never {}))
}

/// [`run`], but each attempt first asks `refused`, after its turn in
/// SQLite's writer queue and before `BEGIN`: when that already knows the
/// answer (an in-memory check, such as "this save's version is stale"),
/// the attempt gives its turn back at once and this returns `Ok(Err(why))`
/// without a transaction. A crowd of writers that can only fail then costs
/// the queue almost nothing.
pub async fn run_unless<T, F, R, Why>(
    db: &DatabaseConnection,
    runner: &Runner,
    op: &'static str,
    kind: Kind,
    mut refused: R,
    mut body: F,
) -> Result<std::result::Result<T, Why>>
where
    F: AsyncFnMut(&DatabaseTransaction) -> Result<T>,
    R: FnMut() -> Option<Why>,
{
    let policy = &runner.policy;
    let started = Instant::now();
    let backend = db.get_database_backend();
    let opts = options(backend, kind);
    let mut attempt: u32 = 0;
    loop {
        let outcome = match runner.queue.as_deref() {
            Some(queue) => {
                let asked = Instant::now();
                let _turn = queue.turn.lock().await;
                metrics::histogram!("cubby_tx_queue_wait_seconds", "op" => op)
                    .record(asked.elapsed().as_secs_f64());
                if let Some(why) = refused() {
                    return Ok(Err(why));
                }
                let conn = queue.writer.as_ref().unwrap_or(db);
                attempt_once(conn, opts, &mut body).await
                // `_turn` drops here: the backoff below runs without it.
            }
            None => attempt_once(db, opts, &mut body).await,
        };
        let Failure { err, at_commit } = match outcome {
            Ok(value) => return Ok(Ok(value)),
            Err(failure) => failure,
        };
        let conflict = match &err {
            Error::Db(db_err) => classify(db_err),
            _ => None,
        };
        let Some(conflict) = conflict else {
            return Err(err);
        };
        if at_commit && !conflict.retryable_at_commit(backend, kind) {
            metrics::counter!("cubby_tx_commit_unknown_total", "op" => op).increment(1);
            tracing::warn!(
                tx.op = op,
                tx.conflict = conflict.label(),
                error = %err,
                "the connection failed at COMMIT: the outcome is unknown, so not retried"
            );
            return Err(Error::Busy);
        }
        metrics::counter!("cubby_tx_conflicts_total", "op" => op, "kind" => conflict.label())
            .increment(1);
        let delay = policy.backoff(attempt);
        if started.elapsed() + delay >= policy.budget {
            metrics::counter!("cubby_tx_giveups_total", "op" => op).increment(1);
            tracing::warn!(
                tx.op = op,
                tx.attempts = attempt + 1,
                tx.conflict = conflict.label(),
                "giving up after retries"
            );
            return Err(Error::Busy);
        }
        metrics::counter!("cubby_tx_retries_total", "op" => op).increment(1);
        tracing::debug!(
            tx.op = op,
            tx.attempt = attempt + 1,
            tx.conflict = conflict.label(),
            "retrying transaction"
        );
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// Why an attempt failed, and whether at `COMMIT` (where a lost connection
/// leaves the outcome unknown) or before it (where nothing was committed).
struct Failure {
    err: Error,
    at_commit: bool,
}

impl Failure {
    fn before_commit(err: impl Into<Error>) -> Self {
        Self {
            err: err.into(),
            at_commit: false,
        }
    }
}

async fn attempt_once<T, F>(
    db: &DatabaseConnection,
    opts: TransactionOptions,
    body: &mut F,
) -> Result<T, Failure>
where
    F: AsyncFnMut(&DatabaseTransaction) -> Result<T>,
{
    let txn = db
        .begin_with_options(opts)
        .await
        .map_err(Failure::before_commit)?;
    match body(&txn).await {
        Ok(value) => match txn.commit().await {
            Ok(()) => Ok(value),
            Err(err) => Err(Failure {
                err: err.into(),
                at_commit: true,
            }),
        },
        Err(err) => {
            // A failed rollback only means the connection is gone; the
            // database discards the transaction either way.
            if let Err(rollback_err) = txn.rollback().await {
                tracing::debug!(error = %rollback_err, "rollback failed");
            }
            Err(Failure::before_commit(err))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ConnectionTrait;

    #[test]
    fn postgres_retries_races_and_ended_sessions_only() {
        let cases = [
            ("40001", Some(Conflict::Serialization)),
            ("40P01", Some(Conflict::Deadlock)),
            ("55P03", Some(Conflict::LockTimeout)),
            ("57P01", Some(Conflict::SessionEnded)), // admin shutdown (restart)
            ("57P02", Some(Conflict::SessionEnded)), // crash shutdown
            ("57P03", Some(Conflict::SessionEnded)), // starting up
            ("08006", Some(Conflict::Disconnected)), // connection failure
            ("23505", None),                         // unique violation: the caller decides
            ("23503", None),                         // foreign key
            ("57014", None),                         // statement cancelled
            ("", None),
        ];
        for (code, want) in cases {
            assert_eq!(postgres_conflict(code), want, "{code}");
        }
    }

    #[test]
    fn mariadb_retries_races_and_lost_connections_only() {
        for (number, want) in [
            (1213, Some(Conflict::Deadlock)),
            (1205, Some(Conflict::LockTimeout)),
            (1053, Some(Conflict::SessionEnded)), // server shutdown
            (1927, Some(Conflict::SessionEnded)), // connection killed
            (1158, Some(Conflict::Disconnected)), // network read error
            (1161, Some(Conflict::Disconnected)), // network write interrupted
            (1062, None),                         // duplicate entry
            (1452, None),                         // foreign key
            (0, None),
        ] {
            assert_eq!(mysql_conflict(number), want, "{number}");
        }
    }

    #[test]
    fn sqlite_retries_busy_and_locked_in_every_extended_form() {
        for (code, want) in [
            ("5", Some(Conflict::Busy)),
            ("6", Some(Conflict::Busy)),
            ("517", Some(Conflict::Busy)), // SQLITE_BUSY_SNAPSHOT
            ("261", Some(Conflict::Busy)), // SQLITE_BUSY_RECOVERY
            ("262", Some(Conflict::Busy)), // SQLITE_LOCKED_SHAREDCACHE
            ("2067", None),                // SQLITE_CONSTRAINT_UNIQUE
            ("19", None),                  // SQLITE_CONSTRAINT
            ("not a number", None),
        ] {
            assert_eq!(sqlite_conflict(code), want, "{code}");
        }
    }

    #[test]
    fn errors_that_are_not_the_database_s_are_not_retried() {
        assert_eq!(classify(&DbErr::Custom("boom".into())), None);
        assert_eq!(classify(&DbErr::RecordNotFound("x".into())), None);
    }

    #[test]
    fn an_io_error_is_a_lost_connection() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let err = DbErr::Query(RuntimeErr::SqlxError(Arc::new(sqlx::Error::Io(io))));
        assert_eq!(classify(&err), Some(Conflict::Disconnected));
        let protocol = sqlx::Error::Protocol("unexpected message".into());
        let err = DbErr::Exec(RuntimeErr::SqlxError(Arc::new(protocol)));
        assert_eq!(classify(&err), None);
    }

    #[test]
    fn at_commit_only_a_failure_that_proves_no_commit_is_retried() {
        use Conflict::*;
        for backend in [DbBackend::Postgres, DbBackend::MySql, DbBackend::Sqlite] {
            for race in [Serialization, Deadlock, LockTimeout, Busy] {
                assert!(
                    race.retryable_at_commit(backend, Kind::Edit),
                    "{race:?} on {backend:?}"
                );
            }
            assert!(
                !Disconnected.retryable_at_commit(backend, Kind::Edit),
                "{backend:?}"
            );
        }
        assert!(SessionEnded.retryable_at_commit(DbBackend::Postgres, Kind::Edit));
        assert!(!SessionEnded.retryable_at_commit(DbBackend::MySql, Kind::Edit));
    }

    #[test]
    fn at_commit_a_get_or_create_is_retried_whatever_the_outcome() {
        for lost in [Conflict::Disconnected, Conflict::SessionEnded] {
            for backend in [DbBackend::Postgres, DbBackend::MySql] {
                assert!(
                    lost.retryable_at_commit(backend, Kind::GetOrCreate),
                    "{lost:?}"
                );
            }
        }
    }

    /// SQLite writers of one process get their turn in the order they
    /// asked for it, one at a time: `join_all` polls the attempts in order,
    /// so attempt 0 takes the turn and 1..N queue behind it in that order.
    async fn writers_in_order(dedicated: bool) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/queue.db?mode=rwc", dir.path().display());
        let pool = crate::db::PoolSettings {
            sqlite_dedicated_writer: dedicated,
            ..Default::default()
        };
        let db = crate::db::connect(&url, &pool).await.expect("open");
        db.execute_unprepared("CREATE TABLE log (n INTEGER NOT NULL)")
            .await
            .expect("create");
        let runner = crate::db::runner(&url, &pool, RetryPolicy::default(), &db)
            .await
            .expect("runner");
        let inside = std::sync::atomic::AtomicUsize::new(0);
        let order = std::sync::Mutex::new(Vec::new());
        const N: usize = 16;
        let writers = (0..N).map(|n| {
            let (db, runner, inside, order) = (&db, &runner, &inside, &order);
            async move {
                run(db, runner, "project.save", Kind::Edit, async |txn| {
                    let was = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    assert_eq!(was, 0, "two writers at once");
                    // Give an interleaving every chance to happen.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    txn.execute_unprepared(&format!("INSERT INTO log (n) VALUES ({n})"))
                        .await?;
                    order.lock().expect("order").push(n);
                    inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(())
                })
                .await
            }
        });
        for result in futures_util::future::join_all(writers).await {
            result.expect("write");
        }
        let want: Vec<usize> = (0..N).collect();
        assert_eq!(*order.lock().expect("order"), want);
        let rows = db
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                "SELECT COUNT(*) AS n FROM log",
            ))
            .await
            .expect("count")
            .expect("a row");
        assert_eq!(rows.try_get::<i64>("", "n").expect("n"), N as i64);
    }

    #[tokio::test]
    async fn sqlite_writers_queue_first_come_first_served_on_the_pool() {
        writers_in_order(false).await;
    }

    #[tokio::test]
    async fn sqlite_writers_queue_first_come_first_served_on_a_dedicated_connection() {
        writers_in_order(true).await;
    }

    #[test]
    fn backoff_grows_within_its_cap() {
        let policy = RetryPolicy::default();
        for attempt in 0..40 {
            let delay = policy.backoff(attempt);
            assert!(delay >= Duration::from_millis(1), "{attempt}: {delay:?}");
            assert!(delay <= policy.max_delay, "{attempt}: {delay:?}");
        }
    }
}
