//! Saving a project: a new version under the project's row lock (G1, G2),
//! never after a committed delete (G7); old versions beyond the kept number
//! are pruned in the same transaction and their files deleted after it. The
//! owner's storage count changes by the new version's bytes less the pruned
//! ones', in the same transaction (S8): a save that would go over is refused
//! before its body file is written.

use chrono::{DateTime, Utc};
use entity::{project, project_version};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use super::rows::{
    fault_before_commit, find_version, insert_version, live_project, lock_for_owner, shares_of,
    to_project, version_row, BodyFile, Written,
};
use super::rules::{check_body, check_title, md5_hex};
use super::{Precondition, Project, Update};
use crate::access::access;
use crate::auth::User;
use crate::blob::delete_all;
use crate::error::{Error, Result};
use crate::storage_quota;
use crate::tx::{self, Kind};
use crate::{now, Ctx};

/// `PUT /api/v1/projects/{id}` (and the Scratch editor's save).
#[tracing::instrument(skip_all, fields(user.id = caller.id, project.id = id))]
pub async fn update(
    ctx: &Ctx,
    caller: &User,
    id: i64,
    update: Update,
    precondition: Precondition,
) -> Result<Project> {
    if update.expected_version.is_none() && precondition == Precondition::Required {
        return Err(Error::VersionRequired);
    }
    let body = match &update.body {
        Some(body) => {
            check_body(ctx, body)?;
            NewBody::Bytes(body.as_slice(), body.len() as i64, md5_hex(body))
        }
        None => NewBody::Current,
    };
    let title = update.title.as_deref().map(check_title).transpose()?;
    save(
        ctx,
        caller,
        id,
        update.expected_version,
        precondition,
        title.as_deref(),
        body,
    )
    .await
}

/// `POST /api/v1/projects/{id}/versions/{v}/restore`: a save (the same path
/// as `update`, with its version check, pruning and storage count) whose new
/// body is a copy of kept version `version`'s, byte for byte; 404 when that
/// version is unknown or pruned.
#[tracing::instrument(skip_all, fields(user.id = caller.id, project.id = id, version))]
pub async fn restore_version(
    ctx: &Ctx,
    caller: &User,
    id: i64,
    version: i32,
    expected_version: Option<i32>,
) -> Result<Project> {
    save(
        ctx,
        caller,
        id,
        expected_version,
        Precondition::Required,
        None,
        NewBody::Version(version),
    )
    .await
}

/// The body of a save's new version.
enum NewBody<'a> {
    /// The bytes the request sent, their size and md5.
    Bytes(&'a [u8], i64, String),
    /// The current version's (a title-only save).
    Current,
    /// A kept version's (a version restore).
    Version(i32),
}

