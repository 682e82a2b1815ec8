//! The incremental parsers, fed in chunks of every size.

use hub::parse::{Format, Item, ParseError, Parser, infer_json_fields};

#[derive(Debug, PartialEq)]
enum Got {
    Fields(Vec<String>),
    RanAt(Option<String>),
    Row(String),
    TooLarge(u64),
}

fn collect(doc: &[u8], format: Format, chunk: usize) -> Result<Vec<Got>, ParseError> {
    collect_with(Parser::new(format), doc, chunk)
}

fn collect_with(mut p: Parser, doc: &[u8], chunk: usize) -> Result<Vec<Got>, ParseError> {
    let mut got = Vec::new();
    let drain = |p: &mut Parser, got: &mut Vec<Got>| -> Result<(), ParseError> {
        while let Some(item) = p.next_item()? {
            got.push(match item {
                Item::Fields(f) => Got::Fields(f.all().map(|f| f.name.clone()).collect()),
                Item::RanAt(r) => Got::RanAt(r),
                Item::Row(r) => Got::Row(r.to_owned()),
                Item::RowTooLarge { bytes } => Got::TooLarge(bytes),
            });
        }
        Ok(())
    };
    for c in doc.chunks(chunk.max(1)) {
        p.feed(c);
        drain(&mut p, &mut got)?;
    }
    p.finish_input();
    drain(&mut p, &mut got)?;
    p.finish()?;
    Ok(got)
}

#[test]
fn the_real_json_detail_example_parses_in_any_chunking() {
    let doc = crate::helpers::testdata("looker-json-detail-example.json");
    let whole = collect(doc.as_bytes(), Format::JsonDetail, usize::MAX).unwrap();
    assert_eq!(
        whole[0],
        Got::RanAt(Some("2017-07-28T02:25:19+00:00".into()))
    );
    assert_eq!(
        whole[1],
        Got::Fields(vec!["orders.created_month".into(), "orders.count".into()])
    );
    let rows: Vec<_> = whole.iter().filter(|g| matches!(g, Got::Row(_))).collect();
    assert_eq!(rows.len(), 13);
    let Got::Row(first) = rows[0] else {
        unreachable!()
    };
    let v: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(v["orders.count"]["value"], 773);
    for chunk in [1, 2, 3, 7, 64, 4096] {
        assert_eq!(
            collect(doc.as_bytes(), Format::JsonDetail, chunk).unwrap(),
            whole,
            "chunk {chunk}"
        );
    }
}

