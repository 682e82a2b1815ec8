//! Looks and format writers.

use mock_looker::format::render;
use mock_looker::{Format, Look, WriteOptions, builtin_looks};
use serde_json::Value;

const RAN_AT: &str = "2024-05-01T12:00:00+00:00";

fn look(title: &str) -> Look {
    builtin_looks()
        .into_iter()
        .find(|l| l.title() == title)
        .unwrap()
}

fn fixture() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/looker-json-detail-example.json"
    );
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn out(look: &Look, f: Format, formatted: bool, apply: bool) -> String {
    let opts = WriteOptions {
        apply_formatting: formatted,
        apply_vis: apply,
    };
    String::from_utf8(render(look, f, opts, RAN_AT)).unwrap()
}

#[test]
fn json_detail_matches_the_real_key_order_and_field_metadata() {
    let fx = fixture();
    let users = look("Users");
    let v: Value = serde_json::from_str(&out(&users, Format::JsonDetail, false, false)).unwrap();
    assert_eq!(keys(&v), keys(&fx), "top-level key order");
    assert_eq!(keys(&v["fields"]), keys(&fx["fields"]), "fields key order");
    // A dimension and a measure carry the fixture's keys in its order (no time/sort extras here).
    let fx_dim: Vec<String> = keys(&fx["fields"]["dimensions"][0])
        .into_iter()
        .filter(|k| !["time_interval", "is_timeframe", "sorted"].contains(&k.as_str()))
        .collect();
    assert_eq!(keys(&v["fields"]["dimensions"][0]), fx_dim);
    assert_eq!(
        keys(&v["fields"]["measures"][0]),
        keys(&fx["fields"]["measures"][0])
    );
    let email = &v["fields"]["dimensions"][1];
    assert_eq!(email["name"], "users.email");
    assert_eq!(email["tags"], serde_json::json!(["email"]));
    assert_eq!(email["label"], "Users Email");
    assert_eq!(email["view"], "users");
    assert_eq!(email["is_numeric"], false);
    assert_eq!(v["fields"]["measures"][0]["is_numeric"], true);
    assert_eq!(v["fields"]["measures"][0]["type"], "count_distinct");
    // Rows: cells with value and links, rendered kept when defined.
    assert_eq!(v["data"].as_array().unwrap().len(), 4);
    assert_eq!(
        v["data"][0]["users.email"],
        serde_json::json!({"value":"ada@example.com","links":[]})
    );
    assert_eq!(v["data"][2]["orders.count"]["rendered"], "12");
    assert_eq!(v["data"][3]["users.email"]["value"], Value::Null);
    assert_eq!(v["ran_at"], RAN_AT);
    // Row keys: dimensions then measures, like the fixture's rows.
    assert_eq!(keys(&v["data"][0]).last().unwrap(), "orders.count");
}

#[test]
fn json_detail_of_a_time_field_carries_time_interval_like_looker() {
    let fx = fixture();
    let p = look("Orders by month (pivoted)");
    let v: Value = serde_json::from_str(&out(&p, Format::JsonDetail, false, false)).unwrap();
    let piv = &v["fields"]["pivots"][0];
    assert_eq!(
        piv["time_interval"],
        fx["fields"]["dimensions"][0]["time_interval"]
    );
    assert_eq!(piv["is_timeframe"], true);
    assert_eq!(piv["fill_style"], "range");
    // Pivoted measure nested by pivot key; top-level pivots list.
    assert_eq!(
        v["data"][1]["orders.count"]["2024-01"]["value"],
        Value::Null
    );
    assert_eq!(v["data"][1]["orders.count"]["2024-02"]["value"], 5);
    assert_eq!(v["pivots"][0]["key"], "2024-01");
    assert_eq!(v["pivots"][1]["data"]["orders.created_month"], "2024-02");
}

#[test]
fn lite_stream_puts_ran_at_and_fields_before_data_and_reduces_cells() {
    let users = look("Users");
    let text = out(&users, Format::JsonDetailLiteStream, false, false);
    assert!(
        text.starts_with("{\"ran_at\":\"2024-05-01T12:00:00+00:00\",\"fields\":{"),
        "{text}"
    );
    assert!(text.find("\"fields\"").unwrap() < text.find("\"data\"").unwrap());
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(keys(&v), ["ran_at", "fields", "data"]);
    assert_eq!(
        v["data"][0]["users.email"],
        serde_json::json!({"value":"ada@example.com"})
    );
    assert_eq!(
        v["data"][2]["orders.count"],
        serde_json::json!({"value":12,"rendered":"12"})
    );
    assert_eq!(
        v["fields"]["dimensions"][2]["tags"],
        serde_json::json!(["rudder_anonymous_id"])
    );
}

