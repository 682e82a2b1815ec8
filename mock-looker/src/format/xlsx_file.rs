//! `xlsx`: a real workbook (Office Open XML SpreadsheetML), written as its parts into a
//! deflate zip with the `zip` crate: one sheet per Look (per tile of a dashboard), a bold
//! header row of the flat table's labels, then the rows with numbers and booleans as such
//! (text when formatting is applied and the cell has a rendered value), nulls as empty cells.
//! Strings are inline (`t="inlineStr"`), which every reader accepts, so a sheet streams row by
//! row with no shared-string table held in memory.
//!
//! Why not `rust_xlsxwriter`: it forces `zip`'s zopfli and zlib-rs backends, which cost about a
//! minute of CPU in a cold build and switch the whole workspace's `flate2` to zlib-rs (whose
//! fast level compresses differently, breaking mock-dataplane's gzip-bomb test). The parts
//! below are the minimal set Excel, LibreOffice and calamine open.
//!
//! Entries carry the zip epoch and no creation time is written, so the same Look gives the
//! same bytes whenever it is written.

use std::io::Write;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::WriteOptions;
use super::table;
use crate::look::{Look, Scalar};

/// Excel's limit on the characters of a cell.
const MAX_CELL_CHARS: usize = 32_767;
/// Excel's limit on columns.
const MAX_COLUMNS: usize = 16_384;

const CONTENT_TYPES_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>"#;
const ROOT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
/// Two fonts (regular, bold) and two cell formats: 0 plain, 1 bold (the header).
const STYLES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>"#;
const SHEET_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#;

pub(super) fn workbook(looks: &[(&str, &Look)], opts: WriteOptions) -> Result<Vec<u8>, String> {
    let err = |e: zip::result::ZipError| format!("xlsx: {e}");
    let io = |e: std::io::Error| format!("xlsx: {e}");
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default());
    let mut zw = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut used = std::collections::HashSet::new();
    let names: Vec<String> = looks
        .iter()
        .enumerate()
        .map(|(i, (title, _))| sheet_name(title, i, &mut used))
        .collect();

    let mut types = CONTENT_TYPES_HEAD.to_owned();
    let mut book = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>"#,
    );
    let mut rels = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    );
    for (i, name) in names.iter().enumerate() {
        let n = i + 1;
        types.push_str(&format!(
            r#"<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#
        ));
        book.push_str(&format!(
            r#"<sheet name="{}" sheetId="{n}" r:id="rId{n}"/>"#,
            xml_escape(name)
        ));
        rels.push_str(&format!(
            r#"<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{n}.xml"/>"#
        ));
    }
    types.push_str("</Types>");
    book.push_str("</sheets></workbook>");
    rels.push_str(&format!(
        r#"<Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#,
        names.len() + 1
    ));
    for (path, text) in [
        ("[Content_Types].xml", types.as_str()),
        ("_rels/.rels", ROOT_RELS),
        ("xl/workbook.xml", book.as_str()),
        ("xl/_rels/workbook.xml.rels", rels.as_str()),
        ("xl/styles.xml", STYLES),
    ] {
        zw.start_file(path, options).map_err(err)?;
        zw.write_all(text.as_bytes()).map_err(io)?;
    }
    for (i, (_, look)) in looks.iter().enumerate() {
        zw.start_file(format!("xl/worksheets/sheet{}.xml", i + 1), options)
            .map_err(err)?;
        write_sheet(&mut zw, look, opts).map_err(io)?;
    }
    Ok(zw.finish().map_err(err)?.into_inner())
}

/// Writes one sheet, a row at a time.
fn write_sheet(out: &mut impl Write, look: &Look, opts: WriteOptions) -> std::io::Result<()> {
    let cols = table::flat_columns(look, opts);
    let mut buf = String::from(SHEET_HEAD);
    buf.push_str(r#"<row r="1">"#);
    for (c, h) in table::headers(look, &cols)
        .iter()
        .take(MAX_COLUMNS)
        .enumerate()
    {
        inline_string(&mut buf, c, 1, h, true);
    }
    buf.push_str("</row>");
    let mut cursor = look.rows();
    let mut r: u64 = 2;
    let mut s = String::new();
    while let Some(row) = cursor.next_row() {
        buf.push_str(&format!(r#"<row r="{r}">"#));
        for (c, cell) in table::cells(&cols, row).take(MAX_COLUMNS).enumerate() {
            if opts.apply_formatting
                && let Some(rendered) = &cell.rendered
            {
                inline_string(&mut buf, c, r, rendered, false);
                continue;
            }
            match &cell.value {
                Scalar::Null => {}
                Scalar::Bool(b) => {
                    buf.push_str(&format!(
                        r#"<c r="{}{r}" t="b"><v>{}</v></c>"#,
                        column_name(c),
                        u8::from(*b)
                    ));
                }
                // Beyond 2^53 a double loses digits: such ids stay text.
                Scalar::Int(n) if n.unsigned_abs() <= 1 << 53 => {
                    buf.push_str(&format!(r#"<c r="{}{r}"><v>{n}</v></c>"#, column_name(c)));
                }
                Scalar::Float(f) if f.is_finite() => {
                    buf.push_str(&format!(
                        r#"<c r="{}{r}"><v>{}</v></c>"#,
                        column_name(c),
                        ryu::Buffer::new().format_finite(*f)
                    ));
                }
                other => {
                    s.clear();
                    other.to_text(&mut s);
                    inline_string(&mut buf, c, r, &s, false);
                }
            }
        }
        buf.push_str("</row>");
        r += 1;
        if buf.len() >= 64 * 1024 {
            out.write_all(buf.as_bytes())?;
            buf.clear();
        }
    }
    buf.push_str("</sheetData></worksheet>");
    out.write_all(buf.as_bytes())
}

fn inline_string(buf: &mut String, col: usize, row: u64, text: &str, bold: bool) {
    let clipped: String = text.chars().take(MAX_CELL_CHARS).collect();
    buf.push_str(&format!(
        r#"<c r="{}{row}" t="inlineStr"{}><is><t xml:space="preserve">{}</t></is></c>"#,
        column_name(col),
        if bold { r#" s="1""# } else { "" },
        xml_escape(&clipped)
    ));
}

/// `A`, `B`, … `Z`, `AA`, … for a 0-based column.
fn column_name(mut col: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).expect("ASCII")
}

/// Escapes XML text; characters XML 1.0 cannot hold at all (most control characters) are
/// dropped.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// A valid, unique sheet name from a title: at most 31 characters, none of `[]:*?/\`, not
/// starting or ending with `'`.
fn sheet_name(title: &str, i: usize, used: &mut std::collections::HashSet<String>) -> String {
    let clean: String = title
        .chars()
        .filter(|c| !"[]:*?/\\".contains(*c) && !c.is_control())
        .take(28)
        .collect();
    let clean = clean.trim().trim_matches('\'').trim().to_owned();
    let mut name = if clean.is_empty() {
        format!("Sheet{}", i + 1)
    } else {
        clean
    };
    if !used.insert(name.to_lowercase()) {
        name = format!("{} {}", name.chars().take(24).collect::<String>(), i + 1);
        used.insert(name.to_lowercase());
    }
    name
}

#[cfg(test)]
mod tests {
    #[test]
    fn column_names_run_like_excels() {
        let names: Vec<String> = [0, 25, 26, 27, 51, 52, 701, 702, 16_383]
            .into_iter()
            .map(super::column_name)
            .collect();
        assert_eq!(
            names,
            ["A", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA", "XFD"]
        );
    }
}
