//! `cubby-bench`: a load generator for cubby, over real HTTP, with
//! PostgreSQL's own limit beside it.
//!
//! One command measures everything the README reports: it starts cubby
//! processes itself on fresh databases (`--spawn`), drives them, runs
//! `pgbench` with the same transaction shape (`--pgbench`), and writes a
//! table, JSON and an SVG chart:
//!
//! ```sh
//! cargo build --release --bins
//! target/release/cubby-bench --spawn sqlite --spawn postgres --spawn postgres:3 \
//!     --pgbench --clients 1,8,32,64 --duration-secs 5 \
//!     --json bench/results.json --svg bench/chart.svg
//! ```
//!
//! Or it drives an ALREADY RUNNING cubby (started with `CUBBY_DEV_LOGIN=true`):
//! `cubby-bench --url http://127.0.0.1:8080 --label mine`.
//!
//! Flags:
//!
//! - `--spawn TARGET` (repeatable): `sqlite`, `postgres` or `mariadb`, with
//!   `:N` for N instances on one database (e.g. `postgres:3`). Each target
//!   gets a fresh database (on `--pg-url` / `--mysql-url`, dropped after)
//!   and `cubby` processes on loopback ports with the development login on
//!   and the login rate limits off; its rows are labelled e.g. `postgres-3`,
//!   and its peak server RSS is reported. The `cubby` binary is found beside
//!   this one (`cargo build --release --bins`) or given by `--cubby-bin`.
//! - `--url URL` (repeatable): already running instances; client `i` talks
//!   to URL `i % n`. Several URLs must share one database.
//! - `--pgbench`: after the cubby runs, runs `pgbench` on a fresh database on
//!   `--pg-url` with the save's transaction shape (see `pgbench.rs`) for
//!   `hot-edit` and `spread-edit` at the same client counts and duration, and
//!   prints each `postgres-*` row as a ratio of it.
//! - `--scenario hot-edit|spread-edit|read|asset-dedup|login-storm|backpack|all`
//!   (default `all`; `all` runs `login-storm` last).
//! - `--clients C` (repeatable or a comma list, e.g. `1,8,64`; default `1,8,32`).
//! - `--duration-secs D` (default 10) and `--max-ops N` (default 100000): hard
//!   bounds per (scenario, clients) run; an operation still in flight at the
//!   deadline is abandoned and not counted.
//! - `--json FILE`: every row as a JSON array of objects with the fields
//!   `label, scenario, clients, ops, ops_per_sec, conflicts_per_sec, p50_ms,
//!   p99_ms, errors_5xx, errors_other, seconds` (p50/p99 are null for
//!   pgbench, which does not time a save from first attempt to success).
//! - `--svg FILE`: ops/s against clients, a panel per scenario, a line per label.
//! - `--from-json FILE` (repeatable): rows an earlier `--json` wrote, added to
//!   this run's table, ratios and chart (alone, it just redraws the chart).
//! - `--label TEXT`: the label of the `--url` rows (default `cubby`).
//!
//! Every address it sends load to must be loopback (`127.0.0.0/8`,
//! `localhost`, `::1`); anything else exits with code 2.
//!
//! Scenarios (each operation is timed from its first attempt to its success;
//! `ops` counts successful operations):
//!
//! - `hot-edit`: one project, all clients as its owner: `GET` the project, `PUT`
//!   it with that `version`; on 409 `GET` it again and retry.
//!   One op = one 200 `PUT`; every 409 counts as a conflict.
//! - `spread-edit`: the same loop, each client with its own user and project.
//! - `read`: `GET /api/v1/projects/{id}/body` of one ~20 KB project.
//! - `asset-dedup`: alternately the same SVG bytes and fresh random SVG bytes,
//!   `POST /api/v1/assets/{md5}.svg` (200 and 201 both succeed).
//! - `login-storm`: rounds of C concurrent first logins of one new user with
//!   three new groups; one op = one 200 login.
//! - `backpack`: `POST /api/v1/backpack` of an SVG costume with a tiny JPEG
//!   thumbnail, each client with its own user.
//!
//! Errors: `errors_5xx` counts 5xx answers; `errors_other` counts every other
//! non-success status (including 429 from the login rate limit) and transport
//! errors. Against a server of your own, start it with
//! `CUBBY_LOGIN_RATE_PER_IP=0 CUBBY_LOGIN_RATE_PER_USER=0` for `login-storm`,
//! or the rate limiter's 429s dominate the result (`--spawn` does this).

