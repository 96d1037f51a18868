//! Validation: every row of a file converted through the field registry,
//! matched to existing records by the key (looked up in batches), checked
//! like any record write (`prepare_data`), and checked for references and
//! unique values across the whole file. The result is a plan of inserts and
//! updates plus every row's errors; nothing is written here.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::ExchangeError;
use super::read::Sheet;
use crate::Engine;
use crate::ctx::Ctx;
use crate::meta::field_type::Reference;
use crate::meta::form::LoadedForm;
use crate::query::model::{Filter, QueryEnv, QueryRequest, SortDir, SortKey};
use crate::query::run::{RecordScope, list_records};
use crate::record::prepare::{WriteKind, ids_of};
use crate::store::entity::{membership, record};

/// Values per `in` lookup (the query language allows 1,000).
const LOOKUP_CHUNK: usize = 500;
/// Rows between two progress reports and two yields to the runtime.
pub(crate) const PROGRESS_EVERY: usize = 1000;
/// Longest cell value kept in an error, in characters.
const MAX_VALUE_CHARS: usize = 200;

/// How rows meet existing records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// Every row creates a record.
    #[default]
    Insert,
    /// A row whose key matches a record updates it; other rows create one.
    Upsert,
    /// A row whose key matches a record updates it; other rows are errors.
    Update,
}

impl ImportMode {
    /// Stored and wire form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Upsert => "upsert",
            Self::Update => "update",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "insert" => Some(Self::Insert),
            "upsert" => Some(Self::Upsert),
            "update" => Some(Self::Update),
            _ => None,
        }
    }
}

/// One problem with one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// The row's number in the file (the header is row 1).
    pub row: usize,
    /// The column header, when the error is about one cell.
    pub column: Option<String>,
    /// The field key, when the error is about one field.
    pub field: Option<String>,
    /// The cell text (cut to 200 characters).
    pub value: Option<String>,
    /// One lower-case sentence.
    pub message: String,
}

/// One write of the plan.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// A new record with this stored data.
    Insert(Map<String, Value>),
    /// An existing record (as read) and its new stored data.
    Update(Box<record::Model>, Map<String, Value>),
}

/// What validation found.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Writes, in file order.
    pub ops: Vec<(usize, Op)>,
    /// Errors, in file order.
    pub errors: Vec<RowError>,
    /// Rows that match a record and change nothing.
    pub unchanged: u64,
}

impl Plan {
    pub(crate) fn inserts(&self) -> u64 {
        self.ops
            .iter()
            .filter(|(_, o)| matches!(o, Op::Insert(_)))
            .count() as u64
    }

    pub(crate) fn updates(&self) -> u64 {
        self.ops
            .iter()
            .filter(|(_, o)| matches!(o, Op::Update(..)))
            .count() as u64
    }
}

/// The validated settings of a run.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `(column, field key)` of every mapped column.
    pub pairs: Vec<(usize, String)>,
    /// The mode.
    pub mode: ImportMode,
    /// The key field (upsert and update).
    pub key: Option<String>,
}

fn cut(s: &str) -> String {
    s.chars().take(MAX_VALUE_CHARS).collect()
}

/// The JSON text of a value, as a hash key.
fn key_text(v: &Value) -> String {
    v.to_string()
}

