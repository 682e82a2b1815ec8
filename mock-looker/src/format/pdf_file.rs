//! `wysiwyg_pdf` and `assembled_pdf`: a PDF that renders the document's title and each table's
//! first rows, written with `pdf-writer` in the standard Helvetica fonts (no font embedded,
//! text in WinAnsiEncoding: characters outside it show as `?`).
//!
//! `wysiwyg_pdf` lays the tables one after another as the dashboard shows them, breaking to a
//! new page when one does not fit; `assembled_pdf` puts each tile on its own page. A Look is
//! one table either way.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::file::{Block, Document};

/// A4 landscape, in points.
const PAGE_W: f32 = 842.0;
const PAGE_H: f32 = 595.0;
const MARGIN: f32 = 36.0;
const ROW_H: f32 = 12.0;
const CELL_SIZE: f32 = 8.0;
const TITLE_SIZE: f32 = 16.0;
const TILE_TITLE_SIZE: f32 = 11.0;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// Renders `doc`; `page_per_block`: each table on its own page (`assembled_pdf`).
pub(super) fn pdf(doc: &Document, page_per_block: bool) -> Vec<u8> {
    let mut pages: Vec<Content> = Vec::new();
    let mut page = Content::new();
    let mut y = PAGE_H - MARGIN;
    text(
        &mut page,
        BOLD,
        TITLE_SIZE,
        MARGIN,
        y - TITLE_SIZE,
        &doc.title,
    );
    y -= TITLE_SIZE + 6.0;
    text(&mut page, REGULAR, 9.0, MARGIN, y - 9.0, &doc.subtitle);
    y -= 9.0 + 14.0;
    let mut page_used = false;
    for block in &doc.blocks {
        let height = block_height(block);
        if page_used && (page_per_block || y - height < MARGIN) {
            pages.push(std::mem::replace(&mut page, Content::new()));
            y = PAGE_H - MARGIN;
        }
        y = draw_block(&mut page, block, y);
        page_used = true;
    }
    pages.push(page);

    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first_page = 6;
    let page_ids: Vec<Ref> = (0..pages.len())
        .map(|i| Ref::new(first_page + 2 * i as i32))
        .collect();
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().copied())
        .count(pages.len() as i32);
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info)
        .title(TextStr(&doc.title))
        .producer(TextStr("mock-looker"));
    for (i, content) in pages.into_iter().enumerate() {
        let id = page_ids[i];
        let content_id = Ref::new(id.get() + 1);
        let mut p = pdf.page(id);
        p.parent(tree)
            .media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .contents(content_id);
        p.resources()
            .fonts()
            .pair(REGULAR, regular)
            .pair(BOLD, bold);
        p.finish();
        pdf.stream(content_id, &content.finish());
    }
    pdf.finish()
}

fn block_height(b: &Block) -> f32 {
    let title = if b.title.is_empty() {
        0.0
    } else {
        TILE_TITLE_SIZE + 8.0
    };
    let more = if b.more > 0 { ROW_H } else { 0.0 };
    title + ROW_H * (b.rows.len() as f32 + 1.0) + more + 14.0
}

/// Draws one table from `y` down; the `y` below it.
fn draw_block(c: &mut Content, b: &Block, mut y: f32) -> f32 {
    if !b.title.is_empty() {
        text(
            c,
            BOLD,
            TILE_TITLE_SIZE,
            MARGIN,
            y - TILE_TITLE_SIZE,
            &b.title,
        );
        y -= TILE_TITLE_SIZE + 8.0;
    }
    let cols = b.headers.len().max(1);
    let width = (PAGE_W - 2.0 * MARGIN) / cols as f32;
    // Helvetica's average glyph is about half an em wide.
    let fits = ((width - 4.0) / (CELL_SIZE * 0.55)).max(1.0) as usize;
    // Header band.
    c.set_fill_gray(0.88);
    c.rect(MARGIN, y - ROW_H, PAGE_W - 2.0 * MARGIN, ROW_H);
    c.fill_nonzero();
    c.set_fill_gray(0.0);
    for (i, h) in b.headers.iter().enumerate() {
        let x = MARGIN + 2.0 + width * i as f32;
        text(c, BOLD, CELL_SIZE, x, y - ROW_H + 3.0, &fit(h, fits));
    }
    y -= ROW_H;
    for row in &b.rows {
        for (i, cell) in row.iter().enumerate() {
            let x = MARGIN + 2.0 + width * i as f32;
            text(c, REGULAR, CELL_SIZE, x, y - ROW_H + 3.0, &fit(cell, fits));
        }
        y -= ROW_H;
        c.set_stroke_gray(0.8);
        c.set_line_width(0.3);
        c.move_to(MARGIN, y);
        c.line_to(PAGE_W - MARGIN, y);
        c.stroke();
    }
    if b.more > 0 {
        let note = format!("... and {} more rows", b.more);
        text(c, REGULAR, CELL_SIZE, MARGIN + 2.0, y - ROW_H + 3.0, &note);
        y -= ROW_H;
    }
    y - 14.0
}

fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else if max <= 3 {
        s.chars().take(max).collect()
    } else {
        let mut t: String = s.chars().take(max - 3).collect();
        t.push_str("...");
        t
    }
}

fn text(c: &mut Content, font: Name, size: f32, x: f32, y: f32, s: &str) {
    let bytes = win_ansi(s);
    c.begin_text();
    c.set_font(font, size);
    c.next_line(x, y);
    c.show(Str(&bytes));
    c.end_text();
}

/// Text in WinAnsiEncoding, the encoding of the standard fonts: Latin-1 maps to itself, a few
/// punctuation marks to their code points there, anything else to `?`.
fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|ch| match ch {
            ' '..='~' => ch as u8,
            '\u{a0}'..='\u{ff}' => ch as u32 as u8,
            '€' => 0x80,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            _ => b'?',
        })
        .collect()
}
