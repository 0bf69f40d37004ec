use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "projects")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub owner_id: i64,
    pub title: String,
    #[sea_orm(unique)]
    pub slug: String,
    pub version: i32,
    pub parent_id: Option<i64>,
    pub body_size: i64,
    pub body_md5: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the project was moved to its owner's trash; `None` while live.
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Lets a project and its shares be read in one query.
    #[sea_orm(has_many = "super::project_share::Entity")]
    Shares,
}

impl Related<super::project_share::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Shares.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
