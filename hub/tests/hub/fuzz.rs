//! Fuzzing the parsers that see untrusted bytes (hardening issue, finding 6): the incremental
//! Look parser, the attachment unescaper and the mapping. `cargo fuzz` needs nightly, so these
//! are proptests with arbitrary bytes and structure-aware generators (JSON with random escapes,
//! lone surrogates, deep nesting, truncations and byte flips).
//!
//! The property: no panic, no hang (each case runs on a thread with a deadline), an error or a
//! valid result; the parser gives the same result in any chunking; the unescaper agrees with
//! serde_json; every event the mapping writes parses as JSON.
//!
//! `FUZZ_CASES` sets the cases per property (256 by default, so `cargo test` stays short). The
//! long run: `FUZZ_CASES=100000 cargo test -j 1 --release -p hub --test hub fuzz`.

use fuzzkit::json::{self, string_piece};
use fuzzkit::with_deadline as fuzz;
use proptest::prelude::*;

use hub::mapping::{AnonymousId, CallType, Field, Fields, MapContext, MappingMode, map_row};
use hub::parse::{Format, Item, Parser, unescape_chunk};

/// The keys the Look parser and the mapping look for, so generated objects hit them often.
const KEYS: &[&str] = &["value", "0", "7", "a", "links", "u.id"];

fn json_value() -> impl Strategy<Value = String> {
    json::value(KEYS)
}

fn json_string() -> impl Strategy<Value = String> {
    json::string()
}

fn number() -> impl Strategy<Value = String> {
    json::number()
}

/// A cell as json_detail writes it, or something else in its place.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop_oneof![json_string(), number()].prop_map(|v| format!("{{\"value\":{v}}}")),
        4 => json_value().prop_map(|v| format!("{{\"value\":{v}}}")),
        1 => (json_value(), json_value()).prop_map(|(r, v)| format!("{{\"rendered\":{r},\"links\":[{{\"url\":{r}}}],\"value\":{v}}}")),
        1 => (json_value(), json_value()).prop_map(|(a, b)| format!("{{\"2019\":{{\"value\":{a}}},\"2020\":{b}}}")),
        1 => json_value(),
    ]
}

const NAMES: [&str; 6] = ["u.id", "u.anon", "u.email", "u.group", "u.x", "u.y"];

fn row() -> impl Strategy<Value = String> {
    prop::collection::vec(cell(), 6).prop_map(|cells| {
        let members: Vec<String> = NAMES
            .iter()
            .zip(cells)
            .map(|(n, c)| format!("\"{n}\":{c}"))
            .collect();
        format!("{{{}}}", members.join(","))
    })
}

