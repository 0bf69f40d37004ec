//! Who may do what with a project (docs/API.md, "Projects"), decided
//! in one place and always inside the caller's transaction.

use entity::{membership, project, project_share, user};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::auth::{Role, User};
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// May not even know the project exists: answer 404.
    None,
    /// A member of a group it is shared with, or a teacher of the owner's
    /// class: may read and copy.
    Read,
    /// The owner: may read, update, delete, copy and share.
    Owner,
}

impl Access {
    /// For reads and copies: anything but `None`.
    pub fn require_read(self) -> Result<()> {
        match self {
            Access::None => Err(Error::NotFound),
            _ => Ok(()),
        }
    }

    /// For updates, deletes and shares: 403 to readers, 404 to strangers.
    pub fn require_owner(self) -> Result<()> {
        match self {
            Access::Owner => Ok(()),
            Access::Read => Err(Error::Forbidden),
            Access::None => Err(Error::NotFound),
        }
    }
}

pub async fn access(
    db: &impl ConnectionTrait,
    caller: &User,
    p: &project::Model,
) -> Result<Access> {
    if p.owner_id == caller.id {
        return Ok(Access::Owner);
    }
    let my_groups: Vec<i64> = caller.groups.iter().map(|g| g.id).collect();
    if my_groups.is_empty() {
        return Ok(Access::None);
    }
    let shared = project_share::Entity::find()
        .filter(project_share::Column::ProjectId.eq(p.id))
        .filter(project_share::Column::GroupId.is_in(my_groups.clone()))
        .count(db)
        .await?;
    if shared > 0 {
        return Ok(Access::Read);
    }
    if caller.role == Role::Teacher && owner_is_student_in(db, p.owner_id, &my_groups).await? {
        return Ok(Access::Read);
    }
    Ok(Access::None)
}

/// Is `caller` a teacher of a class that `owner_id`, a student, belongs to?
/// Such a teacher may see and restore that student's trash (G15: students'
/// accidents), besides reading their projects.
pub async fn teaches(db: &impl ConnectionTrait, caller: &User, owner_id: i64) -> Result<bool> {
    if caller.role != Role::Teacher || caller.id == owner_id {
        return Ok(false);
    }
    let my_groups: Vec<i64> = caller.groups.iter().map(|g| g.id).collect();
    if my_groups.is_empty() {
        return Ok(false);
    }
    owner_is_student_in(db, owner_id, &my_groups).await
}

/// Is the owner a student who belongs to one of `groups`?
async fn owner_is_student_in(
    db: &impl ConnectionTrait,
    owner_id: i64,
    groups: &[i64],
) -> Result<bool> {
    let owner = user::Entity::find_by_id(owner_id).one(db).await?;
    if owner.is_none_or(|o| Role::from_stored(&o.role) != Role::Student) {
        return Ok(false);
    }
    let shared_classes = membership::Entity::find()
        .filter(membership::Column::UserId.eq(owner_id))
        .filter(membership::Column::GroupId.is_in(groups.to_vec()))
        .count(db)
        .await?;
    Ok(shared_classes > 0)
}
