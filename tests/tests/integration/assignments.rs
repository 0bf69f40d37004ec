//! The classroom (docs/API.md, "Assignments"): who may call what (the
//! authorization matrix), a start → save → submit → feedback round, the
//! roster with students who never started, G17 (a submitted body survives
//! saves, pruning, delete, purge and gc), feedback conflicts, and the quota.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tests::projects::{blob_files, md5_hex, run_gc, send, Reply, User};
use tests::{Client, ServerOptions, TestDb, TestServer};

use crate::on_backends;

on_backends!(
    every_route_answers_each_kind_of_caller_exactly,
    a_student_starts_saves_submits_and_sees_feedback,
    the_roster_lists_every_student_member_also_those_who_never_started,
    a_submitted_body_survives_saves_pruning_delete_purge_and_gc,
    feedback_with_a_stale_version_is_a_conflict,
    a_start_counts_toward_the_project_quota,
    a_submitted_copy_counts_toward_the_storage_quota,
    a_student_who_leaves_the_class_keeps_their_submissions,
);

/// The people around one class `7b`: two teachers of it, two students of
/// it, a teacher and a student of another class, and someone in no class.
pub struct Class {
    pub teacher: User,
    pub co_teacher: User,
    pub student: User,
    pub classmate: User,
    pub other_teacher: User,
    pub other_student: User,
    pub stranger: User,
    pub group: i64,
}

impl Class {
    pub async fn on(api: &Client) -> Class {
        let class = [("7b", "7B")];
        let other = [("8c", "8C")];
        let teacher = User::login(api, "tess", "teacher", &class).await;
        let group = teacher.group("7b");
        Class {
            co_teacher: User::login(api, "theo", "teacher", &class).await,
            student: User::login(api, "ann", "student", &class).await,
            classmate: User::login(api, "cat", "student", &class).await,
            other_teacher: User::login(api, "otto", "teacher", &other).await,
            other_student: User::login(api, "bob", "student", &other).await,
            stranger: User::login(api, "sam", "student", &[]).await,
            teacher,
            group,
        }
    }
}

pub async fn call(user: &User, method: Method, path: &str, body: Option<Value>) -> Reply {
    let req = user.req(method, path);
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    send(req).await
}

/// `POST /api/v1/groups/{group}/assignments` by `teacher` (must be 201).
pub async fn assign(teacher: &User, group: i64, request: Value) -> Value {
    call(
        teacher,
        Method::POST,
        &format!("/api/v1/groups/{group}/assignments"),
        Some(request),
    )
    .await
    .expect(StatusCode::CREATED)
}

pub async fn start(student: &User, assignment: i64) -> Reply {
    call(
        student,
        Method::POST,
        &format!("/api/v1/assignments/{assignment}/start"),
        None,
    )
    .await
}

pub async fn submit(student: &User, assignment: i64, request: Value) -> Reply {
    call(
        student,
        Method::POST,
        &format!("/api/v1/assignments/{assignment}/submit"),
        Some(request),
    )
    .await
}

fn expect_status(who: &str, what: &str, reply: &Reply, want: u16) {
    assert_eq!(
        reply.status.as_u16(),
        want,
        "{who} {what}: {}",
        reply.text()
    );
    if want >= 400 {
        let code = match want {
            401 => "unauthenticated",
            403 => "forbidden",
            404 => "not_found",
            _ => unreachable!(),
        };
        reply.expect_problem(reply.status, code);
    }
}

