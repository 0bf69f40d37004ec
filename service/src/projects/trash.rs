//! The trash (G15): a delete moves a project to its owner's trash, from
//! where it is restored or purged; gc purges what stayed longer than the
//! retention.
//!
//! * **Trash** (`delete`): sets `deleted_at` under the project's row lock.
//!   Versions, shares and bytes stay (S8: a trashed body still counts). From
//!   then on [`super::rows::live`] no longer finds it, so every project route,
//!   list and the quota count treat it as gone (G6, G7 as before).
//! * **Restore**: under the row lock of the *trashed* row, then the owner's
//!   user row (the lock every create takes to count the quota, G8), clears
//!   `deleted_at`: the same id, slug, version, versions and shares.
//! * **Purge** (`purge`, and gc's `purge_expired`): under the same row lock,
//!   deletes the shares, versions and the project in one transaction, gives
//!   the versions' bytes back (S8), and deletes the files after the commit
//!   (G11).
//!
//! Restore and purge both lock the row only while it is in the trash, so
//! when they race exactly one wins: the other finds no trashed row and
//! answers 404 (PostgreSQL re-checks the `deleted_at` filter on the row a
//! waiting lock gets; MariaDB's locking read sees the latest commit; SQLite
//! runs them one after the other).

use chrono::{DateTime, TimeDelta, Utc};
use entity::{project, project_share, project_version};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::create::lock_owner_and_check_quota;
use super::rows::{lock_for_owner, shares_of, shares_of_many, to_project, trashed};
use super::Project;
use crate::access::teaches;
use crate::auth::User;
use crate::blob::delete_all;
use crate::error::{Error, Result};
use crate::page::{Page, PageRequest};
use crate::tx::{self, Kind};
use crate::{now, storage_quota, Ctx};

/// A project in the trash, and when gc will purge it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trashed {
    pub project: Project,
    pub deleted_at: DateTime<Utc>,
    pub purge_at: DateTime<Utc>,
}

/// `DELETE /api/v1/projects/{id}`: moves the project to its owner's trash.
/// Under the row lock, so a save or share racing it commits before it or
/// finds no live row after it (G7), and a copy holding the shared lock
/// finishes first (G6).
#[tracing::instrument(skip_all, fields(user.id = caller.id, project.id = id))]
pub async fn delete(ctx: &Ctx, caller: &User, id: i64) -> Result<()> {
    tx::run(
        &ctx.db,
        &ctx.retry,
        "project.delete",
        Kind::Edit,
        async |txn| {
            lock_for_owner(txn, caller, id).await?;
            set_deleted_at(txn, id, Some(now())).await
        },
    )
    .await
}