mod chart;
mod pgbench;
mod spawn;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use clap::{Parser, ValueEnum};
use md5::{Digest, Md5};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tests::Backend;

#[derive(Parser, Debug)]
#[command(
    name = "cubby-bench",
    about = "Load benchmark for cubby, with pgbench's limit beside it"
)]
struct Args {
    /// Base URL of a running cubby instance (repeatable; loopback only).
    #[arg(long = "url")]
    urls: Vec<String>,
    /// Start cubby on a fresh database: sqlite, postgres, mariadb, with :N
    /// instances (repeatable).
    #[arg(long = "spawn")]
    spawn: Vec<spawn::Target>,
    /// The `cubby` binary `--spawn` starts (default: beside this binary).
    #[arg(long)]
    cubby_bin: Option<PathBuf>,
    /// PostgreSQL server for `--spawn postgres` and `--pgbench`.
    #[arg(
        long,
        env = "CUBBY_TEST_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pg_url: String,
    /// MariaDB server for `--spawn mariadb`.
    #[arg(
        long,
        env = "CUBBY_TEST_MYSQL_URL",
        default_value = "mysql://root@127.0.0.1:3306"
    )]
    mysql_url: String,
    /// Also run pgbench with a save's transaction shape on --pg-url.
    #[arg(long)]
    pgbench: bool,
    /// Which scenario to run.
    #[arg(long, value_enum, default_value = "all")]
    scenario: ScenarioArg,
    /// Concurrent clients (repeatable or comma separated, e.g. 1,8,64).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 8, 32])]
    clients: Vec<usize>,
    /// Hard bound on each run's duration, in seconds.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Hard bound on the operations started in each run.
    #[arg(long, default_value_t = 100_000)]
    max_ops: u64,
    /// Write the result rows as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw ops/s against clients as an SVG chart in this file.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Rows of an earlier `--json` file to report and draw with this run's
    /// (repeatable; with nothing else to run, just redraws and re-tabulates).
    #[arg(long = "from-json")]
    from_json: Vec<PathBuf>,
    /// Label of the rows from --url instances.
    #[arg(long, default_value = "cubby")]
    label: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ScenarioArg {
    HotEdit,
    SpreadEdit,
    Read,
    AssetDedup,
    LoginStorm,
    Backpack,
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scenario {
    HotEdit,
    SpreadEdit,
    Read,
    AssetDedup,
    LoginStorm,
    Backpack,
}

impl Scenario {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::HotEdit => "hot-edit",
            Scenario::SpreadEdit => "spread-edit",
            Scenario::Read => "read",
            Scenario::AssetDedup => "asset-dedup",
            Scenario::LoginStorm => "login-storm",
            Scenario::Backpack => "backpack",
        }
    }

    fn expand(arg: ScenarioArg) -> Vec<Scenario> {
        match arg {
            ScenarioArg::HotEdit => vec![Scenario::HotEdit],
            ScenarioArg::SpreadEdit => vec![Scenario::SpreadEdit],
            ScenarioArg::Read => vec![Scenario::Read],
            ScenarioArg::AssetDedup => vec![Scenario::AssetDedup],
            ScenarioArg::LoginStorm => vec![Scenario::LoginStorm],
            ScenarioArg::Backpack => vec![Scenario::Backpack],
            ScenarioArg::All => vec![
                Scenario::HotEdit,
                Scenario::SpreadEdit,
                Scenario::Read,
                Scenario::AssetDedup,
                Scenario::Backpack,
                Scenario::LoginStorm,
            ],
        }
    }
}

