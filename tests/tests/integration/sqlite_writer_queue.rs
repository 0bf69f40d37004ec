//! SQLite's in-process writer queue (see `service::tx`): every attempt of a
//! write transaction waits for its turn once, and that wait is counted in
//! the histogram `cubby_tx_queue_wait_seconds{op}`; reads take no turn.
//! A save whose version is already stale takes no turn either (it is
//! refused from a read). With one process nothing waits in SQLite's busy handler, so no write is
//! retried; with two on one file, each process counts only its own writes,
//! and a retry (the busy handler between processes) is a second turn.
//! PostgreSQL and MariaDB have no queue: the histogram stays empty.

use reqwest::StatusCode;
use serde_json::json;
use tests::projects::{tally, unexpected, User};
use tests::{metric_value, race, start_processes, Backend, ServerOptions, TestDb};

use crate::on_backends;

on_backends!(
    processes [1, 2]:
    each_write_attempt_waits_its_turn_once_and_reads_none,
);

/// Projects each process's user creates at once, and saves per project.
const PROJECTS: usize = 8;
const SAVES: i64 = 3;

async fn each_write_attempt_waits_its_turn_once_and_reads_none(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let users: Vec<User> = {
        let mut users = Vec::new();
        for (p, api) in clients.iter().enumerate() {
            users.push(User::login(api, &format!("writer{p}"), "student", &[]).await);
        }
        users
    };

    // Every process's user creates PROJECTS at once, all processes together.
    let created = race(PROJECTS * processes, |i| {
        let user = users[i % processes].clone();
        async move {
            user.create(&format!("Queue {i}"), &json!({"targets": []}))
                .await
        }
    })
    .await;
    assert_eq!(
        tally(&created),
        [(201, PROJECTS * processes)].into(),
        "{:?}",
        unexpected(&created, &[201])
    );

    // Then each project is saved SAVES times in a row, every project at
    // once, with a read of it before every save.
    let saved = race(PROJECTS * processes, |i| {
        let user = users[i % processes].clone();
        let id = created[i].id();
        async move {
            let mut statuses = Vec::new();
            for version in 1..=SAVES {
                statuses.push(user.project(id).await.status);
                statuses.push(user.save(id, version, &json!({"v": version})).await.status);
            }
            statuses
        }
    })
    .await;
    for statuses in &saved {
        assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{saved:?}");
    }

    let writes = [
        ("project.create", PROJECTS as f64),
        ("project.save", (PROJECTS as i64 * SAVES) as f64),
    ];
    for (p, api) in clients.iter().enumerate() {
        let text = api.metrics().await;
        for (op, made) in writes {
            let op_label = format!("op=\"{op}\"");
            let count = metric_value(&text, "cubby_tx_queue_wait_seconds_count", &[&op_label]);
            let retries = metric_value(&text, "cubby_tx_retries_total", &[&op_label]);
            assert_eq!(
                metric_value(&text, "cubby_tx_giveups_total", &[&op_label]),
                0.0,
                "process {p}, {op}:\n{text}"
            );
            if db.backend != Backend::Sqlite {
                assert_eq!(count, 0.0, "no queue on {:?}:\n{text}", db.backend);
                continue;
            }
            if processes == 1 {
                // Nobody else takes SQLite's lock: no busy wait, no retry.
                assert_eq!(retries, 0.0, "{op}:\n{text}");
            }
            // One turn per attempt: the writes, plus one per retry.
            assert_eq!(count, made + retries, "process {p}, {op}:\n{text}");
            // A histogram (with buckets), not a summary.
            let inf = metric_value(
                &text,
                "cubby_tx_queue_wait_seconds_bucket",
                &[&op_label, "le=\"+Inf\""],
            );
            assert_eq!(inf, count, "process {p}, {op}:\n{text}");
        }
        // Reads take no turn: a burst of them leaves every count as it was.
        let before = metric_value(&text, "cubby_tx_queue_wait_seconds_count", &[]);
        let user = &users[p];
        let reads = race(16, |i| {
            let user = user.clone();
            let id = created[p + processes * (i % PROJECTS)].id();
            async move {
                if i % 2 == 0 {
                    user.project(id).await.status
                } else {
                    user.body(id).await.status
                }
            }
        })
        .await;
        assert!(reads.iter().all(|s| *s == StatusCode::OK), "{reads:?}");
        let after = metric_value(
            &api.metrics().await,
            "cubby_tx_queue_wait_seconds_count",
            &[],
        );
        assert_eq!(after, before, "process {p}");

        // Stale saves take no turn either: they are refused (409, with the
        // current version) from a read, so on a hot project they do not
        // queue behind the winner. On the other backends there is no queue.
        let id = created[p].id();
        let stale = race(8, |_| {
            let user = user.clone();
            async move { user.save(id, 1, &json!({"stale": true})).await }
        })
        .await;
        for reply in &stale {
            assert_eq!(reply.status, StatusCode::CONFLICT, "{stale:?}");
            assert_eq!(
                reply.json()["current_version"],
                json!(1 + SAVES),
                "{stale:?}"
            );
        }
        let after_stale = metric_value(
            &api.metrics().await,
            "cubby_tx_queue_wait_seconds_count",
            &[],
        );
        assert_eq!(after_stale, before, "process {p}: stale saves took turns");
    }
}
