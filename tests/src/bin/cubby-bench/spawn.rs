//! `--spawn TARGET`: cubby processes the benchmark starts itself, on a fresh
//! database, so that one command measures SQLite, PostgreSQL with one and
//! with three instances, and so on, with the same settings every time.

use std::path::PathBuf;
use std::str::FromStr;

use tests::{Backend, TestDb};
use tests::{ServerOptions, TestServer};

/// What `--spawn` names: a backend and how many cubby processes share it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub backend: Backend,
    pub instances: usize,
}

impl Target {
    /// The label of this target's result rows, e.g. `postgres-3`.
    pub fn label(&self) -> String {
        let name = match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MariaDb => "mariadb",
        };
        format!("{name}-{}", self.instances)
    }
}

impl FromStr for Target {
    type Err = String;

    /// `sqlite`, `postgres`, `mariadb`, optionally with `:N` instances.
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, count) = match s.split_once(':') {
            Some((name, count)) => (name, count),
            None => (s, "1"),
        };
        let backend = match name {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            "mariadb" => Backend::MariaDb,
            other => {
                return Err(format!(
                "unknown target {other:?} (expected sqlite, postgres or mariadb, e.g. postgres:3)"
            ))
            }
        };
        let instances: usize = count
            .parse()
            .ok()
            .filter(|n| (1..=8).contains(n))
            .ok_or_else(|| format!("instances in {s:?} must be 1 to 8"))?;
        Ok(Target { backend, instances })
    }
}

/// Where the benchmark finds the `cubby` binary it starts: `--cubby-bin`, or
/// `cubby` (then `cubby-under-test`) beside its own executable, which is
/// where `cargo build --release --bins` puts them.
pub fn find_cubby(explicit: Option<&PathBuf>) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let dir = exe.parent().ok_or("own path has no directory")?;
    for name in ["cubby", "cubby-under-test"] {
        let candidate = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "no cubby binary beside {} (run `cargo build --release --bins` first, or pass --cubby-bin)",
        exe.display()
    ))
}

/// Running cubby processes on one fresh database; stopped (and the database
/// dropped) when this is dropped.
pub struct Fleet {
    pub urls: Vec<String>,
    servers: Vec<TestServer>,
    // Declared after the servers: they stop before their database goes.
    _db: TestDb,
}

impl Fleet {
    /// Creates the database and starts the instances, with the development
    /// login on (loopback only) and the login rate limits off, so that
    /// `login-storm` measures the login transaction, not the limiter.
    pub async fn start(target: &Target, pg_url: &str, mysql_url: &str) -> Result<Fleet, String> {
        let db = match target.backend {
            Backend::Sqlite => TestDb::create(Backend::Sqlite)
                .await
                .ok_or("cannot create a SQLite database")?,
            Backend::Postgres => TestDb::create_at(Backend::Postgres, pg_url).await,
            Backend::MariaDb => TestDb::create_at(Backend::MariaDb, mysql_url).await,
        };
        let opts = ServerOptions::default()
            .with("CUBBY_LOGIN_RATE_PER_IP", 0)
            .with("CUBBY_LOGIN_RATE_PER_USER", 0);
        let mut servers = Vec::new();
        for _ in 0..target.instances {
            // The first start migrates; the others find the schema in place.
            let server = tokio::task::block_in_place(|| TestServer::try_spawn(&db, &opts))?;
            servers.push(server);
        }
        Ok(Fleet {
            urls: servers.iter().map(|s| s.base_url.clone()).collect(),
            servers,
            _db: db,
        })
    }

    /// The largest peak resident set (VmHWM) of the instances, in MB, as the
    /// kernel counts it; `None` where /proc is not there to ask.
    pub fn peak_rss_mb(&self) -> Option<f64> {
        self.servers
            .iter()
            .filter_map(|s| peak_rss_kb(s.pid()))
            .max()
            .map(|kb| kb as f64 / 1024.0)
    }
}

fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
