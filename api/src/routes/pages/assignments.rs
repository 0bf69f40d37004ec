//! The classroom on the home page and the assignment page.
//!
//! - Home page, "Assignments" section ([`section`]): a student sees, per
//!   class, each assignment with its instructions, due time, their status,
//!   "Start" / "Continue in the editor" / "Submit", their latest submission
//!   and the teacher's feedback; a teacher sees, per class, a "New
//!   assignment" form and the class's assignments, each linking to its page.
//! - `GET /assignment/{id}` ([`assignment_page`]): for a teacher the roster
//!   (every student member, status, thumbnail, latest submission, "Open
//!   read-only", "Download .sb3", a feedback form), the class export and an
//!   edit form; for a student the same card as on the home page.
//!
//! Every form is a plain same-origin POST (S2 applies) that calls the same
//! service function as the JSON route and answers 303: back to the page with
//! a message word (`?assign_msg=` on `/`, `?msg=` on the assignment page),
//! never raw JSON; "Start" goes to the editor on the student's project. The
//! feedback form carries the feedback version the teacher read, so of two
//! teachers the later one gets a message instead of silently overwriting.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;
use service::assignments::{
    self, Assignment, AssignmentEdit, NewAssignment, NewFeedback, RosterRow, Submission,
};
use service::auth::{Role, User};
use service::page::PageRequest;
use service::projects::{self, Project, Scope};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::import::thumbnail;
use super::{editor_installed, page, see_other, viewer};
use crate::openapi::patterns;
use crate::openapi::responses::{BadRequest, NotFound, ServerError, Unauthenticated, Unavailable};
use crate::openapi::schemas::{Html, Id, MultilineText, Title};
use crate::problem::Problem;
use crate::state::AppState;

/// The message for `?assign_msg=` / `?msg=`: a fixed text per word, never
/// text from the client.
fn message(word: &str) -> &'static str {
    match word {
        "created" => "Assignment created. Your students see it on their home page.",
        "updated" => "Assignment saved.",
        "submitted" => {
            "Submitted. Your teacher sees this version; you may keep working and submit again."
        }
        "feedback_saved" => "Feedback saved.",
        "version_conflict" => {
            "Someone else changed this feedback after you opened the page. \
            Nothing was overwritten: their feedback is shown below, yours was not saved."
        }
        "past_due" => "The assignment was due and takes no late work.",
        "not_started" => "Start the assignment first.",
        "forbidden" => "Your role in the class does not allow that.",
        "not_found" => "No such assignment, or you are not in its class.",
        "invalid_input" => {
            "Please check the form: a title of 1–200 characters, a due time in \
            the years 1971–2037, a grade of at most 32 characters."
        }
        "quota_exceeded" => "You have too many projects: delete some first.",
        "storage_quota_exceeded" => "Your storage is full: delete some projects first.",
        _ => "That did not work. Please try again.",
    }
}

#[derive(Deserialize)]
struct MessageQuery {
    assign_msg: Option<String>,
    msg: Option<String>,
}

fn query_message(req: &HttpRequest) -> Option<&'static str> {
    let q = web::Query::<MessageQuery>::from_query(req.query_string()).ok()?;
    let word = q.assign_msg.as_deref().or(q.msg.as_deref())?;
    Some(message(word))
}

fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn due_line(a: &Assignment) -> Markup {
    html! {
        @match a.due_at {
            Some(due) => {
                "Due " (when(&due))
                @if a.late_submissions { " · late work accepted" } @else { " · no late work" }
            }
            None => "No due time",
        }
    }
}

/// The instructions, line breaks kept.
fn instructions(a: &Assignment) -> Markup {
    html! {
        @if !a.instructions.trim().is_empty() {
            p style="white-space:pre-line" { (a.instructions) }
        }
    }
}

fn status_text(status: assignments::Status) -> &'static str {
    match status {
        assignments::Status::NotStarted => "not started",
        assignments::Status::Started => "started",
        assignments::Status::Submitted => "submitted",
        assignments::Status::Late => "submitted late",
    }
}

