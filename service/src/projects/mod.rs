//! Projects: create, read, save with versions, share, copy, delete to the
//! trash, restore, purge.
//!
//! Every write follows the same shape (docs/ARCHITECTURE.md, "Invariants"):
//! write any new body file first; then, inside [`crate::tx::run`], lock the
//! rows the rule depends on, check, and write; commit; and only then delete
//! the files the commit unreferenced. If the transaction fails, the files
//! this request wrote are deleted (the filesystem rollback, `rows::Written`),
//! so no row ever points at a missing file and no file outlives a failed
//! request (G11).
//!
//! | file | what |
//! |---|---|
//! | `rules.rs` | pure checks: title, body size, "is a JSON object", slugs |
//! | `rows.rs` | row helpers every write shares: `live` (the trash rule), locks, version rows, `Written` |
//! | `create.rs` | create and copy (quota under the owner's row lock) |
//! | `save.rs` | update and version restore: the version check in the `UPDATE`, then pruning |
//! | `share.rs` | the share set |
//! | `trash.rs` | delete (to the trash), the trash list, restore, purge, gc's purge |
//! | `read.rs` | get, body, versions, lists |
//! | `thumbnail.rs` | the project's thumbnail: set (owner), read (readers) |

mod committed;
mod create;
pub(crate) mod for_assignment;
mod read;
mod rows;
pub mod rules;
mod save;
mod share;
mod thumbnail;
mod trash;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use committed::CommittedVersions;
pub(crate) use create::create_imported;
pub use create::{copy, create};
pub use read::{body, get, group_projects, list, version_body, versions};
pub use rules::{slug_base, DEFAULT_TITLE};
pub use save::{restore_version, update};
pub use share::{add_share, set_shares};
pub use thumbnail::{image_type, set_thumbnail, thumbnail, Thumbnail, MAX_THUMBNAIL_BYTES};
pub use trash::{delete, list_trash, purge, purge_expired, restore, Trashed};

/// A project as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: i64,
    pub owner_id: i64,
    pub title: String,
    pub slug: String,
    pub version: i32,
    pub parent_id: Option<i64>,
    pub body_size: i64,
    pub body_md5: String,
    pub shared_with: Vec<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One kept version of a project's body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Version {
    pub version: i32,
    pub author_id: i64,
    pub body_size: i64,
    pub body_md5: String,
    pub created_at: DateTime<Utc>,
}

/// What a create or copy returned, and whether it is the replay of an
/// earlier request with the same `Idempotency-Key`.
#[derive(Clone, Debug)]
pub struct Created {
    pub project: Project,
    pub replayed: bool,
}

/// A project to create: `body` is the project JSON, `parent_id` the
/// project it was copied or remixed from (the Scratch editor's copy sends
/// its own body).
#[derive(Clone, Copy, Debug)]
pub struct NewProject<'a> {
    pub title: Option<&'a str>,
    pub body: &'a [u8],
    pub parent_id: Option<i64>,
}

/// How an update treats `expected_version == None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// `/api/v1`: a version (or If-Match) is required (428 without).
    Required,
    /// The Scratch editor's unversioned PUT: save on top of the latest
    /// version; the overwritten one stays in the history.
    Latest,
}

/// A save: the version the client read (if any), a new title and/or body.
#[derive(Clone, Debug, Default)]
pub struct Update {
    pub expected_version: Option<i32>,
    pub title: Option<String>,
    pub body: Option<Vec<u8>>,
}

/// Which projects a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Mine,
    Shared,
}
