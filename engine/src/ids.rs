//! Typed identifiers. Every id is a UUID; new ones are v7 (time-ordered) so
//! inserts stay append-friendly in B-tree indexes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    )*};
}

id_type!(
    /// A tenant: the unit of isolation. Every query is scoped by it.
    TenantId,
    /// A user account.
    UserId,
    /// An app: a group of forms.
    AppId,
    /// A form (its definition is versioned).
    FormId,
    /// One record of a form.
    RecordId,
    /// A tenant-level tag definition.
    TagId,
    /// A bearer token or browser session.
    TokenId,
    /// One row of a record's change history.
    RecordHistoryId,
    /// A durable job (one planned firing).
    JobId,
    /// One run-log row of a job.
    RunId,
    /// An automation rule (its definition is versioned).
    RuleId,
    /// One in-app notification of one member.
    NotificationId,
    /// An outgoing webhook of a tenant.
    WebhookId,
    /// One delivery attempt (webhook call or email).
    DeliveryId,
    /// A department of a tenant's organisation tree.
    DepartmentId,
    /// A tenant's custom role.
    RoleId,
);

id_type!(
    /// An approval flow of a form (its definition is versioned).
    WorkflowId,
    /// One record's run through a flow.
    InstanceId,
    /// One assignee's task at a flow node.
    TaskId,
    /// One step of a flow instance's history.
    WorkflowEventId,
);

id_type!(
    /// An uploaded spreadsheet and its import runs.
    ImportId,
);

id_type!(
    /// One audit log entry.
    AuditId,
    /// A public link (外链) of a form.
    PublicLinkId,
);

impl UserId {
    /// The author of records submitted through a public link: nobody
    /// signed in (the nil UUID, never a real user's id).
    pub const ANONYMOUS: Self = Self(Uuid::nil());
}

id_type!(
    /// A dashboard of an app.
    DashboardId,
    /// A saved view of a form.
    ViewId,
    /// An uploaded file (attachment or image).
    FileId,
);