impl Engine {
    /// Validates every row of `sheet` and plans the writes. `report` is
    /// called with the rows done so far every [`PROGRESS_EVERY`] rows.
    pub(crate) async fn plan_import(
        &self,
        ctx: &Ctx,
        form: &LoadedForm,
        sheet: &Sheet,
        settings: &Settings,
        report: &mut (dyn FnMut(u64) + Send),
    ) -> Result<Plan, ExchangeError> {
        let header_of = |field: &str| -> Option<String> {
            settings
                .pairs
                .iter()
                .find(|(_, k)| k == field)
                .and_then(|(c, _)| sheet.headers.get(*c).cloned())
        };
        let mut plan = Plan::default();
        // 1. Cells → values through the registry.
        let mut inputs: Vec<Option<Map<String, Value>>> = Vec::with_capacity(sheet.rows.len());
        // Rows with cells that did not convert, and the rest of their
        // values: checked too, so one pass reports all of a row's faults.
        let mut partial: HashMap<usize, Map<String, Value>> = HashMap::new();
        for (line, cells) in &sheet.rows {
            let mut input = Map::new();
            let mut ok = true;
            for (col, key) in &settings.pairs {
                let cell = cells.get(*col).map_or("", String::as_str);
                let Some(f) = form.def.field(key) else { continue };
                let Ok(t) = self.field_types().get(&f.kind) else {
                    continue;
                };
                match t.parse_import(cell, f) {
                    Ok(Value::Null) => {}
                    Ok(v) => {
                        input.insert(key.clone(), t.normalize(v, f));
                    }
                    Err(message) => {
                        ok = false;
                        plan.errors.push(RowError {
                            row: *line,
                            column: sheet.headers.get(*col).cloned(),
                            field: Some(key.clone()),
                            value: Some(cut(cell)),
                            message,
                        });
                    }
                }
            }
            if ok {
                inputs.push(Some(input));
            } else {
                partial.insert(inputs.len(), input);
                inputs.push(None);
            }
        }
        // 2. Keys: duplicates within the file, then existing records, looked
        //    up in batches.
        let mut existing: HashMap<String, Vec<record::Model>> = HashMap::new();
        let mut first_row_of_key: HashMap<String, usize> = HashMap::new();
        let mut key_of_row: Vec<Option<String>> = vec![None; sheet.rows.len()];
        if let (Some(key), ImportMode::Upsert | ImportMode::Update) = (&settings.key, settings.mode) {
            for (i, ((line, _), input)) in sheet.rows.iter().zip(&inputs).enumerate() {
                let Some(input) = input else { continue };
                let Some(v) = input.get(key) else {
                    if settings.mode == ImportMode::Update {
                        plan.errors.push(RowError {
                            row: *line,
                            column: header_of(key),
                            field: Some(key.clone()),
                            value: Some(String::new()),
                            message: format!(
                                "the key `{key}` is empty: update mode needs it to find the record"
                            ),
                        });
                    }
                    continue;
                };
                let k = key_text(v);
                if let Some(first) = first_row_of_key.get(&k) {
                    plan.errors.push(RowError {
                        row: *line,
                        column: header_of(key),
                        field: Some(key.clone()),
                        value: Some(cut(&super::plain(v))),
                        message: format!("row {first} has the same key; each key may appear once"),
                    });
                    continue;
                }
                first_row_of_key.insert(k.clone(), *line);
                if let Some(slot) = key_of_row.get_mut(i) {
                    *slot = Some(k);
                }
            }
            let values: Vec<Value> = inputs
                .iter()
                .zip(&key_of_row)
                .filter_map(|(input, k)| k.as_ref().and(input.as_ref()?.get(key)).cloned())
                .collect();
            for chunk in values.chunks(LOOKUP_CHUNK) {
                for row in self.records_where_in(ctx, form, key, chunk).await? {
                    if let Some(v) = row.data.get(key) {
                        existing.entry(key_text(v)).or_default().push(row);
                    }
                }
            }
        }
        // 3. Every row as a record write.
        let errs_before: BTreeSet<usize> = plan.errors.iter().map(|e| e.row).collect();
        for (i, ((line, _), input)) in sheet.rows.iter().zip(inputs).enumerate() {
            if i % PROGRESS_EVERY == 0 && i > 0 {
                report(i as u64);
                tokio::task::yield_now().await;
            }
            let Some(input) = input else {
                if let Some(rest) = partial.remove(&i) {
                    let reported: Vec<Option<String>> = plan
                        .errors
                        .iter()
                        .filter(|e| e.row == *line)
                        .map(|e| e.field.clone())
                        .collect();
                    if let Err(errs) = self.prepare_data(ctx, form, &Map::new(), rest, WriteKind::Create) {
                        for e in errs
                            .into_iter()
                            .filter(|e| !reported.contains(&Some(e.field.clone())))
                        {
                            plan.errors.push(RowError {
                                row: *line,
                                column: header_of(&e.field),
                                field: (!e.field.is_empty()).then(|| e.field.clone()),
                                value: None,
                                message: e.message,
                            });
                        }
                    }
                }
                continue;
            };
            if errs_before.contains(line) {
                continue;
            }
            let key = settings.key.as_deref().unwrap_or_default();
            let target = key_of_row
                .get(i)
                .and_then(Option::as_ref)
                .and_then(|k| existing.get(k));
            let target = match (settings.mode, target) {
                (ImportMode::Insert, _) | (ImportMode::Upsert, None) => None,
                (_, Some(rows)) if rows.len() > 1 => {
                    plan.errors.push(RowError {
                        row: *line,
                        column: header_of(key),
                        field: Some(key.to_owned()),
                        value: input.get(key).map(|v| cut(&super::plain(v))),
                        message: format!("{} records have this key; make it unique first", rows.len()),
                    });
                    continue;
                }
                (_, Some(rows)) => rows.first(),
                (ImportMode::Update, None) => {
                    if input.contains_key(key) {
                        plan.errors.push(RowError {
                            row: *line,
                            column: header_of(key),
                            field: Some(key.to_owned()),
                            value: input.get(key).map(|v| cut(&super::plain(v))),
                            message: format!(
                                "no record has this `{key}`; update mode changes existing records only"
                            ),
                        });
                    }
                    continue;
                }
            };
            let (base, kind) = match target {
                Some(row) => (
                    row.data.as_object().cloned().unwrap_or_default(),
                    WriteKind::Update,
                ),
                None => (Map::new(), WriteKind::Create),
            };
            let result = self
                .check_size(&input)
                .map_err(|e| vec![crate::error::FieldError::new("", e.to_string())])
                .and_then(|()| self.prepare_data(ctx, form, &base, input, kind));
            match result {
                Err(errs) => {
                    for e in errs {
                        let field = (!e.field.is_empty()).then(|| e.field.clone());
                        plan.errors.push(RowError {
                            row: *line,
                            column: field
                                .as_deref()
                                .and_then(|f| header_of(f.split('/').next().unwrap_or(f))),
                            field,
                            value: None,
                            message: e.message,
                        });
                    }
                }
                Ok(data) => match target {
                    Some(row) if Some(&Value::Object(data.clone())) == Some(&row.data) => plan.unchanged += 1,
                    Some(row) => plan.ops.push((*line, Op::Update(Box::new(row.clone()), data))),
                    None => plan.ops.push((*line, Op::Insert(data))),
                },
            }
        }
        report(sheet.rows.len() as u64);
        // 4. References and unique values over the whole file.
        self.check_import_references(ctx, form, &mut plan, &header_of)
            .await?;
        self.check_import_uniques(ctx, form, &mut plan, &header_of)
            .await?;
        plan.errors.sort_by_key(|e| e.row);
        Ok(plan)
    }

