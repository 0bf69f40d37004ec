use sea_orm::entity::prelude::*;

/// A teacher's feedback on one submission (at most one, replaced whole).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "feedback")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub submission_id: i64,
    pub comment: String,
    pub grade: Option<String>,
    pub author_id: i64,
    pub version: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
