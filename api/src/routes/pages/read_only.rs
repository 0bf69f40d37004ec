//! `GET /editor?submission={id}`: the editor on a submission's pinned body,
//! read-only. The page's config says `readOnly: true` and names the
//! submission; `editor.js` then loads the body from
//! `/api/v1/submissions/{id}/body` and never saves (no Save menu items, and
//! its save hooks refuse). The pinned version must stay exactly as
//! submitted; a teacher who wants to change it downloads the `.sb3` and
//! imports it as a project of their own.
//!
//! Who may open it is the service's rule for submissions: the student who
//! submitted and the class's teachers. Anyone else gets a 404 page and the
//! editor is not even started.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use maud::{html, Markup};
use service::assignments::{self, Submission};
use service::auth::User;

use super::page_with_status;
use crate::problem::Problem;
use crate::state::AppState;

/// A submission the viewer may see, and what the banner says about it.
pub(crate) struct ReadOnly {
    submission: Submission,
    student: String,
    assignment: String,
}

/// The submission `id` for `user`, or `None` when they may not see it (or
/// it does not exist: the same answer).
pub(crate) async fn open(
    state: &AppState,
    user: &User,
    id: i64,
) -> Result<Option<ReadOnly>, Problem> {
    let submission = match assignments::submission(&state.ctx, user, id).await {
        Ok(s) => s,
        Err(service::Error::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // The names only label the banner: a lookup that fails (a student who
    // has left the class) falls back to a neutral word.
    let assignment = match assignments::get(&state.ctx, user, submission.assignment_id).await {
        Ok(view) => view.assignment.title,
        Err(_) => "an assignment".to_owned(),
    };
    let student = if submission.student_id == user.id {
        user.display_name.clone()
    } else {
        super::assignments::whole_roster(state, user, submission.assignment_id)
            .await
            .ok()
            .and_then(|rows| {
                rows.into_iter()
                    .find(|r| r.student_id == submission.student_id)
                    .map(|r| r.display_name)
            })
            .unwrap_or_else(|| "a student".to_owned())
    };
    Ok(Some(ReadOnly {
        submission,
        student,
        assignment,
    }))
}

impl ReadOnly {
    /// The page's config: read-only, on this submission. The project id the
    /// GUI holds is no project's id, so even a stray save could not land on
    /// the student's project.
    pub(crate) fn configure(&self, config: &mut serde_json::Value) {
        let id = self.submission.id;
        config["readOnly"] = true.into();
        config["submissionId"] = id.to_string().into();
        config["projectId"] = format!("submission-{id}").into();
        config["title"] = format!("{} ({})", self.assignment, self.student).into();
        config["version"] = serde_json::Value::Null;
    }

    /// The strip above the editor that says what is shown.
    pub(crate) fn banner(&self) -> Markup {
        let s = &self.submission;
        html! {
            div id="cubby-readonly" role="status"
                style="flex:none;padding:.5em 1em;background:#e7f0ff;color:#1c3a70;border-bottom:1px solid #8fb0e8;font:15px/1.4 sans-serif" {
                strong { "Read-only: " } (self.student) "’s submission of " (self.assignment)
                " (version " (s.version) ", submitted " (s.submitted_at.format("%Y-%m-%d %H:%M UTC"))
                @if s.late { ", late" } "). Nothing here is saved. "
                a href={ "/assignment/" (s.assignment_id) } { "Back to the assignment" }
            }
        }
    }
}

/// The answer to a submission the viewer may not see.
pub(crate) fn not_found() -> HttpResponse {
    page_with_status(
        StatusCode::NOT_FOUND,
        "No such submission",
        html! {
            h1 { "No such submission" }
            p { "This submission does not exist, or you may not see it." }
            p { a href="/" { "Back to the home page" } }
        },
    )
}
