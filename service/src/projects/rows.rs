//! Row helpers every project write shares: the owner's lock, version rows,
//! the project as the API shows it, and the list of files a request wrote.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{project, project_share, project_version};
use sea_orm::sea_query::{Expr, ExprTrait, IntoCondition};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    FromQueryResult, IdenStatic, JoinType, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    RelationDef, Select, SelectA, SelectB,
};

use super::Project;
use crate::access::access;
use crate::auth::User;
use crate::blob::delete_all;
use crate::db::FixedSql;
use crate::error::{Error, Result};
use crate::Ctx;

pub(super) fn to_project(p: project::Model, shared_with: Vec<i64>) -> Project {
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

/// The ids of the groups a project is shared with, ascending.
pub(super) async fn shares_of(db: &impl ConnectionTrait, project_id: i64) -> Result<Vec<i64>> {
    // Every save answers with its shares: the text is built once.
    static SQL: FixedSql = FixedSql::new();
    let statement = SQL.statement(db.get_database_backend(), vec![project_id.into()], || {
        project_share::Entity::find()
            .filter(project_share::Column::ProjectId.eq(project_id))
            .order_by_asc(project_share::Column::GroupId)
            .into_query()
    });
    Ok(project_share::Entity::find()
        .from_raw_sql(statement)
        .all(db)
        .await?
        .into_iter()
        .map(|s| s.group_id)
        .collect())
}

/// Every live project: **the one rule** that a project in the trash
/// (`deleted_at` set) does not exist for any project route, list or quota
/// (G15). Every query on projects outside `trash.rs` starts here.
pub(super) fn live() -> Select<project::Entity> {
    project::Entity::find().filter(project::Column::DeletedAt.is_null())
}

/// The live project `id` (see [`live`]).
pub(super) fn live_by_id(id: i64) -> Select<project::Entity> {
    live().filter(project::Column::Id.eq(id))
}

/// The live project `id` (see [`live`]), by a query whose text is built
/// once: saves and reads look a project up on every request.
pub(super) async fn live_project(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<project::Model>> {
    static SQL: FixedSql = FixedSql::new();
    let statement = SQL.statement(db.get_database_backend(), vec![id.into()], || {
        live_by_id(id).into_query()
    });
    Ok(project::Entity::find()
        .from_raw_sql(statement)
        .one(db)
        .await?)
}

/// The live project `id` with the groups it is shared with (ascending), in
/// one query whose text is built once (editors re-read often).
pub(super) async fn live_with_shares(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<(project::Model, Vec<i64>)>> {
    static SQL: FixedSql = FixedSql::new();
    let statement = SQL.statement(db.get_database_backend(), vec![id.into()], || {
        live_by_id(id)
            .find_with_related(project_share::Entity)
            .order_by_asc(project_share::Column::GroupId)
            .into_query()
    });
    // One row per share (one with no share columns for an unshared
    // project), the project's columns prefixed `A_`, the share's `B_`.
    let rows = db.query_all_raw(statement).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let project = project::Model::from_query_result(first, SelectA.as_str())?;
    let mut shares = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(share) =
            project_share::Model::from_query_result_optional(row, SelectB.as_str())?
        {
            shares.push(share.group_id);
        }
    }
    Ok(Some((project, shares)))
}

/// The live project `id` with the row of its current version (`None` when
/// a save committed and pruned it between the two reads of another
/// request): one query where a body read needed two.
pub(super) async fn live_with_current_version(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<(project::Model, Option<project_version::Model>)>> {
    let current_version: RelationDef = project::Entity::belongs_to(project_version::Entity)
        .from(project::Column::Id)
        .to(project_version::Column::ProjectId)
        .on_condition(|project, version| {
            Expr::col((project, project::Column::Version))
                .equals((version, project_version::Column::Version))
                .into_condition()
        })
        .into();
    Ok(live_by_id(id)
        .select_also(project_version::Entity)
        .join(JoinType::LeftJoin, current_version)
        .one(db)
        .await?)
}

/// Every project in the trash.
pub(super) fn trashed() -> Select<project::Entity> {
    project::Entity::find().filter(project::Column::DeletedAt.is_not_null())
}

/// The share sets of several projects (one query), by project id; each set
/// ascending.
pub(super) async fn shares_of_many(
    db: &impl ConnectionTrait,
    project_ids: Vec<i64>,
) -> Result<HashMap<i64, Vec<i64>>> {
    let mut by_project: HashMap<i64, Vec<i64>> = HashMap::new();
    if project_ids.is_empty() {
        return Ok(by_project);
    }
    let shares = project_share::Entity::find()
        .filter(project_share::Column::ProjectId.is_in(project_ids))
        .order_by_asc(project_share::Column::GroupId)
        .all(db)
        .await?;
    for s in shares {
        by_project.entry(s.project_id).or_default().push(s.group_id);
    }
    Ok(by_project)
}

/// Locks a project row for a write by its owner (`SELECT … FOR UPDATE`;
/// on SQLite the transaction's IMMEDIATE lock): `NotFound` when it is gone,
/// in the trash or invisible to the caller, `Forbidden` for someone who may
/// only read it. (PostgreSQL re-checks the `deleted_at` filter on the row a
/// waiting lock finally gets, so a delete that commits first wins: G7.)
pub(super) async fn lock_for_owner(
    txn: &DatabaseTransaction,
    caller: &User,
    id: i64,
) -> Result<project::Model> {
    let p = live_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(Error::NotFound)?;
    access(txn, caller, &p).await?.require_owner()?;
    Ok(p)
}

/// The version row `version` of a project, which must exist (every project
/// has a row for its current version).
pub(super) async fn version_row(
    db: &impl ConnectionTrait,
    project_id: i64,
    version: i32,
) -> Result<project_version::Model> {
    find_version(db, project_id, version)
        .await?
        .ok_or_else(|| Error::Internal("current version row missing".into()))
}

/// The version row `version` of a project, if kept.
pub(super) async fn find_version(
    db: &impl ConnectionTrait,
    project_id: i64,
    version: i32,
) -> Result<Option<project_version::Model>> {
    Ok(project_version::Entity::find()
        .filter(project_version::Column::ProjectId.eq(project_id))
        .filter(project_version::Column::Version.eq(version))
        .one(db)
        .await?)
}

/// A body file of a version: where it is, how big, its md5.
pub(super) struct BodyFile<'a> {
    pub file: &'a str,
    pub size: i64,
    pub md5: &'a str,
}

/// Records version `version` of a project, written by `author_id`.
pub(super) async fn insert_version(
    txn: &DatabaseTransaction,
    project_id: i64,
    version: i32,
    author_id: i64,
    body: &BodyFile<'_>,
    at: DateTime<Utc>,
) -> Result<()> {
    // One per save: the text is built once, the values bound in column order.
    static SQL: FixedSql = FixedSql::new();
    let values = vec![
        project_id.into(),
        version.into(),
        author_id.into(),
        body.file.into(),
        body.size.into(),
        body.md5.into(),
        at.into(),
    ];
    let statement = SQL.statement(txn.get_database_backend(), values, || {
        project_version::Entity::insert(project_version::ActiveModel {
            project_id: Set(project_id),
            version: Set(version),
            author_id: Set(author_id),
            body_file: Set(body.file.to_owned()),
            body_size: Set(body.size),
            body_md5: Set(body.md5.to_owned()),
            created_at: Set(at),
            ..Default::default()
        })
        .into_query()
    });
    txn.execute_raw(statement).await?;
    Ok(())
}

/// Test fault (G11): fail a project write after its file is written.
pub(super) fn fault_before_commit(ctx: &Ctx) -> Result<()> {
    if ctx.faults.fail_before_commit {
        return Err(Error::Internal("injected failure before commit".into()));
    }
    Ok(())
}

/// The files a request wrote, to delete when they end up unreferenced:
/// whatever the outcome, only the file a committed row names may stay.
#[derive(Default)]
pub(super) struct Written(Vec<String>);

impl Written {
    pub fn push(&mut self, key: String) {
        self.0.push(key);
    }

    /// Deletes every written file except `keep` (the one the committed row
    /// references, if any).
    pub async fn delete_except(self, ctx: &Ctx, keep: Option<&str>) {
        let orphans: Vec<String> = self
            .0
            .into_iter()
            .filter(|k| Some(k.as_str()) != keep)
            .collect();
        delete_all(&ctx.blobs, &orphans).await;
    }

    /// Deletes every written file that `keep` (the files committed rows
    /// reference) does not name.
    pub async fn delete_unless_in(self, ctx: &Ctx, keep: &[String]) {
        let orphans: Vec<String> = self.0.into_iter().filter(|k| !keep.contains(k)).collect();
        delete_all(&ctx.blobs, &orphans).await;
    }
}
