//! The HTML shell shared by the servers' pages (the mock Looker console, the mock data plane's
//! page, the hub's index, the OAuth sign-in page), so they look alike and escape the same way.
//!
//! Pages are rendered on the server from `format!` and [`esc`]: no template engine and no
//! JavaScript build, so `cargo run` stays the one command and the pages work offline. The
//! stylesheet is inline (one request per page, nothing to fetch) and keeps WCAG AA contrast
//! (text #1f2328 on #fff, links #0b57d0, muted #57606a: all above 4.5:1).

/// Text escaped for HTML element content and double-quoted attribute values.
pub fn esc(text: &str) -> String {
    html_escape::encode_double_quoted_attribute(text).into_owned()
}

/// One link of a page's navigation bar: `(href, label)`.
pub type NavLink<'a> = (&'a str, &'a str);

/// A complete HTML document: the shared stylesheet, a skip link, the navigation bar (the link
/// whose href equals `current` is marked as the current page) and `body`, which must already
/// be escaped. `title` is escaped here.
pub fn document(title: &str, nav: &[NavLink<'_>], current: &str, body: &str) -> String {
    let mut links = String::new();
    for (href, label) in nav {
        let aria = if *href == current {
            " aria-current=\"page\""
        } else {
            ""
        };
        links.push_str(&format!(
            "<a href=\"{}\"{aria}>{}</a>",
            esc(href),
            esc(label)
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\n\
         <header><nav aria-label=\"Pages\">{links}</nav></header>\n\
         <main id=\"main\">\n<h1>{title}</h1>\n{body}\n</main>\n</body>\n</html>\n",
        title = esc(title),
    )
}

/// The shared stylesheet.
pub const STYLE: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; background: #fff; }
header { background: #24292f; padding: 0 1rem; }
header nav { display: flex; flex-wrap: wrap; gap: .25rem; }
header a { color: #fff; padding: .7rem .8rem; text-decoration: none; display: inline-block; }
header a[aria-current="page"] { background: #0b57d0; }
header a:hover { text-decoration: underline; }
main { padding: 1rem 1.5rem 3rem; max-width: 1400px; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 1.8rem 0 .6rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
a { color: #0b57d0; }
a:focus, button:focus, input:focus, select:focus, textarea:focus, summary:focus { outline: 3px solid #fb8c00; outline-offset: 1px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: .5rem; background: #fff; padding: .3rem; z-index: 2; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
code, pre { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; padding: .5rem; overflow: auto; max-height: 32rem; white-space: pre-wrap; word-break: break-all; }
.tag { display: inline-block; background: #ddf4ff; color: #0a3069; border-radius: 1rem; padding: 0 .5rem; margin: 0 .2rem .1rem 0; font-size: 12px; }
.muted { color: #57606a; }
.ok { color: #116329; font-weight: 600; }
.bad { color: #a40e26; font-weight: 600; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: .6rem 1rem; margin: .8rem 0; }
label { display: block; font-weight: 600; margin: .6rem 0 .2rem; }
input[type=text], input[type=url], input[type=password], select, textarea { font: inherit; padding: .35rem .5rem; border: 1px solid #8c959f; border-radius: 4px; min-width: 18rem; max-width: 100%; }
button { font: inherit; padding: .4rem .9rem; border: 1px solid #1f2328; border-radius: 4px; background: #f6f8fa; color: #1f2328; cursor: pointer; margin: .3rem .3rem .3rem 0; }
button.primary { background: #0b57d0; border-color: #0b57d0; color: #fff; }
button.danger { background: #a40e26; border-color: #a40e26; color: #fff; }
.row { display: flex; flex-wrap: wrap; gap: 1.5rem; }
.row > * { flex: 1 1 24rem; }
details > summary { cursor: pointer; }
.hint { font-size: 13px; color: #57606a; margin: .1rem 0 .3rem; }
"#;
