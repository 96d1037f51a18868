//! Per-form permissions and their enforcement: the one place that decides
//! which records of a form a caller may view, create, edit, delete and
//! export, over which records (data scope all / own department / own), and
//! which fields are hidden from them or read-only.
//!
//! Invariants:
//! - owners and admins are never limited; a form without permissions is open
//!   to every member (the behaviour before permissions existed);
//! - a member of a form with permissions gets the union of the entries that
//!   name them, and nothing when none does;
//! - a hidden field is absent from every response and unknown to filters,
//!   sorts, group-bys and search (callers compile queries against
//!   [`FormAccess::visible_def`]), so its values cannot be inferred;
//! - out-of-scope records are excluded in SQL ([`crate::query::access`]) and
//!   answer `not_found` when addressed by id, so existence does not leak.
//!
//! Callers: every record use case (`record`), exports and imports
//! (`exchange`), dashboards and views through the record queries, and the
//! workflow record views.

mod crud;
pub mod model;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

pub use crud::PermissionsView;
pub use model::{DataScope, FieldAccess, FormAction, FormPermissions, PermissionEntry, Subject};

use super::{AuthError, org};
use crate::Engine;
use crate::ctx::{Ctx, Role};
use crate::error::{ErrorCode, FieldError, HasCode};
use crate::ids::DepartmentId;
use crate::meta::MetaError;
use crate::meta::field_type::member;
use crate::meta::form::LoadedForm;
use crate::meta::model::FormDef;
use crate::query::access::{OwnerField, Reach};
use crate::store::entity::record;

/// Failures of the permission use cases.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The permissions document is invalid; details name each fault.
    #[error("the permissions have {} invalid part(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// The form does not exist.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Not allowed, or storage failure.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl HasCode for AccessError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::Meta(e) => e.code(),
            Self::Auth(e) => e.code(),
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(d) => d.clone(),
            Self::Meta(e) => e.details(),
            Self::Auth(e) => e.details(),
        }
    }
}

/// What one caller may do with one form's records, resolved from the
/// form's permissions, their role, department and custom role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormAccess {
    /// Action → the widest data scope it is granted over; absent: refused.
    actions: BTreeMap<FormAction, DataScope>,
    /// Limited fields; a field not here is visible and writable.
    fields: BTreeMap<String, FieldAccess>,
    /// The caller alone, with the owner fields (data scope `own`).
    own: Option<Reach>,
    /// The caller's department members (data scope `department`).
    department: Option<Reach>,
}

impl FormAccess {
    /// Everything, over every record (owners, admins, open forms).
    #[must_use]
    pub fn unrestricted() -> Self {
        Self {
            actions: FormAction::ALL.iter().map(|a| (*a, DataScope::All)).collect(),
            fields: BTreeMap::new(),
            own: None,
            department: None,
        }
    }

    /// What a public link allows: creating records of its own form, every
    /// field outside the link's list hidden (so not writable, and absent
    /// from the answer); nothing at all on any other form.
    #[must_use]
    pub fn for_link(form: &LoadedForm, grant: &crate::ctx::LinkGrant) -> Self {
        let actions = if form.id == grant.form {
            BTreeMap::from([(FormAction::Create, DataScope::All)])
        } else {
            BTreeMap::new()
        };
        let fields = form
            .def
            .fields
            .iter()
            .chain(&form.def.removed_fields)
            .filter(|f| !grant.fields.contains(&f.key))
            .map(|f| (f.key.clone(), FieldAccess::Hidden))
            .collect();
        Self {
            actions,
            fields,
            own: None,
            department: None,
        }
    }

    /// True when nothing is limited.
    #[must_use]
    pub fn is_unrestricted(&self) -> bool {
        self.fields.is_empty()
            && FormAction::ALL
                .iter()
                .all(|a| self.actions.get(a) == Some(&DataScope::All))
    }

    /// Refuses an action that is not granted.
    ///
    /// # Errors
    /// `forbidden`.
    pub fn require(&self, action: FormAction) -> Result<(), AuthError> {
        if self.actions.contains_key(&action) {
            Ok(())
        } else {
            Err(AuthError::FormForbidden {
                action: action.as_str(),
            })
        }
    }

    /// True when the action is granted.
    #[must_use]
    pub fn allows(&self, action: FormAction) -> bool {
        self.actions.contains_key(&action)
    }

