//! Users, groups (classes), memberships, sessions and OIDC login states.

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
                    .table("users")
                    .col(id())
                    // The identity provider's subject (or `dev|<username>` for dev login).
                    .col(string_uniq("subject"))
                    .col(string_uniq("username"))
                    .col(string("display_name"))
                    .col(string_len("role", 16))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("groups")
                    .col(id())
                    .col(string_uniq("external_id"))
                    .col(string("name"))
                    .col(ts("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("memberships")
                    .col(big_integer("user_id"))
                    .col(big_integer("group_id"))
                    .col(ts("created_at"))
                    .primary_key(Index::create().col("user_id").col("group_id"))
                    .foreign_key(&mut fk(
                        "memberships",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "memberships",
                        "group_id",
                        "groups",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .col(id())
                    // sha256 (hex) of the token; the token itself is never stored.
                    .col(char_len_uniq("token_sha256", 64))
                    .col(big_integer("user_id"))
                    .col(ts("created_at"))
                    .col(ts("expires_at"))
                    // Upstream OIDC tokens, refreshed under a row lock (G12).
                    .col(text_null("access_token"))
                    .col(text_null("refresh_token"))
                    .col(ts_null("access_expires_at"))
                    .foreign_key(&mut fk(
                        "sessions",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("login_states")
                    .col(id())
                    .col(char_len_uniq("state", 64))
                    .col(string("pkce_verifier"))
                    .col(string("nonce"))
                    .col(string_len("return_to", 2048))
                    .col(ts("created_at"))
                    .col(ts("expires_at"))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                index("memberships", &["group_id"], false),
                index("sessions", &["user_id"], false),
                index("sessions", &["expires_at"], false),
                index("login_states", &["expires_at"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &["login_states", "sessions", "memberships", "groups", "users"],
        )
        .await
    }
}
