//! The one error type of the service layer, and [`Code`]: every stable
//! problem `code` cubby answers with, in one table. The `api` crate gives
//! each code its HTTP status (one `match`, in `api::problem`) and serialises
//! the problem body; nothing else in cubby spells a code as a string.

use sea_orm::DbErr;

use crate::blob::BlobError;

/// Declares [`Code`] with its wire spelling and the list of all codes, so
/// that a code cannot exist without a spelling or be missing from the list.
macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)*) => {
        /// A stable snake_case error code (the `code` member of problem+json).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The spelling clients see.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    /// No session, or an unknown or expired one.
    Unauthenticated => "unauthenticated",
    /// Known caller, not allowed.
    Forbidden => "forbidden",
    /// A cookie-authenticated write sent by another site's page.
    CrossOrigin => "cross_origin",
    /// Does not exist, or the caller may not know it exists.
    NotFound => "not_found",
    /// The body is not JSON.
    InvalidJson => "invalid_json",
    /// A value breaks a rule (type, length, range, shape).
    InvalidInput => "invalid_input",
    /// A query-string value breaks a rule.
    InvalidQuery => "invalid_query",
    /// A body over the configured limit.
    TooLarge => "too_large",
    /// The body's content type is not one the route takes.
    UnsupportedMediaType => "unsupported_media_type",
    /// The resource exists but not with that method.
    MethodNotAllowed => "method_not_allowed",
    /// The caller's `version` is stale.
    VersionConflict => "version_conflict",
    /// An update came without `version` or `If-Match`.
    VersionRequired => "version_required",
    /// A submit after the due time of an assignment that takes no late work.
    PastDue => "past_due",
    /// A submit before the student started the assignment.
    NotStarted => "not_started",
    /// The owner already has as many projects as the quota allows.
    QuotaExceeded => "quota_exceeded",
    /// The write would take the user's stored bytes over the storage quota.
    StorageQuotaExceeded => "storage_quota_exceeded",
    /// The `Idempotency-Key` header is not 1–255 visible ASCII characters.
    InvalidIdempotencyKey => "invalid_idempotency_key",
    /// The `Idempotency-Key` was used before for a different request.
    IdempotencyKeyReused => "idempotency_key_reused",
    /// An asset name that is not `{md5}.{ext}`.
    InvalidAssetName => "invalid_asset_name",
    /// An extension (or backpack mime type) cubby does not store.
    UnsupportedAssetType => "unsupported_asset_type",
    /// The md5 of the uploaded bytes is not the one in the name.
    Md5Mismatch => "md5_mismatch",
    /// A thumbnail whose bytes are neither a PNG nor a JPEG.
    InvalidImage => "invalid_image",
    /// An uploaded `.sb3` that is not a valid Scratch 3 project archive.
    InvalidSb3 => "invalid_sb3",
    /// A backpack field that is not base64.
    InvalidBase64 => "invalid_base64",
    /// The request body broke off before its end.
    IncompleteBody => "incomplete_body",
    /// The request body did not arrive within the deadline.
    RequestTimeout => "request_timeout",
    /// The username belongs to another account (another subject).
    UsernameTaken => "username_taken",
    /// An OIDC login state that is unknown, expired or already used.
    InvalidState => "invalid_state",
    /// A redirect target that is not a path on this site.
    InvalidReturnTo => "invalid_return_to",
    /// The identity provider's answer was not accepted.
    LoginRefused => "login_refused",
    /// The identity provider cannot be reached.
    ProviderUnavailable => "provider_unavailable",
    /// Too many login attempts (per IP or per username), or too many wrong
    /// join codes.
    TooManyRequests => "too_many_requests",
    /// Removing this member would leave a local class without a teacher.
    LastTeacher => "last_teacher",
    /// A database race that retries did not resolve, or no connection in time.
    Busy => "busy",
    /// The database or the blob store is not reachable (`/readyz`).
    NotReady => "not_ready",
    /// The blob store failed to write or read a file.
    StorageError => "storage_error",
    /// Anything else that failed on the server.
    Internal => "internal",
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No session, or an unknown or expired one.
    #[error("authentication required")]
    Unauthenticated,
    /// Known caller, not allowed.
    #[error("not allowed")]
    Forbidden,
    /// Does not exist, or the caller may not know it exists.
    #[error("not found")]
    NotFound,
    /// Input that breaks a rule; `code` says which kind of rule.
    #[error("{detail}")]
    Invalid { code: Code, detail: String },
    /// The caller's `version` is stale.
    #[error("the project has changed since version was read")]
    VersionConflict { current_version: i32 },
    /// An update came without `version` or `If-Match`.
    #[error("a version (or If-Match) is required")]
    VersionRequired,
    /// The owner already has `quota` projects.
    #[error("project quota of {quota} reached")]
    QuotaExceeded { quota: u32 },
    /// The write would take the user's stored bytes over `quota` (S8).
    #[error("storage quota of {quota} bytes reached")]
    StorageQuotaExceeded { quota: u64 },
    /// A body over the configured limit.
    #[error("larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The identity provider cannot be reached (message logged only).
    #[error("identity provider unavailable: {0}")]
    ProviderUnavailable(String),
    /// A database race that waiting did not resolve (retries exhausted), or no
    /// connection could be had in time.
    #[error("the server is busy; try again")]
    Busy,
    /// The blob store failed to write or read a file (message logged only).
    #[error("storage error: {0}")]
    Storage(String),
    /// Anything else from the database: logged, never shown to the client.
    #[error("database error: {0}")]
    Db(DbErr),
    /// A server-side failure that is not the database's (files, encoding).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(code: Code, detail: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            detail: detail.into(),
        }
    }

    /// The problem code this error is answered with.
    pub fn code(&self) -> Code {
        match self {
            Error::Unauthenticated => Code::Unauthenticated,
            Error::Forbidden => Code::Forbidden,
            Error::NotFound => Code::NotFound,
            Error::Invalid { code, .. } => *code,
            Error::VersionConflict { .. } => Code::VersionConflict,
            Error::VersionRequired => Code::VersionRequired,
            Error::QuotaExceeded { .. } => Code::QuotaExceeded,
            Error::StorageQuotaExceeded { .. } => Code::StorageQuotaExceeded,
            Error::TooLarge { .. } => Code::TooLarge,
            Error::ProviderUnavailable(_) => Code::ProviderUnavailable,
            Error::Busy => Code::Busy,
            Error::Storage(_) => Code::StorageError,
            Error::Db(_) | Error::Internal(_) => Code::Internal,
        }
    }
}

