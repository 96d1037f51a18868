//! Who may do what. Every role check of the engine goes through [`require`],
//! so finer, per-form permissions can grow here without touching use cases.
//! A check passes when both the caller's role and the scope of the
//! credential they used (an API token's `read`, `write` or `admin`) allow
//! the action.

use super::AuthError;
use crate::ctx::{Ctx, Role, Scope};

/// Something a caller may attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create, change or delete apps, forms and tag definitions.
    DesignApps,
    /// Read apps, forms and records.
    ReadData,
    /// Create, change and delete records.
    WriteData,
    /// Permanently delete records from the recycle bin.
    PurgeData,
    /// Add, change, deactivate and remove members; edit departments and
    /// custom roles.
    ManageMembers,
    /// Create and revoke one's own API tokens.
    ManageOwnTokens,
    /// Create, see and revoke tenant-level tokens and other members' tokens.
    ManageTenantTokens,
}

impl Action {
    const fn describe(self) -> &'static str {
        match self {
            Self::DesignApps => "design apps, forms or tags",
            Self::ReadData => "read data",
            Self::WriteData => "write data",
            Self::PurgeData => "purge records",
            Self::ManageMembers => "manage members, departments or roles",
            Self::ManageOwnTokens => "manage API tokens",
            Self::ManageTenantTokens => "manage tenant tokens or other members' tokens",
        }
    }

    /// The least credential scope the action needs.
    #[must_use]
    pub const fn scope(self) -> Scope {
        match self {
            Self::ReadData => Scope::Read,
            Self::WriteData => Scope::Write,
            Self::DesignApps
            | Self::PurgeData
            | Self::ManageMembers
            | Self::ManageOwnTokens
            | Self::ManageTenantTokens => Scope::Admin,
        }
    }
}

/// True when the caller's role (ignoring the credential's scope) allows
/// `action`.
#[must_use]
pub fn role_allows(role: Role, action: Action) -> bool {
    match action {
        Action::ReadData | Action::WriteData | Action::ManageOwnTokens => true,
        Action::DesignApps | Action::PurgeData | Action::ManageMembers | Action::ManageTenantTokens => {
            matches!(role, Role::Owner | Role::Admin)
        }
    }
}

/// Refuses `action` unless the caller's role and credential scope allow it.
///
/// # Errors
/// `forbidden` when the role may not; `insufficient_scope` when the role
/// may but the API token used is scoped below the action.
pub fn require(ctx: &Ctx, action: Action) -> Result<(), AuthError> {
    if !role_allows(ctx.role, action) {
        return Err(AuthError::Forbidden {
            role: ctx.role.as_str(),
            action: action.describe(),
        });
    }
    if ctx.scope < action.scope() {
        return Err(AuthError::InsufficientScope {
            scope: ctx.scope.as_str(),
            needed: action.scope().as_str(),
            action: action.describe(),
        });
    }
    Ok(())
}
