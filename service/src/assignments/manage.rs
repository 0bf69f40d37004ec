//! Assignments: create (a teacher member of the group, with a starter the
//! teacher can read), list and read (members), edit (a teacher of the group).

use entity::{assignment, submission};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::{
    assignment_for, check_text, due_time, member_of, to_assignment, with_feedback, Assignment,
    AssignmentEdit, AssignmentView, Member, NewAssignment, INSTRUCTIONS_MAX,
};
use crate::access::access;
use crate::auth::User;
use crate::error::{Error, Result};
use crate::page::{Page, PageRequest};
use crate::projects::for_assignment::live_shared;
use crate::projects::rules::check_title;
use crate::tx::{self, Kind};
use crate::{now, Ctx};

/// `POST /api/v1/groups/{id}/assignments`.
#[tracing::instrument(skip_all, fields(user.id = caller.id, group.id = group_id))]
pub async fn create(
    ctx: &Ctx,
    caller: &User,
    group_id: i64,
    new: NewAssignment,
) -> Result<Assignment> {
    let title = check_title(&new.title)?;
    let instructions = check_text(
        "instructions",
        new.instructions.as_deref().unwrap_or(""),
        INSTRUCTIONS_MAX,
        true,
    )?;
    let due_at = new.due_at.map(due_time).transpose()?;
    tx::run(
        &ctx.db,
        &ctx.retry,
        "assignment.create",
        Kind::Edit,
        async |txn| {
            member_of(txn, caller, group_id).await?.require_teacher()?;
            if let Some(starter) = new.starter_project_id {
                let p = live_shared(txn, starter).await?;
                access(txn, caller, &p).await?.require_read()?;
            }
            let at = now();
            let row = assignment::ActiveModel {
                group_id: Set(group_id),
                title: Set(title.clone()),
                instructions: Set(instructions.clone()),
                starter_project_id: Set(new.starter_project_id),
                due_at: Set(due_at),
                late_submissions: Set(new.late_submissions.unwrap_or(false)),
                created_by: Set(caller.id),
                created_at: Set(at),
                updated_at: Set(at),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            Ok(to_assignment(row))
        },
    )
    .await
}

/// `GET /api/v1/groups/{id}/assignments`: newest first, keyset by id.
#[tracing::instrument(skip_all, fields(user.id = caller.id, group.id = group_id))]
pub async fn list(
    ctx: &Ctx,
    caller: &User,
    group_id: i64,
    page: PageRequest,
) -> Result<Page<Assignment>> {
    member_of(&ctx.db, caller, group_id)
        .await?
        .require_member()?;
    let mut query = assignment::Entity::find().filter(assignment::Column::GroupId.eq(group_id));
    if let Some(after) = page.after {
        query = query.filter(assignment::Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(assignment::Column::Id)
        .limit(page.fetch())
        .all(&ctx.db)
        .await?;
    Ok(Page::from_rows(rows, &page, |a| a.id).map(to_assignment))
}

/// `GET /api/v1/assignments/{id}`: for a student also their project and
/// latest submission.
#[tracing::instrument(skip_all, fields(user.id = caller.id, assignment.id = id))]
pub async fn get(ctx: &Ctx, caller: &User, id: i64) -> Result<AssignmentView> {
    let (a, member) = assignment_for(&ctx.db, caller, id).await?;
    let mine = match member {
        Member::Student => {
            let project = super::work::my_project(&ctx.db, a.id, caller.id).await?;
            let latest = submission::Entity::find()
                .filter(submission::Column::AssignmentId.eq(a.id))
                .filter(submission::Column::StudentId.eq(caller.id))
                .order_by_desc(submission::Column::Id)
                .one(&ctx.db)
                .await?;
            let latest = match latest {
                Some(s) => Some(with_feedback(&ctx.db, s).await?),
                None => None,
            };
            Some((project, latest))
        }
        _ => None,
    };
    Ok(AssignmentView {
        assignment: to_assignment(a),
        mine,
    })
}

/// `PATCH /api/v1/assignments/{id}`: a teacher of the group. The row is
/// locked, so a change of `due_at` and a submit take turns (G18).
#[tracing::instrument(skip_all, fields(user.id = caller.id, assignment.id = id))]
pub async fn update(ctx: &Ctx, caller: &User, id: i64, edit: AssignmentEdit) -> Result<Assignment> {
    let title = edit.title.as_deref().map(check_title).transpose()?;
    let instructions = edit
        .instructions
        .as_deref()
        .map(|i| check_text("instructions", i, INSTRUCTIONS_MAX, true))
        .transpose()?;
    let due_at = edit
        .due_at
        .map(|d| d.map(due_time).transpose())
        .transpose()?;
    tx::run(
        &ctx.db,
        &ctx.retry,
        "assignment.update",
        Kind::Edit,
        async |txn| {
            let row = assignment::Entity::find_by_id(id)
                .lock_exclusive()
                .one(txn)
                .await?
                .ok_or(Error::NotFound)?;
            member_of(txn, caller, row.group_id)
                .await?
                .require_teacher()?;
            let mut active = row.into_active_model();
            if let Some(t) = &title {
                active.title = Set(t.clone());
            }
            if let Some(i) = &instructions {
                active.instructions = Set(i.clone());
            }
            if let Some(d) = due_at {
                active.due_at = Set(d);
            }
            if let Some(l) = edit.late_submissions {
                active.late_submissions = Set(l);
            }
            active.updated_at = Set(now());
            let row = active.update(txn).await?;
            Ok(to_assignment(row))
        },
    )
    .await
}