#[test]
fn flat_json_formats_honour_formatting_and_vis() {
    let acc = look("Accounts");
    let raw: Value = serde_json::from_str(&out(&acc, Format::Json, false, false)).unwrap();
    assert_eq!(raw[0]["accounts.mrr"], 1200.5);
    let fmt: Value = serde_json::from_str(&out(&acc, Format::Json, true, false)).unwrap();
    assert_eq!(fmt[0]["accounts.mrr"], "$1,200.50");
    let lab: Value = serde_json::from_str(&out(&acc, Format::JsonLabel, false, false)).unwrap();
    assert_eq!(lab[0]["Accounts Mrr"], 1200.5);
    assert_eq!(lab[0]["Users Email"], "ada@example.com");
    let users = look("Users");
    let noapply: Value = serde_json::from_str(&out(&users, Format::Json, false, false)).unwrap();
    assert!(noapply[0].get("users.internal_note").is_some());
    let apply: Value = serde_json::from_str(&out(&users, Format::InlineJson, false, true)).unwrap();
    assert!(
        apply[0].get("users.internal_note").is_none(),
        "hidden field dropped with apply"
    );
    assert_eq!(apply.as_array().unwrap().len(), 4);
    let piv: Value = serde_json::from_str(&out(
        &look("Orders by month (pivoted)"),
        Format::Json,
        false,
        false,
    ))
    .unwrap();
    assert_eq!(
        piv[0]["orders.count"],
        serde_json::json!({"2024-01": 1, "2024-02": 2})
    );
}

#[test]
fn csv_and_txt_quote_and_flatten() {
    let users = look("Users");
    let csv = out(&users, Format::Csv, false, true);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "Users ID,Users Email,Users Anonymous ID,Users First Name,Users City,Orders Count"
    );
    assert_eq!(lines[1], "1,ada@example.com,anon-1,Ada,London,3");
    assert_eq!(lines[3], "3,linus@example.com,,Linus,\"Helsinki, FI\",12");
    let noapply = out(&users, Format::Csv, false, false);
    assert!(noapply.contains("\"said \"\"hi\"\"\""), "{noapply}");
    let txt = out(&look("Accounts"), Format::Txt, true, false);
    assert_eq!(
        txt.lines().nth(1).unwrap(),
        "acc-1\tAcme\tenterprise\t1\tada@example.com\t$1,200.50"
    );
    let piv = out(
        &look("Orders by month (pivoted)"),
        Format::Csv,
        false,
        false,
    );
    assert_eq!(
        piv.lines().next().unwrap(),
        "Users ID,Users Email,Orders Count 2024-01,Orders Count 2024-02"
    );
    assert_eq!(piv.lines().nth(2).unwrap(), "2,grace@example.com,,5");
}

#[test]
fn generated_looks_are_deterministic_and_parse_row_by_row() {
    let g = look("Generated users (100k)");
    assert_eq!(g.row_count(), 100_000);
    let a = render(
        &g,
        Format::JsonDetailLiteStream,
        WriteOptions::default(),
        RAN_AT,
    );
    let b = render(
        &g,
        Format::JsonDetailLiteStream,
        WriteOptions::default(),
        RAN_AT,
    );
    assert_eq!(a, b, "same seed, same bytes");
    let v: Value = serde_json::from_slice(&a).unwrap();
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 100_000);
    assert_eq!(data[0]["users.id"]["value"], 1);
    assert_eq!(
        data[99_999]["users.email"]["value"],
        "user99999@example.com"
    );
    let anon = data[5]["users.anonymous_id"]["value"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(anon).is_ok(), "{anon}");
    let nulls = data
        .iter()
        .filter(|r| r["users.plan"]["value"].is_null())
        .count();
    assert!(
        (8_000..12_000).contains(&nulls),
        "null_ratio 0.1 gave {nulls}"
    );
    let ltv = data[7]["users.lifetime_value"]["value"].as_f64().unwrap();
    assert!((0.0..5000.0).contains(&ltv));
}

#[test]
fn bad_look_definitions_name_the_problem() {
    let e = Look::from_yaml_str(
        "title: x\nmodel: m\nexplore: e\nfields: {dimensions: [{name: a.b, tagz: []}]}\n",
        "bad.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("bad.yaml") && e.contains("tagz"), "{e}");
    let e = Look::from_yaml_str(
        "title: x\nmodel: m\nexplore: e\nfields: {dimensions: [{name: a.b}]}\nrows: [{a.c: 1}]\n",
        "rows.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("rows[0]") && e.contains("a.c"), "{e}");
    let e = Look::from_yaml_str(
        "title: x\nmodel: m\nexplore: e\ngenerate: {rows: 3}\nfields: {dimensions: [{name: a.b}]}\n",
        "gen.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no generator"), "{e}");
}

#[test]
fn looks_load_from_a_directory_in_yaml_and_json() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.json"),
        r#"{"title":"J","model":"m","explore":"e","fields":{"dimensions":[{"name":"e.email","tags":["email"]}]},"rows":[{"e.email":"x@y.z"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yml"),
        "title: Y\nmodel: m\nexplore: e\nfields: {measures: [{name: e.n}]}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("ignored.txt"), "nope").unwrap();
    let looks = Look::load_dir(dir.path()).unwrap();
    assert_eq!(
        looks.iter().map(|l| l.title()).collect::<Vec<_>>(),
        ["J", "Y"]
    );
    assert_eq!(looks[0].row_count(), 1);
}

#[test]
fn pushed_attachment_escaping_streams_the_same_text() {
    use mock_looker::format::LookChunks;
    let users = look("Users");
    let plain = render(&users, Format::Csv, WriteOptions::default(), RAN_AT);
    let mut body = Vec::new();
    for c in LookChunks::new(&users, Format::Csv, WriteOptions::default(), RAN_AT)
        .chunk_size(7)
        .embedded(b"{\"data\":\"".to_vec(), b"\"}".to_vec())
    {
        body.extend_from_slice(&c);
    }
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["data"].as_str().unwrap().as_bytes(), plain.as_slice());
}
