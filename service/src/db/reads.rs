//! The pool as the services use it, [`Db`]: reads that survive a database
//! restart.
//!
//! The pool hands out connections without pinging them first (a round trip
//! per statement saved), so after a restart the first statement on each old
//! connection fails. In a write transaction [`crate::tx::run`] retries the
//! whole transaction; a read outside one is a single statement, which is
//! always safe to send again, so [`Db`] does that here: on a lost connection
//! it runs the same statement again on another connection (sqlx closes the
//! dead one when it comes back to the pool), with the retry core's backoff,
//! until the time budget is spent.
//!
//! Statements that write outside a transaction (`execute_*`) are not
//! retried: when the connection dies under one, whether it ran is unknown.
//! Every write in cubby goes through [`crate::tx::run`] anyway.

use std::ops::Deref;
use std::time::Instant;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, Statement,
};

use crate::tx::{classify, Conflict, RetryPolicy};

/// The connection pool, reading again on a fresh connection when one turns
/// out dead. Dereferences to the [`DatabaseConnection`] for transactions.
#[derive(Clone, Debug)]
pub struct Db {
    pool: DatabaseConnection,
    policy: RetryPolicy,
}

impl Db {
    pub fn new(pool: DatabaseConnection, policy: RetryPolicy) -> Self {
        Self { pool, policy }
    }

    /// Runs `read` until it succeeds, fails for another reason than a lost
    /// connection, or the budget is spent.
    async fn read_again_on_lost_connection<T, F, Fut>(&self, mut read: F) -> Result<T, DbErr>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, DbErr>>,
    {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            let err = match read().await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let Some(lost) = classify(&err).filter(|c| c.is_lost_connection()) else {
                return Err(err);
            };
            let delay = self.policy.backoff(attempt);
            if started.elapsed() + delay >= self.policy.budget {
                return Err(err);
            }
            metrics::counter!("cubby_db_read_retries_total", "kind" => lost.label()).increment(1);
            tracing::debug!(
                kind = lost.label(),
                attempt,
                "read on a lost connection; reading again"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

impl Deref for Db {
    type Target = DatabaseConnection;

    fn deref(&self) -> &DatabaseConnection {
        &self.pool
    }
}

/// The label values of `cubby_db_read_retries_total`, so they exist from
/// start-up.
pub const READ_RETRY_KINDS: &[Conflict] = &[Conflict::SessionEnded, Conflict::Disconnected];

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.pool.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.pool.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.read_again_on_lost_connection(|| self.pool.query_one_raw(stmt.clone()))
            .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.read_again_on_lost_connection(|| self.pool.query_all_raw(stmt.clone()))
            .await
    }

    fn support_returning(&self) -> bool {
        self.pool.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.pool.is_mock_connection()
    }
}
