//! An OIDC login in progress (between `/auth/login` and `/auth/callback`),
//! kept in the database so that any instance can finish a login another
//! began, consumed exactly once, and bound to the browser that began it
//! (S4: the sha256 of a short-lived cookie is stored with it, so a callback
//! URL delivered to someone else's browser logs nobody in).

use chrono::Utc;
use entity::login_state;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::session::{new_token, token_hash};
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

/// A fresh browser binding: the value of the cookie that ties a login to
/// the browser that began it (256 random bits).
pub fn new_browser_binding() -> String {
    new_token()
}

/// Remembers a started login in the database (the state and the browser
/// binding only as their sha256).
pub async fn begin_oidc_login(
    ctx: &Ctx,
    state: &str,
    browser_binding: &str,
    started: &LoginState,
) -> Result<()> {
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
                browser_sha256: Set(Some(token_hash(browser_binding))),
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

/// Consumes a started login: exactly once, only within its lifetime, and
/// only from the browser that began it (`browser_binding`, its cookie).
/// Unknown, expired, already used, or another browser's → `invalid_state`;
/// another browser's attempt leaves the login for its own browser.
pub async fn finish_oidc_login(
    ctx: &Ctx,
    state: &str,
    browser_binding: Option<&str>,
) -> Result<LoginState> {
    if state.is_empty() || state.len() > MAX_STATE_LEN {
        return Err(invalid_state());
    }
    let Some(binding) = browser_binding.filter(|b| !b.is_empty() && b.len() <= MAX_STATE_LEN)
    else {
        return Err(invalid_state());
    };
    let binding = token_hash(binding);
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
            let row = row.filter(|r| r.browser_sha256.as_deref() == Some(binding.as_str()));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// S9: the PKCE verifier and the nonce never show in `Debug`.
    #[test]
    fn debug_never_shows_the_verifier_or_the_nonce() {
        let state = LoginState {
            pkce_verifier: "pkce-verifier-0c5d2b94".into(),
            nonce: "nonce-value-e7a10f36".into(),
            return_to: "/editor?project=3".into(),
        };
        let shown = format!("{state:?} {state:#?}");
        assert!(!shown.contains("pkce-verifier-0c5d2b94"), "{shown}");
        assert!(!shown.contains("nonce-value-e7a10f36"), "{shown}");
        assert!(shown.contains("/editor?project=3"), "{shown}");
    }

    #[test]
    fn browser_bindings_are_fresh_256_bit_tokens() {
        let a = new_browser_binding();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_browser_binding());
    }
}
