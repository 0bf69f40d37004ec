//! Cross-origin writes (S2). A browser attaches the session cookie to a
//! request that another site makes it send; such a request must not change
//! anything. A cookie-authenticated `POST`/`PUT`/`PATCH`/`DELETE` is refused
//! (403 `cross_origin`, before any handler runs) when its `Origin` is present
//! and not cubby's own, or its `Sec-Fetch-Site` says `cross-site` or
//! `same-site` (a sibling subdomain is another site's page too). Requests
//! that carry their token in `Authorization` or `x-token` are not affected:
//! no browser adds those on its own.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest};
use service::Code;

use crate::extract::SESSION_COOKIE;
use crate::problem::Problem;
use crate::state::AppState;

/// The middleware (one for the whole app).
pub async fn refuse_cross_origin_writes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let public_url = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.config.public_url.clone());
    if is_cross_origin_write(req.request(), public_url.as_deref()) {
        tracing::info!(http.method = %req.method(), "refused a cross-origin write");
        let problem = Problem::new(
            Code::CrossOrigin,
            "this change must come from a page of this site",
        );
        return Ok(req.error_response(problem).map_into_boxed_body());
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn is_cross_origin_write(req: &HttpRequest, public_url: Option<&str>) -> bool {
    let unsafe_method = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if !unsafe_method || !is_cookie_authenticated(req) {
        return false;
    }
    let header_text = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("\u{0}").trim().to_ascii_lowercase())
    };
    if let Some(site) = header_text(header::HeaderName::from_static("sec-fetch-site")) {
        if site == "cross-site" || site == "same-site" {
            return true;
        }
    }
    match header_text(header::ORIGIN) {
        None => false,
        Some(origin) => origin != own_origin(req, public_url),
    }
}

/// The token travels in the session cookie and in no header (the stock
/// editor sends an empty `x-token` beside the cookie: that counts as none).
fn is_cookie_authenticated(req: &HttpRequest) -> bool {
    let header_token = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.trim().is_empty())
    };
    let has_cookie = req
        .cookie(SESSION_COOKIE)
        .is_some_and(|c| !c.value().is_empty());
    has_cookie && !header_token("authorization") && !header_token("x-token")
}

/// `scheme://host[:port]` of cubby as the browser sees it: the configured
/// public URL, else this request's scheme and `Host`.
fn own_origin(req: &HttpRequest, public_url: Option<&str>) -> String {
    if let Some(url) = public_url {
        return origin_of(url);
    }
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host()).to_ascii_lowercase()
}

/// The origin part of a URL: everything before the path.
fn origin_of(url: &str) -> String {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            format!("{scheme}://{authority}")
        }
        None => lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(method: Method, headers: &[(&str, &str)]) -> HttpRequest {
        let mut req = TestRequest::default()
            .method(method)
            .uri("/api/v1/projects")
            .insert_header((header::HOST, "cubby.school.example"));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        req.to_http_request()
    }

    const COOKIE: (&str, &str) = ("cookie", "cubby_session=abc");

    #[test]
    fn cookie_writes_from_other_origins_are_refused() {
        let refused: &[&[(&str, &str)]] = &[
            &[COOKIE, ("origin", "https://evil.example")],
            &[COOKIE, ("origin", "null")],
            &[
                COOKIE,
                ("origin", "http://cubby.school.example.evil.example"),
            ],
            &[COOKIE, ("origin", "http://cubby.school.example:8081")],
            &[COOKIE, ("sec-fetch-site", "cross-site")],
            &[COOKIE, ("sec-fetch-site", "same-site")],
            &[COOKIE, ("x-token", ""), ("origin", "https://evil.example")],
        ];
        for headers in refused {
            let req = request(Method::POST, headers);
            assert!(is_cross_origin_write(&req, None), "{headers:?}");
        }
    }

    #[test]
    fn own_origin_header_tokens_and_safe_methods_pass() {
        let allowed: &[(Method, &[(&str, &str)])] = &[
            (Method::POST, &[COOKIE]),
            (
                Method::POST,
                &[COOKIE, ("origin", "http://cubby.school.example")],
            ),
            (
                Method::POST,
                &[COOKIE, ("origin", "HTTP://Cubby.School.Example")],
            ),
            (Method::PUT, &[COOKIE, ("sec-fetch-site", "same-origin")]),
            (Method::DELETE, &[COOKIE, ("sec-fetch-site", "none")]),
            (Method::GET, &[COOKIE, ("origin", "https://evil.example")]),
            (
                Method::POST,
                &[
                    ("authorization", "Bearer t"),
                    ("origin", "https://evil.example"),
                ],
            ),
            (
                Method::POST,
                &[COOKIE, ("x-token", "t"), ("sec-fetch-site", "cross-site")],
            ),
            (Method::POST, &[("origin", "https://evil.example")]),
        ];
        for (method, headers) in allowed {
            let req = request(method.clone(), headers);
            assert!(!is_cross_origin_write(&req, None), "{method} {headers:?}");
        }
    }

    #[test]
    fn the_public_url_names_the_own_origin() {
        let public = Some("https://cubby.school.example/");
        let ok = request(
            Method::POST,
            &[COOKIE, ("origin", "https://cubby.school.example")],
        );
        assert!(!is_cross_origin_write(&ok, public));
        let plain = request(
            Method::POST,
            &[COOKIE, ("origin", "http://cubby.school.example")],
        );
        assert!(is_cross_origin_write(&plain, public));
        assert_eq!(
            origin_of("https://a.example:8443/x?y#z"),
            "https://a.example:8443"
        );
    }
}
