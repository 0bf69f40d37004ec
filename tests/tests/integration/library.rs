//! `cubby library fetch|import|status` against a fake asset CDN (a small
//! HTTP server in this process) and a tiny fake editor whose catalogues
//! name seven files: one served corrupt (bytes ≠ md5), one missing (404),
//! one slow, one that fails once with 503, one that appears only later;
//! and the editor page's banner while the library is incomplete.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use tests::projects::md5_hex;
use tests::server::cubby_command;
use tests::{Client, ServerOptions, TestDb, TestServer};

crate::on_backends!(
    library_fetch_refuses_bad_files_reports_and_resumes,
    library_fetch_killed_midway_resumes,
    library_import_from_a_folder_and_a_zip,
    editor_page_banner_until_the_library_is_installed,
);

/// How the fake CDN answers for one file.
#[derive(Clone, Debug)]
pub(crate) enum Serve {
    Bytes(Vec<u8>),
    /// The bytes, after a pause.
    Slow(Vec<u8>, Duration),
    /// 503 this many more times, then the bytes.
    FailFirst(usize, Vec<u8>),
    NotFound,
}

/// A tiny HTTP/1.1 server: `GET /<md5ext>` answered from `files`, every
/// request counted in `hits` (also the browser test's CDN, `browser.rs`).
pub(crate) struct FakeCdn {
    port: u16,
    files: Arc<Mutex<HashMap<String, Serve>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl FakeCdn {
    pub(crate) fn start(files: HashMap<String, Serve>) -> FakeCdn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let files = Arc::new(Mutex::new(files));
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let (f, h) = (files.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (f, h) = (f.clone(), h.clone());
                std::thread::spawn(move || {
                    let _ = answer(stream, &f, &h);
                });
            }
        });
        FakeCdn { port, files, hits }
    }

    pub(crate) fn template(&self) -> String {
        format!("http://127.0.0.1:{}/{{md5ext}}", self.port)
    }

    fn set(&self, name: &str, serve: Serve) {
        self.files.lock().unwrap().insert(name.to_owned(), serve);
    }

    /// Requests per file so far.
    fn hits(&self) -> HashMap<String, usize> {
        self.hits.lock().unwrap().clone()
    }

    fn total_hits(&self) -> usize {
        self.hits().values().sum()
    }
}

fn answer(
    stream: TcpStream,
    files: &Mutex<HashMap<String, Serve>>,
    hits: &Mutex<HashMap<String, usize>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    let name = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_owned();
    *hits.lock().unwrap().entry(name.clone()).or_default() += 1;
    let serve = {
        let mut files = files.lock().unwrap();
        let serve = files.get(&name).cloned().unwrap_or(Serve::NotFound);
        if let Serve::FailFirst(n, bytes) = &serve {
            let next = match n {
                0 | 1 => Serve::Bytes(bytes.clone()),
                n => Serve::FailFirst(n - 1, bytes.clone()),
            };
            files.insert(name.clone(), next);
        }
        serve
    };
    let (status, body) = match serve {
        Serve::Bytes(b) => ("200 OK", b),
        Serve::Slow(b, pause) => {
            std::thread::sleep(pause);
            ("200 OK", b)
        }
        Serve::FailFirst(0, b) => ("200 OK", b),
        Serve::FailFirst(_, _) => ("503 Service Unavailable", b"busy".to_vec()),
        Serve::NotFound => ("404 Not Found", b"no such asset".to_vec()),
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    out.write_all(&body)?;
    out.flush()
}

/// The fake library: seven files, each `(md5ext, true bytes)`.
struct Library {
    files: Vec<(String, Vec<u8>)>,
}

impl Library {
    fn new() -> Library {
        let svg = |tag: &str| {
            format!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><title>{tag}</title></svg>"#
            )
            .into_bytes()
        };
        let raw = |tag: &str| format!("RIFF-{tag}-fake-bytes").into_bytes();
        let files = [
            ("svg", svg("costume a")),
            ("svg", svg("costume b (served corrupt)")),
            ("wav", raw("sound c (missing)")),
            ("png", raw("backdrop d (slow)")),
            ("svg", svg("sprite costume e")),
            ("wav", raw("sprite sound f (503 once)")),
            ("svg", svg("sprite costume g (late)")),
        ]
        .into_iter()
        .map(|(ext, bytes)| (format!("{}.{ext}", md5_hex(&bytes)), bytes))
        .collect();
        Library { files }
    }

    /// The i-th file's name (0 = a, …, 6 = g).
    fn name(&self, i: usize) -> &str {
        &self.files[i].0
    }

    fn bytes(&self, i: usize) -> &[u8] {
        &self.files[i].1
    }

    /// A fake editor `dist/`: the bundle's file and four catalogues naming
    /// the files (sprites by their costumes and sounds).
    fn editor_dir(&self, db: &TestDb) -> PathBuf {
        let dir = db.scratch().join("editor");
        std::fs::create_dir_all(dir.join("libraries")).unwrap();
        std::fs::write(dir.join("scratch-gui-standalone.js"), "window.GUI = {};").unwrap();
        let entry = |i: usize| {
            let (name, _) = &self.files[i];
            let (id, ext) = name.split_once('.').unwrap();
            serde_json::json!({"name": format!("item {i}"), "assetId": id, "md5ext": name, "dataFormat": ext})
        };
        let write = |file: &str, value: serde_json::Value| {
            std::fs::write(dir.join("libraries").join(file), value.to_string()).unwrap()
        };
        write("costumes.json", serde_json::json!([entry(0), entry(1)]));
        write("sounds.json", serde_json::json!([entry(2)]));
        write("backdrops.json", serde_json::json!([entry(3)]));
        write(
            "sprites.json",
            serde_json::json!([
                {"name": "Sprite", "isStage": false, "costumes": [entry(4), entry(0), entry(6)], "sounds": [entry(5)]}
            ]),
        );
        dir
    }
}