/// Checks that `raw` is a URL with one of `schemes` on a loopback host;
/// returns it without a trailing slash.
fn check_url(raw: &str, schemes: &[&str]) -> Result<String, String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("invalid URL {raw:?}: {e}"))?;
    if !schemes.contains(&url.scheme()) {
        return Err(format!("{raw:?}: scheme must be one of {schemes:?}"));
    }
    let host = url.host_str().ok_or_else(|| format!("{raw:?}: no host"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if !loopback {
        return Err(format!(
            "{raw:?}: host {host:?} is not loopback; cubby-bench only sends load to \
             127.0.0.0/8, localhost or ::1"
        ));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// One worker's HTTP client (pooled keep-alive, no proxy) and base URL.
#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    fn new(base: &str) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(4)
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Self {
            client,
            base: base.to_owned(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

/// What one worker saw.
#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    conflicts: u64,
    errors_5xx: u64,
    errors_other: u64,
}

impl Stats {
    fn status_error(&mut self, status: StatusCode) {
        if status.is_server_error() {
            self.errors_5xx += 1;
        } else {
            self.errors_other += 1;
        }
    }

    fn merge(&mut self, other: Stats) {
        self.latencies.extend(other.latencies);
        self.conflicts += other.conflicts;
        self.errors_5xx += other.errors_5xx;
        self.errors_other += other.errors_other;
    }
}

/// The bounds shared by every worker of one run.
struct Limits {
    deadline: tokio::time::Instant,
    max_ops: u64,
    started: AtomicU64,
}

impl Limits {
    /// Reserves one operation; false once the deadline or budget is reached.
    fn take(&self) -> bool {
        if tokio::time::Instant::now() >= self.deadline {
            return false;
        }
        self.started.fetch_add(1, Ordering::Relaxed) < self.max_ops
    }
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A tiny project JSON; `pad` bytes of filler make it larger.
fn project_body(tag: &str, pad: usize) -> Value {
    json!({
        "targets": [{
            "isStage": true,
            "name": "Stage",
            "variables": {"bench": ["bench", tag]},
            "comments": {"pad": {"text": "x".repeat(pad)}},
        }],
        "monitors": [],
        "extensions": [],
        "meta": {"semver": "3.0.0", "vm": "0.2.0", "agent": "cubby-bench"},
    })
}

fn svg(text: &str) -> Vec<u8> {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\">\
         <text>{text}</text></svg>"
    )
    .into_bytes()
}

/// A minimal byte string starting with the JPEG SOI marker.
const TINY_JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xFF, 0xD9,
];

/// Logs in through `POST /auth/dev/login` (setup, untimed); waits out 429s.
async fn setup_login(
    http: &Http,
    username: &str,
    groups: &[(String, String)],
) -> Result<String, String> {
    let groups: Vec<Value> = groups
        .iter()
        .map(|(id, name)| json!({"external_id": id, "name": name}))
        .collect();
    let body = json!({"username": username, "role": "teacher", "groups": groups});
    for _ in 0..30 {
        let resp = http
            .client
            .post(http.url("/auth/dev/login"))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("login {username}: {e}"))?;
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1)
                .clamp(1, 10);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        let json: Value = resp.json().await.unwrap_or(Value::Null);
        if status != StatusCode::OK {
            return Err(format!(
                "login {username}: {status} {json} (is the server running with CUBBY_DEV_LOGIN=true?)"
            ));
        }
        return json["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("login {username}: no token in {json}"));
    }
    Err(format!("login {username}: still rate limited (429)"))
}

/// Creates a project (setup, untimed); returns its id.
async fn setup_project(http: &Http, token: &str, title: &str, body: Value) -> Result<i64, String> {
    let resp = http
        .client
        .post(http.url("/api/v1/projects"))
        .bearer_auth(token)
        .json(&json!({"title": title, "body": body}))
        .send()
        .await
        .map_err(|e| format!("create project: {e}"))?;
    let status = resp.status();
    let json: Value = resp.json().await.unwrap_or(Value::Null);
    if status != StatusCode::CREATED {
        return Err(format!("create project: {status} {json}"));
    }
    json["id"]
        .as_i64()
        .ok_or_else(|| format!("create project: no id in {json}"))
}

/// One edit: GET the project, PUT it with that version, on 409 re-read and
/// retry. True on a 200 PUT.
async fn edit_op(http: &Http, token: &str, id: i64, tag: &str, stats: &mut Stats) -> bool {
    let path = format!("/api/v1/projects/{id}");
    loop {
        let Some(version) = read_version(http, token, &path, stats).await else {
            return false;
        };
        let sent = http
            .client
            .put(http.url(&path))
            .bearer_auth(token)
            .json(&json!({"version": version, "body": project_body(tag, 0)}))
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(_) => {
                stats.errors_other += 1;
                return false;
            }
        };
        let status = resp.status();
        // Drain the body so the connection goes back to the pool.
        let _ = resp.bytes().await;
        match status {
            StatusCode::OK => return true,
            // Someone saved first: re-read, as an editor would, and retry.
            StatusCode::CONFLICT => stats.conflicts += 1,
            _ => {
                stats.status_error(status);
                return false;
            }
        }
    }
}

/// `GET` a project's current `version`; `None` (counted) on any failure.
async fn read_version(http: &Http, token: &str, path: &str, stats: &mut Stats) -> Option<i64> {
    let resp = match http
        .client
        .get(http.url(path))
        .bearer_auth(token)
        .send()
        .await
    {
        Ok(r) => r,
        Err(_) => {
            stats.errors_other += 1;
            return None;
        }
    };
    let status = resp.status();
    if status != StatusCode::OK {
        stats.status_error(status);
        return None;
    }
    let version = resp
        .json::<Value>()
        .await
        .ok()
        .and_then(|j| j["version"].as_i64());
    if version.is_none() {
        stats.errors_other += 1;
    }
    version
}

/// Sends one request and counts a non-success; true on one of `ok`.
async fn simple_op(req: reqwest::RequestBuilder, ok: &[StatusCode], stats: &mut Stats) -> bool {
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let _ = resp.bytes().await;
            if ok.contains(&status) {
                true
            } else {
                stats.status_error(status);
                false
            }
        }
        Err(_) => {
            stats.errors_other += 1;
            false
        }
    }
}

