//! Reading an uploaded file into a header and rows of cell text.
//!
//! CSV: UTF-8 with or without a byte-order mark; the delimiter (comma,
//! semicolon or tab) is taken from the header line. XLSX: the first
//! worksheet through calamine; date cells become ISO dates
//! (`2026-11-23`, or `2026-11-23 14:05:00` with a time), whole numbers lose
//! their `.0` (a phone number typed into a number cell stays a phone
//! number). Rows keep their line number in the file so errors point at the
//! row the user sees; blank rows are skipped.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

use super::ExchangeError;

/// Most data rows in one import.
pub const MAX_ROWS: usize = 200_000;
/// Most columns in one import.
pub const MAX_COLUMNS: usize = 500;
/// Longest header cell kept, in characters.
const MAX_HEADER_CHARS: usize = 200;

/// A file format the exchange reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Comma-separated values, UTF-8.
    Csv,
    /// Office Open XML workbook.
    Xlsx,
}

impl Format {
    /// The wire and stored form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(Self::Csv),
            "xlsx" => Some(Self::Xlsx),
            _ => None,
        }
    }

    /// The MIME type of a file of this format.
    #[must_use]
    pub const fn mime(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xlsx => XLSX_MIME,
        }
    }

    /// The format of an upload from its content type, or from its first
    /// bytes when the type says nothing (`application/octet-stream`).
    ///
    /// # Errors
    /// `bad_request` ([`ExchangeError::UnsupportedFormat`]).
    pub fn detect(content_type: &str, bytes: &[u8]) -> Result<Self, ExchangeError> {
        let ct = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match ct.as_str() {
            "text/csv" | "application/csv" | "text/plain" | "text/comma-separated-values" => Ok(Self::Csv),
            XLSX_MIME => Ok(Self::Xlsx),
            "" | "application/octet-stream" if bytes.starts_with(b"PK\x03\x04") => Ok(Self::Xlsx),
            "" | "application/octet-stream" => Ok(Self::Csv),
            _ => Err(ExchangeError::UnsupportedFormat(ct)),
        }
    }
}

/// The MIME type of XLSX.
pub const XLSX_MIME: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A file read into text cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sheet {
    /// The header cells (the first non-blank row).
    pub headers: Vec<String>,
    /// Data rows: the row's number in the file (from 1, the header's
    /// included) and its cells.
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Reads a file of `format`.
///
/// # Errors
/// `bad_request` when the file cannot be read; `payload_too_large` over
/// [`MAX_ROWS`] rows or [`MAX_COLUMNS`] columns.
pub fn read(format: Format, bytes: &[u8]) -> Result<Sheet, ExchangeError> {
    let sheet = match format {
        Format::Csv => read_csv(bytes)?,
        Format::Xlsx => read_xlsx(bytes)?,
    };
    if sheet.headers.is_empty() {
        return Err(ExchangeError::Unreadable("it has no header row".to_owned()));
    }
    Ok(sheet)
}

fn too_many_rows() -> ExchangeError {
    ExchangeError::TooLarge(format!("an import holds at most {MAX_ROWS} rows; split the file"))
}

fn check_width(n: usize) -> Result<(), ExchangeError> {
    if n > MAX_COLUMNS {
        return Err(ExchangeError::TooLarge(format!(
            "an import holds at most {MAX_COLUMNS} columns, not {n}"
        )));
    }
    Ok(())
}

fn is_blank(cells: &[String]) -> bool {
    cells.iter().all(|c| c.trim().is_empty())
}

/// A CSV cell written with a leading apostrophe to keep a spreadsheet from
/// running it as a formula (`'=1+2`) reads back without it; see
/// [`super::export::escape_formula`].
fn unescape_formula(cell: String) -> String {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest.to_owned(),
        _ => cell,
    }
}

fn finish_header(cells: Vec<String>) -> Vec<String> {
    cells
        .into_iter()
        .map(|h| h.trim().chars().take(MAX_HEADER_CHARS).collect())
        .collect()
}

