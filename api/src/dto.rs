//! JSON shapes of requests and responses, as docs/API.md names them. They
//! derive `ToSchema` so the OpenAPI document is generated from this code.

use serde::{Deserialize, Serialize};
use service::page::PageRequest;
use utoipa::{PartialSchema, ToSchema};

use crate::openapi::schemas::{
    Cursor, DisplayNameOrNull, GroupIds, GroupText, Limit, Offset, ProjectJson, ProjectJsonOrNull,
    RoleOrNull, Title, TitleOrNull, Username, VersionOrNull,
};
pub use crate::problem::ProblemDto;

pub mod assignments;

/// JSON has one kind of number: `2.0` is the integer 2, as JSON Schema (and
/// so the OpenAPI document) reads it, though serde's integers refuse it.
/// These take an integer however it is spelled, if it is whole and in range.
mod whole {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};

    fn to_i64<E: Error>(n: &serde_json::Number) -> Result<i64, E> {
        if let Some(i) = n.as_i64() {
            return Ok(i);
        }
        // 2^63: the first f64 past i64::MAX; every whole f64 below it (and
        // from -2^63 on) converts exactly.
        const BOUND: f64 = 9_223_372_036_854_775_808.0;
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && (-BOUND..BOUND).contains(&f) => Ok(f as i64),
            _ => Err(E::custom(format!(
                "invalid value: {n}, expected a whole number"
            ))),
        }
    }

    pub fn opt_i32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?
            .map(|n| {
                to_i64(&n).and_then(|i| {
                    i32::try_from(i)
                        .map_err(|_| D::Error::custom(format!("invalid value: {n}, expected i32")))
                })
            })
            .transpose()
    }

    pub fn vec_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
        Vec::<serde_json::Number>::deserialize(d)?
            .iter()
            .map(to_i64)
            .collect()
    }
}

/// A group (class): from the identity provider (`source: "idp"`) or made by
/// a teacher in cubby (`"local"`, no `external_id`). `join_code` is present
/// only for a teacher member of a local group.
#[derive(Serialize, ToSchema)]
pub struct GroupDto {
    pub id: i64,
    /// The identity provider's id; `null` for a local group.
    #[schema(required = true)]
    pub external_id: Option<String>,
    pub name: String,
    /// `idp` or `local`.
    #[schema(pattern = "^(idp|local)$")]
    pub source: &'static str,
    /// The class's current join code (8 characters of
    /// `23456789ABCDEFGHJKMNPQRSTUVWXYZ`); only for its teachers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[2-9A-HJKMNP-Z]{8}$")]
    pub join_code: Option<String>,
}

impl From<service::auth::Group> for GroupDto {
    fn from(g: service::auth::Group) -> Self {
        Self {
            id: g.id,
            external_id: g.external_id,
            name: g.name,
            source: g.source.as_str(),
            join_code: g.join_code,
        }
    }
}

/// `POST /api/v1/groups`: a new local class.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    #[schema(schema_with = GroupText::schema)]
    pub name: String,
}

/// `POST /api/v1/groups/join`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinGroup {
    /// The class's join code, in any case.
    #[schema(max_length = 64)]
    pub code: String,
}

/// `POST /api/v1/groups/{id}/join-code`: the new code.
#[derive(Serialize, ToSchema)]
pub struct JoinCodeDto {
    #[schema(pattern = "^[2-9A-HJKMNP-Z]{8}$")]
    pub join_code: String,
}

/// One member of a class.
#[derive(Serialize, ToSchema)]
pub struct MemberDto {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// `teacher` or `student`.
    pub role: &'static str,
}

impl From<service::groups::Member> for MemberDto {
    fn from(m: service::groups::Member) -> Self {
        Self {
            id: m.id,
            username: m.username,
            display_name: m.display_name,
            role: m.role.as_str(),
        }
    }
}

