//! Sort plans and keyset cursors.
//!
//! The order is the sort keys, then `_id` ascending as the tie-breaker, so
//! every row has one place. A missing value sorts as the smallest value on
//! both backends (SQLite does so natively; Postgres gets explicit `NULLS
//! FIRST`/`NULLS LAST`). A cursor is base64url JSON of the last row's sort
//! values and id plus a hash of the sort spec, so a cursor is refused under
//! another sort (or another form or scope).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_query::{Condition, Expr, ExprTrait, NullOrdering, Order, SelectStatement};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::error::QueryError;
use super::field::{ResolvedField, ValueKind};
use super::model::{MAX_SORT_KEYS, SortDir, SortKey};
use crate::ids::FormId;
use crate::meta::field_type::FieldTypes;
use crate::meta::model::FormDef;
use crate::store::Backend;
use crate::store::entity::record;

/// One resolved sort key.
#[derive(Debug, Clone)]
pub struct PlanKey {
    /// The field.
    pub field: ResolvedField,
    /// The direction.
    pub dir: SortDir,
}

/// The full, unambiguous order of a listing.
#[derive(Debug, Clone)]
pub struct SortPlan {
    /// Keys in order; the last one is always `_id`.
    pub keys: Vec<PlanKey>,
    hash: String,
}

#[derive(Serialize, Deserialize)]
struct CursorBody {
    /// Sort spec hash.
    h: String,
    /// Sort values of the last row, `_id` last.
    v: Vec<Json>,
}

impl SortPlan {
    /// Resolves the requested sort. `default` applies when `sort` is empty.
    ///
    /// # Errors
    /// `invalid_query` for an unknown or unsortable field.
    pub fn new(
        types: &FieldTypes,
        def: &FormDef,
        form: FormId,
        scope_tag: &str,
        sort: &[SortKey],
        default: Vec<PlanKey>,
    ) -> Result<Self, QueryError> {
        if sort.len() > MAX_SORT_KEYS {
            return Err(QueryError::invalid(
                "sort",
                format!("at most {MAX_SORT_KEYS} sort keys are allowed"),
            ));
        }
        let mut keys = Vec::with_capacity(sort.len() + 1);
        for (i, key) in sort.iter().enumerate() {
            let path = format!("sort/{i}");
            let field = ResolvedField::resolve(types, def, &key.field, &path, "sort")?;
            if field.kind == ValueKind::Array {
                return Err(QueryError::invalid(
                    path,
                    format!("field `{}` ({}) cannot be sorted", field.name, field.label),
                ));
            }
            if keys.iter().any(|k: &PlanKey| k.field.name == field.name) {
                return Err(QueryError::invalid(
                    path,
                    format!("field `{}` appears twice in sort", field.name),
                ));
            }
            keys.push(PlanKey { field, dir: key.dir });
        }
        if keys.is_empty() {
            keys = default;
        }
        // `_id` is unique: keys after it never matter, and without it the
        // order is ambiguous.
        if let Some(pos) = keys.iter().position(|k| k.field.name == "_id") {
            keys.truncate(pos + 1);
        } else {
            keys.push(PlanKey {
                field: id_field(),
                dir: SortDir::Asc,
            });
        }
        let mut h = Sha256::new();
        h.update(form.to_string().as_bytes());
        h.update(b"|");
        h.update(scope_tag.as_bytes());
        for k in &keys {
            h.update(b"|");
            h.update(k.field.name.as_bytes());
            h.update(if k.dir == SortDir::Asc { b":a" } else { b":d" });
        }
        let hash = hex::encode(h.finalize()).get(..16).unwrap_or_default().to_owned();
        Ok(Self { keys, hash })
    }

    /// Adds `ORDER BY` for every key.
    pub fn order(&self, backend: Backend, select: &mut SelectStatement) {
        for k in &self.keys {
            let order = match k.dir {
                SortDir::Asc => Order::Asc,
                SortDir::Desc => Order::Desc,
            };
            let expr = k.field.expr(backend);
            match backend {
                // SQLite's native order already puts NULL first ascending and
                // last descending; leaving it implicit keeps index matching.
                Backend::Sqlite => {
                    select.order_by_expr(expr, order);
                }
                Backend::Postgres => {
                    let nulls = match k.dir {
                        SortDir::Asc => NullOrdering::First,
                        SortDir::Desc => NullOrdering::Last,
                    };
                    select.order_by_expr_with_nulls(expr, order, nulls);
                }
            }
        }
    }

    /// The cursor pointing after `row`.
    #[must_use]
    pub fn cursor_after(&self, row: &record::Model) -> String {
        let body = CursorBody {
            h: self.hash.clone(),
            v: self.keys.iter().map(|k| k.field.value_of(row)).collect(),
        };
        // Serialising plain JSON values cannot fail.
        let json = serde_json::to_vec(&body).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// The keyset condition "after the row the cursor names".
    ///
    /// # Errors
    /// `invalid_query` for a malformed cursor or one made for another sort.
    pub fn after(&self, backend: Backend, cursor: &str) -> Result<Condition, QueryError> {
        let bad = || QueryError::invalid("cursor", "cursor is invalid");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if body.h != self.hash {
            return Err(QueryError::invalid(
                "cursor",
                "cursor was made for a different sort; start again without `cursor`",
            ));
        }
        if body.v.len() != self.keys.len() {
            return Err(bad());
        }
        let mut values = Vec::with_capacity(body.v.len());
        for (k, v) in self.keys.iter().zip(&body.v) {
            if v.is_null() {
                values.push(None);
            } else {
                values.push(Some(k.field.bind_stored(backend, v).ok_or_else(bad)?));
            }
        }
        // (k1 after v1) OR (k1 = v1 AND k2 after v2) OR ...
        let mut any = Condition::any();
        for (i, (k, v)) in self.keys.iter().zip(&values).enumerate() {
            let x = k.field.expr(backend);
            let after = match (k.dir, v) {
                (SortDir::Asc, None) => Some(x.is_not_null()),
                (SortDir::Asc, Some(v)) => Some(x.gt(v.clone())),
                // NULL is last descending: nothing comes after it.
                (SortDir::Desc, None) => None,
                (SortDir::Desc, Some(v)) => Some(x.clone().lt(v.clone()).or(x.is_null())),
            };
            let Some(after) = after else { continue };
            let mut all = Condition::all();
            for (pk, pv) in self.keys.iter().zip(&values).take(i) {
                let px = pk.field.expr(backend);
                all = all.add(match pv {
                    None => px.is_null(),
                    Some(pv) => px.eq(pv.clone()),
                });
            }
            any = any.add(all.add(after));
        }
        if any.is_empty() {
            return Ok(Condition::all().add(Expr::cust("1 = 0")));
        }
        Ok(any)
    }
}

/// The `_id` field.
fn id_field() -> ResolvedField {
    ResolvedField {
        name: "_id".to_owned(),
        source: super::field::Source::Column(record::Column::Id),
        kind: ValueKind::Text,
        label: "system".to_owned(),
        users: false,
    }
}

/// `_id` descending: newest first (ids are UUIDv7).
#[must_use]
pub fn newest_first() -> Vec<PlanKey> {
    vec![PlanKey {
        field: id_field(),
        dir: SortDir::Desc,
    }]
}

/// `deleted_at` descending: most recently deleted first (the recycle bin).
#[must_use]
pub fn recently_deleted_first() -> Vec<PlanKey> {
    vec![PlanKey {
        field: ResolvedField::deleted_at(),
        dir: SortDir::Desc,
    }]
}
