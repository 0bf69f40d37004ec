//! `cubby migrate up|down [N]|status`: every migration has a working `down`;
//! up → down to zero → up again on every backend.

use sea_orm::ConnectionTrait;
use tests::{server::run_cubby, TestDb};

use crate::on_backends;

on_backends!(migrations_round_trip_up_down_up);

const TABLES: [&str; 16] = [
    "users",
    "`groups`",
    "memberships",
    "sessions",
    "login_states",
    "projects",
    "project_versions",
    "project_shares",
    "idempotency_keys",
    "assets",
    "backpack_items",
    "project_thumbnails",
    "assignments",
    "assignment_projects",
    "submissions",
    "feedback",
];

async fn existing_tables(db: &TestDb) -> usize {
    let conn = db.connect().await;
    let mut n = 0;
    for table in TABLES {
        let table = if db.backend == tests::Backend::MariaDb {
            table.to_owned()
        } else {
            table.replace('`', "\"")
        };
        if conn
            .execute_unprepared(&format!("SELECT 1 FROM {table} WHERE 1 = 0"))
            .await
            .is_ok()
        {
            n += 1;
        }
    }
    conn.close().await.ok();
    n
}

fn status_lines(db: &TestDb) -> Vec<String> {
    run_cubby(db, &["migrate", "status"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// On MariaDB, the collation of `users.subject` (S10's migration makes it
/// `utf8mb4_nopad_bin`; its `down` gives back the table's default).
async fn subject_collation(db: &TestDb) -> Option<String> {
    if db.backend != tests::Backend::MariaDb {
        return None;
    }
    let conn = db.connect().await;
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            db.db_backend(),
            "SELECT collation_name AS c FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = 'users' \
             AND column_name = 'subject'",
        ))
        .await
        .unwrap()
        .unwrap();
    conn.close().await.ok();
    Some(row.try_get("", "c").unwrap())
}

/// Whether `table` has `column` (a query naming it succeeds).
async fn has_column(db: &TestDb, table: &str, column: &str) -> bool {
    let conn = db.connect().await;
    let sql = format!("SELECT {column} FROM {table} WHERE 1 = 0");
    let found = conn.execute_unprepared(&sql).await.is_ok();
    conn.close().await.ok();
    found
}

/// Runs `sql` (with `groups` written as `"groups"`, quoted for MariaDB);
/// whether it succeeded.
async fn exec(db: &TestDb, sql: &str) -> bool {
    let sql = if db.backend == tests::Backend::MariaDb {
        sql.replace('"', "`")
    } else {
        sql.to_owned()
    };
    let conn = db.connect().await;
    let ok = conn.execute_unprepared(&sql).await.is_ok();
    conn.close().await.ok();
    ok
}

/// On MariaDB, the collation of `groups.external_id`.
async fn external_id_collation(db: &TestDb) -> Option<String> {
    if db.backend != tests::Backend::MariaDb {
        return None;
    }
    let conn = db.connect().await;
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            db.db_backend(),
            "SELECT collation_name AS c FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = 'groups' \
             AND column_name = 'external_id'",
        ))
        .await
        .unwrap()
        .unwrap();
    conn.close().await.ok();
    Some(row.try_get("", "c").unwrap())
}

const AT: &str = "'2026-01-01 00:00:00'";

/// How many of `TABLES` each migration creates, oldest first (the order of
/// `cubby migrate status`).
const TABLES_MADE: [usize; 10] = [5, 4, 2, 0, 0, 0, 0, 1, 0, 4];

fn tables_up_to(applied: usize) -> usize {
    TABLES_MADE[..applied].iter().sum()
}

/// Asserts that migration `index` (0-based, oldest first) is in place.
async fn assert_applied(db: &TestDb, index: usize) {
    let nopad = (db.backend == tests::Backend::MariaDb).then(|| "utf8mb4_nopad_bin".to_owned());
    match index {
        3 => {
            assert_eq!(subject_collation(db).await, nopad);
            assert_eq!(external_id_collation(db).await, nopad);
        }
        4 => {
            assert!(has_column(db, "sessions", "refresh_lease_id").await);
            assert!(has_column(db, "login_states", "browser_sha256").await);
            assert!(!has_column(db, "sessions", "access_token").await);
        }
        5 => {
            assert!(has_column(db, "users", "storage_bytes").await);
            assert!(has_column(db, "assets", "created_by").await);
        }
        6 => assert!(has_column(db, "projects", "deleted_at").await),
        7 => assert!(has_column(db, "project_thumbnails", "blob_file").await),
        8 => assert!(exec(db, "SELECT source, join_code FROM \"groups\" WHERE 1 = 0").await),
        9 => assert!(has_column(db, "submissions", "body_file").await),
        _ => {}
    }
}

