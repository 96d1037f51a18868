//! The acting member of a command-line import: a tenant slug and an email
//! resolved to a context, as a login would (without a password: whoever
//! runs the CLI already holds the database).

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::ExchangeError;
use crate::Engine;
use crate::auth::AuthError;
use crate::ctx::{Ctx, Role};
use crate::store::entity::{membership, tenant, user};
use crate::store::parse_id;

impl Engine {
    /// The context of the member `email` of the tenant `tenant_slug`.
    ///
    /// # Errors
    /// `unauthorized` when the tenant, the user or the membership is
    /// unknown or the user is deactivated.
    pub async fn member_ctx(&self, tenant_slug: &str, email: &str) -> Result<Ctx, ExchangeError> {
        let conn = self.db().conn();
        let email = email.trim().to_lowercase();
        let t = tenant::Entity::find()
            .filter(tenant::Column::Slug.eq(tenant_slug))
            .one(conn)
            .await?
            .ok_or(AuthError::InvalidCredentials)?;
        let u = user::Entity::find()
            .filter(user::Column::Email.eq(&email))
            .one(conn)
            .await?
            .filter(|u| u.deactivated_at.is_none())
            .ok_or(AuthError::InvalidCredentials)?;
        let m = membership::Entity::find_by_id((t.id.clone(), u.id.clone()))
            .one(conn)
            .await?
            .ok_or(AuthError::InvalidCredentials)?;
        let role = Role::parse(&m.role).ok_or(AuthError::InvalidCredentials)?;
        Ok(Ctx::new(parse_id(&t.id)?, parse_id(&u.id)?, role))
    }
}
