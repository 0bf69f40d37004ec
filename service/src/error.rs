//! The one error type of the service layer. Each variant has a stable meaning
//! that the `api` crate turns into a status code and a problem+json `code`.

use sea_orm::DbErr;

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
    /// Input that breaks a rule; `code` is the stable problem code.
    #[error("{detail}")]
    Invalid { code: &'static str, detail: String },
    /// The caller's `version` is stale.
    #[error("the project has changed since version was read")]
    VersionConflict { current_version: i32 },
    /// An update came without `version` or `If-Match`.
    #[error("a version (or If-Match) is required")]
    VersionRequired,
    /// The owner already has `quota` projects.
    #[error("project quota of {quota} reached")]
    QuotaExceeded { quota: u32 },
    /// A body over the configured limit.
    #[error("larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// A database race that waiting did not resolve (retries exhausted), or no
    /// connection could be had in time.
    #[error("the server is busy; try again")]
    Busy,
    /// The blob store failed to write or read a file (message logged only).
    #[error("storage error: {0}")]
    Storage(String),
    /// Anything else from the database: logged, never shown to the client.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// A server-side failure that is not the database's (files, encoding).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        Error::Invalid {
            code,
            detail: detail.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
