//! What a rule script asks for. Scripts never write: each API call such as
//! `create(form, map)` appends an [`Effect`], and the automation engine
//! applies a run's effects together in one transaction (or reports them in
//! a test-run).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One requested change. Forms are named as the script named them (an id or
/// a form name within the rule's app); the applier resolves them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Effect {
    /// Create a record.
    Create {
        /// Form id or name.
        form: String,
        /// Field values.
        data: Map<String, Value>,
    },
    /// Patch a record (`null` clears a field).
    Update {
        /// Form id or name.
        form: String,
        /// Record id.
        id: String,
        /// Fields to change.
        data: Map<String, Value>,
    },
    /// Attach a tag (created when the tenant has none of that name).
    Tag {
        /// Record id.
        id: String,
        /// Tag name.
        name: String,
    },
    /// Detach a tag.
    Untag {
        /// Record id.
        id: String,
        /// Tag name.
        name: String,
    },
    /// An in-app notification to a user (id or email) or a role.
    Notify {
        /// User id, email or role name.
        to: String,
        /// Title.
        title: String,
        /// Body text.
        body: String,
    },
    /// An email through the tenant's SMTP settings.
    Email {
        /// Address.
        to: String,
        /// Subject.
        subject: String,
        /// Plain-text body.
        body: String,
    },
    /// A call of one of the tenant's webhooks, by name.
    Webhook {
        /// Webhook name.
        name: String,
        /// JSON body.
        payload: Value,
    },
}
