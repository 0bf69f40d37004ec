//! Garbage collection: projects in the trash past the retention (G15), blob
//! files no row references, expired sessions and idempotency keys. Run by
//! `cubby gc` and periodically inside `serve`.
//!
//! A file is removed only when it is older than the grace period *and* no
//! row references it. Files are written before the commit that references
//! them, so the grace period must outlast any request (default one hour);
//! a referenced file is never removed (G11).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use chrono::Utc;
use entity::{
    asset, idempotency_key, login_state, project_thumbnail, project_version, session, submission,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::error::Result;
use crate::tx::{self, Kind};
use crate::Ctx;

#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Blob files seen.
    pub files: usize,
    /// Unreferenced files past the grace period: removed (or, in a dry run, to remove).
    pub unreferenced: Vec<String>,
    /// Unfinished writes (temp files left by a crash) removed.
    pub unfinished: usize,
    pub expired_sessions: u64,
    pub expired_keys: u64,
    /// Projects in the trash longer than the retention: purged (or, in a
    /// dry run, to purge), by id.
    pub purged_projects: Vec<i64>,
}

/// Which of `keys` some row references.
async fn referenced(ctx: &Ctx, keys: &[String]) -> Result<HashSet<String>> {
    let mut found = HashSet::new();
    for chunk in keys.chunks(500) {
        let versions: Vec<String> = project_version::Entity::find()
            .select_only()
            .column(project_version::Column::BodyFile)
            .filter(project_version::Column::BodyFile.is_in(chunk.to_vec()))
            .into_tuple()
            .all(&ctx.db)
            .await?;
        let assets: Vec<String> = asset::Entity::find()
            .select_only()
            .column(asset::Column::BlobFile)
            .filter(asset::Column::BlobFile.is_in(chunk.to_vec()))
            .into_tuple()
            .all(&ctx.db)
            .await?;
        let thumbnails: Vec<String> = project_thumbnail::Entity::find()
            .select_only()
            .column(project_thumbnail::Column::BlobFile)
            .filter(project_thumbnail::Column::BlobFile.is_in(chunk.to_vec()))
            .into_tuple()
            .all(&ctx.db)
            .await?;
        // G17: a submission's own copy of its pinned body.
        let submitted: Vec<String> = submission::Entity::find()
            .select_only()
            .column(submission::Column::BodyFile)
            .filter(submission::Column::BodyFile.is_in(chunk.to_vec()))
            .into_tuple()
            .all(&ctx.db)
            .await?;
        found.extend(versions);
        found.extend(assets);
        found.extend(submitted);
        found.extend(thumbnails);
    }
    Ok(found)
}

pub async fn run(ctx: &Ctx, grace: Duration, dry_run: bool) -> Result<Report> {
    // The trash first: each purge deletes its rows, then (after its commit)
    // its files; the sweep below then no longer sees them.
    let purged_projects = crate::projects::purge_expired(ctx, dry_run).await?;
    let files = ctx.blobs.list().await?;
    let cutoff = SystemTime::now()
        .checked_sub(grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let old: Vec<String> = files
        .iter()
        .filter(|f| f.modified <= cutoff)
        .map(|f| f.key.clone())
        .collect();
    let keep = referenced(ctx, &old).await?;
    let unreferenced: Vec<String> = old.into_iter().filter(|k| !keep.contains(k)).collect();

    let mut report = Report {
        files: files.len(),
        unreferenced,
        purged_projects,
        ..Default::default()
    };
    if dry_run {
        return Ok(report);
    }
    for key in &report.unreferenced {
        if let Err(err) = ctx.blobs.delete(key).await {
            tracing::warn!(blob.key = %key, error = %err, "gc could not delete a file");
        }
    }
    report.unfinished = ctx.blobs.purge_unfinished(cutoff).await?;
    let (sessions, keys) = expire_rows(ctx).await?;
    report.expired_sessions = sessions;
    report.expired_keys = keys;
    Ok(report)
}

/// Deletes expired sessions, idempotency keys and login states in one write
/// transaction (through [`tx::run`], so on SQLite it takes its turn in the
/// writer queue like every other write). Returns the sessions and keys
/// deleted.
async fn expire_rows(ctx: &Ctx) -> Result<(u64, u64)> {
    tx::run(&ctx.db, &ctx.retry, "gc.expire", Kind::Edit, async |txn| {
        let now = Utc::now();
        let sessions = session::Entity::delete_many()
            .filter(session::Column::ExpiresAt.lte(now))
            .exec(txn)
            .await?
            .rows_affected;
        let keys = idempotency_key::Entity::delete_many()
            .filter(
                idempotency_key::Column::CreatedAt
                    .lt(now - chrono::Duration::hours(crate::idempotency::KEY_LIFETIME_HOURS)),
            )
            .exec(txn)
            .await?
            .rows_affected;
        login_state::Entity::delete_many()
            .filter(login_state::Column::ExpiresAt.lte(now))
            .exec(txn)
            .await?;
        Ok((sessions, keys))
    })
    .await
}
