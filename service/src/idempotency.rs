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

use crate::error::{Code, Error, Result};

pub const KEY_LIFETIME_HOURS: i64 = 24;

/// The `Idempotency-Key` of one create request (if it sent one), bound to
/// the kind of request (`scope`): the same key for another request is
/// `idempotency_key_reused`.
#[derive(Clone, Debug)]
pub struct Idempotency<'a> {
    key: Option<&'a str>,
    scope: String,
}

impl<'a> Idempotency<'a> {
    /// Checks the key (1–255 visible ASCII characters) before anything is
    /// written: `invalid_idempotency_key` otherwise.
    pub fn new(key: Option<&'a str>, scope: impl Into<String>) -> Result<Self> {
        if let Some(k) = key {
            check_key(k)?;
        }
        Ok(Self {
            key,
            scope: scope.into(),
        })
    }

    /// Inside the creating transaction: `Some(r)` when an earlier request
    /// with this key already succeeded (`r` is its stored response, to send
    /// again); `None` when this request goes ahead (and then must call
    /// [`remember`](Self::remember)) or sent no key.
    pub async fn replay<R: DeserializeOwned>(
        &self,
        txn: &DatabaseTransaction,
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<R>> {
        match self.key {
            Some(key) => claim(txn, user_id, key, &self.scope, now).await,
            None => Ok(None),
        }
    }

    /// Stores the response of the request that went ahead, in its transaction.
    pub async fn remember<R: Serialize>(
        &self,
        txn: &DatabaseTransaction,
        user_id: i64,
        status: u16,
        response: &R,
    ) -> Result<()> {
        match self.key {
            Some(key) => store(txn, user_id, key, status, response).await,
            None => Ok(()),
        }
    }
}

/// 1–255 visible ASCII characters.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            Code::InvalidIdempotencyKey,
            "Idempotency-Key must be 1-255 visible ASCII characters",
        ));
    }
    Ok(())
}

/// Claims `key` for `scope`. `Ok(None)`: this transaction owns it and must
/// call [`store`]. `Ok(Some(r))`: an earlier request with this key already
/// succeeded; `r` is its stored response.
async fn claim<R: DeserializeOwned>(
    txn: &DatabaseTransaction,
    user_id: i64,
    key: &str,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<Option<R>> {
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
            Code::IdempotencyKeyReused,
            "this Idempotency-Key was already used for a different request",
        ));
    }
    let body = row.response_body.unwrap_or_default();
    serde_json::from_str(&body)
        .map(Some)
        .map_err(|e| Error::Internal(format!("stored idempotent response: {e}")))
}

/// Stores the response of the request that claimed `key`.
async fn store<R: Serialize>(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_to_255_visible_ascii_characters() {
        let long = "k".repeat(255);
        let too_long = "k".repeat(256);
        let cases: &[(&str, bool)] = &[
            ("a", true),
            ("3f2c-uuid-like-0001", true),
            ("!~{}[]", true),
            (&long, true),
            ("", false),
            (&too_long, false),
            ("with space", false),
            ("tab\there", false),
            ("new\nline", false),
            ("ümlaut", false),
        ];
        for (key, ok) in cases {
            let got = check_key(key);
            assert_eq!(got.is_ok(), *ok, "{key:?}");
            if let Err(e) = got {
                assert_eq!(e.code(), Code::InvalidIdempotencyKey);
            }
        }
        assert!(Idempotency::new(Some(""), "x").is_err());
        assert!(Idempotency::new(None, "x").is_ok());
    }
}
