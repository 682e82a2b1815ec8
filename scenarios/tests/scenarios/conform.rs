//! #11: `--repeat` and `--report` through the binary.

use crate::helpers::{arg, identify_scenario, run, scenario_dir, text};

#[test]
fn repeat_runs_each_scenario_n_times_and_junit_fails_a_scenario_if_any_run_failed() {
    let dir = scenario_dir(&[
        ("r/good.yaml", &identify_scenario("{users.city: Paris}")),
        ("r/bad.yaml", &identify_scenario("{users.city: Lyon}")),
    ]);
    let junit = arg(dir.path(), "junit.xml");
    let o = run(
        &[
            "run",
            &arg(dir.path(), "r"),
            "--repeat",
            "3",
            "--junit",
            &junit,
            "-j",
            "2",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("[3/3 failed: payload (3)]"), "{out}");
    assert!(out.contains("3/3 passed"), "{out}");
    assert!(out.contains("2 scenarios: 1 passed, 1 failed"), "{out}");
    assert!(out.contains("6 runs: 3 failed"), "{out}");
    assert!(out.contains("failed by class: payload 1"), "{out}");
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(xml.contains("tests=\"2\""), "{xml}");
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(xml.contains("type=\"payload\""), "{xml}");
    // Zero runs is not a run.
    let o = run(&["run", &arg(dir.path(), "r"), "--repeat", "0"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn report_writes_markdown_and_self_contained_escaped_html() {
    let odd = identify_scenario("{users.city: Lyon}").replace(
        "description: one user",
        "name: '<b>odd</b> & co'\ndescription: one user",
    );
    let dir = scenario_dir(&[
        ("s/good.yaml", &identify_scenario("{users.city: Paris}")),
        ("s/odd.yaml", &odd),
    ]);
    let md = arg(dir.path(), "out/report.md");
    let html = arg(dir.path(), "out/report.html");
    for file in [&md, &html] {
        let o = run(
            &["run", &arg(dir.path(), "s"), "--report", file],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    }
    let md = std::fs::read_to_string(&md).expect("markdown written");
    assert!(md.starts_with("# Action Hub conformance report"), "{md}");
    assert!(md.contains("- Hub: the in-process reference hub"), "{md}");
    assert!(md.contains("LookerOutgoingWebhook/"), "{md}");
    assert!(md.contains("- Time: 20"), "{md}");
    assert!(
        md.contains("| identify/track/group mapping | **fail** (payload 1) | 1 passed, 1 failed"),
        "{md}"
    );
    assert!(md.contains("| retries | no scenario |"), "{md}");
    assert!(md.contains("](#f--b-odd--b----co)"), "{md}");
    assert!(md.contains("<a id=\"f--b-odd--b----co\"></a>"), "{md}");
    assert!(md.contains("What Looker was told"), "{md}");
    assert!(md.contains("What arrived at the data plane"), "{md}");
    assert!(md.contains("\"Paris\""), "the event as it arrived: {md}");
    assert!(
        md.contains("step 1: send `u` to `rudder_event`, 1 row(s)"),
        "{md}"
    );
    let html = std::fs::read_to_string(&html).expect("html written");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("&lt;b&gt;odd&lt;/b&gt; &amp; co"), "{html}");
    assert!(!html.contains("<b>odd"), "unescaped name: {html}");
    assert!(html.contains("<h3 id=\"f--b-odd--b----co\">"), "{html}");
    assert!(html.contains("href=\"#f--b-odd--b----co\""), "{html}");
    assert!(
        !html.contains("<script") && !html.contains("src="),
        "{html}"
    );
    // Anything but .md or .html is refused before running.
    let o = run(
        &[
            "run",
            &arg(dir.path(), "s"),
            "--report",
            &arg(dir.path(), "r.pdf"),
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("must end in .md or .html"),
        "{}",
        text(&o)
    );
}