/// A student's status, by the roster's rule.
fn my_status(project: Option<i64>, latest: Option<&Submission>) -> assignments::Status {
    match (latest, project) {
        (Some(s), _) if s.late => assignments::Status::Late,
        (Some(_), _) => assignments::Status::Submitted,
        (None, Some(_)) => assignments::Status::Started,
        (None, None) => assignments::Status::NotStarted,
    }
}

fn submitted_line(s: &Submission) -> Markup {
    html! {
        "Submitted " (when(&s.submitted_at)) " (version " (s.version) ")"
        @if s.late { " · " strong { "late" } }
    }
}

fn feedback_view(s: &Submission) -> Markup {
    html! {
        @match &s.feedback {
            Some(f) => {
                div.feedback {
                    h5 { "Feedback" }
                    @if !f.comment.trim().is_empty() { p style="white-space:pre-line" { (f.comment) } }
                    @if let Some(g) = &f.grade { p { "Grade: " strong { (g) } } }
                }
            }
            None => p { "No feedback yet." },
        }
    }
}

/// One assignment as its student sees it.
fn student_card(
    a: &Assignment,
    project: Option<i64>,
    latest: Option<&Submission>,
    editor: bool,
) -> Markup {
    html! {
        article.assignment {
            h4 { (a.title) }
            (instructions(a))
            p { (due_line(a)) " · status: " strong { (status_text(my_status(project, latest))) } }
            p {
                @match project {
                    None => {
                        form.inline method="post" action={ "/home/assignments/" (a.id) "/start" } {
                            button type="submit" { "Start" }
                        }
                    }
                    Some(pid) => {
                        @if editor { a href={ "/editor?project=" (pid) } { "Continue in the editor" } " " }
                        form.inline method="post" action={ "/home/assignments/" (a.id) "/submit" } {
                            button type="submit" { @if latest.is_some() { "Submit again" } @else { "Submit" } }
                        }
                    }
                }
            }
            @if let Some(s) = latest {
                p { (submitted_line(s)) }
                (feedback_view(s))
            }
        }
    }
}

/// The "New assignment" form of one class.
fn new_form(group_id: i64, starters: &[Project]) -> Markup {
    html! {
        form.new-assignment method="post" action="/home/assignments" {
            input type="hidden" name="group_id" value=(group_id);
            label { "Title " input name="title" required maxlength="200"; }
            label { "Instructions " textarea name="instructions" rows="3" maxlength="20000" {} }
            label { "Starter project "
                select name="starter_project_id" {
                    option value="" { "none (an empty project)" }
                    @for p in starters { option value=(p.id) { (p.title) } }
                }
            }
            label { "Due (UTC, optional) " input type="datetime-local" name="due_at"; }
            label { input type="checkbox" name="late_submissions" value="on"; " Accept late work" }
            button type="submit" { "New assignment" }
        }
    }
}

