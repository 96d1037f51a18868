//! Tenants, users, memberships, passwords and bearer tokens.
//!
//! Passwords are argon2id hashes. A token is shown once at login and stored
//! only as its SHA-256, so a database leak yields no usable token. Role checks
//! live in [`policy`], the one place finer permissions will grow.

pub mod access;
pub mod departments;
pub mod login;
pub mod members;
pub mod org;
pub mod policy;
pub mod public_link;
pub mod roles;
pub mod tenant;
pub mod tokens;

use serde::Serialize;

use crate::ctx::Role;
use crate::error::{ErrorCode, FieldError, HasCode};
use crate::ids::{TenantId, UserId};
use crate::store::StoreError;

/// Failures of authentication and tenant set-up.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong tenant, email or password (deliberately not saying which).
    #[error("the tenant, email or password is wrong")]
    InvalidCredentials,
    /// Too many failed logins in a row for this tenant and email.
    #[error("too many failed logins; try again in {retry_after_secs} seconds")]
    LockedOut {
        /// Seconds until the next attempt is accepted.
        retry_after_secs: u64,
    },
    /// The token is unknown, revoked or expired.
    #[error("the token is missing, unknown or expired; log in again")]
    InvalidToken,
    /// The role may not do this.
    #[error("your role `{role}` may not {action}")]
    Forbidden {
        /// The caller's role.
        role: &'static str,
        /// What was attempted.
        action: &'static str,
    },
    /// The role may do this, but the API token used is scoped below it.
    #[error("this token's scope `{scope}` may not {action}; it needs scope `{needed}`")]
    InsufficientScope {
        /// The token's scope.
        scope: &'static str,
        /// The scope the action needs.
        needed: &'static str,
        /// What was attempted.
        action: &'static str,
    },
    /// A form's permissions do not grant the caller this action.
    #[error("you may not {action} records of this form")]
    FormForbidden {
        /// `view`, `create`, `edit`, `delete` or `export`.
        action: &'static str,
    },
    /// The input sets fields the caller may not change (details name them).
    #[error("you may not change {} field(s) of this form", .0.len())]
    FieldsForbidden(Vec<FieldError>),
    /// Queued work whose member has since left the tenant, been
    /// deactivated, or lost the user account.
    #[error("the member who queued this work is no longer active in the tenant")]
    NoLongerMember,
    /// The change would leave the tenant without an active owner.
    #[error("the tenant must keep at least one active owner; make another member owner first")]
    LastOwner,
    /// A department move that would make a department its own ancestor.
    #[error("department `{department}` cannot move under `{parent}`, which is inside it")]
    DepartmentCycle {
        /// The department moved.
        department: String,
        /// The parent asked for.
        parent: String,
    },
    /// Deleting a department that still holds something.
    #[error(
        "department `{name}` still has {departments} sub-department(s) and {members} member(s); move them first"
    )]
    DepartmentNotEmpty {
        /// The department's name.
        name: String,
        /// Direct sub-departments.
        departments: u64,
        /// Members assigned to it.
        members: u64,
    },
    /// A member, department, role, token or invite of this tenant that does
    /// not exist (another tenant's objects too).
    #[error("{what} `{id}` does not exist")]
    NotFound {
        /// `member`, `department`, `role`, `token`, `invite`.
        what: &'static str,
        /// The id (or a placeholder for secrets).
        id: String,
    },
    /// The write conflicts with existing members, roles or departments.
    #[error("{0}")]
    Conflict(String),
    /// A tenant with this slug exists.
    #[error("tenant `{0}` already exists")]
    TenantExists(String),
    /// Input fields are invalid.
    #[error("the input has {} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for AuthError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

impl HasCode for AuthError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidCredentials | Self::InvalidToken => ErrorCode::Unauthorized,
            Self::LockedOut { .. } => ErrorCode::TooManyRequests,
            Self::Forbidden { .. }
            | Self::FormForbidden { .. }
            | Self::FieldsForbidden(_)
            | Self::NoLongerMember => ErrorCode::Forbidden,
            Self::TenantExists(_) | Self::Conflict(_) => ErrorCode::Conflict,
            Self::InsufficientScope { .. } => ErrorCode::InsufficientScope,
            Self::LastOwner => ErrorCode::LastOwner,
            Self::DepartmentCycle { .. } => ErrorCode::DepartmentCycle,
            Self::DepartmentNotEmpty { .. } => ErrorCode::DepartmentNotEmpty,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::Store(e) => e.code(),
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(d) | Self::FieldsForbidden(d) => d.clone(),
            _ => Vec::new(),
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::LockedOut { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

/// Where a member stands in a tenant. Only active members authenticate,
/// log in, or count in organisation lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// May log in and act.
    Active,
    /// Created by an invite that has not been accepted yet.
    Invited,
    /// Switched off by an owner or admin; sessions and tokens refused.
    Deactivated,
}

impl MemberStatus {
    /// Wire and storage form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Invited => "invited",
            Self::Deactivated => "deactivated",
        }
    }

    /// Parses the storage form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "invited" => Some(Self::Invited),
            "deactivated" => Some(Self::Deactivated),
            _ => None,
        }
    }
}

/// True for the built-in role names `owner`, `admin` and `member`.
#[must_use]
pub fn is_builtin_role(name: &str) -> bool {
    Role::parse(name).is_some()
}

/// What a successful login returns.
#[derive(Debug, Clone, Serialize)]
pub struct LoginOutput {
    /// The bearer token; shown once.
    pub token: String,
    /// The user.
    pub user_id: UserId,
    /// The tenant logged into.
    pub tenant_id: TenantId,
    /// The user's role there.
    pub role: Role,
}

/// The caller as `GET /me` shows them.
#[derive(Debug, Clone, Serialize)]
pub struct MeView {
    /// The user id.
    pub user_id: UserId,
    /// Login email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// The tenant of this session.
    pub tenant: TenantView,
    /// Role in that tenant.
    pub role: Role,
}

/// A tenant.
#[derive(Debug, Clone, Serialize)]
pub struct TenantView {
    /// Id.
    pub id: TenantId,
    /// Login slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// IANA time zone.
    pub time_zone: String,
}
