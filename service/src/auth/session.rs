//! Sessions: 256-bit random tokens of which only the sha256 is stored; the
//! lookup every request makes (one query); logout; and keeping the identity
//! provider's tokens fresh, once per session however many requests race (G12).

use chrono::{DateTime, Utc};
use entity::{group, membership, session, user};
use rand::RngCore;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, IntoIden, Query, SelectStatement};
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};
use sha2::{Digest, Sha256};

use super::{Group, GroupSource, LoginInput, Role, UpstreamTokens, User};
use crate::db::FixedSql;
use crate::error::{Error, Result};
use crate::tx::{self, Kind};
use crate::Ctx;

/// A token longer than this is no token of ours; it is refused unhashed.
const MAX_TOKEN_LEN: usize = 256;

/// The provider's access token counts as expired this long before it is.
const REFRESH_MARGIN_SECS: i64 = 10;

pub(super) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The only form in which a token is stored or looked up.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn expires_soon(at: DateTime<Utc>) -> bool {
    at <= Utc::now() + chrono::Duration::seconds(REFRESH_MARGIN_SECS)
}

/// A session as a request finds it.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub user: User,
    pub session_id: i64,
    /// When the provider's access token expires (OIDC sessions only).
    pub access_expires_at: Option<DateTime<Utc>>,
}

impl Authenticated {
    /// The provider's access token has expired or expires within 10 s.
    pub fn needs_refresh(&self) -> bool {
        self.access_expires_at.is_some_and(expires_soon)
    }
}

/// The user behind a session token, or `Unauthenticated` when the token is
/// unknown or expired.
pub async fn authenticate(ctx: &Ctx, token: &str) -> Result<User> {
    Ok(authenticate_session(ctx, token).await?.user)
}

/// One row of [`session_query`]: the session and its user, and one of the
/// user's groups (all `None` for a user in no group).
#[derive(Debug, FromQueryResult)]
struct SessionRow {
    session_id: i64,
    refresh_token: Option<String>,
    access_expires_at: Option<DateTime<Utc>>,
    user_id: i64,
    username: String,
    display_name: String,
    role: String,
    group_id: Option<i64>,
    group_external_id: Option<String>,
    group_name: Option<String>,
    group_source: Option<String>,
    group_join_code: Option<String>,
}

/// Like [`authenticate`], with what the caller needs to keep the provider's
/// tokens fresh.
pub async fn authenticate_session(ctx: &Ctx, token: &str) -> Result<Authenticated> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(Error::Unauthenticated);
    }
    static SESSION_SQL: FixedSql = FixedSql::new();
    let (hash, now) = (token_hash(token), Utc::now());
    let statement = SESSION_SQL.statement(
        ctx.db.get_database_backend(),
        vec![hash.clone().into(), now.into()],
        || session_query(hash.clone(), now),
    );
    let rows = SessionRow::find_by_statement(statement)
        .all(&ctx.db)
        .await?;
    let first = rows.first().ok_or(Error::Unauthenticated)?;
    let role = Role::from_stored(&first.role);
    let groups = rows
        .iter()
        .filter_map(|row| {
            Some(Group::for_member(
                row.group_id?,
                row.group_external_id.clone(),
                row.group_name.clone()?,
                GroupSource::from_stored(row.group_source.as_deref()?),
                row.group_join_code.clone(),
                role,
            ))
        })
        .collect();
    Ok(Authenticated {
        user: User {
            id: first.user_id,
            username: first.username.clone(),
            display_name: first.display_name.clone(),
            role,
            groups,
        },
        session_id: first.session_id,
        access_expires_at: first.refresh_token.as_ref().and(first.access_expires_at),
    })
}

/// Selects `table.column AS name` for each `(column, name)`.
fn select_as<T, C>(query: &mut SelectStatement, table: T, columns: &[(C, &str)])
where
    T: IntoIden + Copy + 'static,
    C: IntoIden + Copy + 'static,
{
    for (column, name) in columns {
        query.expr_as(Expr::col((table, *column)), Alias::new(*name));
    }
}

