//! `--pgbench`: the limit beside cubby. PostgreSQL's own `pgbench` runs the
//! transaction a cubby save runs, on the same server, at the same client
//! counts, with no HTTP, JSON, session check or file write around it.
//!
//! The script is the client's whole save loop, as `edit_op` drives it:
//! read the version (the client's `GET`), then lock the row, check the
//! version, insert a version row and update the project; a version that
//! moved meanwhile rolls back (cubby's 409) and the next round re-reads.
//! pgbench counts every round, so successes are counted the only honest way:
//! the version rows that exist afterwards.

use std::path::Path;
use std::process::Command;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tests::{Backend, TestDb};

use crate::report::Row;
use crate::scenarios::Scenario;

const SCHEMA: &[&str] = &[
    "CREATE TABLE bench_project (
        id BIGINT PRIMARY KEY,
        version BIGINT NOT NULL,
        title TEXT NOT NULL,
        body_size BIGINT NOT NULL,
        body_md5 TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE bench_version (
        id BIGSERIAL PRIMARY KEY,
        project_id BIGINT NOT NULL REFERENCES bench_project (id) ON DELETE CASCADE,
        version BIGINT NOT NULL,
        author_id BIGINT NOT NULL,
        body_file TEXT NOT NULL,
        body_size BIGINT NOT NULL,
        body_md5 TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        UNIQUE (project_id, version))",
];

/// The save loop for pgbench; `id_expr` picks the project.
fn script(id_expr: &str) -> String {
    format!(
        r"\set id {id_expr}
SELECT version AS seen FROM bench_project WHERE id = :id \gset
BEGIN;
SELECT version AS cur FROM bench_project WHERE id = :id FOR UPDATE \gset
\if :cur = :seen
INSERT INTO bench_version (project_id, version, author_id, body_file, body_size, body_md5, created_at) VALUES (:id, :cur + 1, 1, md5(random()::text), 200, md5(random()::text), now());
UPDATE bench_project SET version = :cur + 1, body_size = 200, body_md5 = md5(random()::text), updated_at = now() WHERE id = :id;
COMMIT;
\else
ROLLBACK;
\endif
"
    )
}

/// Where pgbench is: on PATH, or in a PostgreSQL install under /usr/lib.
fn find_pgbench() -> Result<String, String> {
    if Command::new("pgbench").arg("--version").output().is_ok() {
        return Ok("pgbench".into());
    }
    let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "pgbench not found (install PostgreSQL's client tools)".to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin/pgbench"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
        .pop()
        .map(|p| p.display().to_string())
        .ok_or_else(|| "pgbench not found (install PostgreSQL's client tools)".into())
}

async fn exec(db: &DatabaseConnection, sql: &str) -> Result<(), String> {
    db.execute_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .map(|_| ())
        .map_err(|e| format!("pgbench setup: {e}"))
}

async fn count_versions(db: &DatabaseConnection) -> Result<u64, String> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM bench_version",
        ))
        .await
        .map_err(|e| format!("pgbench count: {e}"))?
        .ok_or("pgbench count: no row")?;
    let n: i64 = row
        .try_get("", "n")
        .map_err(|e| format!("pgbench count: {e}"))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Runs the limit for `hot-edit` and `spread-edit` (whichever of them
/// `scenarios` holds) at each client count; one row each, labelled `pgbench`.
pub async fn run(
    pg_url: &str,
    scenarios: &[Scenario],
    clients: &[usize],
    duration_secs: u64,
) -> Result<Vec<Row>, String> {
    let pgbench = find_pgbench()?;
    let db = TestDb::create_at(Backend::Postgres, pg_url).await;
    let conn = sea_orm::Database::connect(&db.url)
        .await
        .map_err(|e| format!("pgbench setup: {e}"))?;
    for sql in SCHEMA {
        exec(&conn, sql).await?;
    }
    let projects = clients.iter().copied().max().unwrap_or(1);
    exec(
        &conn,
        &format!(
            "INSERT INTO bench_project SELECT g, 1, 'bench ' || g, 200, md5(g::text), now() \
             FROM generate_series(1, {projects}) AS g"
        ),
    )
    .await?;
    let dir = tempfile::tempdir().map_err(|e| format!("pgbench script dir: {e}"))?;
    let mut rows = Vec::new();
    for &scenario in scenarios {
        let id_expr = match scenario {
            Scenario::HotEdit => "1",
            Scenario::SpreadEdit => ":client_id + 1",
            _ => continue,
        };
        let script_path = dir.path().join(format!("{}.sql", scenario.name()));
        std::fs::write(&script_path, script(id_expr))
            .map_err(|e| format!("pgbench script: {e}"))?;
        for &c in clients {
            exec(&conn, "TRUNCATE bench_version").await?;
            exec(&conn, "UPDATE bench_project SET version = 1").await?;
            let rounds = tokio::task::block_in_place(|| {
                run_pgbench(&pgbench, &db.url, &script_path, c, duration_secs)
            })?;
            let successes = count_versions(&conn).await?;
            let seconds = duration_secs as f64;
            rows.push(Row {
                label: "pgbench".into(),
                scenario: scenario.name(),
                clients: c,
                ops: successes,
                ops_per_sec: successes as f64 / seconds,
                conflicts_per_sec: rounds.saturating_sub(successes) as f64 / seconds,
                p50_ms: None,
                p99_ms: None,
                errors_5xx: 0,
                errors_other: 0,
                seconds,
            });
        }
    }
    conn.close().await.ok();
    Ok(rows)
}

/// One pgbench run; returns how many rounds of the script it completed.
fn run_pgbench(
    pgbench: &str,
    url: &str,
    script: &Path,
    clients: usize,
    duration_secs: u64,
) -> Result<u64, String> {
    let out = Command::new(pgbench)
        .args(["-n", "-M", "prepared"])
        .arg(format!("--client={clients}"))
        .arg(format!("--jobs={}", clients.min(2)))
        .arg(format!("--time={}", duration_secs.max(1)))
        .arg(format!("--file={}", script.display()))
        .arg(url)
        .output()
        .map_err(|e| format!("running {pgbench}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "pgbench failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("pgbench printed no transaction count:\n{stdout}"))
}
