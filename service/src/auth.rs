//! Login, sessions and the caller's identity.
//!
//! [`login`] is the one path by which a person becomes a user: the dev login
//! and the OIDC callback both call it. It get-or-creates the user and the
//! listed groups and makes the memberships exactly the listed set, atomically,
//! in a REPEATABLE READ transaction that [`crate::tx`] retries on conflicts —
//! so N concurrent first logins make one user, one row per group and one
//! membership per pair, and all N succeed (G4).
//!
//! Session tokens are 256 random bits; only their sha256 is stored.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use entity::{group, login_state, membership, session, user};
use rand::RngCore;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::tx::{self, Kind};
use crate::Ctx;

/// A teacher may share with and read the work of their groups; a student may not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Teacher,
    Student,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Teacher => "teacher",
            Role::Student => "student",
        }
    }

    /// Parses a stored role; anything unknown is a student (least privilege).
    pub fn from_stored(s: &str) -> Role {
        if s == "teacher" {
            Role::Teacher
        } else {
            Role::Student
        }
    }
}

/// A group (class) as the identity provider names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupClaim {
    pub external_id: String,
    pub name: String,
}

/// Who logged in, as the identity provider (or the dev login form) says.
#[derive(Clone, Debug)]
pub struct LoginInput {
    /// Stable external identity: the OIDC `sub`, or `dev|<username>`.
    pub subject: String,
    pub username: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub groups: Vec<GroupClaim>,
}

impl LoginInput {
    /// A development login (`CUBBY_DEV_LOGIN`): the subject is derived from
    /// the username, in a namespace no identity provider's subject uses.
    pub fn dev(
        username: String,
        display_name: Option<String>,
        role: Role,
        groups: Vec<GroupClaim>,
    ) -> Self {
        Self {
            subject: format!("dev|{username}"),
            username,
            display_name,
            role,
            groups,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    pub external_id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub groups: Vec<Group>,
}

/// A new session: the token goes to the client once and is never stored.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

const MAX_NAME_CHARS: usize = 255;
const MAX_GROUPS: usize = 200;

fn check_text(field: &str, value: &str, max_chars: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(
            "invalid_input",
            format!("{field} must not be empty"),
        ));
    }
    if value.chars().count() > max_chars {
        return Err(Error::invalid(
            "invalid_input",
            format!("{field} is longer than {max_chars} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(
            "invalid_input",
            format!("{field} contains control characters"),
        ));
    }
    Ok(())
}

/// Checks the input and returns the groups keyed (and so deduplicated and
/// sorted) by external id; sorted order means concurrent logins lock group
/// rows in the same order.
fn validate(input: &LoginInput) -> Result<BTreeMap<String, String>> {
    check_text("username", &input.username, 64)?;
    check_text("subject", &input.subject, MAX_NAME_CHARS)?;
    if let Some(name) = &input.display_name {
        check_text("display_name", name, MAX_NAME_CHARS)?;
    }
    if input.groups.len() > MAX_GROUPS {
        return Err(Error::invalid(
            "invalid_input",
            format!("at most {MAX_GROUPS} groups may be listed"),
        ));
    }
    let mut groups = BTreeMap::new();
    for g in &input.groups {
        check_text("groups[].external_id", &g.external_id, MAX_NAME_CHARS)?;
        check_text("groups[].name", &g.name, MAX_NAME_CHARS)?;
        groups.insert(g.external_id.clone(), g.name.clone());
    }
    Ok(groups)
}

/// The identity provider's tokens kept with a session (never logged).
#[derive(Clone, Debug)]
pub struct UpstreamTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub access_expires_at: Option<DateTime<Utc>>,
}

