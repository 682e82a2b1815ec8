//! Issue 16: every format Looker sends, and dashboards. Each file must open as what its
//! mimetype says: the workbook and the zip are unzipped (with the `zip` crate) and their XML
//! or CSV read back, the PDF is checked for its header, trailer, page count and the text it
//! draws, the PNG is decoded (with the `png` crate). (The workbook is read as its XML parts, not
//! through calamine: that crate would add a second zip and encoding_rs to the build.)

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use base64::Engine as _;
use mock_looker::format::file::{Content, render_file};
use mock_looker::format::render;
use mock_looker::{
    Download, Format, HubOptions, Look, MockError, MockLooker, SendRequest, WriteOptions, demo,
};
use serde_json::{Value, json};

use crate::helpers::{FakeHub, Reply, reference_list};

const RAN_AT: &str = "2024-05-01T12:00:00+00:00";

/// Whether `data` opens as the file `format` claims to be (used by the fuzz tests too).
pub fn opens_as(format: Format, data: &[u8]) -> bool {
    match format {
        Format::Xlsx => unzip(data).is_some_and(|files| {
            files.contains_key("xl/workbook.xml")
                && files.contains_key("xl/worksheets/sheet1.xml")
                && files.contains_key("[Content_Types].xml")
        }),
        Format::CsvZip => unzip(data)
            .is_some_and(|files| !files.is_empty() && files.keys().all(|n| n.ends_with(".csv"))),
        Format::WysiwygPdf | Format::AssembledPdf => {
            data.starts_with(b"%PDF-") && data.trim_ascii_end().ends_with(b"%%EOF")
        }
        Format::WysiwygPng => decode_png(data).is_some(),
        _ => false,
    }
}

/// Every entry of a zip, by name (None when it is not a zip).
fn unzip(data: &[u8]) -> Option<BTreeMap<String, String>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(data)).ok()?;
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).ok()?;
        let mut text = String::new();
        f.read_to_string(&mut text).ok()?;
        let name = f.name().ok()?.into_owned();
        out.insert(name, text);
    }
    Some(out)
}

/// Width, height and pixels of a grayscale PNG.
fn decode_png(data: &[u8]) -> Option<(u32, u32, Vec<u8>)> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(data))
        .read_info()
        .ok()?;
    let mut buf = vec![0; reader.output_buffer_size()?];
    let info = reader.next_frame(&mut buf).ok()?;
    buf.truncate(info.buffer_size());
    Some((info.width, info.height, buf))
}

fn users() -> Look {
    mock_looker::builtin_looks()
        .into_iter()
        .find(|l| l.id() == Some(demo::USERS))
        .unwrap()
}

fn file(look: &Look, format: Format) -> Vec<u8> {
    render_file(
        &Content::Look(look.clone()),
        format,
        WriteOptions::default(),
        RAN_AT,
    )
    .unwrap()
}

#[test]
fn every_looker_format_has_its_mimetype_and_extension() {
    let want = [
        ("json_detail_lite_stream", "application/json", "json"),
        ("json_detail", "application/json", "json"),
        ("json", "application/json", "json"),
        ("json_label", "application/json", "json"),
        ("inline_json", "application/json", "json"),
        ("csv", "text/csv", "csv"),
        ("txt", "text/plain", "txt"),
        ("html", "text/html", "html"),
        (
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;base64",
            "xlsx",
        ),
        ("csv_zip", "application/zip;base64", "zip"),
        ("wysiwyg_pdf", "application/pdf;base64", "pdf"),
        ("assembled_pdf", "application/pdf;base64", "pdf"),
        ("wysiwyg_png", "image/png;base64", "png"),
    ];
    assert_eq!(Format::ALL.len(), 13, "Looker's 13 formats");
    for (f, (name, mimetype, ext)) in Format::ALL.iter().zip(want) {
        assert_eq!(f.as_str(), name);
        assert_eq!(name.parse::<Format>().unwrap(), *f);
        assert_eq!(f.attachment_mimetype(), mimetype, "{name}");
        assert_eq!(f.extension(), ext, "{name}");
        assert_eq!(f.is_binary(), mimetype.ends_with(";base64"), "{name}");
    }
}

