//! Deleting a project: under its row lock, so a save or share racing the
//! delete either commits before it or finds no row after it (G7), and a copy
//! holding the shared lock finishes first (G6). The bytes of every version
//! it kept go back to the owner in the same transaction (S8). Files go after
//! the commit.

use entity::{project, project_share, project_version};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::rows::lock_for_owner;
use crate::auth::User;
use crate::blob::delete_all;
use crate::error::Result;
use crate::storage_quota;
use crate::tx::{self, Kind};
use crate::Ctx;

/// `DELETE /api/v1/projects/{id}`: afterwards the project is 404 for good (G7).
#[tracing::instrument(skip_all, fields(user.id = caller.id, project.id = id))]
pub async fn delete(ctx: &Ctx, caller: &User, id: i64) -> Result<()> {
    let files = tx::run(
        &ctx.db,
        &ctx.retry,
        "project.delete",
        Kind::Edit,
        async |txn| {
            let p = lock_for_owner(txn, caller, id).await?;
            let thumb = super::thumbnail::take(txn, id).await?;
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
            let freed: i64 = versions.iter().map(|v| v.body_size).sum::<i64>()
                + thumb.as_ref().map_or(0, |t| t.1);
            storage_quota::change(ctx, txn, p.owner_id, -freed).await?;
            Ok(versions
                .into_iter()
                .map(|v| v.body_file)
                .chain(thumb.map(|t| t.0))
                .collect::<Vec<_>>())
        },
    )
    .await?;
    delete_all(&ctx.blobs, &files).await;
    Ok(())
}
