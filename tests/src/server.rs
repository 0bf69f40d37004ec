//! The real `cubby` binary as a child process, one per [`TestServer`], and
//! what every child process of the harness shares:
//! [`spawn_and_wait_for_url`] (start it, wait for its `… listening on
//! http://…` line), [`print_log_tail_if_panicking`] (its log when a test
//! fails) and [`free_loopback_port`].

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::client::Client;
use crate::db::TestDb;

/// Extra settings for one server process.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub dev_login: bool,
    /// Extra `CUBBY_*` environment variables.
    pub env: Vec<(String, String)>,
    /// Extra command-line flags, after `serve`.
    pub args: Vec<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            dev_login: true,
            env: Vec::new(),
            args: Vec::new(),
        }
    }
}

impl ServerOptions {
    pub fn with(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((key.to_owned(), value.to_string()));
        self
    }
}

pub struct TestServer {
    child: Child,
    pub base_url: String,
    pub log_path: PathBuf,
}

static SERVER_SEQ: AtomicUsize = AtomicUsize::new(0);

/// The path of the binary under test: `cubby-under-test`, which cargo builds
/// beside the integration-test binary (`target/<profile>/deps/..`) because
/// this package has integration tests.
pub fn cubby_bin() -> PathBuf {
    if let Ok(path) = std::env::var("CUBBY_TEST_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile> directory");
    profile_dir.join(format!("cubby-under-test{}", std::env::consts::EXE_SUFFIX))
}

/// A `cubby` command with the test's database and data dir and no `CUBBY_*`
/// settings inherited from the environment.
pub fn cubby_command(db: &TestDb) -> Command {
    let mut cmd = Command::new(cubby_bin());
    for (key, _) in std::env::vars() {
        if key.starts_with("CUBBY_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("CUBBY_DATABASE_URL", &db.url)
        .env("CUBBY_DATA_DIR", db.data_dir())
        .env(
            "RUST_LOG",
            std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()),
        );
    cmd
}

impl TestServer {
    /// Starts `cubby serve` on 127.0.0.1:0 and waits for its
    /// `cubby listening on http://…` line.
    pub fn spawn(db: &TestDb, opts: &ServerOptions) -> TestServer {
        Self::try_spawn(db, opts).unwrap_or_else(|msg| panic!("{msg}"))
    }

    /// Like [`spawn`](Self::spawn), but returns the exit message when the
    /// server refuses to start.
    pub fn try_spawn(db: &TestDb, opts: &ServerOptions) -> Result<TestServer, String> {
        let seq = SERVER_SEQ.fetch_add(1, Ordering::Relaxed);
        let log_path = db.scratch().join(format!("server-{seq}.log"));
        let mut cmd = cubby_command(db);
        cmd.env("CUBBY_BIND", "127.0.0.1:0")
            .env("CUBBY_DEV_LOGIN", opts.dev_login.to_string())
            .envs(opts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .arg("serve")
            .args(&opts.args)
            .stdin(Stdio::null());
        let (child, base_url) = spawn_and_wait_for_url(&mut cmd, &log_path, START_TIMEOUT)
            .map_err(|why| format!("cubby {why}"))?;
        Ok(TestServer {
            child,
            base_url,
            log_path,
        })
    }

    /// The server's process id (for reading its memory use).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// SIGKILL: the process dies mid-whatever, as in a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
        print_log_tail_if_panicking(self.log_path.display(), &self.log_path);
    }
}

/// `processes` servers on one database, and a client for each: the setup of
/// every scenario with a process-count axis (`on_backends!(processes [1, 2]: …)`).
pub fn start_processes(
    db: &TestDb,
    processes: usize,
    opts: &ServerOptions,
) -> (Vec<TestServer>, Vec<Client>) {
    let servers: Vec<TestServer> = (0..processes)
        .map(|_| TestServer::spawn(db, opts))
        .collect();
    let clients = servers.iter().map(|s| Client::new(&s.base_url)).collect();
    (servers, clients)
}

/// How long a child process may take to say where it listens.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Spawns `cmd` (stdout piped here, stderr into a new file at `log_path`;
/// stdin as the caller set it) and waits up to `timeout` for its first line
/// on stdout, `NAME listening on http://…`. Returns the running child and
/// that URL. Its stdout is drained afterwards, so the child never blocks on a
/// full pipe. Without that line (the child exited, or said something else, or
/// took too long) the child is killed and the error says it `did not start`,
/// with its exit status and its log.
pub fn spawn_and_wait_for_url(
    cmd: &mut Command,
    log_path: &Path,
    timeout: Duration,
) -> Result<(Child, String), String> {
    let log = std::fs::File::create(log_path)
        .map_err(|e| format!("did not start: create {}: {e}", log_path.display()))?;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| format!("did not start: spawn {:?}: {e}", cmd.get_program()))?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return Err("did not start: no stdout".into());
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let _ = reader.read_line(&mut first);
        let _ = tx.send(first);
        // Keep draining so the child never blocks on a full pipe.
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    let line = rx.recv_timeout(timeout).unwrap_or_default();
    let url = line
        .trim()
        .split_once(" listening on ")
        .map(|(_, url)| url)
        .filter(|url| url.starts_with("http://"));
    let Some(url) = url else {
        let _ = child.kill();
        let status = child.wait().ok();
        let log = std::fs::read_to_string(log_path).unwrap_or_default();
        return Err(format!("did not start ({status:?}); its log:\n{log}"));
    };
    Ok((child, url.to_owned()))
}

/// When a test is failing (this thread panics), the last 40 lines of the
/// log at `log_path` to stderr, headed `--- last lines of {what} ---`: for
/// the `Drop` of a child process the test started.
pub fn print_log_tail_if_panicking(what: impl std::fmt::Display, log_path: &Path) {
    if !std::thread::panicking() {
        return;
    }
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    eprintln!("--- last lines of {what} ---");
    for line in tail.into_iter().rev() {
        eprintln!("{line}");
    }
}

/// A port on 127.0.0.1 that was free a moment ago (the OS picked it), for a
/// process whose address must be known before it starts, or for an address
/// nobody listens on.
pub fn free_loopback_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Runs `cubby ARGS` on the test's database; it must succeed. Returns stdout.
pub fn run_cubby(db: &TestDb, args: &[&str]) -> String {
    let out = cubby_command(db).args(args).output().expect("run cubby");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "cubby {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
