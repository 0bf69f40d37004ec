use sea_orm::entity::prelude::*;

/// A submit: a pinned version of the student's assignment project, with a
/// body file of its own (G17).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "submissions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub assignment_id: i64,
    pub student_id: i64,
    pub project_id: i64,
    pub version: i32,
    pub body_md5: String,
    pub body_size: i64,
    pub body_file: String,
    pub submitted_at: DateTimeUtc,
    pub late: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
