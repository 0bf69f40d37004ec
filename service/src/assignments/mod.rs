//! The classroom: assignments a teacher gives a group, each student's
//! project for one, submissions that pin a version, and feedback
//! (docs/API.md, "Assignments"; docs/GUARANTEES.md, G16–G18).
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the types, who is who in a group, text rules |
//! | `manage.rs` | create, list, read and edit assignments |
//! | `work.rs` | a student's `start` (G16) and `submit` (G17, G18) |
//! | `review.rs` | the roster, submissions and their bodies, feedback |
//! | `export.rs` | a submission as `.sb3`, the class export zip |
//!
//! Who may do what: a teacher member of the group creates and edits its
//! assignments, sees the roster and every submission, and gives feedback; a
//! student member starts and submits; any member reads the assignments.
//! Someone outside the group gets 404; a member doing what their role may
//! not, 403. The student who submitted may always read their submission.

mod export;
mod manage;
mod review;
mod work;

use chrono::{DateTime, SubsecRound, Utc};
use entity::{assignment, feedback, membership, submission};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde::{Deserialize, Serialize};

use crate::auth::{Role, User};
use crate::error::{Code, Error, Result};

pub use export::{export, submission_sb3};
pub use manage::{create, get, list, update};
pub use review::{put_feedback, roster, submission, submission_body};
pub use work::{start, submit};

/// An assignment as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub id: i64,
    pub group_id: i64,
    pub title: String,
    pub instructions: String,
    pub starter_project_id: Option<i64>,
    pub due_at: Option<DateTime<Utc>>,
    pub late_submissions: bool,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An assignment, and for a student their project and latest submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignmentView {
    pub assignment: Assignment,
    /// `Some` for a student member: `(my_project_id, my_submission)`.
    pub mine: Option<(Option<i64>, Option<Submission>)>,
}

/// A submit: the pinned version of the student's assignment project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub id: i64,
    pub assignment_id: i64,
    pub student_id: i64,
    pub project_id: i64,
    pub version: i32,
    pub body_md5: String,
    pub body_size: i64,
    pub submitted_at: DateTime<Utc>,
    pub late: bool,
    pub feedback: Option<Feedback>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    pub comment: String,
    pub grade: Option<String>,
    pub author_id: i64,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

/// A new assignment.
#[derive(Clone, Debug, Default)]
pub struct NewAssignment {
    pub title: String,
    pub instructions: Option<String>,
    pub starter_project_id: Option<i64>,
    pub due_at: Option<DateTime<Utc>>,
    pub late_submissions: Option<bool>,
}

/// An edit: each `Some` replaces the field (`due_at: Some(None)` clears it).
#[derive(Clone, Debug, Default)]
pub struct AssignmentEdit {
    pub title: Option<String>,
    pub instructions: Option<String>,
    pub due_at: Option<Option<DateTime<Utc>>>,
    pub late_submissions: Option<bool>,
}

/// A feedback to store in place of the one there is.
#[derive(Clone, Debug, Default)]
pub struct NewFeedback {
    pub comment: String,
    pub grade: Option<String>,
    /// The feedback version the teacher read (0: there was none).
    pub expected_version: Option<i32>,
}

/// Where a student stands with an assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    NotStarted,
    Started,
    Submitted,
    Late,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotStarted => "not_started",
            Status::Started => "started",
            Status::Submitted => "submitted",
            Status::Late => "late",
        }
    }
}

/// One row of the roster: a current student member of the group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterRow {
    pub student_id: i64,
    pub username: String,
    pub display_name: String,
    pub status: Status,
    pub project_id: Option<i64>,
    pub latest: Option<Submission>,
    pub count: u64,
}

/// The caller's place in a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Member {
    /// Not a member: may not know the group's assignments exist (404).
    None,
    Student,
    Teacher,
}

impl Member {
    /// Teachers only: 403 to a student member, 404 to anyone else.
    fn require_teacher(self) -> Result<()> {
        match self {
            Member::Teacher => Ok(()),
            Member::Student => Err(Error::Forbidden),
            Member::None => Err(Error::NotFound),
        }
    }

    /// Students only: 403 to a teacher member, 404 to anyone else.
    fn require_student(self) -> Result<()> {
        match self {
            Member::Student => Ok(()),
            Member::Teacher => Err(Error::Forbidden),
            Member::None => Err(Error::NotFound),
        }
    }

    fn require_member(self) -> Result<()> {
        match self {
            Member::None => Err(Error::NotFound),
            _ => Ok(()),
        }
    }
}

