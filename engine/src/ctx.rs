//! The caller's context, passed to every use case: who, in which tenant, and
//! "now" (injectable, so tests use a fake clock instead of sleeping).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{RuleId, TenantId, UserId};

/// A member's role in a tenant. Finer permissions grow in `auth::policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Created the tenant; may do everything.
    Owner,
    /// Designs apps and manages members.
    Admin,
    /// Works with records.
    Member,
}

impl Role {
    /// Wire and storage form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// Parses the storage form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            "member" => Some(Self::Member),
            _ => None,
        }
    }
}

/// What a credential may do at most, whatever the role: API tokens carry
/// one; browser sessions and internal callers have [`Scope::Admin`], so only
/// the role limits them. Ordered: `Read < Write < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Reads only.
    Read,
    /// Reads and record writes.
    Write,
    /// Everything the role allows: design, members, tokens, settings.
    Admin,
}

impl Scope {
    /// Wire and storage form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    /// Parses the storage form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// Who is acting, where, and when.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The tenant every query is scoped to.
    pub tenant: TenantId,
    /// The acting user.
    pub actor: UserId,
    /// The actor's role in `tenant`.
    pub role: Role,
    /// The most the credential allows ([`Scope::Admin`] unless an API
    /// token says less).
    pub scope: Scope,
    /// The instant the use case treats as now.
    pub now: DateTime<Utc>,
    /// The automation rules whose effects this write carries out, outermost
    /// first; empty for a person's own request.
    pub cause: Cause,
    /// Whether a record created on a form with an approval flow starts the
    /// flow (true unless the caller asked otherwise, as the v5 API's
    /// `is_start_workflow: false` does).
    pub start_flow: bool,
    /// Set only for a submission through a public link: the one form it may
    /// create records of and the fields it may fill. Everything else is
    /// refused for such a caller (see [`crate::auth::access`]).
    pub link: Option<std::sync::Arc<LinkGrant>>,
}

/// What a public link lets an anonymous visitor do: create records of one
/// form, filling only the listed fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkGrant {
    /// The link.
    pub link: crate::ids::PublicLinkId,
    /// The form it submits to.
    pub form: crate::ids::FormId,
    /// The fields it shows and accepts.
    pub fields: std::collections::BTreeSet<String>,
}

/// The chain of rules behind a write. Record events remember it, so a rule's
/// effects never re-trigger a rule already on the chain, and chains stop at
/// a depth limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// Rule ids, outermost first.
    pub rules: Vec<RuleId>,
    /// The caller asked that no automation rule fires on this write's
    /// events (the v5 API's `is_start_trigger: false`); webhooks still do.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_rules: bool,
    /// Written through the v5 API or a batch call: webhooks with
    /// `push_api_writes: false` do not hear of it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_api_or_batch: bool,
}

impl Cause {
    /// True for a person's own write.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The stored form for `record_history.cause` (`None` when empty).
    #[must_use]
    pub fn to_json(&self) -> Option<serde_json::Value> {
        (!self.is_empty() || self.no_rules || self.is_api_or_batch)
            .then(|| serde_json::to_value(self).unwrap_or_default())
    }

    /// Reads the stored form; anything unreadable is an empty chain.
    #[must_use]
    pub fn from_json(v: Option<&serde_json::Value>) -> Self {
        v.and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

impl Ctx {
    /// A context at the real current time.
    #[must_use]
    pub fn new(tenant: TenantId, actor: UserId, role: Role) -> Self {
        Self {
            tenant,
            actor,
            role,
            scope: Scope::Admin,
            now: Utc::now(),
            cause: Cause::default(),
            start_flow: true,
            link: None,
        }
    }

    /// The same caller, its writes marked as a batch's (see
    /// [`Cause::is_api_or_batch`]).
    #[must_use]
    pub fn as_batch(&self) -> Self {
        let mut ctx = self.clone();
        ctx.cause.is_api_or_batch = true;
        ctx
    }

    /// The same caller limited to `scope` (an API token's).
    #[must_use]
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// The same caller at another instant (fake clocks in tests, planners).
    #[must_use]
    pub fn at(mut self, now: DateTime<Utc>) -> Self {
        self.now = now;
        self
    }
}
