//! Creating projects: a new one (`create`) or a copy of one the caller may
//! read (`copy`). Both lock the owner's user row first, so the project quota
//! and the storage quota (the new body's bytes, S8) are exact however many
//! creates race (G8), and both insert under a unique slug that the
//! database, not a prior SELECT, decides (G10).

use chrono::{DateTime, Utc};
use entity::project;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect,
};

use super::rows::{
    fault_before_commit, insert_version, live, live_by_id, to_project, version_row, BodyFile,
    Written,
};
use super::rules::{check_body, check_title, md5_hex, slug_base, slug_candidate, DEFAULT_TITLE};
use super::{Created, NewProject, Project};
use crate::access::access;
use crate::auth::User;
use crate::error::{Error, Result};
use crate::idempotency::Idempotency;
use crate::storage_quota::{self, Usage};
use crate::tx::{self, Kind};
use crate::{now, Ctx};

/// How many slugs a create tries before giving up (the 2nd and later have a
/// random suffix, so a clash after the first is already unlikely).
const SLUG_ATTEMPTS: usize = 16;

/// `POST /api/v1/projects` and the Scratch editor's `POST /projects/`.
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
    let idempotency = Idempotency::new(idem_key, "project.create")?;
    let md5 = md5_hex(body);
    let key = ctx.blobs.put(body).await?;
    let file = BodyFile {
        file: &key,
        size: body.len() as i64,
        md5: &md5,
    };

    let result = tx::run(
        &ctx.db,
        &ctx.retry,
        "project.create",
        Kind::Edit,
        async |txn| {
            let at = now();
            if let Some(project) = idempotency.replay(txn, caller.id, at).await? {
                return Ok(Created {
                    project,
                    replayed: true,
                });
            }
            if let Some(parent) = parent_id {
                // The editor's copy and remix send their own body, naming
                // the original only as the parent, which the caller must see.
                let p = live_by_id(parent).one(txn).await?.ok_or(Error::NotFound)?;
                access(txn, caller, &p).await?.require_read()?;
            }
            let mut usage = lock_owner_and_check_quota(ctx, txn, caller.id).await?;
            usage.charge(ctx, txn, file.size).await?;
            let row = insert_project(txn, caller.id, &title, parent_id, &file, at).await?;
            let project = to_project(row, Vec::new());
            idempotency.remember(txn, caller.id, 201, &project).await?;
            fault_before_commit(ctx)?;
            Ok(Created {
                project,
                replayed: false,
            })
        },
    )
    .await;

    let keep = matches!(&result, Ok(c) if !c.replayed).then_some(key.as_str());
    let mut written = Written::default();
    written.push(key.clone());
    written.delete_except(ctx, keep).await;
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
    let idempotency = Idempotency::new(idem_key, format!("project.copy:{source_id}"))?;
    let mut written = Written::default();

    let result = tx::run(
        &ctx.db,
        &ctx.retry,
        "project.copy",
        Kind::Edit,
        async |txn| {
            let at = now();
            if let Some(project) = idempotency.replay::<Project>(txn, caller.id, at).await? {
                let replayed = Created {
                    project,
                    replayed: true,
                };
                return Ok((replayed, None));
            }
            // A shared lock on the source: a delete or save waits until this
            // copy has committed, so the body we copy cannot vanish (G6).
            let source = live_by_id(source_id)
                .lock_shared()
                .one(txn)
                .await?
                .ok_or(Error::NotFound)?;
            access(txn, caller, &source).await?.require_read()?;
            let current = version_row(txn, source.id, source.version).await?;
            // Both quotas before the body is copied: a refused copy writes nothing.
            let mut usage = lock_owner_and_check_quota(ctx, txn, caller.id).await?;
            usage.charge(ctx, txn, current.body_size).await?;
            let bytes = ctx.blobs.get(&current.body_file).await?;
            let key = ctx.blobs.put(&bytes).await?;
            written.push(key.clone());

            let title = title.clone().unwrap_or_else(|| source.title.clone());
            let file = BodyFile {
                file: &key,
                size: current.body_size,
                md5: &current.body_md5,
            };
            let row = insert_project(txn, caller.id, &title, Some(source.id), &file, at).await?;
            let project = to_project(row, Vec::new());
            idempotency.remember(txn, caller.id, 201, &project).await?;
            let created = Created {
                project,
                replayed: false,
            };
            Ok((created, Some(key)))
        },
    )
    .await;

    let keep = result.as_ref().ok().and_then(|(_, key)| key.clone());
    written.delete_except(ctx, keep.as_deref()).await;
    result.map(|(created, _)| created)
}

