//! S10: group external ids, subjects, usernames and idempotency keys compare
//! byte for byte on every backend. On MariaDB the database's default collation
//! is made case- and pad-insensitive first (`utf8mb4_general_ci`, the server
//! default of a stock MariaDB), so the test shows that the columns do not
//! depend on it.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use tests::projects::{send, User};
use tests::{Backend, Client, ServerOptions, TestDb, TestServer};

use crate::on_backends;

on_backends!(keys_that_differ_in_case_or_trailing_space_are_distinct);

/// The four byte-exact columns, as `(table, column)`.
const COLUMNS: [(&str, &str); 4] = [
    ("users", "subject"),
    ("users", "username"),
    ("groups", "external_id"),
    ("idempotency_keys", "idem_key"),
];

async fn make_default_collation_insensitive(db: &TestDb) {
    let conn = db.connect().await;
    conn.execute_unprepared("ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
        .await
        .expect("alter database collation");
    conn.close().await.ok();
}

/// On MariaDB: each column's collation, and whether it still leads a unique index.
async fn assert_mariadb_columns(db: &TestDb) {
    let conn = db.connect().await;
    for (table, column) in COLUMNS {
        let row = conn
            .query_one_raw(Statement::from_string(
                db.db_backend(),
                format!(
                    "SELECT collation_name AS c FROM information_schema.columns \
                     WHERE table_schema = DATABASE() AND table_name = '{table}' \
                     AND column_name = '{column}'"
                ),
            ))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{table}.{column} exists"));
        let collation: String = row.try_get("", "c").unwrap();
        assert_eq!(collation, "utf8mb4_nopad_bin", "{table}.{column}");
        let unique = conn
            .query_one_raw(Statement::from_string(
                db.db_backend(),
                format!(
                    "SELECT COUNT(*) AS n FROM information_schema.statistics \
                     WHERE table_schema = DATABASE() AND table_name = '{table}' \
                     AND column_name = '{column}' AND non_unique = 0"
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        let n: i64 = unique.try_get("", "n").unwrap();
        assert_eq!(n, 1, "{table}.{column} is in one unique index");
    }
    conn.close().await.ok();
}

fn group_ids(user: &User) -> Vec<(String, i64)> {
    let mut groups: Vec<(String, i64)> = user.info["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["external_id"].as_str().unwrap().to_owned(),
                g["id"].as_i64().unwrap(),
            )
        })
        .collect();
    groups.sort();
    groups
}

async fn keys_that_differ_in_case_or_trailing_space_are_distinct(db: TestDb) {
    if db.backend == Backend::MariaDb {
        make_default_collation_insensitive(&db).await;
    }
    let server = TestServer::spawn(&db, &ServerOptions::default());
    if db.backend == Backend::MariaDb {
        assert_mariadb_columns(&db).await;
    }
    let api = Client::new(&server.base_url);

    // Groups: one login listing all three gets three groups.
    let groups = [("7B", "Upper"), ("7b", "Lower"), ("7b ", "Spaced")];
    let ann = User::login(&api, "ann", "student", &groups).await;
    let ann_groups = group_ids(&ann);
    assert_eq!(
        ann_groups
            .iter()
            .map(|(e, _)| e.as_str())
            .collect::<Vec<_>>(),
        vec!["7B", "7b", "7b "]
    );
    let mut ids: Vec<i64> = ann_groups.iter().map(|(_, id)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{ann_groups:?}");
    let groups_table = if db.backend == Backend::MariaDb {
        "`groups`"
    } else {
        "\"groups\""
    };
    assert_eq!(db.count(groups_table, "").await, 3);
    // Each one alone finds its own row again.
    for (external_id, name) in groups {
        let bob = User::login(&api, "bob", "student", &[(external_id, name)]).await;
        assert_eq!(
            group_ids(&bob),
            vec![(external_id.to_owned(), ann.group(external_id))]
        );
    }

    // Usernames (and so dev subjects `dev|<username>`): three users.
    let cy = ["cy", "CY", "cy "];
    let mut user_ids = Vec::new();
    for name in cy {
        let user = User::login(&api, name, "student", &[]).await;
        assert_eq!(user.info["username"], name);
        user_ids.push(user.id);
    }
    user_ids.sort_unstable();
    user_ids.dedup();
    assert_eq!(user_ids.len(), 3);
    // Logging in again finds the same user, byte for byte.
    for name in cy {
        let again = User::login(&api, name, "student", &[]).await;
        assert_eq!(again.info["username"], name);
    }
    assert_eq!(db.count("users", "").await, 2 + 3);

    // Idempotency keys: `k1` and `K1` are two keys, two projects; `k1` again
    // is a replay of the first.
    let create = |key: &'static str| {
        send(
            ann.req(Method::POST, "/api/v1/projects")
                .header("idempotency-key", key)
                .json(&json!({"title": key, "body": {}})),
        )
    };
    let lower = create("k1").await.expect(StatusCode::CREATED);
    let upper = create("K1").await.expect(StatusCode::CREATED);
    assert_ne!(lower["id"], upper["id"]);
    assert_eq!(upper["title"], "K1");
    let replay = create("k1").await.expect(StatusCode::CREATED);
    assert_eq!(replay["id"], lower["id"]);
    assert_eq!(db.count("projects", "").await, 2);
    assert_eq!(db.count("idempotency_keys", "").await, 2);
}
