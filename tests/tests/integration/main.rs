//! cubby's black-box integration tests: one binary, real `cubby` processes,
//! real databases. `on_backends!` turns each scenario `async fn(TestDb)` into
//! three tests (`sqlite`, `postgres`, `mariadb`), and each scenario
//! `async fn(TestDb, usize)` listed under `processes [1, 2]:` into three per
//! process count; the PostgreSQL and MariaDB tests skip (or, under
//! `CI=true`, fail) when their database URL is not set.

#![allow(clippy::unwrap_used)]

mod assets;
mod assignments;
mod assignments_export;
mod assignments_pages;
mod assignments_races;
mod blob_s3;
mod browser;
mod classes;
mod cli;
mod db_restart;
mod g13_retry;
mod g19_migrate_lock;
mod g4_login_race;
mod library;
mod login;
mod migrations;
mod oidc_login;
mod oidc_provider;
mod ops;
mod pages;
mod precompressed;
mod projects;
mod projects_files;
mod projects_races;
mod s10_collation;
mod s4_s9_oidc;
mod s6_metrics;
mod s8_storage_quota;
mod sb3;
mod scratch_protocol;
mod security;
mod sqlite_writer_queue;
mod thumbnails;
mod trash;

/// For each scenario `name(db: TestDb)`, a module `name` with one test per
/// backend: `name::sqlite`, `name::postgres`, `name::mariadb`.
///
/// With a process-count axis, `on_backends!(processes [1, 2]: name, ...)`,
/// each scenario is `name(db: TestDb, processes: usize)` and gets one module
/// per count, each with the three backend tests:
/// `name::one_process::sqlite`, ..., `name::two_processes::mariadb`.
/// Counts 1, 2 and 3 are known (`one_process`, `two_processes`,
/// `three_processes`).
#[macro_export]
macro_rules! on_backends {
    // `$counts` is the whole `[1, 2]`: it is repeated once per name.
    (processes $counts:tt: $($name:ident),* $(,)?) => {$(
        $crate::on_backends!(@counts $name $counts);
    )*};
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            $crate::on_backends!(@backends db => super::$name(db));
        }
    )*};
    (@counts $name:ident [$($count:tt),+ $(,)?]) => {
        mod $name {
            $($crate::on_backends!(@count $name $count);)+
        }
    };
    (@count $name:ident 1) => {
        mod one_process {
            $crate::on_backends!(@backends db => super::super::$name(db, 1));
        }
    };
    (@count $name:ident 2) => {
        mod two_processes {
            $crate::on_backends!(@backends db => super::super::$name(db, 2));
        }
    };
    (@count $name:ident 3) => {
        mod three_processes {
            $crate::on_backends!(@backends db => super::super::$name(db, 3));
        }
    };
    (@backends $db:ident => $scenario:expr) => {
        use tests::{Backend, TestDb};

        async fn run(backend: Backend) {
            if let Some($db) = TestDb::create(backend).await {
                $scenario.await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn sqlite() {
            run(Backend::Sqlite).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn postgres() {
            run(Backend::Postgres).await
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn mariadb() {
            run(Backend::MariaDb).await
        }
    };
}