fn read_csv(bytes: &[u8]) -> Result<Sheet, ExchangeError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if std::str::from_utf8(bytes).is_err() {
        return Err(ExchangeError::Unreadable(
            "it is not UTF-8 text; save it as \"CSV UTF-8\" and upload it again".to_owned(),
        ));
    }
    let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| first_line.iter().filter(|b| *b == d).count())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut sheet = Sheet::default();
    let mut record = csv::StringRecord::new();
    let (mut line, mut counted) = (1usize, 0usize);
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(ExchangeError::Unreadable(e.to_string())),
        }
        // The reader's own line count skips blank lines: count newlines
        // up to the record's first byte instead.
        let mut start = record
            .position()
            .map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
        // The position may sit before blank lines the reader skipped.
        while let Some(b'\n' | b'\r') = bytes.get(start) {
            start += 1;
        }
        line += bytes
            .get(counted..start)
            .map_or(0, |b| b.iter().filter(|c| **c == b'\n').count());
        counted = counted.max(start);
        let cells: Vec<String> = record.iter().map(|c| unescape_formula(c.to_owned())).collect();
        if is_blank(&cells) {
            continue;
        }
        check_width(cells.len())?;
        if sheet.headers.is_empty() {
            sheet.headers = finish_header(cells);
            continue;
        }
        if sheet.rows.len() >= MAX_ROWS {
            return Err(too_many_rows());
        }
        sheet.rows.push((line, cells));
    }
    Ok(sheet)
}

fn read_xlsx(bytes: &[u8]) -> Result<Sheet, ExchangeError> {
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| ExchangeError::Unreadable(e.to_string()))?;
    let range = match book.worksheet_range_at(0) {
        Some(Ok(range)) => range,
        Some(Err(e)) => return Err(ExchangeError::Unreadable(e.to_string())),
        None => {
            return Err(ExchangeError::Unreadable(
                "the workbook has no worksheet".to_owned(),
            ));
        }
    };
    let (first_row, _) = range.start().unwrap_or((0, 0));
    check_width(range.width())?;
    let mut sheet = Sheet::default();
    for (i, row) in range.rows().enumerate() {
        let cells: Vec<String> = row.iter().map(cell_text).collect();
        if is_blank(&cells) {
            continue;
        }
        let line = usize::try_from(first_row).unwrap_or(0) + i + 1;
        if sheet.headers.is_empty() {
            sheet.headers = finish_header(cells);
            continue;
        }
        if sheet.rows.len() >= MAX_ROWS {
            return Err(too_many_rows());
        }
        sheet.rows.push((line, cells));
    }
    Ok(sheet)
}

/// The text of one XLSX cell, as the field registry's import parsers read it.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(n) => n.to_string(),
        Data::Float(x) => float_text(*x),
        Data::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
        Data::DateTime(d) => match d.as_datetime() {
            Some(dt) if d.is_datetime() => {
                if dt.time() == chrono::NaiveTime::MIN {
                    dt.format("%Y-%m-%d").to_string()
                } else {
                    dt.format("%Y-%m-%d %H:%M:%S").to_string()
                }
            }
            _ => float_text(d.as_f64()),
        },
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// A number as typed: whole numbers without a fraction (`13800138000`),
/// others in their shortest exact form.
fn float_text(x: f64) -> String {
    // 2^53: beyond it an f64 no longer holds every integer exactly.
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        #[allow(clippy::cast_possible_truncation)] // integral and below 2^53
        return (x as i64).to_string();
    }
    x.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_bom_semicolons_and_blank_rows() {
        let bytes = "\u{feff}Name;Phone\n\nAnn;138\n;\nBob;139\n".as_bytes();
        let sheet = read(Format::Csv, bytes).unwrap();
        assert_eq!(sheet.headers, vec!["Name", "Phone"]);
        assert_eq!(sheet.rows.len(), 2);
        assert_eq!(sheet.rows[0], (3, vec!["Ann".to_owned(), "138".to_owned()]));
        assert_eq!(sheet.rows[1].0, 5);
    }

    #[test]
    fn csv_keeps_line_numbers_of_quoted_newlines_and_unescapes_formulas() {
        let bytes = b"a,b\n\"x\ny\",1\n'=1+2,2\n";
        let sheet = read(Format::Csv, bytes).unwrap();
        assert_eq!(sheet.rows[0].0, 2);
        assert_eq!(sheet.rows[1], (4, vec!["=1+2".to_owned(), "2".to_owned()]));
    }

    #[test]
    fn non_utf8_csv_is_refused() {
        let err = read(Format::Csv, b"\xc4\xe3\xba\xc3,x\n").unwrap_err();
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }

    #[test]
    fn formats_from_content_type_or_magic() {
        assert_eq!(
            Format::detect("text/csv; charset=utf-8", b"").unwrap(),
            Format::Csv
        );
        assert_eq!(Format::detect(XLSX_MIME, b"").unwrap(), Format::Xlsx);
        assert_eq!(
            Format::detect("application/octet-stream", b"PK\x03\x04..").unwrap(),
            Format::Xlsx
        );
        assert!(Format::detect("application/json", b"{}").is_err());
        assert_eq!(float_text(13_800_138_000.0), "13800138000");
        assert_eq!(float_text(12.5), "12.5");
    }
}
