//! cubby's black-box integration tests: one binary, real `cubby` processes,
//! real databases. `on_backends!` turns each scenario `async fn(TestDb)` into
//! three tests (`sqlite`, `postgres`, `mariadb`); the latter two skip (or,
//! under `CI=true`, fail) when their database URL is not set.

#![allow(clippy::unwrap_used)]

mod assets;
mod blob_s3;
mod browser;
mod cli;
mod g13_retry;
mod g19_migrate_lock;
mod g4_login_race;
mod login;
mod migrations;
mod oidc_login;
mod oidc_provider;
mod ops;
mod pages;
mod projects;
mod projects_files;
mod projects_races;
mod s10_collation;
mod s6_metrics;
mod scratch_protocol;

/// For each scenario `name(db: TestDb)`, a module `name` with one test per backend.
#[macro_export]
macro_rules! on_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use tests::{Backend, TestDb};

            async fn run(backend: Backend) {
                if let Some(db) = TestDb::create(backend).await {
                    super::$name(db).await;
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
        }
    )*};
}
