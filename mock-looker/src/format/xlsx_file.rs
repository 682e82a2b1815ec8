//! `xlsx`: a real workbook, written with `rust_xlsxwriter` (default features off): one sheet
//! per Look (per tile of a dashboard), a bold header row of the flat table's labels, then the
//! rows with numbers and booleans as such (text when formatting is applied and the cell has a
//! rendered value), nulls as empty cells. The document's creation time is the data's
//! `ran_at`, so the same Look gives the same bytes whenever it is written.

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format as CellFormat, Workbook};

use super::WriteOptions;
use super::table;
use crate::look::{Look, Scalar};

/// Excel's limit on the characters of a cell.
const MAX_CELL_CHARS: usize = 32_767;
/// Excel's limit on columns.
const MAX_COLUMNS: usize = 16_384;

pub(super) fn workbook(
    looks: &[(&str, &Look)],
    opts: WriteOptions,
    ran_at: &str,
) -> Result<Vec<u8>, String> {
    let err = |e: rust_xlsxwriter::XlsxError| format!("xlsx: {e}");
    let mut wb = Workbook::new();
    if let Some(t) = ran_at
        .get(..19)
        .and_then(|s| ExcelDateTime::parse_from_str(s).ok())
    {
        wb.set_properties(&DocProperties::new().set_creation_datetime(&t));
    }
    let bold = CellFormat::new().set_bold();
    let mut used = std::collections::HashSet::new();
    for (i, (title, look)) in looks.iter().enumerate() {
        let ws = wb.add_worksheet();
        let name = sheet_name(title, i, &mut used);
        ws.set_name(name).map_err(err)?;
        let cols = table::flat_columns(look, opts);
        for (c, h) in table::headers(look, &cols)
            .iter()
            .take(MAX_COLUMNS)
            .enumerate()
        {
            ws.write_string_with_format(0, c as u16, clip(h), &bold)
                .map_err(err)?;
        }
        let mut cursor = look.rows();
        let mut r: u32 = 1;
        let mut s = String::new();
        while let Some(row) = cursor.next_row() {
            for (c, cell) in table::cells(&cols, row).take(MAX_COLUMNS).enumerate() {
                let c = c as u16;
                if opts.apply_formatting
                    && let Some(rendered) = &cell.rendered
                {
                    ws.write_string(r, c, clip(rendered)).map_err(err)?;
                    continue;
                }
                match &cell.value {
                    Scalar::Null => {}
                    Scalar::Bool(b) => {
                        ws.write_boolean(r, c, *b).map_err(err)?;
                    }
                    // Beyond 2^53 a double loses digits: such ids stay text.
                    Scalar::Int(n) if n.unsigned_abs() <= 1 << 53 => {
                        ws.write_number(r, c, *n as f64).map_err(err)?;
                    }
                    Scalar::Float(f) if f.is_finite() => {
                        ws.write_number(r, c, *f).map_err(err)?;
                    }
                    other => {
                        s.clear();
                        other.to_text(&mut s);
                        ws.write_string(r, c, clip(&s)).map_err(err)?;
                    }
                }
            }
            r += 1;
        }
    }
    wb.save_to_buffer().map_err(err)
}

fn clip(s: &str) -> String {
    s.chars().take(MAX_CELL_CHARS).collect()
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
