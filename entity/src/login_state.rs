use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_states")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub state: String,
    pub pkce_verifier: String,
    pub nonce: String,
    pub return_to: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// sha256 of the cookie that binds the login to its browser (S4).
    pub browser_sha256: Option<String>,
}

/// The PKCE verifier and the nonce are secrets: never in `Debug` output.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("login_state::Model")
            .field("id", &self.id)
            .field("return_to", &self.return_to)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;

    /// S9: the state, the PKCE verifier, the nonce and the browser binding's
    /// hash never show in `Debug`.
    #[test]
    fn debug_never_shows_the_state_verifier_nonce_or_binding() {
        let row = Model {
            id: 3,
            state: "state-hash-1e4b7c29".into(),
            pkce_verifier: "pkce-verifier-6a93f0d2".into(),
            nonce: "nonce-value-b85c1e47".into(),
            return_to: "/editor".into(),
            created_at: DateTimeUtc::default(),
            expires_at: DateTimeUtc::default(),
            browser_sha256: Some("browser-sha256-70d2e9a5".into()),
        };
        let shown = format!("{row:?} {row:#?}");
        for secret in [
            "state-hash-1e4b7c29",
            "pkce-verifier-6a93f0d2",
            "nonce-value-b85c1e47",
            "browser-sha256-70d2e9a5",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("id: 3") && shown.contains("\"/editor\""),
            "{shown}"
        );
    }
}