/// Get-or-creates the user and groups, syncs memberships to exactly the
/// listed groups, and opens a session — all in one transaction. `upstream`
/// are the provider's tokens for an OIDC login.
#[tracing::instrument(skip_all, fields(user.username = %input.username))]
pub async fn login(
    ctx: &Ctx,
    input: &LoginInput,
    upstream: Option<&UpstreamTokens>,
) -> Result<NewSession> {
    let wanted_groups = validate(input)?;
    let ttl = chrono::Duration::from_std(ctx.settings.session_ttl)
        .map_err(|e| Error::Internal(format!("session ttl: {e}")))?;

    tx::run(
        &ctx.db,
        &ctx.retry,
        "login",
        Kind::GetOrCreate,
        async |txn| {
            let now = crate::now();
            let user = sync_user(txn, input, &wanted_groups, now).await?;
            let token = new_token();
            session::Entity::insert(session::ActiveModel {
                token_sha256: Set(token_hash(&token)),
                user_id: Set(user.id),
                created_at: Set(now),
                expires_at: Set(now + ttl),
                access_token: Set(upstream.map(|u| u.access_token.clone())),
                refresh_token: Set(upstream.and_then(|u| u.refresh_token.clone())),
                access_expires_at: Set(upstream.and_then(|u| u.access_expires_at)),
                ..Default::default()
            })
            .exec_without_returning(txn)
            .await?;
            Ok(NewSession {
                token,
                expires_at: now + ttl,
                user,
            })
        },
    )
    .await
}

/// Re-syncs a user's profile and memberships from fresh claims (after an
/// upstream token refresh), in the same kind of transaction as a login.
pub async fn resync(ctx: &Ctx, input: &LoginInput) -> Result<User> {
    let wanted_groups = validate(input)?;
    tx::run(
        &ctx.db,
        &ctx.retry,
        "login",
        Kind::GetOrCreate,
        async |txn| sync_user(txn, input, &wanted_groups, crate::now()).await,
    )
    .await
}