/// The "Assignments" section of the home page for `user` (nothing when
/// they are in no class).
pub(crate) async fn section(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
) -> Result<Markup, Problem> {
    if user.groups.is_empty() {
        return Ok(html! {});
    }
    let teacher = user.role == Role::Teacher;
    let editor = editor_installed(state);
    let starters = if teacher {
        projects::list(&state.ctx, user, Scope::Mine, PageRequest::first(100))
            .await?
            .items
    } else {
        Vec::new()
    };
    let mut classes = Vec::new();
    for g in &user.groups {
        let list = match assignments::list(&state.ctx, user, g.id, PageRequest::first(100)).await {
            Ok(list) => list.items,
            // Left the class since the session was read: not shown.
            Err(service::Error::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut cards = Vec::with_capacity(list.len());
        for a in list {
            let mine = if teacher {
                None
            } else {
                assignments::get(&state.ctx, user, a.id).await?.mine
            };
            cards.push((a, mine));
        }
        classes.push((g, cards));
    }
    Ok(html! {
        section.panel.assignments aria-labelledby="assignments" {
            h2 id="assignments" { "Assignments" }
            @if let Some(msg) = query_message(req) { p.notice role="status" { (msg) } }
            @for (g, cards) in &classes {
                section.class-assignments {
                    h3 { (g.name) }
                    @if cards.is_empty() { p { "No assignments yet." } }
                    @if teacher {
                        @if !cards.is_empty() {
                            ul {
                                @for (a, _) in cards {
                                    li { a href={ "/assignment/" (a.id) } { (a.title) } " · " (due_line(a)) }
                                }
                            }
                        }
                        (new_form(g.id, &starters))
                    } @else {
                        @for (a, mine) in cards {
                            @let (project, latest) = mine.clone().unwrap_or((None, None));
                            (student_card(a, project, latest.as_ref(), editor))
                        }
                    }
                }
            }
        }
    })
}

// --- the forms ---------------------------------------------------------------

async fn caller(state: &AppState, req: &HttpRequest) -> Result<User, Problem> {
    Ok(viewer(state, req)
        .await
        .ok_or(service::Error::Unauthenticated)?)
}

/// Back to `base` with the outcome's word; not being logged in stays an
/// error (there is no page to go back to).
fn outcome<T>(
    result: Result<T, service::Error>,
    base: &str,
    ok: &str,
) -> Result<HttpResponse, Problem> {
    match result {
        Ok(_) => Ok(see_other(&format!("{base}{ok}"))),
        Err(service::Error::Unauthenticated) => Err(service::Error::Unauthenticated.into()),
        Err(e) => {
            let p = Problem::from(e);
            Ok(see_other(&format!("{base}{}", p.code.as_str())))
        }
    }
}

fn home_back() -> &'static str {
    "/?assign_msg="
}

fn page_back(id: i64) -> String {
    format!("/assignment/{id}?msg=")
}

/// The longest form body of the instructions and feedback forms: 20,000
/// characters of up to four UTF-8 bytes, each byte percent-encoded (three
/// characters), plus the short fields. (The default form limit is 16 KiB.)
const TEXT_FORM_BYTES: usize = 256 * 1024;

/// The form settings of the routes that take instructions or a comment.
pub fn text_form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(TEXT_FORM_BYTES)
        .error_handler(|_err, _req| crate::problem::form_error().into())
}

/// A textarea's text as the API keeps it: browsers send line breaks as
/// CR LF, a JSON client sends LF.
fn lines(text: String) -> String {
    if text.contains('\r') {
        text.replace("\r\n", "\n")
    } else {
        text
    }
}

fn invalid() -> service::Error {
    service::Error::invalid(service::Code::InvalidInput, "check the form")
}

/// A form's due time: empty is none; `YYYY-MM-DDTHH:MM[:SS]` (what a
/// `datetime-local` input sends) is read as UTC; RFC 3339 is taken too.
fn parse_due(value: &str) -> Result<Option<DateTime<Utc>>, service::Error> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
        .map(|at| Some(at.and_utc()))
        .ok_or_else(invalid)
}

/// An optional id from a `select` (empty: none).
fn parse_optional_id(value: &str) -> Result<Option<i64>, service::Error> {
    match value.trim() {
        "" => Ok(None),
        v => v
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(Some)
            .ok_or_else(invalid),
    }
}

fn string_schema(pattern: &str, max: usize, description: &str) -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .max_length(Some(max))
            .description(Some(description))
            .build(),
    ))
}

/// The due time field of the forms.
fn due_schema() -> RefOr<Schema> {
    string_schema(
        r"^\s*([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?)?\s*$",
        40,
        "Empty (no due time) or `YYYY-MM-DDTHH:MM[:SS]` in UTC, years 1971–2037.",
    )
}

fn optional_id_schema() -> RefOr<Schema> {
    string_schema(
        "^([1-9][0-9]{0,17})?$",
        18,
        "Empty (none) or a project id the teacher may read.",
    )
}

fn checkbox_schema() -> RefOr<Schema> {
    string_schema(
        "^on$",
        2,
        "Present (`on`): late work is accepted; absent: it is not.",
    )
}

