use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub token_sha256: String,
    pub user_id: i64,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub refresh_token: Option<String>,
    pub access_expires_at: Option<DateTimeUtc>,
    /// Who is refreshing the upstream tokens now (S9), and until when.
    pub refresh_lease_id: Option<String>,
    pub refresh_lease_until: Option<DateTimeUtc>,
}

/// The token hash and the refresh token are secrets: never in `Debug` output.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("session::Model")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_lease_until", &self.refresh_lease_until)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;

    /// S9: the token hash and the refresh token never show in `Debug`.
    #[test]
    fn debug_never_shows_the_token_hash_or_the_refresh_token() {
        let row = Model {
            id: 41,
            token_sha256: "token-sha256-93ad5e10".into(),
            user_id: 7,
            created_at: DateTimeUtc::default(),
            expires_at: DateTimeUtc::default(),
            refresh_token: Some("refresh-token-2c6f8d47".into()),
            access_expires_at: None,
            refresh_lease_id: Some("lease-id-5b0e3a92".into()),
            refresh_lease_until: None,
        };
        let shown = format!("{row:?} {row:#?}");
        for secret in ["token-sha256-93ad5e10", "refresh-token-2c6f8d47"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("id: 41") && shown.contains("user_id: 7"),
            "{shown}"
        );
    }
}
