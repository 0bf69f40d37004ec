//! `cubby-bench`: a load generator for cubby, over real HTTP, with
//! PostgreSQL's own limit beside it.
//!
//! One command measures everything docs/PERFORMANCE.md reports: it starts cubby
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
//! - `--scenario hot-edit|spread-edit|read|asset-dedup|login-storm|backpack|class-start|editor-load|all`
//!   (default `all`; `all` runs `login-storm` last and not `editor-load`).
//! - `--editor LABEL=DIR` (repeatable), `--editor-bin LABEL=PATH`,
//!   `--editor-rounds N` (default 3): for `editor-load`, which starts its
//!   own SQLite cubby per label serving that editor directory and prints a
//!   table of its own (see `editor_load.rs`): bytes and server CPU per cold
//!   load of the editor, and the 304s of a revisit.
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
//! - `class-start`: rounds in which a teacher makes a fresh assignment from a
//!   starter with three costumes and then C students of the class at once
//!   each `start` it from two tabs together (exactly one 201 and one
//!   project, else an error), `GET /projects/{id}` and its three costumes,
//!   and save it with `PUT /projects/{id}?version=`; one op = one student's
//!   whole sequence (see `class_start.rs`).
//!
//! Errors: `errors_5xx` counts 5xx answers; `errors_other` counts every other
//! non-success status (including 429 from the login rate limit) and transport
//! errors. Against a server of your own, start it with
//! `CUBBY_LOGIN_RATE_PER_IP=0 CUBBY_LOGIN_RATE_PER_USER=0` for `login-storm`,
//! or the rate limiter's 429s dominate the result (`--spawn` does this).
//!
//! Source layout: `main.rs` (flags, their checks, the order of runs),
//! `scenarios.rs` (the scenarios' setup and request loops; `class_start.rs`
//! for `class-start`), `requests.rs`
//! (the HTTP client, each request, the payloads), `stats.rs` (counters and
//! latency percentiles), `report.rs` (rows as table, ratios and JSON),
//! `chart.rs` (the SVG), `spawn.rs` (`--spawn`), `pgbench.rs` (`--pgbench`)
//! and `editor_load.rs` (`--scenario editor-load`).

mod chart;
mod class_start;
mod editor_load;
mod pgbench;
mod report;
mod requests;
mod scenarios;
mod spawn;
mod stats;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use tests::Backend;

use report::{print_header, print_ratios, print_row, read_rows, write_outputs, Row};
use requests::random_hex;
use scenarios::{run, Scenario};

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
    /// For `--scenario editor-load`: an editor directory to serve, as
    /// LABEL=DIR (repeatable; e.g. before=/tmp/plain after=/tmp/precompressed).
    #[arg(long = "editor")]
    editor: Vec<editor_load::EditorTarget>,
    /// For `--scenario editor-load`: LABEL=PATH runs that label's server
    /// with another `cubby` binary (repeatable).
    #[arg(long = "editor-bin")]
    editor_bin: Vec<String>,
    /// For `--scenario editor-load`: rounds of C concurrent cold loads per
    /// client count.
    #[arg(long, default_value_t = 3)]
    editor_rounds: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ScenarioArg {
    HotEdit,
    SpreadEdit,
    Read,
    AssetDedup,
    LoginStorm,
    Backpack,
    ClassStart,
    /// Cold loads of the editor (needs --editor LABEL=DIR; not part of `all`).
    EditorLoad,
    All,
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
    if args.scenario == ScenarioArg::EditorLoad && args.editor.is_empty() {
        return Err("--scenario editor-load needs --editor LABEL=DIR".into());
    }
    if urls.is_empty()
        && args.spawn.is_empty()
        && args.editor.is_empty()
        && !args.pgbench
        && args.from_json.is_empty()
    {
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
    if !args.spawn.is_empty() || !args.editor.is_empty() {
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
    if args.scenario == ScenarioArg::EditorLoad {
        return if editor_load::run_all(&args).await {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
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
