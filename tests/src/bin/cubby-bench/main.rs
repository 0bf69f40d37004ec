//! `cubby-bench`: a load generator for an ALREADY RUNNING cubby, over real HTTP.
//!
//! Start cubby with the development login enabled (loopback only), then point
//! the benchmark at it:
//!
//! ```sh
//! CUBBY_DEV_LOGIN=true cargo run --release --bin cubby -- serve &
//! cargo run --release -p tests --bin cubby-bench -- \
//!     --url http://127.0.0.1:8080 --scenario all --clients 1,8,32 \
//!     --duration-secs 10 --json bench.json
//! ```
//!
//! Flags:
//!
//! - `--url URL` (repeatable): cubby instances; client `i` talks to URL
//!   `i % n`. Several URLs must share one database (setup logs in and creates
//!   projects on the first URL only). Only loopback hosts (`127.0.0.0/8`,
//!   `localhost`, `::1`) are accepted; anything else exits with code 2.
//! - `--scenario hot-edit|spread-edit|read|asset-dedup|login-storm|backpack|all`
//!   (default `all`; `all` runs `login-storm` last so its logins do not eat
//!   the other scenarios' login budget).
//! - `--clients C` (repeatable or a comma list, e.g. `1,8,64`; default `1,8,32`).
//! - `--duration-secs D` (default 10) and `--max-ops N` (default 100000): hard
//!   bounds per (scenario, clients) run; an operation still in flight at the
//!   deadline is abandoned and not counted.
//! - `--json FILE`: writes every row as a JSON array of objects with the fields
//!   `label, scenario, clients, ops, ops_per_sec, conflicts_per_sec, p50_ms,
//!   p99_ms, errors_5xx, errors_other, seconds`.
//! - `--label TEXT`: copied into every row (e.g. `postgres-1-instance`).
//!
//! Scenarios (each operation is timed from its first attempt to its success;
//! `ops` counts successful operations):
//!
//! - `hot-edit`: one project, all clients as its owner: `GET` the project, `PUT`
//!   it with that `version`; on 409 retry with the problem's `current_version`.
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
//! errors. For `login-storm` beyond a few hundred logins per minute, start the
//! server with `CUBBY_LOGIN_RATE_PER_IP=0 CUBBY_LOGIN_RATE_PER_USER=0`, or the
//! rate limiter's 429s dominate the result.

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

#[derive(Parser, Debug)]
#[command(
    name = "cubby-bench",
    about = "Load benchmark for a running cubby (CUBBY_DEV_LOGIN=true)"
)]
struct Args {
    /// Base URL of a running cubby instance (repeatable; loopback only).
    #[arg(long = "url", required = true)]
    urls: Vec<String>,
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
    /// Free text copied into every result row.
    #[arg(long, default_value = "")]
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
enum Scenario {
    HotEdit,
    SpreadEdit,
    Read,
    AssetDedup,
    LoginStorm,
    Backpack,
}

impl Scenario {
    fn name(self) -> &'static str {
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

/// Checks that `raw` is an http(s) URL on a loopback host; returns it without
/// a trailing slash.
fn check_url(raw: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("invalid --url {raw:?}: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("--url {raw:?}: scheme must be http or https"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("--url {raw:?}: no host"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if !loopback {
        return Err(format!(
            "--url {raw:?}: host {host:?} is not loopback; cubby-bench only drives \
             servers on 127.0.0.0/8, localhost or ::1"
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

/// One edit: GET the project, PUT it with that version, on 409 retry with the
/// problem's `current_version`. True on a 200 PUT.
async fn edit_op(http: &Http, token: &str, id: i64, tag: &str, stats: &mut Stats) -> bool {
    let path = format!("/api/v1/projects/{id}");
    let mut version: Option<i64> = None;
    loop {
        let v = match version {
            Some(v) => v,
            None => {
                let resp = match http
                    .client
                    .get(http.url(&path))
                    .bearer_auth(token)
                    .send()
                    .await
                {
                    Ok(r) => r,
                    Err(_) => {
                        stats.errors_other += 1;
                        return false;
                    }
                };
                let status = resp.status();
                if status != StatusCode::OK {
                    stats.status_error(status);
                    return false;
                }
                match resp
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|j| j["version"].as_i64())
                {
                    Some(v) => v,
                    None => {
                        stats.errors_other += 1;
                        return false;
                    }
                }
            }
        };
        let resp = match http
            .client
            .put(http.url(&path))
            .bearer_auth(token)
            .json(&json!({"version": v, "body": project_body(tag, 0)}))
            .send()
            .await
        {
            Ok(r) => r,
            Err(_) => {
                stats.errors_other += 1;
                return false;
            }
        };
        let status = resp.status();
        if status == StatusCode::OK {
            // Drain the body so the connection goes back to the pool.
            let _ = resp.bytes().await;
            return true;
        }
        if status == StatusCode::CONFLICT {
            stats.conflicts += 1;
            version = resp
                .json::<Value>()
                .await
                .ok()
                .and_then(|j| j["current_version"].as_i64());
            continue;
        }
        stats.status_error(status);
        return false;
    }
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
struct Row {
    scenario: &'static str,
    clients: usize,
    ops: u64,
    ops_per_sec: f64,
    conflicts_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors_5xx: u64,
    errors_other: u64,
    seconds: f64,
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
        scenario: scenario.name(),
        clients,
        ops,
        ops_per_sec: ops as f64 / seconds,
        conflicts_per_sec: stats.conflicts as f64 / seconds,
        p50_ms: percentile_ms(&stats.latencies, 0.50),
        p99_ms: percentile_ms(&stats.latencies, 0.99),
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

fn print_row(label: &str, r: &Row) {
    println!(
        "| {label} | {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.2} | {} | {} | {:.2} |",
        r.scenario,
        r.clients,
        r.ops,
        r.ops_per_sec,
        r.conflicts_per_sec,
        r.p50_ms,
        r.p99_ms,
        r.errors_5xx,
        r.errors_other,
        r.seconds
    );
}

fn row_json(label: &str, r: &Row) -> Value {
    json!({
        "label": label,
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

fn main() -> ExitCode {
    let args = Args::parse();
    let mut urls = Vec::new();
    for raw in &args.urls {
        match check_url(raw) {
            Ok(u) => urls.push(u),
            Err(e) => {
                eprintln!("cubby-bench: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if args.clients.is_empty() || args.clients.contains(&0) {
        eprintln!("cubby-bench: --clients must be one or more positive numbers");
        return ExitCode::from(2);
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
    runtime.block_on(async_main(args, urls))
}

async fn async_main(args: Args, urls: Vec<String>) -> ExitCode {
    // A unique prefix per run, so usernames, groups and titles never collide.
    let prefix = format!("bench{}", &random_hex()[..10]);
    let mut rows = Vec::new();
    let mut failed = false;
    print_header();
    for scenario in Scenario::expand(args.scenario) {
        for &clients in &args.clients {
            match run(scenario, clients, &urls, &args, &prefix).await {
                Ok(row) => {
                    print_row(&args.label, &row);
                    rows.push(row_json(&args.label, &row));
                }
                Err(e) => {
                    eprintln!(
                        "cubby-bench: {} with {clients} clients: setup failed: {e}",
                        scenario.name()
                    );
                    failed = true;
                }
            }
        }
    }
    if let Some(path) = &args.json {
        let text = match serde_json::to_string_pretty(&Value::Array(rows)) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("cubby-bench: json: {e}");
                return ExitCode::from(1);
            }
        };
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("cubby-bench: writing {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
