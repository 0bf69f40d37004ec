//! One fresh database (and data directory) per test, on each backend.

use std::path::{Path, PathBuf};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use tempfile::TempDir;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MariaDb,
}

impl Backend {
    fn env_var(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("CUBBY_TEST_PG_URL"),
            Backend::MariaDb => Some("CUBBY_TEST_MYSQL_URL"),
        }
    }
}

/// A database of its own plus a data directory, removed when dropped.
pub struct TestDb {
    pub backend: Backend,
    /// What `cubby` gets as `CUBBY_DATABASE_URL`.
    pub url: String,
    /// Server URL with no database, for CREATE/DROP DATABASE.
    admin_url: Option<String>,
    name: String,
    dir: TempDir,
}

/// `scheme://user@host:port` of a server URL, without path or query.
fn server_part(url: &str) -> String {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    let end = url[after_scheme..]
        .find(['/', '?'])
        .map(|i| i + after_scheme)
        .unwrap_or(url.len());
    url[..end].to_owned()
}

/// A new temp directory and a new database name, both unique.
fn fresh_dir_and_name(dir_prefix: &str, name_prefix: &str) -> (TempDir, String) {
    let dir = tempfile::Builder::new()
        .prefix(dir_prefix)
        .tempdir()
        .expect("temp dir");
    let name = format!(
        "{name_prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    (dir, name)
}

impl TestDb {
    /// A fresh database, or `None` (after saying so) when the backend's URL
    /// is not set. Under `CI=true` a missing URL is a test failure.
    pub async fn create(backend: Backend) -> Option<TestDb> {
        let (dir, name) = fresh_dir_and_name("cubby-test-", "cubby_t_");
        let Some(var) = backend.env_var() else {
            let url = format!("sqlite://{}/cubby.db?mode=rwc", dir.path().display());
            return Some(TestDb {
                backend,
                url,
                admin_url: None,
                name,
                dir,
            });
        };
        let Ok(server_url) = std::env::var(var) else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{var} must be set when CI=true: the {backend:?} tests may not be skipped in CI");
            }
            eprintln!("skipped: {backend:?} test (set {var} to run it)");
            return None;
        };
        Some(Self::create_on(backend, &server_url, name, dir).await)
    }

    /// A fresh database on the PostgreSQL or MariaDB server at `server_url`
    /// (used by `cubby-bench`, which is told its server by a flag).
    pub async fn create_at(backend: Backend, server_url: &str) -> TestDb {
        let (dir, name) = fresh_dir_and_name("cubby-bench-", "cubby_b_");
        Self::create_on(backend, server_url, name, dir).await
    }

    async fn create_on(backend: Backend, server_url: &str, name: String, dir: TempDir) -> TestDb {
        let var = backend.env_var().unwrap_or("the server URL");
        let server = server_part(server_url);
        let (admin_url, create) = match backend {
            Backend::Postgres => (
                format!("{server}/postgres"),
                format!("CREATE DATABASE \"{name}\""),
            ),
            _ => (
                server.clone(),
                format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
            ),
        };
        let admin = Database::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach {var}: {e}"));
        admin
            .execute_unprepared(&create)
            .await
            .expect("create test database");
        admin.close().await.ok();
        TestDb {
            backend,
            url: format!("{server}/{name}"),
            admin_url: Some(admin_url),
            name,
            dir,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A scratch directory of this test (server logs live here).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// A direct connection, for assertions and for holding locks against the server.
    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(&self.url)
            .await
            .expect("connect to test database")
    }

    pub fn db_backend(&self) -> DbBackend {
        match self.backend {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
            Backend::MariaDb => DbBackend::MySql,
        }
    }

    /// `SELECT COUNT(*) FROM <table> [WHERE <filter>]`.
    pub async fn count(&self, table: &str, filter: &str) -> i64 {
        let db = self.connect().await;
        let sql = if filter.is_empty() {
            format!("SELECT COUNT(*) AS n FROM {table}")
        } else {
            format!("SELECT COUNT(*) AS n FROM {table} WHERE {filter}")
        };
        let row = db
            .query_one_raw(Statement::from_string(self.db_backend(), sql))
            .await
            .expect("count query")
            .expect("a row");
        let n: i64 = row.try_get("", "n").expect("count value");
        db.close().await.ok();
        n
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(admin_url) = self.admin_url.clone() else {
            return;
        };
        let drop_sql = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS `{}`", self.name),
        };
        // Drop runs outside any async context we could block on: use a
        // thread with a runtime of its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    if let Err(e) = admin.execute_unprepared(&drop_sql).await {
                        eprintln!("warning: could not drop test database: {e}");
                    }
                    admin.close().await.ok();
                }
            });
        })
        .join();
        if done.is_err() {
            eprintln!("warning: dropping the test database panicked");
        }
    }
}
