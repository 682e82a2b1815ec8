//! Whole files: `xlsx`, `csv_zip`, `wysiwyg_pdf`, `assembled_pdf` and `wysiwyg_png`, of a Look
//! or of a dashboard's tiles.
//!
//! These are built in memory and sent whole (base64 in a push, as is in a download), so their
//! size is bounded: a Look sent as a workbook or a zip has at most [`MAX_FILE_ROWS`] rows (a
//! bigger one is refused before sending, naming the limit), and the PDF and PNG renderings show
//! each table's first [`PREVIEW_ROWS`] rows, as a rendered page shows what fits, with a line
//! counting the rows left out.

use base64::Engine as _;
use bytes::Bytes;

use super::{Format, LookChunks, WriteOptions, pdf_file, png_file, table, xlsx_file, zip_file};
use crate::look::{Dashboard, Look};

/// Most rows of a Look written into a workbook or a zip (the files are built in memory).
pub const MAX_FILE_ROWS: u64 = 100_000;
/// Rows of each table a PDF or PNG rendering shows.
pub const PREVIEW_ROWS: usize = 20;
/// Characters of a cell a PDF or PNG rendering shows; longer texts end in `...`.
const MAX_CELL_CHARS: usize = 32;

/// What is sent: a Look, or a dashboard (its tiles).
#[derive(Debug, Clone)]
pub enum Content {
    Look(Look),
    Dashboard(Dashboard),
}

impl Content {
    pub fn title(&self) -> &str {
        match self {
            Content::Look(l) => l.title(),
            Content::Dashboard(d) => &d.title,
        }
    }

    /// Rows in all (of every tile of a dashboard).
    pub fn row_count(&self) -> u64 {
        match self {
            Content::Look(l) => l.row_count(),
            Content::Dashboard(d) => d.tiles().iter().map(|t| t.look.row_count()).sum(),
        }
    }
}

/// Why `content` cannot be written in `format`, as a user would read it; None when it can.
pub fn refusal(content: &Content, format: Format) -> Option<String> {
    match content {
        Content::Dashboard(_) if !Format::DASHBOARD.contains(&format) => Some(format!(
            "Looker sends a dashboard as {}, not {format}",
            Format::DASHBOARD.map(Format::as_str).join(", ")
        )),
        Content::Look(look)
            if matches!(format, Format::Xlsx | Format::CsvZip)
                && look.row_count() > MAX_FILE_ROWS =>
        {
            Some(format!(
                "the Look has {} rows; the mock builds {format} files of at most {MAX_FILE_ROWS} rows",
                look.row_count()
            ))
        }
        Content::Dashboard(d) if format == Format::CsvZip => d
            .tiles()
            .iter()
            .find(|t| t.look.row_count() > MAX_FILE_ROWS)
            .map(|t| {
                format!(
                    "tile {:?} has {} rows; the mock builds csv_zip files of at most {MAX_FILE_ROWS} rows per tile",
                    t.title,
                    t.look.row_count()
                )
            }),
        _ => None,
    }
}

/// Builds the file of a whole-file format. Errors only for what [`refusal`] reports, or if a
/// writer library fails.
pub fn render_file(
    content: &Content,
    format: Format,
    opts: WriteOptions,
    ran_at: &str,
) -> Result<Vec<u8>, String> {
    if let Some(why) = refusal(content, format) {
        return Err(why);
    }
    let looks: Vec<(&str, &Look)> = match content {
        Content::Look(l) => vec![(l.title(), l)],
        Content::Dashboard(d) => d
            .tiles()
            .iter()
            .map(|t| (t.title.as_str(), &t.look))
            .collect(),
    };
    match format {
        Format::Xlsx => xlsx_file::workbook(&looks, opts),
        Format::CsvZip => zip_file::csv_zip(&looks, opts, ran_at),
        Format::WysiwygPdf | Format::AssembledPdf => Ok(pdf_file::pdf(
            &document(content, &looks, opts, ran_at),
            format == Format::AssembledPdf,
        )),
        Format::WysiwygPng => png_file::png(&document(content, &looks, opts, ran_at)),
        other => Err(format!("{other} is not a file format")),
    }
}

