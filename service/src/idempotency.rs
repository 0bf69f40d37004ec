//! `Idempotency-Key` for POSTs that create something (G14).
//!
//! Inside the creating transaction, the key is claimed with an
//! insert-if-absent on the unique `(user_id, idem_key)`. The first request
//! inserts it and stores its response in the same transaction; every other
//! request with that key waits on that row (the unique index makes it wait
//! for the first transaction) and then replays the stored response. A
//! failed first attempt rolls back its claim, so the key stays usable.
//! Keys expire after 24 hours.

use chrono::{DateTime, Duration, Utc};
use entity::idempotency_key as idem;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Error, Result};

pub const KEY_LIFETIME_HOURS: i64 = 24;

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
        ));
    }
    Ok(())
}

/// Claims `key` for `scope`. `Ok(None)`: this transaction owns it and must
/// call [`store`]. `Ok(Some(r))`: an earlier request with this key already
/// succeeded; `r` is its stored response.
pub async fn claim<R: DeserializeOwned>(
    txn: &DatabaseTransaction,
    user_id: i64,
    key: &str,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<Option<R>> {
    check_key(key)?;
    // An expired key is as good as absent.
    idem::Entity::delete_many()
        .filter(idem::Column::UserId.eq(user_id))
        .filter(idem::Column::IdemKey.eq(key))
        .filter(idem::Column::CreatedAt.lt(now - Duration::hours(KEY_LIFETIME_HOURS)))
        .exec(txn)
        .await?;
    idem::Entity::insert(idem::ActiveModel {
        user_id: Set(user_id),
        idem_key: Set(key.to_owned()),
        scope: Set(scope.to_owned()),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([idem::Column::UserId, idem::Column::IdemKey])
    .exec_without_returning(txn)
    .await?;
    // Whose row is it? Not from the affected-row count: MariaDB reports a
    // duplicate as one affected row (sqlx sets CLIENT_FOUND_ROWS). A row
    // without a response can only be ours: another request's claim commits
    // together with its response, and our insert waited for that commit.
    let row = idem::Entity::find()
        .filter(idem::Column::UserId.eq(user_id))
        .filter(idem::Column::IdemKey.eq(key))
        .one(txn)
        .await?
        .ok_or_else(|| Error::Internal("idempotency key vanished".into()))?;
    if row.response_body.is_none() {
        return Ok(None);
    }
    if row.scope != scope {
        return Err(Error::invalid(
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different request",
        ));
    }
    let body = row.response_body.unwrap_or_default();
    serde_json::from_str(&body)
        .map(Some)
        .map_err(|e| Error::Internal(format!("stored idempotent response: {e}")))
}

/// Stores the response of the request that claimed `key`.
pub async fn store<R: Serialize>(
    txn: &DatabaseTransaction,
    user_id: i64,
    key: &str,
    status: u16,
    response: &R,
) -> Result<()> {
    let body = serde_json::to_string(response).map_err(|e| Error::Internal(e.to_string()))?;
    idem::Entity::update_many()
        .col_expr(idem::Column::ResponseStatus, Expr::value(i32::from(status)))
        .col_expr(idem::Column::ResponseBody, Expr::value(body))
        .filter(idem::Column::UserId.eq(user_id))
        .filter(idem::Column::IdemKey.eq(key))
        .exec(txn)
        .await?;
    Ok(())
}
