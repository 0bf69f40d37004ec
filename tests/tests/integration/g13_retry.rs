//! G13: conflicts the database reports are retried with backoff; when retries
//! run out the answer is 503 `busy` with `Retry-After`, and nothing of the
//! attempt is left written. Each test provokes a *real* conflict by holding a
//! lock from a direct database connection while the server works:
//! PostgreSQL — a serialization failure (40001) under REPEATABLE READ;
//! MariaDB — a deadlock (1213) in which the server is the cheaper victim;
//! SQLite — the write lock held by another connection (SQLITE_BUSY).

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use serde_json::json;
use tests::{metric_value, Backend, Client, ServerOptions, TestDb, TestServer};

use crate::on_backends;
use crate::ops::expect_problem;

on_backends!(
    a_real_conflict_is_retried_and_the_login_succeeds,
    exhausted_retries_answer_503_busy_and_write_nothing
);

/// How long the test holds its lock while the server's request waits.
const HOLD: Duration = Duration::from_millis(800);

async fn begin_writer(db: &TestDb, conn: &sea_orm::DatabaseConnection) -> DatabaseTransaction {
    let opts = TransactionOptions {
        sqlite_transaction_mode: (db.backend == Backend::Sqlite)
            .then_some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    conn.begin_with_options(opts).await.unwrap()
}

async fn a_real_conflict_is_retried_and_the_login_succeeds(db: TestDb) {
    // On SQLite the conflict *is* the lock wait running out, so make it short;
    // elsewhere the server must wait for our lock, not time out on it.
    let lock_ms = if db.backend == Backend::Sqlite {
        100
    } else {
        5000
    };
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_DB_LOCK_TIMEOUT_MS", lock_ms),
    );
    let api = Client::new(&server.base_url);
    api.login("u", "student", &[("g1", "G1")]).await;
    let conn = db.connect().await;
    let txn = begin_writer(&db, &conn).await;

    let expected_kind = match db.backend {
        Backend::Postgres | Backend::Sqlite => {
            // Change the user row (PostgreSQL) / hold the write lock (SQLite).
            txn.execute_unprepared(
                "UPDATE users SET display_name = 'by-test' WHERE username = 'u'",
            )
            .await
            .unwrap();
            if db.backend == Backend::Postgres {
                "serialization"
            } else {
                "busy"
            }
        }
        Backend::MariaDb => {
            // Make this transaction the heavier one, so the server is the victim.
            for i in 0..40 {
                txn.execute_unprepared(&format!(
                    "INSERT INTO `groups` (external_id, name, created_at) VALUES ('ballast-{i}', 'b', NOW())"
                ))
                .await
                .unwrap();
            }
            txn.execute_unprepared("SELECT id FROM users WHERE username = 'u' FOR UPDATE")
                .await
                .unwrap();
            "deadlock"
        }
    };

    let body = json!({"username": "u", "display_name": "Newer", "groups": [
        {"external_id": "g1", "name": "G1"}, {"external_id": "g-new", "name": "New"}]});
    let client = api.clone();
    let request = tokio::spawn(async move { client.dev_login_raw(&body).await });
    tokio::time::sleep(HOLD).await;

    if db.backend == Backend::MariaDb {
        // The server holds `g-new` and waits for the user row; we hold the
        // user row and now wait for `g-new`: a deadlock, and InnoDB rolls
        // back the lighter transaction — the server's.
        txn.execute_unprepared(
            "INSERT INTO `groups` (external_id, name, created_at) VALUES ('g-new', 'by-test', NOW())",
        )
        .await
        .expect("the test's transaction must not be the deadlock victim");
        tokio::time::sleep(Duration::from_millis(200)).await;
        txn.rollback().await.unwrap();
    } else {
        txn.commit().await.unwrap();
    }

    let (status, body) = request.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["display_name"], "Newer");
    assert_eq!(body["user"]["groups"].as_array().unwrap().len(), 2);
    assert_eq!(db.count("groups", "external_id = 'g-new'").await, 1);
    assert_eq!(db.count("groups", "external_id LIKE 'ballast-%'").await, 0);

    let metrics = api.metrics().await;
    let conflicts = metric_value(
        &metrics,
        "cubby_tx_conflicts_total",
        &["op=\"login\"", &format!("kind=\"{expected_kind}\"")],
    );
    let retries = metric_value(&metrics, "cubby_tx_retries_total", &["op=\"login\""]);
    assert!(
        conflicts >= 1.0,
        "expected a {expected_kind} conflict:\n{metrics}"
    );
    assert!(retries >= 1.0, "expected a retry:\n{metrics}");
    assert_eq!(
        metric_value(&metrics, "cubby_tx_giveups_total", &["op=\"login\""]),
        0.0
    );
}

async fn exhausted_retries_answer_503_busy_and_write_nothing(db: TestDb) {
    // MariaDB counts lock waits in whole seconds.
    let (lock_ms, budget_ms) = match db.backend {
        Backend::MariaDb => (1000, 2500),
        _ => (150, 1200),
    };
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default()
            .with("CUBBY_DB_LOCK_TIMEOUT_MS", lock_ms)
            .with("CUBBY_TX_RETRY_BUDGET_MS", budget_ms),
    );
    let api = Client::new(&server.base_url);
    let before = api.login("u", "student", &[("g1", "G1")]).await;
    let user_id = before.user["id"].as_i64().unwrap();

    let conn = db.connect().await;
    let txn = begin_writer(&db, &conn).await;
    let hold_sql = match db.backend {
        Backend::Sqlite => "UPDATE users SET display_name = display_name WHERE username = 'u'",
        _ => "SELECT id FROM users WHERE username = 'u' FOR UPDATE",
    };
    txn.execute_unprepared(hold_sql).await.unwrap();

    // The server would add group g-new before it reaches the locked user row.
    let resp = api
        .http
        .post(api.url("/auth/dev/login"))
        .json(
            &json!({"username": "u", "display_name": "Changed", "groups": [
            {"external_id": "g1", "name": "G1"}, {"external_id": "g-new", "name": "New"}]}),
        )
        .send()
        .await
        .unwrap();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    expect_problem(resp, StatusCode::SERVICE_UNAVAILABLE, "busy").await;
    assert_eq!(retry_after.as_deref(), Some("1"));
    txn.rollback().await.unwrap();

    // Nothing of the abandoned attempts stayed written.
    assert_eq!(db.count("groups", "external_id = 'g-new'").await, 0);
    assert_eq!(
        db.count("memberships", &format!("user_id = {user_id}"))
            .await,
        1
    );
    assert_eq!(db.count("users", "display_name = 'Changed'").await, 0);
    assert_eq!(db.count("sessions", "").await, 1);
    let metrics = api.metrics().await;
    assert_eq!(
        metric_value(&metrics, "cubby_tx_giveups_total", &["op=\"login\""]),
        1.0
    );
    assert!(metric_value(&metrics, "cubby_tx_retries_total", &["op=\"login\""]) >= 1.0);

    // Once the lock is gone the same login goes through.
    let after = api
        .login("u", "student", &[("g1", "G1"), ("g-new", "New")])
        .await;
    assert_eq!(after.user["groups"].as_array().unwrap().len(), 2);
}
