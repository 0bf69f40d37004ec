//! The classroom on the pages, without a browser: the home page's
//! assignment forms (create, start, submit), the assignment page (roster,
//! feedback form with its version, edit), who may use them, and the editor
//! opened read-only on a submission.

use reqwest::StatusCode;
use serde_json::json;
use tests::projects::{send, Reply, User};
use tests::{ServerOptions, TestDb, TestServer};

use crate::assignments::Class;
use crate::classes::{form, home_html};
use crate::on_backends;

on_backends!(
    an_assignment_goes_from_the_form_to_feedback_on_the_pages,
    the_pages_refuse_whoever_may_not_and_keep_feedback_from_a_stale_form,
    a_submission_opens_read_only_in_the_editor_only_for_its_student_and_teachers,
);

/// A directory that looks like the editor's `dist/` to cubby, so the pages
/// offer the editor links and `/editor` renders.
fn fake_editor(db: &TestDb) -> std::path::PathBuf {
    let dir = db.scratch().join("editor");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("scratch-gui-standalone.js"), "window.GUI = {};").unwrap();
    dir
}

fn server(db: &TestDb) -> TestServer {
    let editor = fake_editor(db);
    TestServer::spawn(
        db,
        &ServerOptions::default().with("CUBBY_EDITOR_DIR", editor.display()),
    )
}

/// A GET of a page with the session cookie, redirects not followed.
async fn page(user: &User, path: &str) -> Reply {
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    send(
        http.get(user.api.url(path))
            .header("cookie", format!("cubby_session={}", user.token)),
    )
    .await
}

/// The `Location` of a form's 303.
fn location(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    reply.header("location").unwrap_or_default().to_owned()
}