#[test]
fn nested_top_level_pivots_do_not_confuse_the_data_path() {
    let doc = br#"{"pivots":[{"key":"a","is_total":false,"data":{"x":1},"metadata":{}}],"fields":{"dimensions":[{"name":"id","tags":["user_id"]}]},"data":[{"id":{"value":"bob"}}]}"#;
    let got = collect(doc, Format::JsonDetailLiteStream, 5).unwrap();
    assert_eq!(
        got,
        vec![
            Got::Fields(vec!["id".into()]),
            Got::Row(r#"{"id":{"value":"bob"}}"#.into())
        ]
    );
}

#[test]
fn fields_after_the_first_row_is_an_error_naming_the_row() {
    let doc = br#"{"data":[{"a":{"value":1}},{"a":{"value":2}}],"fields":{"dimensions":[]}}"#;
    let err = collect(doc, Format::JsonDetail, 8).unwrap_err();
    assert_eq!(
        err.message,
        "`fields` arrived after row 2 of the json_detail document: the hub needs the field metadata before the first row"
    );
}

#[test]
fn truncated_documents_say_where_they_ended() {
    let doc = br#"{"fields":{"dimensions":[]},"data":[{"a":{"value":1}},{"a":{"val"#;
    let err = collect(doc, Format::JsonDetail, 10).unwrap_err();
    assert!(
        err.message
            .starts_with("truncated json_detail document: the input ended in row 2"),
        "{}",
        err.message
    );
    let err = collect(
        br#"{"fields":{"dimensions":[]},"data":[{"a":{"value":1}}"#,
        Format::JsonDetail,
        3,
    )
    .unwrap_err();
    assert!(err.message.contains("ended after row 1"), "{}", err.message);
    let err = collect(b"", Format::JsonDetail, 3).unwrap_err();
    assert_eq!(err.message, "the json_detail document is empty");
}

#[test]
fn malformed_documents_say_what_and_where() {
    let err = collect(br#"{"data":[{"a":1} {"a":2}]}"#, Format::JsonDetail, 4).unwrap_err();
    assert_eq!(
        err.message,
        "malformed json_detail document at byte 17 after row 1: expected ',' or ']' after a row"
    );
    let err = collect(br#"{"data":[{"a":1},]}"#, Format::JsonDetail, 4).unwrap_err();
    assert!(err.message.contains("trailing ','"), "{}", err.message);
    let err = collect(br#"{"sql": nope, "data":[]}"#, Format::JsonDetail, 4).unwrap_err();
    assert!(
        err.message.contains("invalid JSON value"),
        "{}",
        err.message
    );
    let err = collect(br#"[1]"#, Format::JsonDetail, 4).unwrap_err();
    assert!(
        err.message.contains("must be a JSON object"),
        "{}",
        err.message
    );
    let err = collect(br#"{"data":[]} x"#, Format::JsonDetail, 4).unwrap_err();
    assert!(
        err.message.contains("unexpected data after the end"),
        "{}",
        err.message
    );
}

#[test]
fn ran_at_after_the_data_is_reported_in_order() {
    let doc = br#"{"fields":{},"data":[{"a":{"value":1}}],"ran_at":"2017-07-28T02:25:19+00:00"}"#;
    let got = collect(doc, Format::JsonDetail, 6).unwrap();
    assert!(matches!(got[1], Got::Row(_)));
    assert_eq!(got[2], Got::RanAt(Some("2017-07-28T02:25:19+00:00".into())));
}

#[test]
fn json_format_yields_flat_rows_and_infers_id_tags_from_names() {
    let doc =
        br#"[{"users.email":"a@x.io","orders.count":3},{"users.email":"b@x.io","orders.count":0}]"#;
    let got = collect(doc, Format::Json, 7).unwrap();
    assert_eq!(got.len(), 2);
    let Got::Row(r) = &got[0] else { panic!() };
    let f = infer_json_fields(r).unwrap();
    assert_eq!(f.dimensions[0].tags, vec!["email".to_string()]);
    assert!(f.dimensions[1].tags.is_empty());
}

#[test]
fn strings_with_escaped_quotes_and_brackets_do_not_break_rows() {
    let doc = br#"{"data":[{"a":{"value":"x\"}]\\"}},{"a":{"value":"]"}}]}"#;
    let got = collect(doc, Format::JsonDetail, 1).unwrap();
    assert_eq!(got.len(), 2);
}

/// Hardening finding 1: the parser only counts nesting, so no depth overflows its stack, in a
/// row, in `fields` or in an ignored root key.
#[test]
fn nesting_of_any_depth_is_scanned_without_recursion() {
    let n = 100_000;
    let deep = format!("{}{}", "[".repeat(n), "]".repeat(n));
    let doc = format!(
        r#"{{"pivots":{deep},"fields":{{"dimensions":[]}},"data":[{{"a":{{"value":{deep}}}}}]}}"#
    );
    for chunk in [7, 4096, usize::MAX] {
        let got = collect(doc.as_bytes(), Format::JsonDetail, chunk).unwrap();
        assert_eq!(got.len(), 2);
        assert!(matches!(&got[1], Got::Row(r) if r.len() > 2 * n));
    }
    let bad_fields = format!(r#"{{"fields":{deep},"data":[]}}"#);
    let err = collect(bad_fields.as_bytes(), Format::JsonDetail, 4096).unwrap_err();
    assert!(err.message.contains("invalid `fields`"), "{}", err.message);
}

/// Hardening finding 4: a row above the limit is skipped to its end without being buffered,
/// whatever the chunking, and the next rows come out whole; `fields` above it is an error, an
/// ignored root key above it is skipped.
#[test]
fn rows_above_the_value_limit_are_skipped_and_reported_with_their_size() {
    let big = format!(
        r#"{{"a":{{"value":"{}","x":[{{"y":"]}}\""}}]}}}}"#,
        "z".repeat(5_000)
    );
    let doc = format!(
        r#"{{"fields":{{"dimensions":[]}},"pad":"{}","data":[{{"a":1}}, {big} ,{{"a":3}}]}}"#,
        "p".repeat(3_000)
    );
    for chunk in [1, 3, 64, 999, usize::MAX] {
        let p = Parser::new(Format::JsonDetail).with_max_value_bytes(1_000);
        let got = collect_with(p, doc.as_bytes(), chunk).unwrap();
        assert_eq!(
            got[1..],
            [
                Got::Row(r#"{"a":1}"#.into()),
                Got::TooLarge(big.len() as u64),
                Got::Row(r#"{"a":3}"#.into())
            ],
            "chunk {chunk}"
        );
    }
    let p = Parser::new(Format::JsonDetail).with_max_value_bytes(10);
    let err = collect_with(p, doc.as_bytes(), 64).unwrap_err();
    assert_eq!(
        err.message,
        "`fields` of the json_detail document is larger than 10 bytes, the hub's limit of one value"
    );
    // A truncated skipped row is still a truncated document.
    let cut = &doc.as_bytes()[..doc.len() - 2_000];
    let p = Parser::new(Format::JsonDetail).with_max_value_bytes(1_000);
    let err = collect_with(p, cut, 100).unwrap_err();
    assert!(
        err.message.contains("input ended in row 2"),
        "{}",
        err.message
    );
}

/// The parser's buffer stays near the limit while a huge row streams through.
#[test]
fn a_skipped_row_is_not_buffered() {
    let mut p = Parser::new(Format::Json).with_max_value_bytes(4_096);
    p.feed(b"[{\"a\":\"");
    let chunk = vec![b'x'; 64 * 1024];
    let mut peak = 0;
    for _ in 0..200 {
        p.feed(&chunk);
        assert!(p.next_item().unwrap().is_none());
        peak = peak.max(p.buffered());
    }
    p.feed(b"\"}]");
    p.finish_input();
    assert!(matches!(
        p.next_item().unwrap(),
        Some(Item::RowTooLarge { bytes }) if bytes == 200 * 64 * 1024 + 8
    ));
    assert!(peak <= 4_096 + 2 * 64 * 1024, "peak buffer {peak}");
}