/// A class's whole roster, by user id (not paged: a class is small).
#[derive(Serialize, ToSchema)]
pub struct MembersDto {
    pub items: Vec<MemberDto>,
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

/// A group the login makes the user a member of (created if missing).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupClaimDto {
    /// The identity provider's name for the class.
    #[schema(schema_with = GroupText::schema)]
    pub external_id: String,
    #[schema(schema_with = GroupText::schema)]
    pub name: String,
}

/// `POST /auth/dev/login`.
#[derive(Deserialize, ToSchema)]
pub struct DevLoginRequest {
    #[schema(schema_with = Username::schema)]
    pub username: String,
    /// Default: the username.
    #[serde(default)]
    #[schema(schema_with = DisplayNameOrNull::schema)]
    pub display_name: Option<String>,
    /// `teacher` or `student` (default `student`).
    #[serde(default)]
    #[schema(schema_with = RoleOrNull::schema)]
    pub role: Option<String>,
    /// The user's groups, exactly (at most 200).
    #[serde(default)]
    #[schema(max_items = 200)]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1–100, default 20.
    #[param(schema_with = Limit::schema)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = Cursor::schema)]
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The checked page request (limit 1–100, a cursor we issued).
    pub fn request(&self) -> Result<PageRequest, crate::problem::Problem> {
        Ok(PageRequest::parse(
            self.limit.map(u64::from),
            self.cursor.as_deref(),
        )?)
    }
}

