//! A student's work on an assignment: `start` makes their one project for
//! it (G16), `submit` pins a version of it (G17), on time or late by one
//! clock read inside the submitting transaction (G18).

use entity::{assignment, assignment_project, submission};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect,
};

use super::{member_of, submit_clock, to_submission, Submission};
use crate::auth::User;
use crate::blob::delete_all;
use crate::error::{Code, Error, Result};
use crate::projects::for_assignment::{create_in, live_shared, project_in, version_in};
use crate::projects::rules::md5_hex;
use crate::projects::Project;
use crate::storage_quota;
use crate::tx::{self, Kind};
use crate::{now, Ctx};

/// What `start` answered: the student's project, and whether this call made it.
#[derive(Clone, Debug)]
pub struct Started {
    pub project: Project,
    pub created: bool,
}

/// The student's project for an assignment, if they started it.
pub(super) async fn my_project(
    db: &impl ConnectionTrait,
    assignment_id: i64,
    student_id: i64,
) -> Result<Option<i64>> {
    Ok(pair(db, assignment_id, student_id)
        .await?
        .and_then(|p| p.project_id))
}

async fn pair(
    db: &impl ConnectionTrait,
    assignment_id: i64,
    student_id: i64,
) -> Result<Option<assignment_project::Model>> {
    Ok(assignment_project::Entity::find()
        .filter(assignment_project::Column::AssignmentId.eq(assignment_id))
        .filter(assignment_project::Column::StudentId.eq(student_id))
        .one(db)
        .await?)
}

/// `POST /api/v1/assignments/{id}/start` (G16). The unique pair
/// `(assignment_id, student_id)` decides, before any project is made: the
/// start inserts the pair (with no project yet) if absent, then reads it
/// back under its row lock. A racing start's insert waits for the first one
/// to commit and then inserts nothing; its read finds the winner's project
/// and answers it. Only the start whose own insert made the pair (its
/// `project_id` is still empty) creates the project, in the same
/// transaction, so a start that fails (quota) leaves neither pair nor
/// project, and no start ever makes a second project.
#[tracing::instrument(skip_all, fields(user.id = caller.id, assignment.id = id))]
pub async fn start(ctx: &Ctx, caller: &User, id: i64) -> Result<Started> {
    let mut written: Vec<String> = Vec::new();
    let result = tx::run(
        &ctx.db,
        &ctx.retry,
        "assignment.start",
        Kind::Edit,
        async |txn| {
            let a = assignment::Entity::find_by_id(id)
                .one(txn)
                .await?
                .ok_or(Error::NotFound)?;
            member_of(txn, caller, a.group_id)
                .await?
                .require_student()?;
            assignment_project::Entity::insert(assignment_project::ActiveModel {
                assignment_id: Set(a.id),
                student_id: Set(caller.id),
                project_id: Set(None),
                created_at: Set(now()),
                ..Default::default()
            })
            .on_conflict_do_nothing_on([
                assignment_project::Column::AssignmentId,
                assignment_project::Column::StudentId,
            ])
            .exec(txn)
            .await?;
            let row = assignment_project::Entity::find()
                .filter(assignment_project::Column::AssignmentId.eq(a.id))
                .filter(assignment_project::Column::StudentId.eq(caller.id))
                .lock_exclusive()
                .one(txn)
                .await?
                .ok_or_else(|| Error::Internal("assignment project pair vanished".into()))?;
            if let Some(project_id) = row.project_id {
                let project = project_in(ctx, txn, project_id).await?;
                return Ok((
                    Started {
                        project,
                        created: false,
                    },
                    None,
                ));
            }
            let project = create_in(
                ctx,
                txn,
                caller.id,
                &a.title,
                a.starter_project_id,
                &mut written,
            )
            .await?;
            let key = written.last().cloned();
            let mut active: assignment_project::ActiveModel = row.into();
            active.project_id = Set(Some(project.id));
            active.update(txn).await?;
            Ok((
                Started {
                    project,
                    created: true,
                },
                key,
            ))
        },
    )
    .await;
    let keep = result.as_ref().ok().and_then(|(_, key)| key.clone());
    let orphans: Vec<String> = written
        .into_iter()
        .filter(|k| Some(k) != keep.as_ref())
        .collect();
    delete_all(&ctx.blobs, &orphans).await;
    result.map(|(started, _)| started)
}

/// `POST /api/v1/assignments/{id}/submit` (G17, G18). Under a shared lock
/// on the assignment (an edit of `due_at` waits) and on the student's
/// project (a save, prune or delete waits), the pinned version's row is
/// read and its body copied into a file of the submission's own, checked
/// against the version's md5; the copy is charged to the student (S8). Then
/// the clock is read, once: after `due_at` the submit is late (if the
/// assignment takes late work) or refused with `past_due`; that reading is
/// `submitted_at`. A failed transaction deletes the copy.
#[tracing::instrument(skip_all, fields(user.id = caller.id, assignment.id = id))]
pub async fn submit(ctx: &Ctx, caller: &User, id: i64, version: Option<i32>) -> Result<Submission> {
    let mut written: Vec<String> = Vec::new();
    let result = tx::run(
        &ctx.db,
        &ctx.retry,
        "assignment.submit",
        Kind::Edit,
        async |txn| {
            let a = assignment::Entity::find_by_id(id)
                .lock_shared()
                .one(txn)
                .await?
                .ok_or(Error::NotFound)?;
            member_of(txn, caller, a.group_id)
                .await?
                .require_student()?;
            let project_id = my_project(txn, a.id, caller.id)
                .await?
                .ok_or_else(|| Error::invalid(Code::NotStarted, "start the assignment first"))?;
            let p = live_shared(txn, project_id).await?;
            let version = version.unwrap_or(p.version);
            let v = version_in(txn, p.id, version)
                .await?
                .ok_or(Error::NotFound)?;
            storage_quota::change(ctx, txn, caller.id, v.body_size).await?;
            let bytes = ctx.blobs.get(&v.body_file).await?;
            if md5_hex(&bytes) != v.body_md5 {
                return Err(Error::Internal(
                    "a version's body does not match its md5".into(),
                ));
            }
            let key = ctx.blobs.put(&bytes).await?;
            written.push(key.clone());
            // G18: one reading, after every lock is held, decides and is kept.
            let at = submit_clock();
            let late = a.due_at.is_some_and(|due| at > due);
            if late && !a.late_submissions {
                return Err(Error::invalid(
                    Code::PastDue,
                    "the assignment was due; it takes no late submissions",
                ));
            }
            let row = submission::ActiveModel {
                assignment_id: Set(a.id),
                student_id: Set(caller.id),
                project_id: Set(p.id),
                version: Set(v.version),
                body_md5: Set(v.body_md5.clone()),
                body_size: Set(v.body_size),
                body_file: Set(key.clone()),
                submitted_at: Set(at),
                late: Set(late),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            Ok((to_submission(row, None), key))
        },
    )
    .await;
    let keep = result.as_ref().ok().map(|(_, key)| key.clone());
    let orphans: Vec<String> = written
        .into_iter()
        .filter(|k| Some(k) != keep.as_ref())
        .collect();
    delete_all(&ctx.blobs, &orphans).await;
    result.map(|(s, _)| s)
}
