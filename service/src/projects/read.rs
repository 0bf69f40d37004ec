//! Reading projects: one project, its body, its versions, and the lists.
//! Reads take no locks; who may read is decided by [`crate::access`].

use entity::{project, project_share, project_version};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::rows::{
    find_version, live, live_project, live_with_current_version, live_with_shares, shares_of_many,
    to_project,
};
use super::{Project, Scope, Version};
use crate::access::access;
use crate::auth::User;
use crate::blob::BlobError;
use crate::error::{Error, Result};
use crate::page::{Page, PageRequest};
use crate::Ctx;

/// How often a body read starts again when a save commits (and prunes)
/// between its two reads.
const BODY_READ_ATTEMPTS: usize = 5;

/// A project the caller may read, or `NotFound`.
pub(super) async fn readable(ctx: &Ctx, caller: &User, id: i64) -> Result<project::Model> {
    let p = live_project(&ctx.db, id).await?.ok_or(Error::NotFound)?;
    access(&ctx.db, caller, &p).await?.require_read()?;
    Ok(p)
}

/// `GET /api/v1/projects/{id}`.
pub async fn get(ctx: &Ctx, caller: &User, id: i64) -> Result<Project> {
    // The project with its shares in one query (editors re-read often).
    let (p, shares) = live_with_shares(&ctx.db, id)
        .await?
        .ok_or(Error::NotFound)?;
    access(&ctx.db, caller, &p).await?.require_read()?;
    Ok(to_project(p, shares))
}

/// `GET /api/v1/projects/{id}/body`: the current body and its version.
pub async fn body(ctx: &Ctx, caller: &User, id: i64) -> Result<(i32, Vec<u8>)> {
    // A save may commit and prune between our reads (this query and the
    // file); read again then.
    for _ in 0..BODY_READ_ATTEMPTS {
        let (p, current) = live_with_current_version(&ctx.db, id)
            .await?
            .ok_or(Error::NotFound)?;
        access(&ctx.db, caller, &p).await?.require_read()?;
        let Some(v) = current else {
            continue;
        };
        match ctx.blobs.get(&v.body_file).await {
            Ok(bytes) => return Ok((p.version, bytes)),
            Err(BlobError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Busy)
}

/// `GET /api/v1/projects/{id}/versions`, newest first; the cursor is a
/// version number.
pub async fn versions(
    ctx: &Ctx,
    caller: &User,
    id: i64,
    page: PageRequest,
) -> Result<Page<Version>> {
    readable(ctx, caller, id).await?;
    let mut query = project_version::Entity::find()
        .filter(project_version::Column::ProjectId.eq(id))
        .order_by_desc(project_version::Column::Version)
        .limit(page.fetch());
    if let Some(before) = page.after {
        query = query.filter(project_version::Column::Version.lt(before));
    }
    let rows = query.all(&ctx.db).await?;
    Ok(
        Page::from_rows(rows, &page, |v| i64::from(v.version)).map(|v| Version {
            version: v.version,
            author_id: v.author_id,
            body_size: v.body_size,
            body_md5: v.body_md5,
            created_at: v.created_at,
        }),
    )
}

/// `GET /api/v1/projects/{id}/versions/{v}/body`; 404 once pruned.
pub async fn version_body(ctx: &Ctx, caller: &User, id: i64, version: i32) -> Result<Vec<u8>> {
    readable(ctx, caller, id).await?;
    let v = find_version(&ctx.db, id, version)
        .await?
        .ok_or(Error::NotFound)?;
    match ctx.blobs.get(&v.body_file).await {
        Ok(bytes) => Ok(bytes),
        // Pruned between our two reads.
        Err(BlobError::NotFound) => Err(Error::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// `GET /api/v1/projects?scope=`: the caller's own projects, or those shared
/// with the caller's groups; newest first, the cursor is a project id.
pub async fn list(
    ctx: &Ctx,
    caller: &User,
    scope: Scope,
    page: PageRequest,
) -> Result<Page<Project>> {
    let groups: Vec<i64> = caller.groups.iter().map(|g| g.id).collect();
    let query = match scope {
        Scope::Mine => live().filter(project::Column::OwnerId.eq(caller.id)),
        Scope::Shared if groups.is_empty() => return Ok(Page::empty()),
        Scope::Shared => shared_with_any(groups),
    };
    page_of_projects(ctx, query, page).await
}

/// `GET /api/v1/groups/{id}/projects`: members only (404 otherwise).
pub async fn group_projects(
    ctx: &Ctx,
    caller: &User,
    group_id: i64,
    page: PageRequest,
) -> Result<Page<Project>> {
    if !caller.groups.iter().any(|g| g.id == group_id) {
        return Err(Error::NotFound);
    }
    page_of_projects(ctx, shared_with_any(vec![group_id]), page).await
}

fn shared_with_any(groups: Vec<i64>) -> sea_orm::Select<project::Entity> {
    live().filter(
        project::Column::Id.in_subquery(
            Query::select()
                .column(project_share::Column::ProjectId)
                .from(project_share::Entity)
                .and_where(project_share::Column::GroupId.is_in(groups))
                .to_owned(),
        ),
    )
}

/// One page of `query`, newest first, each project with its shares (one
/// more query for the whole page, not one per project).
async fn page_of_projects(
    ctx: &Ctx,
    query: sea_orm::Select<project::Entity>,
    page: PageRequest,
) -> Result<Page<Project>> {
    let mut query = query.order_by_desc(project::Column::Id).limit(page.fetch());
    if let Some(before) = page.after {
        query = query.filter(project::Column::Id.lt(before));
    }
    let rows = Page::from_rows(query.all(&ctx.db).await?, &page, |p| p.id);
    let ids: Vec<i64> = rows.items.iter().map(|p| p.id).collect();
    let mut shares = shares_of_many(&ctx.db, ids).await?;
    Ok(rows.map(|p| {
        let shared = shares.remove(&p.id).unwrap_or_default();
        to_project(p, shared)
    }))
}
