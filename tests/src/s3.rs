//! A real S3-compatible server for the object-storage tests: `moto_server`
//! (PyPI `moto[server]`, pinned in `.ci/run`) on 127.0.0.1 and a free port,
//! one per test, killed when dropped. [`Moto::bucket`] makes a fresh bucket
//! and says how a `cubby` process reaches it ([`S3Bucket::env`]); the
//! bucket's objects can be listed, read and written behind cubby's back.
//!
//! The binary is `CUBBY_TEST_MOTO_SERVER`, else `moto_server` on `PATH`.
//! Without it [`Moto::start`] says the test skipped and returns `None`;
//! under `CI=true` it fails the test instead (like the browser test).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::server::{free_loopback_port, ServerOptions};

/// The secret key every test process gets: a value no message may contain.
pub const SECRET_KEY: &str = "cubby-test-secret-7Qx2Vb9Lm4";
const ACCESS_KEY: &str = "cubby-test-access";

/// A well-formed but unsigned AWS4 Authorization header: moto refuses some
/// anonymous requests (GetObject answers 403, as S3 does for a private
/// object) but checks no signature, so any such header makes the caller
/// someone.
const DUMMY_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=cubby-test-access/20200101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

/// Where the blobs go inside each test bucket (exercises the prefix).
pub const PREFIX: &str = "cubby/blobs";

/// A running `moto_server`, killed on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    http: reqwest::Client,
    log_path: PathBuf,
}

static BUCKET_SEQ: AtomicUsize = AtomicUsize::new(0);

/// The `moto_server` to run, or why there is none.
fn moto_binary() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("CUBBY_TEST_MOTO_SERVER") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "CUBBY_TEST_MOTO_SERVER={} is not a file",
                path.display()
            ))
        };
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join("moto_server"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "no moto_server (pip install \"moto[server]\"; or set CUBBY_TEST_MOTO_SERVER)".into()
        })
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

