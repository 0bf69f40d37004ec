use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "assets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub md5: String,
    pub asset_type: String,
    pub ext: String,
    pub sha256: String,
    pub size: i64,
    pub blob_file: String,
    pub created_at: DateTimeUtc,
    /// The user whose upload created this row (charged for its bytes, S8);
    /// `None` for assets stored before that was recorded.
    pub created_by: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
