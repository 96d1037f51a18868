//! Export of a query (filter, sort, search, chosen fields) as CSV or XLSX.
//!
//! CSV streams: the header and first page are produced before the answer
//! starts (so a bad filter is still an error answer), then one page of
//! 1,000 records per [`Exported::next_chunk`] through the keyset cursor;
//! memory stays at one page whatever the row count. XLSX is written by
//! rust_xlsxwriter in constant-memory mode on a blocking thread, fed page
//! by page, into a temporary file that is then streamed. Every cell is the
//! field registry's `display` text.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::ExchangeError;
use super::read::Format;
use crate::Engine;
use crate::auth::access::FormAction;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::ids::FormId;
use crate::meta::field_type::SqlCast;
use crate::meta::form::LoadedForm;
use crate::meta::model::FieldDef;
use crate::query::model::QueryRequest;
use crate::query::run::{RecordScope, list_records};
use crate::store::StoreError;
use crate::store::entity::record;

/// Records per page read.
const PAGE: u32 = 1000;
/// Most data rows of an XLSX sheet (Excel's limit less the header).
pub const MAX_XLSX_ROWS: u64 = 1_048_575;
/// Bytes per chunk of a streamed XLSX file.
const FILE_CHUNK: usize = 64 * 1024;

/// What to export.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// `csv` (default) or `xlsx`.
    #[serde(default = "default_format")]
    pub format: Format,
    /// The query language's filter.
    #[serde(default)]
    pub filter: Option<Value>,
    /// The query language's sort keys.
    #[serde(default)]
    pub sort: Option<Value>,
    /// Text search.
    #[serde(default)]
    pub q: Option<String>,
    /// Field keys, in column order; every importable field when absent.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
}

const fn default_format() -> Format {
    Format::Csv
}

/// An export under way: its format, a file name, and its bytes chunk by
/// chunk.
pub struct Exported {
    /// The format.
    pub format: Format,
    /// A file name for `Content-Disposition` (the form's name).
    pub file_name: String,
    state: State,
}

enum State {
    Csv(Box<CsvPages>),
    File(std::fs::File),
    Done,
}

struct CsvPages {
    engine: Engine,
    ctx: Ctx,
    form: Arc<LoadedForm>,
    fields: Vec<FieldDef>,
    request: QueryRequest,
    first: Option<Vec<u8>>,
    finished: bool,
}

fn io_error(e: impl std::fmt::Display) -> ExchangeError {
    StoreError::Corrupt(format!("export: {e}")).into()
}

/// Prefixes `'` to text a spreadsheet would run as a formula (`=`, `+`,
/// `-`, `@` first, unless it is a number); the CSV reader strips it again.
#[must_use]
pub fn escape_formula(s: &str) -> std::borrow::Cow<'_, str> {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && s.trim().parse::<f64>().is_err() {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

impl Exported {
    /// The next bytes of the file; `None` at its end.
    ///
    /// # Errors
    /// `internal` when a page cannot be read (the answer is cut short).
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ExchangeError> {
        match &mut self.state {
            State::Done => Ok(None),
            State::File(f) => {
                let mut buf = vec![0u8; FILE_CHUNK];
                let n = f.read(&mut buf).map_err(io_error)?;
                if n == 0 {
                    self.state = State::Done;
                    return Ok(None);
                }
                buf.truncate(n);
                Ok(Some(buf))
            }
            State::Csv(pages) => {
                if let Some(first) = pages.first.take() {
                    return Ok(Some(first));
                }
                if pages.finished {
                    self.state = State::Done;
                    return Ok(None);
                }
                let rows = pages.next_rows().await?;
                let mut out = Vec::with_capacity(rows.len() * 64);
                {
                    let mut w = csv::Writer::from_writer(&mut out);
                    for row in &rows {
                        w.write_record(row.iter().map(|c| escape_formula(c).into_owned()))
                            .map_err(io_error)?;
                    }
                    w.flush().map_err(io_error)?;
                }
                Ok(Some(out))
            }
        }
    }

    /// The whole file (tests, small exports).
    ///
    /// # Errors
    /// As [`Exported::next_chunk`].
    pub async fn collect(mut self) -> Result<Vec<u8>, ExchangeError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            out.extend(chunk);
        }
        Ok(out)
    }
}

impl CsvPages {
    /// The display cells of the next page.
    async fn next_rows(&mut self) -> Result<Vec<Vec<String>>, ExchangeError> {
        let env = self
            .engine
            .query_env(&self.ctx, self.request.filter.as_ref())
            .await?;
        let page = list_records(
            self.engine.db(),
            self.ctx.tenant,
            self.form.id,
            self.engine.field_types(),
            &self.form.def,
            &self.request,
            RecordScope::Live,
            env,
        )
        .await?;
        self.request.cursor.clone_from(&page.next_cursor);
        self.finished = page.next_cursor.is_none();
        Ok(page.rows.iter().map(|r| self.cells(r)).collect())
    }

    fn cells(&self, row: &record::Model) -> Vec<String> {
        self.fields
            .iter()
            .map(
                |f| match (row.data.get(&f.key), self.engine.field_types().get(&f.kind)) {
                    (None | Some(Value::Null), _) => String::new(),
                    (Some(v), Ok(t)) => t.display(v, f),
                    (Some(v), Err(_)) => super::plain(v),
                },
            )
            .collect()
    }
}

