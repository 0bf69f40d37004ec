//! Database servers a test owns: a [`PrivatePostgres`] or [`PrivateMariaDb`]
//! of its own, in a fresh temp directory, on 127.0.0.1 and a free port, so a
//! test may stop and restart it (the shared servers of `CUBBY_TEST_PG_URL`
//! and `CUBBY_TEST_MYSQL_URL` are never touched). Put a database on one with
//! [`TestDb::create_at`](crate::TestDb::create_at)`(backend, &server.url())`.
//!
//! PostgreSQL comes from `/usr/lib/postgresql/<newest>/bin` (`initdb`,
//! `pg_ctl`); as root it runs as the user `postgres` (`runuser`), since
//! `initdb` and `postgres` refuse root. MariaDB is `mariadb-install-db`,
//! `mariadbd` and `mariadb-admin` from `PATH` or `/usr/sbin`, `/usr/bin`.
//! Both run with durability off (`fsync=off`,
//! `innodb_flush_log_at_trx_commit=0`): a restart is a clean shutdown, so
//! nothing committed is lost by it.
//!
//! [`PrivatePostgres::start`] and [`PrivateMariaDb::start`] answer `Err`
//! (why) only when the binaries are missing; [`or_skip`] turns that into
//! `skipped: …` (a failure under `CI=true`). A server that is installed but
//! does not come up fails the test, with its log.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::db::Backend;
use crate::server::{free_loopback_port, print_log_tail_if_panicking};

/// How long a private server may take to come up (or to go down).
const UP_TIMEOUT: Duration = Duration::from_secs(60);

/// The found value, or `None` after printing `skipped: {what} ({why})`;
/// under `CI=true` a missing requirement fails the test instead.
pub fn or_skip<T>(what: &str, found: Result<T, String>) -> Option<T> {
    match found {
        Ok(found) => Some(found),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{what} must run in CI: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {what} ({why})");
            None
        }
    }
}

/// Runs `cmd` to completion; panics with its output (and `log`, when
/// given) unless it succeeds.
fn run_ok(cmd: &mut Command, log: Option<&Path>) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    if !out.status.success() {
        let log = log
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .unwrap_or_default();
        panic!(
            "{cmd:?} failed ({}):\n{}{}\n{log}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Are we root? (`/proc/self` belongs to the process's effective user.)
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A fresh temp directory named `cubby-{what}-…`.
fn temp_dir(what: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("cubby-{what}-"))
        .tempdir()
        .expect("temp dir")
}

/// The first of `dirs` that holds every one of `names`, or `None`.
fn dir_with(dirs: &[PathBuf], names: &[&str]) -> Option<PathBuf> {
    dirs.iter()
        .find(|d| names.iter().all(|n| d.join(n).is_file()))
        .cloned()
}

/// A PostgreSQL server of the test's own (trust auth, user `postgres`),
/// stopped and removed when dropped.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    /// Run the binaries through `runuser -u postgres` (we are root).
    as_postgres: bool,
}

/// `/usr/lib/postgresql/<version>/bin` of the newest version with `initdb`
/// and `pg_ctl`.
fn postgres_bin() -> Result<PathBuf, String> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .map_err(|e| format!("no {}: {e}", root.display()))?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    let dirs: Vec<PathBuf> = versions.into_iter().rev().map(|(_, bin)| bin).collect();
    dir_with(&dirs, &["initdb", "pg_ctl", "postgres"])
        .ok_or_else(|| format!("no initdb and pg_ctl in {}/*/bin", root.display()))
}