/// The body of a login: groups, user, memberships, profile.
async fn sync_user(
    txn: &DatabaseTransaction,
    input: &LoginInput,
    wanted_groups: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<User> {
    let display_name = input
        .display_name
        .clone()
        .unwrap_or_else(|| input.username.clone());
    let groups = upsert_groups(txn, wanted_groups, now).await?;
    let user = lock_or_create_user(txn, input, &display_name, now).await?;
    let memberships_changed = sync_memberships(txn, user.id, &groups, now).await?;
    let profile_changed = user.username != input.username
        || user.display_name != display_name
        || user.role != input.role.as_str();
    if profile_changed || memberships_changed {
        // Writing the user row whenever anything changed makes a concurrent
        // login of the same user conflict with this one (serialization
        // failure on PostgreSQL, lock wait elsewhere) instead of working
        // from a stale view of the memberships.
        user::Entity::update_many()
            .col_expr(user::Column::Username, Expr::value(input.username.clone()))
            .col_expr(user::Column::DisplayName, Expr::value(display_name.clone()))
            .col_expr(user::Column::Role, Expr::value(input.role.as_str()))
            .col_expr(user::Column::UpdatedAt, Expr::value(now))
            .filter(user::Column::Id.eq(user.id))
            .exec(txn)
            .await?;
    }
    let mut group_list: Vec<Group> = groups.into_values().collect();
    group_list.sort_by_key(|g| g.id);
    Ok(User {
        id: user.id,
        username: input.username.clone(),
        display_name,
        role: input.role,
        groups: group_list,
    })
}

/// Inserts missing groups, renames changed ones, and returns them all keyed
/// by external id, read under a shared lock (so the read sees the latest
/// committed rows on MariaDB, and a concurrent rename is a conflict on
/// PostgreSQL).
async fn upsert_groups(
    txn: &DatabaseTransaction,
    wanted: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, Group>> {
    if wanted.is_empty() {
        return Ok(BTreeMap::new());
    }
    for (external_id, name) in wanted {
        group::Entity::insert(group::ActiveModel {
            external_id: Set(external_id.clone()),
            name: Set(name.clone()),
            created_at: Set(now),
            ..Default::default()
        })
        .on_conflict_do_nothing_on([group::Column::ExternalId])
        .exec_without_returning(txn)
        .await?;
    }
    let rows = group::Entity::find()
        .filter(group::Column::ExternalId.is_in(wanted.keys().cloned()))
        .order_by_asc(group::Column::ExternalId)
        .lock_shared()
        .all(txn)
        .await?;
    let mut groups = BTreeMap::new();
    for row in rows {
        let name = wanted
            .get(&row.external_id)
            .cloned()
            .unwrap_or(row.name.clone());
        if name != row.name {
            group::Entity::update_many()
                .col_expr(group::Column::Name, Expr::value(name.clone()))
                .filter(group::Column::Id.eq(row.id))
                .exec(txn)
                .await?;
        }
        groups.insert(
            row.external_id.clone(),
            Group {
                id: row.id,
                external_id: row.external_id,
                name,
            },
        );
    }
    if groups.len() != wanted.len() {
        return Err(Error::Internal("a group vanished during login".into()));
    }
    Ok(groups)
}

/// Creates the user if absent (by subject) and locks the row for the rest of
/// the transaction.
async fn lock_or_create_user(
    txn: &DatabaseTransaction,
    input: &LoginInput,
    display_name: &str,
    now: DateTime<Utc>,
) -> Result<user::Model> {
    let inserted = user::Entity::insert(user::ActiveModel {
        subject: Set(input.subject.clone()),
        username: Set(input.username.clone()),
        display_name: Set(display_name.to_owned()),
        role: Set(input.role.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([user::Column::Subject])
    .exec_without_returning(txn)
    .await;
    if let Err(err) = inserted {
        if matches!(
            err.sql_err(),
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
        ) {
            return Err(Error::invalid(
                "username_taken",
                "this username belongs to another account",
            ));
        }
        return Err(err.into());
    }
    user::Entity::find()
        .filter(user::Column::Subject.eq(input.subject.clone()))
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| Error::Internal("user row missing after insert".into()))
}

/// Makes the user's memberships exactly `groups`; returns whether anything changed.
async fn sync_memberships(
    txn: &DatabaseTransaction,
    user_id: i64,
    groups: &BTreeMap<String, Group>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let current: BTreeSet<i64> = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .lock_exclusive()
        .all(txn)
        .await?
        .into_iter()
        .map(|m| m.group_id)
        .collect();
    let wanted: BTreeSet<i64> = groups.values().map(|g| g.id).collect();
    let to_remove: Vec<i64> = current.difference(&wanted).copied().collect();
    let to_add: Vec<i64> = wanted.difference(&current).copied().collect();
    if !to_remove.is_empty() {
        membership::Entity::delete_many()
            .filter(membership::Column::UserId.eq(user_id))
            .filter(membership::Column::GroupId.is_in(to_remove.clone()))
            .exec(txn)
            .await?;
    }
    for group_id in &to_add {
        membership::Entity::insert(membership::ActiveModel {
            user_id: Set(user_id),
            group_id: Set(*group_id),
            created_at: Set(now),
        })
        .on_conflict_do_nothing_on([membership::Column::UserId, membership::Column::GroupId])
        .exec_without_returning(txn)
        .await?;
    }
    Ok(!to_remove.is_empty() || !to_add.is_empty())
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The only form in which a token is stored or looked up.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
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
        self.access_expires_at
            .is_some_and(|at| at <= Utc::now() + chrono::Duration::seconds(10))
    }
}

/// The user behind a session token, or `Unauthenticated` when the token is
/// unknown or expired.
pub async fn authenticate(ctx: &Ctx, token: &str) -> Result<User> {
    Ok(authenticate_session(ctx, token).await?.user)
}

/// Like [`authenticate`], with what the caller needs to keep the provider's
/// tokens fresh.
pub async fn authenticate_session(ctx: &Ctx, token: &str) -> Result<Authenticated> {
    if token.is_empty() || token.len() > 256 {
        return Err(Error::Unauthenticated);
    }
    let rows = ctx
        .db
        .query_all_raw(ctx.db.get_database_backend().build(&session_query(token)))
        .await?;
    let first = rows.first().ok_or(Error::Unauthenticated)?;
    let session_id: i64 = first.try_get("", "s_id")?;
    let refresh_token: Option<String> = first.try_get("", "s_refresh")?;
    let access_expires_at: Option<DateTime<Utc>> = first.try_get("", "s_access_expires")?;
    let role: String = first.try_get("", "u_role")?;
    let mut groups = Vec::new();
    for row in &rows {
        // One row per membership; a user in no group gives one row of NULLs.
        if let Some(id) = row.try_get::<Option<i64>>("", "g_id")? {
            groups.push(Group {
                id,
                external_id: row.try_get("", "g_external_id")?,
                name: row.try_get("", "g_name")?,
            });
        }
    }
    Ok(Authenticated {
        user: User {
            id: first.try_get("", "u_id")?,
            username: first.try_get("", "u_username")?,
            display_name: first.try_get("", "u_display_name")?,
            role: Role::from_stored(&role),
            groups,
        },
        session_id,
        access_expires_at: refresh_token.and(access_expires_at),
    })
}

/// The live session with this token, its user and the user's groups, in ONE
/// query (every request runs it): sessions ⋈ users ⟕ memberships ⟕ groups,
/// one row per group, ordered by group id.
fn session_query(token: &str) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait};
    Query::select()
        .expr_as(
            Expr::col((session::Entity, session::Column::Id)),
            Alias::new("s_id"),
        )
        .expr_as(
            Expr::col((session::Entity, session::Column::RefreshToken)),
            Alias::new("s_refresh"),
        )
        .expr_as(
            Expr::col((session::Entity, session::Column::AccessExpiresAt)),
            Alias::new("s_access_expires"),
        )
        .expr_as(
            Expr::col((user::Entity, user::Column::Id)),
            Alias::new("u_id"),
        )
        .expr_as(
            Expr::col((user::Entity, user::Column::Username)),
            Alias::new("u_username"),
        )
        .expr_as(
            Expr::col((user::Entity, user::Column::DisplayName)),
            Alias::new("u_display_name"),
        )
        .expr_as(
            Expr::col((user::Entity, user::Column::Role)),
            Alias::new("u_role"),
        )
        .expr_as(
            Expr::col((group::Entity, group::Column::Id)),
            Alias::new("g_id"),
        )
        .expr_as(
            Expr::col((group::Entity, group::Column::ExternalId)),
            Alias::new("g_external_id"),
        )
        .expr_as(
            Expr::col((group::Entity, group::Column::Name)),
            Alias::new("g_name"),
        )
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
        .and_where(Expr::col((session::Entity, session::Column::TokenSha256)).eq(token_hash(token)))
        .and_where(Expr::col((session::Entity, session::Column::ExpiresAt)).gt(Utc::now()))
        .order_by((group::Entity, group::Column::Id), sea_orm::Order::Asc)
        .to_owned()
}

/// What a refresh at the provider gave.
#[derive(Clone, Debug)]
pub enum Refresh {
    /// New tokens, and the claims they carry if the provider sent them.
    Fresh(UpstreamTokens, Option<LoginInput>),
    /// The provider refused the refresh token: the session ends.
    Refused,
}

/// Keeps a session's upstream tokens fresh, once however many requests race
/// (G12): the session row is locked, the expiry re-checked under the lock,
/// and only the request that still finds it expired calls `refresher` (the
/// provider's token endpoint); the others wait on the lock and then see the
/// fresh tokens. New claims re-sync the user's groups. A refused refresh
/// deletes the session (`Unauthenticated`).
pub async fn refresh_session<F>(ctx: &Ctx, session_id: i64, refresher: F) -> Result<()>
where
    F: AsyncFn(String) -> Result<Refresh>,
{
    let outcome = tx::run(
        &ctx.db,
        &ctx.retry,
        "session.refresh",
        Kind::Edit,
        async |txn| {
            let row = session::Entity::find_by_id(session_id)
                .lock_exclusive()
                .one(txn)
                .await?
                .ok_or(Error::Unauthenticated)?;
            let still_expired = row
                .access_expires_at
                .is_some_and(|at| at <= Utc::now() + chrono::Duration::seconds(10));
            let Some(refresh_token) = row.refresh_token.clone().filter(|_| still_expired) else {
                return Ok(None); // another request refreshed it meanwhile
            };
            match refresher(refresh_token).await? {
                Refresh::Refused => {
                    session::Entity::delete_by_id(session_id).exec(txn).await?;
                    Ok(Some(None))
                }
                Refresh::Fresh(tokens, claims) => {
                    session::Entity::update_many()
                        .col_expr(
                            session::Column::AccessToken,
                            Expr::value(tokens.access_token.clone()),
                        )
                        .col_expr(
                            session::Column::RefreshToken,
                            Expr::value(tokens.refresh_token.clone().or(row.refresh_token.clone())),
                        )
                        .col_expr(
                            session::Column::AccessExpiresAt,
                            Expr::value(tokens.access_expires_at),
                        )
                        .filter(session::Column::Id.eq(session_id))
                        .exec(txn)
                        .await?;
                    Ok(Some(Some(claims)))
                }
            }
        },
    )
    .await?;
    match outcome {
        None => Ok(()),
        Some(None) => Err(Error::Unauthenticated),
        Some(Some(Some(claims))) => resync(ctx, &claims).await.map(|_| ()),
        Some(Some(None)) => Ok(()),
    }
}

/// A user with their groups, or `None`.
pub async fn load_user(db: &impl ConnectionTrait, user_id: i64) -> Result<Option<User>> {
    let Some(row) = user::Entity::find_by_id(user_id).one(db).await? else {
        return Ok(None);
    };
    let groups = groups_of(db, user_id).await?;
    Ok(Some(to_user(row, groups)))
}

fn to_user(row: user::Model, groups: Vec<Group>) -> User {
    User {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        role: Role::from_stored(&row.role),
        groups,
    }
}

/// The groups a user belongs to, by id.
pub async fn groups_of(db: &impl ConnectionTrait, user_id: i64) -> Result<Vec<Group>> {
    let memberships = Query::select()
        .column(membership::Column::GroupId)
        .from(membership::Entity)
        .and_where(membership::Column::UserId.eq(user_id))
        .to_owned();
    Ok(group::Entity::find()
        .filter(group::Column::Id.in_subquery(memberships))
        .order_by_asc(group::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|g| Group {
            id: g.id,
            external_id: g.external_id,
            name: g.name,
        })
        .collect())
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

/// An OIDC login in progress (between `/auth/login` and `/auth/callback`).
#[derive(Clone, Debug)]
pub struct LoginState {
    pub pkce_verifier: String,
    pub nonce: String,
    pub return_to: String,
}

/// How long a started login may take.
pub const LOGIN_STATE_MINUTES: i64 = 10;

/// Remembers a started login in the database, so any instance can finish it.
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

/// Consumes a started login: exactly once, and only within its lifetime.
/// Unknown, expired or already used → `invalid_state`.
pub async fn finish_oidc_login(ctx: &Ctx, state: &str) -> Result<LoginState> {
    let invalid = || {
        Error::invalid(
            "invalid_state",
            "this login is unknown, expired or already used; start again",
        )
    };
    if state.is_empty() || state.len() > 512 {
        return Err(invalid());
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
    .ok_or_else(invalid)?;
    if row.expires_at <= Utc::now() {
        return Err(invalid());
    }
    Ok(LoginState {
        pkce_verifier: row.pkce_verifier,
        nonce: row.nonce,
        return_to: row.return_to,
    })
}