/// Streams `content` in `format`: a Look's text formats row by row ([`LookChunks`]), files
/// whole. With `embed`, the output is the inside of a JSON string between its prefix and
/// suffix (escaped text, or base64 for a file), for a pushed `attachment.data`.
pub fn chunks(
    content: &Content,
    format: Format,
    opts: WriteOptions,
    ran_at: &str,
    embed: Option<(Vec<u8>, Vec<u8>)>,
) -> Result<Box<dyn Iterator<Item = Bytes> + Send>, String> {
    match content {
        Content::Look(look) if !format.is_binary() => {
            let c = LookChunks::new(look, format, opts, ran_at);
            Ok(Box::new(match embed {
                Some((prefix, suffix)) => c.embedded(prefix, suffix),
                None => c,
            }))
        }
        _ => {
            let file = render_file(content, format, opts, ran_at)?;
            let out = match embed {
                Some((mut prefix, suffix)) => {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(&file);
                    prefix.extend_from_slice(b64.as_bytes());
                    prefix.extend_from_slice(&suffix);
                    prefix
                }
                None => file,
            };
            Ok(Box::new(std::iter::once(Bytes::from(out))))
        }
    }
}

/// The tables a PDF or PNG rendering shows.
pub(crate) struct Document {
    pub title: String,
    /// One line under the title: the dashboard's description or the Look's model and explore,
    /// and when the data ran.
    pub subtitle: String,
    pub blocks: Vec<Block>,
}

/// One table: a Look, or a dashboard tile.
pub(crate) struct Block {
    /// The tile's title (empty for a Look, whose title is the document's).
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Rows not shown.
    pub more: u64,
}

fn document(
    content: &Content,
    looks: &[(&str, &Look)],
    opts: WriteOptions,
    ran_at: &str,
) -> Document {
    let (title, subtitle) = match content {
        Content::Look(l) => (
            l.title().to_owned(),
            format!("{}::{} - ran at {ran_at}", l.def().model, l.def().explore),
        ),
        Content::Dashboard(d) => (
            d.title.clone(),
            match &d.description {
                Some(desc) => format!("{desc} - ran at {ran_at}"),
                None => format!("Dashboard {} - ran at {ran_at}", d.id),
            },
        ),
    };
    let blocks = looks
        .iter()
        .map(|(tile_title, look)| {
            let cols = table::flat_columns(look, opts);
            let mut cursor = look.rows();
            let mut rows = Vec::new();
            let mut s = String::new();
            while rows.len() < PREVIEW_ROWS {
                let Some(row) = cursor.next_row() else { break };
                rows.push(
                    table::cells(&cols, row)
                        .map(|c| {
                            s.clear();
                            table::cell_text(c, opts, &mut s);
                            clip(&s)
                        })
                        .collect(),
                );
            }
            Block {
                title: match content {
                    Content::Look(_) => String::new(),
                    Content::Dashboard(_) => (*tile_title).to_owned(),
                },
                headers: table::headers(look, &cols)
                    .iter()
                    .map(|h| clip(h))
                    .collect(),
                more: look.row_count().saturating_sub(rows.len() as u64),
                rows,
            }
        })
        .collect();
    Document {
        title: clip_to(&title, 120),
        subtitle: clip_to(&subtitle, 160),
        blocks,
    }
}

fn clip(s: &str) -> String {
    clip_to(s, MAX_CELL_CHARS)
}

fn clip_to(s: &str, max: usize) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() <= max {
        s
    } else {
        let mut t: String = s.chars().take(max - 3).collect();
        t.push_str("...");
        t
    }
}

/// A file name from a title: letters, digits, `-`, `_` and spaces kept, the rest `_`.
pub(crate) fn file_stem(title: &str) -> String {
    let s: String = title
        .chars()
        .take(80)
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim().to_owned();
    if s.is_empty() { "look".into() } else { s }
}
