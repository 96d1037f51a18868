//! The stored shape of a form's permissions: who may do what with its
//! records, over which records, and which fields they may not see or change.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ids::{DepartmentId, UserId};

/// Most entries one form's permissions may hold.
pub const MAX_ENTRIES: usize = 200;

/// A form's permissions as `PUT /forms/{form_id}/permissions` takes them.
///
/// A form without permissions is open to every member: all actions, all
/// records, all fields. Once set, a member gets exactly the union of the
/// entries that name them (their user, their department, or their role);
/// owners and admins are never limited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormPermissions {
    /// Member fields whose value makes a record "own" for the member named
    /// in it, besides having created it. Absent: the form's member field
    /// `owner`, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_fields: Option<Vec<String>>,
    /// The grants.
    pub entries: Vec<PermissionEntry>,
}

/// One grant to one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionEntry {
    /// Who the entry is for.
    pub subject: Subject,
    /// What they may do.
    pub actions: BTreeSet<FormAction>,
    /// Over which records (default `all`).
    #[serde(default)]
    pub data_scope: DataScope,
    /// Field key → `hidden` or `read_only`; fields not named are visible and
    /// editable (when `edit` or `create` is granted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, FieldAccess>,
}

/// Who an entry is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Subject {
    /// Holders of a role: `member` (the built-in role, custom-role holders
    /// included) or a custom role's name.
    Role(String),
    /// Members of a department or of any department below it.
    Department(DepartmentId),
    /// One member.
    User(UserId),
}

/// Something a member may do with a form's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormAction {
    /// List, get, query, search, aggregate, history.
    View,
    /// Create (also batch create and import inserts).
    Create,
    /// Update, tag (also import updates).
    Edit,
    /// Delete, restore.
    Delete,
    /// Export to CSV or XLSX.
    Export,
}

impl FormAction {
    /// Every action, for open forms and admins.
    pub const ALL: [Self; 5] = [Self::View, Self::Create, Self::Edit, Self::Delete, Self::Export];

    /// Wire form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Create => "create",
            Self::Edit => "edit",
            Self::Delete => "delete",
            Self::Export => "export",
        }
    }
}

/// Which records an entry covers. Ordered from narrowest to widest, so the
/// union of entries is the maximum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataScope {
    /// Records the member created, or is named in through an owner field.
    Own,
    /// Records created by or owned by members of the member's department
    /// and the departments below it.
    Department,
    /// Every record of the form.
    #[default]
    All,
}

/// How a field is limited. Ordered from most to least limited, so the
/// union of entries is the maximum (a field visible in any entry is visible).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldAccess {
    /// Absent from every response; cannot be filtered, sorted, grouped,
    /// searched or written.
    Hidden,
    /// Shown, but writes to it are refused with `forbidden`.
    ReadOnly,
}
