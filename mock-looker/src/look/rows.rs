//! Rows of a Look: literal rows as loaded, or generated ones produced on demand from a seeded
//! generator into one reused buffer, and the checks that make generation unable to fail.

use serde_json::Value;

use super::{Cell, CellData, Generator, Look, Row, Scalar};

/// A cursor over a Look's rows. `next_row` lends the row until the next call.
pub struct RowCursor {
    look: Look,
    next: u64,
    state: Option<GenState>,
}

struct GenState {
    rng: SplitMix64,
    total: u64,
    row: Row,
}

impl RowCursor {
    pub(super) fn new(look: Look) -> RowCursor {
        let state = look.inner.def.generate.as_ref().map(|g| GenState {
            rng: SplitMix64::new(g.seed),
            total: g.rows,
            row: Vec::new(),
        });
        RowCursor {
            look,
            next: 0,
            state,
        }
    }

    pub fn next_row(&mut self) -> Option<&Row> {
        let i = self.next;
        match &mut self.state {
            None => {
                let row = self.look.inner.rows.get(i as usize)?;
                self.next += 1;
                Some(row)
            }
            Some(g) => {
                if i >= g.total {
                    return None;
                }
                self.next += 1;
                let npivots = self.look.inner.def.pivots.len();
                if g.row.is_empty() {
                    for c in &self.look.inner.columns {
                        g.row.push(if c.pivoted {
                            CellData::Pivoted(vec![Cell::new(Scalar::Null); npivots])
                        } else {
                            CellData::Plain(Cell::new(Scalar::Null))
                        });
                    }
                }
                for (c, data) in self.look.inner.columns.iter().zip(g.row.iter_mut()) {
                    let generator = c.def.generator.as_ref().expect("checked at compile time");
                    match data {
                        CellData::Plain(cell) => {
                            generate(generator, c.def.null_ratio, i, &mut g.rng, cell)
                        }
                        CellData::Pivoted(cells) => {
                            for cell in cells {
                                generate(generator, c.def.null_ratio, i, &mut g.rng, cell)
                            }
                        }
                    }
                }
                Some(&g.row)
            }
        }
    }
}

