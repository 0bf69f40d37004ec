//! The seven scenarios: what each worker does per operation, the worker and
//! login-storm loops, and one (scenario, clients) run from setup to its row.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::class_start;
use crate::report::Row;
use crate::requests::{
    b64, edit_op, md5_hex, project_body, random_hex, setup_login, setup_project, simple_op, svg,
    Http, TINY_JPEG,
};
use crate::stats::{percentile_ms, Stats};
use crate::{Args, ScenarioArg};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scenario {
    HotEdit,
    SpreadEdit,
    Read,
    AssetDedup,
    LoginStorm,
    Backpack,
    ClassStart,
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
            Scenario::ClassStart => "class-start",
        }
    }

    pub(crate) fn expand(arg: ScenarioArg) -> Vec<Scenario> {
        match arg {
            ScenarioArg::HotEdit => vec![Scenario::HotEdit],
            ScenarioArg::SpreadEdit => vec![Scenario::SpreadEdit],
            ScenarioArg::Read => vec![Scenario::Read],
            ScenarioArg::AssetDedup => vec![Scenario::AssetDedup],
            ScenarioArg::LoginStorm => vec![Scenario::LoginStorm],
            ScenarioArg::Backpack => vec![Scenario::Backpack],
            ScenarioArg::ClassStart => vec![Scenario::ClassStart],
            // Its own runner (`editor_load`), not a row of this table.
            ScenarioArg::EditorLoad => Vec::new(),
            ScenarioArg::All => vec![
                Scenario::HotEdit,
                Scenario::SpreadEdit,
                Scenario::Read,
                Scenario::AssetDedup,
                Scenario::Backpack,
                Scenario::ClassStart,
                Scenario::LoginStorm,
            ],
        }
    }
}

/// The bounds shared by every worker of one run.
pub(crate) struct Limits {
    pub(crate) deadline: tokio::time::Instant,
    max_ops: u64,
    started: AtomicU64,
}

impl Limits {
    /// Reserves one operation; false once the deadline or budget is reached.
    pub(crate) fn take(&self) -> bool {
        if tokio::time::Instant::now() >= self.deadline {
            return false;
        }
        self.started.fetch_add(1, Ordering::Relaxed) < self.max_ops
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

/// Sets up and runs one (scenario, clients) combination.
pub(crate) async fn run(
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
    let class = match scenario {
        Scenario::ClassStart => Some(Arc::new(class_start::setup(setup, &tag, clients).await?)),
        _ => None,
    };
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
        Scenario::LoginStorm | Scenario::ClassStart => Vec::new(),
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
    } else if let Some(class) = class {
        stats = class_start::run(&https, class, limits.clone()).await;
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
