//! Classes a teacher makes in cubby (`source = local`), beside the identity
//! provider's groups: create, join by code, rotate the code, list and remove
//! members.
//!
//! Concurrency (G20):
//! * a join is one transaction that looks the code up **with a shared lock on
//!   the group row** and inserts the `(user, group)` membership with
//!   insert-if-absent on its primary key: no SELECT decides whether the
//!   caller is already a member, so N concurrent joins make N memberships
//!   and none twice;
//! * a rotation updates the code under an exclusive lock on the same row, so
//!   a join that races it waits for it and is decided by the committed code:
//!   it succeeds with the old code only if it locked the row before the
//!   rotation did (and so committed its membership first), and after the
//!   rotation commits the old code finds no row (404);
//! * removing a member decides "is another teacher left?" under the group
//!   row's exclusive lock, so two teachers removing each other at once are
//!   serialized and the second one gets 409 `last_teacher`.
//!
//! [`member`] and [`teacher_member`] are the one check each of "is this
//! caller a (teacher) member of that group", on the caller's transaction,
//! for every rule that needs it (assignments too).

use entity::{group, membership, user};
use rand::Rng;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};

use crate::auth::{Group, GroupSource, Role, User};
use crate::error::{Code, Error, Result};
use crate::text::TextRule;
use crate::tx::{self, Kind};
use crate::{now, Ctx};

/// The characters of a join code: digits and capitals without the
/// look-alikes 0/O, 1/I/L (31 characters).
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// The length of a join code: 31^8 ≈ 8.5 × 10^11 codes.
pub const CODE_LEN: usize = 8;
/// How many fresh codes are tried before giving up (each collision with a
/// live code has a chance of about live codes / 8.5 × 10^11).
const CODE_ATTEMPTS: usize = 8;

const CLASS_NAME: TextRule = TextRule::required("name", 255);

/// One member of a class, as its teachers see the roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

