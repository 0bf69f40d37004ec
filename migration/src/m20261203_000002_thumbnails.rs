//! Project thumbnails: at most one image per project (the stage snapshot the
//! editor page uploads after a save), its bytes in the blob store.
//!
//! * `project_id` is the primary key: one thumbnail per project, replaced in
//!   place (the row names the new file; the old file is deleted after the
//!   commit). Deleting the project row deletes its thumbnail row.
//! * `blob_file` is a blob key like `assets.blob_file`; `gc` knows the column.

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
                    .table("project_thumbnails")
                    .col(big_integer("project_id").primary_key())
                    .col(string("blob_file"))
                    .col(string_len("content_type", 32))
                    .col(big_integer("size"))
                    .col(ts("updated_at"))
                    .foreign_key(&mut fk(
                        "project_thumbnails",
                        "project_id",
                        "projects",
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![index("project_thumbnails", &["blob_file"], false)],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["project_thumbnails"]).await
    }
}