/// The live session with this token, its user and the user's groups, in ONE
/// query (every request runs it): sessions ⋈ users ⟕ memberships ⟕ groups,
/// one row per group, ordered by group id. Columns are named after the
/// fields of [`SessionRow`].
fn session_query(token_sha256: String, now: DateTime<Utc>) -> SelectStatement {
    let mut query = Query::select();
    select_as(
        &mut query,
        session::Entity,
        &[
            (session::Column::Id, "session_id"),
            (session::Column::RefreshToken, "refresh_token"),
            (session::Column::AccessExpiresAt, "access_expires_at"),
        ],
    );
    select_as(
        &mut query,
        user::Entity,
        &[
            (user::Column::Id, "user_id"),
            (user::Column::Username, "username"),
            (user::Column::DisplayName, "display_name"),
            (user::Column::Role, "role"),
        ],
    );
    select_as(
        &mut query,
        group::Entity,
        &[
            (group::Column::Id, "group_id"),
            (group::Column::ExternalId, "group_external_id"),
            (group::Column::Name, "group_name"),
            (group::Column::Source, "group_source"),
            (group::Column::JoinCode, "group_join_code"),
        ],
    );
    query
        .from(session::Entity)
        .inner_join(
            user::Entity,
            Expr::col((user::Entity, user::Column::Id))
                .equals((session::Entity, session::Column::UserId)),
        )
        .left_join(
            membership::Entity,
            Expr::col((membership::Entity, membership::Column::UserId))
                .equals((user::Entity, user::Column::Id)),
        )
        .left_join(
            group::Entity,
            Expr::col((group::Entity, group::Column::Id))
                .equals((membership::Entity, membership::Column::GroupId)),
        )
        .and_where(Expr::col((session::Entity, session::Column::TokenSha256)).eq(token_sha256))
        .and_where(Expr::col((session::Entity, session::Column::ExpiresAt)).gt(now))
        .order_by((group::Entity, group::Column::Id), sea_orm::Order::Asc)
        .to_owned()
}

/// Ends a session server-side. Unknown tokens are fine: logout is idempotent.
pub async fn logout(ctx: &Ctx, token: &str) -> Result<()> {
    let hash = token_hash(token);
    tx::run(&ctx.db, &ctx.retry, "logout", Kind::Edit, async |txn| {
        session::Entity::delete_many()
            .filter(session::Column::TokenSha256.eq(hash.clone()))
            .exec(txn)
            .await?;
        Ok(())
    })
    .await
}

/// What a refresh at the provider gave.
#[derive(Clone, Debug)]
pub enum Refresh {
    /// New tokens, and the claims they carry if the provider sent them.
    Fresh(UpstreamTokens, Option<LoginInput>),
    /// The provider refused the refresh token: the session ends.
    Refused,
}

/// How often a request that waits for another's refresh looks again.
const REFRESH_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// What a request finds when its session's upstream token needs a refresh.
enum Claim {
    /// Fresh already (another request refreshed it), or not an OIDC session.
    Fresh,
    /// The session is gone (logged out, or a refused refresh ended it).
    Gone,
    /// Another request holds the lease and is talking to the provider.
    Leased,
    /// This request holds the lease: it calls the provider.
    Ours {
        lease_id: String,
        refresh_token: String,
    },
}

/// Keeps a session's upstream tokens fresh, once however many requests race
/// (G12), without holding a database transaction while the identity provider
/// answers (S9):
///
/// 1. a short transaction claims a lease on the session row (under its row
///    lock, re-checking the expiry), unless the tokens are fresh or another
///    request's lease is live;
/// 2. the lease holder calls `refresher` (the provider's token endpoint)
///    outside any transaction — so a retried transaction can never send an
///    already-rotated refresh token, and SQLite's write lock is not held;
/// 3. a second short transaction stores the result, if the lease is still
///    this request's, and clears it. A refused refresh deletes the session
///    (`Unauthenticated`); a failed call clears the lease for the next try.
///
/// Requests that find the lease taken wait for the fresh tokens; a lease
/// whose holder died expires after 30 s. New claims re-sync the user's groups.
pub async fn refresh_session<F>(ctx: &Ctx, session_id: i64, refresher: F) -> Result<()>
where
    F: AsyncFn(String) -> Result<Refresh>,
{
    // A waiter outlasts one whole lease: by then it holds one itself.
    let waited_for = std::time::Instant::now();
    let patience = ctx.settings.refresh_lease + std::time::Duration::from_secs(5);
    loop {
        match claim_refresh(ctx, session_id).await? {
            Claim::Fresh => return Ok(()),
            Claim::Gone => return Err(Error::Unauthenticated),
            Claim::Leased if waited_for.elapsed() > patience => return Err(Error::Busy),
            Claim::Leased => tokio::time::sleep(REFRESH_POLL).await,
            Claim::Ours {
                lease_id,
                refresh_token,
            } => {
                let outcome = refresher(refresh_token).await;
                return finish_refresh(ctx, session_id, &lease_id, outcome).await;
            }
        }
    }
}