/// Database errors, mapped once: a pool that has no connection to give in
/// time is "busy" (503, retry shortly), like a race that retries did not
/// win; everything else is an internal error.
impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        if matches!(err, DbErr::ConnectionAcquire(_)) {
            tracing::warn!(error = %err, "no database connection available");
            return Error::Busy;
        }
        Error::Db(err)
    }
}

/// Blob-store errors, mapped once. A file that a row references and that is
/// not there is a server fault, not a client's "not found"; the one place
/// where a missing file is expected (a version pruned between two reads)
/// checks for [`BlobError::NotFound`] before converting.
impl From<BlobError> for Error {
    fn from(err: BlobError) -> Self {
        match err {
            BlobError::NotFound => Error::Internal("a referenced file is missing".into()),
            BlobError::Io(e) => Error::Storage(e.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_with_a_snake_case_spelling() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} listed twice");
            assert!(
                !text.is_empty()
                    && text
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{text} is not snake_case"
            );
        }
    }

    #[test]
    fn a_pool_timeout_is_busy_and_other_database_errors_are_internal() {
        let timeout = Error::from(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout));
        assert_eq!(timeout.code(), Code::Busy);
        let other = Error::from(DbErr::Custom("boom".into()));
        assert_eq!(other.code(), Code::Internal);
    }

    #[test]
    fn a_missing_blob_is_internal_and_an_io_failure_is_a_storage_error() {
        assert_eq!(Error::from(BlobError::NotFound).code(), Code::Internal);
        let io = BlobError::Io(std::io::Error::other("disk full"));
        assert_eq!(Error::from(io).code(), Code::StorageError);
    }
}