    /// The records the action reaches: `None` for every record of the form.
    #[must_use]
    pub fn reach(&self, action: FormAction) -> Option<Reach> {
        match self.actions.get(&action) {
            None => Some(Reach {
                users: Vec::new(),
                owner_fields: Vec::new(),
            }),
            Some(DataScope::All) => None,
            Some(DataScope::Department) => self.department.clone(),
            Some(DataScope::Own) => self.own.clone(),
        }
    }

    /// True when the action reaches the stored record `row`.
    #[must_use]
    pub fn covers(&self, action: FormAction, row: &record::Model) -> bool {
        match self.reach(action) {
            None => true,
            Some(reach) => reach.covers(&row.created_by, &row.data),
        }
    }

    /// True when the field is hidden from the caller.
    #[must_use]
    pub fn is_hidden(&self, key: &str) -> bool {
        self.fields.get(key) == Some(&FieldAccess::Hidden)
    }

    /// The definition as the caller may see it: hidden fields removed. Reads
    /// project records through it and queries resolve field names in it, so
    /// a hidden field is absent from answers and unknown to filters.
    #[must_use]
    pub fn visible_def<'a>(&self, def: &'a FormDef) -> Cow<'a, FormDef> {
        if !self.fields.values().any(|a| *a == FieldAccess::Hidden) {
            return Cow::Borrowed(def);
        }
        let mut visible = def.clone();
        visible.fields.retain(|f| !self.is_hidden(&f.key));
        if visible.title_field.as_deref().is_some_and(|t| self.is_hidden(t)) {
            visible.title_field = None;
        }
        Cow::Owned(visible)
    }

    /// Refuses input that sets a hidden or read-only field, naming each one.
    ///
    /// # Errors
    /// `forbidden` with a detail per field.
    pub fn check_write(&self, data: &Map<String, Value>) -> Result<(), AuthError> {
        let errs: Vec<FieldError> = data
            .keys()
            .filter_map(|k| match self.fields.get(k) {
                Some(FieldAccess::ReadOnly) => {
                    Some(FieldError::new(k.clone(), "this field is read-only for you"))
                }
                Some(FieldAccess::Hidden) => {
                    Some(FieldError::new(k.clone(), "this field is hidden from you"))
                }
                None => None,
            })
            .collect();
        if errs.is_empty() {
            Ok(())
        } else {
            Err(AuthError::FieldsForbidden(errs))
        }
    }

    /// Removes hidden fields from a history row's `changes`.
    pub fn strip_changes(&self, changes: &mut Value) {
        if let Some(obj) = changes.as_object_mut() {
            obj.retain(|k, _| !self.is_hidden(k));
        }
    }
}

/// True when an entry applies to the member.
fn entry_applies(entry: &PermissionEntry, ctx: &Ctx, profile: &org::Profile, chain: &[DepartmentId]) -> bool {
    match &entry.subject {
        Subject::Role(r) => r == Role::Member.as_str() || profile.custom_role.as_deref() == Some(r.as_str()),
        Subject::Department(d) => chain.contains(d),
        Subject::User(u) => *u == ctx.actor,
    }
}

/// `dept` and its ancestors, nearest first (bounded by the tree depth).
fn ancestors(
    parents: &[(DepartmentId, Option<DepartmentId>)],
    dept: Option<DepartmentId>,
) -> Vec<DepartmentId> {
    let mut out = Vec::new();
    let mut next = dept;
    while let Some(d) = next {
        if out.contains(&d) || out.len() >= org::MAX_DEPTH {
            break;
        }
        out.push(d);
        next = parents.iter().find(|(id, _)| *id == d).and_then(|(_, p)| *p);
    }
    out
}

/// `dept` and every department below it.
fn subtree(parents: &[(DepartmentId, Option<DepartmentId>)], dept: DepartmentId) -> Vec<DepartmentId> {
    let mut out = vec![dept];
    let mut i = 0;
    while let Some(d) = out.get(i).copied() {
        for (child, parent) in parents {
            if *parent == Some(d) && !out.contains(child) {
                out.push(*child);
            }
        }
        i += 1;
    }
    out
}

/// The owner fields of a form: the configured ones, or its member field
/// `owner`; only member fields count.
fn owner_fields(perms: &FormPermissions, def: &FormDef) -> Vec<OwnerField> {
    let keys: Vec<String> = perms
        .owner_fields
        .clone()
        .unwrap_or_else(|| vec!["owner".to_owned()]);
    keys.iter()
        .filter_map(|k| def.field(k))
        .filter(|f| f.kind == member::KIND)
        .map(|f| OwnerField {
            key: f.key.clone(),
            is_multiple: member::is_multiple(f),
        })
        .collect()
}

