//! Creating tenants with their first owner (first start, `admin create`).

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::{AuthError, TenantView};
use crate::Engine;
use crate::ctx::{Ctx, Role};
use crate::error::FieldError;
use crate::ids::{TenantId, UserId};
use crate::store::entity::{membership, tenant, user};
use crate::store::parse_id;

fn check_input(slug: &str, email: &str, password: &str) -> Result<(), AuthError> {
    let mut errs = Vec::new();
    let slug_ok = !slug.is_empty()
        && slug.len() <= 63
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !slug_ok {
        errs.push(FieldError::new(
            "tenant",
            "must be 1-63 lower-case letters, digits or dashes",
        ));
    }
    if !email.contains('@') || email.len() > 254 {
        errs.push(FieldError::new("email", "must be an email address"));
    }
    if password.chars().count() < 8 {
        errs.push(FieldError::new("password", "must be at least 8 characters"));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(AuthError::Invalid(errs))
    }
}

/// Hashes a password with argon2id and a random salt.
///
/// # Errors
/// `internal` if hashing fails.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    use argon2::password_hash::SaltString;
    use argon2::password_hash::rand_core::OsRng;
    use argon2::{Argon2, PasswordHasher};
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Store(crate::store::StoreError::Corrupt(format!("argon2: {e}"))))
}

impl Engine {
    /// True when no tenant exists yet (first start).
    ///
    /// # Errors
    /// `internal` on storage failure.
    pub async fn is_empty(&self) -> Result<bool, AuthError> {
        Ok(tenant::Entity::find().count(self.db().conn()).await? == 0)
    }

    /// Creates a tenant and its owner. An existing user with the same email
    /// (and the same password) becomes owner of the new tenant too.
    ///
    /// # Errors
    /// `validation_failed` for a bad slug, email or short password;
    /// `conflict` when the tenant exists; `unauthorized` when the email
    /// belongs to a user with another password.
    pub async fn create_tenant_with_owner(
        &self,
        slug: &str,
        name: &str,
        email: &str,
        password: &str,
    ) -> Result<(TenantId, UserId), AuthError> {
        let email = email.trim().to_lowercase();
        check_input(slug, &email, password)?;
        // Hashed before the transaction, so the write lock is not held
        // through argon2 (used only when the email is new).
        let pw = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(|e| AuthError::Store(crate::store::StoreError::Corrupt(e.to_string())))??;
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let now = Utc::now();
        let tenant_id = TenantId::new();
        // The tenant row is written first: on SQLite that makes this a write
        // transaction from its start, so another process (a running server,
        // say) committing meanwhile cannot make a later upgrade fail. A taken
        // slug is the unique index's violation.
        let inserted = tenant::ActiveModel {
            id: Set(tenant_id.to_string()),
            slug: Set(slug.to_owned()),
            name: Set(if name.is_empty() {
                slug.to_owned()
            } else {
                name.to_owned()
            }),
            time_zone: Set("UTC".to_owned()),
            created_at: Set(now),
        }
        .insert(&tx)
        .await;
        if let Err(e) = inserted {
            if crate::store::unique_violation(&e).is_some() {
                return Err(AuthError::TenantExists(slug.to_owned()));
            }
            return Err(e.into());
        }
        let user_id = match user::Entity::find()
            .filter(user::Column::Email.eq(&email))
            .one(&tx)
            .await?
        {
            Some(existing) => {
                if !super::login::verify_password(password, &existing.password_hash).await {
                    return Err(AuthError::InvalidCredentials);
                }
                parse_id(&existing.id)?
            }
            None => {
                let user_id = UserId::new();
                user::ActiveModel {
                    id: Set(user_id.to_string()),
                    email: Set(email.clone()),
                    display_name: Set(email.split('@').next().unwrap_or_default().to_owned()),
                    password_hash: Set(hash),
                    created_at: Set(now),
                    deactivated_at: Set(None),
                }
                .insert(&tx)
                .await?;
                user_id
            }
        };
        membership::ActiveModel {
            tenant_id: Set(tenant_id.to_string()),
            user_id: Set(user_id.to_string()),
            role: Set(Role::Owner.as_str().to_owned()),
            created_at: Set(now),
        }
        .insert(&tx)
        .await?;
        tx.commit().await?;
        Ok((tenant_id, user_id))
    }

    /// The caller's tenant.
    ///
    /// # Errors
    /// `not_found` never in practice; `internal` on storage failure.
    pub async fn tenant(&self, ctx: &Ctx) -> Result<TenantView, AuthError> {
        let t = tenant::Entity::find_by_id(ctx.tenant.to_string())
            .one(self.db().conn())
            .await?
            .ok_or(AuthError::InvalidToken)?;
        Ok(TenantView {
            id: ctx.tenant,
            slug: t.slug,
            name: t.name,
            time_zone: t.time_zone,
        })
    }
}

/// A change to the caller's tenant: its display name and time zone.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// IANA time zone (`Asia/Shanghai`): schedules, date-field rules and
    /// `today()` in scripts run in it.
    #[serde(default)]
    pub time_zone: Option<String>,
}

impl Engine {
    /// Renames the caller's tenant or sets its time zone (owners and
    /// admins). Rules planned before the change keep their planned instants;
    /// later planning uses the new zone.
    ///
    /// # Errors
    /// `validation_failed` (`name`, `time_zone`); `forbidden`.
    pub async fn update_tenant(&self, ctx: &Ctx, patch: TenantPatch) -> Result<TenantView, AuthError> {
        crate::auth::policy::require(ctx, crate::auth::policy::Action::DesignApps)?;
        let mut errs = Vec::new();
        let name = patch.name.map(|n| n.trim().to_owned());
        if name
            .as_ref()
            .is_some_and(|n| n.is_empty() || n.chars().count() > 200)
        {
            errs.push(FieldError::new("name", "1 to 200 characters"));
        }
        if let Some(tz) = &patch.time_zone
            && let Err(e) = crate::automation::trigger::parse_tz(tz)
        {
            errs.push(FieldError::new("time_zone", e));
        }
        if !errs.is_empty() {
            return Err(AuthError::Invalid(errs));
        }
        let mut q = tenant::Entity::update_many().filter(tenant::Column::Id.eq(ctx.tenant.to_string()));
        let mut changed = false;
        if let Some(n) = name {
            q = q.col_expr(tenant::Column::Name, sea_query::Expr::val(n));
            changed = true;
        }
        if let Some(tz) = patch.time_zone {
            q = q.col_expr(tenant::Column::TimeZone, sea_query::Expr::val(tz));
            changed = true;
        }
        if changed {
            let _w = self.db().write_lock().await;
            q.exec(self.db().conn()).await?;
        }
        self.tenant(ctx).await
    }
}