/// `POST /api/v1/projects/import`: a project from a checked `.sb3`. The
/// files of its new assets are written already (`assets[i].key`); this
/// writes the body, then one transaction locks the caller's row (both
/// quotas, G8 and S8), inserts the asset rows through the same
/// deduplication as uploads (G3), charges the caller for the body and the
/// assets it created, and inserts the project under a unique slug (G10).
/// Afterwards every file no committed row names is deleted (G11).
pub(crate) async fn create_imported(
    ctx: &Ctx,
    caller: &User,
    title: Option<&str>,
    body: &[u8],
    assets: &[crate::assets::Prepared],
    idem_key: Option<&str>,
) -> Result<Created> {
    let mut written = Written::default();
    for key in assets.iter().filter_map(|a| a.key.clone()) {
        written.push(key);
    }
    let prepared = async {
        let title = check_title(title.unwrap_or(DEFAULT_TITLE))?;
        check_body(ctx, body)?;
        let idempotency = Idempotency::new(idem_key, "project.import")?;
        let key = ctx.blobs.put(body).await?;
        Ok::<_, Error>((title, idempotency, key))
    }
    .await;
    let (title, idempotency, key) = match prepared {
        Ok(p) => p,
        Err(err) => {
            written.delete_except(ctx, None).await;
            return Err(err);
        }
    };
    written.push(key.clone());
    let md5 = md5_hex(body);
    let file = BodyFile {
        file: &key,
        size: body.len() as i64,
        md5: &md5,
    };

    let result = tx::run(
        &ctx.db,
        &ctx.retry,
        "project.import",
        Kind::Edit,
        async |txn| {
            let at = now();
            if let Some(project) = idempotency.replay(txn, caller.id, at).await? {
                let replayed = Created {
                    project,
                    replayed: true,
                };
                return Ok((replayed, Vec::new()));
            }
            // The caller's row first (both quotas), then the asset rows.
            let mut usage = lock_owner_and_check_quota(ctx, txn, caller.id).await?;
            let mut charged = file.size;
            let mut kept = vec![key.clone()];
            for asset in assets {
                let Some(new_file) = asset.new_file() else {
                    continue;
                };
                let (_, created) =
                    crate::assets::insert_row(txn, &asset.name, &new_file, Some(caller.id)).await?;
                if created {
                    charged += new_file.size;
                    kept.push(new_file.key.to_owned());
                }
            }
            usage.charge(ctx, txn, charged).await?;
            let row = insert_project(txn, caller.id, &title, None, &file, at).await?;
            let project = to_project(row, Vec::new());
            idempotency.remember(txn, caller.id, 201, &project).await?;
            fault_before_commit(ctx)?;
            let created = Created {
                project,
                replayed: false,
            };
            Ok((created, kept))
        },
    )
    .await;

    let kept = result.as_ref().map(|(_, k)| k.clone()).unwrap_or_default();
    written.delete_unless_in(ctx, &kept).await;
    result.map(|(created, _)| created)
}

/// Locks the owner's user row and checks the project quota; returns the
/// owner's storage count, read under that lock, for the body's charge.
/// Every create and copy by one user passes this lock, so racing creates
/// cannot overshoot either quota (G8, S8).
pub(super) async fn lock_owner_and_check_quota(
    ctx: &Ctx,
    txn: &DatabaseTransaction,
    owner_id: i64,
) -> Result<Usage> {
    let usage = storage_quota::lock(txn, owner_id).await?;
    // Only live projects count: the trash does not (G8 stays exact, since
    // every create, copy and restore counts under this same lock).
    let owned = live()
        .filter(project::Column::OwnerId.eq(owner_id))
        .count(txn)
        .await?;
    if owned >= u64::from(ctx.settings.project_quota) {
        return Err(Error::QuotaExceeded {
            quota: ctx.settings.project_quota,
        });
    }
    Ok(usage)
}

/// Inserts the project row under a unique slug (the unique index decides;
/// a clash tries the next candidate) and its version-1 row.
pub(super) async fn insert_project(
    txn: &DatabaseTransaction,
    owner_id: i64,
    title: &str,
    parent_id: Option<i64>,
    body: &BodyFile<'_>,
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
            body_size: Set(body.size),
            body_md5: Set(body.md5.to_owned()),
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
            .filter(|row| row.slug == slug && row.owner_id == owner_id && row.version == 1);
        let Some(row) = ours else {
            continue;
        };
        insert_version(txn, id, 1, owner_id, body, at).await?;
        return Ok(row);
    }
    Err(Error::Internal("no free slug after many attempts".into()))
}
