//! The database restarts under load, and nobody notices: cubby on a private
//! PostgreSQL or MariaDB server ([`tests::private_db`]; the shared servers are
//! never restarted), with `CUBBY_DB_TEST_BEFORE_ACQUIRE=false` (no ping
//! before a pooled connection is handed out) and every other setting at its
//! default. [`CLIENTS`] clients loop over reads, saves of their own
//! project, creates, asset uploads and logins while the server is
//! restarted twice (a clean shutdown, [`DOWN`] down, started again): the
//! first restart [`FIRST_RESTART`] into the load, the second and the end of
//! the load each [`BETWEEN`] after the server is back.
//!
//! Every request must get its normal answer: no 5xx — a 503 `busy` counts
//! too (cubby is to wait for the database within its acquire timeout, not
//! give up; the tally shows 503s apart) — and no transport error; requests
//! succeed after each restart; and the data is exact: each project's version
//! is 1 + the saves that answered 200, the projects are the set-up ones plus
//! the creates that answered 201, the asset rows the uploads that answered
//! 201, with no duplicate rows.
//!
//! One exception, on MariaDB only: a connection its shutdown closes while a
//! `COMMIT` is on the way reports nothing but end-of-file, so whether that
//! commit happened cannot be known; cubby answers 503 `busy` rather than
//! risk writing twice, and counts it in `cubby_tx_commit_unknown_total`.
//! There, each 503 must be one of those (their number equals the metric's),
//! and the data checks accept either outcome for exactly those requests.
//! PostgreSQL says when it ends a session (57P01), also at `COMMIT`, so
//! there every request gets its answer.
//!
//! `CUBBY_TEST_DB_RESTART_PING=true` runs the same load with the ping on
//! (for comparison). `connection_across_a_restart` shows what one pooled
//! connection sees when the server restarts while it is idle in the pool,
//! in the middle of a transaction, and before COMMIT, and while the server
//! is down: the error texts a retry has to recognise. The first use after a
//! restart fails in each case, the next transaction on the pool gets a
//! fresh connection, and the failed transactions wrote nothing.
//!
//! Needs the PostgreSQL and MariaDB server binaries, not the shared servers;
//! without them the tests say they skipped (under `CI=true` they fail).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, Statement,
    TransactionTrait,
};
use serde_json::json;
use tests::assets::{asset_name, svg};
use tests::private_db::{or_skip, PrivateServer};
use tests::projects::{tally, try_send, Reply, User};
use tests::{metric_value, Backend, ServerOptions, TestDb, TestServer};

/// Users, and set-up projects per user: one per client.
const USERS: usize = 6;
const PROJECTS_PER_USER: usize = 2;
const CLIENTS: usize = USERS * PROJECTS_PER_USER;
/// When the first restart begins (from the start of the load), how long
/// the database stays down each time, and how long the load goes on after
/// it is back before the next restart (or the end). `BETWEEN` is longer
/// than the pool's longest connect backoff (a fifth of the 10 s acquire
/// timeout), so a request that waited for the database has had its chance
/// before the next restart.
const FIRST_RESTART: Duration = Duration::from_millis(2000);
const DOWN: Duration = Duration::from_millis(1000);
const BETWEEN: Duration = Duration::from_millis(2500);
const RESTARTS: usize = 2;
/// Fresh logins per client at most: two clients share a user, and the
/// per-username login rate is 60 a minute.
const MAX_LOGINS: usize = 10;

/// The four restart tests run one at a time: they time their load.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

