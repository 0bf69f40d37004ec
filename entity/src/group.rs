use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "groups")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The identity provider's id; `None` for a local group.
    #[sea_orm(unique)]
    pub external_id: Option<String>,
    pub name: String,
    pub created_at: DateTimeUtc,
    /// `idp` or `local`.
    pub source: String,
    /// A local group's current join code (upper case); `None` for idp groups.
    #[sea_orm(unique)]
    pub join_code: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