/// What the session row says about its refresh, read without a lock first
/// (waiters poll this), then claimed under the row lock.
async fn claim_refresh(ctx: &Ctx, session_id: i64) -> Result<Claim> {
    let Some(row) = session::Entity::find_by_id(session_id).one(&ctx.db).await? else {
        return Ok(Claim::Gone);
    };
    match look(&row) {
        Claim::Ours { .. } => {}
        other => return Ok(other),
    }
    tx::run(
        &ctx.db,
        &ctx.retry,
        "session.refresh",
        Kind::Edit,
        async |txn| {
            let Some(row) = session::Entity::find_by_id(session_id)
                .lock_exclusive()
                .one(txn)
                .await?
            else {
                return Ok(Claim::Gone);
            };
            let Claim::Ours { refresh_token, .. } = look(&row) else {
                return Ok(look(&row));
            };
            let lease_id = new_token();
            let lease = chrono::Duration::from_std(ctx.settings.refresh_lease)
                .unwrap_or(chrono::Duration::seconds(30));
            session::Entity::update_many()
                .col_expr(
                    session::Column::RefreshLeaseId,
                    Expr::value(lease_id.clone()),
                )
                .col_expr(
                    session::Column::RefreshLeaseUntil,
                    Expr::value(Utc::now() + lease),
                )
                .filter(session::Column::Id.eq(session_id))
                .exec(txn)
                .await?;
            Ok(Claim::Ours {
                lease_id,
                refresh_token,
            })
        },
    )
    .await
}

/// What a session row needs: nothing (fresh), to wait (leased), or a
/// refresh (`Ours`, with an empty lease id: not claimed yet).
fn look(row: &session::Model) -> Claim {
    let needs_refresh = row.access_expires_at.is_some_and(expires_soon);
    let Some(refresh_token) = row.refresh_token.clone().filter(|_| needs_refresh) else {
        return Claim::Fresh;
    };
    if row
        .refresh_lease_until
        .is_some_and(|until| until > Utc::now())
    {
        return Claim::Leased;
    }
    Claim::Ours {
        lease_id: String::new(),
        refresh_token,
    }
}

/// Stores what the provider said, if the lease is still ours, and ends it.
async fn finish_refresh(
    ctx: &Ctx,
    session_id: i64,
    lease_id: &str,
    outcome: Result<Refresh>,
) -> Result<()> {
    let ours = || {
        session::Column::Id
            .eq(session_id)
            .and(session::Column::RefreshLeaseId.eq(lease_id))
    };
    let no_lease = |update: sea_orm::UpdateMany<session::Entity>| {
        update
            .col_expr(
                session::Column::RefreshLeaseId,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                session::Column::RefreshLeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
    };
    match outcome {
        Ok(Refresh::Fresh(tokens, claims)) => {
            let mut update = no_lease(session::Entity::update_many()).col_expr(
                session::Column::AccessExpiresAt,
                Expr::value(tokens.access_expires_at),
            );
            if let Some(rotated) = tokens.refresh_token {
                update = update.col_expr(session::Column::RefreshToken, Expr::value(rotated));
            }
            tx::run(
                &ctx.db,
                &ctx.retry,
                "session.refresh",
                Kind::Edit,
                async |txn| {
                    update.clone().filter(ours()).exec(txn).await?;
                    Ok(())
                },
            )
            .await?;
            match claims {
                Some(claims) => super::resync(ctx, &claims).await.map(|_| ()),
                None => Ok(()),
            }
        }
        Ok(Refresh::Refused) => {
            tx::run(
                &ctx.db,
                &ctx.retry,
                "session.refresh",
                Kind::Edit,
                async |txn| {
                    session::Entity::delete_many()
                        .filter(session::Column::Id.eq(session_id))
                        .exec(txn)
                        .await?;
                    Ok(())
                },
            )
            .await?;
            Err(Error::Unauthenticated)
        }
        Err(err) => {
            // Let the next request try at once instead of after the lease.
            let cleared = tx::run(
                &ctx.db,
                &ctx.retry,
                "session.refresh",
                Kind::Edit,
                async |txn| {
                    no_lease(session::Entity::update_many())
                        .filter(ours())
                        .exec(txn)
                        .await?;
                    Ok(())
                },
            )
            .await;
            if let Err(clear_err) = cleared {
                tracing::warn!(error = %clear_err, "could not clear a refresh lease; it expires");
            }
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_random_bits_in_hex() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn the_stored_form_is_the_sha256_of_the_token() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