/// What a worker of one run does per operation.
#[derive(Clone)]
enum Work {
    Edit { token: String, id: i64 },
    Read { token: String, id: i64 },
    Asset { token: String, same: Arc<Vec<u8>> },
    Backpack { token: String },
}

async fn run_op(http: &Http, work: &Work, worker: usize, n: u64, stats: &mut Stats) -> bool {
    match work {
        Work::Edit { token, id } => {
            let tag = format!("w{worker}-n{n}");
            edit_op(http, token, *id, &tag, stats).await
        }
        Work::Read { token, id } => {
            let req = http
                .client
                .get(http.url(&format!("/api/v1/projects/{id}/body")))
                .bearer_auth(token);
            simple_op(req, &[StatusCode::OK], stats).await
        }
        Work::Asset { token, same } => {
            let bytes: Vec<u8> = if n & 1 == 0 {
                same.as_ref().clone()
            } else {
                svg(&random_hex())
            };
            let req = http
                .client
                .post(http.url(&format!("/api/v1/assets/{}.svg", md5_hex(&bytes))))
                .bearer_auth(token)
                .header(reqwest::header::CONTENT_TYPE, "image/svg+xml")
                .body(bytes);
            simple_op(req, &[StatusCode::OK, StatusCode::CREATED], stats).await
        }
        Work::Backpack { token } => {
            let body = json!({
                "type": "costume",
                "mime": "image/svg+xml",
                "name": format!("costume w{worker} n{n}"),
                "body": b64(&svg(&random_hex())),
                "thumbnail": b64(TINY_JPEG),
            });
            let req = http
                .client
                .post(http.url("/api/v1/backpack"))
                .bearer_auth(token)
                .json(&body);
            simple_op(req, &[StatusCode::CREATED, StatusCode::OK], stats).await
        }
    }
}

/// A worker: runs operations until the deadline or the budget.
async fn worker_loop(http: Http, work: Work, worker: usize, limits: Arc<Limits>) -> Stats {
    let mut stats = Stats::default();
    let mut n = 0u64;
    while limits.take() {
        let start = Instant::now();
        let result =
            tokio::time::timeout_at(limits.deadline, run_op(&http, &work, worker, n, &mut stats))
                .await;
        match result {
            Ok(true) => stats.latencies.push(start.elapsed()),
            // Failed: back off a little so a dead server is not spun on.
            Ok(false) => tokio::time::sleep(Duration::from_millis(5)).await,
            // Cut off by the deadline: abandoned, not counted.
            Err(_) => break,
        }
        n += 1;
    }
    stats
}

