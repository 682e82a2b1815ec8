//! The flat table every tabular format shows (csv, txt, html, xlsx, the PDF and PNG
//! renderings): which columns, their headers, and each cell's text.
//!
//! A pivoted measure becomes one column per pivot key, headed `"<label> <pivot key>"`, as in
//! the csv writer; with `apply` (visualization settings applied) the Look's hidden fields are
//! left out.

use crate::look::{Cell, CellData, Look};

use super::WriteOptions;

/// Indices of the Look's columns a flat format writes.
pub(crate) fn flat_columns(look: &Look, opts: WriteOptions) -> Vec<usize> {
    look.columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| !(opts.apply_vis && c.hidden_in_vis))
        .map(|(i, _)| i)
        .collect()
}

/// The headers of the flat table, pivoted measures spread over their pivot keys.
pub(crate) fn headers(look: &Look, cols: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    for &i in cols {
        let c = &look.columns()[i];
        if c.pivoted {
            for p in look.pivots() {
                out.push(format!("{} {}", c.label, p.key));
            }
        } else {
            out.push(c.label.clone());
        }
    }
    out
}

/// The cells of one row in the order of [`headers`].
pub(crate) fn cells<'r>(cols: &'r [usize], row: &'r [CellData]) -> impl Iterator<Item = &'r Cell> {
    cols.iter().flat_map(move |&i| match &row[i] {
        CellData::Plain(cell) => std::slice::from_ref(cell).iter(),
        CellData::Pivoted(cells) => cells.iter(),
    })
}

/// The text a flat format shows for a cell: the rendered value when formatting is applied
/// and there is one, else the raw value (empty for null).
pub(crate) fn cell_text(cell: &Cell, opts: WriteOptions, out: &mut String) {
    match (&cell.rendered, opts.apply_formatting) {
        (Some(r), true) => out.push_str(r),
        _ => cell.value.to_text(out),
    }
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn html_escape_into(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(html_escape::encode_double_quoted_attribute(s).as_bytes());
}
