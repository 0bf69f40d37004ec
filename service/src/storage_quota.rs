//! S8: the bytes each user has made cubby store, `users.storage_bytes`,
//! changed in the same transaction as every write that stores or gives back
//! bytes, and checked against `CUBBY_USER_STORAGE_QUOTA_BYTES`.
//!
//! What counts: every kept version of the user's projects (a create, copy or
//! save adds its body's size; a pruned version or a deleted project gives its
//! bytes back) and every asset whose row the user's upload created (a new
//! asset, or a backpack body or thumbnail that was new). An asset that was
//! already stored costs nothing and is never given back: assets are shared
//! and never deleted.
//!
//! Exactness, like G8: a write that adds bytes first locks the user's row
//! (`SELECT … FOR UPDATE`; on SQLite the IMMEDIATE transaction already holds
//! the write lock) and reads the count under that lock, so the adding writes
//! of one user take turns on that row and each sees what the last one
//! committed. A refused write returns an error, which rolls back everything
//! it did in the transaction. A write that only gives bytes back needs no
//! check: its `UPDATE … SET storage_bytes = storage_bytes - n` is atomic.
//!
//! Lock order, to keep the locks acyclic: a project's row before its owner's
//! user row (saves, deletes, copies); the user row before any asset row.

use entity::user;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
    QueryTrait,
};

use crate::db::FixedSql;
use crate::error::{Error, Result};
use crate::Ctx;

/// A user's count, read under the user's row lock.
#[derive(Debug)]
pub(crate) struct Usage {
    user: user::Model,
}

/// Locks the user's row for the rest of the transaction and reads the count.
pub(crate) async fn lock(txn: &DatabaseTransaction, user_id: i64) -> Result<Usage> {
    // Every write that adds bytes runs this: the text is built once.
    static SQL: FixedSql = FixedSql::new();
    let statement = SQL.statement(txn.get_database_backend(), vec![user_id.into()], || {
        user::Entity::find_by_id(user_id)
            .lock_exclusive()
            .into_query()
    });
    let user = user::Entity::find()
        .from_raw_sql(statement)
        .one(txn)
        .await?
        .ok_or(Error::Unauthenticated)?;
    Ok(Usage { user })
}

impl Usage {
    /// Adds `delta` bytes (negative: gives them back) to the count, unless
    /// the write adds bytes and the count would then be over the quota:
    /// `StorageQuotaExceeded`, and the caller's transaction rolls back.
    pub(crate) async fn charge(
        &mut self,
        ctx: &Ctx,
        txn: &DatabaseTransaction,
        delta: i64,
    ) -> Result<()> {
        let quota = ctx.settings.user_storage_quota_bytes;
        if !fits(quota, self.user.storage_bytes, delta) {
            return Err(Error::StorageQuotaExceeded { quota });
        }
        add(txn, self.user.id, delta).await?;
        self.user.storage_bytes = self.user.storage_bytes.saturating_add(delta);
        Ok(())
    }
}

/// Changes a user's count by `delta`: a write that adds bytes locks the row
/// and checks the quota ([`Usage::charge`]); one that gives bytes back only
/// updates it.
pub(crate) async fn change(
    ctx: &Ctx,
    txn: &DatabaseTransaction,
    user_id: i64,
    delta: i64,
) -> Result<()> {
    if delta > 0 {
        lock(txn, user_id).await?.charge(ctx, txn, delta).await
    } else {
        add(txn, user_id, delta).await
    }
}

/// `UPDATE users SET storage_bytes = storage_bytes + delta WHERE id = ?`.
async fn add(txn: &DatabaseTransaction, user_id: i64, delta: i64) -> Result<()> {
    if delta == 0 {
        return Ok(());
    }
    static SQL: FixedSql = FixedSql::new();
    let values = vec![delta.into(), user_id.into()];
    let statement = SQL.statement(txn.get_database_backend(), values, || {
        user::Entity::update_many()
            .col_expr(
                user::Column::StorageBytes,
                Expr::col(user::Column::StorageBytes).add(delta),
            )
            .filter(user::Column::Id.eq(user_id))
            .into_query()
    });
    txn.execute_raw(statement).await?;
    Ok(())
}

/// May a user who stores `used` bytes change that by `delta` under `quota`
/// (`0`: no limit)? A write that does not add bytes always may, even over
/// the quota (after the quota was lowered): it only makes things better.
fn fits(quota: u64, used: i64, delta: i64) -> bool {
    if quota == 0 || delta <= 0 {
        return true;
    }
    let quota = i64::try_from(quota).unwrap_or(i64::MAX);
    used.checked_add(delta).is_some_and(|total| total <= quota)
}

#[cfg(test)]
mod tests {
    use super::fits;

    #[test]
    fn a_write_fits_up_to_exactly_the_quota() {
        assert!(fits(10, 0, 10));
        assert!(fits(10, 9, 1));
        assert!(!fits(10, 9, 2));
        assert!(!fits(10, 10, 1));
        assert!(!fits(10, 0, 11));
    }

    #[test]
    fn giving_back_always_fits_and_zero_is_no_limit() {
        assert!(fits(10, 50, 0));
        assert!(fits(10, 50, -20));
        assert!(fits(0, i64::MAX - 1, 1));
        assert!(!fits(u64::MAX, i64::MAX, 1), "no overflow");
        assert!(fits(u64::MAX, 0, i64::MAX));
    }
}
