//! Content-addressed assets (deduplicated by `(md5, asset_type)`, G3) and
//! per-user backpack items whose body and thumbnail are assets.

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
                    .table("assets")
                    .col(id())
                    .col(char_len("md5", 32))
                    .col(string_len("asset_type", 16))
                    .col(string_len("ext", 8))
                    .col(char_len("sha256", 64))
                    .col(big_integer("size"))
                    .col(string("blob_file"))
                    .col(ts("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("backpack_items")
                    .col(id())
                    .col(big_integer("owner_id"))
                    .col(string_len("item_type", 32))
                    .col(string_len("mime", 64))
                    .col(string("name"))
                    // `<md5>.<ext>` names of the assets holding body and thumbnail.
                    .col(string_len("body_asset", 64))
                    .col(string_len("thumbnail_asset", 64))
                    .col(ts("created_at"))
                    .foreign_key(&mut fk(
                        "backpack_items",
                        "owner_id",
                        "users",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                index("assets", &["md5", "asset_type"], true),
                index("assets", &["blob_file"], false),
                index("backpack_items", &["owner_id", "id"], false),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["backpack_items", "assets"]).await
    }
}