impl Engine {
    /// Starts an export of the form's live records matching the request.
    ///
    /// # Errors
    /// `not_found` (form), `invalid_query` (filter, sort, search),
    /// `validation_failed` (unknown field; over 1,048,575 rows for XLSX).
    pub async fn export_records(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        req: ExportRequest,
    ) -> Result<Exported, ExchangeError> {
        require(ctx, Action::ReadData)?;
        let form = self.load_form(ctx, form_id).await?;
        let access = self.form_access(ctx, &form).await?;
        access.require(FormAction::View)?;
        access.require(FormAction::Export)?;
        // Hidden fields are neither columns nor usable in the filter or sort.
        let form = Arc::new(LoadedForm {
            def: access.visible_def(&form.def).into_owned(),
            ..(*form).clone()
        });
        let fields = self.export_fields(&form, req.fields.as_deref())?;
        let mut query = json!({ "limit": PAGE });
        if let Some(f) = req.filter
            && let Some(o) = query.as_object_mut()
        {
            o.insert("filter".to_owned(), f);
        }
        if let Some(s) = req.sort
            && let Some(o) = query.as_object_mut()
        {
            o.insert("sort".to_owned(), s);
        }
        if let Some(q) = req.q
            && let Some(o) = query.as_object_mut()
        {
            o.insert("q".to_owned(), Value::String(q));
        }
        let mut request = QueryRequest::from_json(&query)?;
        request.reach = access.reach(FormAction::Export);
        let headers = headers_of(&fields);
        let file_name = format!("{}.{}", form.def.name, req.format.as_str());
        let mut pages = CsvPages {
            engine: self.clone(),
            ctx: ctx.clone(),
            form,
            fields,
            request,
            first: None,
            finished: false,
        };
        let state = match req.format {
            Format::Csv => {
                let rows = pages.next_rows().await?;
                let mut out = b"\xEF\xBB\xBF".to_vec();
                {
                    let mut w = csv::Writer::from_writer(&mut out);
                    w.write_record(&headers).map_err(io_error)?;
                    for row in &rows {
                        w.write_record(row.iter().map(|c| escape_formula(c).into_owned()))
                            .map_err(io_error)?;
                    }
                    w.flush().map_err(io_error)?;
                }
                pages.first = Some(out);
                State::Csv(Box::new(pages))
            }
            Format::Xlsx => State::File(write_xlsx(&mut pages, headers).await?),
        };
        Ok(Exported {
            format: req.format,
            file_name,
            state,
        })
    }

    fn export_fields(
        &self,
        form: &LoadedForm,
        keys: Option<&[String]>,
    ) -> Result<Vec<FieldDef>, ExchangeError> {
        match keys {
            None => Ok(form
                .def
                .fields
                .iter()
                .filter(|f| {
                    self.field_types()
                        .get(&f.kind)
                        .is_ok_and(|t| t.sql_cast_for(f) != SqlCast::None)
                })
                .cloned()
                .collect()),
            Some(keys) => {
                let mut errs = Vec::new();
                let mut out = Vec::new();
                for (i, k) in keys.iter().enumerate() {
                    match form.def.field(k) {
                        Some(f) => out.push(f.clone()),
                        None => errs.push(FieldError::new(
                            format!("fields/{i}"),
                            format!("`{k}` is not a field of this form"),
                        )),
                    }
                }
                if out.is_empty() && errs.is_empty() {
                    errs.push(FieldError::new("fields", "name at least one field"));
                }
                if errs.is_empty() {
                    Ok(out)
                } else {
                    Err(ExchangeError::InvalidExport(errs))
                }
            }
        }
    }
}

/// Column headers: labels, or keys where two fields share a label.
fn headers_of(fields: &[FieldDef]) -> Vec<String> {
    fields
        .iter()
        .map(|f| {
            let shared = fields.iter().filter(|g| g.label == f.label).count() > 1;
            if shared || f.label.trim().is_empty() {
                f.key.clone()
            } else {
                f.label.clone()
            }
        })
        .collect()
}

/// Writes every page into an XLSX file on a blocking thread; returns the
/// file rewound.
async fn write_xlsx(pages: &mut CsvPages, headers: Vec<String>) -> Result<std::fs::File, ExchangeError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Vec<String>>>(2);
    let writer = tokio::task::spawn_blocking(move || -> Result<std::fs::File, String> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let bold = rust_xlsxwriter::Format::new().set_bold();
        let sheet = book
            .add_worksheet_with_constant_memory()
            .map_err(|e| e.to_string())?;
        for (c, h) in headers.iter().enumerate() {
            let c = u16::try_from(c).map_err(|e| e.to_string())?;
            sheet
                .write_string_with_format(0, c, h, &bold)
                .map_err(|e| e.to_string())?;
        }
        let mut r: u32 = 1;
        for rows in rx {
            for row in rows {
                for (c, cell) in row.iter().enumerate() {
                    if cell.is_empty() {
                        continue;
                    }
                    let c = u16::try_from(c).map_err(|e| e.to_string())?;
                    sheet.write_string(r, c, cell).map_err(|e| e.to_string())?;
                }
                r += 1;
            }
        }
        let mut file = tempfile::tempfile().map_err(|e| e.to_string())?;
        book.save_to_writer(&mut file).map_err(|e| e.to_string())?;
        file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
        Ok(file)
    });
    let mut written: u64 = 0;
    let mut fed = Ok(());
    while !pages.finished {
        let rows = match pages.next_rows().await {
            Ok(r) => r,
            Err(e) => {
                fed = Err(e);
                break;
            }
        };
        written += rows.len() as u64;
        if written > MAX_XLSX_ROWS {
            fed = Err(ExchangeError::InvalidExport(vec![FieldError::new(
                "format",
                format!("an XLSX sheet holds at most {MAX_XLSX_ROWS} rows; export CSV or narrow the filter"),
            )]));
            break;
        }
        if tx.send(rows).is_err() {
            break;
        }
    }
    drop(tx);
    let file = writer.await.map_err(io_error)?;
    fed?;
    file.map_err(io_error)
}
