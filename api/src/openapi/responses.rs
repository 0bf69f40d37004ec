//! The error responses, one per status, shared by every operation as
//! `#/components/responses/…`: each is `application/problem+json` with the
//! [`ProblemDto`](crate::problem::ProblemDto) body. The codes behind each
//! status are the one table in `crate::problem::status_of`.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::ToResponse;

/// The media type of every error.
pub const PROBLEM_JSON: &str = "application/problem+json";

fn problem(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        PROBLEM_JSON,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ProblemDto")))
            .build(),
    )
}

fn header(description: &str, t: Type) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(t))
        .description(Some(description))
        .build()
}

/// Declares a unit type per shared response: name, then its builder.
macro_rules! responses {
    ($($(#[$doc:meta])* $name:ident => $response:expr;)*) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), RefOr::T($response.build()))
                }
            }
        )*

        /// The names of all shared responses (for the document's test).
        pub const ALL: &[&str] = &[$(stringify!($name)),*];
    };
}

responses! {
    /// 400.
    BadRequest => problem(
        "The request is malformed or breaks a rule: `invalid_json`, `invalid_input`, \
         `invalid_query`, `invalid_asset_name`, `unsupported_asset_type`, `md5_mismatch`, \
         `invalid_base64`, `incomplete_body`, `invalid_idempotency_key`, \
         `idempotency_key_reused`, `username_taken`, `invalid_return_to`, `invalid_state`, \
         `login_refused`.",
    );
    /// 401.
    Unauthenticated => problem(
        "`unauthenticated`: no valid session (send `Authorization: Bearer <token>` or the \
         `cubby_session` cookie).",
    )
    .header("WWW-Authenticate", header("`Bearer`", Type::String));
    /// 403.
    Forbidden => problem(
        "`forbidden` (the caller may see it but not do this), `cross_origin` (a \
         cookie-authenticated write from another site's page), `quota_exceeded` (with \
         `quota`, in projects) or `storage_quota_exceeded` (with `quota`, in bytes).",
    );
    /// 404.
    NotFound => problem(
        "`not_found`: it does not exist, or the caller may not know that it does.",
    );
    /// 408.
    RequestTimeout => problem(
        "`request_timeout`: the body did not arrive within `CUBBY_BODY_TIMEOUT_SECS`.",
    );
    /// 409.
    Conflict => problem(
        "`version_conflict`: someone saved first; `current_version` says what to re-read. \
         `past_due`: the assignment was due and takes no late work. `not_started`: start \
         the assignment before submitting.",
    );
    /// 413.
    TooLarge => problem("`too_large`: the body is over its limit (`limit`, in bytes).");
    /// 415.
    UnsupportedMediaType => problem(
        "`unsupported_media_type`: send the body as `application/json`.",
    );
    /// 428.
    VersionRequired => problem(
        "`version_required`: send the version you read (`version` or `If-Match`).",
    );
    /// 429.
    TooManyRequests => problem(
        "`too_many_requests`: too many login attempts from this address or for this user.",
    )
    .header("Retry-After", header("Seconds to wait.", Type::Integer));
    /// 500.
    ServerError => problem(
        "`internal` or `storage_error`: the server failed (the cause is logged, never sent).",
    );
    /// 503.
    Unavailable => problem(
        "`busy` (too many concurrent changes; nothing was written), `not_ready` or \
         `provider_unavailable`: try again.",
    )
    .header("Retry-After", header("Seconds to wait.", Type::Integer));
}
