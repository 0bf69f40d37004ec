//! Every error response is `application/problem+json` (RFC 9457) with a
//! stable `code`. [`Problem`] is the one response type for errors; service
//! errors and actix's own extractor errors are mapped to it here, in one table.
//! Causes of 5xx are logged server-side; the client gets generic text, never
//! SQL, a file path or a panic message.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Map, Value};

#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub extra: Map<String, Value>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle this request",
        )
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "code": self.code,
        });
        if let Value::Object(map) = &mut body {
            for (k, v) in &self.extra {
                map.insert(k.clone(), v.clone());
            }
        }
        body
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        resp.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            || self.status == StatusCode::TOO_MANY_REQUESTS
        {
            resp.insert_header((header::RETRY_AFTER, "1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        resp.body(self.body().to_string())
    }
}

/// The status/code table for service errors.
impl From<service::Error> for Problem {
    fn from(err: service::Error) -> Self {
        use service::Error as E;
        match err {
            E::Unauthenticated => Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "log in first (session cookie or Bearer token)",
            ),
            E::Forbidden => Problem::new(StatusCode::FORBIDDEN, "forbidden", "not allowed"),
            E::NotFound => Problem::not_found(),
            E::Invalid { code, detail } => Problem::new(StatusCode::BAD_REQUEST, code, detail),
            E::VersionConflict { current_version } => Problem::new(
                StatusCode::CONFLICT,
                "version_conflict",
                "the project has changed since that version; re-read and retry",
            )
            .with("current_version", current_version),
            E::VersionRequired => Problem::new(
                StatusCode::PRECONDITION_REQUIRED,
                "version_required",
                "send the version you read (body `version` or `If-Match`)",
            ),
            E::QuotaExceeded { quota } => Problem::new(
                StatusCode::FORBIDDEN,
                "quota_exceeded",
                format!("you may own at most {quota} projects"),
            )
            .with("quota", quota),
            E::TooLarge { limit } => too_large(limit),
            E::Busy => busy(),
            E::Db(sea_orm_err) => {
                if is_pool_timeout(&sea_orm_err) {
                    tracing::warn!(error = %sea_orm_err, "no database connection available");
                    return busy();
                }
                tracing::error!(error = %sea_orm_err, "database error");
                Problem::internal()
            }
            E::Storage(msg) => {
                tracing::error!(error = %msg, "blob storage error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage_error",
                    "the server could not store or read a file",
                )
            }
            E::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                Problem::internal()
            }
        }
    }
}

fn is_pool_timeout(err: &service::db::DbErr) -> bool {
    matches!(err, service::db::DbErr::ConnectionAcquire(_))
}

pub fn busy() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "the server is busy with concurrent changes; retry shortly",
    )
}

pub fn too_large(limit: u64) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the body is larger than the limit of {limit} bytes"),
    )
    .with("limit", limit)
}

/// Bad JSON bodies: syntax, wrong types, too large, wrong content type.
pub fn json_error(err: actix_web::error::JsonPayloadError, limit: u64) -> Problem {
    use actix_web::error::JsonPayloadError as J;
    match err {
        J::Overflow { .. } | J::OverflowKnownLength { .. } => too_large(limit),
        J::ContentType => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        J::Deserialize(e) if e.is_data() => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            format!(
                "the JSON does not have the expected shape: {}",
                serde_detail(&e)
            ),
        ),
        J::Deserialize(_) => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body is not valid JSON",
        ),
        _ => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body could not be read as JSON",
        ),
    }
}

/// serde's message names the field and the expected type; it never holds
/// server-side data, only what the client sent and the shape we expect.
fn serde_detail(err: &serde_json::Error) -> String {
    let msg = err.to_string();
    msg.chars().take(300).collect()
}

pub fn query_error(err: actix_web::error::QueryPayloadError) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_query",
        format!(
            "bad query string: {}",
            err.to_string().chars().take(200).collect::<String>()
        ),
    )
}

/// A path segment that does not parse (e.g. a non-numeric id) names nothing.
pub fn path_error() -> Problem {
    Problem::not_found()
}

pub fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this resource does not support that method",
    )
}
