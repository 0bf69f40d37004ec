//! The black-box test harness for cubby.
//!
//! * [`TestDb`]: a fresh database per test — a SQLite file always; a
//!   PostgreSQL or MariaDB database created (and dropped afterwards) on the
//!   server named by `CUBBY_TEST_PG_URL` / `CUBBY_TEST_MYSQL_URL`. Without a
//!   URL those tests print that they skipped; under `CI=true` a missing URL
//!   fails the test.
//! * [`TestServer`]: the real `cubby` binary as a child process on port 0,
//!   with the test's database and data dir. Spawn two on one [`TestDb`] for
//!   multi-instance tests ([`start_processes`]).
//! * [`race`]: N tasks released at once by a barrier.
//! * [`Client`]: small helpers over `reqwest` for logins and JSON calls.
//! * [`private_db`]: a PostgreSQL or MariaDB server of the test's own
//!   (temp dir, free port), which the test may restart under load; the
//!   shared servers are never restarted.
//! * [`s3`]: a real S3-compatible server (`moto_server`) and a bucket per
//!   test, for the object-storage blob store.

pub mod assets;
mod client;
mod db;
pub mod oidc;
pub mod private_db;
pub mod projects;
mod race;
pub mod s3;
pub mod server;

pub use client::{external_group_ids, metric_value, Client, Login};
pub use db::{Backend, TestDb};
pub use race::race;
pub use server::{start_processes, ServerOptions, TestServer};
