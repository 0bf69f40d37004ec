//! Projects: create, read, save with versions, share, copy, delete.
//!
//! Every write follows the same shape (DESIGN.md "Transactions and locks"):
//! write any new body file first; then, inside [`tx::run`], lock the rows
//! the rule depends on, check, and write; commit; and only then delete the
//! files the commit unreferenced. If the transaction fails, the files this
//! request wrote are deleted (the filesystem rollback), so no row ever points
//! at a missing file and no file outlives a failed request (G11).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use entity::{project, project_share, project_version, user};
use md5::{Digest, Md5};
use rand::Rng;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};

use crate::access::access;
use crate::auth::{Role, User};
use crate::blob::{delete_all, BlobError};
use crate::error::{Error, Result};
use crate::tx::{self, Kind};
use crate::{idempotency, now, Ctx};

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

#[derive(Clone, Debug, Default)]
pub struct Update {
    pub expected_version: Option<i32>,
    pub title: Option<String>,
    pub body: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Mine,
    Shared,
}

/// A page of results: `next` is the cursor of the following page, if any.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<i64>,
}

const MAX_TITLE_CHARS: usize = 200;
const MAX_SLUG_CHARS: usize = 60;
const SLUG_ATTEMPTS: usize = 16;

pub const DEFAULT_TITLE: &str = "Untitled";

fn check_title(title: &str) -> Result<String> {
    let title = title.trim();
    if title.is_empty() {
        return Err(Error::invalid("invalid_input", "title must not be empty"));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(Error::invalid(
            "invalid_input",
            format!("title is longer than {MAX_TITLE_CHARS} characters"),
        ));
    }
    if title.chars().any(char::is_control) {
        return Err(Error::invalid(
            "invalid_input",
            "title contains control characters",
        ));
    }
    Ok(title.to_owned())
}

fn check_body(ctx: &Ctx, body: &[u8]) -> Result<()> {
    if body.len() as u64 > ctx.settings.max_body_bytes {
        return Err(Error::TooLarge {
            limit: ctx.settings.max_body_bytes,
        });
    }
    Ok(())
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn storage(err: BlobError) -> Error {
    match err {
        BlobError::NotFound => Error::Internal("a referenced body file is missing".into()),
        BlobError::Io(e) => Error::Storage(e.to_string()),
    }
}

/// `My Game!` → `my-game`; never empty.
pub fn slug_base(title: &str) -> String {
    let mut slug = String::new();
    for c in title.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let mut slug: String = slug
        .trim_matches('-')
        .chars()
        .take(MAX_SLUG_CHARS)
        .collect();
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        "project".to_owned()
    } else {
        slug
    }
}

/// The first try is the bare slug; later ones add a random suffix, so
/// racing creates with one title do not all fight over `-2`.
fn slug_candidate(base: &str, attempt: usize) -> String {
    if attempt == 0 {
        return base.to_owned();
    }
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let suffix: String = (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{base}-{suffix}")
}

async fn shares_of(db: &impl ConnectionTrait, project_id: i64) -> Result<Vec<i64>> {
    Ok(project_share::Entity::find()
        .filter(project_share::Column::ProjectId.eq(project_id))
        .order_by_asc(project_share::Column::GroupId)
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.group_id)
        .collect())
}

