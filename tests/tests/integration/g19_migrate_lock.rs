//! G19: N processes started together on one fresh database all come up; the
//! migrations run once, under a database-wide lock (`serve` and
//! `cubby migrate up` alike).

use std::process::Output;
use std::sync::Barrier;

use reqwest::StatusCode;
use tests::server::cubby_command;
use tests::{Client, ServerOptions, TestDb, TestServer};

use crate::on_backends;

on_backends!(
    four_servers_on_a_fresh_database_all_come_up,
    four_migrate_ups_on_a_fresh_database_all_succeed,
);

const N: usize = 4;

/// Runs `job` on N threads released together by one barrier; returns the
/// results in thread order.
fn at_once<T: Send>(job: impl Fn() -> T + Sync) -> Vec<T> {
    let barrier = Barrier::new(N);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..N)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    job()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("spawning thread panicked"))
            .collect()
    })
}

/// Every migration `cubby migrate status` lists is applied and recorded
/// exactly once in `seaql_migrations`, which holds nothing else.
async fn assert_each_migration_recorded_once(db: &TestDb) {
    let out = cubby_command(db)
        .args(["migrate", "status"])
        .output()
        .expect("run cubby migrate status");
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let names: Vec<&str> = stdout
        .lines()
        .map(|l| {
            l.strip_prefix("applied ")
                .unwrap_or_else(|| panic!("not applied: {l:?} in\n{stdout}"))
        })
        .collect();
    assert!(!names.is_empty(), "no migrations listed");
    for name in &names {
        assert_eq!(
            db.count("seaql_migrations", &format!("version = '{name}'"))
                .await,
            1,
            "{name}"
        );
    }
    assert_eq!(
        db.count("seaql_migrations", "").await,
        i64::try_from(names.len()).unwrap()
    );
}

fn describe(out: &Output) -> String {
    format!(
        "{:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn four_servers_on_a_fresh_database_all_come_up(db: TestDb) {
    let opts = ServerOptions::default();
    let started = tokio::task::block_in_place(|| at_once(|| TestServer::try_spawn(&db, &opts)));
    let mut servers = Vec::new();
    for (i, server) in started.into_iter().enumerate() {
        match server {
            Ok(server) => servers.push(server),
            Err(msg) => panic!("server {i} of {N} did not come up: {msg}"),
        }
    }
    for server in &servers {
        let (status, body) = Client::new(&server.base_url).get("/readyz", None).await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", server.base_url);
        assert_eq!(body["status"], "ready");
    }
    assert_each_migration_recorded_once(&db).await;
}

async fn four_migrate_ups_on_a_fresh_database_all_succeed(db: TestDb) {
    let outputs = tokio::task::block_in_place(|| {
        at_once(|| {
            cubby_command(&db)
                .args(["migrate", "up"])
                .output()
                .expect("run cubby migrate up")
        })
    });
    for (i, out) in outputs.iter().enumerate() {
        assert!(
            out.status.success(),
            "migrate up {i} of {N} failed: {}",
            describe(out)
        );
    }
    assert_each_migration_recorded_once(&db).await;
}
