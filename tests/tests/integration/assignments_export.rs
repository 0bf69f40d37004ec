//! The classroom's downloads: a submission as `.sb3` (its pinned body and
//! the assets it names) and the class export, a zip of `<username>.sb3`
//! per current student's latest submission — with who may fetch them.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tests::assets::{asset_name, png, upload};
use tests::{Client, ServerOptions, TestDb, TestServer};

use crate::assignments::{assign, call, start, submit, Class};
use crate::on_backends;

on_backends!(submissions_download_as_sb3_and_the_class_as_a_zip);

fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(entry.name().unwrap().into_owned(), data);
    }
    out
}

async fn submissions_download_as_sb3_and_the_class_as_a_zip(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let c = Class::on(&api).await;
    let a = assign(&c.teacher, c.group, json!({"title": "Maze"})).await["id"]
        .as_i64()
        .unwrap();
    let costume = png("ann's costume");
    let name = asset_name(&costume, "png");
    assert!(upload(&c.student, &name, costume.clone())
        .await
        .status
        .is_success());
    let (id, ext) = name.split_once('.').unwrap();
    let ann_body = json!({"targets": [{"isStage": true, "name": "Stage",
        "costumes": [{"name": "c", "assetId": id, "md5ext": name, "dataFormat": ext}], "sounds": []}]});
    let ann_pid = start(&c.student, a).await.expect(StatusCode::CREATED)["id"]
        .as_i64()
        .unwrap();
    c.student
        .save(ann_pid, 1, &ann_body)
        .await
        .expect(StatusCode::OK);
    let ann_sub = submit(&c.student, a, json!({}))
        .await
        .expect(StatusCode::CREATED)["id"]
        .as_i64()
        .unwrap();
    // Saved after the submit: not in the downloads.
    c.student
        .save(ann_pid, 2, &json!({"targets": [], "later": true}))
        .await
        .expect(StatusCode::OK);
    let cat_pid = start(&c.classmate, a).await.expect(StatusCode::CREATED)["id"]
        .as_i64()
        .unwrap();
    let cat_body = json!({"targets": [], "cat": 1});
    c.classmate
        .save(cat_pid, 1, &cat_body)
        .await
        .expect(StatusCode::OK);
    submit(&c.classmate, a, json!({}))
        .await
        .expect(StatusCode::CREATED);
    // dan never starts: no entry for him.
    tests::projects::User::login(&api, "dan", "student", &[("7b", "7B")]).await;

    // One submission as .sb3.
    let sb3 = call(
        &c.teacher,
        Method::GET,
        &format!("/api/v1/submissions/{ann_sub}/sb3"),
        None,
    )
    .await;
    assert_eq!(sb3.status, StatusCode::OK, "{}", sb3.text());
    assert_eq!(
        sb3.header("content-type"),
        Some("application/x.scratch.sb3")
    );
    assert_eq!(
        sb3.header("content-disposition"),
        Some(format!("attachment; filename=\"submission-{ann_sub}.sb3\"").as_str())
    );
    let files = unzip(&sb3.bytes);
    assert_eq!(
        files["project.json"],
        serde_json::to_vec(&ann_body).unwrap()
    );
    assert_eq!(files[&name], costume);
    assert_eq!(files.len(), 2);

    // The class export: ann.sb3 and cat.sb3, each the latest submission.
    let zip = call(
        &c.teacher,
        Method::GET,
        &format!("/api/v1/assignments/{a}/export"),
        None,
    )
    .await;
    assert_eq!(zip.status, StatusCode::OK, "{}", zip.text());
    assert_eq!(zip.header("content-type"), Some("application/zip"));
    let outer = unzip(&zip.bytes);
    assert_eq!(
        outer.keys().cloned().collect::<Vec<_>>(),
        vec!["ann.sb3".to_owned(), "cat.sb3".to_owned()]
    );
    let ann = unzip(&outer["ann.sb3"]);
    assert_eq!(ann["project.json"], serde_json::to_vec(&ann_body).unwrap());
    assert_eq!(ann[&name], costume);
    let cat = unzip(&outer["cat.sb3"]);
    assert_eq!(cat["project.json"], serde_json::to_vec(&cat_body).unwrap());

    // Who may: (caller, submission .sb3, class export).
    for (user, who, one, all) in [
        (&c.co_teacher, "second teacher", 200, 200),
        (&c.student, "the submitter", 200, 403),
        (&c.classmate, "classmate", 404, 403),
        (&c.other_teacher, "teacher of another group", 404, 404),
        (&c.other_student, "student of another group", 404, 404),
        (&c.stranger, "stranger", 404, 404),
    ] {
        let r = call(
            user,
            Method::GET,
            &format!("/api/v1/submissions/{ann_sub}/sb3"),
            None,
        )
        .await;
        assert_eq!(r.status.as_u16(), one, "{who} sb3: {}", r.text());
        let r = call(
            user,
            Method::GET,
            &format!("/api/v1/assignments/{a}/export"),
            None,
        )
        .await;
        assert_eq!(r.status.as_u16(), all, "{who} export: {}", r.text());
    }
    let r = tests::projects::send(
        api.http
            .get(api.url(&format!("/api/v1/assignments/{a}/export"))),
    )
    .await;
    r.expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
}