/// `cubby library ARGS` with the fake editor (and no proxy between it and
/// the fake CDN). The browser test of the library uses it too.
pub(crate) fn library_cmd(db: &TestDb, editor: &Path, args: &[&str]) -> Output {
    let mut cmd = cubby_command(db);
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CUBBY_EDITOR_DIR", editor)
        .arg("library")
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The summary line (`library: fetched …` / `library: imported …`).
pub(crate) fn summary(out: &Output) -> String {
    stdout(out)
        .lines()
        .find(|l| l.contains("already present"))
        .unwrap_or_else(|| panic!("no summary in {:?} / {:?}", stdout(out), stderr(out)))
        .to_owned()
}

async fn get_asset(server: &TestServer, name: &str) -> (StatusCode, String, Vec<u8>) {
    let client = Client::new(&server.base_url);
    let resp = client
        .http
        .get(server.url(&format!("/assets/internalapi/asset/{name}/get/")))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ctype, resp.bytes().await.unwrap().to_vec())
}

async fn library_fetch_refuses_bad_files_reports_and_resumes(db: TestDb) {
    let lib = Library::new();
    let editor = lib.editor_dir(&db);
    let cdn = FakeCdn::start(HashMap::from([
        (lib.name(0).to_owned(), Serve::Bytes(lib.bytes(0).to_vec())),
        (
            lib.name(1).to_owned(),
            Serve::Bytes(b"<svg>tampered</svg>".to_vec()),
        ),
        (lib.name(2).to_owned(), Serve::NotFound),
        (
            lib.name(3).to_owned(),
            Serve::Slow(lib.bytes(3).to_vec(), Duration::from_millis(1500)),
        ),
        (lib.name(4).to_owned(), Serve::Bytes(lib.bytes(4).to_vec())),
        (
            lib.name(5).to_owned(),
            Serve::FailFirst(1, lib.bytes(5).to_vec()),
        ),
        (lib.name(6).to_owned(), Serve::NotFound),
    ]));
    let from = cdn.template();

    // Before: nothing stored.
    let out = library_cmd(&db, &editor, &["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "library: 0 of 7 files stored (7 missing)"
    );

    // First run: the corrupt file is refused, the missing ones reported,
    // the slow one waited for, the 503 retried; exit status = failures.
    let out = library_cmd(&db, &editor, &["fetch", "--from", &from]);
    assert_eq!(
        summary(&out),
        "library: fetched 4, already present 0, failed 3 (missing 2, md5 mismatch 1, other 0)"
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("md5 mismatch, refused: {}", lib.name(1))),
        "{err}"
    );
    assert!(
        err.contains(&format!("missing (HTTP 404): {}", lib.name(2))),
        "{err}"
    );
    assert!(
        err.contains(&format!("missing (HTTP 404): {}", lib.name(6))),
        "{err}"
    );
    let hits = cdn.hits();
    for i in [0, 1, 2, 3, 4, 6] {
        assert_eq!(hits[lib.name(i)], 1, "file {i}: {hits:?}");
    }
    assert_eq!(hits[lib.name(5)], 2, "the 503 is retried once: {hits:?}");
    assert_eq!(db.count("assets", "1=1").await, 4);
    // Owned by nobody: the library costs no user's storage (S8).
    assert_eq!(db.count("assets", "created_by IS NULL").await, 4);
    let out = library_cmd(&db, &editor, &["status"]);
    assert_eq!(
        stdout(&out).trim(),
        "library: 4 of 7 files stored (3 missing)"
    );

    // Second run, the CDN mended but for one file: only the three not
    // stored are asked for (an interrupted run resumes where it stopped).
    cdn.set(lib.name(1), Serve::Bytes(lib.bytes(1).to_vec()));
    cdn.set(lib.name(6), Serve::Bytes(lib.bytes(6).to_vec()));
    let before = cdn.total_hits();
    let out = library_cmd(&db, &editor, &["fetch", "--from", &from]);
    assert_eq!(
        summary(&out),
        "library: fetched 2, already present 4, failed 1 (missing 1, md5 mismatch 0, other 0)"
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(cdn.total_hits() - before, 3);
    let hits = cdn.hits();
    assert_eq!(
        (hits[lib.name(1)], hits[lib.name(2)], hits[lib.name(6)]),
        (2, 2, 2)
    );

    // Third run gets the last file; a fourth asks for nothing.
    cdn.set(lib.name(2), Serve::Bytes(lib.bytes(2).to_vec()));
    let out = library_cmd(&db, &editor, &["fetch", "--from", &from]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        summary(&out),
        "library: fetched 1, already present 6, failed 0 (missing 0, md5 mismatch 0, other 0)"
    );
    let before = cdn.total_hits();
    let out = library_cmd(&db, &editor, &["fetch", "--from", &from]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        summary(&out),
        "library: fetched 0, already present 7, failed 0 (missing 0, md5 mismatch 0, other 0)"
    );
    assert_eq!(
        cdn.total_hits(),
        before,
        "a complete library fetches nothing"
    );
    let out = library_cmd(&db, &editor, &["status"]);
    assert_eq!(
        stdout(&out).trim(),
        "library: 7 of 7 files stored (0 missing)"
    );
    assert_eq!(db.count("assets", "created_by IS NULL").await, 7);

    // Served like every asset, without login.
    let server = TestServer::spawn(&db, &ServerOptions::default());
    for (i, ctype) in [(0, "image/svg+xml"), (3, "image/png"), (5, "audio/wav")] {
        let (status, got_type, bytes) = get_asset(&server, lib.name(i)).await;
        assert_eq!(status, StatusCode::OK, "file {i}");
        assert_eq!(got_type, ctype, "file {i}");
        assert_eq!(bytes, lib.bytes(i), "file {i}");
    }

    // A bad template is refused before anything is asked.
    let out = library_cmd(&db, &editor, &["fetch", "--from", "http://127.0.0.1:1/x"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("{md5ext}"), "{}", stderr(&out));
}

async fn library_fetch_killed_midway_resumes(db: TestDb) {
    let lib = Library::new();
    let editor = lib.editor_dir(&db);
    let pause = Duration::from_millis(700);
    let cdn = FakeCdn::start(
        lib.files
            .iter()
            .map(|(name, bytes)| (name.clone(), Serve::Slow(bytes.clone(), pause)))
            .collect(),
    );
    // The schema first, so the test can count rows while the fetch runs.
    tests::server::run_cubby(&db, &["migrate", "up"]);
    let mut cmd = cubby_command(&db);
    let mut child = cmd
        .env("CUBBY_EDITOR_DIR", &editor)
        .args([
            "library",
            "fetch",
            "--concurrency",
            "1",
            "--from",
            &cdn.template(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed (SIGKILL, as in a crash) once two files are stored.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while db.count("assets", "1=1").await < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no file stored within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let stored = db.count("assets", "1=1").await as usize;
    assert!((2..7).contains(&stored), "{stored} stored before the kill");

    // The rerun asks only for the files not stored (each once) and completes.
    let before = cdn.total_hits();
    let out = library_cmd(&db, &editor, &["fetch", "--from", &cdn.template()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        summary(&out),
        format!(
            "library: fetched {}, already present {stored}, failed 0 (missing 0, md5 mismatch 0, other 0)",
            7 - stored
        )
    );
    assert_eq!(cdn.total_hits() - before, 7 - stored);
    assert_eq!(db.count("assets", "1=1").await, 7);
}

async fn library_import_from_a_folder_and_a_zip(db: TestDb) {
    let lib = Library::new();
    let editor = lib.editor_dir(&db);

    // A folder with a, c, d, a corrupt b, and a file the catalogue does not name.
    let folder = db.scratch().join("import-folder");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    for i in [0, 2] {
        std::fs::write(folder.join(lib.name(i)), lib.bytes(i)).unwrap();
    }
    std::fs::write(folder.join("sub").join(lib.name(3)), lib.bytes(3)).unwrap();
    std::fs::write(folder.join(lib.name(1)), b"<svg>tampered</svg>").unwrap();
    let stranger = b"not in the catalogue";
    std::fs::write(folder.join(format!("{}.svg", md5_hex(stranger))), stranger).unwrap();

    let out = library_cmd(&db, &editor, &["import", folder.to_str().unwrap()]);
    assert_eq!(
        summary(&out),
        "library: imported 3, already present 0, failed 4 (missing 3, md5 mismatch 1, other 0)"
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("skipped 1 files the catalogue does not name"),
        "{}",
        stdout(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!("md5 mismatch, refused: {}", lib.name(1))),
        "{err}"
    );
    assert!(
        err.contains(&format!("missing (not in the import): {}", lib.name(6))),
        "{err}"
    );
    assert_eq!(db.count("assets", "1=1").await, 3);

    // A zip with every file (in a folder inside it): the four still missing
    // are stored, the three present left alone.
    let zip_path = db.scratch().join("library.zip");
    {
        let file = std::fs::File::create(&zip_path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.add_directory("library/", opts).unwrap();
        for (name, bytes) in &lib.files {
            zip.start_file(format!("library/{name}"), opts).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }
    let out = library_cmd(&db, &editor, &["import", zip_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        summary(&out),
        "library: imported 4, already present 3, failed 0 (missing 0, md5 mismatch 0, other 0)"
    );
    let out = library_cmd(&db, &editor, &["status"]);
    assert_eq!(
        stdout(&out).trim(),
        "library: 7 of 7 files stored (0 missing)"
    );
    assert_eq!(db.count("assets", "created_by IS NULL").await, 7);

    // Neither a folder nor a zip.
    let out = library_cmd(
        &db,
        &editor,
        &[
            "import",
            editor.join("libraries/sounds.json").to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("neither a folder nor a zip"),
        "{}",
        stderr(&out)
    );

    let server = TestServer::spawn(&db, &ServerOptions::default());
    let (status, _, bytes) = get_asset(&server, lib.name(1)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, lib.bytes(1));
}

async fn editor_page(server: &TestServer) -> String {
    let client = Client::new(&server.base_url);
    let login = client.login("ann", "student", &[]).await;
    let resp = client
        .http
        .get(server.url("/editor"))
        .header("cookie", format!("cubby_session={}", login.token))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.unwrap()
}

async fn editor_page_banner_until_the_library_is_installed(db: TestDb) {
    let lib = Library::new();
    let editor = lib.editor_dir(&db);
    let opts = ServerOptions::default().with("CUBBY_EDITOR_DIR", editor.display());

    let server = TestServer::spawn(&db, &opts);
    let html = editor_page(&server).await;
    assert!(
        html.contains(r#"id="cubby-library-banner" role="status""#),
        "{html}"
    );
    assert!(html.contains("<code>cubby library fetch</code>"), "{html}");
    assert!(html.contains("0 of 7 files stored"), "{html}");
    assert!(html.contains(r#""libraryInstalled":false"#), "{html}");
    // Above the editor.
    assert!(html.find("cubby-library-banner") < html.find(r#"id="app""#));
    drop(server);

    let folder = db.scratch().join("all");
    std::fs::create_dir_all(&folder).unwrap();
    for (name, bytes) in &lib.files {
        std::fs::write(folder.join(name), bytes).unwrap();
    }
    let out = library_cmd(&db, &editor, &["import", folder.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    let server = TestServer::spawn(&db, &opts);
    let html = editor_page(&server).await;
    assert!(!html.contains("cubby-library-banner"), "{html}");
    assert!(html.contains(r#""libraryInstalled":true"#), "{html}");
}