/// The one save path: `update` and `restore_version` differ only in where
/// the new version's body comes from.
async fn save(
    ctx: &Ctx,
    caller: &User,
    id: i64,
    expected_version: Option<i32>,
    precondition: Precondition,
    title: Option<&str>,
    new_body: NewBody<'_>,
) -> Result<Project> {
    if expected_version.is_none() && precondition == Precondition::Required {
        return Err(Error::VersionRequired);
    }
    // On SQLite, write transactions take turns in the process's queue
    // (`tx`). A save whose version is already stale can only be refused, so
    // it is refused from a plain read and takes no turn: on a hot project
    // the crowd of stale saves would otherwise queue behind every winner
    // and delay the next one. (Versions only grow, so a stale version
    // read here is stale at the turn too.) A save expecting the version
    // this process committed last is most likely current and skips the
    // read: only another process's save could have moved the project on,
    // and the transaction finds that out.
    if let Some(expected) = expected_version {
        let read_first = ctx.retry.queues_writers() && !ctx.committed.is_newest(id, expected);
        if read_first {
            if let Some(refused) = refused_as_stale(ctx, caller, id, expected).await? {
                return Err(refused);
            }
        }
    }
    // Files this request wrote (one per attempt): whatever the outcome,
    // only the committed one may stay.
    let mut written = Written::default();

    // A stale save that reaches its turn in SQLite's queue (it read its
    // version before another save committed) gives the turn back unused;
    // its answer is then read outside the turn.
    let result = tx::run_unless(
        &ctx.db,
        &ctx.retry,
        "project.save",
        Kind::Edit,
        || {
            let stale = expected_version.is_some_and(|v| ctx.committed.is_stale(id, v));
            stale.then_some(GaveTurnBack)
        },
        async |txn| {
            // Lock, check and write in one step: concurrent saves queue on
            // the row (G1, G2), and a save after a committed delete finds
            // no row (G7). See `advance_version` for why the check is in
            // the UPDATE itself.
            let at = now();
            let from = match expected_version {
                Some(expected) => expected,
                None => lock_for_owner(txn, caller, id).await?.version,
            };
            // A version restore reads its source row first: if the UPDATE
            // below then wins, no save committed in between (it would have
            // moved the version), so no prune can have taken that row.
            let restored = match &new_body {
                NewBody::Version(v) => match find_version(txn, id, *v).await? {
                    Some(row) => Some(row),
                    None => return Err(missing_version(txn, caller, id, from).await),
                },
                _ => None,
            };
            let changes = Changes {
                title,
                body: match (&new_body, &restored) {
                    (NewBody::Bytes(_, size, md5), _) => Some((*size, md5.as_str())),
                    (_, Some(row)) => Some((row.body_size, row.body_md5.as_str())),
                    _ => None,
                },
                at,
            };
            let Some(p) = advance_version(txn, caller, id, from, &changes).await? else {
                return Err(refusal(txn, caller, id).await);
            };
            // The new version's body: the request's or a copy of a kept
            // version's file (the current one's for a title-only save; its
            // row read before pruning, which may take it).
            let (size, md5, source) = match (&new_body, restored) {
                (NewBody::Bytes(bytes, size, md5), _) => {
                    (*size, md5.clone(), Source::Request(bytes))
                }
                (_, Some(row)) => (row.body_size, row.body_md5, Source::Copy(row.body_file)),
                (_, None) => {
                    let current = version_row(txn, id, from).await?;
                    let source = Source::Copy(current.body_file);
                    (current.body_size, current.body_md5, source)
                }
            };
            let pruned = prune_versions(ctx, txn, id, p.version).await?;
            // The project's row is locked; now its owner's (S8).
            storage_quota::change(ctx, txn, caller.id, size - pruned.bytes).await?;
            // The body file is written only now, by the one save that won
            // the version (lock, compare, write) within the quota: a crowd of
            // stale saves on a hot project writes and fsyncs nothing.
            let file = match &source {
                Source::Request(bytes) => ctx.blobs.put(bytes).await?,
                // Files are never shared between rows, so the body is copied.
                Source::Copy(current) => ctx.blobs.put(&ctx.blobs.get(current).await?).await?,
            };
            written.push(file.clone());
            let body = BodyFile {
                file: &file,
                size,
                md5: &md5,
            };
            insert_version(txn, id, p.version, caller.id, &body, at).await?;
            fault_before_commit(ctx)?;
            let project = to_project(p, shares_of(txn, id).await?);
            Ok((project, file, pruned.files))
        },
    )
    .await;

    let result = match result {
        Ok(Ok(saved)) => Ok(saved),
        Ok(Err(GaveTurnBack)) => Err(refusal(&ctx.db, caller, id).await),
        Err(err) => Err(err),
    };
    match result {
        Ok((project, file, pruned)) => {
            ctx.committed.record(id, project.version);
            written.delete_except(ctx, Some(&file)).await;
            // Only now, after the commit, may unreferenced files go.
            delete_all(&ctx.blobs, &pruned).await;
            Ok(project)
        }
        Err(err) => {
            written.delete_except(ctx, None).await;
            Err(err)
        }
    }
}

/// A save that gave its turn in SQLite's queue back: this process already
/// committed a newer version than the one it expects.
struct GaveTurnBack;

/// Where a new version's body comes from.
enum Source<'a> {
    /// The bytes the save sent.
    Request(&'a [u8]),
    /// The file of the current version (a title-only save).
    Copy(String),
}

/// What a save changes on the project row besides its version.
struct Changes<'a> {
    title: Option<&'a str>,
    /// The new body's size and md5; `None` keeps the current ones.
    body: Option<(i64, &'a str)>,
    at: DateTime<Utc>,
}

/// Moves the project from version `from` to `from + 1` if, and only if, it
/// is still at `from` and `caller` owns it, and returns the updated row;
/// `None` otherwise. (`UPDATE … RETURNING` where the backend has it, so the
/// winner reads its row back without another round trip under the lock.)
///
/// The check is part of the UPDATE, not a `SELECT … FOR UPDATE` before it:
/// the UPDATE takes the same row lock, but a save that waited for the lock
/// and then finds the version moved gets its answer at once and *does not
/// hold the lock*, so a crowd of stale saves no longer queues one by one
/// behind each winner (measured: see docs/PERFORMANCE.md, "What the profile
/// showed, and what changed").
/// On SQLite the transaction already holds the write lock (IMMEDIATE).
async fn advance_version(
    txn: &DatabaseTransaction,
    caller: &User,
    id: i64,
    from: i32,
    changes: &Changes<'_>,
) -> Result<Option<project::Model>> {
    let Some(next) = from.checked_add(1) else {
        // No project gets this far; a client that claims so is simply stale.
        return Ok(None);
    };
    let mut update = project::Entity::update_many()
        .col_expr(project::Column::Version, Expr::value(next))
        .col_expr(project::Column::UpdatedAt, Expr::value(changes.at));
    if let Some(title) = changes.title {
        update = update.col_expr(project::Column::Title, Expr::value(title));
    }
    if let Some((size, md5)) = changes.body {
        update = update
            .col_expr(project::Column::BodySize, Expr::value(size))
            .col_expr(project::Column::BodyMd5, Expr::value(md5));
    }
    // No `deleted_at IS NULL` here: with it, MariaDB plans the UPDATE as a
    // range scan of an index on `deleted_at` (EXPLAIN shows it) and locks
    // that index's whole live range, so every save waits on every other
    // owner's and a move to the trash (which changes the index) deadlocks
    // with the savers. The row is checked after the UPDATE instead, under
    // the row lock the UPDATE took: a trashed project's save fails, and
    // the caller's transaction rolls the UPDATE back (G7).
    let update = update
        .filter(project::Column::Id.eq(id))
        .filter(project::Column::Version.eq(from))
        .filter(project::Column::OwnerId.eq(caller.id));
    let row = if txn.support_returning() {
        update.exec_with_returning(txn).await?.into_iter().next()
    } else if update.exec(txn).await?.rows_affected == 1 {
        project::Entity::find_by_id(id).one(txn).await?
    } else {
        None
    };
    match row {
        Some(p) if p.deleted_at.is_some() => Err(Error::NotFound),
        row => Ok(row),
    }
}