#[test]
fn xlsx_is_a_workbook_with_the_header_and_every_row() {
    let look = users();
    let data = file(&look, Format::Xlsx);
    assert!(opens_as(Format::Xlsx, &data));
    let files = unzip(&data).unwrap();
    let sheet = &files["xl/worksheets/sheet1.xml"];
    for text in [
        "Users Email",
        "Orders Count",
        "ada@example.com",
        "Zürich",
        "Helsinki, FI",
        "said &quot;hi&quot;",
    ] {
        assert!(
            sheet.contains(&format!(r#"<t xml:space="preserve">{text}</t>"#)),
            "{text} missing from {sheet}"
        );
    }
    // Header (bold, style 1) + 4 rows; numbers stay numbers: users.id 1 is in A2.
    assert_eq!(sheet.matches("<row ").count(), 5, "{sheet}");
    assert!(
        sheet.contains(r#"<c r="A1" t="inlineStr" s="1">"#),
        "{sheet}"
    );
    assert!(sheet.contains(r#"<c r="A2"><v>1</v></c>"#), "{sheet}");
    assert!(files["xl/styles.xml"].contains("<b/>"));
    assert!(files["[Content_Types].xml"].contains("/xl/worksheets/sheet1.xml"));
    // Same Look, same bytes.
    assert_eq!(data, file(&look, Format::Xlsx));
    assert!(files["xl/workbook.xml"].contains(r#"name="Users""#));
}

#[test]
fn csv_zip_holds_the_looks_csv() {
    let look = users();
    let data = file(&look, Format::CsvZip);
    let files = unzip(&data).unwrap();
    assert_eq!(files.keys().collect::<Vec<_>>(), ["Users.csv"]);
    let csv = render(&look, Format::Csv, WriteOptions::default(), RAN_AT);
    assert_eq!(files["Users.csv"].as_bytes(), csv);
    // The same Look gives the same bytes (no date in the entries).
    assert_eq!(data, file(&look, Format::CsvZip));
}

#[test]
fn html_is_an_escaped_table() {
    let look = Look::from_yaml_str(
        r#"
title: "Tags <b>&</b>"
model: m
explore: e
fields:
  dimensions: [{name: e.text}]
rows:
  - {e.text: "<script>alert(\"x\")</script> & co"}
"#,
        "inline.yaml",
    )
    .unwrap();
    let html =
        String::from_utf8(render(&look, Format::Html, WriteOptions::default(), RAN_AT)).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        html.contains("<title>Tags &lt;b&gt;&amp;&lt;/b&gt;</title>"),
        "{html}"
    );
    assert!(html.contains("<th>E Text</th>"), "{html}");
    assert!(
        html.contains("<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co</td>"),
        "{html}"
    );
    assert!(!html.contains("<script>"));
    assert_eq!(html.matches("<tr>").count(), 2);
    assert!(html.trim_end().ends_with("</html>"));
}

#[test]
fn pdf_renders_the_title_and_first_rows_as_a_table() {
    let look = users();
    for format in [Format::WysiwygPdf, Format::AssembledPdf] {
        let data = file(&look, format);
        assert!(opens_as(format, &data), "{format}");
        let text = String::from_utf8_lossy(&data);
        assert!(text.contains("/Count 1"), "one page");
        assert!(text.contains("/BaseFont /Helvetica"), "a standard font");
        // Content streams are not compressed: the drawn text is readable.
        for shown in [
            "(Users) Tj",
            "(Users Email) Tj",
            "(ada@example.com) Tj",
            "(Helsinki, FI) Tj",
        ] {
            assert!(text.contains(shown), "{format}: {shown} not drawn");
        }
        // "Zürich" in WinAnsiEncoding (ü = 0xFC), written as a hex string.
        assert!(
            text.to_uppercase().contains("<5AFC72696368> TJ"),
            "{format}: Zürich not drawn"
        );
    }
}

#[test]
fn png_renders_the_title_and_rows_in_ink() {
    let data = file(&users(), Format::WysiwygPng);
    let (w, h, px) = decode_png(&data).expect("a PNG");
    assert!(w >= 480 && h > 100, "{w}x{h}");
    assert_eq!(px.len(), (w * h) as usize, "8-bit grayscale");
    let ink = px.iter().filter(|&&p| p == 0).count();
    assert!(ink > 1000, "text drawn: {ink} dark pixels");
    // The title is drawn at the top left, in the first 40 rows.
    assert!(px[..(40 * w) as usize].contains(&0));
}

#[test]
fn a_big_look_is_refused_as_a_workbook_naming_the_limit() {
    let big = mock_looker::builtin_looks()
        .into_iter()
        .find(|l| l.id() == Some(demo::GENERATED_USERS))
        .unwrap();
    let limit = mock_looker::format::file::MAX_FILE_ROWS;
    let bigger = Look::generated(big.def().clone(), limit + 1, 1).unwrap();
    let e = render_file(
        &Content::Look(bigger),
        Format::Xlsx,
        WriteOptions::default(),
        RAN_AT,
    )
    .unwrap_err();
    assert!(e.contains("100000"), "{e}");
    // PDF and PNG show the first rows of any Look, with the rest counted.
    let pdf = file(&big, Format::WysiwygPdf);
    assert!(String::from_utf8_lossy(&pdf).contains("more rows) Tj"));
}

/// A hub listing one action that takes every format and dashboards, by push or by URL, and
/// answering success to every execute.
async fn files_hub(download: &'static str, types: Value) -> FakeHub {
    FakeHub::start(Arc::new(move |r, base| {
        let types = types.clone();
        Box::pin(async move {
            if r.path == "/" {
                let mut list = reference_list(&base);
                let mut a = list["integrations"][1].clone();
                a["name"] = json!("files");
                a["url"] = json!(format!("{base}/actions/files/execute"));
                a["form_url"] = Value::Null;
                a["params"] = json!([]);
                a["required_fields"] = json!([]);
                a["supported_formats"] = json!(Format::ALL.map(|f| f.as_str()));
                a["supported_action_types"] = types;
                a["supported_download_settings"] = json!([download]);
                list["integrations"] = json!([a]);
                return Reply::Json(200, list);
            }
            Reply::Json(
                200,
                json!({"looker": {"success": true, "refresh_query": false, "validation_errors": {}}}),
            )
        })
    }))
    .await
}

async fn looker_with(hub: &FakeHub) -> (MockLooker, String) {
    let l = MockLooker::builder()
        .hub_timeout(std::time::Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    assert!(h.breaches.is_empty(), "{:?}", h.breaches);
    (l, h.id)
}

#[tokio::test]
async fn every_format_is_pushed_with_its_mimetype_and_valid_data() {
    let hub = files_hub("push", json!(["query"])).await;
    let (l, id) = looker_with(&hub).await;
    for format in Format::ALL {
        let out = l
            .send(SendRequest::new(&id, "files", l.look(demo::USERS).unwrap()).format(format))
            .await
            .unwrap();
        assert!(out.success && out.breaches.is_empty(), "{format}: {out:?}");
        let sent = hub
            .requests_to("/actions/files/execute")
            .pop()
            .unwrap()
            .json();
        let att = &sent["attachment"];
        assert_eq!(att["mimetype"], format.attachment_mimetype(), "{format}");
        assert_eq!(att["extension"], format.extension(), "{format}");
        let data = att["data"].as_str().expect("data is a string");
        if format.is_binary() {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap_or_else(|e| panic!("{format}: not base64: {e}"));
            assert!(opens_as(format, &bytes), "{format}");
        } else {
            assert!(!data.is_empty(), "{format}");
        }
    }
}

#[tokio::test]
async fn files_are_fetched_raw_from_the_download_url() {
    let hub = files_hub("url", json!(["query", "dashboard"])).await;
    let (l, id) = looker_with(&hub).await;
    let client = serving::http_client().no_proxy().build().unwrap();
    let users = l.look(demo::USERS).unwrap();
    let dash = l.dashboard(demo::OVERVIEW_DASHBOARD).unwrap();
    for (req, format) in [
        (SendRequest::new(&id, "files", users.clone()), Format::Xlsx),
        (
            SendRequest::new(&id, "files", users.clone()),
            Format::WysiwygPng,
        ),
        (
            SendRequest::for_dashboard(&id, "files", dash.clone()),
            Format::AssembledPdf,
        ),
    ] {
        let out = l
            .send(req.format(format).download(Download::Url))
            .await
            .unwrap();
        assert!(out.success, "{out:?}");
        let sent = hub
            .requests_to("/actions/files/execute")
            .pop()
            .unwrap()
            .json();
        assert_eq!(sent["attachment"], Value::Null);
        let url = sent["scheduled_plan"]["download_url"].as_str().unwrap();
        let resp = client.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], format.mimetype());
        let bytes = resp.bytes().await.unwrap();
        assert!(opens_as(format, &bytes), "{format}");
    }
}

#[tokio::test]
async fn a_dashboard_is_sent_as_looker_sends_one() {
    let hub = files_hub("push", json!(["query", "dashboard"])).await;
    let (l, id) = looker_with(&hub).await;
    let dash = l.dashboard(demo::OVERVIEW_DASHBOARD).unwrap();
    assert_eq!(dash.tiles().len(), 3);
    // Without a format: the first of the action's formats that Looker renders dashboards in.
    let out = l
        .send(SendRequest::for_dashboard(&id, "files", dash.clone()))
        .await
        .unwrap();
    assert!(out.success && out.breaches.is_empty(), "{out:?}");
    assert_eq!(
        out.format,
        Format::CsvZip,
        "csv_zip comes first in Format::ALL"
    );
    let out = l
        .send(SendRequest::for_dashboard(&id, "files", dash.clone()).format(Format::WysiwygPdf))
        .await
        .unwrap();
    assert!(out.success && out.breaches.is_empty(), "{out:?}");
    let sent = hub
        .requests_to("/actions/files/execute")
        .pop()
        .unwrap()
        .json();
    assert_eq!(sent["type"], "dashboard");
    let plan = &sent["scheduled_plan"];
    assert_eq!(plan["type"], "Dashboard");
    assert_eq!(plan["title"], "Customer overview");
    assert_eq!(plan["query"], Value::Null);
    assert!(plan["url"].as_str().unwrap().ends_with("/dashboards/1"));
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(sent["attachment"]["data"].as_str().unwrap())
        .unwrap();
    let text = String::from_utf8_lossy(&pdf);
    for tile in ["(All users) Tj", "(Accounts) Tj", "(Orders by month) Tj"] {
        assert!(text.contains(tile), "{tile} not drawn");
    }
    // assembled_pdf: a page per tile; csv_zip: a CSV per tile.
    let out = l
        .send(SendRequest::for_dashboard(&id, "files", dash.clone()).format(Format::AssembledPdf))
        .await
        .unwrap();
    assert!(out.success);
    let sent = hub
        .requests_to("/actions/files/execute")
        .pop()
        .unwrap()
        .json();
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(sent["attachment"]["data"].as_str().unwrap())
        .unwrap();
    assert!(String::from_utf8_lossy(&pdf).contains("/Count 3"));
    l.send(SendRequest::for_dashboard(&id, "files", dash.clone()).format(Format::CsvZip))
        .await
        .unwrap();
    let sent = hub
        .requests_to("/actions/files/execute")
        .pop()
        .unwrap()
        .json();
    let zip = base64::engine::general_purpose::STANDARD
        .decode(sent["attachment"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        unzip(&zip).unwrap().keys().collect::<Vec<_>>(),
        ["Accounts.csv", "All users.csv", "Orders by month.csv"]
    );
    // Looker renders dashboards only as files.
    let e = l
        .send(SendRequest::for_dashboard(&id, "files", dash).format(Format::Csv))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("dashboard"), "{e}");
}

#[tokio::test]
async fn a_dashboard_is_refused_to_an_action_that_does_not_list_dashboard() {
    let hub = files_hub("push", json!(["query"])).await;
    let (l, id) = looker_with(&hub).await;
    let dash = l.dashboard(demo::OVERVIEW_DASHBOARD).unwrap();
    match l.send(SendRequest::for_dashboard(&id, "files", dash)).await {
        Err(MockError::NotOffered(why)) => {
            assert!(why.contains("does not accept dashboards"), "{why}");
            assert!(why.contains(r#"["query"]"#), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert!(hub.requests_to("/actions/files/execute").is_empty());
}

#[tokio::test]
async fn dashboards_load_from_the_looks_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a_look.yaml"),
        "id: \"77\"\ntitle: Mine\nmodel: m\nexplore: e\nfields: {dimensions: [{name: e.x}]}\nrows: [{e.x: 1}]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b_dash.yaml"),
        "title: My board\ntiles: [{look: \"77\"}, {look: \"1\", title: Users tile}]\n",
    )
    .unwrap();
    let l = MockLooker::builder()
        .looks_dir(dir.path())
        .start()
        .await
        .unwrap();
    let d = l
        .dashboards()
        .into_iter()
        .find(|d| d.title == "My board")
        .unwrap();
    let titles: Vec<&str> = d.tiles().iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, ["Mine", "Users tile"]);
    assert_ne!(d.id, demo::OVERVIEW_DASHBOARD, "a fresh id");
    // A tile naming no Look stops the start with the dashboard and tile named.
    std::fs::write(
        dir.path().join("c_bad.yaml"),
        "title: Broken board\ntiles: [{look: \"404\"}]\n",
    )
    .unwrap();
    let e = MockLooker::builder()
        .looks_dir(dir.path())
        .start()
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("Broken board") && e.contains("tiles[0]") && e.contains("404"),
        "{e}"
    );
}

#[tokio::test]
async fn a_cell_action_without_oauth_gets_type_cell_and_the_clicked_value() {
    let hub = FakeHub::good().await;
    let l = MockLooker::start().await.unwrap();
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    let mut req = SendRequest::new(&h.id, "cell_only", l.look(demo::USERS).unwrap());
    req.cell_value = Some("ada@example.com".into());
    let out = l.send(req).await.unwrap();
    assert!(out.success && out.breaches.is_empty(), "{out:?}");
    let ex = hub
        .requests_to("/actions/cell_only/execute")
        .pop()
        .unwrap()
        .json();
    assert_eq!(ex["type"], "cell");
    assert_eq!(ex["data"]["value"], "ada@example.com");
    assert!(ex["data"].get("state_url").is_none(), "not an OAuth action");
    assert_eq!(ex["attachment"]["mimetype"], "application/json");
}

#[tokio::test]
async fn the_admin_api_lists_and_sends_dashboards() {
    let hub = files_hub("push", json!(["query", "dashboard"])).await;
    let (l, id) = looker_with(&hub).await;
    let client = serving::http_client().no_proxy().build().unwrap();
    let list: Value = client
        .get(format!("{}/_mock/dashboards", l.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["id"], "1");
    assert_eq!(list[0]["title"], "Customer overview");
    assert_eq!(
        list[0]["tiles"][0],
        json!({"title": "All users", "look_id": "1"})
    );
    let send = |body: Value| {
        let client = client.clone();
        let url = format!("{}/_mock/send", l.url());
        async move { client.post(url).json(&body).send().await.unwrap() }
    };
    let resp =
        send(json!({"hub": id, "action": "files", "dashboard_id": "1", "format": "wysiwyg_png"}))
            .await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["success"], true, "{out}");
    assert_eq!(out["format"], "wysiwyg_png");
    let sent = hub
        .requests_to("/actions/files/execute")
        .pop()
        .unwrap()
        .json();
    assert_eq!(sent["type"], "dashboard");
    // Exactly one of look_id and dashboard_id; an unknown dashboard is a 404.
    let resp =
        send(json!({"hub": id, "action": "files", "dashboard_id": "1", "look_id": "1"})).await;
    assert_eq!(resp.status(), 422);
    let resp = send(json!({"hub": id, "action": "files"})).await;
    assert_eq!(resp.status(), 422);
    let resp = send(json!({"hub": id, "action": "files", "dashboard_id": "99"})).await;
    assert_eq!(resp.status(), 404);
    let text = resp.text().await.unwrap();
    assert!(text.contains("no dashboard with id \\\"99\\\""), "{text}");
}