fn grade_schema() -> RefOr<Schema> {
    string_schema(
        &patterns::trimmed_text_or_blank(32),
        32,
        "Empty (no grade) or 1–32 characters once trimmed.",
    )
}

/// The "New assignment" form.
#[derive(Deserialize, ToSchema)]
pub struct NewAssignmentForm {
    #[schema(schema_with = Id::schema)]
    group_id: i64,
    #[schema(schema_with = Title::schema)]
    title: String,
    #[serde(default)]
    #[schema(schema_with = MultilineText::schema)]
    instructions: String,
    #[serde(default)]
    #[schema(schema_with = optional_id_schema)]
    starter_project_id: String,
    #[serde(default)]
    #[schema(schema_with = due_schema)]
    due_at: String,
    #[serde(default)]
    #[schema(schema_with = checkbox_schema)]
    late_submissions: Option<String>,
}

/// `POST /home/assignments`: a teacher of the class makes an assignment,
/// then goes to its page.
#[utoipa::path(post, path = "/home/assignments", tag = "pages", operation_id = "home_create_assignment",
    request_body(content = NewAssignmentForm, content_type = "application/x-www-form-urlencoded"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "to `/assignment/{id}?msg=created`, or back to `/` with `?assign_msg=<the error's code>`", headers(("Location" = String))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn create_assignment(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<NewAssignmentForm>,
) -> Result<HttpResponse, Problem> {
    let user = caller(&state, &req).await?;
    let form = form.into_inner();
    let made = async {
        let new = NewAssignment {
            title: form.title,
            instructions: Some(lines(form.instructions)),
            starter_project_id: parse_optional_id(&form.starter_project_id)?,
            due_at: parse_due(&form.due_at)?,
            late_submissions: Some(form.late_submissions.is_some()),
        };
        assignments::create(&state.ctx, &user, form.group_id, new).await
    }
    .await;
    match made {
        Ok(a) => Ok(see_other(&format!("{}created", page_back(a.id)))),
        Err(e) => outcome(Err::<(), _>(e), home_back(), ""),
    }
}

/// `POST /home/assignments/{id}/start`: a student's start, then the editor
/// on their project for it.
#[utoipa::path(post, path = "/home/assignments/{id}/start", tag = "pages", operation_id = "home_start_assignment",
    params(("id" = inline(Id), Path, description = "The assignment id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "to `/editor?project=<their project>`, or back to `/` with `?assign_msg=<the error's code>`", headers(("Location" = String))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn start_assignment(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let user = caller(&state, &req).await?;
    match assignments::start(&state.ctx, &user, *id).await {
        Ok(started) => Ok(see_other(&format!(
            "/editor?project={}",
            started.project.id
        ))),
        Err(e) => outcome(Err::<(), _>(e), home_back(), ""),
    }
}

/// `POST /home/assignments/{id}/submit`: a student submits the current
/// version of their project, then back to `/`.
#[utoipa::path(post, path = "/home/assignments/{id}/submit", tag = "pages", operation_id = "home_submit_assignment",
    params(("id" = inline(Id), Path, description = "The assignment id")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "back to `/` with `?assign_msg=submitted` or the error's code (`past_due`, `not_started`, …)", headers(("Location" = String))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn submit_assignment(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let user = caller(&state, &req).await?;
    let result = assignments::submit(&state.ctx, &user, *id, None).await;
    outcome(result, home_back(), "submitted")
}

/// The assignment page's edit form (every field replaced).
#[derive(Deserialize, ToSchema)]
pub struct EditAssignmentForm {
    #[schema(schema_with = Title::schema)]
    title: String,
    #[serde(default)]
    #[schema(schema_with = MultilineText::schema)]
    instructions: String,
    #[serde(default)]
    #[schema(schema_with = due_schema)]
    due_at: String,
    #[serde(default)]
    #[schema(schema_with = checkbox_schema)]
    late_submissions: Option<String>,
}

/// `POST /assignment/{id}/edit`: a teacher of the class edits the
/// assignment (an empty due time removes it), then back to its page.
#[utoipa::path(post, path = "/assignment/{id}/edit", tag = "pages", operation_id = "assignment_edit",
    params(("id" = inline(Id), Path, description = "The assignment id")),
    request_body(content = EditAssignmentForm, content_type = "application/x-www-form-urlencoded"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "back to `/assignment/{id}` with `?msg=updated` or the error's code", headers(("Location" = String))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn edit_assignment(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    form: web::Form<EditAssignmentForm>,
) -> Result<HttpResponse, Problem> {
    let user = caller(&state, &req).await?;
    let form = form.into_inner();
    let result = async {
        let edit = AssignmentEdit {
            title: Some(form.title),
            instructions: Some(lines(form.instructions)),
            due_at: Some(parse_due(&form.due_at)?),
            late_submissions: Some(form.late_submissions.is_some()),
        };
        assignments::update(&state.ctx, &user, *id, edit).await
    }
    .await;
    outcome(result, &page_back(*id), "updated")
}

/// The feedback form of one submission.
#[derive(Deserialize, ToSchema)]
pub struct FeedbackForm {
    #[serde(default)]
    #[schema(schema_with = MultilineText::schema)]
    comment: String,
    #[serde(default)]
    #[schema(schema_with = grade_schema)]
    grade: String,
    /// The feedback version shown in the form (0: there was none).
    #[schema(minimum = 0, maximum = 2147483647)]
    version: i32,
}

/// `POST /assignment/{id}/feedback/{submission_id}`: a teacher of the class
/// replaces the feedback, if it is still the version the form showed (else
/// `?msg=version_conflict` and nothing is changed), then back to the page.
#[utoipa::path(post, path = "/assignment/{id}/feedback/{submission_id}", tag = "pages", operation_id = "assignment_feedback",
    params(("id" = inline(Id), Path, description = "The assignment id (where to go back)"),
           ("submission_id" = inline(Id), Path, description = "The submission id")),
    request_body(content = FeedbackForm, content_type = "application/x-www-form-urlencoded"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 303, description = "back to `/assignment/{id}` with `?msg=feedback_saved`, `version_conflict` or the error's code", headers(("Location" = String))),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 404, response = NotFound),
              (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn give_feedback(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    form: web::Form<FeedbackForm>,
) -> Result<HttpResponse, Problem> {
    let user = caller(&state, &req).await?;
    let (id, submission_id) = path.into_inner();
    let form = form.into_inner();
    let grade = Some(form.grade.trim().to_owned()).filter(|g| !g.is_empty());
    let new = NewFeedback {
        comment: lines(form.comment),
        grade,
        expected_version: Some(form.version),
    };
    let result = assignments::put_feedback(&state.ctx, &user, submission_id, new).await;
    outcome(result, &page_back(id), "feedback_saved")
}

// --- the assignment page -------------------------------------------------------

/// Every row of the roster (it pages by 100).
pub(crate) async fn whole_roster(
    state: &AppState,
    user: &User,
    id: i64,
) -> Result<Vec<RosterRow>, service::Error> {
    let mut rows = Vec::new();
    let mut page = PageRequest::first(100);
    loop {
        let got = assignments::roster(&state.ctx, user, id, page).await?;
        rows.extend(got.items);
        match got.next {
            Some(after) => page.after = Some(after),
            None => return Ok(rows),
        }
    }
}

fn roster_table(a: &Assignment, rows: &[RosterRow], editor: bool) -> Markup {
    html! {
        table.roster {
            thead { tr {
                th { span class="sr" { "Thumbnail" } } th { "Student" } th { "Status" }
                th { "Submitted" } th { span class="sr" { "Actions" } } th { "Feedback" }
            } }
            tbody {
                @for r in rows {
                    tr {
                        td { @if let Some(pid) = r.project_id { (thumbnail(pid)) } }
                        td { (r.display_name) " (" (r.username) ")" }
                        td { (status_text(r.status)) }
                        td {
                            @if let Some(s) = &r.latest {
                                (when(&s.submitted_at)) @if s.late { " · " strong { "late" } }
                                @if r.count > 1 { " · " (r.count) " submits" }
                            }
                        }
                        td {
                            @if let Some(s) = &r.latest {
                                @if editor { a href={ "/editor?submission=" (s.id) } { "Open read-only" } " " }
                                a href={ "/api/v1/submissions/" (s.id) "/sb3" } download { "Download .sb3" }
                            }
                        }
                        td { @if let Some(s) = &r.latest { (feedback_form(a.id, s)) } }
                    }
                }
            }
        }
    }
}

fn feedback_form(assignment_id: i64, s: &Submission) -> Markup {
    let (comment, grade, version) = match &s.feedback {
        Some(f) => (
            f.comment.as_str(),
            f.grade.as_deref().unwrap_or(""),
            f.version,
        ),
        None => ("", "", 0),
    };
    html! {
        form.feedback method="post" action={ "/assignment/" (assignment_id) "/feedback/" (s.id) } {
            input type="hidden" name="version" value=(version);
            label { "Comment " textarea name="comment" rows="2" maxlength="20000" { (comment) } }
            label { "Grade " input name="grade" value=(grade) maxlength="32" size="6"; }
            button type="submit" { "Save feedback" }
        }
    }
}

fn edit_form(a: &Assignment) -> Markup {
    let due = a
        .due_at
        .map(|d| d.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default();
    html! {
        form.edit-assignment method="post" action={ "/assignment/" (a.id) "/edit" } {
            label { "Title " input name="title" required maxlength="200" value=(a.title); }
            label { "Instructions " textarea name="instructions" rows="3" maxlength="20000" { (a.instructions) } }
            label { "Due (UTC, empty: none) " input type="datetime-local" name="due_at" value=(due); }
            label { input type="checkbox" name="late_submissions" value="on" checked[a.late_submissions]; " Accept late work" }
            button type="submit" { "Save changes" }
        }
    }
}

/// `GET /assignment/{id}`: the assignment page (members of its class).
#[utoipa::path(get, path = "/assignment/{id}", tag = "pages", operation_id = "assignment_page",
    params(("id" = inline(Id), Path, description = "The assignment id")),
    security((), ("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "a teacher: the roster, feedback forms, export and edit; a student: their work on it", content_type = "text/html", body = inline(Html)),
              (status = 302, description = "logged out: to `/`", headers(("Location" = String))),
              (status = 404, response = NotFound), (status = 500, response = ServerError), (status = 503, response = Unavailable)))]
pub async fn assignment_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let Some(user) = viewer(&state, &req).await else {
        return Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, "/"))
            .finish());
    };
    let view = assignments::get(&state.ctx, &user, *id).await?;
    let a = &view.assignment;
    let editor = editor_installed(&state);
    let class = user
        .groups
        .iter()
        .find(|g| g.id == a.group_id)
        .map(|g| g.name.clone())
        .unwrap_or_default();
    let body = match &view.mine {
        Some((project, latest)) => html! {
            p { a href="/#assignments" { "← Home" } " · " (class) }
            @if let Some(msg) = query_message(&req) { p.notice role="status" { (msg) } }
            (student_card(a, *project, latest.as_ref(), editor))
        },
        None => {
            let rows = whole_roster(&state, &user, a.id).await?;
            html! {
                p { a href="/#assignments" { "← Home" } " · " (class) }
                h1 { (a.title) }
                @if let Some(msg) = query_message(&req) { p.notice role="status" { (msg) } }
                (instructions(a))
                p { (due_line(a)) " · "
                    a href={ "/api/v1/assignments/" (a.id) "/export" } download { "Export the class (.zip)" } }
                h2 { "Roster" }
                @if rows.is_empty() { p { "No students in this class yet." } }
                @else { (roster_table(a, &rows, editor)) }
                h2 { "Edit" }
                (edit_form(a))
            }
        }
    };
    Ok(page(&a.title, body))
}
