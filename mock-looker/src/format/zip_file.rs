//! `csv_zip`: a zip (deflate) holding the CSV of the Look, or one CSV per tile of a
//! dashboard, named after the Look or tile. The CSV is the `csv` format's, written row by row
//! into the compressor. Entries carry the zip epoch (1980-01-01) as their time, so the same
//! Look gives the same bytes on any date.

use std::io::Write;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::file::file_stem;
use super::{Format, LookChunks, WriteOptions};
use crate::look::Look;

pub(super) fn csv_zip(
    looks: &[(&str, &Look)],
    opts: WriteOptions,
    ran_at: &str,
) -> Result<Vec<u8>, String> {
    let err = |e: zip::result::ZipError| format!("csv_zip: {e}");
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default());
    let mut zw = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut names = std::collections::HashSet::new();
    for (i, (title, look)) in looks.iter().enumerate() {
        let mut name = format!("{}.csv", file_stem(title));
        if !names.insert(name.clone()) {
            name = format!("{}_{}.csv", file_stem(title), i + 1);
            names.insert(name.clone());
        }
        zw.start_file(name, options).map_err(err)?;
        for chunk in LookChunks::new(look, Format::Csv, opts, ran_at) {
            zw.write_all(&chunk).map_err(|e| format!("csv_zip: {e}"))?;
        }
    }
    Ok(zw.finish().map_err(err)?.into_inner())
}