impl<T> From<service::page::Page<T>> for Page<T> {
    fn from(page: service::page::Page<T>) -> Self {
        Self {
            items: page.items,
            next_cursor: page.next.map(|n| n.to_string()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct StatusDto {
    pub status: &'static str,
}

/// A project.
#[derive(Serialize, ToSchema)]
pub struct ProjectDto {
    pub id: i64,
    pub owner_id: i64,
    pub title: String,
    pub slug: String,
    pub version: i32,
    pub parent_id: Option<i64>,
    pub body_size: i64,
    pub body_md5: String,
    /// Ids of the groups the project is shared with.
    pub shared_with: Vec<i64>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<service::projects::Project> for ProjectDto {
    fn from(p: service::projects::Project) -> Self {
        Self {
            id: p.id,
            owner_id: p.owner_id,
            title: p.title,
            slug: p.slug,
            version: p.version,
            parent_id: p.parent_id,
            body_size: p.body_size,
            body_md5: p.body_md5,
            shared_with: p.shared_with,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VersionDto {
    pub version: i32,
    pub author_id: i64,
    pub body_size: i64,
    pub body_md5: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<service::projects::Version> for VersionDto {
    fn from(v: service::projects::Version) -> Self {
        Self {
            version: v.version,
            author_id: v.author_id,
            body_size: v.body_size,
            body_md5: v.body_md5,
            created_at: v.created_at,
        }
    }
}

/// `POST /api/v1/projects`.
#[derive(Deserialize, ToSchema)]
pub struct CreateProject {
    /// 1–200 characters (trimmed), no control characters. Required: a
    /// missing, `null` or non-string title is 400 `invalid_input`.
    #[schema(schema_with = Title::schema)]
    pub title: String,
    /// The Scratch project JSON (an object), stored byte for byte.
    #[schema(schema_with = ProjectJson::schema)]
    pub body: Box<serde_json::value::RawValue>,
}

/// `PUT /api/v1/projects/{id}`.
#[derive(Deserialize, ToSchema)]
pub struct UpdateProject {
    /// The version the client read (or send `If-Match: "<version>"`).
    #[serde(default, deserialize_with = "whole::opt_i32")]
    #[schema(schema_with = VersionOrNull::schema)]
    pub version: Option<i32>,
    #[schema(schema_with = TitleOrNull::schema)]
    pub title: Option<String>,
    #[schema(schema_with = ProjectJsonOrNull::schema)]
    pub body: Option<Box<serde_json::value::RawValue>>,
}

/// `POST /api/v1/projects/{id}/copy` (the body may be empty).
#[derive(Deserialize, ToSchema, Default)]
pub struct CopyProject {
    /// Default: the source's title.
    #[schema(schema_with = TitleOrNull::schema)]
    pub title: Option<String>,
}

/// `PUT /api/v1/projects/{id}/shares`.
#[derive(Deserialize, ToSchema)]
pub struct SetShares {
    /// The groups to share with (the caller must be a teacher in each).
    #[serde(deserialize_with = "whole::vec_i64")]
    #[schema(schema_with = GroupIds::schema)]
    pub group_ids: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct SharesDto {
    pub project_id: i64,
    pub group_ids: Vec<i64>,
}

/// Whose projects a list shows.
#[derive(Deserialize, ToSchema, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScopeParam {
    #[default]
    Mine,
    Shared,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListProjectsQuery {
    /// `mine` (default) or `shared` (shared with my groups).
    #[param(inline)]
    pub scope: Option<ScopeParam>,
    /// 1–100, default 20.
    #[param(schema_with = Limit::schema)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = Cursor::schema)]
    pub cursor: Option<String>,
}

impl ListProjectsQuery {
    pub fn page(&self) -> PageQuery {
        PageQuery {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
    }
}

/// An asset.
#[derive(Serialize, ToSchema)]
pub struct AssetDto {
    pub md5: String,
    pub ext: String,
    /// `ImageVector`, `ImageBitmap`, `Sound` or `Sprite`.
    pub asset_type: String,
    pub size: i64,
    /// False when the asset already existed.
    pub created: bool,
}

impl From<service::assets::Asset> for AssetDto {
    fn from(a: service::assets::Asset) -> Self {
        Self {
            md5: a.md5,
            ext: a.ext,
            asset_type: a.asset_type.as_str().to_owned(),
            size: a.size,
            created: a.created,
        }
    }
}

/// A backpack item.
#[derive(Serialize, ToSchema)]
pub struct BackpackItemDto {
    pub id: i64,
    /// `costume`, `sound`, `sprite` or `script`.
    #[serde(rename = "type")]
    pub item_type: String,
    pub mime: String,
    pub name: String,
    /// `{md5}.{ext}` of the body.
    pub body: String,
    /// `{md5}.{ext}` of the thumbnail (`jpg` or `png`).
    pub thumbnail: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<service::backpack::Item> for BackpackItemDto {
    fn from(i: service::backpack::Item) -> Self {
        Self {
            id: i.id,
            item_type: i.item_type,
            mime: i.mime,
            name: i.name,
            body: i.body,
            thumbnail: i.thumbnail,
            created_at: i.created_at,
        }
    }
}

/// `POST /api/v1/backpack`: body and thumbnail base64-encoded. Its schema
/// ([`crate::openapi::schemas::new_backpack_item`]) also says which `mime`
/// fits which `type`.
#[derive(Deserialize)]
pub struct NewBackpackItem {
    #[serde(rename = "type")]
    pub item_type: String,
    pub mime: String,
    pub name: String,
    pub body: String,
    pub thumbnail: String,
}

impl PartialSchema for NewBackpackItem {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::openapi::schemas::new_backpack_item()
    }
}

impl ToSchema for NewBackpackItem {}

impl From<NewBackpackItem> for service::backpack::NewItem {
    fn from(n: NewBackpackItem) -> Self {
        Self {
            item_type: n.item_type,
            mime: n.mime,
            name: n.name,
            body_base64: n.body,
            thumbnail_base64: n.thumbnail,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BackpackQuery {
    /// 1–100, default 20.
    #[param(schema_with = Limit::schema)]
    pub limit: Option<u32>,
    /// Items to skip (the editor pages by offset).
    #[param(schema_with = Offset::schema)]
    pub offset: Option<u64>,
    /// The `next_cursor` of the previous page (an offset; same as `offset`).
    #[param(schema_with = Cursor::schema)]
    pub cursor: Option<String>,
}

impl BackpackQuery {
    /// The checked page request: where to start is `offset`, or the cursor
    /// a previous page returned (which is an offset too).
    pub fn request(&self) -> Result<PageRequest, crate::problem::Problem> {
        let mut request = PageRequest::parse(self.limit.map(u64::from), self.cursor.as_deref())?;
        if let Some(offset) = self.offset {
            let offset = i64::try_from(offset).map_err(|_| {
                crate::problem::Problem::new(
                    service::Code::InvalidQuery,
                    "offset is larger than any list",
                )
            })?;
            request.after = Some(offset);
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_may_be_spelled_as_whole_floats() {
        let update = |json: &str| {
            serde_json::from_str::<UpdateProject>(json)
                .map(|u| u.version)
                .ok()
        };
        assert_eq!(update(r#"{"version": 3}"#), Some(Some(3)));
        assert_eq!(update(r#"{"version": 3.0}"#), Some(Some(3)));
        assert_eq!(update(r#"{"version": 3e0}"#), Some(Some(3)));
        assert_eq!(update(r#"{"version": null}"#), Some(None));
        assert_eq!(update("{}"), Some(None));
        assert_eq!(update(r#"{"version": 3.5}"#), None);
        assert_eq!(update(r#"{"version": "3"}"#), None);
        assert_eq!(update(r#"{"version": 2147483648}"#), None);
        assert_eq!(
            update(r#"{"version": -2147483648.0}"#),
            Some(Some(i32::MIN))
        );
        let shares = |json: &str| {
            serde_json::from_str::<SetShares>(json)
                .map(|s| s.group_ids)
                .ok()
        };
        assert_eq!(
            shares(r#"{"group_ids": [1, 2.0, -3]}"#),
            Some(vec![1, 2, -3])
        );
        assert_eq!(
            shares(r#"{"group_ids": [9223372036854775807]}"#),
            Some(vec![i64::MAX])
        );
        assert_eq!(shares(r#"{"group_ids": [9223372036854775808]}"#), None);
        assert_eq!(shares(r#"{"group_ids": [9.3e18]}"#), None);
        assert_eq!(shares(r#"{"group_ids": [1.5]}"#), None);
        assert_eq!(shares(r#"{"group_ids": null}"#), None);
        assert_eq!(shares("{}"), None);
    }
}

/// A project in the trash: the Project as it was deleted, when, and when
/// gc will purge it.
#[derive(Serialize, ToSchema)]
pub struct TrashedProjectDto {
    #[serde(flatten)]
    pub project: ProjectDto,
    pub deleted_at: chrono::DateTime<chrono::Utc>,
    /// `deleted_at` + the retention (`CUBBY_TRASH_RETENTION_DAYS`).
    pub purge_at: chrono::DateTime<chrono::Utc>,
}

impl From<service::projects::Trashed> for TrashedProjectDto {
    fn from(t: service::projects::Trashed) -> Self {
        Self {
            project: t.project.into(),
            deleted_at: t.deleted_at,
            purge_at: t.purge_at,
        }
    }
}

/// `GET /api/v1/trash`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrashQuery {
    /// Whose trash: default the caller's; a teacher may name a student of
    /// one of the teacher's groups (anyone else: 404).
    #[param(schema_with = crate::openapi::schemas::Id::schema)]
    pub owner_id: Option<i64>,
    /// 1–100, default 20.
    #[param(schema_with = Limit::schema)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(schema_with = Cursor::schema)]
    pub cursor: Option<String>,
}

impl TrashQuery {
    pub fn page(&self) -> PageQuery {
        PageQuery {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
    }
}

/// `POST /api/v1/projects/{id}/versions/{v}/restore` (the body may be empty
/// when `If-Match` carries the version).
#[derive(Deserialize, ToSchema, Default)]
pub struct RestoreVersion {
    /// The project's current version, as you read it (or `If-Match`).
    #[serde(default, deserialize_with = "whole::opt_i32")]
    #[schema(schema_with = VersionOrNull::schema)]
    pub version: Option<i32>,
}
