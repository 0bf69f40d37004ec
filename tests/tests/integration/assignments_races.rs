//! The classroom under concurrency, with one server process and with two on
//! one database: G16 (N concurrent starts of one assignment by one student
//! make one project, and every answer names it) and G18 (submits fired
//! across the due time each get a definite answer, and `late` agrees with
//! `submitted_at` against `due_at`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tests::projects::{tally, unexpected, Reply, User};
use tests::{race, start_processes, ServerOptions, TestDb};

use crate::assignments::{assign, start, submit, Class};
use crate::on_backends;

on_backends!(
    processes [1, 2]:
    concurrent_starts_make_one_project,
    submits_across_the_due_time_are_on_time_or_late_never_both,
);

// ---- G16 -------------------------------------------------------------------

const STARTERS: usize = 24;

async fn concurrent_starts_make_one_project(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let c = Class::on(&clients[0]).await;
    let starter_body = json!({"targets": [], "starter": 1});
    let starter = c.teacher.create_ok("Starter", &starter_body).await["id"]
        .as_i64()
        .unwrap();
    for (round, request) in [
        json!({"title": "With a starter", "starter_project_id": starter}),
        json!({"title": "Empty"}),
    ]
    .into_iter()
    .enumerate()
    {
        let a = assign(&c.teacher, c.group, request).await["id"]
            .as_i64()
            .unwrap();
        let results: Vec<Reply> = race(STARTERS, |i| {
            let student = c.student.on(&clients[i % processes]);
            async move { start(&student, a).await }
        })
        .await;
        assert_eq!(
            tally(&results),
            BTreeMap::from([(200, STARTERS - 1), (201, 1)]),
            "round {round}: {:?}",
            unexpected(&results, &[200, 201])
        );
        let ids: Vec<Value> = results.iter().map(|r| r.json()["id"].clone()).collect();
        assert!(ids[0].is_i64(), "{ids:?}");
        assert!(ids.iter().all(|id| *id == ids[0]), "round {round}: {ids:?}");
        assert_eq!(
            db.count(
                "assignment_projects",
                &format!("assignment_id = {a} AND student_id = {}", c.student.id)
            )
            .await,
            1
        );
        // One project for the student per round, and no stray body files.
        assert_eq!(
            db.count("projects", &format!("owner_id = {}", c.student.id))
                .await,
            round as i64 + 1
        );
        let mine = c
            .student
            .get(&format!("/api/v1/assignments/{a}"))
            .await
            .expect(StatusCode::OK);
        assert_eq!(mine["my_project_id"], ids[0]);
    }
    assert_eq!(
        db.count("project_versions", "1 = 1").await as usize,
        tests::projects::blob_files(&db).len(),
        "every body file is a kept version's"
    );
}

// ---- G18 -------------------------------------------------------------------

/// `secs` since the epoch as RFC 3339 UTC, the way the server writes whole
/// seconds (`2026-12-01T12:00:00Z`), so the two compare as text.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[test]
fn rfc3339_formats_like_the_server() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_796_126_400), "2026-12-01T12:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
}

/// Submits per wave, and waves fired every `WAVE_GAP` for `WAVES` gaps.
const PER_WAVE: usize = 6;
const WAVES: usize = 16;
const WAVE_GAP: Duration = Duration::from_millis(250);

async fn submits_across_the_due_time_are_on_time_or_late_never_both(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());
    let c = Class::on(&clients[0]).await;
    let students: Vec<User> = vec![c.student.clone(), c.classmate.clone()];
    for late_submissions in [true, false] {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let due = rfc3339(now + 3);
        let a = assign(
            &c.teacher,
            c.group,
            json!({"title": "Due soon", "due_at": due, "late_submissions": late_submissions}),
        )
        .await;
        assert_eq!(a["due_at"], due);
        let a = a["id"].as_i64().unwrap();
        for s in &students {
            start(s, a).await.expect(StatusCode::CREATED);
        }
        // Waves of concurrent submits from before the due time to well after.
        let mut results: Vec<Reply> = Vec::new();
        for _ in 0..WAVES {
            let wave = race(PER_WAVE, |i| {
                let student = students[i % students.len()].on(&clients[i % processes]);
                async move { submit(&student, a, json!({})).await }
            })
            .await;
            results.extend(wave);
            tokio::time::sleep(WAVE_GAP).await;
        }
        let wanted: &[u16] = if late_submissions {
            &[201]
        } else {
            &[201, 409]
        };
        assert!(
            unexpected(&results, wanted).is_empty(),
            "late_submissions {late_submissions}: {:?}",
            unexpected(&results, wanted)
        );
        let (mut on_time, mut late, mut refused) = (0i64, 0i64, 0i64);
        for r in &results {
            if r.status == StatusCode::CONFLICT {
                r.expect_problem(StatusCode::CONFLICT, "past_due");
                refused += 1;
                continue;
            }
            let s = r.json();
            let at = s["submitted_at"].as_str().unwrap();
            let after = at > due.as_str();
            assert_eq!(s["late"], after, "submitted_at {at}, due_at {due}: {s}");
            if after {
                late += 1;
            } else {
                on_time += 1;
            }
        }
        assert!(
            on_time > 0,
            "no submit was on time: {late} late, {refused} refused"
        );
        if late_submissions {
            assert!(late > 0, "no submit was late");
            assert_eq!(refused, 0);
        } else {
            assert_eq!(late, 0, "a late submit was taken without late_submissions");
            assert!(refused > 0, "no submit was refused after the due time");
        }
        // Every 201 is a row, and nothing else is.
        assert_eq!(
            db.count("submissions", &format!("assignment_id = {a}"))
                .await,
            on_time + late
        );
        assert_eq!(
            db.count(
                "submissions",
                &format!("assignment_id = {a} AND late = {}", sql_bool(&db, true))
            )
            .await,
            late
        );
    }
}

fn sql_bool(db: &TestDb, b: bool) -> &'static str {
    match (db.backend, b) {
        (tests::Backend::Postgres, true) => "TRUE",
        (tests::Backend::Postgres, false) => "FALSE",
        (_, true) => "1",
        (_, false) => "0",
    }
}
