//! `GET /cubby.css`: the one stylesheet of cubby's pages, served as a
//! resource of its own so a browser fetches it once, not inside every page.
//!
//! The pages link it as `/cubby.css?v=<version>`, where the version is a
//! hash of the stylesheet taken at compile time: a new cubby with a changed
//! stylesheet links a new URL, so the versioned URL may be cached for good
//! (`immutable`). Any other URL of it (no `v`, or an old one) is answered
//! with `no-cache`, so the browser asks again each time and gets a 304 from
//! the `ETag` while nothing changed.
//!
//! The path is a route of its own, registered before the fallback that
//! serves the editor's files at the site root, so a `cubby.css` in an
//! editor directory could never replace it.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::headers::stored_file;
use crate::openapi::responses::{ServerError, Unavailable};
use crate::openapi::schemas::AnyText;
use utoipa::PartialSchema;

/// The stylesheet itself.
const STYLE: &str = include_str!("style.css");

/// FNV-1a (64 bits): enough to tell two versions of one file apart, and a
/// `const fn`, so the version costs nothing at run time.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

const VERSION: u64 = fnv1a(STYLE.as_bytes());

/// The stylesheet's version, as the pages put it in the URL and the ETag.
fn version() -> String {
    format!("{VERSION:016x}")
}

/// The URL every page's `<head>` links.
pub(crate) fn href() -> String {
    format!("/cubby.css?v={}", version())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StyleQuery {
    /// The stylesheet's version, as the pages link it. Any value is
    /// answered with the current stylesheet; only the current version is
    /// marked cacheable for good.
    #[param(schema_with = AnyText::schema)]
    v: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct StyleIfNoneMatch {
    /// An `ETag` of an earlier answer: 304 while it is still current.
    #[param(rename = "If-None-Match", schema_with = AnyText::schema)]
    pub etag: Option<String>,
}

/// `GET /cubby.css`: the pages' stylesheet.
#[utoipa::path(method(get, head), path = "/cubby.css", tag = "pages", operation_id = "stylesheet",
    params(StyleQuery, StyleIfNoneMatch),
    responses((status = 200, description = "the stylesheet", content_type = "text/css",
                body = inline(AnyText),
                headers(("ETag" = String, description = "`W/\"<version>\"`"), ("Cache-Control" = String))),
              (status = 304, description = "not modified", headers(("ETag" = String))),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn stylesheet(req: HttpRequest) -> HttpResponse {
    let version = version();
    let etag = format!("W/\"{version}\"");
    // The versioned URL never changes content; any other may. A query that
    // does not parse is just not the versioned URL (never a 400 for a
    // stylesheet).
    let asked = web::Query::<StyleQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().v);
    let cache = match asked.as_deref() {
        Some(v) if v == version => "public, max-age=31536000, immutable",
        _ => "no-cache",
    };
    if not_modified(&req, &version) {
        return stored_file(&mut HttpResponse::NotModified())
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish();
    }
    stored_file(&mut HttpResponse::Ok())
        .content_type("text/css; charset=utf-8")
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .body(STYLE)
}

/// Whether `If-None-Match` names this version (weak comparison, RFC 9110
/// §13.1.2: the compression middleware may change the bytes, not the sense).
fn not_modified(req: &HttpRequest, version: &str) -> bool {
    let quoted = format!("\"{version}\"");
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.trim_start_matches("W/") == quoted
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_follows_the_content() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv1a(b"a{color:red}"), fnv1a(b"a{color:blue}"));
        assert_eq!(version().len(), 16);
        assert!(href().starts_with("/cubby.css?v="));
    }
}
