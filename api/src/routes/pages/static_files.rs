//! The stock editor's files, served at the site root (the bundle's public
//! path is `/`): every GET/HEAD no route claims.
//!
//! A file with a precompressed copy beside it (`<file>.br`, `<file>.gz`,
//! made by `cubby editor fetch`) is served as that copy when the browser
//! accepts its encoding (`Accept-Encoding` with q-values; brotli preferred
//! on a tie), with `Content-Encoding`, the original's content type, and the
//! copy's own `ETag` and `Last-Modified` (so a second visit is a 304).
//!
//! An installed editor has copies of every compressible file of 1 KiB or
//! more, so its bundle and chunks are never compressed per request. A
//! compressible file without a copy (smaller ones; or an editor installed
//! by hand, which logs a warning once) is left to the `Compress`
//! middleware, so it is still compressed when the client accepts it; any
//! other file (images, sounds, models) is served as it is: its answer says
//! `Content-Encoding: identity`, which `Compress` leaves alone and
//! [`drop_identity_encoding`] removes again on the way out.

use std::path::{Component, Path, PathBuf};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, ContentEncoding, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};

use super::editor_installed;
use crate::problem::Problem;
use crate::state::AppState;

/// A request path made safe to join to the editor directory: no `..`, no
/// hidden files, no absolute parts.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in Path::new(path.trim_start_matches('/')).components() {
        match part {
            Component::Normal(seg) => {
                let s = seg.to_str()?;
                if s.starts_with('.') || s.contains('\\') {
                    return None;
                }
                out.push(s);
            }
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// The editor's content types; JavaScript (workers too) as `text/javascript`.
fn mime_for(path: &Path) -> mime::Mime {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "js" | "mjs" => "text/javascript; charset=utf-8"
            .parse()
            .unwrap_or(mime::TEXT_JAVASCRIPT),
        "json" => mime::APPLICATION_JSON,
        "wasm" => "application/wasm"
            .parse()
            .unwrap_or(mime::APPLICATION_OCTET_STREAM),
        _ => mime_guess::from_path(path).first_or_octet_stream(),
    }
}

/// Every GET/HEAD no route claims: a file of the editor, or 404 problem+json.
pub async fn static_file(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Problem> {
    let (Some(root), true) = (state.config.editor_dir.as_deref(), editor_installed(&state)) else {
        return Err(Problem::not_found());
    };
    let rel = safe_relative(req.path()).ok_or_else(Problem::not_found)?;
    let path = root.join(&rel);
    if !path.is_file() {
        return Err(Problem::not_found());
    }
    let compressible = crate::editor::compressible(&path);
    let accepted = accepted_encodings(
        req.headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    let copy = accepted.into_iter().find_map(|(suffix, encoding)| {
        (compressible && crate::editor::is_fresh(&path, suffix))
            .then(|| (crate::editor::copy_path(&path, suffix), encoding))
    });
    let (served, encoding) = match copy {
        Some((copy, encoding)) => (copy, Some(encoding)),
        None if compressible => {
            warn_once_without_copies(&path);
            (path.clone(), None)
        }
        None => (path.clone(), Some(ContentEncoding::Identity)),
    };
    let mut file = actix_files::NamedFile::open(&served)
        .map_err(|_| Problem::not_found())?
        .set_content_type(mime_for(&path))
        .use_etag(true)
        .use_last_modified(true);
    if let Some(encoding) = encoding {
        file = file.set_content_encoding(encoding);
    }
    let mut resp = file.into_response(&req);
    if compressible {
        resp.headers_mut().insert(
            header::VARY,
            header::HeaderValue::from_static("accept-encoding"),
        );
    }
    // Bundles are content-hashed or versioned with the package: cache for a day.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=86400"),
    );
    Ok(resp)
}

/// Logs once per process that a large compressible editor file has no
/// precompressed copy (it is then compressed per request).
fn warn_once_without_copies(path: &Path) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let large =
        std::fs::metadata(path).is_ok_and(|m| m.len() >= crate::editor::PRECOMPRESS_MIN_BYTES);
    if large && !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            "the editor's files have no precompressed copies, so they are compressed per request; \
             run `cubby editor fetch <CUBBY_EDITOR_DIR>` once to add them"
        );
    }
}

