//! The records a member may reach when a form's permissions narrow their
//! data scope: the SQL condition every listing, count, aggregate and export
//! adds after the tenant and form, so out-of-scope records are never read.
//!
//! [`crate::auth::access`] decides who reaches what; this module only turns
//! that into SQL. Field keys come from the form definition (checked keys).

use sea_query::{Condition, Expr, ExprTrait, Value};

use super::compile::array_has_any;
use super::expr::field_expr;
use super::field::column;
use crate::ids::UserId;
use crate::meta::field_type::SqlCast;
use crate::store::Backend;
use crate::store::entity::record;

/// A member field that makes a record someone's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerField {
    /// Field key.
    pub key: String,
    /// The field holds an array of user ids.
    pub is_multiple: bool,
}

/// Records created by, or owned through an owner field by, one of `users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// The members whose records are reachable (the caller alone for data
    /// scope `own`; their department's members for `department`).
    pub users: Vec<UserId>,
    /// Fields naming a record's owners.
    pub owner_fields: Vec<OwnerField>,
}

impl Reach {
    /// True when `created_by` or an owner field of `data` names one of the users.
    #[must_use]
    pub fn covers(&self, created_by: &str, data: &serde_json::Value) -> bool {
        let names = |v: &serde_json::Value| {
            v.as_str()
                .is_some_and(|s| self.users.iter().any(|u| u.to_string() == s))
        };
        if self.users.iter().any(|u| u.to_string() == created_by) {
            return true;
        }
        self.owner_fields.iter().any(|f| match data.get(&f.key) {
            Some(serde_json::Value::Array(items)) => items.iter().any(names),
            Some(v) => names(v),
            None => false,
        })
    }

    /// `created_by IN (...) OR <owner field> IN (...) OR ...`, all bound.
    #[must_use]
    pub fn condition(&self, backend: Backend) -> Condition {
        let ids: Vec<Value> = self.users.iter().map(|u| Value::from(u.to_string())).collect();
        if ids.is_empty() {
            // Nobody: nothing is reachable.
            return Condition::all().add(Expr::cust("1 = 0"));
        }
        let mut any = Condition::any().add(column(record::Column::CreatedBy).is_in(ids.clone()));
        for f in &self.owner_fields {
            any = any.add(if f.is_multiple {
                array_has_any(backend, &f.key, ids.clone())
            } else {
                field_expr(backend, &f.key, SqlCast::Text).is_in(ids.clone())
            });
        }
        any
    }
}
