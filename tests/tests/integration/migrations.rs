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

/// The tables of the classroom migration (the last four of `TABLES`).
const CLASSROOM_TABLES: usize = 4;

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

async fn migrations_round_trip_up_down_up(db: TestDb) {
    let mariadb = db.backend == tests::Backend::MariaDb;
    let nopad = mariadb.then(|| "utf8mb4_nopad_bin".to_owned());
    run_cubby(&db, &["migrate", "up"]);
    let status = status_lines(&db);
    assert_eq!(status.len(), 8, "{status:?}");
    assert!(
        status.iter().all(|l| l.starts_with("applied ")),
        "{status:?}"
    );
    assert_eq!(existing_tables(&db).await, TABLES.len());
    assert_eq!(subject_collation(&db).await, nopad);
    assert!(has_column(&db, "sessions", "refresh_lease_id").await);
    assert!(has_column(&db, "login_states", "browser_sha256").await);
    assert!(!has_column(&db, "sessions", "access_token").await);
    assert!(has_column(&db, "users", "storage_bytes").await);
    assert!(has_column(&db, "assets", "created_by").await);

    // Down one step: the classroom's four tables go, everything else stays.
    run_cubby(&db, &["migrate", "down"]);
    let status = status_lines(&db);
    assert!(status[7].starts_with("pending "), "{status:?}");
    assert!(status[6].starts_with("applied "), "{status:?}");
    assert_eq!(existing_tables(&db).await, TABLES.len() - CLASSROOM_TABLES);
    assert!(has_column(&db, "users", "storage_bytes").await);

    // Down one more: the thumbnails table goes, every other table stays.
    run_cubby(&db, &["migrate", "down"]);
    let status = status_lines(&db);
    assert!(status[6].starts_with("pending "), "{status:?}");
    assert!(status[5].starts_with("applied "), "{status:?}");
    assert_eq!(
        existing_tables(&db).await,
        TABLES.len() - CLASSROOM_TABLES - 1
    );
    assert!(has_column(&db, "users", "storage_bytes").await);

    // Down one more: S8's storage count goes (its two columns), every table
    // and every other column stays.
    run_cubby(&db, &["migrate", "down"]);
    let status = status_lines(&db);
    assert!(status[5].starts_with("pending "), "{status:?}");
    assert!(status[4].starts_with("applied "), "{status:?}");
    assert!(!has_column(&db, "users", "storage_bytes").await);
    assert!(!has_column(&db, "assets", "created_by").await);
    assert!(has_column(&db, "sessions", "refresh_lease_id").await);
    assert_eq!(
        existing_tables(&db).await,
        TABLES.len() - CLASSROOM_TABLES - 1
    );

    // Down one more: the login binding and refresh lease (S4, S9) go, the
    // stored access token column comes back.
    run_cubby(&db, &["migrate", "down"]);
    let status = status_lines(&db);
    assert!(status[4].starts_with("pending "), "{status:?}");
    assert!(status[3].starts_with("applied "), "{status:?}");
    assert!(!has_column(&db, "sessions", "refresh_lease_id").await);
    assert!(!has_column(&db, "sessions", "refresh_lease_until").await);
    assert!(!has_column(&db, "login_states", "browser_sha256").await);
    assert!(has_column(&db, "sessions", "access_token").await);

    // Down one more: S10's byte-exact keys are reverted: every table stays,
    // on MariaDB with its default collation back.
    run_cubby(&db, &["migrate", "down"]);
    let status = status_lines(&db);
    assert!(status[3].starts_with("pending "), "{status:?}");
    assert!(status[2].starts_with("applied "), "{status:?}");
    assert_eq!(
        existing_tables(&db).await,
        TABLES.len() - CLASSROOM_TABLES - 1
    );
    // The harness creates MariaDB databases with `utf8mb4_bin`.
    assert_eq!(
        subject_collation(&db).await,
        mariadb.then(|| "utf8mb4_bin".to_owned())
    );

    // One more: assets and backpack are gone.
    run_cubby(&db, &["migrate", "down"]);
    let status = status_lines(&db);
    assert!(status[2].starts_with("pending "), "{status:?}");
    assert_eq!(
        existing_tables(&db).await,
        TABLES.len() - CLASSROOM_TABLES - 3
    );

    // Down to zero.
    run_cubby(&db, &["migrate", "down", "2"]);
    assert!(status_lines(&db).iter().all(|l| l.starts_with("pending ")));
    assert_eq!(existing_tables(&db).await, 0);

    // And up again.
    run_cubby(&db, &["migrate", "up"]);
    assert!(status_lines(&db).iter().all(|l| l.starts_with("applied ")));
    assert_eq!(existing_tables(&db).await, TABLES.len());
    assert_eq!(subject_collation(&db).await, nopad);
    assert!(has_column(&db, "sessions", "refresh_lease_id").await);
    assert!(has_column(&db, "users", "storage_bytes").await);
}
