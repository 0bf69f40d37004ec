//! The home page and the editor page, without a browser: what they show and
//! where they send you.

use reqwest::redirect::Policy;
use reqwest::StatusCode;
use tests::{Backend, Client, ServerOptions, TestDb, TestServer};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// A directory that looks like the editor's `dist/` to cubby.
fn fake_editor(db: &TestDb) -> std::path::PathBuf {
    let dir = db.scratch().join("editor");
    std::fs::create_dir_all(dir.join("chunks")).unwrap();
    std::fs::write(dir.join("scratch-gui-standalone.js"), "window.GUI = {};").unwrap();
    std::fs::write(dir.join("chunks/fetch-worker.abc.js"), "self.x = 1;").unwrap();
    std::fs::write(dir.join(".hidden"), "secret").unwrap();
    dir
}

#[tokio::test]
async fn the_home_page_logs_in_and_lists_projects() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let server = TestServer::spawn(&db, &ServerOptions::default());
    let http = no_redirects();

    let page = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"action="/auth/dev/form""#), "{html}");

    // The form logs in (no JavaScript) and comes back to the home page.
    let resp = http
        .post(server.url("/auth/dev/form"))
        .form(&[
            ("username", "lin"),
            ("role", "teacher"),
            ("groups", "7b, 8a"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let token = cookie
        .strip_prefix("cubby_session=")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();

    let api = Client::new(&server.base_url);
    let (_, me) = api.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me["role"], "teacher");
    assert_eq!(me["groups"].as_array().unwrap().len(), 2);
    let created = api
        .http
        .post(api.url("/api/v1/projects"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "Fish <& chips>", "body": {"targets": []}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);

    let html = http
        .get(server.url("/"))
        .header("cookie", format!("cubby_session={token}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("My projects") && html.contains("Shared with my classes"));
    assert!(
        html.contains("Fish &lt;&amp; chips&gt;"),
        "titles are escaped: {html}"
    );
    assert!(
        html.contains("cubby editor fetch"),
        "no editor: the page says how to install it"
    );

    // Copy from the home page.
    let copied = http
        .post(server.url("/home/copy/1"))
        .header("cookie", format!("cubby_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(copied.status(), StatusCode::SEE_OTHER);
    assert_eq!(db.count("projects", "parent_id = 1").await, 1);
}

#[tokio::test]
async fn the_editor_page_needs_a_login_and_an_installed_editor() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let http = no_redirects();
    let bare = TestServer::spawn(&db, &ServerOptions::default());
    let login = Client::new(&bare.base_url)
        .login("kai", "student", &[])
        .await;

    let resp = http
        .get(bare.url("/editor?project=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()["location"], "/");

    let resp = http
        .get(bare.url("/editor"))
        .bearer_auth(&login.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(resp.text().await.unwrap().contains("cubby editor fetch"));
    drop(bare);

    let dir = fake_editor(&db);
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_EDITOR_DIR", dir.display()),
    );
    let html = http
        .get(server.url("/editor?project=7"))
        .bearer_auth(&login.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"<script src="/scratch-gui-standalone.js">"#),
        "{html}"
    );
    assert!(
        html.contains(r#""projectId":"7""#) && html.contains(r#""username":"kai""#),
        "{html}"
    );
    assert!(
        html.contains("/projects")
            && html.contains("/backpack")
            && !html.contains("scratch.mit.edu")
    );

    // The GUI's files at the site root, JavaScript as text/javascript, gzip when asked.
    for path in ["/scratch-gui-standalone.js", "/chunks/fetch-worker.abc.js"] {
        let resp = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(
            resp.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
    }
    let gz = http
        .get(server.url("/scratch-gui-standalone.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    // Nothing outside the editor dir, nothing hidden, unknown files 404 problem+json.
    for path in [
        "/.hidden",
        "/%2e%2e/cubby.db",
        "/chunks/../../cubby.db",
        "/nope.js",
    ] {
        let resp = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
}

/// The pages' stylesheet is a resource of its own: every page links it by a
/// versioned URL (cacheable for good), any other URL of it revalidates, an
/// `If-None-Match` with its ETag is a 304, and it is cubby's even when the
/// editor directory holds a `cubby.css` (the route wins over the editor's
/// files at the site root).
#[tokio::test]
async fn the_stylesheet_is_its_own_cacheable_resource_linked_from_every_page() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let dir = fake_editor(&db);
    std::fs::write(dir.join("cubby.css"), "body{display:none}").unwrap();
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default().with("CUBBY_EDITOR_DIR", dir.display()),
    );
    let http = no_redirects();

    let login_page = http
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!login_page.contains("<style"), "not inlined: {login_page}");
    let start = login_page
        .find(r#"<link rel="stylesheet" href=""#)
        .expect("a stylesheet link")
        + r#"<link rel="stylesheet" href=""#.len();
    let href = &login_page[start..start + login_page[start..].find('"').unwrap()];
    assert!(href.starts_with("/cubby.css?v="), "{href}");
    let version = href.trim_start_matches("/cubby.css?v=");
    assert_eq!(version.len(), 16, "{href}");

    // The logged-in home page and the project page link the same URL.
    let api = Client::new(&server.base_url);
    let login = api.login("kai", "student", &[]).await;
    let created = api
        .http
        .post(api.url("/api/v1/projects"))
        .bearer_auth(&login.token)
        .json(&serde_json::json!({"title": "Kite", "body": {"targets": []}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    for path in ["/", "/project/1"] {
        let resp = http
            .get(server.url(path))
            .bearer_auth(&login.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let html = resp.text().await.unwrap();
        assert!(
            html.contains(href) && !html.contains("<style"),
            "{path}: {html}"
        );
    }

    let css = http.get(server.url(href)).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        css.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(css.headers()["x-content-type-options"], "nosniff");
    assert!(css.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let etag = css.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("W/\"{version}\""));
    let body = css.text().await.unwrap();
    assert!(
        body.contains(".cards{"),
        "cubby's, not the editor's: {body}"
    );

    // Unversioned (or an old version): revalidate every time.
    for path in ["/cubby.css", "/cubby.css?v=0000000000000000"] {
        let resp = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(resp.headers()["cache-control"], "no-cache", "{path}");
        assert_eq!(resp.headers()["etag"].to_str().unwrap(), etag, "{path}");
        assert_eq!(resp.text().await.unwrap(), body, "{path}");
    }
    // Revalidation: 304 for the current ETag (weak or strong, in a list), 200 for another.
    for sent in [
        etag.clone(),
        format!("\"{version}\""),
        format!("\"old\", {etag}"),
    ] {
        let resp = http
            .get(server.url("/cubby.css"))
            .header("if-none-match", &sent)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED, "{sent}");
        assert_eq!(resp.headers()["etag"].to_str().unwrap(), etag);
        assert!(resp.bytes().await.unwrap().is_empty());
    }
    let stale = http
        .get(server.url("/cubby.css"))
        .header("if-none-match", "W/\"0000000000000000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    // HEAD: the headers, no body; other methods: 405 with Allow.
    let head = http.head(server.url("/cubby.css")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-type"], "text/css; charset=utf-8");
    assert!(head.bytes().await.unwrap().is_empty());
    let post = http.post(server.url("/cubby.css")).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
}

/// The `window.CUBBY` object of an editor page, parsed.
fn editor_config(html: &str) -> serde_json::Value {
    let start = html.find("window.CUBBY = ").expect("the config") + "window.CUBBY = ".len();
    let end = start + html[start..].find(";</script>").expect("the config's end");
    serde_json::from_str(&html[start..end]).unwrap()
}

/// The editor page tells its script whose project it is (only the owner
/// saves; others get Remix) and the autosave interval, and shows the strip
/// with the way home and the status element.
#[tokio::test]
async fn the_editor_page_knows_the_owner_and_the_autosave_interval() {
    let db = TestDb::create(Backend::Sqlite).await.unwrap();
    let dir = fake_editor(&db);
    let server = TestServer::spawn(
        &db,
        &ServerOptions::default()
            .with("CUBBY_EDITOR_DIR", dir.display())
            .with("CUBBY_AUTOSAVE_SECONDS", 7),
    );
    let api = Client::new(&server.base_url);
    let ada = tests::projects::User::login(&api, "ada", "student", &[("7b", "Class 7B")]).await;
    let teacher = api.login("ms-lee", "teacher", &[("7b", "Class 7B")]).await;
    let id = ada
        .create_ok("Zoo <b>", &serde_json::json!({"targets": []}))
        .await["id"]
        .as_i64()
        .unwrap();
    let http = no_redirects();
    let page = |token: String, query: String| {
        let (http, server) = (&http, &server);
        async move {
            let resp = http
                .get(server.url(&format!("/editor{query}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            resp.text().await.unwrap()
        }
    };

    let html = page(ada.token.clone(), format!("?project={id}")).await;
    let cfg = editor_config(&html);
    assert_eq!(cfg["own"], true, "{cfg}");
    assert_eq!(cfg["ownerId"], ada.id, "{cfg}");
    assert_eq!(cfg["autosaveMs"], 7000, "{cfg}");
    assert_eq!(cfg["title"], "Zoo <b>", "{cfg}");
    assert!(
        !html.contains("Zoo <b>"),
        "the title is escaped in the script"
    );
    assert!(html.contains(r#"<a id="cubby-home" href="/">"#), "{html}");
    assert!(
        html.contains(r#"id="cubby-save-status" role="status" aria-live="polite""#),
        "{html}"
    );
    assert!(!html.contains(r#"id="cubby-owner""#), "{html}");

    // The teacher may read it but does not own it.
    let html = page(teacher.token.clone(), format!("?project={id}")).await;
    let cfg = editor_config(&html);
    assert_eq!(
        (cfg["own"].clone(), cfg["ownerId"].clone()),
        (false.into(), ada.id.into()),
        "{cfg}"
    );
    assert!(html.contains(r#"id="cubby-owner""#), "{html}");

    // A new project is the viewer's own.
    let cfg = editor_config(&page(teacher.token.clone(), String::new()).await);
    assert_eq!(
        (cfg["own"].clone(), cfg["ownerId"].clone()),
        (true.into(), serde_json::Value::Null),
        "{cfg}"
    );
}
