//! Project thumbnails: `PUT`/`GET /api/v1/projects/{id}/thumbnail` and the
//! editor's `POST /internalapi/project/thumbnail/{id}/set/`. Only PNG and
//! JPEG bytes (by their magic numbers), at most 512 KiB, owner only; readers
//! get the image with the stored-file headers (S1); a replacement deletes
//! the old file after its commit and gc keeps the current one (G11); the
//! bytes count toward the owner's storage (S8).

use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::assets::{jpeg, noise, png, svg};
use tests::projects::{blob_files, run_gc, send, Reply, User};
use tests::{Client, ServerOptions, TestDb, TestServer};

use crate::on_backends;

on_backends!(
    thumbnails_are_png_or_jpeg_set_by_the_owner_and_read_by_readers,
    replacing_a_thumbnail_deletes_the_old_file_and_gc_keeps_the_current,
);

const KIB: usize = 1024;

async fn put(user: &User, id: i64, bytes: Vec<u8>) -> Reply {
    send(
        user.req(Method::PUT, &format!("/api/v1/projects/{id}/thumbnail"))
            .header("content-type", "image/png")
            .body(bytes),
    )
    .await
}

async fn storage_bytes(db: &TestDb, user_id: i64) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = db.connect().await;
    let row = conn
        .query_one_raw(Statement::from_string(
            db.db_backend(),
            format!("SELECT storage_bytes FROM users WHERE id = {user_id}"),
        ))
        .await
        .unwrap()
        .unwrap();
    conn.close().await.ok();
    row.try_get("", "storage_bytes").unwrap()
}

async fn thumbnails_are_png_or_jpeg_set_by_the_owner_and_read_by_readers(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let teacher = User::login(&api, "tess", "teacher", &[("7b", "7B")]).await;
    let ann = User::login(&api, "ann", "student", &[("7b", "7B")]).await;
    let bob = User::login(&api, "bob", "student", &[]).await;
    let p = ann.create_ok("Pong", &json!({"targets": []})).await;
    let id = p["id"].as_i64().unwrap();
    let path = format!("/api/v1/projects/{id}/thumbnail");

    // None yet.
    ann.get(&path)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let before = storage_bytes(&db, ann.id).await;

    // PNG, any content type.
    let image = png("first");
    assert_eq!(
        put(&ann, id, image.clone()).await.status,
        StatusCode::NO_CONTENT
    );
    let got = ann.get(&path).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.bytes, image);
    assert_eq!(got.header("content-type"), Some("image/png"));
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    let csp = got.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("sandbox"),
        "{csp}"
    );
    assert_eq!(
        storage_bytes(&db, ann.id).await,
        before + image.len() as i64,
        "S8: the thumbnail's bytes count"
    );

    // The teacher of ann's class reads it; bob may not even see the project.
    let seen = teacher.get(&path).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert_eq!(seen.bytes, image);
    bob.get(&path)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");

    // Only the owner sets it: a reader 403, a stranger 404; nothing changes.
    put(&teacher, id, png("teacher"))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    put(&bob, id, png("bob"))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(ann.get(&path).await.bytes, image);

    // Anything but PNG or JPEG bytes.
    for bad in [
        b"GIF89a\x01\x00\x01\x00".to_vec(),
        svg("x"),
        noise(1000, 7),
        Vec::new(),
        b"\x89PNG".to_vec(),
    ] {
        put(&ann, id, bad)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "invalid_image");
    }
    // Over 512 KiB.
    let mut big = png("big");
    big.resize(512 * KIB + 1, 0);
    put(&ann, id, big)
        .await
        .expect_problem(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    let mut edge = png("edge");
    edge.resize(512 * KIB, 0);
    assert_eq!(
        put(&ann, id, edge.clone()).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(ann.get(&path).await.bytes, edge);

    // JPEG through the editor's wire route (cookie-less: Bearer works too).
    let photo = jpeg("photo");
    let wire = send(
        ann.req(
            Method::POST,
            &format!("/internalapi/project/thumbnail/{id}/set/"),
        )
        .body(photo.clone()),
    )
    .await;
    assert_eq!(wire.status, StatusCode::OK);
    assert_eq!(wire.json()["status"], "ok");
    let got = ann.get(&path).await;
    assert_eq!(got.bytes, photo);
    assert_eq!(got.header("content-type"), Some("image/jpeg"));
    assert_eq!(
        storage_bytes(&db, ann.id).await,
        before + photo.len() as i64,
        "S8: a replacement charges only the difference"
    );
    send(
        bob.req(
            Method::POST,
            &format!("/internalapi/project/thumbnail/{id}/set/"),
        )
        .body(png("bob")),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
    send(
        api.http
            .post(api.url(&format!("/internalapi/project/thumbnail/{id}/set/")))
            .body(png("anon")),
    )
    .await
    .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");

    // Deleting the project takes the thumbnail (and gives its bytes back).
    assert_eq!(ann.delete(id).await.status, StatusCode::NO_CONTENT);
    ann.get(&path)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(db.count("project_thumbnails", "1 = 1").await, 0);
    assert_eq!(storage_bytes(&db, ann.id).await, 0);
}

async fn replacing_a_thumbnail_deletes_the_old_file_and_gc_keeps_the_current(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let ann = User::login(&api, "ann", "student", &[]).await;
    let p = ann.create_ok("Pong", &json!({"targets": []})).await;
    let id = p["id"].as_i64().unwrap();
    let files_with_body = blob_files(&db).len();

    assert_eq!(
        put(&ann, id, png("one")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(blob_files(&db).len(), files_with_body + 1);
    assert_eq!(
        put(&ann, id, png("two")).await.status,
        StatusCode::NO_CONTENT
    );
    // The old file went after the commit: still one thumbnail file.
    assert_eq!(blob_files(&db).len(), files_with_body + 1);
    // A refused replacement writes nothing.
    put(&ann, id, svg("no"))
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "invalid_image");
    assert_eq!(blob_files(&db).len(), files_with_body + 1);

    let (removed, _) = run_gc(&db, &[("CUBBY_GC_GRACE_SECS", "0")], &[]);
    assert_eq!(removed, 0, "gc keeps the current thumbnail");
    assert_eq!(blob_files(&db).len(), files_with_body + 1);
    assert_eq!(
        ann.get(&format!("/api/v1/projects/{id}/thumbnail"))
            .await
            .bytes,
        png("two")
    );
}