/// The teacher's "New assignment" form for the class, with a starter.
async fn create_with_form(c: &Class, starter: i64) -> i64 {
    let made = form(
        &c.teacher,
        "/home/assignments",
        &[
            ("group_id", &c.group.to_string()),
            ("title", "Robots <1>"),
            ("instructions", "Line 1\nLine 2"),
            ("starter_project_id", &starter.to_string()),
            ("due_at", "2037-01-01T12:00"),
            ("late_submissions", "on"),
        ],
        None,
    )
    .await;
    let to = location(&made);
    let id: i64 = to
        .strip_prefix("/assignment/")
        .and_then(|r| r.strip_suffix("?msg=created"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("where to: {to}"));
    id
}

async fn an_assignment_goes_from_the_form_to_feedback_on_the_pages(db: TestDb) {
    let server = server(&db);
    let api = tests::Client::new(&server.base_url);
    let c = Class::on(&api).await;
    let starter = c
        .teacher
        .create_ok("Starter", &json!({"targets": []}))
        .await["id"]
        .as_i64()
        .unwrap();

    // The teacher's home page has the form, with her projects as starters.
    let html = home_html(&c.teacher, "").await;
    assert!(html.contains(r#"action="/home/assignments""#), "{html}");
    assert!(html.contains(&format!(r#"<option value="{starter}">Starter</option>"#)));

    // Create with the form: 303 to the assignment page, one assignment as asked.
    let id = create_with_form(&c, starter).await;
    assert_eq!(db.count("assignments", "").await, 1);
    let a = c
        .teacher
        .get(&format!("/api/v1/assignments/{id}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(a["title"], "Robots <1>");
    assert_eq!(a["instructions"], "Line 1\nLine 2");
    assert_eq!(a["starter_project_id"], starter);
    assert_eq!(a["due_at"], "2037-01-01T12:00:00Z");
    assert_eq!(a["late_submissions"], true);
    let html = page(&c.teacher, &format!("/assignment/{id}?msg=created"))
        .await
        .text();
    assert!(html.contains("Assignment created."), "{html}");
    assert!(html.contains(&format!(r#"href="/api/v1/assignments/{id}/export""#)));
    assert!(html.contains(&format!("/assignment/{id}/edit")), "{html}");
    // The teacher's home page links to it.
    assert!(home_html(&c.teacher, "")
        .await
        .contains(&format!(r#"href="/assignment/{id}""#)));

    // The student's home page: the assignment, not started, with "Start".
    let html = home_html(&c.student, "").await;
    assert!(html.contains("Robots &lt;1&gt;"), "{html}");
    assert!(html.contains("Line 1\nLine 2"), "{html}");
    assert!(
        html.contains("Due 2037-01-01 12:00 UTC · late work accepted"),
        "{html}"
    );
    assert!(
        html.contains("status: <strong>not started</strong>"),
        "{html}"
    );
    let start_path = format!("/home/assignments/{id}/start");
    assert!(html.contains(&start_path), "{html}");

    // Start: 303 to the editor on the one project; again: the same project.
    let to = location(&form(&c.student, &start_path, &[], None).await);
    let project: i64 = to
        .strip_prefix("/editor?project=")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("where to: {to}"));
    let again = location(&form(&c.student, &start_path, &[], None).await);
    assert_eq!(again, to);
    let owned = format!("owner_id = {}", c.student.id);
    assert_eq!(db.count("projects", &owned).await, 1);
    let p = c.student.project(project).await.expect(StatusCode::OK);
    assert_eq!(p["parent_id"], starter, "{p}");
    assert_eq!(p["title"], "Robots <1>");
    let html = home_html(&c.student, "").await;
    assert!(
        html.contains(&format!(r#"href="/editor?project={project}""#)),
        "{html}"
    );
    assert!(html.contains("status: <strong>started</strong>"), "{html}");

    // A save, then Submit: 303 home with the message; one submission of version 2.
    c.student
        .save(project, 1, &json!({"targets": [], "meta": {"saved": true}}))
        .await
        .expect(StatusCode::OK);
    let submit_path = format!("/home/assignments/{id}/submit");
    let to = location(&form(&c.student, &submit_path, &[], None).await);
    assert_eq!(to, "/?assign_msg=submitted");
    assert_eq!(db.count("submissions", "").await, 1);
    let mine = c
        .student
        .get(&format!("/api/v1/assignments/{id}"))
        .await
        .expect(StatusCode::OK);
    let sid = mine["my_submission"]["id"].as_i64().unwrap();
    assert_eq!(mine["my_submission"]["version"], 2, "{mine}");
    assert_eq!(mine["my_submission"]["late"], false, "{mine}");
    let html = home_html(&c.student, "?assign_msg=submitted").await;
    assert!(html.contains("Submitted. Your teacher sees this version"));
    assert!(html.contains("(version 2)") && html.contains("No feedback yet."));
    assert!(html.contains("Submit again"), "{html}");

    // The roster: both students, with their status; the submission's links.
    let html = page(&c.teacher, &format!("/assignment/{id}")).await.text();
    for needle in [
        format!(r#"href="/editor?submission={sid}""#),
        format!(r#"href="/api/v1/submissions/{sid}/sb3""#),
        format!("/api/v1/projects/{project}/thumbnail"),
        format!(r#"action="/assignment/{id}/feedback/{sid}""#),
        r#"name="version" value="0""#.to_owned(),
        "ann".to_owned(),
        "cat".to_owned(),
        "not started".to_owned(),
        ">submitted<".to_owned(),
    ] {
        assert!(html.contains(&needle), "{needle} in {html}");
    }
    // The links work with the session cookie.
    for path in [
        format!("/api/v1/submissions/{sid}/sb3"),
        format!("/api/v1/assignments/{id}/export"),
        format!("/api/v1/submissions/{sid}/body"),
    ] {
        assert_eq!(
            page(&c.teacher, &path).await.status,
            StatusCode::OK,
            "{path}"
        );
    }

    // Feedback with the form: the student sees it on the home page.
    let to = location(
        &form(
            &c.teacher,
            &format!("/assignment/{id}/feedback/{sid}"),
            &[
                ("comment", "Nice <robot>\nMore sounds?"),
                ("grade", " A "),
                ("version", "0"),
            ],
            None,
        )
        .await,
    );
    assert_eq!(to, format!("/assignment/{id}?msg=feedback_saved"));
    let html = home_html(&c.student, "").await;
    assert!(html.contains("Nice &lt;robot&gt;\nMore sounds?"), "{html}");
    assert!(html.contains("Grade: <strong>A</strong>"), "{html}");
    // The teacher's form now carries version 1.
    let html = page(&c.teacher, &format!("/assignment/{id}")).await.text();
    assert!(html.contains(r#"name="version" value="1""#), "{html}");

    // Edit with the form: every field replaced (an empty due time removes it).
    let to = location(
        &form(
            &c.teacher,
            &format!("/assignment/{id}/edit"),
            &[("title", "Robots 2"), ("instructions", ""), ("due_at", "")],
            None,
        )
        .await,
    );
    assert_eq!(to, format!("/assignment/{id}?msg=updated"));
    let a = c
        .teacher
        .get(&format!("/api/v1/assignments/{id}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(a["title"], "Robots 2");
    assert!(a["due_at"].is_null(), "{a}");
    assert_eq!(a["late_submissions"], false);

    // The longest instructions (20,000 two-byte characters, 120,000 bytes
    // percent-encoded) fit the form; a browser's CR LF is kept as LF.
    let long = format!("é\r\n{}", "é".repeat(19_998));
    let group = c.group.to_string();
    let fields = [
        ("group_id", group.as_str()),
        ("title", "Long"),
        ("instructions", &long),
    ];
    let to = location(&form(&c.teacher, "/home/assignments", &fields, None).await);
    let long_id = to
        .strip_prefix("/assignment/")
        .and_then(|r| r.strip_suffix("?msg=created"))
        .unwrap_or_else(|| panic!("where to: {to}"));
    let a = c
        .teacher
        .get(&format!("/api/v1/assignments/{long_id}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(a["instructions"], format!("é\n{}", "é".repeat(19_998)));
}

async fn the_pages_refuse_whoever_may_not_and_keep_feedback_from_a_stale_form(db: TestDb) {
    let server = server(&db);
    let api = tests::Client::new(&server.base_url);
    let c = Class::on(&api).await;
    let starter = c
        .teacher
        .create_ok("Starter", &json!({"targets": []}))
        .await["id"]
        .as_i64()
        .unwrap();
    let id = create_with_form(&c, starter).await;
    let group = c.group.to_string();

    // Creating for a class: a student of it 403 (message), anyone else 404.
    for (user, word) in [
        (&c.student, "forbidden"),
        (&c.other_teacher, "not_found"),
        (&c.stranger, "not_found"),
    ] {
        let reply = form(
            user,
            "/home/assignments",
            &[("group_id", group.as_str()), ("title", "Mine")],
            None,
        )
        .await;
        assert_eq!(location(&reply), format!("/?assign_msg={word}"), "{user:?}");
    }
    // Bad input: a message, not a 500; from another site: refused (S2).
    for fields in [
        vec![("group_id", group.as_str()), ("title", " ")],
        vec![
            ("group_id", group.as_str()),
            ("title", "X"),
            ("due_at", "2040-01-01T00:00"),
        ],
        vec![
            ("group_id", group.as_str()),
            ("title", "X"),
            ("due_at", "soon"),
        ],
        vec![
            ("group_id", group.as_str()),
            ("title", "X"),
            ("starter_project_id", "x"),
        ],
    ] {
        let reply = form(&c.teacher, "/home/assignments", &fields, None).await;
        assert_eq!(location(&reply), "/?assign_msg=invalid_input", "{fields:?}");
    }
    form(
        &c.teacher,
        "/home/assignments",
        &[("group_id", group.as_str()), ("title", "Evil")],
        Some("https://evil.example"),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "cross_origin");
    let html = home_html(&c.teacher, "?assign_msg=invalid_input").await;
    assert!(html.contains("Please check the form"), "{html}");
    assert_eq!(db.count("assignments", "").await, 1);

    // The assignment page: members only; 404 to the rest.
    for user in [&c.other_teacher, &c.other_student, &c.stranger] {
        let reply = page(user, &format!("/assignment/{id}")).await;
        reply.expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
    let html = page(&c.classmate, &format!("/assignment/{id}"))
        .await
        .text();
    assert!(html.contains("Robots &lt;1&gt;") && !html.contains("/feedback/"));

    // Start and submit: students of the class only.
    let start = format!("/home/assignments/{id}/start");
    let submit = format!("/home/assignments/{id}/submit");
    let to = location(&form(&c.teacher, &start, &[], None).await);
    assert_eq!(to, "/?assign_msg=forbidden");
    let to = location(&form(&c.other_student, &start, &[], None).await);
    assert_eq!(to, "/?assign_msg=not_found");
    let to = location(&form(&c.classmate, &submit, &[], None).await);
    assert_eq!(to, "/?assign_msg=not_started");
    assert_eq!(db.count("assignment_projects", "").await, 0);
    location(&form(&c.student, &start, &[], None).await);
    location(&form(&c.student, &submit, &[], None).await);
    let sid = c
        .student
        .get(&format!("/api/v1/assignments/{id}"))
        .await
        .expect(StatusCode::OK)["my_submission"]["id"]
        .as_i64()
        .unwrap();

    // Past due without late work: the message, no submission.
    let made = location(
        &form(
            &c.teacher,
            "/home/assignments",
            &[
                ("group_id", group.as_str()),
                ("title", "Old"),
                ("due_at", "1971-01-01T00:00"),
            ],
            None,
        )
        .await,
    );
    let old = made
        .strip_prefix("/assignment/")
        .and_then(|r| r.split('?').next())
        .unwrap()
        .to_owned();
    location(
        &form(
            &c.student,
            &format!("/home/assignments/{old}/start"),
            &[],
            None,
        )
        .await,
    );
    let to = location(
        &form(
            &c.student,
            &format!("/home/assignments/{old}/submit"),
            &[],
            None,
        )
        .await,
    );
    assert_eq!(to, "/?assign_msg=past_due");
    assert!(home_html(&c.student, "?assign_msg=past_due")
        .await
        .contains("takes no late work"));
    assert_eq!(db.count("submissions", "").await, 1);

    // Two teachers read the form at version 0; the first saves, the second's
    // stale form gets the message and overwrites nothing.
    let feedback = format!("/assignment/{id}/feedback/{sid}");
    let first = [("comment", "Good"), ("grade", "A"), ("version", "0")];
    let to = location(&form(&c.teacher, &feedback, &first, None).await);
    assert_eq!(to, format!("/assignment/{id}?msg=feedback_saved"));
    let stale = [("comment", "Overwritten?"), ("grade", ""), ("version", "0")];
    let to = location(&form(&c.co_teacher, &feedback, &stale, None).await);
    assert_eq!(to, format!("/assignment/{id}?msg=version_conflict"));
    let html = page(
        &c.co_teacher,
        &format!("/assignment/{id}?msg=version_conflict"),
    )
    .await
    .text();
    assert!(html.contains("Nothing was overwritten"), "{html}");
    assert!(html.contains(">Good</textarea>"), "{html}");
    // Not a teacher of the class: 403 / 404 messages; a bad version: a message.
    for (user, fields, word) in [
        (
            &c.student,
            [("comment", "Self"), ("grade", ""), ("version", "1")],
            "forbidden",
        ),
        (
            &c.other_teacher,
            [("comment", "Otto"), ("grade", ""), ("version", "1")],
            "not_found",
        ),
        (
            &c.stranger,
            [("comment", "Sam"), ("grade", ""), ("version", "1")],
            "not_found",
        ),
        (
            &c.teacher,
            [
                ("comment", "Long"),
                ("grade", &"x".repeat(33)),
                ("version", "1"),
            ],
            "invalid_input",
        ),
    ] {
        let to = location(&form(user, &feedback, &fields, None).await);
        assert_eq!(to, format!("/assignment/{id}?msg={word}"), "{user:?}");
    }
    let s = c
        .teacher
        .get(&format!("/api/v1/submissions/{sid}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(s["feedback"]["comment"], "Good", "{s}");
    assert_eq!(s["feedback"]["grade"], "A", "{s}");
    assert_eq!(s["feedback"]["version"], 1, "{s}");

    // Editing: teachers of the class only.
    let edit = format!("/assignment/{id}/edit");
    let to = location(&form(&c.student, &edit, &[("title", "Hacked")], None).await);
    assert_eq!(to, format!("/assignment/{id}?msg=forbidden"));
    let to = location(&form(&c.other_teacher, &edit, &[("title", "Hacked")], None).await);
    assert_eq!(to, format!("/assignment/{id}?msg=not_found"));
    let a = c
        .teacher
        .get(&format!("/api/v1/assignments/{id}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(a["title"], "Robots <1>");
}

async fn a_submission_opens_read_only_in_the_editor_only_for_its_student_and_teachers(db: TestDb) {
    let server = server(&db);
    let api = tests::Client::new(&server.base_url);
    let c = Class::on(&api).await;
    let starter = c
        .teacher
        .create_ok("Starter", &json!({"targets": []}))
        .await["id"]
        .as_i64()
        .unwrap();
    let id = create_with_form(&c, starter).await;
    location(
        &form(
            &c.student,
            &format!("/home/assignments/{id}/start"),
            &[],
            None,
        )
        .await,
    );
    location(
        &form(
            &c.student,
            &format!("/home/assignments/{id}/submit"),
            &[],
            None,
        )
        .await,
    );
    let sid = c
        .student
        .get(&format!("/api/v1/assignments/{id}"))
        .await
        .expect(StatusCode::OK)["my_submission"]["id"]
        .as_i64()
        .unwrap();
    let path = format!("/editor?submission={sid}");

    // The student and both teachers: the editor, read-only, with the banner.
    let student_name = c.student.info["display_name"].as_str().unwrap().to_owned();
    for user in [&c.student, &c.teacher, &c.co_teacher] {
        let reply = page(user, &path).await;
        assert_eq!(reply.status, StatusCode::OK, "{user:?}");
        let html = reply.text();
        assert!(html.contains(r#""readOnly":true"#), "{html}");
        assert!(
            html.contains(&format!(r#""submissionId":"{sid}""#)),
            "{html}"
        );
        assert!(
            html.contains(&format!(r#""projectId":"submission-{sid}""#)),
            "{html}"
        );
        assert!(
            html.contains(&format!("{student_name}’s submission of Robots &lt;1&gt;")),
            "{html}"
        );
        assert!(html.contains("scratch-gui-standalone.js"), "{html}");
    }
    // Anyone else: a 404 page, no editor, no config, and no body.
    for user in [
        &c.classmate,
        &c.other_teacher,
        &c.other_student,
        &c.stranger,
    ] {
        let reply = page(user, &path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{user:?}");
        let html = reply.text();
        assert!(html.contains("No such submission"), "{html}");
        assert!(
            !html.contains("readOnly") && !html.contains("scratch-gui"),
            "{html}"
        );
        page(user, &format!("/api/v1/submissions/{sid}/body"))
            .await
            .expect_problem(StatusCode::NOT_FOUND, "not_found");
    }
    // A submission that does not exist: the same page.
    let reply = page(&c.teacher, "/editor?submission=999999").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}