async fn every_route_answers_each_kind_of_caller_exactly(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let c = Class::on(&api).await;
    let g = c.group;
    let a = assign(&c.teacher, g, json!({"title": "Maze"})).await["id"]
        .as_i64()
        .unwrap();

    // (caller, name, create, list, get, patch, start)
    let who: [(&User, &str, u16, u16, u16, u16, u16); 7] = [
        (&c.teacher, "teacher of the group", 201, 200, 200, 200, 403),
        (
            &c.co_teacher,
            "second teacher of the group",
            201,
            200,
            200,
            200,
            403,
        ),
        (
            &c.other_teacher,
            "teacher of another group",
            404,
            404,
            404,
            404,
            404,
        ),
        (
            &c.other_student,
            "student of another group",
            404,
            404,
            404,
            404,
            404,
        ),
        (&c.stranger, "stranger", 404, 404, 404, 404, 404),
        (&c.classmate, "classmate", 403, 200, 200, 403, 201),
        (&c.student, "student of the group", 403, 200, 200, 403, 201),
    ];
    for (user, name, create, list, get, patch, start_status) in who {
        let r = call(
            user,
            Method::POST,
            &format!("/api/v1/groups/{g}/assignments"),
            Some(json!({"title": "Extra"})),
        )
        .await;
        expect_status(name, "create", &r, create);
        let r = call(
            user,
            Method::GET,
            &format!("/api/v1/groups/{g}/assignments"),
            None,
        )
        .await;
        expect_status(name, "list", &r, list);
        let r = call(user, Method::GET, &format!("/api/v1/assignments/{a}"), None).await;
        expect_status(name, "get", &r, get);
        let r = call(
            user,
            Method::PATCH,
            &format!("/api/v1/assignments/{a}"),
            Some(json!({"instructions": "Find the exit."})),
        )
        .await;
        expect_status(name, "patch", &r, patch);
        let r = start(user, a).await;
        expect_status(name, "start", &r, start_status);
    }
    // A second start by a student is 200 with the same project.
    let first = start(&c.student, a).await.expect(StatusCode::OK)["id"].clone();
    assert_eq!(
        start(&c.student, a).await.expect(StatusCode::OK)["id"],
        first
    );

    // Submit: only the students of the group.
    for (user, name, want) in [
        (&c.teacher, "teacher of the group", 403),
        (&c.other_teacher, "teacher of another group", 404),
        (&c.other_student, "student of another group", 404),
        (&c.stranger, "stranger", 404),
    ] {
        expect_status(name, "submit", &submit(user, a, json!({})).await, want);
    }
    let s = submit(&c.student, a, json!({}))
        .await
        .expect(StatusCode::CREATED)["id"]
        .as_i64()
        .unwrap();

    // Roster, submission, body, feedback.
    // (caller, name, roster, submission and body, feedback)
    let who: [(&User, &str, u16, u16, u16); 7] = [
        (&c.teacher, "teacher of the group", 200, 200, 200),
        (&c.co_teacher, "second teacher of the group", 200, 200, 200),
        (&c.student, "the student who submitted", 403, 200, 403),
        (&c.classmate, "classmate", 403, 404, 404),
        (&c.other_teacher, "teacher of another group", 404, 404, 404),
        (&c.other_student, "student of another group", 404, 404, 404),
        (&c.stranger, "stranger", 404, 404, 404),
    ];
    for (user, name, roster, read, feedback) in who {
        let r = call(
            user,
            Method::GET,
            &format!("/api/v1/assignments/{a}/submissions"),
            None,
        )
        .await;
        expect_status(name, "roster", &r, roster);
        let r = call(user, Method::GET, &format!("/api/v1/submissions/{s}"), None).await;
        expect_status(name, "submission", &r, read);
        let r = call(
            user,
            Method::GET,
            &format!("/api/v1/submissions/{s}/body"),
            None,
        )
        .await;
        expect_status(name, "submission body", &r, read);
        let r = call(
            user,
            Method::PUT,
            &format!("/api/v1/submissions/{s}/feedback"),
            Some(json!({"comment": "Nice."})),
        )
        .await;
        expect_status(name, "feedback", &r, feedback);
    }

    // Unknown ids are 404 for everyone; no session is 401 on every route.
    let r = call(&c.teacher, Method::GET, "/api/v1/assignments/999999", None).await;
    expect_status("teacher", "unknown assignment", &r, 404);
    let r = call(&c.teacher, Method::GET, "/api/v1/submissions/999999", None).await;
    expect_status("teacher", "unknown submission", &r, 404);
    for (method, path) in [
        (Method::GET, format!("/api/v1/groups/{g}/assignments")),
        (Method::POST, format!("/api/v1/groups/{g}/assignments")),
        (Method::GET, format!("/api/v1/assignments/{a}")),
        (Method::PATCH, format!("/api/v1/assignments/{a}")),
        (Method::POST, format!("/api/v1/assignments/{a}/start")),
        (Method::POST, format!("/api/v1/assignments/{a}/submit")),
        (Method::GET, format!("/api/v1/assignments/{a}/submissions")),
        (Method::GET, format!("/api/v1/submissions/{s}")),
        (Method::GET, format!("/api/v1/submissions/{s}/body")),
        (Method::PUT, format!("/api/v1/submissions/{s}/feedback")),
    ] {
        let r = send(
            api.http
                .request(method.clone(), api.url(&path))
                .json(&json!({})),
        )
        .await;
        expect_status("nobody", &format!("{method} {path}"), &r, 401);
    }
}

