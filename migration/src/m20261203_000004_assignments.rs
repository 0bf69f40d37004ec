//! The classroom: assignments, each student's project for one, submissions
//! and feedback (docs/GUARANTEES.md, G16–G18).
//!
//! * `assignments`: a task a teacher gives a group. `starter_project_id` has
//!   no foreign key: deleting or purging the starter must never take the
//!   assignment with it (a start then makes an empty project).
//! * `assignment_projects`: the one project a student works in for an
//!   assignment. The unique `(assignment_id, student_id)` pair **is** G16:
//!   however many starts race, one insert wins, before any project is
//!   made. The row goes with its project (a purged project can be started
//!   afresh).
//! * `submissions`: every submit is kept. `body_file` is a blob of the
//!   submission's own, a copy of the pinned version's body (G17), so no
//!   delete, purge, pruning or gc of the project can remove it. No foreign
//!   key to the project: a submission outlives it.
//! * `feedback`: at most one per submission (its primary key), replaced as a
//!   whole; `version` makes the replacement conditional.

use crate::util::*;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

// sea-orm-migration declares `up`/`down` with `&SchemaManager` (lifetime
// hidden); under `async_trait` the impl must spell it the same way.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("assignments")
                    .col(id())
                    .col(big_integer("group_id"))
                    .col(string("title"))
                    .col(text("instructions"))
                    .col(big_integer_null("starter_project_id"))
                    // The service keeps it within 1971–2037, which MariaDB's
                    // TIMESTAMP holds (past 2038 it would store NULL).
                    .col(ts_null("due_at"))
                    .col(boolean("late_submissions"))
                    .col(big_integer("created_by"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .foreign_key(&mut fk(
                        "assignments",
                        "group_id",
                        "groups",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "assignments",
                        "created_by",
                        "users",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("assignment_projects")
                    .col(id())
                    .col(big_integer("assignment_id"))
                    .col(big_integer("student_id"))
                    // NULL only inside the start that inserted the pair and
                    // is about to create the project (never committed so).
                    .col(big_integer_null("project_id"))
                    .col(ts("created_at"))
                    .foreign_key(&mut fk(
                        "assignment_projects",
                        "assignment_id",
                        "assignments",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "assignment_projects",
                        "student_id",
                        "users",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "assignment_projects",
                        "project_id",
                        "projects",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("submissions")
                    .col(id())
                    .col(big_integer("assignment_id"))
                    .col(big_integer("student_id"))
                    // No foreign key: a submission outlives its project.
                    .col(big_integer("project_id"))
                    .col(integer("version"))
                    .col(char_len("body_md5", 32))
                    .col(big_integer("body_size"))
                    // The blob-store key of the submission's own copy of the body.
                    .col(string("body_file"))
                    .col(ts("submitted_at"))
                    .col(boolean("late"))
                    .foreign_key(&mut fk(
                        "submissions",
                        "assignment_id",
                        "assignments",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut fk(
                        "submissions",
                        "student_id",
                        "users",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("feedback")
                    .col(big_integer("submission_id").primary_key())
                    .col(text("comment"))
                    .col(string_len_null("grade", 64))
                    .col(big_integer("author_id"))
                    .col(integer("version"))
                    .col(ts("updated_at"))
                    .foreign_key(&mut fk(
                        "feedback",
                        "submission_id",
                        "submissions",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "feedback",
                        "author_id",
                        "users",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                index("assignments", &["group_id", "id"], false),
                index(
                    "assignment_projects",
                    &["assignment_id", "student_id"],
                    true,
                ),
                index("assignment_projects", &["project_id"], false),
                index("submissions", &["assignment_id", "student_id", "id"], false),
                index("submissions", &["body_file"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "feedback",
                "submissions",
                "assignment_projects",
                "assignments",
            ],
        )
        .await
    }
}