    /// Live records of the form whose `key` is one of `values` (every
    /// page).
    async fn records_where_in(
        &self,
        ctx: &Ctx,
        form: &LoadedForm,
        key: &str,
        values: &[Value],
    ) -> Result<Vec<record::Model>, ExchangeError> {
        let mut out = Vec::new();
        let mut cursor = None;
        // Updates reach only the records the caller may edit.
        let reach = self
            .form_access(ctx, form)
            .await?
            .reach(crate::auth::access::FormAction::Edit);
        loop {
            let request = QueryRequest {
                filter: Some(Filter::from_json(
                    &json!({"field": key, "op": "in", "value": values}),
                )?),
                // Ordered by the key itself, so the planner walks the key's
                // index instead of scanning the form in id order.
                sort: vec![SortKey {
                    field: key.to_owned(),
                    dir: SortDir::Asc,
                }],
                limit: Some(1000),
                cursor,
                reach: reach.clone(),
                ..QueryRequest::default()
            };
            let page = list_records(
                self.db(),
                ctx.tenant,
                form.id,
                self.field_types(),
                &form.def,
                &request,
                RecordScope::Live,
                QueryEnv::at(ctx.now),
            )
            .await?;
            out.extend(page.rows);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// Relation and member values must name live records / members of the
    /// tenant: one `in` query per field per 500 distinct ids.
    async fn check_import_references(
        &self,
        ctx: &Ctx,
        form: &LoadedForm,
        plan: &mut Plan,
        header_of: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<(), ExchangeError> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
        let mut bad: Vec<(usize, RowError)> = Vec::new();
        for f in &form.def.fields {
            let Some(reference) = self.field_types().get(&f.kind).ok().and_then(|t| t.reference(f)) else {
                continue;
            };
            let wanted: BTreeSet<String> = plan
                .ops
                .iter()
                .flat_map(|(_, op)| ids_of(op_data(op).get(&f.key)))
                .collect();
            let wanted: Vec<String> = wanted.into_iter().collect();
            let mut found: BTreeSet<String> = BTreeSet::new();
            for chunk in wanted.chunks(LOOKUP_CHUNK) {
                let rows: Vec<String> = match &reference {
                    Reference::Record { form_id } => {
                        record::Entity::find()
                            .select_only()
                            .column(record::Column::Id)
                            .filter(record::Column::TenantId.eq(ctx.tenant.to_string()))
                            .filter(record::Column::FormId.eq(form_id.as_str()))
                            .filter(record::Column::Id.is_in(chunk.iter().cloned()))
                            .filter(record::Column::DeletedAt.is_null())
                            .into_tuple()
                            .all(self.db().conn())
                            .await?
                    }
                    Reference::Member => {
                        membership::Entity::find()
                            .select_only()
                            .column(membership::Column::UserId)
                            .filter(membership::Column::TenantId.eq(ctx.tenant.to_string()))
                            .filter(membership::Column::UserId.is_in(chunk.iter().cloned()))
                            .into_tuple()
                            .all(self.db().conn())
                            .await?
                    }
                };
                found.extend(rows);
            }
            let what = match reference {
                Reference::Member => "member of this tenant",
                Reference::Record { .. } => "record of the related form",
            };
            for (i, (line, op)) in plan.ops.iter().enumerate() {
                for missing in ids_of(op_data(op).get(&f.key))
                    .into_iter()
                    .filter(|id| !found.contains(id))
                {
                    bad.push((
                        i,
                        RowError {
                            row: *line,
                            column: header_of(&f.key),
                            field: Some(f.key.clone()),
                            value: Some(missing.clone()),
                            message: format!("`{missing}` is not a {what}"),
                        },
                    ));
                }
            }
        }
        drop_bad_ops(plan, bad);
        Ok(())
    }

    /// Unique fields: a value may appear once in the file and must not be
    /// held by a live record other than the one the row updates.
    async fn check_import_uniques(
        &self,
        ctx: &Ctx,
        form: &LoadedForm,
        plan: &mut Plan,
        header_of: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<(), ExchangeError> {
        let mut bad: Vec<(usize, RowError)> = Vec::new();
        for f in form.def.fields.iter().filter(|f| f.unique) {
            let mut first: HashMap<String, usize> = HashMap::new();
            let mut values: Vec<Value> = Vec::new();
            for (i, (line, op)) in plan.ops.iter().enumerate() {
                let Some(v) = op_data(op).get(&f.key) else {
                    continue;
                };
                if let Op::Update(row, _) = op
                    && row.data.get(&f.key) == Some(v)
                {
                    // Unchanged: it already holds the value.
                    first.entry(key_text(v)).or_insert(*line);
                    continue;
                }
                match first.get(&key_text(v)) {
                    Some(other) => bad.push((
                        i,
                        RowError {
                            row: *line,
                            column: header_of(&f.key),
                            field: Some(f.key.clone()),
                            value: Some(cut(&super::plain(v))),
                            message: format!("row {other} has the same value; `{}` must be unique", f.key),
                        },
                    )),
                    None => {
                        first.insert(key_text(v), *line);
                        values.push(v.clone());
                    }
                }
            }
            let mut holders: HashMap<String, Vec<String>> = HashMap::new();
            for chunk in values.chunks(LOOKUP_CHUNK) {
                for row in self.records_where_in(ctx, form, &f.key, chunk).await? {
                    if let Some(v) = row.data.get(&f.key) {
                        holders.entry(key_text(v)).or_default().push(row.id.clone());
                    }
                }
            }
            for (i, (line, op)) in plan.ops.iter().enumerate() {
                let Some(v) = op_data(op).get(&f.key) else {
                    continue;
                };
                let own = match op {
                    Op::Update(row, _) => Some(row.id.as_str()),
                    Op::Insert(_) => None,
                };
                let taken = holders
                    .get(&key_text(v))
                    .is_some_and(|ids| ids.iter().any(|id| Some(id.as_str()) != own));
                if taken {
                    bad.push((
                        i,
                        RowError {
                            row: *line,
                            column: header_of(&f.key),
                            field: Some(f.key.clone()),
                            value: Some(cut(&super::plain(v))),
                            message: format!(
                                "another record already has this value; `{}` must be unique",
                                f.key
                            ),
                        },
                    ));
                }
            }
        }
        drop_bad_ops(plan, bad);
        Ok(())
    }
}

fn op_data(op: &Op) -> &Map<String, Value> {
    match op {
        Op::Insert(d) | Op::Update(_, d) => d,
    }
}

/// Moves rows with errors from the plan's writes to its errors.
fn drop_bad_ops(plan: &mut Plan, bad: Vec<(usize, RowError)>) {
    if bad.is_empty() {
        return;
    }
    let drop: BTreeSet<usize> = bad.iter().map(|(i, _)| *i).collect();
    plan.errors.extend(bad.into_iter().map(|(_, e)| e));
    let mut i = 0;
    plan.ops.retain(|_| {
        let keep = !drop.contains(&i);
        i += 1;
        keep
    });
}
