//! Turning caller input into stored data: key checks, defaults, formulas,
//! schema validation, normalisation and reference checks (relations and
//! members must exist in the same tenant).

use std::collections::BTreeSet;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::{Map, Value};

use super::RecordError;
use crate::Engine;
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::meta::compile::validate;
use crate::meta::field_type::Reference;
use crate::meta::form::LoadedForm;
use crate::meta::model::{DefaultValue, FieldDef};
use crate::script::ScriptError;
use crate::store::entity::{membership, record};

/// Whether a write creates a record (defaults apply) or patches one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// A new record.
    Create,
    /// A change to an existing record.
    Update,
}

impl Engine {
    /// Checks the keys of caller input: each must be an active, writable
    /// field of the form.
    pub(crate) fn check_input_keys(&self, form: &LoadedForm, input: &Map<String, Value>) -> Vec<FieldError> {
        let mut errs = Vec::new();
        for key in input.keys() {
            match form.def.field(key) {
                None => errs.push(FieldError::new(key.clone(), "is not a field of this form")),
                Some(f) if self.is_computed(f) => {
                    errs.push(FieldError::new(
                        key.clone(),
                        "is computed by the form and cannot be written",
                    ));
                }
                Some(_) => {}
            }
        }
        errs
    }

    fn is_computed(&self, f: &FieldDef) -> bool {
        self.field_types().get(&f.kind).is_ok_and(|t| t.is_computed())
    }

    /// Refuses data over the configured size.
    pub(crate) fn check_size(&self, data: &Map<String, Value>) -> Result<(), RecordError> {
        let size = serde_json::to_vec(data).map(|v| v.len()).unwrap_or(usize::MAX);
        let limit = self.config().max_record_bytes;
        if size > limit {
            return Err(RecordError::TooLarge { size, limit });
        }
        Ok(())
    }

    /// Computes the full stored data of a write and validates it.
    ///
    /// `base` is the stored data (empty on create); it keeps removed
    /// fields' values. Returns the new stored data, or field errors.
    pub(crate) fn prepare_data(
        &self,
        ctx: &Ctx,
        form: &LoadedForm,
        base: &Map<String, Value>,
        input: Map<String, Value>,
        kind: WriteKind,
    ) -> Result<Map<String, Value>, Vec<FieldError>> {
        // Keys that may not be written are reported with, not instead of,
        // the faults of the other values.
        let mut errs = self.check_input_keys(form, &input);
        let mut data = base.clone();
        for (k, v) in input {
            if !errs.iter().any(|e| e.field == k) {
                data.insert(k, v);
            }
        }
        if kind == WriteKind::Create {
            for f in &form.def.fields {
                if data.get(&f.key).is_some_and(|v| !v.is_null()) {
                    continue;
                }
                match &f.default {
                    Some(DefaultValue::Value { value }) => {
                        data.insert(f.key.clone(), value.clone());
                    }
                    Some(DefaultValue::Expr { expr }) => match self.sandbox().eval_expr(expr, &data, ctx.now)
                    {
                        Ok(v) => {
                            data.insert(f.key.clone(), v);
                        }
                        Err(e) => errs.push(FieldError::new(f.key.clone(), format!("default failed: {e}"))),
                    },
                    None => {}
                }
            }
        }
        // Nulls mean "no value": drop them so `required` sees the gap.
        data.retain(|_, v| !v.is_null());
        for f in &form.def.fields {
            let Some(expr) = self
                .field_types()
                .get(&f.kind)
                .ok()
                .and_then(|t| t.computed_expr(f))
            else {
                continue;
            };
            match self.sandbox().eval_expr(expr, &data, ctx.now) {
                Ok(Value::Null) => {
                    data.remove(&f.key);
                }
                Ok(v) => {
                    data.insert(f.key.clone(), v);
                }
                // A formula over blank inputs fails at run time: the result
                // is "no value", as in a spreadsheet. Limits are refused.
                Err(ScriptError::Runtime { .. }) => {
                    data.remove(&f.key);
                }
                Err(e) => errs.push(FieldError::new(f.key.clone(), format!("formula failed: {e}"))),
            }
        }
        let active = super::project(&form.def, &Value::Object(data.clone()));
        let validator = self
            .validators()
            .get(form.id, form.version, self.field_types(), &form.def)
            .map_err(|e| vec![FieldError::new("", format!("the form cannot be compiled: {e}"))])?;
        let reported: Vec<String> = errs.iter().map(|e| e.field.clone()).collect();
        errs.extend(
            validate(&validator, &Value::Object(active))
                .into_iter()
                .filter(|e| !reported.contains(&e.field)),
        );
        if !errs.is_empty() {
            return Err(errs);
        }
        for f in &form.def.fields {
            let Ok(t) = self.field_types().get(&f.kind) else {
                continue;
            };
            if let Some(v) = data.remove(&f.key) {
                data.insert(f.key.clone(), t.normalize(v, f));
            }
        }
        Ok(data)
    }

    /// Checks that relation values name live records of the target form and
    /// member values name members, all in the caller's tenant.
    pub(crate) async fn check_references(
        &self,
        ctx: &Ctx,
        form: &LoadedForm,
        data: &Map<String, Value>,
    ) -> Result<Vec<FieldError>, RecordError> {
        let mut errs = Vec::new();
        for f in &form.def.fields {
            let ids = ids_of(data.get(&f.key));
            if ids.is_empty() {
                continue;
            }
            let Some(reference) = self.field_types().get(&f.kind).ok().and_then(|t| t.reference(f)) else {
                continue;
            };
            let found: BTreeSet<String> = match &reference {
                Reference::Record { form_id: target } => record::Entity::find()
                    .select_only()
                    .column(record::Column::Id)
                    .filter(record::Column::TenantId.eq(ctx.tenant.to_string()))
                    .filter(record::Column::FormId.eq(target.as_str()))
                    .filter(record::Column::Id.is_in(ids.iter().cloned()))
                    .filter(record::Column::DeletedAt.is_null())
                    .into_tuple::<String>()
                    .all(self.db().conn())
                    .await?
                    .into_iter()
                    .collect(),
                Reference::Member => membership::Entity::find()
                    .select_only()
                    .column(membership::Column::UserId)
                    .filter(membership::Column::TenantId.eq(ctx.tenant.to_string()))
                    .filter(membership::Column::UserId.is_in(ids.iter().cloned()))
                    .into_tuple::<String>()
                    .all(self.db().conn())
                    .await?
                    .into_iter()
                    .collect(),
            };
            for missing in ids.iter().filter(|i| !found.contains(*i)) {
                let what = match reference {
                    Reference::Member => "member of this tenant",
                    Reference::Record { .. } => "record of the related form",
                };
                errs.push(FieldError::new(
                    f.key.clone(),
                    format!("`{missing}` is not a {what}"),
                ));
            }
        }
        Ok(errs)
    }
}

/// The id strings of a relation or member value (one or many).
pub(crate) fn ids_of(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}