/// login-storm: rounds of `clients` concurrent first logins of one new user
/// with three new groups.
async fn login_storm(https: &[Http], prefix: &str, limits: Arc<Limits>) -> Stats {
    let mut total = Stats::default();
    let mut round = 0u64;
    loop {
        let mut handles = Vec::new();
        for http in https {
            if !limits.take() {
                break;
            }
            let http = http.clone();
            let username = format!("{prefix}-storm{}-r{round}", https.len());
            let groups: Vec<Value> = (0..3)
                .map(|g| {
                    let id = format!("{prefix}-storm{}-r{round}-g{g}", https.len());
                    json!({"external_id": id, "name": format!("Class {id}")})
                })
                .collect();
            let body = json!({"username": username, "role": "teacher", "groups": groups});
            let deadline = limits.deadline;
            handles.push(tokio::spawn(async move {
                let mut stats = Stats::default();
                let start = Instant::now();
                let req = http.client.post(http.url("/auth/dev/login")).json(&body);
                let result = tokio::time::timeout_at(
                    deadline,
                    simple_op(req, &[StatusCode::OK], &mut stats),
                )
                .await;
                if let Ok(true) = result {
                    stats.latencies.push(start.elapsed());
                }
                stats
            }));
        }
        if handles.is_empty() {
            break;
        }
        for h in handles {
            match h.await {
                Ok(s) => total.merge(s),
                Err(_) => total.errors_other += 1,
            }
        }
        round += 1;
    }
    total
}

/// One result row.
pub(crate) struct Row {
    pub(crate) label: String,
    pub(crate) scenario: &'static str,
    pub(crate) clients: usize,
    pub(crate) ops: u64,
    pub(crate) ops_per_sec: f64,
    pub(crate) conflicts_per_sec: f64,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
    pub(crate) errors_5xx: u64,
    pub(crate) errors_other: u64,
    pub(crate) seconds: f64,
}

/// The `q` quantile (nearest rank) of sorted durations, in ms; 0 when empty.
fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    sorted[idx].as_secs_f64() * 1000.0
}

