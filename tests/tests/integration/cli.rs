//! The command line: subcommands, flags over environment variables, `gc`.

use reqwest::StatusCode;
use tests::{server::cubby_command, Backend, Client, ServerOptions, TestDb, TestServer};

#[tokio::test]
async fn help_names_every_subcommand_and_setting() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let out = cubby_command(&db).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "serve",
        "migrate",
        "gc",
        "CUBBY_DATABASE_URL",
        "CUBBY_DATA_DIR",
        "CUBBY_BLOB_STORE",
        "CUBBY_BIND",
        "CUBBY_DB_MAX_CONNECTIONS",
        "CUBBY_DEV_LOGIN",
        "CUBBY_PROJECT_QUOTA",
        "CUBBY_MAX_BODY_BYTES",
        "CUBBY_KEEP_VERSIONS",
        "CUBBY_USER_STORAGE_QUOTA_BYTES",
        "CUBBY_OIDC_ISSUER",
        "CUBBY_PUBLIC_URL",
        "CUBBY_EDITOR_DIR",
    ] {
        assert!(help.contains(word), "--help does not mention {word}");
    }
}

#[tokio::test]
async fn a_flag_wins_over_its_environment_variable() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let opts = ServerOptions {
        env: vec![("CUBBY_MAX_BODY_BYTES".into(), "10".into())],
        args: vec![
            "--max-body-bytes".into(),
            "100000".into(),
            "--dev-login".into(),
            "false".into(),
        ],
        ..Default::default()
    };
    let server = TestServer::spawn(&db, &opts);
    let resp = Client::new(&server.base_url)
        .http
        .post(server.url("/auth/dev/login"))
        .json(&serde_json::json!({"username": "x"}))
        .send()
        .await
        .unwrap();
    // The flag turned dev login off although CUBBY_DEV_LOGIN=true is in the environment.
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn gc_runs_on_a_migrated_database() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    assert!(cubby_command(&db)
        .args(["migrate", "up"])
        .status()
        .unwrap()
        .success());
    let out = cubby_command(&db)
        .args(["gc", "--dry-run"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cubby_command(&db).arg("gc").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("gc: "));
}