/// Asserts what migration `index`'s `down` must have undone (and kept).
async fn assert_reverted(db: &TestDb, index: usize) {
    let mariadb = db.backend == tests::Backend::MariaDb;
    match index {
        // S10's byte-exact keys: MariaDB's default collation is back (the
        // harness creates its databases with `utf8mb4_bin`).
        3 => assert_eq!(
            subject_collation(db).await,
            mariadb.then(|| "utf8mb4_bin".to_owned())
        ),
        // The login binding and refresh lease (S4, S9) go, the stored access
        // token column comes back.
        4 => {
            assert!(!has_column(db, "sessions", "refresh_lease_id").await);
            assert!(!has_column(db, "sessions", "refresh_lease_until").await);
            assert!(!has_column(db, "login_states", "browser_sha256").await);
            assert!(has_column(db, "sessions", "access_token").await);
        }
        // S8's storage count: its two columns.
        5 => {
            assert!(!has_column(db, "users", "storage_bytes").await);
            assert!(!has_column(db, "assets", "created_by").await);
        }
        6 => assert!(!has_column(db, "projects", "deleted_at").await),
        // Local groups go with their memberships; the idp group and its
        // membership stay; external_id is NOT NULL again (byte-exact on
        // MariaDB still).
        8 => {
            assert_eq!(db.count("memberships", "").await, 1);
            assert!(!exec(db, &format!("INSERT INTO \"groups\" (external_id, name, created_at) VALUES (NULL, 'x', {AT})")).await);
            assert!(exec(db, &format!("INSERT INTO \"groups\" (external_id, name, created_at) VALUES ('8a', 'x', {AT})")).await);
            assert!(!exec(db, "SELECT join_code FROM \"groups\"").await);
            let nopad = mariadb.then(|| "utf8mb4_nopad_bin".to_owned());
            assert_eq!(external_id_collation(db).await, nopad);
        }
        _ => {}
    }
}

/// Rows the local-groups `down` must sort out: an idp group, two local
/// ones, a membership in each; and the unique keys it added.
async fn seed_groups(db: &TestDb) {
    let user = format!(
        "INSERT INTO users (subject, username, display_name, role, created_at, updated_at) \
         VALUES ('dev|ann', 'ann', 'Ann', 'teacher', {AT}, {AT})"
    );
    assert!(exec(db, &user).await);
    let group = |external_id: &str, source: &str, code: &str| {
        format!(
            "INSERT INTO \"groups\" (external_id, name, created_at, source, join_code) \
             VALUES ({external_id}, 'g', {AT}, '{source}', {code})"
        )
    };
    assert!(exec(db, &group("'7b'", "idp", "NULL")).await);
    assert!(
        !exec(db, &group("'7b'", "idp", "NULL")).await,
        "external_id unique"
    );
    assert!(exec(db, &group("NULL", "local", "'ABCDEFGH'")).await);
    assert!(exec(db, &group("NULL", "local", "'BCDEFGHJ'")).await);
    assert!(
        !exec(db, &group("NULL", "local", "'ABCDEFGH'")).await,
        "join_code unique"
    );
    assert!(
        exec(
            db,
            &format!(
                "INSERT INTO memberships (user_id, group_id, created_at) \
                 SELECT u.id, g.id, {AT} FROM users u, \"groups\" g"
            )
        )
        .await
    );
    assert_eq!(db.count("memberships", "").await, 3);
}

/// Up, then down one migration at a time (each `down` checked for what it
/// undoes and what it keeps), down to zero, and up again.
async fn migrations_round_trip_up_down_up(db: TestDb) {
    let count = TABLES_MADE.len();
    assert_eq!(tables_up_to(count), TABLES.len());
    run_cubby(&db, &["migrate", "up"]);
    let status = status_lines(&db);
    assert_eq!(status.len(), count, "{status:?}");
    assert!(
        status.iter().all(|l| l.starts_with("applied ")),
        "{status:?}"
    );
    assert_eq!(existing_tables(&db).await, TABLES.len());
    for index in 0..count {
        assert_applied(&db, index).await;
    }
    seed_groups(&db).await;

    // Down one at a time to the first two (identity and projects).
    for index in (2..count).rev() {
        run_cubby(&db, &["migrate", "down"]);
        let status = status_lines(&db);
        assert!(status[index].starts_with("pending "), "{index}: {status:?}");
        assert!(
            status[index - 1].starts_with("applied "),
            "{index}: {status:?}"
        );
        assert_reverted(&db, index).await;
        assert_eq!(existing_tables(&db).await, tables_up_to(index), "{index}");
        for older in 0..index {
            assert_applied(&db, older).await;
        }
    }

    // Down to zero.
    run_cubby(&db, &["migrate", "down", "2"]);
    assert!(status_lines(&db).iter().all(|l| l.starts_with("pending ")));
    assert_eq!(existing_tables(&db).await, 0);

    // And up again.
    run_cubby(&db, &["migrate", "up"]);
    assert!(status_lines(&db).iter().all(|l| l.starts_with("applied ")));
    assert_eq!(existing_tables(&db).await, TABLES.len());
    for index in 0..count {
        assert_applied(&db, index).await;
    }
}
