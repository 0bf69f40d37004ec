//! Projects, their kept versions (each with its own body file), shares with
//! groups, and idempotency keys for replayable POSTs (G14).

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
                    .table("projects")
                    .col(id())
                    .col(big_integer("owner_id"))
                    .col(string("title"))
                    .col(string_uniq("slug"))
                    .col(integer("version"))
                    // No foreign key: a copy outlives the deletion of its source.
                    .col(big_integer_null("parent_id"))
                    .col(big_integer("body_size"))
                    .col(char_len("body_md5", 32))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .foreign_key(&mut fk(
                        "projects",
                        "owner_id",
                        "users",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("project_versions")
                    .col(id())
                    .col(big_integer("project_id"))
                    .col(integer("version"))
                    .col(big_integer("author_id"))
                    // The blob-store key of this version's body; never shared with another row.
                    .col(string("body_file"))
                    .col(big_integer("body_size"))
                    .col(char_len("body_md5", 32))
                    .col(ts("created_at"))
                    .foreign_key(&mut fk(
                        "project_versions",
                        "project_id",
                        "projects",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "project_versions",
                        "author_id",
                        "users",
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("project_shares")
                    .col(big_integer("project_id"))
                    .col(big_integer("group_id"))
                    .col(ts("created_at"))
                    .primary_key(Index::create().col("project_id").col("group_id"))
                    .foreign_key(&mut fk(
                        "project_shares",
                        "project_id",
                        "projects",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut fk(
                        "project_shares",
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
                    .table("idempotency_keys")
                    .col(id())
                    .col(big_integer("user_id"))
                    .col(string("idem_key"))
                    // Which operation the key was first used for (e.g. `project.create`).
                    .col(string_len("scope", 64))
                    .col(integer_null("response_status"))
                    .col(text_null("response_body"))
                    .col(ts("created_at"))
                    .foreign_key(&mut fk(
                        "idempotency_keys",
                        "user_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                index("projects", &["owner_id", "id"], false),
                index("projects", &["parent_id"], false),
                index("project_versions", &["project_id", "version"], true),
                index("project_versions", &["body_file"], false),
                index("project_shares", &["group_id", "project_id"], false),
                index("idempotency_keys", &["user_id", "idem_key"], true),
                index("idempotency_keys", &["created_at"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "idempotency_keys",
                "project_shares",
                "project_versions",
                "projects",
            ],
        )
        .await
    }
}