/// A fresh join code from the operating system's CSPRNG (`rand`'s
/// `ThreadRng` is a CSPRNG reseeded from the OS).
pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// A code as typed: surrounding spaces dropped, upper case. `None` when it
/// cannot be a code (wrong length or a character outside the alphabet) — to
/// the caller that is the same as an unknown code.
pub fn normalize_code(typed: &str) -> Option<String> {
    let code = typed.trim().to_ascii_uppercase();
    (code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

fn to_group(row: group::Model, role: Role) -> Group {
    Group::for_member(
        row.id,
        row.external_id,
        row.name,
        GroupSource::from_stored(&row.source),
        row.join_code,
        role,
    )
}

fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// The group row, locked for update; 404 when there is none.
async fn lock_group(txn: &DatabaseTransaction, group_id: i64) -> Result<group::Model> {
    group::Entity::find_by_id(group_id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(Error::NotFound)
}

/// Whether `user_id` is a member of `group_id`, read on `txn`.
async fn is_member(db: &impl ConnectionTrait, user_id: i64, group_id: i64) -> Result<bool> {
    Ok(membership::Entity::find_by_id((user_id, group_id))
        .one(db)
        .await?
        .is_some())
}

/// The users who are members of `group_id`.
fn members_of(group_id: i64) -> sea_orm::Select<user::Entity> {
    user::Entity::find().filter(
        user::Column::Id.in_subquery(
            Query::select()
                .column(membership::Column::UserId)
                .from(membership::Entity)
                .and_where(membership::Column::GroupId.eq(group_id))
                .to_owned(),
        ),
    )
}

/// The check every member-only rule of a group makes, on the caller's
/// transaction: the group row if the caller is a member, else 404 (a group
/// that is not theirs is one they may not know exists). Not locked: lock
/// it first where the rule needs the lock.
pub async fn member(
    txn: &DatabaseTransaction,
    caller: &User,
    group_id: i64,
) -> Result<group::Model> {
    let row = group::Entity::find_by_id(group_id)
        .one(txn)
        .await?
        .ok_or(Error::NotFound)?;
    if !is_member(txn, caller.id, group_id).await? {
        return Err(Error::NotFound);
    }
    Ok(row)
}

/// The check every teacher-only rule of a group makes (rotate, remove, and
/// later assignments), on the caller's transaction: a non-member gets 404,
/// a member who is not a teacher 403. Returns the group row (not locked).
pub async fn teacher_member(
    txn: &DatabaseTransaction,
    caller: &User,
    group_id: i64,
) -> Result<group::Model> {
    let row = member(txn, caller, group_id).await?;
    if caller.role != Role::Teacher {
        return Err(Error::Forbidden);
    }
    Ok(row)
}

/// Runs `write(code)` with fresh codes inside a savepoint each, until one
/// does not collide with a live code.
async fn with_fresh_code<T>(
    txn: &DatabaseTransaction,
    write: impl AsyncFn(&DatabaseTransaction, &str) -> std::result::Result<T, sea_orm::DbErr>,
) -> Result<(T, String)> {
    for _ in 0..CODE_ATTEMPTS {
        let code = new_code();
        let savepoint = txn.begin().await?;
        match write(&savepoint, &code).await {
            Ok(out) => {
                savepoint.commit().await?;
                return Ok((out, code));
            }
            Err(err) if is_unique_violation(&err) => savepoint.rollback().await?,
            Err(err) => return Err(err.into()),
        }
    }
    Err(Error::Internal("no free join code found".into()))
}

/// `POST /api/v1/groups`: a teacher makes a class; they are its first
/// (teacher) member and see its fresh join code. A student → 403.
#[tracing::instrument(skip_all, fields(user.id = caller.id))]
pub async fn create(ctx: &Ctx, caller: &User, name: &str) -> Result<Group> {
    if caller.role != Role::Teacher {
        return Err(Error::Forbidden);
    }
    CLASS_NAME.check(name)?;
    tx::run(
        &ctx.db,
        &ctx.retry,
        "group.create",
        Kind::Edit,
        async |txn| {
            let at = now();
            let (id, _code) = with_fresh_code(txn, async |db, code| {
                let inserted = group::Entity::insert(group::ActiveModel {
                    external_id: Set(None),
                    name: Set(name.to_owned()),
                    created_at: Set(at),
                    source: Set(GroupSource::Local.as_str().to_owned()),
                    join_code: Set(Some(code.to_owned())),
                    ..Default::default()
                })
                .exec(db)
                .await?;
                Ok(inserted.last_insert_id)
            })
            .await?;
            membership::Entity::insert(membership::ActiveModel {
                user_id: Set(caller.id),
                group_id: Set(id),
                created_at: Set(at),
            })
            .exec_without_returning(txn)
            .await?;
            let row = group::Entity::find_by_id(id)
                .one(txn)
                .await?
                .ok_or_else(|| Error::Internal("group row missing after insert".into()))?;
            Ok(to_group(row, caller.role))
        },
    )
    .await
}

/// `POST /api/v1/groups/join`: the caller becomes a member of the local
/// class whose current code this is (already a member: unchanged). An
/// unknown, malformed or rotated code → 404 (G20: see the module comment).
#[tracing::instrument(skip_all, fields(user.id = caller.id))]
pub async fn join(ctx: &Ctx, caller: &User, typed: &str) -> Result<Group> {
    let code = normalize_code(typed).ok_or(Error::NotFound)?;
    tx::run(&ctx.db, &ctx.retry, "group.join", Kind::Edit, async |txn| {
        // The lookup takes a shared lock on the row: a rotation holding
        // it is waited for, and then the old code matches no row.
        let row = group::Entity::find()
            .filter(group::Column::JoinCode.eq(code.clone()))
            .filter(group::Column::Source.eq(GroupSource::Local.as_str()))
            .lock_shared()
            .one(txn)
            .await?
            .ok_or(Error::NotFound)?;
        // Insert-if-absent on the (user, group) primary key: a duplicate
        // means "already a member", which is a success too.
        membership::Entity::insert(membership::ActiveModel {
            user_id: Set(caller.id),
            group_id: Set(row.id),
            created_at: Set(now()),
        })
        .on_conflict_do_nothing_on([membership::Column::UserId, membership::Column::GroupId])
        .exec_without_returning(txn)
        .await?;
        Ok(to_group(row, caller.role))
    })
    .await
}

/// `POST /api/v1/groups/{id}/join-code`: a teacher member gives a local
/// class a new code; the old one stops working when this commits.
#[tracing::instrument(skip_all, fields(user.id = caller.id, group.id = group_id))]
pub async fn rotate_code(ctx: &Ctx, caller: &User, group_id: i64) -> Result<String> {
    tx::run(
        &ctx.db,
        &ctx.retry,
        "group.rotate_code",
        Kind::Edit,
        async |txn| {
            let row = lock_group(txn, group_id).await?;
            teacher_member(txn, caller, group_id).await?;
            if GroupSource::from_stored(&row.source) != GroupSource::Local {
                return Err(Error::Forbidden);
            }
            let ((), code) = with_fresh_code(txn, async |db, code| {
                group::Entity::update_many()
                    .col_expr(group::Column::JoinCode, Expr::value(code.to_owned()))
                    .filter(group::Column::Id.eq(group_id))
                    .exec(db)
                    .await?;
                Ok(())
            })
            .await?;
            Ok(code)
        },
    )
    .await
}

/// `GET /api/v1/groups/{id}/members`: the whole roster, by user id, for a
/// teacher member (a student member → 403, anyone else → 404).
#[tracing::instrument(skip_all, fields(user.id = caller.id, group.id = group_id))]
pub async fn members(ctx: &Ctx, caller: &User, group_id: i64) -> Result<Vec<Member>> {
    if !caller.groups.iter().any(|g| g.id == group_id) {
        return Err(Error::NotFound);
    }
    if caller.role != Role::Teacher {
        return Err(Error::Forbidden);
    }
    let rows = members_of(group_id)
        .order_by_asc(user::Column::Id)
        .all(&ctx.db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|u| Member {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            role: Role::from_stored(&u.role),
        })
        .collect())
}

/// `DELETE /api/v1/groups/{id}/members/{user_id}`: a teacher member takes
/// someone (or themselves) out of a local class. Never the last teacher:
/// 409 `last_teacher`, decided under the group row's lock. An idp group's
/// memberships belong to the provider's sync → 403.
#[tracing::instrument(skip_all, fields(user.id = caller.id, group.id = group_id))]
pub async fn remove_member(ctx: &Ctx, caller: &User, group_id: i64, user_id: i64) -> Result<()> {
    tx::run(
        &ctx.db,
        &ctx.retry,
        "group.remove_member",
        Kind::Edit,
        async |txn| {
            let row = lock_group(txn, group_id).await?;
            teacher_member(txn, caller, group_id).await?;
            if GroupSource::from_stored(&row.source) != GroupSource::Local {
                return Err(Error::Forbidden);
            }
            let target = members_of(group_id)
                .filter(user::Column::Id.eq(user_id))
                .one(txn)
                .await?
                .ok_or(Error::NotFound)?;
            if Role::from_stored(&target.role) == Role::Teacher {
                let other_teachers = members_of(group_id)
                    .filter(user::Column::Role.eq(Role::Teacher.as_str()))
                    .filter(user::Column::Id.ne(user_id))
                    .limit(1)
                    .all(txn)
                    .await?;
                if other_teachers.is_empty() {
                    return Err(Error::invalid(
                        Code::LastTeacher,
                        "a class keeps at least one teacher: add another teacher first",
                    ));
                }
            }
            membership::Entity::delete_many()
                .filter(membership::Column::UserId.eq(user_id))
                .filter(membership::Column::GroupId.eq(group_id))
                .exec(txn)
                .await?;
            Ok(())
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_alphabet_without_look_alikes() {
        assert_eq!(CODE_ALPHABET.len(), 31);
        for bad in b"0O1IL" {
            assert!(!CODE_ALPHABET.contains(bad));
        }
        for _ in 0..200 {
            let code = new_code();
            assert_eq!(code.len(), CODE_LEN);
            assert_eq!(normalize_code(&code).as_deref(), Some(code.as_str()));
        }
    }

    #[test]
    fn typed_codes_are_case_insensitive_and_checked() {
        assert_eq!(normalize_code(" abcd2345 ").as_deref(), Some("ABCD2345"));
        for bad in [
            "",
            "ABCD234",
            "ABCD23456",
            "ABCD234O",
            "ABCD2341",
            "ÄBCD2345",
            "AB D2345",
        ] {
            assert_eq!(normalize_code(bad), None, "{bad:?}");
        }
    }
}
