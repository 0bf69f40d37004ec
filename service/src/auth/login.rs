//! The one login path. It get-or-creates the user and the listed groups and
//! makes the memberships exactly the listed set, atomically, in a
//! REPEATABLE READ transaction that [`crate::tx`] retries on conflicts — so
//! N concurrent first logins make one user, one row per group and one
//! membership per pair, and all N succeed (G4).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use entity::{group, membership, session, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::session::{new_token, token_hash};
use super::{Group, GroupClaim, GroupSource, LoginInput, NewSession, Role, UpstreamTokens, User};
use crate::error::{Code, Error, Result};
use crate::text::TextRule;
use crate::tx::{self, Kind};
use crate::Ctx;

const USERNAME: TextRule = TextRule::required("username", 64);
const SUBJECT: TextRule = TextRule::required("subject", 255);
const DISPLAY_NAME: TextRule = TextRule::required("display_name", 255);
const GROUP_ID: TextRule = TextRule::required("groups[].external_id", 255);
const GROUP_NAME: TextRule = TextRule::required("groups[].name", 255);
const MAX_GROUPS: usize = 200;

/// A development login (`CUBBY_DEV_LOGIN`), from the JSON route or the home
/// page's form alike: the subject is derived from the username, in a
/// namespace no identity provider's subject uses. `role` is `teacher` or
/// `student` (default); anything else is `invalid_input`.
pub fn dev_login_input(
    username: String,
    display_name: Option<String>,
    role: Option<&str>,
    groups: Vec<GroupClaim>,
) -> Result<LoginInput> {
    let role = match role {
        None | Some("student") => Role::Student,
        Some("teacher") => Role::Teacher,
        Some(_) => {
            return Err(Error::invalid(
                Code::InvalidInput,
                "role must be \"teacher\" or \"student\"",
            ))
        }
    };
    Ok(LoginInput {
        subject: format!("dev|{username}"),
        username,
        display_name,
        role,
        groups,
    })
}

