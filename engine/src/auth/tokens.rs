//! API tokens: personal (act as their member, limited by scope) and
//! tenant-level (act as `admin` when scoped `admin`, else as `member`, and
//! survive their creator's departure). Scopes are `read`, `write` and
//! `admin`, checked by [`super::policy::require`]. The secret is shown once
//! at creation and stored only as its SHA-256, like session tokens; a token
//! may carry an expiry and is revoked by `DELETE`.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};

use super::AuthError;
use super::login::{KIND_PERSONAL, KIND_TENANT, new_token, token_hash};
use super::policy::{Action, require, role_allows};
use crate::Engine;
use crate::ctx::{Ctx, Scope};
use crate::error::FieldError;
use crate::ids::{TokenId, UserId};
use crate::store::entity::token;
use crate::store::{StoreError, parse_id};

/// Whose a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Acts as the member who created it.
    #[default]
    Personal,
    /// Belongs to the tenant; owners and admins manage it.
    Tenant,
}

impl TokenKind {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Personal => KIND_PERSONAL,
            Self::Tenant => KIND_TENANT,
        }
    }
}

/// `POST /tokens`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    /// 1 to 100 characters.
    pub name: String,
    /// `read`, `write` or `admin`.
    pub scope: Scope,
    /// `personal` (default) or `tenant`.
    #[serde(default)]
    pub kind: TokenKind,
    /// Optional expiry, in the future.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    /// Id.
    pub id: TokenId,
    /// Name.
    pub name: String,
    /// Personal or tenant.
    pub kind: TokenKind,
    /// Scope.
    pub scope: Scope,
    /// The owner (personal) or creator (tenant).
    pub user_id: UserId,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last request made with it (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The answer to a create: the token and its secret, shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedToken {
    /// The token.
    #[serde(flatten)]
    pub view: TokenView,
    /// `Authorization: Bearer <token>`.
    pub token: String,
}

fn view(t: token::Model) -> Result<TokenView, AuthError> {
    let kind = if t.kind == KIND_TENANT {
        TokenKind::Tenant
    } else {
        TokenKind::Personal
    };
    let scope = t
        .scope
        .as_deref()
        .and_then(Scope::parse)
        .ok_or_else(|| StoreError::Corrupt(format!("token `{}` has no scope", t.id)))?;
    Ok(TokenView {
        id: parse_id(&t.id)?,
        name: t.name,
        kind,
        scope,
        user_id: parse_id(&t.user_id)?,
        created_at: t.created_at,
        last_used_at: t.last_used_at,
        expires_at: t.expires_at,
    })
}

fn not_found(id: TokenId) -> AuthError {
    AuthError::NotFound {
        what: "token",
        id: id.to_string(),
    }
}

impl Engine {
    /// The API tokens the caller may manage that are not revoked: their own
    /// personal tokens, plus, for owners and admins, every tenant token and
    /// every member's personal tokens. Newest first.
    ///
    /// # Errors
    /// `forbidden`; `internal`.
    pub async fn list_tokens(&self, ctx: &Ctx) -> Result<Vec<TokenView>, AuthError> {
        require(ctx, Action::ReadData)?;
        let mut q = token::Entity::find()
            .filter(token::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(token::Column::Kind.is_in([KIND_PERSONAL, KIND_TENANT]))
            .filter(token::Column::RevokedAt.is_null());
        if !role_allows(ctx.role, Action::ManageTenantTokens) {
            q = q
                .filter(token::Column::Kind.eq(KIND_PERSONAL))
                .filter(token::Column::UserId.eq(ctx.actor.to_string()));
        }
        q.order_by_desc(token::Column::CreatedAt)
            .order_by_desc(token::Column::Id)
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(view)
            .collect()
    }

    /// Creates an API token and answers its secret, once.
    ///
    /// # Errors
    /// `forbidden` (tenant tokens: owners and admins); `insufficient_scope`
    /// when called with a token not scoped `admin`; `validation_failed` for
    /// a bad name or an expiry in the past.
    pub async fn create_token(&self, ctx: &Ctx, input: TokenInput) -> Result<CreatedToken, AuthError> {
        require(ctx, Action::ManageOwnTokens)?;
        if input.kind == TokenKind::Tenant {
            require(ctx, Action::ManageTenantTokens)?;
        }
        let mut errs = Vec::new();
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            errs.push(FieldError::new("name", "must be 1 to 100 characters"));
        }
        if input.expires_at.is_some_and(|e| e <= ctx.now) {
            errs.push(FieldError::new("expires_at", "must be in the future"));
        }
        if !errs.is_empty() {
            return Err(AuthError::Invalid(errs));
        }
        let secret = new_token();
        let _w = self.db().write_lock().await;
        let tx = self.db().begin().await?;
        let row = token::ActiveModel {
            id: Set(TokenId::new().to_string()),
            tenant_id: Set(ctx.tenant.to_string()),
            user_id: Set(ctx.actor.to_string()),
            token_hash: Set(token_hash(&secret)),
            kind: Set(input.kind.as_str().to_owned()),
            name: Set(name.to_owned()),
            created_at: Set(ctx.now),
            expires_at: Set(input.expires_at),
            last_used_at: Set(None),
            revoked_at: Set(None),
            scope: Set(Some(input.scope.as_str().to_owned())),
        }
        .insert(&tx)
        .await?;
        let out = view(row)?;
        crate::audit::record_view(&tx, ctx, "token.created", "token", &out.id, &out).await?;
        tx.commit().await?;
        Ok(CreatedToken {
            view: out,
            token: secret,
        })
    }

    /// Revokes an API token: the caller's own personal token, or (owners and
    /// admins) any API token of the tenant. Sessions are not listed here and
    /// end by logout.
    ///
    /// # Errors
    /// `not_found` for an unknown, revoked or unmanageable token;
    /// `insufficient_scope`.
    pub async fn revoke_token(&self, ctx: &Ctx, id: TokenId) -> Result<(), AuthError> {
        require(ctx, Action::ManageOwnTokens)?;
        let conn = self.db().conn();
        let t = token::Entity::find()
            .filter(token::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(token::Column::Id.eq(id.to_string()))
            .filter(token::Column::Kind.is_in([KIND_PERSONAL, KIND_TENANT]))
            .filter(token::Column::RevokedAt.is_null())
            .one(conn)
            .await?
            .ok_or_else(|| not_found(id))?;
        let is_own = t.kind == KIND_PERSONAL && t.user_id == ctx.actor.to_string();
        if !is_own && !role_allows(ctx.role, Action::ManageTenantTokens) {
            return Err(not_found(id));
        }
        let _w = self.db().write_lock().await;
        let tx = self.db().begin().await?;
        token::Entity::update_many()
            .col_expr(token::Column::RevokedAt, sea_query::Expr::val(ctx.now))
            .filter(token::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(token::Column::Id.eq(id.to_string()))
            .exec(&tx)
            .await?;
        let detail = serde_json::json!({"name": t.name, "kind": t.kind, "user_id": t.user_id});
        crate::audit::record(&tx, ctx, "token.revoked", "token", &id.to_string(), detail).await?;
        tx.commit().await?;
        Ok(())
    }
}