/// Writes a generated value into `cell`, reusing its string buffer.
fn generate(g: &Generator, null_ratio: f64, row: u64, rng: &mut SplitMix64, cell: &mut Cell) {
    use std::fmt::Write;
    if null_ratio > 0.0 && rng.next_f64() < null_ratio {
        cell.value = Scalar::Null;
        return;
    }
    let mut buf = match std::mem::replace(&mut cell.value, Scalar::Null) {
        Scalar::Str(mut s) => {
            s.clear();
            s
        }
        _ => String::new(),
    };
    cell.value = match g {
        Generator::Email { domain } => {
            buf.push_str("user");
            buf.push_str(itoa::Buffer::new().format(row));
            buf.push('@');
            buf.push_str(domain);
            Scalar::Str(buf)
        }
        Generator::Sequence {
            prefix,
            start,
            numeric,
        } => {
            // Checked at compile time against the row count; saturate rather than panic.
            let n = start.saturating_add(row);
            if *numeric && prefix.is_empty() {
                Scalar::Int(i64::try_from(n).unwrap_or(i64::MAX))
            } else {
                buf.push_str(prefix);
                buf.push_str(itoa::Buffer::new().format(n));
                Scalar::Str(buf)
            }
        }
        Generator::Uuid => {
            let (a, b) = (rng.next_u64(), rng.next_u64());
            let bytes: [u8; 16] = ((a as u128) << 64 | b as u128).to_be_bytes();
            let u = uuid::Builder::from_random_bytes(bytes).into_uuid();
            let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
            buf.push_str(u.hyphenated().encode_lower(&mut text));
            Scalar::Str(buf)
        }
        Generator::Int { min, max } => {
            // In i128: `max - min + 1` is up to 2^64 (min <= max is checked at compile time).
            let span = (i128::from(*max) - i128::from(*min) + 1).max(1) as u128;
            let offset = (u128::from(rng.next_u64()) % span) as i128;
            Scalar::Int(i64::try_from(i128::from(*min) + offset).unwrap_or(*min))
        }
        Generator::Float { min, max, decimals } => {
            let f = min + rng.next_f64() * (max - min);
            let p = 10f64.powi((*decimals).min(MAX_DECIMALS) as i32);
            let rounded = (f * p).round() / p;
            // Near f64::MAX, `f * p` overflows: keep the unrounded value rather than inf/NaN.
            Scalar::Float(if rounded.is_finite() { rounded } else { f })
        }
        Generator::Choice { values } => {
            if values.is_empty() {
                Scalar::Null
            } else {
                let v = &values[(rng.next_u64() % values.len() as u64) as usize];
                match v {
                    Value::String(s) => {
                        buf.push_str(s);
                        Scalar::Str(buf)
                    }
                    other => Scalar::from_json(other).unwrap_or(Scalar::Null),
                }
            }
        }
        Generator::Const { value } => match value {
            Value::String(s) => {
                buf.push_str(s);
                Scalar::Str(buf)
            }
            other => Scalar::from_json(other).unwrap_or(Scalar::Null),
        },
        Generator::Date { start, days } => {
            let base = parse_date(start);
            let d = base
                .checked_add_days(chrono::Days::new(rng.next_u64() % (*days as u64).max(1)))
                .unwrap_or(base);
            use chrono::Datelike;
            let _ = write!(buf, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
            Scalar::Str(buf)
        }
    };
}

/// Parses `YYYY-MM-DD` (2024-01-01 when invalid; checked when the Look is compiled).
fn parse_date(s: &str) -> chrono::NaiveDate {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u32>().ok());
    if b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10))
        && let Some(date) = chrono::NaiveDate::from_ymd_opt(y as i32, m, d)
    {
        return date;
    }
    chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("valid date")
}

/// SplitMix64: a tiny, fast PRNG whose output for a seed never changes across dependency
/// upgrades, so a generated Look with seed N is the same data in every version of the mock.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Rejects generator settings that cannot produce every row of the Look: checked once when the
/// Look is compiled, so writing rows later never overflows or panics.
pub(super) fn check_generator(g: &Generator, rows: u64) -> Result<(), String> {
    match g {
        Generator::Sequence {
            prefix,
            start,
            numeric,
        } => {
            let last = start.checked_add(rows.saturating_sub(1)).ok_or_else(|| {
                format!("sequence start {start} + {rows} rows exceeds {}", u64::MAX)
            })?;
            if *numeric && prefix.is_empty() && last > i64::MAX as u64 {
                return Err(format!(
                    "numeric sequence reaches {last}, beyond the largest JSON integer Looker sends ({})",
                    i64::MAX
                ));
            }
        }
        Generator::Int { min, max } if min > max => {
            return Err(format!("int generator min {min} is above max {max}"));
        }
        Generator::Float { min, max, decimals } => {
            if !(max - min).is_finite() || min > max {
                return Err(format!(
                    "float generator needs finite min <= max, got min {min}, max {max}"
                ));
            }
            if *decimals > MAX_DECIMALS {
                return Err(format!(
                    "float generator decimals {decimals} is above {MAX_DECIMALS} (an f64 has no more)"
                ));
            }
        }
        Generator::Date { start, days } => {
            let date = chrono::NaiveDate::parse_from_str(start, "%Y-%m-%d")
                .map_err(|_| format!("date generator start {start:?} is not YYYY-MM-DD"))?;
            if date
                .checked_add_days(chrono::Days::new(u64::from(*days)))
                .is_none()
            {
                return Err(format!(
                    "date generator: {start} + {days} days is past the last date ({})",
                    chrono::NaiveDate::MAX
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Decimal places a float generator may round to: an f64 holds 15 to 17 significant digits.
const MAX_DECIMALS: u32 = 15;