/// Checks the input and returns the groups keyed (and so deduplicated and
/// sorted) by external id; sorted order means concurrent logins lock group
/// rows in the same order.
fn validate(input: &LoginInput) -> Result<BTreeMap<String, String>> {
    USERNAME.check(&input.username)?;
    SUBJECT.check(&input.subject)?;
    if let Some(name) = &input.display_name {
        DISPLAY_NAME.check(name)?;
    }
    if input.groups.len() > MAX_GROUPS {
        return Err(Error::invalid(
            Code::InvalidInput,
            format!("at most {MAX_GROUPS} groups may be listed"),
        ));
    }
    let mut groups = BTreeMap::new();
    for g in &input.groups {
        GROUP_ID.check(&g.external_id)?;
        GROUP_NAME.check(&g.name)?;
        groups.insert(g.external_id.clone(), g.name.clone());
    }
    Ok(groups)
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
    let (memberships_changed, local_groups) =
        sync_memberships(txn, user.id, &groups, input.role, now).await?;
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
    let mut group_list: Vec<Group> = groups.into_values().chain(local_groups).collect();
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
            external_id: Set(Some(external_id.clone())),
            name: Set(name.clone()),
            created_at: Set(now),
            source: Set(GroupSource::Idp.as_str().to_owned()),
            join_code: Set(None),
            ..Default::default()
        })
        .on_conflict_do_nothing_on([group::Column::ExternalId])
        .exec_without_returning(txn)
        .await?;
    }
    // Only idp groups: a local group has no external id, and the source
    // filter says so twice — a claim never names a local group.
    let rows = group::Entity::find()
        .filter(group::Column::Source.eq(GroupSource::Idp.as_str()))
        .filter(group::Column::ExternalId.is_in(wanted.keys().cloned()))
        .order_by_asc(group::Column::ExternalId)
        .lock_shared()
        .all(txn)
        .await?;
    let mut groups = BTreeMap::new();
    for row in rows {
        let Some(external_id) = row.external_id.clone() else {
            continue;
        };
        let name = wanted
            .get(&external_id)
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
            external_id.clone(),
            Group {
                id: row.id,
                external_id: Some(external_id),
                name,
                source: GroupSource::Idp,
                join_code: None,
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
                Code::UsernameTaken,
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

/// Makes the user's memberships in `idp` groups exactly `groups`; memberships
/// in `local` groups are never touched (a teacher made those, not the
/// provider). Returns whether anything changed, and the user's local groups
/// (as a member with `role` sees them).
async fn sync_memberships(
    txn: &DatabaseTransaction,
    user_id: i64,
    groups: &BTreeMap<String, Group>,
    role: Role,
    now: DateTime<Utc>,
) -> Result<(bool, Vec<Group>)> {
    let all: BTreeSet<i64> = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .lock_exclusive()
        .all(txn)
        .await?
        .into_iter()
        .map(|m| m.group_id)
        .collect();
    let local: Vec<group::Model> = if all.is_empty() {
        Vec::new()
    } else {
        group::Entity::find()
            .filter(group::Column::Id.is_in(all.iter().copied()))
            .filter(group::Column::Source.eq(GroupSource::Local.as_str()))
            .order_by_asc(group::Column::Id)
            .all(txn)
            .await?
    };
    let local_ids: BTreeSet<i64> = local.iter().map(|g| g.id).collect();
    let current: BTreeSet<i64> = all.difference(&local_ids).copied().collect();
    let local_groups = local
        .into_iter()
        .map(|g| {
            Group::for_member(
                g.id,
                g.external_id,
                g.name,
                GroupSource::Local,
                g.join_code,
                role,
            )
        })
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
    Ok((!to_remove.is_empty() || !to_add.is_empty(), local_groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(id: &str, name: &str) -> GroupClaim {
        GroupClaim {
            external_id: id.into(),
            name: name.into(),
        }
    }

    #[test]
    fn the_dev_login_knows_two_roles_and_refuses_others() {
        let input = |role| dev_login_input("ann".into(), None, role, Vec::new());
        assert_eq!(input(None).map(|i| i.role).ok(), Some(Role::Student));
        assert_eq!(
            input(Some("student")).map(|i| i.role).ok(),
            Some(Role::Student)
        );
        assert_eq!(
            input(Some("teacher")).map(|i| i.role).ok(),
            Some(Role::Teacher)
        );
        for bad in ["admin", "Teacher", "", "teacher "] {
            let err = input(Some(bad)).unwrap_err();
            assert_eq!(err.code(), Code::InvalidInput, "{bad:?}");
        }
        assert_eq!(
            input(None).map(|i| i.subject).ok().as_deref(),
            Some("dev|ann")
        );
    }

    #[test]
    fn validation_dedupes_and_sorts_groups_and_checks_every_text() {
        let input = |username: &str, groups: Vec<GroupClaim>| LoginInput {
            subject: format!("dev|{username}"),
            username: username.into(),
            display_name: None,
            role: Role::Student,
            groups,
        };
        let groups = validate(&input(
            "ann",
            vec![claim("8a", "8A"), claim("7b", "7B"), claim("8a", "8A new")],
        ));
        let groups = groups.unwrap();
        assert_eq!(groups.keys().collect::<Vec<_>>(), ["7b", "8a"]);
        assert_eq!(groups["8a"], "8A new");

        let too_many = (0..=MAX_GROUPS)
            .map(|i| claim(&i.to_string(), "g"))
            .collect();
        let long_name = "x".repeat(65);
        let bad = [
            input("", Vec::new()),
            input(&long_name, Vec::new()),
            input("ann\n", Vec::new()),
            input("ann", vec![claim("", "empty id")]),
            input("ann", vec![claim("7b", "\u{7}bell")]),
            input("ann", too_many),
        ];
        for case in bad {
            let err = validate(&case).unwrap_err();
            assert_eq!(err.code(), Code::InvalidInput, "{case:?}");
        }
    }
}
