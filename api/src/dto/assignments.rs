//! JSON shapes of the classroom routes (docs/API.md, "Assignments").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{PartialSchema, ToSchema};

use crate::openapi::schemas::MultilineText;

use service::assignments::{
    Assignment, AssignmentView, Feedback, RosterRow, Submission, COMMENT_MAX, GRADE_MAX,
    INSTRUCTIONS_MAX,
};

use super::whole;

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /api/v1/groups/{id}/assignments`.
#[derive(Deserialize, ToSchema)]
pub struct CreateAssignment {
    /// 1–200 characters once trimmed, no control characters.
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// Default empty; line breaks allowed, no other control characters.
    #[schema(schema_with = MultilineText::schema)]
    pub instructions: Option<String>,
    /// A project the teacher may read; each student's start copies it.
    #[schema(minimum = 1)]
    pub starter_project_id: Option<i64>,
    /// RFC 3339, years 1971–2037; kept to whole seconds.
    pub due_at: Option<DateTime<Utc>>,
    /// Whether a submit after `due_at` is taken (marked late); default false.
    pub late_submissions: Option<bool>,
}

/// `PATCH /api/v1/assignments/{id}`: each member given replaces that field
/// (`"due_at": null` removes the due time).
#[derive(Deserialize, ToSchema)]
pub struct UpdateAssignment {
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[schema(schema_with = MultilineText::schema)]
    pub instructions: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub due_at: Option<Option<DateTime<Utc>>>,
    pub late_submissions: Option<bool>,
}

/// `POST /api/v1/assignments/{id}/submit` (the body may be empty).
#[derive(Deserialize, ToSchema, Default)]
pub struct Submit {
    /// The version of your assignment project to pin; default its current one.
    #[serde(default, deserialize_with = "whole::opt_i32")]
    #[schema(minimum = 1)]
    pub version: Option<i32>,
}

/// `PUT /api/v1/submissions/{id}/feedback`.
#[derive(Deserialize, ToSchema)]
pub struct PutFeedback {
    /// At most 20000 characters; line breaks allowed.
    #[schema(schema_with = MultilineText::schema)]
    pub comment: String,
    /// A short grade, 1–32 characters; absent or null: none.
    #[schema(min_length = 1, max_length = 32)]
    pub grade: Option<String>,
    /// The feedback version you read (0: there was none); stale → 409.
    #[serde(default, deserialize_with = "whole::opt_i32")]
    #[schema(minimum = 0)]
    pub version: Option<i32>,
}

/// An assignment.
#[derive(Serialize, ToSchema)]
pub struct AssignmentDto {
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
    /// Students only (in `GET /api/v1/assignments/{id}`): their project for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub my_project_id: Option<Option<i64>>,
    /// Students only: their latest submission, or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<SubmissionDto>)]
    pub my_submission: Option<Option<SubmissionDto>>,
}

impl From<Assignment> for AssignmentDto {
    fn from(a: Assignment) -> Self {
        Self {
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
            my_project_id: None,
            my_submission: None,
        }
    }
}

impl From<AssignmentView> for AssignmentDto {
    fn from(v: AssignmentView) -> Self {
        let mut dto = AssignmentDto::from(v.assignment);
        if let Some((project, submission)) = v.mine {
            dto.my_project_id = Some(project);
            dto.my_submission = Some(submission.map(SubmissionDto::from));
        }
        dto
    }
}

/// A submission: a pinned version of a student's assignment project.
#[derive(Serialize, ToSchema)]
pub struct SubmissionDto {
    pub id: i64,
    pub assignment_id: i64,
    pub student_id: i64,
    pub project_id: i64,
    pub version: i32,
    pub body_md5: String,
    pub body_size: i64,
    pub submitted_at: DateTime<Utc>,
    pub late: bool,
    pub feedback: Option<FeedbackDto>,
}

impl From<Submission> for SubmissionDto {
    fn from(s: Submission) -> Self {
        Self {
            id: s.id,
            assignment_id: s.assignment_id,
            student_id: s.student_id,
            project_id: s.project_id,
            version: s.version,
            body_md5: s.body_md5,
            body_size: s.body_size,
            submitted_at: s.submitted_at,
            late: s.late,
            feedback: s.feedback.map(FeedbackDto::from),
        }
    }
}

/// A teacher's feedback on a submission.
#[derive(Serialize, ToSchema)]
pub struct FeedbackDto {
    pub comment: String,
    pub grade: Option<String>,
    pub author_id: i64,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

impl From<Feedback> for FeedbackDto {
    fn from(f: Feedback) -> Self {
        Self {
            comment: f.comment,
            grade: f.grade,
            author_id: f.author_id,
            version: f.version,
            updated_at: f.updated_at,
        }
    }
}

/// A student in the roster.
#[derive(Serialize, ToSchema)]
pub struct StudentDto {
    pub id: i64,
    pub username: String,
    pub display_name: String,
}

/// One roster row: a current student member of the group.
#[derive(Serialize, ToSchema)]
pub struct RosterRowDto {
    pub student: StudentDto,
    /// `not_started`, `started`, `submitted` or `late` (of the latest submission).
    #[schema(value_type = String, example = "started")]
    pub status: &'static str,
    pub project_id: Option<i64>,
    pub latest: Option<SubmissionDto>,
    /// How many times the student submitted.
    pub count: u64,
}

impl From<RosterRow> for RosterRowDto {
    fn from(r: RosterRow) -> Self {
        Self {
            student: StudentDto {
                id: r.student_id,
                username: r.username,
                display_name: r.display_name,
            },
            status: r.status.as_str(),
            project_id: r.project_id,
            latest: r.latest.map(SubmissionDto::from),
            count: r.count,
        }
    }
}

// The documented limits are the service's.
const _: () = assert!(INSTRUCTIONS_MAX == 20_000 && COMMENT_MAX == 20_000 && GRADE_MAX == 32);