impl Engine {
    /// What the caller may do with `form`'s records.
    ///
    /// # Errors
    /// `internal` on storage failure.
    pub async fn form_access(&self, ctx: &Ctx, form: &LoadedForm) -> Result<FormAccess, AuthError> {
        if let Some(grant) = &ctx.link {
            return Ok(FormAccess::for_link(form, grant));
        }
        let Some(perms) = form.permissions.as_ref() else {
            return Ok(FormAccess::unrestricted());
        };
        if matches!(ctx.role, Role::Owner | Role::Admin) {
            return Ok(FormAccess::unrestricted());
        }
        let profile = org::profile(self.db(), ctx.tenant, ctx.actor).await?;
        let needs_tree = perms
            .entries
            .iter()
            .any(|e| matches!(e.subject, Subject::Department(_)) || e.data_scope == DataScope::Department);
        let parents = if needs_tree {
            org::department_parents(self.db(), ctx.tenant).await?
        } else {
            Vec::new()
        };
        let chain = ancestors(&parents, profile.department);
        let applying: Vec<&PermissionEntry> = perms
            .entries
            .iter()
            .filter(|e| entry_applies(e, ctx, &profile, &chain))
            .collect();
        let mut actions: BTreeMap<FormAction, DataScope> = BTreeMap::new();
        for e in &applying {
            for a in &e.actions {
                let scope = actions.entry(*a).or_insert(e.data_scope);
                *scope = (*scope).max(e.data_scope);
            }
        }
        // A field is limited only when every applying entry limits it; the
        // least limit of those wins.
        let mut fields: BTreeMap<String, FieldAccess> = BTreeMap::new();
        if let Some(first) = applying.first() {
            let keys: BTreeSet<&String> = first.fields.keys().collect();
            for key in keys {
                let limits: Option<Vec<FieldAccess>> =
                    applying.iter().map(|e| e.fields.get(key).copied()).collect();
                if let Some(limit) = limits.and_then(|l| l.into_iter().max()) {
                    fields.insert(key.clone(), limit);
                }
            }
        }
        let owners = owner_fields(perms, &form.def);
        let own = Reach {
            users: vec![ctx.actor],
            owner_fields: owners.clone(),
        };
        let department = if actions.values().any(|s| *s == DataScope::Department) {
            let users = match profile.department {
                Some(d) => {
                    let mut users =
                        org::members_in_departments(self.db(), ctx.tenant, &subtree(&parents, d)).await?;
                    if !users.contains(&ctx.actor) {
                        users.push(ctx.actor);
                    }
                    users
                }
                None => vec![ctx.actor],
            };
            Some(Reach {
                users,
                owner_fields: owners,
            })
        } else {
            None
        };
        Ok(FormAccess {
            actions,
            fields,
            own: Some(own),
            department,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dept(n: u128) -> DepartmentId {
        DepartmentId::from(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn ancestors_and_subtree_walk_the_tree() {
        let parents = vec![
            (dept(1), None),
            (dept(2), Some(dept(1))),
            (dept(3), Some(dept(2))),
            (dept(4), None),
        ];
        assert_eq!(
            ancestors(&parents, Some(dept(3))),
            vec![dept(3), dept(2), dept(1)]
        );
        assert_eq!(ancestors(&parents, None), Vec::<DepartmentId>::new());
        assert_eq!(subtree(&parents, dept(1)), vec![dept(1), dept(2), dept(3)]);
        assert_eq!(subtree(&parents, dept(4)), vec![dept(4)]);
    }

    #[test]
    fn a_cycle_in_a_corrupt_tree_ends() {
        let parents = vec![(dept(1), Some(dept(2))), (dept(2), Some(dept(1)))];
        assert_eq!(ancestors(&parents, Some(dept(1))), vec![dept(1), dept(2)]);
        assert_eq!(subtree(&parents, dept(1)), vec![dept(1), dept(2)]);
    }

    #[test]
    fn write_check_names_every_limited_field() {
        let mut access = FormAccess::unrestricted();
        access.fields.insert("cost".into(), FieldAccess::Hidden);
        access.fields.insert("amount".into(), FieldAccess::ReadOnly);
        let mut data = Map::new();
        data.insert("name".into(), Value::from("x"));
        assert!(access.check_write(&data).is_ok());
        data.insert("cost".into(), Value::from(1));
        data.insert("amount".into(), Value::from(2));
        let Err(AuthError::FieldsForbidden(errs)) = access.check_write(&data) else {
            panic!("expected forbidden fields");
        };
        let names: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, vec!["amount", "cost"]);
    }
}
