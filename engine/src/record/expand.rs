//! Relation expansion: the titles of related records for a page, loaded in
//! one query per expanded field (never one per row).

use std::collections::{BTreeSet, HashMap};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::{Map, Value, json};

use super::RecordError;
use super::prepare::ids_of;
use crate::Engine;
use crate::ctx::Ctx;
use crate::ids::FormId;
use crate::meta::field_type::Reference;
use crate::meta::model::FormDef;
use crate::query::QueryError;
use crate::store::entity::record;

/// Most relation fields one request may expand.
pub const MAX_EXPAND: usize = 10;

fn invalid(i: usize, message: String) -> RecordError {
    QueryError::InvalidQuery {
        path: format!("expand/{i}"),
        message,
    }
    .into()
}

/// The key of the field that titles a form's records: its `title_field`,
/// else its first searchable (text-like) field.
fn title_key(engine: &Engine, def: &FormDef) -> Option<String> {
    def.title_field.clone().or_else(|| {
        def.fields
            .iter()
            .find(|f| engine.field_types().get(&f.kind).is_ok_and(|t| t.is_searchable()))
            .map(|f| f.key.clone())
    })
}

impl Engine {
    /// For each row, `expand` key → `{"id", "title"}` (or a list of them for
    /// multiple relations; `null` titles for records that are gone).
    pub(crate) async fn expand_relations(
        &self,
        ctx: &Ctx,
        def: &FormDef,
        rows: &[record::Model],
        keys: &[String],
    ) -> Result<HashMap<String, Map<String, Value>>, RecordError> {
        let mut out: HashMap<String, Map<String, Value>> = HashMap::new();
        if keys.len() > MAX_EXPAND {
            return Err(invalid(
                MAX_EXPAND,
                format!("at most {MAX_EXPAND} fields can be expanded"),
            ));
        }
        for (i, key) in keys.iter().enumerate() {
            let target = def
                .field(key)
                .and_then(|f| self.field_types().get(&f.kind).ok()?.reference(f))
                .and_then(|r| match r {
                    Reference::Record { form_id } => Some(form_id),
                    Reference::Member => None,
                })
                .ok_or_else(|| invalid(i, format!("`{key}` is not a relation field of this form")))?;
            let ids: BTreeSet<String> = rows.iter().flat_map(|r| ids_of(r.data.get(key))).collect();
            let target = target.parse::<FormId>().ok();
            let titles = match target {
                Some(target) if !ids.is_empty() => self.titles(ctx, target, ids).await?,
                _ => HashMap::new(),
            };
            for r in rows {
                let item =
                    |id: &str| json!({ "id": id, "title": titles.get(id).cloned().unwrap_or(Value::Null) });
                let value = match r.data.get(key) {
                    Some(Value::String(id)) => item(id),
                    Some(Value::Array(list)) => {
                        Value::Array(list.iter().filter_map(Value::as_str).map(item).collect())
                    }
                    _ => Value::Null,
                };
                out.entry(r.id.clone()).or_default().insert(key.clone(), value);
            }
        }
        Ok(out)
    }

    /// Record id → display title, for live records of `form` in the tenant.
    async fn titles(
        &self,
        ctx: &Ctx,
        form: FormId,
        ids: BTreeSet<String>,
    ) -> Result<HashMap<String, Value>, RecordError> {
        let Ok(target) = self.load_form(ctx, form).await else {
            return Ok(HashMap::new());
        };
        // Titles follow the target form's permissions: no titles from a form
        // the caller may not view, none from a hidden title field, and none
        // of records outside their data scope.
        let access = self.form_access(ctx, &target).await?;
        if !access.allows(crate::auth::access::FormAction::View) {
            return Ok(HashMap::new());
        }
        let reach = access.reach(crate::auth::access::FormAction::View);
        let visible = access.visible_def(&target.def);
        let title = title_key(self, &visible);
        let rows: Vec<(String, Value, String)> = record::Entity::find()
            .select_only()
            .column(record::Column::Id)
            .column(record::Column::Data)
            .column(record::Column::CreatedBy)
            .filter(record::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(record::Column::FormId.eq(form.to_string()))
            .filter(record::Column::Id.is_in(ids))
            .filter(record::Column::DeletedAt.is_null())
            .into_tuple()
            .all(self.db().conn())
            .await?;
        Ok(rows
            .into_iter()
            .filter(|(_, data, created_by)| reach.as_ref().is_none_or(|r| r.covers(created_by, data)))
            .map(|(id, data, _)| {
                let text = title.as_ref().and_then(|k| {
                    let f = target.def.field(k)?;
                    let v = data.get(k).filter(|v| !v.is_null())?;
                    Some(
                        self.field_types()
                            .get(&f.kind)
                            .map_or_else(|_| v.to_string(), |t| t.display(v, f)),
                    )
                });
                (id.clone(), text.map_or_else(|| Value::String(id), Value::String))
            })
            .collect())
    }
}