impl PrivatePostgres {
    /// `initdb` into a fresh directory, then start it; returns when it
    /// accepts connections. `Err` only when PostgreSQL is not installed.
    pub fn start() -> Result<Self, String> {
        let bin = postgres_bin()?;
        let as_postgres = is_root();
        if as_postgres && !Path::new("/usr/sbin/runuser").exists() {
            return Err("running as root, and no runuser to run PostgreSQL as postgres".into());
        }
        let dir = temp_dir("postgres");
        if as_postgres {
            run_ok(Command::new("chown").arg("postgres:").arg(dir.path()), None);
        }
        let mut server = PrivatePostgres {
            bin,
            dir,
            port: 0,
            as_postgres,
        };
        let mut initdb = server.command("initdb");
        initdb.arg("-D").arg(server.data()).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run_ok(&mut initdb, None);
        // The port was free a moment ago; another process could take it
        // before the server binds it: try a few.
        for _ in 0..3 {
            server.port = free_loopback_port();
            if server.pg_ctl_start().is_ok() {
                return Ok(server);
            }
        }
        let log = std::fs::read_to_string(server.log_path()).unwrap_or_default();
        panic!("the private PostgreSQL did not start; its log:\n{log}");
    }

    /// `postgres://postgres@127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log (every start appends to it).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// `pg_ctl stop -m fast` (clients are disconnected, open transactions
    /// rolled back, a clean shutdown), then start it again on the same port
    /// and data; returns when it accepts connections.
    pub fn restart(&mut self) {
        self.restart_after(Duration::ZERO);
    }

    /// Like [`restart`](Self::restart), staying down for `down` between the
    /// stop and the start.
    pub fn restart_after(&mut self, down: Duration) {
        self.pg_ctl(&["stop", "-m", "fast", "-w"]);
        std::thread::sleep(down);
        if let Err(why) = self.pg_ctl_start() {
            panic!("the private PostgreSQL did not start again: {why}");
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }

    fn pg_ctl(&self, args: &[&str]) {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(self.data())
            .args(["-t", &UP_TIMEOUT.as_secs().to_string()])
            .args(args);
        run_ok(&mut cmd, Some(&self.log_path()));
    }

    /// `pg_ctl start -w` on `self.port`: loopback only, the socket in the
    /// temp dir, no fsync.
    fn pg_ctl_start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log_path())
            .args(["-t", &UP_TIMEOUT.as_secs().to_string(), "-w", "-o"])
            .arg(options)
            .arg("start")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run pg_ctl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl start: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .output();
        print_log_tail_if_panicking("the private PostgreSQL", &self.log_path());
    }
}

/// A MariaDB server of the test's own (`root` with no password over TCP),
/// killed and removed when dropped.
pub struct PrivateMariaDb {
    bin: MariaDbBin,
    dir: TempDir,
    port: u16,
    child: Option<Child>,
}

struct MariaDbBin {
    install_db: PathBuf,
    mariadbd: PathBuf,
    admin: PathBuf,
}

fn mariadb_bin() -> Result<MariaDbBin, String> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path_var).collect();
    dirs.extend(["/usr/sbin", "/usr/bin"].map(PathBuf::from));
    let find = |name: &str| {
        dir_with(&dirs, &[name])
            .map(|d| d.join(name))
            .ok_or_else(|| format!("no {name} on PATH or in /usr/sbin, /usr/bin"))
    };
    Ok(MariaDbBin {
        install_db: find("mariadb-install-db")?,
        mariadbd: find("mariadbd")?,
        admin: find("mariadb-admin")?,
    })
}

/// Settings for both `mariadb-install-db` and `mariadbd`: small, and no
/// flush at every commit.
const MARIADB_SETTINGS: &[&str] = &[
    "--innodb-buffer-pool-size=64M",
    "--innodb-log-file-size=16M",
    "--innodb-flush-log-at-trx-commit=0",
];

impl PrivateMariaDb {
    /// `mariadb-install-db` into a fresh directory, then start `mariadbd`;
    /// returns when it answers a ping. `Err` only when MariaDB is not
    /// installed.
    pub fn start() -> Result<Self, String> {
        let bin = mariadb_bin()?;
        let dir = temp_dir("mariadb");
        let install_log = dir.path().join("install.log");
        let log = std::fs::File::create(&install_log).expect("install log");
        let err_log = log.try_clone().expect("install log");
        // `normal`: root@localhost, root@127.0.0.1 and root@::1 with no
        // password (instead of unix_socket authentication), so TCP works.
        let mut install = Command::new(&bin.install_db);
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .args([
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .args(MARIADB_SETTINGS)
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err_log));
        run_ok(&mut install, Some(&install_log));
        let mut server = PrivateMariaDb {
            bin,
            dir,
            port: 0,
            child: None,
        };
        for _ in 0..3 {
            server.port = free_loopback_port();
            if server.spawn().is_ok() {
                return Ok(server);
            }
        }
        let log = std::fs::read_to_string(server.log_path()).unwrap_or_default();
        panic!("the private MariaDB did not start; its log:\n{log}");
    }

