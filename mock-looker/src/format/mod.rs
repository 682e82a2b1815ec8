//! Writers for every data format Looker sends to actions.
//!
//! Output is written straight into byte buffers, row by row: no `serde_json::Value` is built per
//! row. [`LookChunks`] turns a Look into an iterator of ~64 KiB chunks, optionally escaped as the
//! inside of a JSON string (for a pushed `attachment.data`), so even a pushed payload streams.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::look::{Cell, CellData, Look, RowCursor, Scalar};

pub mod file;
mod meta;
mod pdf_file;
mod png_file;
mod table;
mod xlsx_file;
mod zip_file;

use meta::{applied_filters, query_result_id, sql_text, top_level_pivots};
pub use meta::{field_meta, fields_json};

/// Data formats of the Action API: all 13 Looker sends (src/api_types/integration.ts).
///
/// The first seven are text written row by row; `html` is a text table written row by row
/// too; `xlsx`, `csv_zip`, `wysiwyg_pdf`, `assembled_pdf` and `wysiwyg_png` are files built
/// whole (see [`file`]) and pushed base64-encoded with a `;base64` mimetype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    JsonDetail,
    JsonDetailLiteStream,
    Json,
    JsonLabel,
    InlineJson,
    Csv,
    Txt,
    Html,
    Xlsx,
    CsvZip,
    WysiwygPdf,
    AssembledPdf,
    WysiwygPng,
}

impl Format {
    pub const ALL: [Format; 13] = [
        Format::JsonDetailLiteStream,
        Format::JsonDetail,
        Format::Json,
        Format::JsonLabel,
        Format::InlineJson,
        Format::Csv,
        Format::Txt,
        Format::Html,
        Format::Xlsx,
        Format::CsvZip,
        Format::WysiwygPdf,
        Format::AssembledPdf,
        Format::WysiwygPng,
    ];

    /// The formats Looker renders a dashboard in (its tiles as a PDF or PNG, or a zip of one
    /// CSV per tile).
    pub const DASHBOARD: [Format; 4] = [
        Format::WysiwygPdf,
        Format::AssembledPdf,
        Format::WysiwygPng,
        Format::CsvZip,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::JsonDetail => "json_detail",
            Format::JsonDetailLiteStream => "json_detail_lite_stream",
            Format::Json => "json",
            Format::JsonLabel => "json_label",
            Format::InlineJson => "inline_json",
            Format::Csv => "csv",
            Format::Txt => "txt",
            Format::Html => "html",
            Format::Xlsx => "xlsx",
            Format::CsvZip => "csv_zip",
            Format::WysiwygPdf => "wysiwyg_pdf",
            Format::AssembledPdf => "assembled_pdf",
            Format::WysiwygPng => "wysiwyg_png",
        }
    }

    /// The content type of the file (a download URL's `Content-Type`). The attachment of a
    /// push says [`attachment_mimetype`](Self::attachment_mimetype).
    pub fn mimetype(self) -> &'static str {
        match self {
            Format::Csv => "text/csv",
            Format::Txt => "text/plain",
            Format::Html => "text/html",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::CsvZip => "application/zip",
            Format::WysiwygPdf | Format::AssembledPdf => "application/pdf",
            Format::WysiwygPng => "image/png",
            _ => "application/json",
        }
    }

    /// `attachment.mimetype`: binary files are base64 in `attachment.data`, which the hub
    /// learns from a `;base64` suffix (action_request.ts).
    pub fn attachment_mimetype(self) -> String {
        if self.is_binary() {
            format!("{};base64", self.mimetype())
        } else {
            self.mimetype().to_owned()
        }
    }

    /// All JSON formats use `.json` (src/hub/utils.ts).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Txt => "txt",
            Format::Html => "html",
            Format::Xlsx => "xlsx",
            Format::CsvZip => "zip",
            Format::WysiwygPdf | Format::AssembledPdf => "pdf",
            Format::WysiwygPng => "png",
            _ => "json",
        }
    }

    /// Files built whole and sent base64-encoded (not text written row by row).
    pub fn is_binary(self) -> bool {
        matches!(
            self,
            Format::Xlsx
                | Format::CsvZip
                | Format::WysiwygPdf
                | Format::AssembledPdf
                | Format::WysiwygPng
        )
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown or unsupported format {s:?}"))
    }
}