/// Why `advance_version` changed nothing: the project is gone (or in the
/// trash) or not the caller's to edit, or (for its owner) the version moved on.
async fn refusal(db: &impl ConnectionTrait, caller: &User, id: i64) -> Error {
    match live_project(db, id).await {
        Ok(Some(p)) => refusal_of(db, caller, &p).await,
        Ok(None) => Error::NotFound,
        Err(e) => e,
    }
}

/// Why a save of `p` is refused: the caller may not write it (404, 403), or
/// its version is not the one the save expected (409).
async fn refusal_of(db: &impl ConnectionTrait, caller: &User, p: &project::Model) -> Error {
    match access(db, caller, p).await.and_then(|a| a.require_owner()) {
        Ok(()) => Error::VersionConflict {
            current_version: p.version,
        },
        Err(e) => e,
    }
}

/// The refusal of a save that expects `expected` when the project's
/// version, read without a lock, is already another; `None` when the save
/// may go on to its transaction (which decides everything else).
async fn refused_as_stale(
    ctx: &Ctx,
    caller: &User,
    id: i64,
    expected: i32,
) -> Result<Option<Error>> {
    match live_project(&ctx.db, id).await? {
        Some(p) if p.version != expected => Ok(Some(refusal_of(&ctx.db, caller, &p).await)),
        _ => Ok(None),
    }
}

/// The answer to a version restore whose source version is not kept: what a
/// save would answer (404, 403, or 409 when stale), else 404 for the version.
async fn missing_version(txn: &DatabaseTransaction, caller: &User, id: i64, from: i32) -> Error {
    match refusal(txn, caller, id).await {
        Error::VersionConflict { current_version } if current_version == from => Error::NotFound,
        other => other,
    }
}

/// The version rows a save pruned: their files (to delete after the commit)
/// and their bytes (given back to the owner, S8).
#[derive(Default)]
struct Pruned {
    files: Vec<String>,
    bytes: i64,
}

impl Pruned {
    fn of(rows: Vec<project_version::Model>) -> Pruned {
        Pruned {
            bytes: rows.iter().map(|v| v.body_size).sum(),
            files: rows.into_iter().map(|v| v.body_file).collect(),
        }
    }
}

/// Deletes the version rows beyond the newest `keep_versions` of a project
/// now at `version` (the new version's row is not inserted yet).
/// Versions are numbered without gaps, so "beyond the newest N" is the
/// index range `version <= current - N`: one `DELETE … RETURNING` per save
/// (PostgreSQL, SQLite) instead of walking past N rows and deleting by id.
async fn prune_versions(
    ctx: &Ctx,
    txn: &DatabaseTransaction,
    project_id: i64,
    version: i32,
) -> Result<Pruned> {
    let newest_pruned = i64::from(version) - i64::from(ctx.settings.keep_versions);
    if newest_pruned < 1 {
        return Ok(Pruned::default());
    }
    let pruned = project_version::Entity::delete_many()
        .filter(project_version::Column::ProjectId.eq(project_id))
        .filter(project_version::Column::Version.lte(newest_pruned));
    if txn.support_returning() {
        // One statement: delete and learn which files to remove.
        return Ok(Pruned::of(pruned.exec_with_returning(txn).await?));
    }
    // MariaDB: read the range, then delete it (the project row lock keeps
    // it the same range).
    let old = project_version::Entity::find()
        .filter(project_version::Column::ProjectId.eq(project_id))
        .filter(project_version::Column::Version.lte(newest_pruned))
        .all(txn)
        .await?;
    if old.is_empty() {
        return Ok(Pruned::default());
    }
    pruned.exec(txn).await?;
    Ok(Pruned::of(old))
}
