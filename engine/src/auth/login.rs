//! Login, token authentication, logout and `me`.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, JoinType, QueryFilter,
    QuerySelect, RelationTrait,
};
use sha2::{Digest, Sha256};

use super::{AuthError, LoginOutput, MeView, MemberStatus};
use crate::Engine;
use crate::ctx::{Ctx, Role, Scope};
use crate::ids::{TenantId, TokenId, UserId};
use crate::store::entity::{login_failure, member, tenant, token, user};
use crate::store::parse_id;

/// How long a login session lasts.
pub const SESSION_DAYS: i64 = 30;
/// `last_used_at` is written at most this often per token, so reads do not
/// turn into writes.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// `tokens.kind` of a browser session made by login.
pub const KIND_SESSION: &str = "session";
/// `tokens.kind` of a member's personal API token.
pub const KIND_PERSONAL: &str = "personal";
/// `tokens.kind` of a tenant-level API token (not tied to a member).
pub const KIND_TENANT: &str = "tenant";

/// Token id, tenant, user, kind, scope, revoked, expires, last used, role
/// (null when the creator of a tenant token is no longer a member).
type TokenRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<String>,
);

/// SHA-256 of a token, as stored.
#[must_use]
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random token (244 random bits from two v4 UUIDs).
#[must_use]
pub fn new_token() -> String {
    format!(
        "fw_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Checks a password against an argon2 hash on the blocking pool.
pub async fn verify_password(password: &str, hash: &str) -> bool {
    let (pw, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || {
        use argon2::{Argon2, PasswordHash, PasswordVerifier};
        PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false)
}

impl Engine {
    /// Logs in and issues a session token.
    ///
    /// # Errors
    /// `unauthorized` for any wrong tenant, email or password, or a
    /// deactivated user.
    pub async fn login(
        &self,
        tenant_slug: &str,
        email: &str,
        password: &str,
    ) -> Result<LoginOutput, AuthError> {
        self.login_at(tenant_slug, email, password, Utc::now()).await
    }

    /// [`Engine::login`] at a given instant (tests move the clock past a
    /// lockout instead of sleeping). After [`LOCKOUT_AFTER`] failures in a
    /// row for the same tenant and email, attempts are refused without
    /// checking the password for a backoff that doubles with each further
    /// failure (30 s, 60 s, ... up to 15 minutes); a success clears it.
    ///
    /// # Errors
    /// `unauthorized` for wrong credentials; `too_many_requests` while
    /// locked out.
    pub async fn login_at(
        &self,
        tenant_slug: &str,
        email: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<LoginOutput, AuthError> {
        let email = email.trim().to_lowercase();
        let key = (tenant_slug.to_owned(), email.clone());
        let failed = login_failure::Entity::find_by_id(key.clone())
            .one(self.db().conn())
            .await?;
        if let Some(until) = failed.as_ref().and_then(|f| f.locked_until)
            && until > now
        {
            // Rounded up: the database may keep fewer digits of the instant.
            let secs = ((until - now).num_milliseconds().saturating_add(999) / 1000).max(1);
            return Err(AuthError::LockedOut {
                retry_after_secs: u64::try_from(secs).unwrap_or(1),
            });
        }
        match self.check_login(tenant_slug, &email, password).await {
            Ok(out) => {
                if failed.is_some() {
                    let _w = self.db().write_lock().await;
                    login_failure::Entity::delete_by_id(key)
                        .exec(self.db().conn())
                        .await?;
                }
                Ok(out)
            }
            Err(AuthError::InvalidCredentials) => {
                self.record_login_failure(key, now).await?;
                Err(AuthError::InvalidCredentials)
            }
            Err(e) => Err(e),
        }
    }

    /// Counts a failed login and sets the lockout once there are enough.
    async fn record_login_failure(&self, key: (String, String), now: DateTime<Utc>) -> Result<(), AuthError> {
        let conn = self.db().conn();
        let _w = self.db().write_lock().await;
        let prior = login_failure::Entity::find_by_id(key.clone()).one(conn).await?;
        let failures = prior.as_ref().map_or(0, |p| p.failures).saturating_add(1);
        let row = login_failure::ActiveModel {
            tenant_slug: Set(key.0.clone()),
            email: Set(key.1.clone()),
            failures: Set(failures),
            locked_until: Set(lockout(failures).map(|d| now + d)),
            last_failed_at: Set(now),
        };
        if prior.is_some() {
            row.update(conn).await?;
        } else if let Err(e) = row.clone().insert(conn).await {
            // Another replica inserted the first failure meanwhile: count
            // this one on top of it.
            let Some(other) = login_failure::Entity::find_by_id(key).one(conn).await? else {
                return Err(e.into());
            };
            let failures = other.failures.saturating_add(1);
            let mut again: login_failure::ActiveModel = other.into();
            again.failures = Set(failures);
            again.locked_until = Set(lockout(failures).map(|d| now + d));
            again.last_failed_at = Set(now);
            again.update(conn).await?;
        }
        Ok(())
    }

    /// Tenant, user, password and membership: the credential check proper.
    async fn check_login(
        &self,
        tenant_slug: &str,
        email: &str,
        password: &str,
    ) -> Result<LoginOutput, AuthError> {
        let conn = self.db().conn();
        let email = email.to_owned();
        let tenant = tenant::Entity::find()
            .filter(tenant::Column::Slug.eq(tenant_slug))
            .one(conn)
            .await?;
        let user = user::Entity::find()
            .filter(user::Column::Email.eq(&email))
            .one(conn)
            .await?;
        // Verify even when the user is unknown, so timing does not reveal it.
        let hash = user.as_ref().map_or(DUMMY_HASH, |u| u.password_hash.as_str());
        let password_ok = verify_password(password, hash).await;
        let (Some(tenant), Some(user)) = (tenant, user) else {
            return Err(AuthError::InvalidCredentials);
        };
        if !password_ok || user.deactivated_at.is_some() {
            return Err(AuthError::InvalidCredentials);
        }
        let member = member::Entity::find_by_id((tenant.id.clone(), user.id.clone()))
            .one(conn)
            .await?
            .filter(|m| m.status == MemberStatus::Active.as_str())
            .ok_or(AuthError::InvalidCredentials)?;
        let role = Role::parse(&member.role).ok_or(AuthError::InvalidCredentials)?;
        self.issue_session(parse_id(&tenant.id)?, parse_id(&user.id)?, role)
            .await
    }

    /// Creates a session token for an active member (login, accepted invite).
    ///
    /// # Errors
    /// `internal` on storage failure.
    pub(crate) async fn issue_session(
        &self,
        tenant: TenantId,
        user: UserId,
        role: Role,
    ) -> Result<LoginOutput, AuthError> {
        let conn = self.db().conn();
        let token = new_token();
        let now = Utc::now();
        let _w = self.db().write_lock().await;
        token::ActiveModel {
            id: Set(TokenId::new().to_string()),
            tenant_id: Set(tenant.to_string()),
            user_id: Set(user.to_string()),
            token_hash: Set(token_hash(&token)),
            kind: Set(KIND_SESSION.to_owned()),
            name: Set("login".to_owned()),
            created_at: Set(now),
            expires_at: Set(Some(now + Duration::days(SESSION_DAYS))),
            last_used_at: Set(Some(now)),
            revoked_at: Set(None),
            scope: Set(None),
        }
        .insert(conn)
        .await?;
        Ok(LoginOutput {
            token,
            user_id: user,
            tenant_id: tenant,
            role,
        })
    }

    /// Resolves a bearer token or session cookie to the caller's context.
    ///
    /// Sessions and personal tokens act with the member's role, limited by
    /// the token's scope; a tenant-level token acts as `admin` when scoped
    /// `admin`, else as `member`, and outlives its creator's membership.
    ///
    /// # Errors
    /// `unauthorized` when the token is unknown, revoked or expired, or the
    /// member was deactivated, is still invited, or left the tenant.
    pub async fn authenticate(&self, token: &str) -> Result<Ctx, AuthError> {
        let conn = self.db().conn();
        let now = Utc::now();
        // One round trip: the token, its user and the user's membership. A
        // member who is not active (or a user deactivated everywhere) finds
        // nothing, so deactivation takes effect on the very next request.
        let live_member = Condition::all()
            .add(member::Column::Status.eq(MemberStatus::Active.as_str()))
            .add(user::Column::Id.is_not_null())
            .add(user::Column::DeactivatedAt.is_null());
        let found: Option<TokenRow> = token::Entity::find()
            .select_only()
            .column(token::Column::Id)
            .column(token::Column::TenantId)
            .column(token::Column::UserId)
            .column(token::Column::Kind)
            .column(token::Column::Scope)
            .column(token::Column::RevokedAt)
            .column(token::Column::ExpiresAt)
            .column(token::Column::LastUsedAt)
            .column(member::Column::Role)
            .join(JoinType::LeftJoin, token::Relation::User.def())
            .join(JoinType::LeftJoin, token::Relation::Member.def())
            .filter(token::Column::TokenHash.eq(token_hash(token)))
            .filter(
                Condition::any()
                    .add(token::Column::Kind.eq(KIND_TENANT))
                    .add(live_member),
            )
            .into_tuple()
            .one(conn)
            .await?;
        let (id, tenant_id, user_id, kind, scope, revoked_at, expires_at, last_used_at, role) =
            found.ok_or(AuthError::InvalidToken)?;
        if revoked_at.is_some() || expires_at.is_some_and(|e| e <= now) {
            return Err(AuthError::InvalidToken);
        }
        let scope = match scope.as_deref() {
            None => Scope::Admin,
            Some(s) => Scope::parse(s).ok_or(AuthError::InvalidToken)?,
        };
        let role = if kind == KIND_TENANT {
            if scope == Scope::Admin {
                Role::Admin
            } else {
                Role::Member
            }
        } else {
            role.as_deref()
                .and_then(Role::parse)
                .ok_or(AuthError::InvalidToken)?
        };
        if last_used_at.is_none_or(|t| (now - t).num_seconds() >= LAST_USED_GRANULARITY_SECS) {
            let _w = self.db().write_lock().await;
            token::ActiveModel {
                id: Set(id),
                last_used_at: Set(Some(now)),
                ..Default::default()
            }
            .update(conn)
            .await?;
        }
        Ok(Ctx {
            tenant: parse_id(&tenant_id)?,
            actor: parse_id(&user_id)?,
            role,
            scope,
            now,
            cause: crate::ctx::Cause::default(),
            start_flow: true,
            link: None,
        })
    }

    /// Revokes the given token of the caller.
    ///
    /// # Errors
    /// `internal` on storage failure.
    pub async fn logout(&self, ctx: &Ctx, token: &str) -> Result<(), AuthError> {
        let _w = self.db().write_lock().await;
        token::Entity::update_many()
            .col_expr(token::Column::RevokedAt, sea_query::Expr::val(Utc::now()))
            .filter(token::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(token::Column::TokenHash.eq(token_hash(token)))
            .exec(self.db().conn())
            .await?;
        Ok(())
    }

    /// The caller, their tenant and role.
    ///
    /// # Errors
    /// `unauthorized` if the user vanished; `internal` on storage failure.
    pub async fn me(&self, ctx: &Ctx) -> Result<MeView, AuthError> {
        let user = user::Entity::find_by_id(ctx.actor.to_string())
            .one(self.db().conn())
            .await?
            .ok_or(AuthError::InvalidToken)?;
        Ok(MeView {
            user_id: ctx.actor,
            email: user.email,
            display_name: user.display_name,
            tenant: self.tenant(ctx).await?,
            role: ctx.role,
        })
    }
}

/// Failed logins in a row before attempts are refused for a while.
pub const LOCKOUT_AFTER: i32 = 5;
/// The first lockout; each further failure doubles it.
const LOCKOUT_BASE_SECS: i64 = 30;
/// The longest lockout.
const LOCKOUT_MAX_SECS: i64 = 900;

/// How long attempts are refused after `failures` failures in a row.
fn lockout(failures: i32) -> Option<Duration> {
    let over = u32::try_from(failures.checked_sub(LOCKOUT_AFTER)?).ok()?;
    let secs = LOCKOUT_BASE_SECS
        .checked_shl(over.min(20))
        .unwrap_or(LOCKOUT_MAX_SECS)
        .min(LOCKOUT_MAX_SECS);
    Some(Duration::seconds(secs))
}

/// A valid argon2id hash of a random string, verified against when the user
/// does not exist so a miss costs the same time as a hit.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3Hq4cA2Rn0fNpoOI8gnzVjq9Y0lOvHcF6dZCpmMUd2k";