/// Whether `caller` belongs to `group_id` now (read in the caller's
/// transaction), and as what.
async fn member_of(db: &impl ConnectionTrait, caller: &User, group_id: i64) -> Result<Member> {
    let row = membership::Entity::find_by_id((caller.id, group_id))
        .one(db)
        .await?;
    Ok(match (row, caller.role) {
        (None, _) => Member::None,
        (Some(_), Role::Teacher) => Member::Teacher,
        (Some(_), Role::Student) => Member::Student,
    })
}

/// The assignment `id` and the caller's place in its group; `NotFound` when
/// it does not exist or the caller is not a member.
async fn assignment_for(
    db: &impl ConnectionTrait,
    caller: &User,
    id: i64,
) -> Result<(assignment::Model, Member)> {
    let a = assignment::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(Error::NotFound)?;
    let member = member_of(db, caller, a.group_id).await?;
    member.require_member()?;
    Ok((a, member))
}

fn to_assignment(a: assignment::Model) -> Assignment {
    Assignment {
        id: a.id,
        group_id: a.group_id,
        title: a.title,
        instructions: a.instructions,
        starter_project_id: a.starter_project_id,
        due_at: a.due_at,
        late_submissions: a.late_submissions,
        created_by: a.created_by,
        created_at: a.created_at,
        updated_at: a.updated_at,
    }
}

fn to_feedback(f: feedback::Model) -> Feedback {
    Feedback {
        comment: f.comment,
        grade: f.grade,
        author_id: f.author_id,
        version: f.version,
        updated_at: f.updated_at,
    }
}

fn to_submission(s: submission::Model, feedback: Option<feedback::Model>) -> Submission {
    Submission {
        id: s.id,
        assignment_id: s.assignment_id,
        student_id: s.student_id,
        project_id: s.project_id,
        version: s.version,
        body_md5: s.body_md5,
        body_size: s.body_size,
        submitted_at: s.submitted_at,
        late: s.late,
        feedback: feedback.map(to_feedback),
    }
}

/// Reads the feedback of a submission row, if any.
async fn with_feedback(db: &impl ConnectionTrait, s: submission::Model) -> Result<Submission> {
    let f = feedback::Entity::find_by_id(s.id).one(db).await?;
    Ok(to_submission(s, f))
}

/// Longest instructions, comment and grade (a title follows the project title rule).
pub const INSTRUCTIONS_MAX: usize = 20_000;
pub const COMMENT_MAX: usize = 20_000;
pub const GRADE_MAX: usize = 32;

/// Multi-line text (instructions, comments): at most `max` characters,
/// no control characters but line breaks and tabs.
fn check_text(field: &str, value: &str, max: usize, allow_empty: bool) -> Result<String> {
    let bad = |detail: String| Error::invalid(Code::InvalidInput, detail);
    if !allow_empty && value.trim().is_empty() {
        return Err(bad(format!("{field} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(bad(format!("{field} is longer than {max} characters")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(bad(format!("{field} contains control characters")));
    }
    Ok(value.to_owned())
}

/// A due time as stored: whole seconds (MariaDB keeps no fractions), so
/// the time compared at a submit is the time shown; in the years 1971–2037,
/// which every backend stores (MariaDB's TIMESTAMP ends in January 2038
/// and would silently keep NULL past it).
fn due_time(at: DateTime<Utc>) -> Result<DateTime<Utc>> {
    use chrono::Datelike;
    if !(1971..=2037).contains(&at.year()) {
        return Err(Error::invalid(
            Code::InvalidInput,
            "due_at must be in the years 1971 to 2037",
        ));
    }
    Ok(at.trunc_subsecs(0))
}

/// The one clock of G18: the server's time, read inside the submitting
/// transaction once all its locks are held, rounded **up** to whole seconds
/// (a submit at 12:00:00.4 is after a due time of 12:00:00). The submit is
/// late exactly when this reading is after `due_at`, and the same reading is
/// its `submitted_at`.
fn submit_clock() -> DateTime<Utc> {
    let exact = Utc::now();
    let whole = exact.trunc_subsecs(0);
    if whole < exact {
        whole + chrono::Duration::seconds(1)
    } else {
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_submit_clock_never_reads_earlier_than_the_real_time() {
        let before = Utc::now();
        let at = submit_clock();
        assert!(at >= before);
        assert_eq!(at, at.trunc_subsecs(0));
        assert!(at - before <= chrono::Duration::seconds(1));
    }

    #[test]
    fn text_allows_line_breaks_but_no_other_control_characters() {
        assert!(check_text("x", "a\nb\tc", 10, false).is_ok());
        assert!(check_text("x", "a\u{7}", 10, false).is_err());
        assert!(check_text("x", "  ", 10, false).is_err());
        assert!(check_text("x", "", 10, true).is_ok());
        assert!(check_text("x", "abcdef", 5, true).is_err());
    }
}