fn document() -> impl Strategy<Value = Vec<u8>> {
    let detail = (prop::collection::vec(row(), 0..4), json_value(), json_value()).prop_map(
        |(rows, pad, ran_at)| {
            format!(
                "{{\"pivots\":{pad},\"fields\":{{\"dimensions\":[{{\"name\":\"u.id\",\"tags\":[\"user_id\"]}}]}},\"ran_at\":{ran_at},\"data\":[{}]}}",
                rows.join(",")
            )
        },
    );
    let flat = prop::collection::vec(json_value(), 0..4).prop_map(|v| {
        let rows: Vec<String> = v.iter().map(|x| format!("{{\"user_id\":{x}}}")).collect();
        format!("[{}]", rows.join(", "))
    });
    prop_oneof![
        4 => json::mutated(prop_oneof![detail, flat]),
        1 => prop::collection::vec(any::<u8>(), 0..400),
        1 => prop::collection::vec(
            prop::sample::select(b"{}[]\",:\\ ntrue0-1e".to_vec()),
            0..400
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Properties.

#[derive(Debug, PartialEq)]
enum Got {
    Fields(usize),
    RanAt(Option<String>),
    Row(String),
    TooLarge(u64),
}

/// Feeds `doc` in chunks of `chunk` bytes; every step is bounded, so a hang is a parser loop.
fn parse_all(doc: &[u8], format: Format, chunk: usize, max: usize) -> Result<Vec<Got>, String> {
    let mut p = Parser::new(format).with_max_value_bytes(max);
    let mut got = Vec::new();
    let drain = |p: &mut Parser, got: &mut Vec<Got>| -> Result<(), String> {
        while let Some(item) = p.next_item().map_err(|e| e.message)? {
            got.push(match item {
                Item::Fields(f) => Got::Fields(f.all().count()),
                Item::RanAt(r) => Got::RanAt(r),
                Item::Row(r) => Got::Row(r.to_owned()),
                Item::RowTooLarge { bytes } => Got::TooLarge(bytes),
            });
            if got.len() > doc.len() + 2 {
                return Err("more items than bytes: a loop".into());
            }
        }
        Ok(())
    };
    for c in doc.chunks(chunk.max(1)) {
        p.feed(c);
        drain(&mut p, &mut got)?;
    }
    p.finish_input();
    drain(&mut p, &mut got)?;
    p.finish().map_err(|e| e.message)?;
    Ok(got)
}

#[test]
fn fuzz_the_incremental_parser() {
    let strategy = (
        document(),
        1usize..64,
        prop::sample::select(vec![16usize, 200, 1 << 20]),
    );
    fuzz("parser", strategy, |(doc, chunk, max)| {
        for format in [Format::JsonDetail, Format::Json] {
            let whole = parse_all(&doc, format, usize::MAX, max);
            let chunked = parse_all(&doc, format, chunk, max);
            let bytewise = parse_all(&doc, format, 1, max);
            if let Err(e) = &whole {
                prop_assert!(!e.is_empty());
            }
            // The same items in any chunking (an error may be found at another point, but an
            // error it is).
            match (&whole, &chunked, &bytewise) {
                (Ok(a), Ok(b), Ok(c)) => {
                    prop_assert_eq!(a, b);
                    prop_assert_eq!(a, c);
                }
                (Err(_), Err(_), Err(_)) => {}
                _ => prop_assert!(
                    false,
                    "chunking changed the outcome: {whole:?} / {chunked:?} / {bytewise:?}"
                ),
            }
            if let Ok(items) = &whole {
                for i in items {
                    if let Got::Row(r) = i {
                        prop_assert!(r.len() <= max, "a row above the limit came out whole");
                    }
                }
            }
        }
        Ok(())
    });
}

fn unescape_all(src: &[u8], max: usize) -> Result<Vec<u8>, String> {
    let mut pos = 0;
    let mut out = Vec::new();
    let mut chunk = Vec::new();
    while pos < src.len() {
        let before = pos;
        chunk.clear();
        unescape_chunk(src, &mut pos, &mut chunk, max)?;
        if pos == before {
            return Err("no progress: a loop".into());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[test]
fn fuzz_the_attachment_unescaper() {
    let content = prop_oneof![
        3 => prop::collection::vec(string_piece(), 0..40).prop_map(|p| p.concat().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ];
    fuzz("unescaper", (content, 1usize..50), |(src, max)| {
        let whole = unescape_all(&src, usize::MAX);
        let chunked = unescape_all(&src, max);
        prop_assert_eq!(&whole, &chunked, "chunking changed the result");
        // Where serde_json reads the same content as a string, the bytes agree.
        let lit = [b"\"".as_slice(), &src, b"\""].concat();
        if let Ok(s) = serde_json::from_slice::<String>(&lit) {
            prop_assert_eq!(whole.as_deref(), Ok(s.as_bytes()));
        }
        Ok(())
    });
}

fn ctx(call: CallType, mode: MappingMode) -> MapContext<'static> {
    MapContext {
        event: Some("e"),
        anonymous_id: AnonymousId::Random,
        ..MapContext::example(call, mode)
    }
}

#[test]
fn fuzz_the_mapping_every_event_parses_as_json() {
    let rows = prop_oneof![
        8 => row(),
        1 => json_value(),
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    // The rows the hub maps come out of the parser, which hands over only JSON; others are
    // mapped too (the mapping must refuse them, not panic).
    fuzz("mapping", rows, |row| {
        let fields = fields_for_fuzz();
        for call in [CallType::Identify, CallType::Track, CallType::Group] {
            for mode in [MappingMode::RudderStack, MappingMode::Clean] {
                let mut out = b"prefix".to_vec();
                match map_row(&fields, &row, &ctx(call, mode), &mut out) {
                    Ok(m) => {
                        let event = &out[6..];
                        let text = std::str::from_utf8(event);
                        prop_assert!(text.is_ok(), "not UTF-8");
                        let parsed = serde_json::from_slice::<serde::de::IgnoredAny>(event);
                        prop_assert!(
                            parsed.is_ok(),
                            "{call:?} {mode:?}: invalid JSON {:?} from row {row}",
                            text.unwrap()
                        );
                        prop_assert!(m.sent_at.1 <= out.len());
                    }
                    Err(e) => {
                        prop_assert!(!e.to_string().is_empty());
                        prop_assert_eq!(
                            &out,
                            b"prefix",
                            "a failed row leaves the buffer as it was"
                        );
                    }
                }
            }
        }
        Ok(())
    });
}

fn fields_for_fuzz() -> Fields {
    Fields {
        dimensions: NAMES[..5]
            .iter()
            .zip([
                &["user_id"][..],
                &["rudder_anonymous_id"],
                &["email"],
                &["rudder_group_id"],
                &[],
            ])
            .map(|(n, t)| Field::new(n, t))
            .collect(),
        measures: vec![Field::new("u.y", &[])],
        ..Fields::default()
    }
}