mod under_load {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        restarts_under_load(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn mariadb() {
        restarts_under_load(Backend::MariaDb).await;
    }
}

mod connection_across_a_restart {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        connection_across_a_restart(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn mariadb() {
        connection_across_a_restart(Backend::MariaDb).await;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Get,
    Body,
    List,
    Me,
    Save,
    Create,
    Upload,
    Login,
}

impl Op {
    /// The status every request of this kind must get.
    fn wanted(self) -> u16 {
        match self {
            Op::Create | Op::Upload => 201,
            _ => 200,
        }
    }
}

/// One client's loop, repeated until the load ends.
const MIX: [Op; 10] = [
    Op::Get,
    Op::Save,
    Op::Body,
    Op::List,
    Op::Me,
    Op::Upload,
    Op::Save,
    Op::Create,
    Op::Get,
    Op::Login,
];

/// One request: when it ended (since the load started), and its answer or
/// transport error.
struct Sent {
    op: Op,
    sent: Duration,
    at: Duration,
    answer: Result<Reply, String>,
}

impl Sent {
    fn ok(&self) -> bool {
        matches!(&self.answer, Ok(r) if r.status.as_u16() == self.op.wanted())
    }
}

/// What one client did.
#[derive(Default)]
struct ClientLog {
    sent: Vec<Sent>,
    /// The client's own project, and its saves that answered 200.
    project: i64,
    saves_ok: i64,
    /// Projects it created (answered 201).
    created: Vec<i64>,
    /// Uploads that answered 201.
    uploads_ok: usize,
    /// Writes answered 503 `busy`, whose outcome is unknown (MariaDB only;
    /// see the module docs): saves, creates and uploads.
    unknown_saves: i64,
    unknown_creates: usize,
    unknown_uploads: usize,
    /// Answers that contradict what the client knows (a stale read of its
    /// own project, a version that skipped).
    anomalies: Vec<String>,
}

/// A transport error with its causes (`hyper`'s "connection closed", …).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

struct Clock {
    start: Instant,
}

impl Clock {
    async fn send(
        &self,
        log: &mut ClientLog,
        op: Op,
        req: reqwest::RequestBuilder,
    ) -> Option<Reply> {
        let sent = self.start.elapsed();
        let answer = try_send(req).await.map_err(|e| error_chain(&e));
        let reply = answer.as_ref().ok().cloned();
        log.sent.push(Sent {
            op,
            sent,
            at: self.start.elapsed(),
            answer,
        });
        reply
    }
}

/// Client `c`: `user`'s session (it logs in afresh now and then), its own
/// project `project` (version 1, nobody else saves it).
async fn client(
    c: usize,
    mut user: User,
    project: i64,
    clock: Clock,
    stop: Arc<AtomicBool>,
    tag: String,
) -> ClientLog {
    let mut log = ClientLog {
        project,
        ..Default::default()
    };
    let mut version: i64 = 1;
    // The last save's outcome is unknown: learn the version before saving.
    let mut resync = false;
    let mut logins = 0;
    let mut k = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let mut op = MIX[k % MIX.len()];
        k += 1;
        if op == Op::Login && logins >= MAX_LOGINS {
            op = Op::Me;
        }
        if op == Op::Save && resync {
            op = Op::Get;
        }
        let path = format!("/api/v1/projects/{project}");
        match op {
            Op::Get => {
                let Some(r) = clock.send(&mut log, op, user.req(Method::GET, &path)).await else {
                    continue;
                };
                if r.status == StatusCode::OK {
                    let seen = r.version();
                    if resync {
                        version = seen;
                        resync = false;
                    } else if seen != version {
                        log.anomalies.push(format!(
                            "client {c}: read version {seen} of project {project}, saved {version}"
                        ));
                    }
                }
            }
            Op::Body => {
                let req = user.req(Method::GET, &format!("{path}/body"));
                clock.send(&mut log, op, req).await;
            }
            Op::List => {
                let req = user.req(Method::GET, "/api/v1/projects?limit=100");
                clock.send(&mut log, op, req).await;
            }
            Op::Me => {
                clock
                    .send(&mut log, op, user.req(Method::GET, "/api/v1/me"))
                    .await;
            }
            Op::Save => {
                let req = user.req(Method::PUT, &path).json(
                    &json!({"version": version, "body": {"targets": [], "client": c, "k": k}}),
                );
                match clock.send(&mut log, op, req).await {
                    Some(r) if r.status == StatusCode::OK => {
                        log.saves_ok += 1;
                        if r.version() != version + 1 {
                            log.anomalies.push(format!(
                                "client {c}: the save of version {version} of project {project} made {}",
                                r.version()
                            ));
                        }
                        version = r.version();
                    }
                    Some(r) if r.status == StatusCode::CONFLICT => {
                        log.anomalies.push(format!(
                            "client {c}: 409 on project {project} at version {version}: {}",
                            r.text()
                        ));
                        version = r.json()["current_version"].as_i64().unwrap_or(version);
                    }
                    Some(r) => {
                        log.unknown_saves += i64::from(r.status == StatusCode::SERVICE_UNAVAILABLE);
                        resync = true;
                    }
                    None => resync = true,
                }
            }
            Op::Create => {
                let req = user
                    .req(Method::POST, "/api/v1/projects")
                    .json(&json!({"title": format!("c{c} k{k}"), "body": {"targets": []}}));
                if let Some(r) = clock.send(&mut log, op, req).await {
                    if r.status == StatusCode::CREATED {
                        log.created.push(r.id());
                    }
                    log.unknown_creates += usize::from(r.status == StatusCode::SERVICE_UNAVAILABLE);
                }
            }
            Op::Upload => {
                let bytes = svg(&format!("{tag} c{c} k{k}"));
                let req = user
                    .req(
                        Method::POST,
                        &format!("/api/v1/assets/{}", asset_name(&bytes, "svg")),
                    )
                    .body(bytes);
                if let Some(r) = clock.send(&mut log, op, req).await {
                    if r.status == StatusCode::CREATED {
                        log.uploads_ok += 1;
                    }
                    log.unknown_uploads += usize::from(r.status == StatusCode::SERVICE_UNAVAILABLE);
                }
            }
            Op::Login => {
                logins += 1;
                let username = user.info["username"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let req = user
                    .api
                    .http
                    .post(user.api.url("/auth/dev/login"))
                    .json(&json!({"username": username, "role": "student", "groups": []}));
                if let Some(r) = clock.send(&mut log, op, req).await {
                    if let (StatusCode::OK, Some(token)) = (r.status, r.json()["token"].as_str()) {
                        user.token = token.to_owned();
                    }
                }
            }
        }
    }
    log
}

/// `line` without its terminal colours (`ESC [ … m`).
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The server log without colours.
fn plain_log(server: &TestServer) -> Vec<String> {
    server.log().lines().map(plain).collect()
}

/// The server log's WARN and ERROR lines, without their timestamps,
/// counted.
fn log_problems(log: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in log {
        let Some(at) = line.find(" WARN ").or_else(|| line.find(" ERROR ")) else {
            continue;
        };
        let mut line = line[at + 1..].trim();
        // One entry for all of sqlx's slow acquires, whatever they took.
        if let Some(cut) = line.find(" acquired_after_secs=") {
            line = &line[..cut];
        }
        *counts.entry(line.to_owned()).or_default() += 1;
    }
    counts
}

/// Sets its flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn ping_setting() -> bool {
    std::env::var("CUBBY_TEST_DB_RESTART_PING").is_ok_and(|v| v == "true")
}

/// The restart tests' set-up: the turn to run (one at a time), a private
/// server of `backend` and a fresh database on it; `None` after saying the
/// test skipped (no server binaries, and not under `CI=true`).
async fn private_database(
    backend: Backend,
) -> Option<(tokio::sync::MutexGuard<'static, ()>, PrivateServer, TestDb)> {
    let one = ONE_AT_A_TIME.lock().await;
    let server = or_skip(
        &format!("{backend:?} restart test"),
        PrivateServer::start(backend),
    )?;
    let db = TestDb::create_at(backend, &server.url()).await;
    Some((one, server, db))
}

async fn restarts_under_load(backend: Backend) {
    let Some((_one, mut server, db)) = private_database(backend).await else {
        return;
    };
    let ping = ping_setting();
    let opts = ServerOptions::default().with("CUBBY_DB_TEST_BEFORE_ACQUIRE", ping);
    let cubby = TestServer::spawn(&db, &opts);
    let api = tests::Client::new(&cubby.base_url);

    let mut users = Vec::new();
    let mut projects = Vec::new();
    for u in 0..USERS {
        let user = User::login(&api, &format!("restart{u}"), "student", &[]).await;
        for p in 0..PROJECTS_PER_USER {
            let made = user
                .create_ok(&format!("u{u} p{p}"), &json!({"targets": []}))
                .await;
            assert_eq!(made["version"], 1, "{made}");
            projects.push((user.clone(), made["id"].as_i64().expect("id")));
        }
        users.push(user);
    }

    // The load, and the restarts beside it (blocking: on a thread of their own).
    let start = Instant::now();
    let tag = format!("{:?}", start);
    let stop = Arc::new(AtomicBool::new(false));
    let stop_clients = stop.clone();
    let clients: Vec<_> = projects
        .iter()
        .enumerate()
        .map(|(c, (user, id))| {
            let stop = stop.clone();
            tokio::spawn(client(
                c,
                user.clone(),
                *id,
                Clock { start },
                stop,
                tag.clone(),
            ))
        })
        .collect();
    let restarter = tokio::task::spawn_blocking(move || {
        // The clients stop when this ends, also by a panic.
        let _stop = StopOnDrop(stop_clients);
        let mut windows = Vec::new();
        std::thread::sleep(FIRST_RESTART);
        for _ in 0..RESTARTS {
            let down = start.elapsed();
            server.restart_after(DOWN);
            windows.push((down, start.elapsed()));
            std::thread::sleep(BETWEEN);
        }
        (server, windows)
    });
    let mut logs = Vec::new();
    for handle in clients {
        logs.push(handle.await.expect("client task"));
    }
    let (server, windows) = restarter.await.expect("restarts");
    let took = start.elapsed();

    // What every request got, by kind.
    let mut problems = Vec::new();
    let sent: Vec<&Sent> = logs.iter().flat_map(|l| &l.sent).collect();
    eprintln!(
        "{backend:?}, ping before acquire {ping}: {} requests in {took:?}; database down at {windows:?}",
        sent.len()
    );
    let mut all_replies = Vec::new();
    let ops: std::collections::BTreeSet<Op> = sent.iter().map(|s| s.op).collect();
    for op in ops {
        let replies: Vec<Reply> = sent
            .iter()
            .filter(|s| s.op == op)
            .filter_map(|s| s.answer.as_ref().ok().cloned())
            .collect();
        let errors = sent
            .iter()
            .filter(|s| s.op == op && s.answer.is_err())
            .count();
        eprintln!("  {op:?}: {:?}, transport errors {errors}", tally(&replies));
        all_replies.extend(replies);
    }
    // Every request that did not get its answer, in the order they ended.
    let mut failed: Vec<&&Sent> = sent.iter().filter(|s| !s.ok()).collect();
    failed.sort_by_key(|s| s.at);
    let transport = failed.iter().filter(|s| s.answer.is_err()).count();
    let statuses = tally(&all_replies);
    let server_errors: usize = statuses.range(500..).map(|(_, n)| n).sum();
    let busy = statuses.get(&503).copied().unwrap_or(0);
    eprintln!(
        "  all: {statuses:?}; 5xx {server_errors} (of them 503: {busy}); transport errors {transport}"
    );
    let metrics = api.metrics().await;
    let commit_unknown = metric_value(&metrics, "cubby_tx_commit_unknown_total", &[]) as usize;
    eprintln!("  commits with an unknown outcome (503): {commit_unknown}");
    let log = plain_log(&cubby);
    let log_lines = log_problems(&log);
    if !log_lines.is_empty() {
        eprintln!("  cubby's WARN/ERROR lines (count × line):");
        for (line, n) in &log_lines {
            eprintln!("    {n} × {line}");
        }
    }
    if !failed.is_empty() {
        eprintln!("  failed requests (ended at, sent at, what, answer):");
        for s in &failed {
            let answer = match &s.answer {
                Ok(r) => format!("{} {}", r.status, r.code().unwrap_or_else(|| r.text())),
                Err(e) => format!("transport error: {e}"),
            };
            eprintln!("    {:?} {:?} {:?}: {answer}", s.at, s.sent, s.op);
        }
        let tail: Vec<&String> = log.iter().rev().take(40).collect();
        eprintln!("--- last lines of cubby's log ---");
        for line in tail.into_iter().rev() {
            eprintln!("{line}");
        }
    }
    // MariaDB only: 503s that are exactly the commits of unknown outcome.
    let excused = if backend == Backend::MariaDb && busy == commit_unknown {
        busy
    } else {
        0
    };
    if server_errors > excused {
        problems.push(format!(
            "{server_errors} answers were 5xx ({busy} of them 503; commits of unknown outcome: {commit_unknown})"
        ));
    }
    if backend == Backend::Postgres && commit_unknown > 0 {
        problems.push(format!(
            "{commit_unknown} commits of unknown outcome on PostgreSQL"
        ));
    }
    if transport > 0 {
        problems.push(format!("{transport} transport errors"));
    }
    let other = failed.len() - server_errors - transport;
    if other > 0 {
        problems.push(format!(
            "{other} answers were neither 5xx nor what was asked"
        ));
    }
    for (r, (_, up)) in windows.iter().enumerate() {
        let until = windows.get(r + 1).map(|(down, _)| *down).unwrap_or(took);
        let after = sent
            .iter()
            .filter(|s| s.ok() && s.at > *up && s.at < until)
            .count();
        eprintln!("  succeeded after restart {r} (back at {up:?}): {after}");
        if after == 0 {
            problems.push(format!("no request succeeded after restart {r}"));
        }
    }
    let anomalies: Vec<&String> = logs.iter().flat_map(|l| &l.anomalies).collect();
    if !anomalies.is_empty() {
        problems.push(format!("clients saw contradictions: {anomalies:?}"));
    }

    // The data is exact.
    problems.extend(check_data(&db, &logs).await);
    drop(cubby);
    drop(db);
    drop(server);
    assert!(
        problems.is_empty(),
        "{backend:?} (ping before acquire {ping}):\n  {}",
        problems.join("\n  ")
    );
}

/// Each project's version is 1 + its saves that answered 200 (a created
/// one was never saved); the projects are the set-up ones and the 201
/// creates; every project has one version row per kept version; the asset
/// rows are the 201 uploads. A write of unknown outcome (503, see the module
/// docs) may have happened or not: a save may add one version, a create one
/// project at version 1, an upload one asset. Returns what is not so.
async fn check_data(db: &TestDb, logs: &[ClientLog]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut want: BTreeMap<i64, i64> = BTreeMap::new();
    // Versions that a save of unknown outcome may have added, by project.
    let mut maybe: BTreeMap<i64, i64> = BTreeMap::new();
    for log in logs {
        want.insert(log.project, 1 + log.saves_ok);
        maybe.insert(log.project, log.unknown_saves);
        for id in &log.created {
            want.insert(*id, 1);
        }
    }
    let unknown_creates: usize = logs.iter().map(|l| l.unknown_creates).sum();
    let conn = db.connect().await;
    let rows = query(db, &conn, "SELECT id, version FROM projects ORDER BY id").await;
    let have: BTreeMap<i64, i64> = rows
        .iter()
        .map(|r| {
            let id: i64 = r.try_get("", "id").expect("id");
            let version: i32 = r.try_get("", "version").expect("version");
            (id, i64::from(version))
        })
        .collect();
    let creates: usize = logs.iter().map(|l| l.created.len()).sum();
    eprintln!(
        "  projects: {} in the database, {} set up + {creates} created",
        have.len(),
        CLIENTS
    );
    // A project nobody was answered 201 for: one of the unknown creates.
    let extra: Vec<i64> = have
        .iter()
        .filter(|(id, version)| !want.contains_key(id) && **version == 1)
        .map(|(id, _)| *id)
        .collect();
    let fits = |id: &i64| match (want.get(id), have.get(id)) {
        (Some(w), Some(h)) => (*w..=*w + maybe.get(id).copied().unwrap_or(0)).contains(h),
        (None, Some(_)) => extra.contains(id),
        _ => false,
    };
    if extra.len() > unknown_creates {
        problems.push(format!(
            "{} projects nobody created ({unknown_creates} creates of unknown outcome)",
            extra.len()
        ));
    }
    if !want.keys().chain(have.keys()).all(fits) {
        let diff: Vec<String> = want
            .keys()
            .chain(have.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|id| !fits(id))
            .map(|id| {
                format!(
                    "project {id}: version {:?} in the database, {:?} from the answers",
                    have.get(id),
                    want.get(id)
                )
            })
            .collect();
        problems.push(format!("the projects are not what was answered: {diff:?}"));
    }
    // One row per kept version (at most CUBBY_KEEP_VERSIONS, 50), none twice.
    let rows = query(
        db,
        &conn,
        "SELECT project_id, COUNT(*) AS n, COUNT(DISTINCT version) AS d, MAX(version) AS top \
         FROM project_versions GROUP BY project_id ORDER BY project_id",
    )
    .await;
    for r in &rows {
        let id: i64 = r.try_get("", "project_id").expect("project_id");
        let n: i64 = r.try_get("", "n").expect("n");
        let d: i64 = r.try_get("", "d").expect("d");
        let top: i32 = r.try_get("", "top").expect("top");
        let version = have.get(&id).copied().unwrap_or(0);
        if n != d || i64::from(top) != version || n != version.min(50) {
            problems.push(format!(
                "project {id} (version {version}): {n} version rows, {d} distinct, newest {top}"
            ));
        }
    }
    if rows.len() != have.len() {
        problems.push(format!(
            "{} projects have version rows, {} projects exist",
            rows.len(),
            have.len()
        ));
    }
    let assets = db.count("assets", "").await;
    let uploads: usize = logs.iter().map(|l| l.uploads_ok).sum();
    let unknown_uploads: usize = logs.iter().map(|l| l.unknown_uploads).sum();
    eprintln!("  assets: {assets} rows, {uploads} uploads answered 201, {unknown_uploads} unknown");
    if !(uploads as i64..=(uploads + unknown_uploads) as i64).contains(&assets) {
        problems.push(format!(
            "{assets} asset rows, {uploads} uploads answered 201 ({unknown_uploads} of unknown outcome)"
        ));
    }
    conn.close().await.ok();
    problems
}

async fn query(db: &TestDb, conn: &DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    conn.query_all_raw(Statement::from_string(db.db_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// What a pooled connection (a pool of one, no ping: cubby with
/// `CUBBY_DB_TEST_BEFORE_ACQUIRE=false`) sees when the server restarts while
/// the connection is idle in the pool, inside a transaction, and before
/// COMMIT; and what the next transaction on the pool gets. Prints every
/// error (Display and Debug: the variant a retry has to match).
async fn connection_across_a_restart(backend: Backend) {
    let Some((_one, mut server, db)) = private_database(backend).await else {
        return;
    };
    let mut opts = ConnectOptions::new(db.url.clone());
    opts.max_connections(1)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .sqlx_logging(false);
    let pool = Database::connect(opts).await.expect("connect");
    pool.execute_unprepared("CREATE TABLE probe (n INTEGER NOT NULL)")
        .await
        .expect("create table");
    let insert = "INSERT INTO probe (n) VALUES (1)";
    let mut seen: Vec<(String, String)> = Vec::new();
    // Transactions that answered Ok to their COMMIT: the rows there must be.
    let mut committed = 0i64;
    let mut record = |what: &str, result: Result<(), DbErr>| {
        let text = match &result {
            Ok(()) => "Ok".to_owned(),
            Err(e) => format!("Err: {e}\n        {e:?}"),
        };
        eprintln!("{backend:?}, {what}: {text}");
        seen.push((what.to_owned(), text));
        result.is_ok()
    };

    // Idle in the pool.
    pool.execute_unprepared("SELECT 1").await.expect("select");
    until_idle(&pool, backend).await;
    server.restart();
    let idle = match pool.begin().await {
        Ok(txn) => {
            let r = txn.execute_unprepared(insert).await.map(|_| ());
            let ok = record("idle: BEGIN Ok, then the INSERT", r);
            if ok && txn.commit().await.is_ok() {
                committed += 1;
            }
            ok
        }
        Err(e) => record("idle: BEGIN", Err(e)),
    };
    let again = next_transaction(&pool, insert).await;
    if record("idle: the next transaction on the pool", again) {
        committed += 1;
    }

    // Mid-transaction.
    let txn = pool.begin().await.expect("begin");
    txn.execute_unprepared(insert).await.expect("insert");
    server.restart();
    let mid = record(
        "mid-transaction: the next statement",
        txn.execute_unprepared(insert).await.map(|_| ()),
    );
    record("mid-transaction: ROLLBACK", txn.rollback().await);
    let again = next_transaction(&pool, insert).await;
    if record("mid-transaction: the next transaction on the pool", again) {
        committed += 1;
    }

    // At COMMIT.
    let txn = pool.begin().await.expect("begin");
    txn.execute_unprepared(insert).await.expect("insert");
    server.restart();
    let commit = record("at COMMIT: COMMIT", txn.commit().await);
    let again = next_transaction(&pool, insert).await;
    if record("at COMMIT: the next transaction on the pool", again) {
        committed += 1;
    }

    // While the server is down: the pooled connection is dead (the idle
    // case once more), then the pool has to open a new one.
    let port = server.port();
    let restarting = tokio::task::spawn_blocking(move || {
        server.restart_after(Duration::from_secs(3));
        server
    });
    let refused_by = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && Instant::now() < refused_by {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = Instant::now();
    let first = next_transaction(&pool, insert).await;
    if record(
        &format!(
            "down: a transaction on the pooled connection (answered after {:?})",
            asked.elapsed()
        ),
        first,
    ) {
        committed += 1;
    }
    let asked = Instant::now();
    let opened = next_transaction(&pool, insert).await;
    if record(
        &format!(
            "down: the next transaction, on a new connection (answered after {:?})",
            asked.elapsed()
        ),
        opened,
    ) {
        committed += 1;
    }
    let server = restarting.await.expect("restart");

    let rows = pool
        .query_one_raw(Statement::from_string(
            db.db_backend(),
            "SELECT COUNT(*) AS n FROM probe",
        ))
        .await
        .expect("count")
        .expect("a row");
    let rows: i64 = rows.try_get("", "n").expect("n");
    eprintln!("{backend:?}: {rows} rows, {committed} transactions answered Ok to COMMIT");
    pool.close().await.ok();
    drop(db);
    drop(server);
    // A restart breaks the connection whatever it was doing: the first use
    // after it fails, which is what a retry has to handle.
    assert!(
        !idle && !mid && !commit,
        "{backend:?}: a use of the connection after a restart succeeded: {seen:#?}"
    );
    // What failed wrote nothing; what answered Ok is there.
    assert_eq!(rows, committed, "{backend:?}: {seen:#?}");
}

/// Waits until the pool's one connection is back in it, idle. sqlx returns
/// a connection in a task of its own that pings it first; a restart during
/// that ping makes the pool drop it and open a fresh one, and "idle" would
/// then test a new connection, not one that sat in the pool.
async fn until_idle(pool: &DatabaseConnection, backend: Backend) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let idle = match backend {
            Backend::Postgres => pool.get_postgres_connection_pool().num_idle(),
            Backend::MariaDb => pool.get_mysql_connection_pool().num_idle(),
            Backend::Sqlite => return,
        };
        if idle == 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{backend:?}: the pool's connection did not come back idle"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// BEGIN, INSERT, COMMIT on `pool`.
async fn next_transaction(pool: &DatabaseConnection, insert: &str) -> Result<(), DbErr> {
    let txn = pool.begin().await?;
    txn.execute_unprepared(insert).await?;
    txn.commit().await
}