/// The precompressed encodings the client accepts, best first: `(copy
/// suffix, encoding)`. Brotli wins a tie; `q=0` refuses; `*` stands for an
/// encoding not named.
fn accepted_encodings(accept: &str) -> Vec<(&'static str, ContentEncoding)> {
    let (mut br, mut gzip, mut star) = (None, None, None);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let br = br.or(star).unwrap_or(0.0);
    let gzip = gzip.or(star).unwrap_or(0.0);
    let mut out = Vec::new();
    if br > 0.0 && br >= gzip {
        out.push(("br", ContentEncoding::Brotli));
    }
    if gzip > 0.0 {
        out.push(("gz", ContentEncoding::Gzip));
    }
    if br > 0.0 && br < gzip {
        out.push(("br", ContentEncoding::Brotli));
    }
    out
}

/// Middleware outside `Compress`: removes the `Content-Encoding: identity`
/// by which [`static_file`] keeps `Compress` off its answers (a plain
/// answer needs no such header).
pub async fn drop_identity_encoding(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut resp = next.call(req).await?;
    let headers = resp.headers_mut();
    if headers.get(header::CONTENT_ENCODING) == Some(&HeaderValue::from_static("identity")) {
        headers.remove(header::CONTENT_ENCODING);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_q_values_choose_the_copy() {
        let names = |accept: &str| -> Vec<&str> {
            accepted_encodings(accept)
                .into_iter()
                .map(|(s, _)| s)
                .collect()
        };
        assert_eq!(names("gzip, deflate, br, zstd"), ["br", "gz"]);
        assert_eq!(names("gzip"), ["gz"]);
        assert_eq!(names("br;q=0.5, gzip;q=0.8"), ["gz", "br"]);
        assert_eq!(names("br;q=0, gzip"), ["gz"]);
        assert_eq!(names("gzip;q=0, *"), ["br"]);
        assert_eq!(names("*;q=0.1"), ["br", "gz"]);
        assert_eq!(names(""), Vec::<&str>::new());
        assert_eq!(names("identity"), Vec::<&str>::new());
        assert_eq!(names("BR , GZip ;q=1.0"), ["br", "gz"]);
    }

    #[test]
    fn editor_files_are_plain_relative_paths() {
        for (path, want) in [
            ("/scratch-gui-standalone.js", "scratch-gui-standalone.js"),
            ("/static/assets/a.svg", "static/assets/a.svg"),
            ("chunks/1.js", "chunks/1.js"),
        ] {
            assert_eq!(safe_relative(path), Some(PathBuf::from(want)), "{path}");
        }
    }

    #[test]
    fn traversal_hidden_files_and_odd_parts_are_refused() {
        for path in [
            "/",
            "",
            "/../etc/passwd",
            "/static/../../etc/passwd",
            "/./index.html",
            "/.env",
            "/static/.git/config",
            "/..",
            "/a\\..\\b",
            "/C:\\Windows",
            "//etc/passwd/..",
        ] {
            assert_eq!(safe_relative(path), None, "{path:?}");
        }
    }

    #[test]
    fn javascript_and_wasm_get_their_own_content_types() {
        assert_eq!(mime_for(Path::new("a.js")).essence_str(), "text/javascript");
        assert_eq!(
            mime_for(Path::new("w.mjs")).essence_str(),
            "text/javascript"
        );
        assert_eq!(
            mime_for(Path::new("m.wasm")).essence_str(),
            "application/wasm"
        );
        assert_eq!(
            mime_for(Path::new("l.json")).essence_str(),
            "application/json"
        );
        assert_eq!(mime_for(Path::new("i.svg")).essence_str(), "image/svg+xml");
    }
}
