//! Entity for the `tokens` table.

use sea_orm::entity::prelude::*;

/// One row of `tokens`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub kind: String,
    pub name: String,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// `read`, `write` or `admin` for API tokens; null for sessions.
    pub scope: Option<String>,
}

/// A token belongs to a user and, through its tenant, to a membership.
#[derive(Copy, Clone, Debug, EnumIter)]
pub enum Relation {
    /// The token's user.
    User,
    /// The user's membership in the token's tenant.
    Membership,
    /// The same membership, every column (status included).
    Member,
}

impl RelationTrait for Relation {
    fn def(&self) -> RelationDef {
        match self {
            Self::User => Entity::belongs_to(super::user::Entity)
                .from(Column::UserId)
                .to(super::user::Column::Id)
                .into(),
            Self::Membership => Entity::belongs_to(super::membership::Entity)
                .from((Column::TenantId, Column::UserId))
                .to((
                    super::membership::Column::TenantId,
                    super::membership::Column::UserId,
                ))
                .into(),
            Self::Member => Entity::belongs_to(super::member::Entity)
                .from((Column::TenantId, Column::UserId))
                .to((super::member::Column::TenantId, super::member::Column::UserId))
                .into(),
        }
    }
}

impl ActiveModelBehavior for ActiveModel {}
