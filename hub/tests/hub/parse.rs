//! The incremental parsers, fed in chunks of every size.

use hub::parse::{Format, Item, ParseError, Parser, infer_json_fields};

#[derive(Debug, PartialEq)]
enum Got {
    Fields(Vec<String>),
    RanAt(Option<String>),
    Row(String),
}

fn collect(doc: &[u8], format: Format, chunk: usize) -> Result<Vec<Got>, ParseError> {
    let mut p = Parser::new(format);
    let mut got = Vec::new();
    let drain = |p: &mut Parser, got: &mut Vec<Got>| -> Result<(), ParseError> {
        while let Some(item) = p.next_item()? {
            got.push(match item {
                Item::Fields(f) => Got::Fields(f.all().map(|f| f.name.clone()).collect()),
                Item::RanAt(r) => Got::RanAt(r),
                Item::Row(r) => Got::Row(r.to_owned()),
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
