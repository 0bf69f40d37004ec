//! G4: N concurrent logins of the same new user with the same new groups make
//! one user, one row per group and one membership per pair, and all N succeed
//! — with one server process and with two on the same database.

use reqwest::StatusCode;
use serde_json::{json, Value};
use tests::{race, start_processes, ServerOptions, TestDb};

use crate::on_backends;

on_backends!(processes [1, 2]: concurrent_first_logins);

const CLIENTS: usize = 32;
const ROUNDS: usize = 3;

fn sorted_group_ids(user: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = user["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids
}

async fn concurrent_first_logins(db: TestDb, processes: usize) {
    let (_servers, clients) = start_processes(&db, processes, &ServerOptions::default());

    for round in 0..ROUNDS {
        let body = json!({
            "username": format!("newbie-{round}"),
            "role": "student",
            "groups": [
                {"external_id": format!("r{round}-art"), "name": "Art"},
                {"external_id": format!("r{round}-maths"), "name": "Maths"},
                {"external_id": format!("r{round}-music"), "name": "Music"},
            ]
        });
        let results = race(CLIENTS, |i| {
            let client = clients[i % processes].clone();
            let body = body.clone();
            async move { client.dev_login_raw(&body).await }
        })
        .await;

        let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        let failures: Vec<_> = results
            .iter()
            .filter(|(s, _)| *s != StatusCode::OK)
            .collect();
        assert_eq!(
            ok, CLIENTS,
            "round {round}: every login must succeed; failures: {failures:?}"
        );

        let first = &results[0].1["user"];
        for (_, body) in &results {
            assert_eq!(body["user"]["id"], first["id"], "one user");
            assert_eq!(
                sorted_group_ids(&body["user"]),
                sorted_group_ids(first),
                "the same groups"
            );
        }
        let user_id = first["id"].as_i64().unwrap();
        let users = round as i64 + 1;
        assert_eq!(
            db.count("users", "").await,
            users,
            "one user row per new user"
        );
        assert_eq!(db.count("groups", "").await, 3 * users, "one row per group");
        assert_eq!(
            db.count("memberships", &format!("user_id = {user_id}"))
                .await,
            3
        );
        assert_eq!(
            db.count("memberships", "").await,
            3 * users,
            "one membership per pair"
        );
        assert_eq!(
            db.count("sessions", &format!("user_id = {user_id}")).await,
            CLIENTS as i64
        );
    }
}
