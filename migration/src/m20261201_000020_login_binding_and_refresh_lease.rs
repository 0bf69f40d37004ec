//! S4 and S9: a started login remembers which browser began it
//! (`login_states.browser_sha256`, the sha256 of a short-lived cookie), and a
//! session's upstream refresh is claimed by a lease (`refresh_lease_id`,
//! `refresh_lease_until`) instead of being held under a row lock while the
//! identity provider answers. The upstream access token is no longer stored.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::util::ts_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One column change per statement: SQLite alters one column at a time.
async fn alter(
    manager: &SchemaManager<'_>,
    table: &'static str,
    change: AlterChange,
) -> Result<(), DbErr> {
    let mut stmt = Table::alter();
    stmt.table(table);
    match change {
        AlterChange::Add(mut col) => stmt.add_column(col.as_mut()),
        AlterChange::Drop(name) => stmt.drop_column(name),
    };
    manager.alter_table(stmt.to_owned()).await
}

enum AlterChange {
    Add(Box<ColumnDef>),
    Drop(&'static str),
}

// sea-orm-migration declares `up`/`down` with `&SchemaManager` (lifetime
// hidden); under `async_trait` the impl must spell it the same way.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use AlterChange::{Add, Drop};
        alter(
            manager,
            "login_states",
            Add(Box::new(char_len_null("browser_sha256", 64))),
        )
        .await?;
        alter(
            manager,
            "sessions",
            Add(Box::new(string_len_null("refresh_lease_id", 64))),
        )
        .await?;
        alter(
            manager,
            "sessions",
            Add(Box::new(ts_null("refresh_lease_until"))),
        )
        .await?;
        alter(manager, "sessions", Drop("access_token")).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use AlterChange::{Add, Drop};
        alter(
            manager,
            "sessions",
            Add(Box::new(text_null("access_token"))),
        )
        .await?;
        alter(manager, "sessions", Drop("refresh_lease_until")).await?;
        alter(manager, "sessions", Drop("refresh_lease_id")).await?;
        alter(manager, "login_states", Drop("browser_sha256")).await
    }
}
