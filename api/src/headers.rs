//! Response headers that keep what cubby serves from acting on cubby's own
//! origin (S1). A student's upload is never a document of this site: an SVG
//! with a `<script>` opened directly gets a sandboxed, script-less context.
//! Every response is `nosniff` (set once for the whole app in `app.rs`).

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::HttpResponseBuilder;

/// For every stored file cubby serves (assets, backpack files, project
/// bodies): no script, no plugin, no form, no same-origin rights.
pub const STORED_FILE_CSP: &str = "default-src 'none'; sandbox";

/// For cubby's HTML pages: only cubby may frame them (clickjacking).
pub const PAGE_CSP: &str = "frame-ancestors 'self'";

pub const NOSNIFF: (HeaderName, HeaderValue) = (
    header::X_CONTENT_TYPE_OPTIONS,
    HeaderValue::from_static("nosniff"),
);

/// Marks a response as a stored file (see [`STORED_FILE_CSP`]).
pub fn stored_file(resp: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    resp.insert_header(NOSNIFF)
        .insert_header((header::CONTENT_SECURITY_POLICY, STORED_FILE_CSP))
}

/// Marks a response as one of cubby's HTML pages (see [`PAGE_CSP`]).
pub fn html_page(resp: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    resp.insert_header(NOSNIFF)
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_CSP))
        .insert_header((header::X_FRAME_OPTIONS, "SAMEORIGIN"))
}
