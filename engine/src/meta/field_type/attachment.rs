//! `attachment`: files of any type, uploaded through `POST /api/v1/files`.
//! [`FileKind`] also serves `image` (see [`super::image`]).

use serde_json::Value;

use super::{FieldType, FileRule, Kinded, SqlCast, config_schema, display_files, files_schema, non_blank};
use crate::meta::model::FieldDef;

/// Kind string of [`ATTACHMENT`].
pub const KIND: &str = "attachment";

/// A kind whose values are arrays of uploaded files; the record writer
/// claims them for the record and stores `{id, name, size, mime}` for each.
#[derive(Debug, Clone, Copy)]
pub struct FileKind {
    kind: &'static str,
    rule: FileRule,
    schema: fn() -> &'static Value,
}

impl FileKind {
    pub(crate) const fn new(kind: &'static str, images_only: bool, schema: fn() -> &'static Value) -> Self {
        Self {
            kind,
            rule: FileRule { images_only },
            schema,
        }
    }
}

fn schema() -> &'static Value {
    config_schema!("attachment")
}

/// Files of any type.
pub const ATTACHMENT: FileKind = FileKind::new(KIND, false, schema);

impl Kinded for FileKind {
    fn kind(&self) -> &'static str {
        self.kind
    }
}

impl FieldType for FileKind {
    fn config_schema(&self) -> &Value {
        (self.schema)()
    }

    fn value_schema(&self, field: &FieldDef) -> Value {
        files_schema(field)
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::None
    }

    fn parse_import(&self, cell: &str, _field: &FieldDef) -> Result<Value, String> {
        match non_blank(cell) {
            None => Ok(Value::Null),
            Some(_) => Err("files are uploaded, not imported from text; leave the cell blank".to_owned()),
        }
    }

    fn display(&self, value: &Value, _field: &FieldDef) -> String {
        display_files(value)
    }

    fn file_rule(&self) -> Option<FileRule> {
        Some(self.rule)
    }
}