    /// `mysql://root@127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's error log (every start appends to it).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("error.log")
    }

    /// SIGTERM (a clean shutdown: clients are disconnected, open
    /// transactions rolled back), wait for the process to exit, then start
    /// it again on the same port and data; returns when it answers a ping.
    pub fn restart(&mut self) {
        self.restart_after(Duration::ZERO);
    }

    /// Like [`restart`](Self::restart), staying down for `down` between the
    /// exit and the start.
    pub fn restart_after(&mut self, down: Duration) {
        if let Some(mut child) = self.child.take() {
            run_ok(
                Command::new("kill").args(["-TERM", &child.id().to_string()]),
                None,
            );
            child.wait().expect("wait for mariadbd");
        }
        std::thread::sleep(down);
        if let Err(why) = self.spawn() {
            panic!("the private MariaDB did not start again: {why}");
        }
    }

    /// Starts `mariadbd` on `self.port` and waits until it answers a ping
    /// (or exits, or [`UP_TIMEOUT`] passes: then it is killed).
    fn spawn(&mut self) -> Result<(), String> {
        let d = self.dir.path();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("mariadbd.out"))
            .map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut child = Command::new(&self.bin.mariadbd)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", d.join("sock").display()))
            .arg(format!("--pid-file={}", d.join("mariadbd.pid").display()))
            .arg(format!("--log-error={}", self.log_path().display()))
            .args(["--user=root", "--skip-name-resolve", "--skip-log-bin"])
            .args(MARIADB_SETTINGS)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.bin.mariadbd.display()))?;
        let deadline = Instant::now() + UP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("mariadbd exited ({status})"));
            }
            if self.answers_ping() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("mariadbd did not answer within {UP_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn answers_ping(&self) -> bool {
        Command::new(&self.bin.admin)
            .arg("--no-defaults")
            .args(["-h", "127.0.0.1", "-P", &self.port.to_string()])
            .args(["-u", "root", "--connect-timeout=2", "ping"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        print_log_tail_if_panicking("the private MariaDB", &self.log_path());
    }
}

/// A private server of either kind, for a test that runs on both.
pub enum PrivateServer {
    Postgres(PrivatePostgres),
    MariaDb(PrivateMariaDb),
}

impl PrivateServer {
    /// A private server for `backend` (PostgreSQL or MariaDB); `Err` when
    /// its binaries are missing.
    pub fn start(backend: Backend) -> Result<Self, String> {
        match backend {
            Backend::Postgres => PrivatePostgres::start().map(Self::Postgres),
            Backend::MariaDb => PrivateMariaDb::start().map(Self::MariaDb),
            Backend::Sqlite => Err("SQLite has no server".into()),
        }
    }

    pub fn url(&self) -> String {
        match self {
            Self::Postgres(s) => s.url(),
            Self::MariaDb(s) => s.url(),
        }
    }

    pub fn port(&self) -> u16 {
        match self {
            Self::Postgres(s) => s.port(),
            Self::MariaDb(s) => s.port(),
        }
    }

    pub fn log_path(&self) -> PathBuf {
        match self {
            Self::Postgres(s) => s.log_path(),
            Self::MariaDb(s) => s.log_path(),
        }
    }

    pub fn restart(&mut self) {
        self.restart_after(Duration::ZERO);
    }

    pub fn restart_after(&mut self, down: Duration) {
        match self {
            Self::Postgres(s) => s.restart_after(down),
            Self::MariaDb(s) => s.restart_after(down),
        }
    }
}
