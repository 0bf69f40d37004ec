//! What a teacher sees and says: the roster (every current student member,
//! also those who never opened the assignment), submissions and their
//! pinned bodies, and feedback, replaced whole and optionally conditional
//! on the version the teacher read.

use entity::{assignment, assignment_project, feedback, membership, submission, user};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::{
    assignment_for, check_text, member_of, to_feedback, with_feedback, Feedback, Member,
    NewFeedback, RosterRow, Status, Submission, COMMENT_MAX, GRADE_MAX,
};
use crate::auth::{Role, User};
use crate::error::{Error, Result};
use crate::page::{Page, PageRequest};
use crate::tx::{self, Kind};
use crate::{now, Ctx};

/// `GET /api/v1/assignments/{id}/submissions`: a teacher of the group; one
/// row per current student member, by user id.
#[tracing::instrument(skip_all, fields(user.id = caller.id, assignment.id = id))]
pub async fn roster(
    ctx: &Ctx,
    caller: &User,
    id: i64,
    page: PageRequest,
) -> Result<Page<RosterRow>> {
    let db = &ctx.db;
    let (a, member) = assignment_for(db, caller, id).await?;
    member.require_teacher()?;
    let member_ids: Vec<i64> = membership::Entity::find()
        .select_only()
        .column(membership::Column::UserId)
        .filter(membership::Column::GroupId.eq(a.group_id))
        .into_tuple()
        .all(db)
        .await?;
    let mut query = user::Entity::find()
        .filter(user::Column::Id.is_in(member_ids))
        .filter(user::Column::Role.eq(Role::Student.as_str()));
    if let Some(after) = page.after {
        query = query.filter(user::Column::Id.gt(after));
    }
    let students = query
        .order_by_asc(user::Column::Id)
        .limit(page.fetch())
        .all(db)
        .await?;
    let students = Page::from_rows(students, &page, |u| u.id);
    let mut items = Vec::with_capacity(students.items.len());
    for s in students.items {
        items.push(roster_row(db, &a, s).await?);
    }
    Ok(Page {
        items,
        next: students.next,
    })
}

async fn roster_row(
    db: &impl ConnectionTrait,
    a: &assignment::Model,
    student: user::Model,
) -> Result<RosterRow> {
    let project_id = assignment_project::Entity::find()
        .filter(assignment_project::Column::AssignmentId.eq(a.id))
        .filter(assignment_project::Column::StudentId.eq(student.id))
        .one(db)
        .await?
        .and_then(|p| p.project_id);
    let mine = submission::Entity::find()
        .filter(submission::Column::AssignmentId.eq(a.id))
        .filter(submission::Column::StudentId.eq(student.id));
    let count = mine.clone().count(db).await?;
    let latest = mine.order_by_desc(submission::Column::Id).one(db).await?;
    let latest = match latest {
        Some(s) => Some(with_feedback(db, s).await?),
        None => None,
    };
    let status = match (&latest, project_id) {
        (Some(s), _) if s.late => Status::Late,
        (Some(_), _) => Status::Submitted,
        (None, Some(_)) => Status::Started,
        (None, None) => Status::NotStarted,
    };
    Ok(RosterRow {
        student_id: student.id,
        username: student.username,
        display_name: student.display_name,
        status,
        project_id,
        latest,
        count,
    })
}

/// Who may see submission `s`: the student who submitted it (also after
/// leaving the group) and the group's teachers; anyone else gets 404.
/// Returns the caller's place in the group.
pub(super) async fn may_see(
    db: &impl ConnectionTrait,
    caller: &User,
    s: &submission::Model,
) -> Result<Member> {
    let a = assignment::Entity::find_by_id(s.assignment_id)
        .one(db)
        .await?
        .ok_or(Error::NotFound)?;
    let member = member_of(db, caller, a.group_id).await?;
    if s.student_id == caller.id || member == Member::Teacher {
        Ok(member)
    } else {
        Err(Error::NotFound)
    }
}

/// `GET /api/v1/submissions/{id}`.
#[tracing::instrument(skip_all, fields(user.id = caller.id, submission.id = id))]
pub async fn submission(ctx: &Ctx, caller: &User, id: i64) -> Result<Submission> {
    let s = submission::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .ok_or(Error::NotFound)?;
    may_see(&ctx.db, caller, &s).await?;
    with_feedback(&ctx.db, s).await
}

/// `GET /api/v1/submissions/{id}/body`: the pinned body, byte for byte,
/// from the submission's own file (G17).
#[tracing::instrument(skip_all, fields(user.id = caller.id, submission.id = id))]
pub async fn submission_body(ctx: &Ctx, caller: &User, id: i64) -> Result<Vec<u8>> {
    let s = submission::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .ok_or(Error::NotFound)?;
    may_see(&ctx.db, caller, &s).await?;
    Ok(ctx.blobs.get(&s.body_file).await?)
}

/// `PUT /api/v1/submissions/{id}/feedback`: a teacher of the group
/// replaces the feedback. Under the submission's row lock, so two teachers
/// take turns: with `expected_version` a stale one is refused
/// (`version_conflict`, 0 meaning "there was none"); without, the later
/// one wins, each answer with its own version.
#[tracing::instrument(skip_all, fields(user.id = caller.id, submission.id = id))]
pub async fn put_feedback(ctx: &Ctx, caller: &User, id: i64, new: NewFeedback) -> Result<Feedback> {
    let comment = check_text("comment", &new.comment, COMMENT_MAX, true)?;
    let grade = new
        .grade
        .as_deref()
        .map(|g| check_text("grade", g.trim(), GRADE_MAX, false))
        .transpose()?;
    tx::run(
        &ctx.db,
        &ctx.retry,
        "submission.feedback",
        Kind::Edit,
        async |txn| {
            let s = submission::Entity::find_by_id(id)
                .lock_exclusive()
                .one(txn)
                .await?
                .ok_or(Error::NotFound)?;
            match may_see(txn, caller, &s).await? {
                Member::Teacher => {}
                _ => return Err(Error::Forbidden),
            }
            let current = feedback::Entity::find_by_id(s.id).one(txn).await?;
            let current_version = current.as_ref().map_or(0, |f| f.version);
            if new.expected_version.is_some_and(|v| v != current_version) {
                return Err(Error::VersionConflict { current_version });
            }
            let at = now();
            let row = match current {
                Some(f) => {
                    let mut active = f.into_active_model();
                    active.comment = Set(comment.clone());
                    active.grade = Set(grade.clone());
                    active.author_id = Set(caller.id);
                    active.version = Set(current_version + 1);
                    active.updated_at = Set(at);
                    active.update(txn).await?
                }
                None => {
                    feedback::Entity::insert(feedback::ActiveModel {
                        submission_id: Set(s.id),
                        comment: Set(comment.clone()),
                        grade: Set(grade.clone()),
                        author_id: Set(caller.id),
                        version: Set(1),
                        updated_at: Set(at),
                    })
                    .exec_without_returning(txn)
                    .await?;
                    feedback::Model {
                        submission_id: s.id,
                        comment: comment.clone(),
                        grade: grade.clone(),
                        author_id: caller.id,
                        version: 1,
                        updated_at: at,
                    }
                }
            };
            Ok(to_feedback(row))
        },
    )
    .await
}