impl Moto {
    /// Starts `moto_server` and waits until it answers; `None` (after
    /// saying so) when it is not installed, a failure under `CI=true`.
    /// `log_dir` keeps its output (a test's scratch directory).
    pub async fn start(log_dir: &Path) -> Option<Moto> {
        let binary = match moto_binary() {
            Ok(found) => found,
            Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("the S3 tests must run in CI: {why}")
            }
            Err(why) => {
                eprintln!("skipped: S3 blob store test ({why})");
                return None;
            }
        };
        // The port is free when picked but could be taken before moto binds
        // it: try a few.
        let mut last_log = String::new();
        for _ in 0..3 {
            match Self::try_start(&binary, log_dir).await {
                Ok(moto) => return Some(moto),
                Err(log) => last_log = log,
            }
        }
        panic!("moto_server did not start; its output:\n{last_log}");
    }

    async fn try_start(binary: &Path, log_dir: &Path) -> Result<Moto, String> {
        let port = free_loopback_port();
        let log_path = log_dir.join(format!("moto-{port}.log"));
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let err_log = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err_log))
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", binary.display()))?;
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            http: http_client(),
            log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = moto.child.try_wait() {
                break; // exited: the port was taken, or it cannot run
            }
            // ListBuckets: any HTTP answer means it serves.
            if moto.http.get(&moto.endpoint).send().await.is_ok() {
                return Ok(moto);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        moto.stop();
        Err(moto.log())
    }

    /// A new, empty bucket of this test's own.
    pub async fn bucket(&self) -> S3Bucket {
        let name = format!(
            "cubby-t-{}-{}",
            std::process::id(),
            BUCKET_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        // moto accepts unsigned requests; in us-east-1 a bucket needs no body.
        let resp = self
            .http
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .expect("create bucket");
        assert!(
            resp.status().is_success(),
            "create bucket: {}",
            resp.status()
        );
        S3Bucket {
            endpoint: self.endpoint.clone(),
            name,
            http: self.http.clone(),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One bucket on a [`Moto`].
#[derive(Clone)]
pub struct S3Bucket {
    pub endpoint: String,
    pub name: String,
    http: reqwest::Client,
}

/// The values between `<tag>` and `</tag>`, in order.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(after[..end].to_owned());
        rest = &after[end + close.len()..];
    }
    found
}

impl S3Bucket {
    /// `CUBBY_BLOB_STORE` for this bucket (with [`PREFIX`]).
    pub fn blob_store(&self) -> String {
        format!("s3://{}/{PREFIX}", self.name)
    }

    /// The `AWS_*` connection settings for a process that talks to this
    /// bucket's server, and `CUBBY_BLOB_STORE`.
    pub fn env(&self) -> Vec<(String, String)> {
        aws_env(&self.endpoint)
            .into_iter()
            .chain([("CUBBY_BLOB_STORE".to_owned(), self.blob_store())])
            .collect()
    }

    /// Server options with [`env`](Self::env).
    pub fn options(&self) -> ServerOptions {
        let mut opts = ServerOptions::default();
        opts.env.extend(self.env());
        opts
    }

    /// Every object name in the bucket, sorted (one page is enough for a test).
    pub async fn objects(&self) -> Vec<String> {
        let xml = self.list_xml("list-type=2", "ListBucketResult").await;
        assert!(
            !xml.contains("<IsTruncated>true</IsTruncated>"),
            "more objects than one page: {xml}"
        );
        let mut names = xml_values(&xml, "Key");
        names.sort();
        names
    }

    /// The blob keys stored under [`PREFIX`] (objects named
    /// `<PREFIX>/<2 hex>/<30 hex>`), sorted.
    pub async fn blob_keys(&self) -> Vec<String> {
        let prefix = format!("{PREFIX}/");
        let is_hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        self.objects()
            .await
            .iter()
            .filter_map(|name| {
                let (dir, file) = name.strip_prefix(&prefix)?.split_once('/')?;
                let shaped = dir.len() == 2 && file.len() == 30 && is_hex(dir) && is_hex(file);
                shaped.then(|| format!("{dir}{file}"))
            })
            .collect()
    }

    /// How many multipart uploads were started and neither completed nor aborted.
    pub async fn unfinished_uploads(&self) -> usize {
        let xml = self.list_xml("uploads", "ListMultipartUploadsResult").await;
        xml_values(&xml, "UploadId").len()
    }

    /// `GET /<bucket>?<query>`: the XML answer, which must be a `<root>`.
    async fn list_xml(&self, query: &str, root: &str) -> String {
        let resp = self
            .http
            .get(format!("{}/{}?{query}", self.endpoint, self.name))
            .header("authorization", DUMMY_AUTHORIZATION)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET ?{query}: {e}"));
        assert!(
            resp.status().is_success(),
            "GET ?{query}: {}",
            resp.status()
        );
        let xml = resp.text().await.expect("listing body");
        assert!(xml.contains(&format!("<{root}")), "{xml}");
        xml
    }

    /// The object name a blob key has in this bucket.
    pub fn object_of(key: &str) -> String {
        format!("{PREFIX}/{}/{}", &key[..2], &key[2..])
    }

    /// Writes an object directly (not through cubby).
    pub async fn put_object(&self, name: &str, bytes: Vec<u8>) {
        let resp = self
            .http
            .put(format!("{}/{}/{name}", self.endpoint, self.name))
            .body(bytes)
            .send()
            .await
            .expect("put object");
        assert!(resp.status().is_success(), "put object: {}", resp.status());
    }

    /// Reads an object directly; `None` when it does not exist.
    pub async fn get_object(&self, name: &str) -> Option<Vec<u8>> {
        if !self.objects().await.iter().any(|n| n == name) {
            return None;
        }
        let resp = self
            .http
            .get(format!("{}/{}/{name}", self.endpoint, self.name))
            .header("authorization", DUMMY_AUTHORIZATION)
            .send()
            .await
            .expect("get object");
        assert!(resp.status().is_success(), "get object: {}", resp.status());
        Some(resp.bytes().await.expect("object bytes").to_vec())
    }
}

/// The `AWS_*` variables that point object_store at `endpoint` (plain HTTP,
/// path-style, fixed test credentials with [`SECRET_KEY`]).
pub fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT", endpoint),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}
