//! Who may do what. Every role check of the engine goes through [`require`],
//! so finer, per-form permissions can grow here without touching use cases.

use super::AuthError;
use crate::ctx::{Ctx, Role};

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
}

impl Action {
    const fn describe(self) -> &'static str {
        match self {
            Self::DesignApps => "design apps, forms or tags",
            Self::ReadData => "read data",
            Self::WriteData => "write data",
            Self::PurgeData => "purge records",
        }
    }
}

/// Refuses `action` unless the caller's role allows it.
///
/// # Errors
/// `forbidden`.
pub fn require(ctx: &Ctx, action: Action) -> Result<(), AuthError> {
    let allowed = match action {
        Action::ReadData | Action::WriteData => true,
        Action::DesignApps | Action::PurgeData => matches!(ctx.role, Role::Owner | Role::Admin),
    };
    if allowed {
        Ok(())
    } else {
        Err(AuthError::Forbidden {
            role: ctx.role.as_str(),
            action: action.describe(),
        })
    }
}