/// `formatted`/`unformatted` and `apply`/`noapply`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOptions {
    /// `formatted`: flat formats carry rendered values instead of raw ones.
    pub apply_formatting: bool,
    /// `apply`: visualization settings applied (hidden fields dropped from flat formats).
    pub apply_vis: bool,
}

/// Writes one Look in one format. Call [`header`](Self::header), [`row`](Self::row) per row,
/// then [`footer`](Self::footer).
pub struct FormatWriter {
    look: Look,
    format: Format,
    opts: WriteOptions,
    /// Indices of the columns written by flat formats.
    cols: Vec<usize>,
    ran_at: String,
    rows_written: u64,
    scratch: String,
}

impl FormatWriter {
    pub fn new(look: &Look, format: Format, opts: WriteOptions, ran_at: &str) -> FormatWriter {
        let flat = !matches!(format, Format::JsonDetail | Format::JsonDetailLiteStream);
        let cols = if flat {
            table::flat_columns(look, opts)
        } else {
            (0..look.columns().len()).collect()
        };
        FormatWriter {
            look: look.clone(),
            format,
            opts,
            cols,
            ran_at: ran_at.to_owned(),
            rows_written: 0,
            scratch: String::new(),
        }
    }

    pub fn header(&mut self, out: &mut Vec<u8>) {
        match self.format {
            Format::JsonDetail => {
                let def = self.look.def();
                let head = json!({
                    "status": "complete",
                    "from_cache": false,
                    "id": query_result_id(&self.look),
                    "result_source": "query",
                    "supports_pivot_in_db": true,
                    "null_sort_treatment": "low",
                    "expired": false,
                    "ran_at": self.ran_at,
                    "runtime": "0.042",
                    "added_params": {"sorts": def.sorts},
                    "sql": sql_text(&self.look),
                    "sql_explain": format!("EXPLAIN {}", sql_text(&self.look)),
                });
                let mut s = serde_json::to_vec(&head).expect("serialisable");
                s.pop(); // reopen the object
                out.extend_from_slice(&s);
                out.extend_from_slice(b",\"fields\":");
                out.extend_from_slice(&fields_json(&self.look));
                let tail = json!({
                    "fill_fields": [],
                    "has_totals": false,
                    "has_row_totals": false,
                    "applied_filters": applied_filters(&self.look),
                    "applied_filter_expression": null,
                    "explore": {
                        "name": def.explore,
                        "label": def.explore_label.clone().unwrap_or_else(|| crate::look::default_label(&def.explore)),
                        "description": null
                    },
                    "timezone": def.timezone.clone().unwrap_or_else(|| "UTC".into()),
                });
                let t = serde_json::to_vec(&tail).expect("serialisable");
                out.push(b',');
                out.extend_from_slice(&t[1..t.len() - 1]);
                if !self.look.pivots().is_empty() {
                    out.extend_from_slice(b",\"pivots\":");
                    out.extend_from_slice(&top_level_pivots(&self.look));
                }
                out.extend_from_slice(b",\"data\":[");
            }
            Format::JsonDetailLiteStream => {
                out.extend_from_slice(b"{\"ran_at\":");
                write_json_str(out, &self.ran_at);
                out.extend_from_slice(b",\"fields\":");
                out.extend_from_slice(&fields_json(&self.look));
                out.extend_from_slice(b",\"data\":[");
            }
            Format::Json | Format::JsonLabel | Format::InlineJson => out.push(b'['),
            Format::Html => {
                out.extend_from_slice(
                    b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>",
                );
                table::html_escape_into(out, self.look.title());
                out.extend_from_slice(b"</title></head>\n<body>\n<table>\n<thead><tr>");
                for h in table::headers(&self.look, &self.cols) {
                    out.extend_from_slice(b"<th>");
                    table::html_escape_into(out, &h);
                    out.extend_from_slice(b"</th>");
                }
                out.extend_from_slice(b"</tr></thead>\n<tbody>\n");
            }
            // Files are built whole by `file`, never row by row.
            Format::Xlsx
            | Format::CsvZip
            | Format::WysiwygPdf
            | Format::AssembledPdf
            | Format::WysiwygPng => {}
            Format::Csv | Format::Txt => {
                let sep = if self.format == Format::Csv {
                    b','
                } else {
                    b'\t'
                };
                let mut first = true;
                for &i in &self.cols {
                    let c = &self.look.columns()[i];
                    if c.pivoted {
                        for p in self.look.pivots() {
                            if !first {
                                out.push(sep);
                            }
                            first = false;
                            let h = format!("{} {}", c.label, p.key);
                            self.write_text_cell(out, &h);
                        }
                    } else {
                        if !first {
                            out.push(sep);
                        }
                        first = false;
                        let h = c.label.clone();
                        self.write_text_cell(out, &h);
                    }
                }
            }
        }
    }

