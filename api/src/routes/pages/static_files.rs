//! The stock editor's files, served at the site root (the bundle's public
//! path is `/`): every GET/HEAD no route claims.

use std::path::{Component, Path, PathBuf};

use actix_web::http::header;
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
    let file = actix_files::NamedFile::open(&path)
        .map_err(|_| Problem::not_found())?
        .set_content_type(mime_for(&path))
        .use_last_modified(true);
    let mut resp = file.into_response(&req);
    // Bundles are content-hashed or versioned with the package: cache for a day.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=86400"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

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