fn to_project(p: project::Model, shared_with: Vec<i64>) -> Project {
    Project {
        id: p.id,
        owner_id: p.owner_id,
        title: p.title,
        slug: p.slug,
        version: p.version,
        parent_id: p.parent_id,
        body_size: p.body_size,
        body_md5: p.body_md5,
        shared_with,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

/// Locks the owner's user row and checks the quota. Every create and copy
/// by one user passes this lock, so racing creates cannot overshoot (G8).
async fn lock_owner_and_check_quota(
    ctx: &Ctx,
    txn: &DatabaseTransaction,
    owner_id: i64,
) -> Result<()> {
    user::Entity::find_by_id(owner_id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let owned = project::Entity::find()
        .filter(project::Column::OwnerId.eq(owner_id))
        .count(txn)
        .await?;
    if owned >= u64::from(ctx.settings.project_quota) {
        return Err(Error::QuotaExceeded {
            quota: ctx.settings.project_quota,
        });
    }
    Ok(())
}

/// Inserts the project row under a unique slug (the unique index decides;
/// a clash tries the next candidate) and its version-1 row.
#[allow(clippy::too_many_arguments)]
async fn insert_project(
    txn: &DatabaseTransaction,
    owner_id: i64,
    title: &str,
    parent_id: Option<i64>,
    body_file: &str,
    body_size: i64,
    body_md5: &str,
    at: DateTime<Utc>,
) -> Result<project::Model> {
    let base = slug_base(title);
    for attempt in 0..SLUG_ATTEMPTS {
        let slug = slug_candidate(&base, attempt);
        let inserted = project::Entity::insert(project::ActiveModel {
            owner_id: Set(owner_id),
            title: Set(title.to_owned()),
            slug: Set(slug.clone()),
            version: Set(1),
            parent_id: Set(parent_id),
            body_size: Set(body_size),
            body_md5: Set(body_md5.to_owned()),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        })
        .on_conflict_do_nothing_on([project::Column::Slug])
        .exec(txn)
        .await?;
        let sea_orm::TryInsertResult::Inserted(res) = inserted else {
            continue; // slug taken
        };
        let id = res.last_insert_id;
        // MariaDB answers a duplicate with a no-op update; make sure the id
        // we were given is really the row we just inserted.
        let ours = project::Entity::find_by_id(id)
            .one(txn)
            .await?
            .is_some_and(|row| row.slug == slug && row.owner_id == owner_id && row.version == 1);
        if !ours {
            continue;
        }
        project_version::Entity::insert(project_version::ActiveModel {
            project_id: Set(id),
            version: Set(1),
            author_id: Set(owner_id),
            body_file: Set(body_file.to_owned()),
            body_size: Set(body_size),
            body_md5: Set(body_md5.to_owned()),
            created_at: Set(at),
            ..Default::default()
        })
        .exec_without_returning(txn)
        .await?;
        return project::Entity::find_by_id(id)
            .one(txn)
            .await?
            .ok_or_else(|| Error::Internal("project row missing after insert".into()));
    }
    Err(Error::Internal("no free slug after many attempts".into()))
}

fn fault_before_commit(ctx: &Ctx) -> Result<()> {
    if ctx.faults.fail_before_commit {
        return Err(Error::Internal("injected failure before commit".into()));
    }
    Ok(())
}

/// The files a request wrote, to delete when they end up unreferenced.
#[derive(Default)]
struct Written(Vec<String>);

impl Written {
    /// Deletes every written file except `keep` (e.g. the one the committed
    /// row references).
    async fn delete_except(self, ctx: &Ctx, keep: Option<&str>) {
        let orphans: Vec<String> = self
            .0
            .into_iter()
            .filter(|k| Some(k.as_str()) != keep)
            .collect();
        delete_all(&ctx.blobs, &orphans).await;
    }
}

/// `POST /api/v1/projects`.
#[tracing::instrument(skip_all, fields(user.id = caller.id))]
pub async fn create(
    ctx: &Ctx,
    caller: &User,
    new: NewProject<'_>,
    idem_key: Option<&str>,
) -> Result<Created> {
    let NewProject {
        title,
        body,
        parent_id,
    } = new;
    let title = check_title(title.unwrap_or(DEFAULT_TITLE))?;
    check_body(ctx, body)?;
    let md5 = md5_hex(body);
    let size = body.len() as i64;
    let key = ctx.blobs.put(body).await.map_err(storage)?;

    let result = tx::run(
        &ctx.db,
        &ctx.retry,
        "project.create",
        Kind::Edit,
        async |txn| {
            let at = now();
            if let Some(k) = idem_key {
                if let Some(project) =
                    idempotency::claim::<Project>(txn, caller.id, k, "project.create", at).await?
                {
                    return Ok(Created {
                        project,
                        replayed: true,
                    });
                }
            }
            if let Some(parent) = parent_id {
                // The editor's copy and remix send their own body, naming
                // the original only as the parent, which the caller must see.
                let p = project::Entity::find_by_id(parent)
                    .one(txn)
                    .await?
                    .ok_or(Error::NotFound)?;
                access(txn, caller, &p).await?.require_read()?;
            }
            lock_owner_and_check_quota(ctx, txn, caller.id).await?;
            let row =
                insert_project(txn, caller.id, &title, parent_id, &key, size, &md5, at).await?;
            let project = to_project(row, Vec::new());
            if let Some(k) = idem_key {
                idempotency::store(txn, caller.id, k, 201, &project).await?;
            }
            fault_before_commit(ctx)?;
            Ok(Created {
                project,
                replayed: false,
            })
        },
    )
    .await;

    let keep = matches!(&result, Ok(c) if !c.replayed).then_some(key.as_str());
    Written(vec![key.clone()]).delete_except(ctx, keep).await;
    result
}

/// `POST /api/v1/projects/{id}/copy`: a new project owned by the caller
/// with the source's current body (copied to a file of its own).
#[tracing::instrument(skip_all, fields(user.id = caller.id, project.id = source_id))]
pub async fn copy(
    ctx: &Ctx,
    caller: &User,
    source_id: i64,
    title: Option<&str>,
    idem_key: Option<&str>,
) -> Result<Created> {
    let title = title.map(check_title).transpose()?;
    let scope = format!("project.copy:{source_id}");
    let mut written = Written::default();

    let result = tx::run(
        &ctx.db,
        &ctx.retry,
        "project.copy",
        Kind::Edit,
        async |txn| {
            let at = now();
            if let Some(k) = idem_key {
                if let Some(project) =
                    idempotency::claim::<Project>(txn, caller.id, k, &scope, at).await?
                {
                    return Ok((
                        Created {
                            project,
                            replayed: true,
                        },
                        None,
                    ));
                }
            }
            // A shared lock on the source: a delete or save waits until this
            // copy has committed, so the body we copy cannot vanish (G6).
            let source = project::Entity::find_by_id(source_id)
                .lock_shared()
                .one(txn)
                .await?
                .ok_or(Error::NotFound)?;
            access(txn, caller, &source).await?.require_read()?;
            let current = current_version(txn, &source).await?;
            let bytes = ctx.blobs.get(&current.body_file).await.map_err(storage)?;
            let key = ctx.blobs.put(&bytes).await.map_err(storage)?;
            written.0.push(key.clone());

            lock_owner_and_check_quota(ctx, txn, caller.id).await?;
            let title = title.clone().unwrap_or_else(|| source.title.clone());
            let row = insert_project(
                txn,
                caller.id,
                &title,
                Some(source.id),
                &key,
                current.body_size,
                &current.body_md5,
                at,
            )
            .await?;
            let project = to_project(row, Vec::new());
            if let Some(k) = idem_key {
                idempotency::store(txn, caller.id, k, 201, &project).await?;
            }
            Ok((
                Created {
                    project,
                    replayed: false,
                },
                Some(key),
            ))
        },
    )
    .await;

    let keep = result.as_ref().ok().and_then(|(_, key)| key.clone());
    written.delete_except(ctx, keep.as_deref()).await;
    result.map(|(created, _)| created)
}

/// Locks a project row for a write by its owner (`SELECT … FOR UPDATE`;
/// on SQLite the transaction's IMMEDIATE lock): `NotFound` when it is gone
/// or invisible to the caller, `Forbidden` for someone who may only read it.
async fn lock_for_owner(
    txn: &DatabaseTransaction,
    caller: &User,
    id: i64,
) -> Result<project::Model> {
    let p = project::Entity::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(Error::NotFound)?;
    access(txn, caller, &p).await?.require_owner()?;
    Ok(p)
}

async fn current_version(
    db: &impl ConnectionTrait,
    p: &project::Model,
) -> Result<project_version::Model> {
    version_row(db, p.id, p.version).await
}

async fn version_row(
    db: &impl ConnectionTrait,
    project_id: i64,
    version: i32,
) -> Result<project_version::Model> {
    project_version::Entity::find()
        .filter(project_version::Column::ProjectId.eq(project_id))
        .filter(project_version::Column::Version.eq(version))
        .one(db)
        .await?
        .ok_or_else(|| Error::Internal("current version row missing".into()))
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
/// behind each winner (measured: see README "What the profile showed").
/// On SQLite the transaction already holds the write lock (IMMEDIATE).
async fn advance_version(
    txn: &DatabaseTransaction,
    caller: &User,
    id: i64,
    from: i32,
    changes: &Changes<'_>,
) -> Result<Option<project::Model>> {
    let mut update = project::Entity::update_many()
        .col_expr(project::Column::Version, Expr::value(from + 1))
        .col_expr(project::Column::UpdatedAt, Expr::value(changes.at));
    if let Some(title) = changes.title {
        update = update.col_expr(project::Column::Title, Expr::value(title));
    }
    if let Some((size, md5)) = changes.body {
        update = update
            .col_expr(project::Column::BodySize, Expr::value(size))
            .col_expr(project::Column::BodyMd5, Expr::value(md5));
    }
    let update = update
        .filter(project::Column::Id.eq(id))
        .filter(project::Column::Version.eq(from))
        .filter(project::Column::OwnerId.eq(caller.id));
    if txn.support_returning() {
        return Ok(update.exec_with_returning(txn).await?.into_iter().next());
    }
    if update.exec(txn).await?.rows_affected != 1 {
        return Ok(None);
    }
    Ok(project::Entity::find_by_id(id).one(txn).await?)
}

/// Why `advance_version` changed nothing: the project is gone or not the
/// caller's to edit, or (for its owner) the version moved on.
async fn refusal(txn: &DatabaseTransaction, caller: &User, id: i64) -> Error {
    let p = match project::Entity::find_by_id(id).one(txn).await {
        Ok(Some(p)) => p,
        Ok(None) => return Error::NotFound,
        Err(e) => return e.into(),
    };
    match access(txn, caller, &p)
        .await
        .and_then(|a| a.require_owner())
    {
        Ok(()) => Error::VersionConflict {
            current_version: p.version,
        },
        Err(e) => e,
    }
}

/// `PUT /api/v1/projects/{id}` (and the Scratch editor's save): a new
/// version under the project's row lock.
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
    let title = update.title.as_deref().map(check_title).transpose()?;
    let new_body = match &update.body {
        Some(body) => {
            check_body(ctx, body)?;
            Some((body.as_slice(), body.len() as i64, md5_hex(body)))
        }
        None => None,
    };
    // Files this request wrote (one per attempt): whatever the outcome,
    // only the committed one may stay.
    let mut written = Written(Vec::new());

    let result = tx::run(
        &ctx.db,
        &ctx.retry,
        "project.save",
        Kind::Edit,
        async |txn| {
            // Lock, check and write in one step: concurrent saves queue on
            // the row (G1, G2), and a save after a committed delete finds
            // no row (G7). See `advance_version` for why the check is in
            // the UPDATE itself.
            let at = now();
            let changes = Changes {
                title: title.as_deref(),
                body: new_body
                    .as_ref()
                    .map(|(_, size, md5)| (*size, md5.as_str())),
                at,
            };
            let from = match update.expected_version {
                Some(expected) => expected,
                None => lock_for_owner(txn, caller, id).await?.version,
            };
            let Some(p) = advance_version(txn, caller, id, from, &changes).await? else {
                return Err(refusal(txn, caller, id).await);
            };
            // The body file is written only now, by the one save that won
            // the version (DESIGN.md's order: lock, compare, write): a crowd
            // of stale saves on a hot project writes and fsyncs nothing.
            let (file, size, md5) = match &new_body {
                Some((bytes, size, md5)) => {
                    let key = ctx.blobs.put(bytes).await.map_err(storage)?;
                    written.0.push(key.clone());
                    (key, *size, md5.clone())
                }
                None => {
                    // A title-only save still makes a version; files are never
                    // shared between rows, so the body is copied.
                    let current = version_row(txn, id, from).await?;
                    let bytes = ctx.blobs.get(&current.body_file).await.map_err(storage)?;
                    let key = ctx.blobs.put(&bytes).await.map_err(storage)?;
                    written.0.push(key.clone());
                    (key, current.body_size, current.body_md5)
                }
            };
            let version = p.version;
            project_version::Entity::insert(project_version::ActiveModel {
                project_id: Set(id),
                version: Set(version),
                author_id: Set(caller.id),
                body_file: Set(file.clone()),
                body_size: Set(size),
                body_md5: Set(md5.clone()),
                created_at: Set(at),
                ..Default::default()
            })
            .exec_without_returning(txn)
            .await?;
            let pruned = prune_versions(ctx, txn, id, version).await?;
            fault_before_commit(ctx)?;
            let project = to_project(p, shares_of(txn, id).await?);
            Ok((project, file, pruned))
        },
    )
    .await;

    match result {
        Ok((project, file, pruned)) => {
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

/// Deletes the version rows beyond the newest `keep_versions` of a project
/// now at `version`; returns their files, to delete after the commit.
/// Versions are numbered without gaps, so "beyond the newest N" is the
/// index range `version <= current - N`: one `DELETE … RETURNING` per save
/// (PostgreSQL, SQLite) instead of walking past N rows and deleting by id.
async fn prune_versions(
    ctx: &Ctx,
    txn: &DatabaseTransaction,
    project_id: i64,
    version: i32,
) -> Result<Vec<String>> {
    let newest_pruned = i64::from(version) - i64::from(ctx.settings.keep_versions);
    if newest_pruned < 1 {
        return Ok(Vec::new());
    }
    let pruned = project_version::Entity::delete_many()
        .filter(project_version::Column::ProjectId.eq(project_id))
        .filter(project_version::Column::Version.lte(newest_pruned));
    if txn.support_returning() {
        // One statement: delete and learn which files to remove.
        let old = pruned.exec_with_returning(txn).await?;
        return Ok(old.into_iter().map(|v| v.body_file).collect());
    }
    // MariaDB: read the range, then delete it (the project row lock keeps
    // it the same range).
    let old = project_version::Entity::find()
        .filter(project_version::Column::ProjectId.eq(project_id))
        .filter(project_version::Column::Version.lte(newest_pruned))
        .all(txn)
        .await?;
    if old.is_empty() {
        return Ok(Vec::new());
    }
    pruned.exec(txn).await?;
    Ok(old.into_iter().map(|v| v.body_file).collect())
}

/// `DELETE /api/v1/projects/{id}`: afterwards the project is 404 for good (G7).
#[tracing::instrument(skip_all, fields(user.id = caller.id, project.id = id))]
pub async fn delete(ctx: &Ctx, caller: &User, id: i64) -> Result<()> {
    let files = tx::run(
        &ctx.db,
        &ctx.retry,
        "project.delete",
        Kind::Edit,
        async |txn| {
            lock_for_owner(txn, caller, id).await?;
            let versions = project_version::Entity::find()
                .filter(project_version::Column::ProjectId.eq(id))
                .all(txn)
                .await?;
            project_share::Entity::delete_many()
                .filter(project_share::Column::ProjectId.eq(id))
                .exec(txn)
                .await?;
            project_version::Entity::delete_many()
                .filter(project_version::Column::ProjectId.eq(id))
                .exec(txn)
                .await?;
            project::Entity::delete_by_id(id).exec(txn).await?;
            Ok(versions
                .into_iter()
                .map(|v| v.body_file)
                .collect::<Vec<_>>())
        },
    )
    .await?;
    delete_all(&ctx.blobs, &files).await;
    Ok(())
}

/// `PUT /api/v1/projects/{id}/shares`: replaces the share set. Only an
/// owner who is a teacher shares, and only with their own groups.
#[tracing::instrument(skip_all, fields(user.id = caller.id, project.id = id))]
pub async fn set_shares(ctx: &Ctx, caller: &User, id: i64, group_ids: &[i64]) -> Result<Vec<i64>> {
    let wanted: BTreeSet<i64> = group_ids.iter().copied().collect();
    if wanted.len() > 200 {
        return Err(Error::invalid("invalid_input", "at most 200 groups"));
    }
    let mine: BTreeSet<i64> = caller.groups.iter().map(|g| g.id).collect();
    tx::run(
        &ctx.db,
        &ctx.retry,
        "project.share",
        Kind::Edit,
        async |txn| {
            lock_for_owner(txn, caller, id).await?;
            if caller.role != Role::Teacher || !wanted.is_subset(&mine) {
                return Err(Error::Forbidden);
            }
            let current: BTreeSet<i64> = shares_of(txn, id).await?.into_iter().collect();
            let gone: Vec<i64> = current.difference(&wanted).copied().collect();
            if !gone.is_empty() {
                project_share::Entity::delete_many()
                    .filter(project_share::Column::ProjectId.eq(id))
                    .filter(project_share::Column::GroupId.is_in(gone))
                    .exec(txn)
                    .await?;
            }
            let at = now();
            for group_id in wanted.difference(&current) {
                project_share::Entity::insert(project_share::ActiveModel {
                    project_id: Set(id),
                    group_id: Set(*group_id),
                    created_at: Set(at),
                })
                .exec_without_returning(txn)
                .await?;
            }
            Ok(wanted.iter().copied().collect())
        },
    )
    .await
}

/// A project the caller may read, or `NotFound`.
async fn readable(ctx: &Ctx, caller: &User, id: i64) -> Result<project::Model> {
    let p = project::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .ok_or(Error::NotFound)?;
    access(&ctx.db, caller, &p).await?.require_read()?;
    Ok(p)
}

/// `GET /api/v1/projects/{id}`.
pub async fn get(ctx: &Ctx, caller: &User, id: i64) -> Result<Project> {
    // The project with its shares in one query (editors re-read often).
    let (p, shares) = project::Entity::find_by_id(id)
        .find_with_related(project_share::Entity)
        .order_by_asc(project_share::Column::GroupId)
        .all(&ctx.db)
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound)?;
    access(&ctx.db, caller, &p).await?.require_read()?;
    Ok(to_project(
        p,
        shares.into_iter().map(|s| s.group_id).collect(),
    ))
}

/// `GET /api/v1/projects/{id}/body`: the current body and its version.
pub async fn body(ctx: &Ctx, caller: &User, id: i64) -> Result<(i32, Vec<u8>)> {
    // A save may commit and prune between our reads; read again then.
    for _ in 0..5 {
        let p = readable(ctx, caller, id).await?;
        let Some(v) = project_version::Entity::find()
            .filter(project_version::Column::ProjectId.eq(id))
            .filter(project_version::Column::Version.eq(p.version))
            .one(&ctx.db)
            .await?
        else {
            continue;
        };
        match ctx.blobs.get(&v.body_file).await {
            Ok(bytes) => return Ok((p.version, bytes)),
            Err(BlobError::NotFound) => continue,
            Err(e) => return Err(storage(e)),
        }
    }
    Err(Error::Busy)
}

/// `GET /api/v1/projects/{id}/versions`, newest first; `before` is a version number.
pub async fn versions(
    ctx: &Ctx,
    caller: &User,
    id: i64,
    limit: u64,
    before: Option<i64>,
) -> Result<Page<Version>> {
    readable(ctx, caller, id).await?;
    let mut query = project_version::Entity::find()
        .filter(project_version::Column::ProjectId.eq(id))
        .order_by_desc(project_version::Column::Version)
        .limit(limit + 1);
    if let Some(b) = before {
        query = query.filter(project_version::Column::Version.lt(b));
    }
    let mut rows = query.all(&ctx.db).await?;
    let next = page_cursor(&mut rows, limit, |v| i64::from(v.version));
    Ok(Page {
        items: rows
            .into_iter()
            .map(|v| Version {
                version: v.version,
                author_id: v.author_id,
                body_size: v.body_size,
                body_md5: v.body_md5,
                created_at: v.created_at,
            })
            .collect(),
        next,
    })
}

/// `GET /api/v1/projects/{id}/versions/{v}/body`; 404 once pruned.
pub async fn version_body(ctx: &Ctx, caller: &User, id: i64, version: i32) -> Result<Vec<u8>> {
    readable(ctx, caller, id).await?;
    let v = project_version::Entity::find()
        .filter(project_version::Column::ProjectId.eq(id))
        .filter(project_version::Column::Version.eq(version))
        .one(&ctx.db)
        .await?
        .ok_or(Error::NotFound)?;
    match ctx.blobs.get(&v.body_file).await {
        Ok(bytes) => Ok(bytes),
        // Pruned between our two reads.
        Err(BlobError::NotFound) => Err(Error::NotFound),
        Err(e) => Err(storage(e)),
    }
}

/// Trims the extra row fetched to detect a next page; returns its cursor.
fn page_cursor<T>(rows: &mut Vec<T>, limit: u64, key: impl Fn(&T) -> i64) -> Option<i64> {
    if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(key)
    } else {
        None
    }
}

/// `GET /api/v1/projects?scope=`: the caller's own projects, or those shared
/// with the caller's groups; newest first, `before` is a project id.
pub async fn list(
    ctx: &Ctx,
    caller: &User,
    scope: Scope,
    limit: u64,
    before: Option<i64>,
) -> Result<Page<Project>> {
    let groups: Vec<i64> = caller.groups.iter().map(|g| g.id).collect();
    let query = match scope {
        Scope::Mine => project::Entity::find().filter(project::Column::OwnerId.eq(caller.id)),
        Scope::Shared => {
            if groups.is_empty() {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            }
            shared_with_any(groups)
        }
    };
    page_of_projects(ctx, query, limit, before).await
}

/// `GET /api/v1/groups/{id}/projects`: members only (404 otherwise).
pub async fn group_projects(
    ctx: &Ctx,
    caller: &User,
    group_id: i64,
    limit: u64,
    before: Option<i64>,
) -> Result<Page<Project>> {
    if !caller.groups.iter().any(|g| g.id == group_id) {
        return Err(Error::NotFound);
    }
    page_of_projects(ctx, shared_with_any(vec![group_id]), limit, before).await
}

fn shared_with_any(groups: Vec<i64>) -> sea_orm::Select<project::Entity> {
    project::Entity::find().filter(
        project::Column::Id.in_subquery(
            Query::select()
                .column(project_share::Column::ProjectId)
                .from(project_share::Entity)
                .and_where(project_share::Column::GroupId.is_in(groups))
                .to_owned(),
        ),
    )
}

async fn page_of_projects(
    ctx: &Ctx,
    query: sea_orm::Select<project::Entity>,
    limit: u64,
    before: Option<i64>,
) -> Result<Page<Project>> {
    let mut query = query.order_by_desc(project::Column::Id).limit(limit + 1);
    if let Some(b) = before {
        query = query.filter(project::Column::Id.lt(b));
    }
    let mut rows = query.all(&ctx.db).await?;
    let next = page_cursor(&mut rows, limit, |p| p.id);
    let ids: Vec<i64> = rows.iter().map(|p| p.id).collect();
    let shares = if ids.is_empty() {
        Vec::new()
    } else {
        project_share::Entity::find()
            .filter(project_share::Column::ProjectId.is_in(ids))
            .order_by_asc(project_share::Column::GroupId)
            .all(&ctx.db)
            .await?
    };
    let items = rows
        .into_iter()
        .map(|p| {
            let shared: Vec<i64> = shares
                .iter()
                .filter(|s| s.project_id == p.id)
                .map(|s| s.group_id)
                .collect();
            to_project(p, shared)
        })
        .collect();
    Ok(Page { items, next })
}