    pub fn row(&mut self, out: &mut Vec<u8>, row: &[CellData]) {
        let first = self.rows_written == 0;
        self.rows_written += 1;
        let columns = self.look.columns();
        match self.format {
            Format::JsonDetail | Format::JsonDetailLiteStream => {
                let lite = self.format == Format::JsonDetailLiteStream;
                if !first {
                    out.push(b',');
                }
                out.push(b'{');
                for (i, (c, data)) in columns.iter().zip(row).enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_json_str(out, &c.def.name);
                    out.push(b':');
                    match data {
                        CellData::Plain(cell) => write_detail_cell(out, cell, lite),
                        CellData::Pivoted(cells) => {
                            out.push(b'{');
                            for (j, (p, cell)) in self.look.pivots().iter().zip(cells).enumerate() {
                                if j > 0 {
                                    out.push(b',');
                                }
                                write_json_str(out, &p.key);
                                out.push(b':');
                                write_detail_cell(out, cell, lite);
                            }
                            out.push(b'}');
                        }
                    }
                }
                out.push(b'}');
            }
            Format::Json | Format::JsonLabel | Format::InlineJson => {
                if !first {
                    out.push(b',');
                }
                out.push(b'{');
                for (n, &i) in self.cols.iter().enumerate() {
                    let c = &columns[i];
                    if n > 0 {
                        out.push(b',');
                    }
                    let key = if self.format == Format::JsonLabel {
                        &c.label
                    } else {
                        &c.def.name
                    };
                    write_json_str(out, key);
                    out.push(b':');
                    match &row[i] {
                        CellData::Plain(cell) => self.write_flat_value(out, cell),
                        CellData::Pivoted(cells) => {
                            out.push(b'{');
                            for (j, (p, cell)) in self.look.pivots().iter().zip(cells).enumerate() {
                                if j > 0 {
                                    out.push(b',');
                                }
                                write_json_str(out, &p.key);
                                out.push(b':');
                                self.write_flat_value(out, cell);
                            }
                            out.push(b'}');
                        }
                    }
                }
                out.push(b'}');
            }
            Format::Html => {
                let mut s = std::mem::take(&mut self.scratch);
                out.extend_from_slice(b"<tr>");
                for cell in table::cells(&self.cols, row) {
                    s.clear();
                    table::cell_text(cell, self.opts, &mut s);
                    out.extend_from_slice(b"<td>");
                    table::html_escape_into(out, &s);
                    out.extend_from_slice(b"</td>");
                }
                out.extend_from_slice(b"</tr>\n");
                self.scratch = s;
            }
            Format::Xlsx
            | Format::CsvZip
            | Format::WysiwygPdf
            | Format::AssembledPdf
            | Format::WysiwygPng => {}
            Format::Csv | Format::Txt => {
                let sep = if self.format == Format::Csv {
                    b','
                } else {
                    b'\t'
                };
                out.push(b'\n');
                let mut firstcol = true;
                for n in 0..self.cols.len() {
                    let i = self.cols[n];
                    match &row[i] {
                        CellData::Plain(cell) => {
                            if !firstcol {
                                out.push(sep);
                            }
                            firstcol = false;
                            self.write_text_value(out, cell);
                        }
                        CellData::Pivoted(cells) => {
                            for cell in cells {
                                if !firstcol {
                                    out.push(sep);
                                }
                                firstcol = false;
                                self.write_text_value(out, cell);
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn footer(&mut self, out: &mut Vec<u8>) {
        match self.format {
            Format::JsonDetail => out.extend_from_slice(b"],\"drill_menu_build_time\":0.001}"),
            Format::JsonDetailLiteStream => out.extend_from_slice(b"]}"),
            Format::Json | Format::JsonLabel | Format::InlineJson => out.push(b']'),
            Format::Csv | Format::Txt => out.push(b'\n'),
            Format::Html => out.extend_from_slice(b"</tbody>\n</table>\n</body></html>\n"),
            Format::Xlsx
            | Format::CsvZip
            | Format::WysiwygPdf
            | Format::AssembledPdf
            | Format::WysiwygPng => {}
        }
    }

    fn write_flat_value(&self, out: &mut Vec<u8>, cell: &Cell) {
        match (&cell.rendered, self.opts.apply_formatting) {
            (Some(r), true) => write_json_str(out, r),
            _ => write_scalar(out, &cell.value),
        }
    }

    fn write_text_value(&mut self, out: &mut Vec<u8>, cell: &Cell) {
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        match (&cell.rendered, self.opts.apply_formatting) {
            (Some(r), true) => s.push_str(r),
            _ => cell.value.to_text(&mut s),
        }
        self.write_text_cell(out, &s);
        self.scratch = s;
    }

    fn write_text_cell(&self, out: &mut Vec<u8>, s: &str) {
        if self.format == Format::Csv {
            if s.contains([',', '"', '\n', '\r']) {
                out.push(b'"');
                for b in s.bytes() {
                    if b == b'"' {
                        out.push(b'"');
                    }
                    out.push(b);
                }
                out.push(b'"');
            } else {
                out.extend_from_slice(s.as_bytes());
            }
        } else {
            for b in s.bytes() {
                out.push(if matches!(b, b'\t' | b'\n' | b'\r') {
                    b' '
                } else {
                    b
                });
            }
        }
    }

    pub fn rows_written(&self) -> u64 {
        self.rows_written
    }
}

/// Writes a json_detail cell: `{value, rendered?, html?, filterable_value?, links}`; the lite
/// format keeps only `value` and `rendered`.
fn write_detail_cell(out: &mut Vec<u8>, cell: &Cell, lite: bool) {
    out.extend_from_slice(b"{\"value\":");
    write_scalar(out, &cell.value);
    if let Some(r) = &cell.rendered {
        out.extend_from_slice(b",\"rendered\":");
        write_json_str(out, r);
    }
    if lite {
        out.push(b'}');
        return;
    }
    if let Some(h) = &cell.html {
        out.extend_from_slice(b",\"html\":");
        write_json_str(out, h);
    }
    if let Some(f) = &cell.filterable_value {
        out.extend_from_slice(b",\"filterable_value\":");
        write_json_str(out, f);
    }
    out.extend_from_slice(b",\"links\":[");
    for (i, l) in cell.links.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"label\":");
        write_json_str(out, &l.label);
        out.extend_from_slice(b",\"url\":");
        write_json_str(out, &l.url);
        out.extend_from_slice(b",\"type\":");
        write_json_str(out, &l.kind);
        if let Some(t) = &l.type_label {
            out.extend_from_slice(b",\"type_label\":");
            write_json_str(out, t);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

pub fn write_scalar(out: &mut Vec<u8>, v: &Scalar) {
    match v {
        Scalar::Null => out.extend_from_slice(b"null"),
        Scalar::Bool(true) => out.extend_from_slice(b"true"),
        Scalar::Bool(false) => out.extend_from_slice(b"false"),
        Scalar::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Scalar::Float(f) if f.is_finite() => {
            out.extend_from_slice(ryu::Buffer::new().format_finite(*f).as_bytes())
        }
        Scalar::Float(_) => out.extend_from_slice(b"null"),
        Scalar::Str(s) => write_json_str(out, s),
    }
}

/// Writes `s` as a JSON string literal.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escape_json_into(out, s.as_bytes());
    out.push(b'"');
}

/// Escapes bytes as the inside of a JSON string. UTF-8 multi-byte sequences pass through
/// untouched, so escaping chunk by chunk gives the same result as escaping the whole text.
pub fn escape_json_into(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 15) as usize],
                ]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Iterates a Look's output as chunks of about `chunk_size` bytes. With `json_string`, the
/// output is escaped as the body of a JSON string and wrapped between `prefix` and `suffix`
/// (used to stream a pushed execute body whose `attachment.data` is the whole result).
pub struct LookChunks {
    writer: FormatWriter,
    cursor: RowCursor,
    stage: Stage,
    chunk_size: usize,
    json_string: bool,
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    raw: Vec<u8>,
    out: Vec<u8>,
    /// Bytes of formatted data produced (before escaping).
    pub data_bytes: u64,
}

#[derive(PartialEq)]
enum Stage {
    Start,
    Rows,
    Done,
}

impl LookChunks {
    pub fn new(look: &Look, format: Format, opts: WriteOptions, ran_at: &str) -> LookChunks {
        LookChunks {
            writer: FormatWriter::new(look, format, opts, ran_at),
            cursor: look.rows(),
            stage: Stage::Start,
            chunk_size: 64 * 1024,
            json_string: false,
            prefix: Vec::new(),
            suffix: Vec::new(),
            raw: Vec::new(),
            out: Vec::new(),
            data_bytes: 0,
        }
    }

    /// Embeds the output as an escaped JSON string between `prefix` and `suffix`.
    pub fn embedded(mut self, prefix: Vec<u8>, suffix: Vec<u8>) -> LookChunks {
        self.json_string = true;
        self.prefix = prefix;
        self.suffix = suffix;
        self
    }

    pub fn chunk_size(mut self, n: usize) -> LookChunks {
        self.chunk_size = n.max(1);
        self
    }

    fn flush_raw(&mut self) {
        self.data_bytes += self.raw.len() as u64;
        if self.json_string {
            escape_json_into(&mut self.out, &self.raw);
        } else {
            self.out.extend_from_slice(&self.raw);
        }
        self.raw.clear();
    }
}

impl Iterator for LookChunks {
    type Item = Bytes;
    fn next(&mut self) -> Option<Bytes> {
        if self.stage == Stage::Done {
            return None;
        }
        if self.stage == Stage::Start {
            let prefix = std::mem::take(&mut self.prefix);
            self.out.extend_from_slice(&prefix);
            self.writer.header(&mut self.raw);
            self.stage = Stage::Rows;
        }
        loop {
            if !self.json_string && !self.raw.is_empty() {
                self.flush_raw();
            }
            if self.raw.len() + self.out.len() >= self.chunk_size {
                self.flush_raw();
                let next = Vec::with_capacity(self.chunk_size + 4096);
                return Some(Bytes::from(std::mem::replace(&mut self.out, next)));
            }
            // Unescaped output is written straight into `out` (no second copy).
            let target = if self.json_string {
                &mut self.raw
            } else {
                &mut self.out
            };
            match self.cursor.next_row() {
                Some(row) => {
                    let before = target.len();
                    self.writer.row(target, row);
                    if !self.json_string {
                        self.data_bytes += (target.len() - before) as u64;
                    }
                }
                None => {
                    self.writer.footer(&mut self.raw);
                    self.flush_raw();
                    let suffix = std::mem::take(&mut self.suffix);
                    self.out.extend_from_slice(&suffix);
                    self.stage = Stage::Done;
                    return Some(Bytes::from(std::mem::take(&mut self.out)));
                }
            }
        }
    }
}

/// Writes a whole Look into memory (small Looks, tests, API `run_look`). A file format the
/// Look cannot be written in (see [`file::refusal`]) gives the reason as text.
pub fn render(look: &Look, format: Format, opts: WriteOptions, ran_at: &str) -> Vec<u8> {
    if format.is_binary() {
        return file::render_file(&file::Content::Look(look.clone()), format, opts, ran_at)
            .unwrap_or_else(String::into_bytes);
    }
    let mut out = Vec::new();
    for c in LookChunks::new(look, format, opts, ran_at) {
        out.extend_from_slice(&c);
    }
    out
}
