//! The set of groups a project is shared with, replaced whole under the
//! project's row lock: racing share calls queue on that lock, so the final
//! set is one of the requested sets and no (project, group) pair is ever
//! inserted twice (G5; the pair is also a unique key).

use std::collections::BTreeSet;

use entity::project_share;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::rows::{lock_for_owner, shares_of};
use crate::auth::{Role, User};
use crate::error::{Code, Error, Result};
use crate::tx::{self, Kind};
use crate::{now, Ctx};

/// Most groups one project may be shared with in one call.
const MAX_SHARES: usize = 200;

/// `PUT /api/v1/projects/{id}/shares`: replaces the share set. Only an
/// owner who is a teacher shares, and only with their own groups.
#[tracing::instrument(skip_all, fields(user.id = caller.id, project.id = id))]
pub async fn set_shares(ctx: &Ctx, caller: &User, id: i64, group_ids: &[i64]) -> Result<Vec<i64>> {
    let wanted: BTreeSet<i64> = group_ids.iter().copied().collect();
    if wanted.len() > MAX_SHARES {
        return Err(Error::invalid(
            Code::InvalidInput,
            format!("at most {MAX_SHARES} groups"),
        ));
    }
    replace_shares(ctx, caller, id, |_| wanted.clone()).await
}

/// Adds one group to the share set (the home page's share form), under the
/// same lock and rules as [`set_shares`].
#[tracing::instrument(skip_all, fields(user.id = caller.id, project.id = id))]
pub async fn add_share(ctx: &Ctx, caller: &User, id: i64, group_id: i64) -> Result<Vec<i64>> {
    replace_shares(ctx, caller, id, |current| {
        let mut wanted = current.clone();
        wanted.insert(group_id);
        wanted
    })
    .await
}

/// The share set becomes `wanted(current)`, decided under the project's lock.
async fn replace_shares(
    ctx: &Ctx,
    caller: &User,
    id: i64,
    wanted: impl Fn(&BTreeSet<i64>) -> BTreeSet<i64>,
) -> Result<Vec<i64>> {
    let mine: BTreeSet<i64> = caller.groups.iter().map(|g| g.id).collect();
    tx::run(
        &ctx.db,
        &ctx.retry,
        "project.share",
        Kind::Edit,
        async |txn| {
            lock_for_owner(txn, caller, id).await?;
            let current: BTreeSet<i64> = shares_of(txn, id).await?.into_iter().collect();
            let wanted = wanted(&current);
            if wanted.len() > MAX_SHARES {
                return Err(Error::invalid(
                    Code::InvalidInput,
                    format!("at most {MAX_SHARES} groups"),
                ));
            }
            if caller.role != Role::Teacher || !wanted.is_subset(&mine) {
                return Err(Error::Forbidden);
            }
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
