//! JSON shapes of requests and responses, as CONTRACT.md names them. They
//! derive `ToSchema` so the OpenAPI document is generated from this code.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct GroupDto {
    pub id: i64,
    pub external_id: String,
    pub name: String,
}

impl From<service::auth::Group> for GroupDto {
    fn from(g: service::auth::Group) -> Self {
        Self {
            id: g.id,
            external_id: g.external_id,
            name: g.name,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserDto {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// `teacher` or `student`.
    pub role: String,
    pub groups: Vec<GroupDto>,
}

impl From<service::auth::User> for UserDto {
    fn from(u: service::auth::User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            role: u.role.as_str().to_owned(),
            groups: u.groups.into_iter().map(GroupDto::from).collect(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupClaimDto {
    pub external_id: String,
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct DevLoginRequest {
    pub username: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `teacher` or `student` (default `student`).
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub groups: Vec<GroupClaimDto>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// The session token (also set as the `cubby_session` cookie); use it as `Authorization: Bearer`.
    pub token: String,
    pub user: UserDto,
}

/// A page of a list: `next_cursor` is null on the last page.
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
pub struct PageQuery {
    /// 1–100, default 20.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size; outside 1–100 is a 400 `invalid_query`.
    pub fn limit(&self) -> Result<u64, crate::problem::Problem> {
        match self.limit.unwrap_or(20) {
            n @ 1..=100 => Ok(u64::from(n)),
            _ => Err(crate::problem::Problem::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "invalid_query",
                "limit must be between 1 and 100",
            )),
        }
    }

    /// The id after which the page starts; a cursor we did not issue is a 400.
    pub fn after_id(&self) -> Result<Option<i64>, crate::problem::Problem> {
        match self.cursor.as_deref() {
            None | Some("") => Ok(None),
            Some(c) => c.parse::<i64>().map(Some).map_err(|_| {
                crate::problem::Problem::new(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    "invalid_query",
                    "cursor is not one this server issued",
                )
            }),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct StatusDto {
    pub status: &'static str,
}

/// The problem+json body of every error (RFC 9457).
#[derive(Serialize, ToSchema)]
pub struct ProblemDto {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable snake_case error code.
    pub code: String,
}
