//! Login, sessions and the caller's identity.
//!
//! | file | what |
//! |---|---|
//! | `login.rs` | the one login path: get-or-create user and groups, sync memberships (G4) |
//! | `session.rs` | session tokens (sha256 only), the one-query lookup, logout, upstream refresh (G12) |
//! | `oidc_state.rs` | a started OIDC login, stored so any instance can finish it |
//! | `claims.rs` | OIDC claims → who logged in (pure) |
//!
//! [`login`] is the one path by which a person becomes a user: the dev login
//! and the OIDC callback both call it.

mod claims;
mod login;
mod oidc_state;
mod session;

use chrono::{DateTime, Utc};

pub use claims::{login_input_from_claims, ClaimNames};
pub use login::{dev_login_input, login, resync};
pub use oidc_state::{
    begin_oidc_login, finish_oidc_login, new_browser_binding, LoginState, LOGIN_STATE_MINUTES,
};
pub use session::{
    authenticate, authenticate_session, logout, refresh_session, token_hash, Authenticated, Refresh,
};

/// A teacher may share with and read the work of their groups; a student may not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Teacher,
    Student,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Teacher => "teacher",
            Role::Student => "student",
        }
    }

    /// Parses a stored role; anything unknown is a student (least privilege).
    pub fn from_stored(s: &str) -> Role {
        if s == "teacher" {
            Role::Teacher
        } else {
            Role::Student
        }
    }
}

/// A group (class) as the identity provider names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupClaim {
    pub external_id: String,
    pub name: String,
}

/// Who logged in, as the identity provider (or the dev login form) says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginInput {
    /// Stable external identity: `oidc|<sub>`, or `dev|<username>`.
    pub subject: String,
    pub username: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub groups: Vec<GroupClaim>,
}

/// Where a group comes from: the identity provider's claims, or a teacher
/// who made it in cubby (a "class" with a join code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupSource {
    Idp,
    Local,
}

impl GroupSource {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupSource::Idp => "idp",
            GroupSource::Local => "local",
        }
    }

    /// Parses a stored source; anything but `local` is `idp`.
    pub fn from_stored(s: &str) -> GroupSource {
        if s == "local" {
            GroupSource::Local
        } else {
            GroupSource::Idp
        }
    }
}

/// A group as one member sees it. `join_code` is only ever filled for a
/// teacher member of a local group (see [`Group::for_member`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    /// The identity provider's id; `None` for a local group.
    pub external_id: Option<String>,
    pub name: String,
    pub source: GroupSource,
    pub join_code: Option<String>,
}

impl Group {
    /// The group as a member with `role` sees it: the join code only for a
    /// teacher of a local group.
    pub fn for_member(
        id: i64,
        external_id: Option<String>,
        name: String,
        source: GroupSource,
        join_code: Option<String>,
        role: Role,
    ) -> Group {
        let join_code = join_code.filter(|_| source == GroupSource::Local && role == Role::Teacher);
        Group {
            id,
            external_id,
            name,
            source,
            join_code,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub groups: Vec<Group>,
}

/// A new session: the token goes to the client once and is never stored.
#[derive(Clone)]
pub struct NewSession {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("user", &self.user)
            .finish()
    }
}

/// What a session keeps of the identity provider's tokens (never logged):
/// the refresh token and when the access token expires. The access token
/// itself is not stored (S9): cubby uses it only during the login or
/// refresh that received it.
#[derive(Clone)]
pub struct UpstreamTokens {
    pub refresh_token: Option<String>,
    pub access_expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for UpstreamTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let refresh_token = self.refresh_token.as_ref().map(|_| "<redacted>");
        f.debug_struct("UpstreamTokens")
            .field("refresh_token", &refresh_token)
            .field("access_expires_at", &self.access_expires_at)
            .finish()
    }
}

impl User {
    /// One page of the user's groups, by id (they are loaded whole with the
    /// user: a user's memberships are few, at most the provider's list).
    pub fn groups_page(&self, page: &crate::page::PageRequest) -> crate::page::Page<Group> {
        let after = page.after.unwrap_or(0);
        let rows: Vec<Group> = self
            .groups
            .iter()
            .filter(|g| g.id > after)
            .take(usize::try_from(page.fetch()).unwrap_or(usize::MAX))
            .cloned()
            .collect();
        crate::page::Page::from_rows(rows, page, |g| g.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// S9: a `Debug` of what holds a session token or an upstream token
    /// shows the rest, never the secret.
    #[test]
    fn debug_never_shows_a_session_or_refresh_token() {
        let session = NewSession {
            token: "session-token-4f1d9c0e".into(),
            expires_at: DateTime::<Utc>::default(),
            user: User {
                id: 7,
                username: "ann".into(),
                display_name: "Ann".into(),
                role: Role::Teacher,
                groups: Vec::new(),
            },
        };
        let shown = format!("{session:?} {session:#?}");
        assert!(!shown.contains("session-token-4f1d9c0e"), "{shown}");
        assert!(
            shown.contains("<redacted>") && shown.contains("\"ann\""),
            "{shown}"
        );

        let tokens = UpstreamTokens {
            refresh_token: Some("refresh-token-8b2e7a31".into()),
            access_expires_at: None,
        };
        let shown = format!("{tokens:?} {tokens:#?}");
        assert!(!shown.contains("refresh-token-8b2e7a31"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let none = UpstreamTokens {
            refresh_token: None,
            access_expires_at: None,
        };
        assert_eq!(
            format!("{none:?}"),
            "UpstreamTokens { refresh_token: None, access_expires_at: None }"
        );
    }
}
