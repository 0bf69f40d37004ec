//! An OIDC login in progress (between `/auth/login` and `/auth/callback`),
//! kept in the database so that any instance can finish a login another
//! began, and consumed exactly once.

use chrono::Utc;
use entity::login_state;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::session::token_hash;
use crate::error::{Code, Error, Result};
use crate::tx::{self, Kind};
use crate::Ctx;

/// How long a started login may take.
pub const LOGIN_STATE_MINUTES: i64 = 10;

/// A state value longer than this is no state of ours.
const MAX_STATE_LEN: usize = 512;

/// What the callback needs of the login it finishes.
#[derive(Clone)]
pub struct LoginState {
    pub pkce_verifier: String,
    pub nonce: String,
    pub return_to: String,
}

impl std::fmt::Debug for LoginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginState")
            .field("pkce_verifier", &"<redacted>")
            .field("nonce", &"<redacted>")
            .field("return_to", &self.return_to)
            .finish()
    }
}

/// Remembers a started login in the database (the state only as its sha256).
pub async fn begin_oidc_login(ctx: &Ctx, state: &str, started: &LoginState) -> Result<()> {
    let now = crate::now();
    tx::run(
        &ctx.db,
        &ctx.retry,
        "login.begin",
        Kind::Edit,
        async |txn| {
            login_state::Entity::insert(login_state::ActiveModel {
                state: Set(token_hash(state)),
                pkce_verifier: Set(started.pkce_verifier.clone()),
                nonce: Set(started.nonce.clone()),
                return_to: Set(started.return_to.clone()),
                created_at: Set(now),
                expires_at: Set(now + chrono::Duration::minutes(LOGIN_STATE_MINUTES)),
                ..Default::default()
            })
            .exec_without_returning(txn)
            .await?;
            Ok(())
        },
    )
    .await
}

fn invalid_state() -> Error {
    Error::invalid(
        Code::InvalidState,
        "this login is unknown, expired or already used; start again",
    )
}

/// Consumes a started login: exactly once, and only within its lifetime.
/// Unknown, expired or already used → `invalid_state`.
pub async fn finish_oidc_login(ctx: &Ctx, state: &str) -> Result<LoginState> {
    if state.is_empty() || state.len() > MAX_STATE_LEN {
        return Err(invalid_state());
    }
    let key = token_hash(state);
    let row = tx::run(
        &ctx.db,
        &ctx.retry,
        "login.finish",
        Kind::Edit,
        async |txn| {
            // The row lock makes two callbacks with one state take turns:
            // the second finds the row gone.
            let row = login_state::Entity::find()
                .filter(login_state::Column::State.eq(key.clone()))
                .lock_exclusive()
                .one(txn)
                .await?;
            if let Some(row) = &row {
                login_state::Entity::delete_by_id(row.id).exec(txn).await?;
            }
            Ok(row)
        },
    )
    .await?
    .ok_or_else(invalid_state)?;
    if row.expires_at <= Utc::now() {
        return Err(invalid_state());
    }
    Ok(LoginState {
        pkce_verifier: row.pkce_verifier,
        nonce: row.nonce,
        return_to: row.return_to,
    })
}
