//! #11, items 5 to 8: mocks reachable from a hub elsewhere (`--bind`, `--advertise-host`), a
//! data plane the runner did not start (`--dataplane-url`), directory runs that count only
//! scenario files, and `--shard`.

use std::collections::BTreeSet;

use crate::helpers::{arg, identify_scenario, run, scenario_dir, text};

/// The names `scenarios list` printed (first column, before the count line).
fn listed(out: &str) -> Vec<String> {
    out.lines()
        .take_while(|l| !l.ends_with(" scenarios"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// The test case names of a JUnit file.
fn junit_cases(xml: &str) -> Vec<String> {
    xml.split("<testcase ")
        .skip(1)
        .filter_map(|c| c.split("name=\"").nth(1))
        .filter_map(|c| c.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_directory_run_skips_what_is_not_a_scenario_and_reports_a_broken_file_on_its_own() {
    let look = "title: Users\nfields:\n  dimensions: [{name: users.id, tags: [user_id]}]\nrows: [{users.id: u1}]\n";
    let compose = "services:\n  hub:\n    image: example/hub\n    ports: ['8080:8080']\n";
    let dir = scenario_dir(&[
        (
            "suite/ok/one.yaml",
            &identify_scenario("{users.city: Paris}"),
        ),
        ("suite/looks/users.yaml", look),
        ("suite/compose.yaml", compose),
        (
            "suite/broken.yaml",
            "steps:\n  - send: {action: rudder_event}\nexpcet: {}\n",
        ),
    ]);
    let junit = arg(dir.path(), "out/junit.xml");
    let o = run(
        &["run", &arg(dir.path(), "suite"), "--junit", &junit],
        dir.path(),
    );
    let out = text(&o);
    // The broken file is a harness problem (exit 2), but the other scenario ran and passed.
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("PASS   ok/one"), "{out}");
    assert!(out.contains("ERROR  broken"), "{out}");
    assert!(
        out.contains("harness problem of this scenario file"),
        "{out}"
    );
    assert!(out.contains("broken.yaml:3:"), "{out}");
    assert!(out.contains("unknown field `expcet`"), "{out}");
    assert!(
        out.contains("2 scenarios: 1 passed, 0 failed, 1 harness errors"),
        "{out}"
    );
    let notice = |file: &str| {
        out.lines()
            .find(|l| l.starts_with("note: skipped") && l.contains(file))
            .unwrap_or_else(|| panic!("no notice for {file}: {out}"))
            .to_owned()
    };
    assert!(notice("users.yaml").contains("a Look file"), "{out}");
    assert!(
        notice("compose.yaml").contains("no top-level `steps:`"),
        "{out}"
    );
    let xml = std::fs::read_to_string(&junit).expect("JUnit written despite the broken file");
    let mut cases = junit_cases(&xml);
    cases.sort();
    assert_eq!(cases, ["broken", "ok/one"], "{xml}");
    assert!(
        xml.contains("harness problem of this scenario file"),
        "{xml}"
    );
}

#[test]
fn the_crate_folder_runs_its_scenarios_and_skips_its_looks() {
    let dir = scenario_dir(&[]);
    let krate = env!("CARGO_MANIFEST_DIR");
    let o = run(&["list", krate], dir.path());
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let embedded = scenarios::load::load_embedded().expect("embedded scenarios load");
    assert_eq!(listed(&out).len(), embedded.len(), "{out}");
    assert!(
        out.contains(&format!("{} scenarios", embedded.len())),
        "{out}"
    );
    for look in ["orders.yaml", "users.yaml"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("note: skipped") && l.contains(look)),
            "{out}"
        );
    }
    let o = run(
        &["run", krate, "--filter", "identify/01_user_id"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("1 scenarios: 1 passed"), "{}", text(&o));
}

#[test]
fn shards_are_disjoint_and_together_the_whole_selection() {
    let dir = scenario_dir(&[]);
    let o = run(&["list"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all: BTreeSet<String> = listed(&text(&o)).into_iter().collect();
    assert!(all.len() > 50, "{all:?}");
    for n in [2, 3, 7] {
        let mut union = BTreeSet::new();
        for i in 1..=n {
            let o = run(&["list", "--shard", &format!("{i}/{n}")], dir.path());
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
            let part = listed(&text(&o));
            assert!(part.len() < all.len(), "shard {i}/{n} holds everything");
            for name in part {
                assert!(union.insert(name.clone()), "{name} in two shards of {n}");
            }
        }
        assert_eq!(union, all, "the {n} shards miss scenarios");
    }
    let o = run(&["list", "--shard", "3/2"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("I/N"), "{}", text(&o));

    // Each shard of a run writes its own JUnit, with its part only.
    let files: Vec<(String, String)> = (1..=5)
        .map(|i| {
            (
                format!("s/case{i}.yaml"),
                identify_scenario("{users.city: Paris}"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let dir = scenario_dir(&refs);
    let mut ran = Vec::new();
    for i in 1..=2 {
        let junit = arg(dir.path(), &format!("junit-{i}.xml"));
        let o = run(
            &[
                "run",
                &arg(dir.path(), "s"),
                "--shard",
                &format!("{i}/2"),
                "--junit",
                &junit,
            ],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        ran.extend(junit_cases(&std::fs::read_to_string(&junit).unwrap()));
    }
    ran.sort();
    assert_eq!(ran, ["case1", "case2", "case3", "case4", "case5"]);
}

/// The hub runs elsewhere (here: bound to 127.0.0.2, as a hub in a container would be), and
/// reaches the runner's mocks only by the URLs they hand it.
#[test]
fn mocks_bound_and_advertised_for_a_hub_that_runs_elsewhere() {
    let dir = scenario_dir(&[]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let hub = rt.block_on(async {
        let binding = serving::Binding::bind("127.0.0.2".parse().unwrap())
            .await
            .expect("bind 127.0.0.2");
        let config = hub::HubConfig {
            token: Some("T".into()),
            ..hub::HubConfig::default()
        };
        binding.spawn("hub", |listener, stop| {
            hub::Hub::builder().config(config).run(listener, stop)
        })
    });
    let hub_url = hub.url().to_owned();
    assert!(hub_url.starts_with("http://127.0.0.2:"), "{hub_url}");
    // One scenario that hands the hub a data plane URL and a download URL.
    let run_with = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--filter",
            "formats/json_detail_url",
            "--hub-url",
            &hub_url,
            "--hub-token",
            "T",
        ];
        args.extend_from_slice(extra);
        run(&args, dir.path())
    };
    // Under a name that resolves to where the mocks listen.
    let o = run_with(&["--advertise-host", "localhost"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("1 passed"), "{}", text(&o));
    // Bound to another loopback address, advertised as it.
    let o = run_with(&["--bind", "127.0.0.3", "--advertise-host", "127.0.0.3"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Bound to 127.0.0.3 but advertised as localhost (127.0.0.1): the hub is sent where
    // nothing listens, so the URLs it got name the advertised host, not the bound address.
    let o = run_with(&["--bind", "127.0.0.3", "--advertise-host", "localhost"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    drop(hub);

    // The write-back hub runs in-process, configured with the mock Looker's OAuth provider at
    // its advertised URL: the login goes through the name.
    let wb = |extra: &[&str]| {
        let mut args = vec!["run", "--filter", "writeback/01_happy_path"];
        args.extend_from_slice(extra);
        run(&args, dir.path())
    };
    let o = wb(&["--advertise-host", "localhost"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = wb(&["--bind", "127.0.0.3", "--advertise-host", "localhost"]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
}

/// A mock-dataplane started the README's way (no `--write-key`: one generated key), reached
/// only over HTTP: the runner creates every write key a scenario names through
/// `/_mock/sources`, gives it the scenario's settings through `/_mock/settings` (legacy texts,
/// the 413 threshold, the write timeout), and resets events, journal and faults before each
/// scenario. Every scenario runs, and passes, as with the in-process data plane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_suite_runs_against_a_mock_dataplane_started_without_write_keys() {
    let dp = mock_dataplane::MockDataplane::builder()
        .in_memory()
        .start()
        .await
        .expect("mock data plane");
    let dir = scenario_dir(&[]);
    let url = dp.url();
    let cwd = dir.path().to_owned();
    let all = scenarios::load::load_embedded()
        .expect("embedded scenarios")
        .len();
    let o = tokio::task::spawn_blocking(move || run(&["run", "-q", "--dataplane-url", &url], &cwd))
        .await
        .expect("runner thread");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "{all} scenarios: {all} passed, 0 failed, 0 harness errors, 0 skipped"
        )),
        "{out}"
    );
    // The runner created the scenarios' keys at this data plane, and left the settings of the
    // last scenario (the defaults: it needs none of its own).
    assert!(dp.write_keys().contains(&"wk_scenario".to_string()));
    let settings = mock_dataplane::Client::new(dp.url())
        .unwrap()
        .set_settings(&mock_dataplane::RuntimeSettings::default())
        .await
        .unwrap();
    assert_eq!(settings.legacy_responses, Some(false));
}