/// `GET /api/v1/trash[?owner_id=]`: the trashed projects of the caller, or
/// of a student the caller teaches (anyone else's: 404, whether or not the
/// user exists); most recently deleted first. The cursor is an offset.
pub async fn list_trash(
    ctx: &Ctx,
    caller: &User,
    owner_id: Option<i64>,
    page: PageRequest,
) -> Result<Page<Trashed>> {
    let owner = owner_id.unwrap_or(caller.id);
    if owner != caller.id && !teaches(&ctx.db, caller, owner).await? {
        return Err(Error::NotFound);
    }
    let offset = page.after.unwrap_or(0);
    let rows = trashed()
        .filter(project::Column::OwnerId.eq(owner))
        .order_by_desc(project::Column::DeletedAt)
        .order_by_desc(project::Column::Id)
        .offset(u64::try_from(offset).unwrap_or(u64::MAX))
        .limit(page.fetch())
        .all(&ctx.db)
        .await?;
    let next = offset.saturating_add(i64::try_from(page.limit).unwrap_or(i64::MAX));
    let rows = Page::from_rows(rows, &page, |_| next);
    let ids: Vec<i64> = rows.items.iter().map(|p| p.id).collect();
    let mut shares = shares_of_many(&ctx.db, ids).await?;
    let retention = retention(ctx);
    Ok(rows.map(|p| {
        let deleted_at = p.deleted_at.unwrap_or(p.updated_at);
        let shared = shares.remove(&p.id).unwrap_or_default();
        Trashed {
            project: to_project(p, shared),
            deleted_at,
            purge_at: deleted_at
                .checked_add_signed(retention)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }))
}

/// `POST /api/v1/trash/{id}/restore`: the owner, or a teacher of a class the
/// owner (a student) is in; 403 `quota_exceeded` when the owner already has
/// as many live projects as the quota allows (counted under the owner's row
/// lock, like every create: G8).
#[tracing::instrument(skip_all, fields(user.id = caller.id, project.id = id))]
pub async fn restore(ctx: &Ctx, caller: &User, id: i64) -> Result<Project> {
    tx::run(
        &ctx.db,
        &ctx.retry,
        "project.restore",
        Kind::Edit,
        async |txn| {
            let p = lock_trashed(txn, id, None).await?;
            if p.owner_id != caller.id && !teaches(txn, caller, p.owner_id).await? {
                return Err(Error::NotFound);
            }
            let p = untrash(ctx, txn, p).await?;
            let shared = shares_of(txn, id).await?;
            Ok(to_project(p, shared))
        },
    )
    .await
}

/// Takes `p` (a trashed project, its row locked by the caller) out of the
/// trash, if its owner is below the project quota: the one restore step,
/// for the trash's restore and for an assignment's `start`.
pub(super) async fn untrash(
    ctx: &Ctx,
    txn: &DatabaseTransaction,
    p: project::Model,
) -> Result<project::Model> {
    // Project row before the owner's user row, like saves and purges
    // (storage_quota.rs, "Lock order").
    lock_owner_and_check_quota(ctx, txn, p.owner_id).await?;
    set_deleted_at(txn, p.id, None).await?;
    Ok(project::Model {
        deleted_at: None,
        ..p
    })
}

/// `DELETE /api/v1/trash/{id}`: purges a trashed project now (its owner
/// only; a teacher who may restore it gets 403). A project that is not in
/// the trash is 404: only the trash is purged.
#[tracing::instrument(skip_all, fields(user.id = caller.id, project.id = id))]
pub async fn purge(ctx: &Ctx, caller: &User, id: i64) -> Result<()> {
    let files = tx::run(
        &ctx.db,
        &ctx.retry,
        "project.purge",
        Kind::Edit,
        async |txn| {
            let p = lock_trashed(txn, id, None).await?;
            if p.owner_id != caller.id {
                return Err(if teaches(txn, caller, p.owner_id).await? {
                    Error::Forbidden
                } else {
                    Error::NotFound
                });
            }
            purge_rows(ctx, txn, &p).await
        },
    )
    .await?;
    // Only after the commit (G11).
    delete_all(&ctx.blobs, &files).await;
    Ok(())
}

/// gc: purges every project trashed longer ago than the retention, one
/// transaction each under its row lock (so a restore racing it wins or
/// loses cleanly, G15), files after each commit. Returns the purged ids (in
/// a dry run: the ids it would purge).
pub async fn purge_expired(ctx: &Ctx, dry_run: bool) -> Result<Vec<i64>> {
    let cutoff = now()
        .checked_sub_signed(retention(ctx))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let due: Vec<i64> = trashed()
        .select_only()
        .column(project::Column::Id)
        .filter(project::Column::DeletedAt.lte(cutoff))
        .order_by_asc(project::Column::Id)
        .into_tuple()
        .all(&ctx.db)
        .await?;
    if dry_run {
        return Ok(due);
    }
    let mut purged = Vec::new();
    for id in due {
        let files = tx::run(
            &ctx.db,
            &ctx.retry,
            "project.gc_purge",
            Kind::Edit,
            async |txn| match lock_trashed(txn, id, Some(cutoff)).await {
                Ok(p) => purge_rows(ctx, txn, &p).await.map(Some),
                // Restored (or purged) since the search: not ours any more.
                Err(Error::NotFound) => Ok(None),
                Err(e) => Err(e),
            },
        )
        .await?;
        if let Some(files) = files {
            delete_all(&ctx.blobs, &files).await;
            purged.push(id);
        }
    }
    Ok(purged)
}

/// The retention as a signed duration (saturating).
fn retention(ctx: &Ctx) -> TimeDelta {
    TimeDelta::from_std(ctx.settings.trash_retention).unwrap_or(TimeDelta::MAX)
}

/// Locks project `id` if it is in the trash (and, with `before`, was
/// trashed then or earlier); `NotFound` otherwise.
async fn lock_trashed(
    txn: &DatabaseTransaction,
    id: i64,
    before: Option<DateTime<Utc>>,
) -> Result<project::Model> {
    let mut query = trashed().filter(project::Column::Id.eq(id));
    if let Some(before) = before {
        query = query.filter(project::Column::DeletedAt.lte(before));
    }
    query
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(Error::NotFound)
}

async fn set_deleted_at(
    txn: &DatabaseTransaction,
    id: i64,
    at: Option<DateTime<Utc>>,
) -> Result<()> {
    project::Entity::update_many()
        .col_expr(project::Column::DeletedAt, Expr::value(at))
        .filter(project::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Deletes a locked project's shares, versions and row, and gives the
/// versions' bytes back to the owner (S8); returns the files to delete after
/// the commit.
async fn purge_rows(
    ctx: &Ctx,
    txn: &DatabaseTransaction,
    p: &project::Model,
) -> Result<Vec<String>> {
    let thumb = super::thumbnail::take(txn, p.id).await?;
    let versions = project_version::Entity::find()
        .filter(project_version::Column::ProjectId.eq(p.id))
        .all(txn)
        .await?;
    project_share::Entity::delete_many()
        .filter(project_share::Column::ProjectId.eq(p.id))
        .exec(txn)
        .await?;
    project_version::Entity::delete_many()
        .filter(project_version::Column::ProjectId.eq(p.id))
        .exec(txn)
        .await?;
    project::Entity::delete_by_id(p.id).exec(txn).await?;
    // The thumbnail's bytes count toward S8 like the bodies' (thumbnail.rs).
    let freed: i64 =
        versions.iter().map(|v| v.body_size).sum::<i64>() + thumb.as_ref().map_or(0, |t| t.1);
    storage_quota::change(ctx, txn, p.owner_id, -freed).await?;
    Ok(versions
        .into_iter()
        .map(|v| v.body_file)
        .chain(thumb.map(|t| t.0))
        .collect())
}