async fn a_student_starts_saves_submits_and_sees_feedback(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let c = Class::on(&api).await;
    let starter_body = json!({"targets": [], "starter": true});
    let starter = c.teacher.create_ok("Maze starter", &starter_body).await;
    let starter_id = starter["id"].as_i64().unwrap();

    // A starter the teacher cannot read is 404; bad input is 400.
    let theirs = c
        .other_student
        .create_ok("Mine", &json!({"targets": []}))
        .await;
    let r = call(
        &c.teacher,
        Method::POST,
        &format!("/api/v1/groups/{}/assignments", c.group),
        Some(json!({"title": "Maze", "starter_project_id": theirs["id"]})),
    )
    .await;
    r.expect_problem(StatusCode::NOT_FOUND, "not_found");
    for bad in [
        json!({"title": ""}),
        json!({"title": "x".repeat(201)}),
        json!({"title": "Maze", "due_at": "tomorrow"}),
        json!({"title": "Maze", "due_at": "1969-12-31T23:59:59Z"}),
        json!({"title": "Maze", "due_at": "2038-01-20T00:00:00Z"}),
        json!({"title": "Maze", "late_submissions": "yes"}),
    ] {
        let r = call(
            &c.teacher,
            Method::POST,
            &format!("/api/v1/groups/{}/assignments", c.group),
            Some(bad.clone()),
        )
        .await;
        r.expect_problem(StatusCode::BAD_REQUEST, "invalid_input");
    }

    let a = assign(
        &c.teacher,
        c.group,
        json!({"title": "Maze", "instructions": "Find\nthe exit.", "starter_project_id": starter_id,
               "due_at": "2037-12-31T23:59:59Z", "late_submissions": true}),
    )
    .await;
    let id = a["id"].as_i64().unwrap();
    assert_eq!(a["group_id"], c.group);
    assert_eq!(a["title"], "Maze");
    assert_eq!(a["instructions"], "Find\nthe exit.");
    assert_eq!(a["starter_project_id"], starter_id);
    assert_eq!(a["due_at"], "2037-12-31T23:59:59Z");
    assert_eq!(a["late_submissions"], true);
    assert_eq!(a["created_by"], c.teacher.id);
    assert!(a.get("my_project_id").is_none(), "{a}");

    // The list, newest first, paginated.
    let second = assign(&c.teacher, c.group, json!({"title": "Quiz"})).await;
    let page = c
        .student
        .get(&format!("/api/v1/groups/{}/assignments?limit=1", c.group))
        .await
        .expect(StatusCode::OK);
    assert_eq!(page["items"][0]["id"], second["id"]);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let page = c
        .student
        .get(&format!(
            "/api/v1/groups/{}/assignments?limit=1&cursor={cursor}",
            c.group
        ))
        .await
        .expect(StatusCode::OK);
    assert_eq!(page["items"][0]["id"], id);
    assert_eq!(page["next_cursor"], Value::Null);

    // Before starting: no project, no submission; a submit is 409 not_started.
    let mine = c
        .student
        .get(&format!("/api/v1/assignments/{id}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(mine["my_project_id"], Value::Null);
    assert_eq!(mine["my_submission"], Value::Null);
    submit(&c.student, id, json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "not_started");

    // Start: a copy of the starter, titled like the assignment.
    let started = start(&c.student, id).await;
    let project = started.expect(StatusCode::CREATED);
    let pid = project["id"].as_i64().unwrap();
    assert_eq!(
        started.header("location"),
        Some(format!("/api/v1/projects/{pid}").as_str())
    );
    assert_eq!(project["owner_id"], c.student.id);
    assert_eq!(project["parent_id"], starter_id);
    assert_eq!(project["title"], "Maze");
    assert_eq!(c.student.body(pid).await.json(), starter_body);
    // Without a starter: an empty project the editor opens.
    let quiz = start(&c.student, second["id"].as_i64().unwrap())
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(quiz["parent_id"], Value::Null);
    assert_eq!(quiz["title"], "Quiz");
    let empty = c.student.body(quiz["id"].as_i64().unwrap()).await.json();
    assert_eq!(empty["targets"][0]["isStage"], true);
    assert_eq!(
        empty["targets"][0]["costumes"][0]["md5ext"],
        "cd21514d0531fdffb22204e0ec5ed84a.svg"
    );

    // Save, submit (the current version), save again: the submission keeps v2.
    let v2 = json!({"targets": [], "step": 2});
    c.student.save(pid, 1, &v2).await.expect(StatusCode::OK);
    let r = submit(&c.student, id, json!({})).await;
    let sub = r.expect(StatusCode::CREATED);
    let sid = sub["id"].as_i64().unwrap();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/submissions/{sid}").as_str())
    );
    assert_eq!(sub["assignment_id"], id);
    assert_eq!(sub["student_id"], c.student.id);
    assert_eq!(sub["project_id"], pid);
    assert_eq!(sub["version"], 2);
    let v2_bytes = serde_json::to_vec(&v2).unwrap();
    assert_eq!(sub["body_md5"], md5_hex(&v2_bytes));
    assert_eq!(sub["body_size"], v2_bytes.len());
    assert_eq!(sub["late"], false);
    assert_eq!(sub["feedback"], Value::Null);
    c.student
        .save(pid, 2, &json!({"targets": [], "step": 3}))
        .await
        .expect(StatusCode::OK);
    // An earlier version may be pinned; an unknown one is 404.
    let older = submit(&c.student, id, json!({"version": 1}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(older["version"], 1);
    assert_eq!(older["body_md5"], starter["body_md5"]);
    submit(&c.student, id, json!({"version": 99}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    submit(&c.student, id, json!({"version": "2"}))
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "invalid_input");
    let body = c
        .student
        .get(&format!("/api/v1/submissions/{sid}/body"))
        .await;
    assert_eq!(body.status, StatusCode::OK);
    assert_eq!(body.bytes.as_slice(), v2_bytes.as_slice());
    assert_eq!(body.header("x-content-type-options"), Some("nosniff"));
    assert!(body.header("content-security-policy").is_some());

    // The student sees their project and their latest submission.
    let mine = c
        .student
        .get(&format!("/api/v1/assignments/{id}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(mine["my_project_id"], pid);
    assert_eq!(mine["my_submission"]["id"], older["id"]);

    // Feedback on the first submission, which the student then sees.
    let sub_path = format!("/api/v1/submissions/{sid}/feedback");
    let f = call(
        &c.teacher,
        Method::PUT,
        &sub_path,
        Some(json!({"comment": "Good start.\nMore!", "grade": "B+"})),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(f["comment"], "Good start.\nMore!");
    assert_eq!(f["grade"], "B+");
    assert_eq!(f["author_id"], c.teacher.id);
    assert_eq!(f["version"], 1);
    let seen = c
        .student
        .get(&format!("/api/v1/submissions/{sid}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(seen["feedback"], f);
    // Replaced whole: an omitted grade is null.
    let f = call(
        &c.teacher,
        Method::PUT,
        &sub_path,
        Some(json!({"comment": "Better."})),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(f["grade"], Value::Null);
    assert_eq!(f["version"], 2);

    // PATCH edits what it names; `due_at: null` clears the due time.
    let patched = call(
        &c.teacher,
        Method::PATCH,
        &format!("/api/v1/assignments/{id}"),
        Some(json!({"title": "Maze 2", "due_at": null})),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(patched["title"], "Maze 2");
    assert_eq!(patched["due_at"], Value::Null);
    assert_eq!(patched["instructions"], "Find\nthe exit.");
    assert_eq!(patched["late_submissions"], true);
}

async fn the_roster_lists_every_student_member_also_those_who_never_started(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let c = Class::on(&api).await;
    let dan = User::login(&api, "dan", "student", &[("7b", "7B")]).await;
    let a = assign(
        &c.teacher,
        c.group,
        json!({"title": "Maze", "due_at": "2000-01-01T00:00:00Z", "late_submissions": true}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    // ann submits (late: the due time is past), cat only starts, dan never opens it.
    start(&c.student, a).await.expect(StatusCode::CREATED);
    let late = submit(&c.student, a, json!({}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(late["late"], true);
    let latest = submit(&c.student, a, json!({}))
        .await
        .expect(StatusCode::CREATED);
    let cat_project = start(&c.classmate, a).await.expect(StatusCode::CREATED)["id"].clone();

    let roster = c
        .teacher
        .get(&format!("/api/v1/assignments/{a}/submissions"))
        .await
        .expect(StatusCode::OK);
    let rows = roster["items"].as_array().unwrap();
    assert_eq!(roster["next_cursor"], Value::Null);
    let by_name = |name: &str| {
        rows.iter()
            .find(|r| r["student"]["username"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {roster}"))
            .clone()
    };
    // Only the students: not the two teachers, not other classes.
    assert_eq!(rows.len(), 3, "{roster}");
    let ann = by_name("ann");
    assert_eq!(ann["student"]["id"], c.student.id);
    assert_eq!(
        ann["student"]["display_name"],
        c.student.info["display_name"]
    );
    assert_eq!(ann["status"], "late");
    assert_eq!(ann["count"], 2);
    assert_eq!(ann["latest"]["id"], latest["id"]);
    assert!(ann["project_id"].is_i64());
    let cat = by_name("cat");
    assert_eq!(cat["status"], "started");
    assert_eq!(cat["project_id"], cat_project);
    assert_eq!(cat["latest"], Value::Null);
    assert_eq!(cat["count"], 0);
    let dan_row = by_name("dan");
    assert_eq!(dan_row["student"]["id"], dan.id);
    assert_eq!(dan_row["status"], "not_started");
    assert_eq!(dan_row["project_id"], Value::Null);
    assert_eq!(dan_row["latest"], Value::Null);
    assert_eq!(dan_row["count"], 0);

    // Paged: 1 + 1 + 1 rows, every student once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = c
            .teacher
            .get(&format!(
                "/api/v1/assignments/{a}/submissions?limit=1&cursor={cursor}"
            ))
            .await
            .expect(StatusCode::OK);
        seen.push(page["items"][0]["student"]["id"].as_i64().unwrap());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    seen.sort_unstable();
    let mut want = vec![c.student.id, c.classmate.id, dan.id];
    want.sort_unstable();
    assert_eq!(seen, want);

    // An on-time submission is `submitted`.
    let b = assign(&c.teacher, c.group, json!({"title": "Open"})).await["id"]
        .as_i64()
        .unwrap();
    start(&c.student, b).await.expect(StatusCode::CREATED);
    submit(&c.student, b, json!({}))
        .await
        .expect(StatusCode::CREATED);
    let roster = c
        .teacher
        .get(&format!("/api/v1/assignments/{b}/submissions"))
        .await
        .expect(StatusCode::OK);
    let ann = roster["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["student"]["id"] == c.student.id)
        .unwrap()
        .clone();
    assert_eq!(ann["status"], "submitted");
}

const NO_GRACE: [(&str, &str); 1] = [("CUBBY_GC_GRACE_SECS", "0")];

async fn a_submitted_body_survives_saves_pruning_delete_purge_and_gc(db: TestDb) {
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_KEEP_VERSIONS", 2),
    );
    let api = Client::new(&server.base_url);
    let c = Class::on(&api).await;
    let a = assign(&c.teacher, c.group, json!({"title": "Maze"})).await["id"]
        .as_i64()
        .unwrap();
    let pid = start(&c.student, a).await.expect(StatusCode::CREATED)["id"]
        .as_i64()
        .unwrap();
    let pinned = json!({"targets": [], "pinned": "yes", "pad": "x".repeat(1000)});
    let pinned_bytes = serde_json::to_vec(&pinned).unwrap();
    c.student.save(pid, 1, &pinned).await.expect(StatusCode::OK);
    let sub = submit(&c.student, a, json!({"version": 2}))
        .await
        .expect(StatusCode::CREATED);
    let sid = sub["id"].as_i64().unwrap();
    assert_eq!(sub["body_md5"], md5_hex(&pinned_bytes));

    let body_is_pinned = |what: &'static str| {
        let teacher = c.teacher.clone();
        let want = pinned_bytes.clone();
        async move {
            let body = teacher
                .get(&format!("/api/v1/submissions/{sid}/body"))
                .await;
            assert_eq!(body.status, StatusCode::OK, "{what}: {}", body.text());
            assert_eq!(body.bytes.as_slice(), want.as_slice(), "{what}");
            assert_eq!(md5_hex(&body.bytes), md5_hex(&want), "{what}");
            let s = teacher
                .get(&format!("/api/v1/submissions/{sid}"))
                .await
                .expect(StatusCode::OK);
            assert_eq!(s["body_md5"], md5_hex(&want), "{what}");
            assert_eq!(s["version"], 2, "{what}");
        }
    };

    // Saves after it prune the pinned version from the project's history.
    for v in 2..6 {
        c.student
            .save(pid, v, &json!({"targets": [], "step": v}))
            .await
            .expect(StatusCode::OK);
    }
    c.student
        .version_body(pid, 2)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    body_is_pinned("after pruning").await;
    // A pruned version can no longer be pinned.
    submit(&c.student, a, json!({"version": 2}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");

    // Delete the project (to the trash): nothing to submit any more, and a
    // new start takes the same project back out of the trash.
    let r = c.student.delete(pid).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    body_is_pinned("after delete").await;
    submit(&c.student, a, json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let again = start(&c.student, a).await.expect(StatusCode::OK);
    assert_eq!(
        again["id"].as_i64(),
        Some(pid),
        "start restores, never a second"
    );
    c.student.project(pid).await.expect(StatusCode::OK);

    // Delete and purge it: its rows and files go, the submission's stay.
    assert_eq!(c.student.delete(pid).await.status, StatusCode::NO_CONTENT);
    let r = c.student.purge(pid).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(db.count("projects", &format!("id = {pid}")).await, 0);
    body_is_pinned("after purge").await;
    let (_removed, out) = run_gc(&db, &NO_GRACE, &[]);
    body_is_pinned("after gc").await;
    // The submission's file is one gc keeps: a second run removes nothing.
    let (removed, out2) = run_gc(&db, &NO_GRACE, &[]);
    assert_eq!(removed, 0, "{out}\n{out2}");
    assert_eq!(db.count("submissions", &format!("id = {sid}")).await, 1);
}

async fn feedback_with_a_stale_version_is_a_conflict(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let c = Class::on(&api).await;
    let a = assign(&c.teacher, c.group, json!({"title": "Maze"})).await["id"]
        .as_i64()
        .unwrap();
    start(&c.student, a).await.expect(StatusCode::CREATED);
    let sid = submit(&c.student, a, json!({}))
        .await
        .expect(StatusCode::CREATED)["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/submissions/{sid}/feedback");
    let put = |user: &User, body: Value| {
        let user = user.clone();
        let path = path.clone();
        async move { call(&user, Method::PUT, &path, Some(body)).await }
    };

    // Both teachers read "no feedback yet" (version 0); the first one wins.
    let first = put(&c.teacher, json!({"comment": "Tess says", "version": 0}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(first["version"], 1);
    let stale = put(&c.co_teacher, json!({"comment": "Theo says", "version": 0})).await;
    let problem = stale.expect_problem(StatusCode::CONFLICT, "version_conflict");
    assert_eq!(problem["current_version"], 1);
    // Nothing was overwritten.
    let s = c
        .student
        .get(&format!("/api/v1/submissions/{sid}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(s["feedback"]["comment"], "Tess says");
    // Re-read and retry: it lands.
    let second = put(
        &c.co_teacher,
        json!({"comment": "Theo says", "grade": "A", "version": 1}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(second["version"], 2);
    assert_eq!(second["author_id"], c.co_teacher.id);
    // Bad input.
    for bad in [
        json!({"grade": "A"}),
        json!({"comment": "x", "grade": ""}),
        json!({"comment": "x", "grade": "x".repeat(33)}),
        json!({"comment": "a\u{7}b"}),
        json!({"comment": "x", "version": 1.5}),
    ] {
        put(&c.teacher, bad)
            .await
            .expect_problem(StatusCode::BAD_REQUEST, "invalid_input");
    }
    let s = c
        .teacher
        .get(&format!("/api/v1/submissions/{sid}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(s["feedback"], second);
}

async fn a_start_counts_toward_the_project_quota(db: TestDb) {
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_PROJECT_QUOTA", 1),
    );
    let api = Client::new(&server.base_url);
    let c = Class::on(&api).await;
    let a = assign(&c.teacher, c.group, json!({"title": "Maze"})).await["id"]
        .as_i64()
        .unwrap();
    c.student.create_ok("Mine", &json!({"targets": []})).await;
    let r = start(&c.student, a).await;
    r.expect_problem(StatusCode::FORBIDDEN, "quota_exceeded");
    // Nothing was left behind: no pair, no second project.
    assert_eq!(db.count("assignment_projects", "1 = 1").await, 0);
    assert_eq!(
        db.count("projects", &format!("owner_id = {}", c.student.id))
            .await,
        1
    );
    // A classmate under the quota starts fine.
    start(&c.classmate, a).await.expect(StatusCode::CREATED);
}

async fn a_submitted_copy_counts_toward_the_storage_quota(db: TestDb) {
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_USER_STORAGE_QUOTA_BYTES", 1000),
    );
    let api = Client::new(&server.base_url);
    let c = Class::on(&api).await;
    let starter_body = json!({"targets": [], "pad": "x".repeat(70)});
    let starter_len = serde_json::to_vec(&starter_body).unwrap().len();
    assert!((90..=110).contains(&starter_len), "{starter_len}");
    let starter = c.teacher.create_ok("Starter", &starter_body).await["id"].clone();
    let a = assign(
        &c.teacher,
        c.group,
        json!({"title": "Maze", "starter_project_id": starter}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    // ~100 bytes for the copy, ~100 for the first submit, ~500 for a save.
    let pid = start(&c.student, a).await.expect(StatusCode::CREATED)["id"]
        .as_i64()
        .unwrap();
    submit(&c.student, a, json!({}))
        .await
        .expect(StatusCode::CREATED);
    c.student
        .save(pid, 1, &json!({"targets": [], "pad": "y".repeat(480)}))
        .await
        .expect(StatusCode::OK);
    let files = blob_files(&db).len();
    // Another ~500 would go over 1000: refused, nothing written.
    submit(&c.student, a, json!({}))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "storage_quota_exceeded");
    assert_eq!(db.count("submissions", "1 = 1").await, 1);
    assert_eq!(
        blob_files(&db).len(),
        files,
        "a refused submit leaves no file"
    );
    // The small version still fits.
    let s = submit(&c.student, a, json!({"version": 1}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(s["version"], 1);
}

async fn a_student_who_leaves_the_class_keeps_their_submissions(db: TestDb) {
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let api = Client::new(&server.base_url);
    let c = Class::on(&api).await;
    let a = assign(&c.teacher, c.group, json!({"title": "Maze"})).await["id"]
        .as_i64()
        .unwrap();
    let pid = start(&c.student, a).await.expect(StatusCode::CREATED)["id"].clone();
    let sid = submit(&c.student, a, json!({}))
        .await
        .expect(StatusCode::CREATED)["id"]
        .as_i64()
        .unwrap();
    // The next login no longer lists the class: the membership goes.
    let gone = User::login(&api, "ann", "student", &[]).await;
    assert_eq!(gone.id, c.student.id);

    let roster = c
        .teacher
        .get(&format!("/api/v1/assignments/{a}/submissions"))
        .await
        .expect(StatusCode::OK);
    let ids: Vec<&Value> = roster["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["student"]["id"])
        .collect();
    assert_eq!(ids, vec![&json!(c.classmate.id)], "{roster}");
    // The teacher still reads the submission; the student still reads it and
    // their project, but no longer sees the class's assignments.
    for user in [&c.teacher, &gone] {
        user.get(&format!("/api/v1/submissions/{sid}"))
            .await
            .expect(StatusCode::OK);
        let body = user.get(&format!("/api/v1/submissions/{sid}/body")).await;
        assert_eq!(body.status, StatusCode::OK);
    }
    gone.project(pid.as_i64().unwrap())
        .await
        .expect(StatusCode::OK);
    gone.get(&format!("/api/v1/assignments/{a}"))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    submit(&gone, a, json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}