/// Sets up and runs one (scenario, clients) combination.
async fn run(
    scenario: Scenario,
    clients: usize,
    urls: &[String],
    label: &str,
    args: &Args,
    prefix: &str,
) -> Result<Row, String> {
    let https: Vec<Http> = (0..clients)
        .map(|i| Http::new(&urls[i % urls.len()]))
        .collect::<Result<_, _>>()?;
    let setup = &https[0];
    let tag = format!("{prefix}-{}-c{clients}", scenario.name());
    let group = vec![(format!("{tag}-class"), format!("Class {tag}"))];

    // Setup (untimed): users, projects, the per-worker work.
    let works: Vec<Work> = match scenario {
        Scenario::HotEdit => {
            let token = setup_login(setup, &format!("{tag}-owner"), &group).await?;
            let id = setup_project(setup, &token, &tag, project_body("init", 0)).await?;
            vec![Work::Edit { token, id }; clients]
        }
        Scenario::SpreadEdit => {
            let mut works = Vec::new();
            for i in 0..clients {
                let token = setup_login(setup, &format!("{tag}-u{i}"), &group).await?;
                let id = setup_project(
                    setup,
                    &token,
                    &format!("{tag}-{i}"),
                    project_body("init", 0),
                )
                .await?;
                works.push(Work::Edit { token, id });
            }
            works
        }
        Scenario::Read => {
            let token = setup_login(setup, &format!("{tag}-owner"), &group).await?;
            let id = setup_project(setup, &token, &tag, project_body("read", 20_000)).await?;
            vec![Work::Read { token, id }; clients]
        }
        Scenario::AssetDedup => {
            let token = setup_login(setup, &format!("{tag}-owner"), &group).await?;
            let same = Arc::new(svg(&format!("{tag} shared")));
            vec![Work::Asset { token, same }; clients]
        }
        Scenario::Backpack => {
            let mut works = Vec::new();
            for i in 0..clients {
                let token = setup_login(setup, &format!("{tag}-u{i}"), &group).await?;
                works.push(Work::Backpack { token });
            }
            works
        }
        Scenario::LoginStorm => Vec::new(),
    };

    let limits = Arc::new(Limits {
        deadline: tokio::time::Instant::now() + Duration::from_secs(args.duration_secs),
        max_ops: args.max_ops,
        started: AtomicU64::new(0),
    });
    let start = Instant::now();
    let mut stats = Stats::default();
    if scenario == Scenario::LoginStorm {
        stats = login_storm(&https, &tag, limits.clone()).await;
    } else {
        let handles: Vec<_> = https
            .into_iter()
            .zip(works)
            .enumerate()
            .map(|(i, (http, work))| tokio::spawn(worker_loop(http, work, i, limits.clone())))
            .collect();
        for h in handles {
            match h.await {
                Ok(s) => stats.merge(s),
                Err(e) => return Err(format!("worker panicked: {e}")),
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    stats.latencies.sort_unstable();
    let ops = stats.latencies.len() as u64;
    Ok(Row {
        label: label.to_owned(),
        scenario: scenario.name(),
        clients,
        ops,
        ops_per_sec: ops as f64 / seconds,
        conflicts_per_sec: stats.conflicts as f64 / seconds,
        p50_ms: Some(percentile_ms(&stats.latencies, 0.50)),
        p99_ms: Some(percentile_ms(&stats.latencies, 0.99)),
        errors_5xx: stats.errors_5xx,
        errors_other: stats.errors_other,
        seconds,
    })
}

fn print_header() {
    println!(
        "| label | scenario | clients | ops | ops/s | conflicts/s | p50 ms | p99 ms | 5xx | other errors | seconds |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

fn print_row(r: &Row) {
    println!(
        "| {} | {} | {} | {} | {:.1} | {:.1} | {} | {} | {} | {} | {:.2} |",
        r.label,
        r.scenario,
        r.clients,
        r.ops,
        r.ops_per_sec,
        r.conflicts_per_sec,
        ms(r.p50_ms),
        ms(r.p99_ms),
        r.errors_5xx,
        r.errors_other,
        r.seconds
    );
}

fn row_json(r: &Row) -> Value {
    json!({
        "label": r.label,
        "scenario": r.scenario,
        "clients": r.clients,
        "ops": r.ops,
        "ops_per_sec": r.ops_per_sec,
        "conflicts_per_sec": r.conflicts_per_sec,
        "p50_ms": r.p50_ms,
        "p99_ms": r.p99_ms,
        "errors_5xx": r.errors_5xx,
        "errors_other": r.errors_other,
        "seconds": r.seconds,
    })
}

/// Each PostgreSQL cubby row of an edit scenario as a share of pgbench's
/// row with the same scenario and clients.
fn print_ratios(rows: &[Row]) {
    let limits: Vec<&Row> = rows.iter().filter(|r| r.label == "pgbench").collect();
    if limits.is_empty() {
        return;
    }
    println!();
    println!("| label | scenario | clients | cubby ops/s | pgbench ops/s | cubby / pgbench |");
    println!("|---|---|---:|---:|---:|---:|");
    for r in rows.iter().filter(|r| r.label.starts_with("postgres")) {
        let Some(limit) = limits
            .iter()
            .find(|l| l.scenario == r.scenario && l.clients == r.clients)
        else {
            continue;
        };
        let ratio = if limit.ops_per_sec > 0.0 {
            format!("{:.0}%", 100.0 * r.ops_per_sec / limit.ops_per_sec)
        } else {
            "-".into()
        };
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {ratio} |",
            r.label, r.scenario, r.clients, r.ops_per_sec, limit.ops_per_sec
        );
    }
}

/// What the command line asked for, checked.
struct Plan {
    urls: Vec<String>,
    scenarios: Vec<Scenario>,
}

fn plan(args: &Args) -> Result<Plan, String> {
    let urls = args
        .urls
        .iter()
        .map(|u| check_url(u, &["http", "https"]))
        .collect::<Result<Vec<_>, _>>()?;
    if args.pgbench || args.spawn.iter().any(|t| t.backend == Backend::Postgres) {
        check_url(&args.pg_url, &["postgres", "postgresql"])?;
    }
    if args.spawn.iter().any(|t| t.backend == Backend::MariaDb) {
        check_url(&args.mysql_url, &["mysql", "mariadb"])?;
    }
    if urls.is_empty() && args.spawn.is_empty() && !args.pgbench && args.from_json.is_empty() {
        return Err(
            "nothing to measure: give --spawn TARGET, --url URL, --pgbench or --from-json".into(),
        );
    }
    if args.clients.is_empty() || args.clients.contains(&0) {
        return Err("--clients must be one or more positive numbers".into());
    }
    Ok(Plan {
        urls,
        scenarios: Scenario::expand(args.scenario),
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let plan = match plan(&args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("cubby-bench: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.spawn.is_empty() {
        match spawn::find_cubby(args.cubby_bin.as_ref()) {
            // Read by the harness that starts the servers; set before any
            // thread exists.
            Ok(bin) => std::env::set_var("CUBBY_TEST_BIN", bin),
            Err(e) => {
                eprintln!("cubby-bench: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cubby-bench: tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async_main(args, plan))
}

/// Runs every scenario at every client count against `urls`.
async fn run_scenarios(
    args: &Args,
    plan: &Plan,
    urls: &[String],
    label: &str,
    rows: &mut Vec<Row>,
) -> bool {
    // A unique prefix per run, so usernames, groups and titles never collide.
    let prefix = format!("bench{}", &random_hex()[..10]);
    let mut ok = true;
    for &scenario in &plan.scenarios {
        for &clients in &args.clients {
            match run(scenario, clients, urls, label, args, &prefix).await {
                Ok(row) => {
                    print_row(&row);
                    rows.push(row);
                }
                Err(e) => {
                    eprintln!(
                        "cubby-bench: {label} {} with {clients} clients: setup failed: {e}",
                        scenario.name()
                    );
                    ok = false;
                }
            }
        }
    }
    ok
}

async fn async_main(args: Args, plan: Plan) -> ExitCode {
    let mut rows = Vec::new();
    let mut rss = Vec::new();
    let mut ok = true;
    print_header();
    for path in &args.from_json {
        match read_rows(path) {
            Ok(earlier) => {
                for row in earlier {
                    print_row(&row);
                    rows.push(row);
                }
            }
            Err(e) => {
                eprintln!("cubby-bench: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if !plan.urls.is_empty() {
        ok &= run_scenarios(&args, &plan, &plan.urls, &args.label, &mut rows).await;
    }
    for target in &args.spawn {
        let label = target.label();
        let fleet = match spawn::Fleet::start(target, &args.pg_url, &args.mysql_url).await {
            Ok(fleet) => fleet,
            Err(e) => {
                eprintln!("cubby-bench: cannot start {label}: {e}");
                ok = false;
                continue;
            }
        };
        ok &= run_scenarios(&args, &plan, &fleet.urls, &label, &mut rows).await;
        rss.push((label, fleet.peak_rss_mb()));
    }
    if args.pgbench {
        match pgbench::run(
            &args.pg_url,
            &plan.scenarios,
            &args.clients,
            args.duration_secs,
        )
        .await
        {
            Ok(limit_rows) => {
                for row in limit_rows {
                    print_row(&row);
                    rows.push(row);
                }
            }
            Err(e) => {
                eprintln!("cubby-bench: {e}");
                ok = false;
            }
        }
    }
    print_ratios(&rows);
    if !rss.is_empty() {
        println!();
        for (label, mb) in &rss {
            match mb {
                Some(mb) => println!("peak RSS of the largest {label} instance: {mb:.1} MB"),
                None => println!("peak RSS of {label}: not available (no /proc)"),
            }
        }
    }
    if let Err(e) = write_outputs(&args, &rows) {
        eprintln!("cubby-bench: {e}");
        return ExitCode::from(1);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The rows of a file `--json` wrote.
fn read_rows(path: &std::path::Path) -> Result<Vec<Row>, String> {
    let bad = |why: String| format!("{}: {why}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let all: Vec<Value> = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    all.iter()
        .map(|v| row_from_json(v).ok_or_else(|| bad(format!("not a result row: {v}"))))
        .collect()
}

fn row_from_json(v: &Value) -> Option<Row> {
    let name = v["scenario"].as_str()?;
    let scenario = Scenario::expand(ScenarioArg::All)
        .into_iter()
        .find(|s| s.name() == name)?;
    Some(Row {
        label: v["label"].as_str()?.to_owned(),
        scenario: scenario.name(),
        clients: usize::try_from(v["clients"].as_u64()?).ok()?,
        ops: v["ops"].as_u64()?,
        ops_per_sec: v["ops_per_sec"].as_f64()?,
        conflicts_per_sec: v["conflicts_per_sec"].as_f64()?,
        p50_ms: v["p50_ms"].as_f64(),
        p99_ms: v["p99_ms"].as_f64(),
        errors_5xx: v["errors_5xx"].as_u64()?,
        errors_other: v["errors_other"].as_u64()?,
        seconds: v["seconds"].as_f64()?,
    })
}

fn write_outputs(args: &Args, rows: &[Row]) -> Result<(), String> {
    if let Some(path) = &args.json {
        let all: Vec<Value> = rows.iter().map(row_json).collect();
        let text = serde_json::to_string_pretty(&all).map_err(|e| format!("json: {e}"))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        let seconds = rows.iter().map(|r| r.seconds).fold(0.0, f64::max);
        let title = format!("cubby-bench: successful ops/s, {seconds:.0} s per point");
        chart::write_svg(path, rows, &title)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}
