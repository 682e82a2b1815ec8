//! `wysiwyg_png`: a PNG that renders the document's title and each table's first rows, drawn
//! into a grayscale pixel buffer with the 8x8 bitmap font of `font8x8` (Latin-1 glyphs; other
//! characters show as `?`) and encoded by `png`. The tables are stacked one under another, as
//! a dashboard's tiles are; the image is at most [`MAX_WIDTH`] pixels wide (wider tables are
//! cut at the right edge).

use font8x8::legacy::{BASIC_LEGACY, LATIN_LEGACY};

use super::file::{Block, Document};

const MAX_WIDTH: usize = 2400;
const MIN_WIDTH: usize = 480;
const MARGIN: usize = 16;
const ROW_H: usize = 12;
const GLYPH: usize = 8;
const PAD: usize = 8;

const WHITE: u8 = 255;
const INK: u8 = 0;
const BAND: u8 = 225;
const RULE: u8 = 200;

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, v: u8) {
        for yy in y..(y + h).min(self.h) {
            let row = yy * self.w;
            for xx in x..(x + w).min(self.w) {
                self.px[row + xx] = v;
            }
        }
    }

    /// Draws `s` with its top-left corner at (x, y), each font pixel `scale` pixels wide.
    fn text(&mut self, x: usize, y: usize, s: &str, scale: usize) {
        for (i, ch) in s.chars().enumerate() {
            let glyph = match ch as u32 {
                c @ 0x20..=0x7e => BASIC_LEGACY[c as usize],
                c @ 0xa0..=0xff => LATIN_LEGACY[(c - 0xa0) as usize],
                _ => BASIC_LEGACY[b'?' as usize],
            };
            let gx = x + i * GLYPH * scale;
            if gx >= self.w {
                break;
            }
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        self.fill(gx + col * scale, y + row * scale, scale, scale, INK);
                    }
                }
            }
        }
    }
}

fn widths(b: &Block) -> Vec<usize> {
    let mut w: Vec<usize> = b.headers.iter().map(|h| h.chars().count()).collect();
    for row in &b.rows {
        for (i, c) in row.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(c.chars().count());
            }
        }
    }
    w.into_iter().map(|n| n.max(1) * GLYPH + PAD).collect()
}

fn block_height(b: &Block) -> usize {
    let title = if b.title.is_empty() { 0 } else { 2 * ROW_H };
    let more = if b.more > 0 { ROW_H } else { 0 };
    title + ROW_H * (b.rows.len() + 1) + more + ROW_H
}

pub(super) fn png(doc: &Document) -> Result<Vec<u8>, String> {
    let content_w = doc
        .blocks
        .iter()
        .map(|b| widths(b).iter().sum::<usize>())
        .chain([
            doc.title.chars().count() * 2 * GLYPH,
            doc.subtitle.chars().count() * GLYPH,
        ])
        .max()
        .unwrap_or(0);
    let w = (content_w + 2 * MARGIN).clamp(MIN_WIDTH, MAX_WIDTH);
    let head = MARGIN + 2 * GLYPH + 6 + GLYPH + 14;
    let h = head + doc.blocks.iter().map(block_height).sum::<usize>() + MARGIN;
    let mut c = Canvas {
        w,
        h,
        px: vec![WHITE; w * h],
    };
    c.text(MARGIN, MARGIN, &doc.title, 2);
    c.text(MARGIN, MARGIN + 2 * GLYPH + 6, &doc.subtitle, 1);
    let mut y = head;
    for b in &doc.blocks {
        if !b.title.is_empty() {
            c.text(MARGIN, y + 2, &b.title, 1);
            c.fill(
                MARGIN,
                y + GLYPH + 4,
                b.title.chars().count() * GLYPH,
                1,
                INK,
            );
            y += 2 * ROW_H;
        }
        let ws = widths(b);
        let table_w: usize = ws.iter().sum();
        c.fill(MARGIN, y, table_w, ROW_H, BAND);
        let mut x = MARGIN;
        for (hdr, cw) in b.headers.iter().zip(&ws) {
            c.text(x + PAD / 2, y + 2, hdr, 1);
            x += cw;
        }
        y += ROW_H;
        for row in &b.rows {
            let mut x = MARGIN;
            for (cell, cw) in row.iter().zip(&ws) {
                c.text(x + PAD / 2, y + 2, cell, 1);
                x += cw;
            }
            y += ROW_H;
            c.fill(MARGIN, y - 1, table_w, 1, RULE);
        }
        if b.more > 0 {
            c.text(
                MARGIN + PAD / 2,
                y + 2,
                &format!("... and {} more rows", b.more),
                1,
            );
            y += ROW_H;
        }
        y += ROW_H;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| format!("PNG: {e}"))?;
        writer
            .write_image_data(&c.px)
            .map_err(|e| format!("PNG: {e}"))?;
    }
    Ok(out)
}
