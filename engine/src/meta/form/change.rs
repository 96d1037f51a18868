//! Analysing a field change against existing records: which values the new
//! field no longer accepts, and whether each converts.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::{Map, Value, json};

use crate::ctx::Ctx;
use crate::ids::FormId;
use crate::meta::MetaError;
use crate::meta::compile::compile_form;
use crate::meta::field_type::FieldTypes;
use crate::meta::model::{FieldDef, FormDef};
use crate::store::entity::record;

/// How many record ids an error names.
const FIRST_IDS: usize = 10;

/// A field whose kind or settings changed, with its previous definition.
pub struct ChangedField<'a> {
    /// The previous definition (active or removed).
    pub old: &'a FieldDef,
    /// The new definition.
    pub new: &'a FieldDef,
}

/// Fields present before (active or removed) and now whose kind or config
/// differ.
pub fn changed_fields<'a>(old: &'a FormDef, new: &'a FormDef) -> Vec<ChangedField<'a>> {
    new.fields
        .iter()
        .filter_map(|n| {
            let o = old
                .fields
                .iter()
                .chain(old.removed_fields.iter())
                .find(|o| o.key == n.key)?;
            (o.kind != n.kind || o.config != n.config).then_some(ChangedField { old: o, new: n })
        })
        .collect()
}

fn single_field_validator(types: &FieldTypes, field: &FieldDef) -> Result<jsonschema::Validator, MetaError> {
    let mut f = field.clone();
    f.required = false;
    let def = FormDef {
        name: String::new(),
        description: String::new(),
        fields: vec![f],
        removed_fields: Vec::new(),
        title_field: None,
        layout: Value::Null,
    };
    let schema = compile_form(types, &def);
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| MetaError::Store(crate::store::StoreError::Corrupt(format!("schema: {e}"))))
}

/// The new values of records whose stored value must change: record id →
/// full new data. Empty when every value already satisfies the new field.
///
/// # Errors
/// `incompatible_change` when values fail and `convert` is false;
/// `incompatible_change` (conversion failed) when some value does not convert.
pub async fn plan_conversion<C: sea_orm::ConnectionTrait>(
    conn: &C,
    ctx: &Ctx,
    types: &FieldTypes,
    form: FormId,
    change: &ChangedField<'_>,
    convert: bool,
) -> Result<HashMap<String, (Value, Value)>, MetaError> {
    let key = change.new.key.as_str();
    let validator = single_field_validator(types, change.new)?;
    let rows: Vec<(String, Value)> = record::Entity::find()
        .select_only()
        .column(record::Column::Id)
        .column(record::Column::Data)
        .filter(record::Column::TenantId.eq(ctx.tenant.to_string()))
        .filter(record::Column::FormId.eq(form.to_string()))
        .into_tuple()
        .all(conn)
        .await?;
    let old_type = types
        .get(&change.old.kind)
        .map_err(|e| MetaError::Store(crate::store::StoreError::Corrupt(e.to_string())))?;
    let new_type = types
        .get(&change.new.kind)
        .map_err(|e| MetaError::Store(crate::store::StoreError::Corrupt(e.to_string())))?;
    let mut failing = Vec::new();
    let mut unconvertible = Vec::new();
    let mut converted = HashMap::new();
    for (id, data) in rows {
        let Some(value) = data.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        if validator.is_valid(&json!({ key: value })) {
            continue;
        }
        failing.push(id.clone());
        if !convert {
            continue;
        }
        let text = old_type.display(value, change.old);
        let ok = new_type
            .parse_import(&text, change.new)
            .ok()
            .filter(|v| v.is_null() || validator.is_valid(&json!({ key: v })))
            .map(|v| new_type.normalize(v, change.new));
        match ok {
            Some(new_value) => {
                let mut new_data = data.as_object().cloned().unwrap_or_else(Map::new);
                new_data.insert(key.to_owned(), new_value);
                converted.insert(id, (value.clone(), Value::Object(new_data)));
            }
            None => unconvertible.push(id),
        }
    }
    if failing.is_empty() {
        return Ok(HashMap::new());
    }
    if !convert {
        return Err(MetaError::IncompatibleChange {
            field: key.to_owned(),
            count: failing.len(),
            first_ids: failing.into_iter().take(FIRST_IDS).collect(),
        });
    }
    if !unconvertible.is_empty() {
        return Err(MetaError::ConversionFailed {
            field: key.to_owned(),
            count: unconvertible.len(),
            first_ids: unconvertible.into_iter().take(FIRST_IDS).collect(),
        });
    }
    Ok(converted)
}
