//! Every error response is `application/problem+json` (RFC 9457) with a
//! stable `code` ([`service::Code`]). [`Problem`] is the one response type
//! for errors; [`status_of`] is the one table from code to HTTP status;
//! [`ProblemDto`] is the one body, serialised for clients and described in
//! the OpenAPI document. Service errors and actix's own extractor errors are
//! mapped here. Causes of 5xx are logged server-side; the client gets
//! generic text, never SQL, a file path or a panic message.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value};
use service::Code;
use utoipa::{PartialSchema, ToSchema};

/// The HTTP status of every problem code: one code, one status.
pub fn status_of(code: Code) -> StatusCode {
    match code {
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::Forbidden | Code::QuotaExceeded | Code::StorageQuotaExceeded | Code::CrossOrigin => {
            StatusCode::FORBIDDEN
        }
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Code::VersionConflict | Code::LastTeacher | Code::PastDue | Code::NotStarted => {
            StatusCode::CONFLICT
        }
        Code::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Code::VersionRequired => StatusCode::PRECONDITION_REQUIRED,
        Code::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        Code::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        Code::InvalidJson
        | Code::InvalidInput
        | Code::InvalidQuery
        | Code::InvalidIdempotencyKey
        | Code::IdempotencyKeyReused
        | Code::InvalidAssetName
        | Code::UnsupportedAssetType
        | Code::Md5Mismatch
        | Code::InvalidImage
        | Code::InvalidSb3
        | Code::InvalidBase64
        | Code::IncompleteBody
        | Code::UsernameTaken
        | Code::InvalidState
        | Code::InvalidReturnTo
        | Code::LoginRefused => StatusCode::BAD_REQUEST,
        Code::ProviderUnavailable | Code::Busy | Code::NotReady => StatusCode::SERVICE_UNAVAILABLE,
        Code::StorageError | Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error answer: a code, a human-readable detail and, for some codes,
/// extra members (`current_version`, `limit`, `quota`).
#[derive(Debug)]
pub struct Problem {
    pub code: Code,
    pub detail: String,
    pub extra: Map<String, Value>,
}

/// The problem+json body of every error (RFC 9457).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDto {
    /// Always `about:blank`: the `code` says what went wrong.
    #[serde(rename = "type")]
    #[schema(value_type = String, pattern = "^about:blank$")]
    pub kind: &'static str,
    /// The status's reason phrase.
    pub title: &'static str,
    /// The HTTP status, again.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// For people; may change.
    pub detail: String,
    /// Stable snake_case error code.
    #[schema(schema_with = crate::openapi::schemas::ProblemCode::schema)]
    pub code: &'static str,
    /// Data some codes carry (`current_version`, `limit`, `quota`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

impl Problem {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.code)
    }

    pub fn not_found() -> Self {
        Self::new(Code::NotFound, "no such resource")
    }

    pub fn internal() -> Self {
        Self::new(Code::Internal, "the server failed to handle this request")
    }

    pub fn body(&self) -> ProblemDto {
        let status = self.status();
        ProblemDto {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.as_str(),
            extra: self.extra.clone(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.status().as_u16();
        write!(f, "{status} {}: {}", self.code.as_str(), self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status();
        let mut resp = HttpResponse::build(status);
        resp.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            resp.insert_header((header::RETRY_AFTER, "1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        match serde_json::to_string(&self.body()) {
            Ok(text) => resp.body(text),
            Err(_) => resp.finish(),
        }
    }
}

/// Service errors: the code comes from the error, the detail is the error's
/// own text for client faults and generic text for server faults (whose
/// cause is logged here, once).
impl From<service::Error> for Problem {
    fn from(err: service::Error) -> Self {
        use service::Error as E;
        let code = err.code();
        match err {
            E::Unauthenticated => {
                Problem::new(code, "log in first (session cookie or Bearer token)")
            }
            E::Forbidden => Problem::new(code, "not allowed"),
            E::NotFound => Problem::not_found(),
            E::Invalid { detail, .. } => Problem::new(code, detail),
            E::VersionConflict { current_version } => Problem::new(
                code,
                "the project has changed since that version; re-read and retry",
            )
            .with("current_version", current_version),
            E::VersionRequired => Problem::new(
                code,
                "send the version you read (body `version` or `If-Match`)",
            ),
            E::QuotaExceeded { quota } => {
                Problem::new(code, format!("you may own at most {quota} projects"))
                    .with("quota", quota)
            }
            E::StorageQuotaExceeded { quota } => Problem::new(
                code,
                format!("this would take the bytes you store over your quota of {quota} bytes"),
            )
            .with("quota", quota),
            E::TooLarge { limit } => too_large(limit),
            E::ProviderUnavailable(msg) => {
                tracing::warn!(error = %msg, "identity provider unavailable");
                Problem::new(code, "the identity provider cannot be reached; try again")
            }
            E::Busy => busy(),
            E::Db(db_err) => {
                tracing::error!(error = %db_err, "database error");
                Problem::internal()
            }
            E::Storage(msg) => {
                tracing::error!(error = %msg, "blob storage error");
                Problem::new(code, "the server could not store or read a file")
            }
            E::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                Problem::internal()
            }
        }
    }
}

/// The body did not arrive within `CUBBY_BODY_TIMEOUT_SECS`.
pub fn body_timeout() -> Problem {
    Problem::new(
        Code::RequestTimeout,
        "the request body did not arrive in time",
    )
}

pub fn busy() -> Problem {
    Problem::new(
        Code::Busy,
        "the server is busy with concurrent changes; retry shortly",
    )
}

pub fn too_large(limit: u64) -> Problem {
    Problem::new(
        Code::TooLarge,
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
            Code::UnsupportedMediaType,
            "send the body as application/json",
        ),
        J::Deserialize(e) if e.is_data() => Problem::new(
            Code::InvalidInput,
            format!(
                "the JSON does not have the expected shape: {}",
                serde_detail(&e)
            ),
        ),
        J::Deserialize(_) => Problem::new(Code::InvalidJson, "the body is not valid JSON"),
        J::Payload(e) if crate::body_deadline::is_timeout(&e) => body_timeout(),
        _ => Problem::new(Code::InvalidJson, "the body could not be read as JSON"),
    }
}

/// A JSON body read by hand (routes that also take an empty body).
pub fn json_body_error(err: &serde_json::Error) -> Problem {
    if err.is_data() {
        Problem::new(
            Code::InvalidInput,
            format!(
                "the JSON does not have the expected shape: {}",
                serde_detail(err)
            ),
        )
    } else {
        Problem::new(Code::InvalidJson, "the body is not valid JSON")
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
        Code::InvalidQuery,
        format!(
            "bad query string: {}",
            err.to_string().chars().take(200).collect::<String>()
        ),
    )
}

pub fn form_error() -> Problem {
    Problem::new(
        Code::InvalidInput,
        "the form is missing fields or malformed",
    )
}

/// A path segment that does not parse (e.g. a non-numeric id) names nothing.
pub fn path_error() -> Problem {
    Problem::not_found()
}

pub fn method_not_allowed() -> Problem {
    Problem::new(
        Code::MethodNotAllowed,
        "this resource does not support that method",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code with the status clients rely on. Adding a code without
    /// adding it here fails `every_code_has_the_status_the_api_reference_names`.
    const STATUSES: &[(&str, u16)] = &[
        ("unauthenticated", 401),
        ("forbidden", 403),
        ("cross_origin", 403),
        ("not_found", 404),
        ("invalid_json", 400),
        ("invalid_input", 400),
        ("invalid_query", 400),
        ("too_large", 413),
        ("unsupported_media_type", 415),
        ("method_not_allowed", 405),
        ("past_due", 409),
        ("not_started", 409),
        ("version_conflict", 409),
        ("version_required", 428),
        ("quota_exceeded", 403),
        ("storage_quota_exceeded", 403),
        ("invalid_idempotency_key", 400),
        ("idempotency_key_reused", 400),
        ("invalid_asset_name", 400),
        ("unsupported_asset_type", 400),
        ("md5_mismatch", 400),
        ("invalid_image", 400),
        ("invalid_sb3", 400),
        ("invalid_base64", 400),
        ("incomplete_body", 400),
        ("request_timeout", 408),
        ("username_taken", 400),
        ("invalid_state", 400),
        ("invalid_return_to", 400),
        ("login_refused", 400),
        ("provider_unavailable", 503),
        ("too_many_requests", 429),
        ("last_teacher", 409),
        ("busy", 503),
        ("not_ready", 503),
        ("storage_error", 500),
        ("internal", 500),
    ];

    #[test]
    fn every_code_has_the_status_the_api_reference_names() {
        assert_eq!(Code::ALL.len(), STATUSES.len(), "a code is missing here");
        for code in Code::ALL {
            let expected = STATUSES
                .iter()
                .find(|(name, _)| *name == code.as_str())
                .map(|(_, status)| *status);
            assert_eq!(
                Some(status_of(*code).as_u16()),
                expected,
                "{}",
                code.as_str()
            );
        }
    }

    #[test]
    fn the_body_carries_status_code_and_extra_members() {
        let problem = Problem::from(service::Error::VersionConflict { current_version: 7 });
        let body = serde_json::to_value(problem.body()).unwrap();
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["title"], "Conflict");
        assert_eq!(body["status"], 409);
        assert_eq!(body["code"], "version_conflict");
        assert_eq!(body["current_version"], 7);
    }

    #[test]
    fn server_faults_never_show_their_cause() {
        for err in [
            service::Error::Internal("/var/lib/cubby/blobs/ab/cd missing".into()),
            service::Error::Storage("disk /dev/sda1 full".into()),
            service::Error::Db(service::db::DbErr::Custom("SELECT * FROM users".into())),
            service::Error::ProviderUnavailable("https://idp.internal:8443 refused".into()),
        ] {
            let text = serde_json::to_string(&Problem::from(err).body()).unwrap();
            for secret in ["/var", "/dev", "SELECT", "idp.internal"] {
                assert!(!text.contains(secret), "{text}");
            }
        }
    }
}
