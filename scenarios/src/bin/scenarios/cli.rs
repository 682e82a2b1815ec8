//! The `scenarios` command line, as a library function so the binary stays a few lines.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use scenarios::conformance;
use scenarios::load::BrokenFile;
use scenarios::report;
use scenarios::runner;
use scenarios::shard::Shard;
use scenarios::wiring::{Wiring, WiringConfig};
use scenarios::{Report, Status};

/// Scenario runner for the Looker → RudderStack mock ecosystem.
#[derive(Debug, Parser)]
#[command(name = "scenarios", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenario files: each gets fresh in-process servers on port 0, in parallel.
    /// Exit code 0 when all pass, 1 when a scenario fails, 2 when the harness itself fails.
    Run(RunArgs),
    /// List the scenarios that `run` would run, without running them.
    List(ListArgs),
    /// The demo: hub, data plane and Looker on fixed loopback ports, demo Looks sent through
    /// each action, then serve until Ctrl-C.
    Up(crate::demo::UpArgs),
    /// A recording proxy between Looker and a hub: every exchange passed on and written down,
    /// every execute turned into a scenario (NNN_<action>.yaml) that `scenarios run DIR`
    /// replays.
    Record(crate::record::RecordArgs),
}

/// `scenarios run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or directories (searched recursively for *.yaml). Default: the scenarios
    /// embedded in this binary (the crate's `scenarios/` directory).
    pub paths: Vec<PathBuf>,
    /// Only scenarios whose name, path or tags contain this text (case-insensitive).
    #[arg(long)]
    pub filter: Option<String>,
    /// How many scenarios run at once (default: number of CPUs).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Write a JUnit XML report here (for CI).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Contract-test an external hub instead of the in-process reference hub. Scenarios that
    /// assert fixes of the reference hub are skipped.
    #[arg(long, requires = "hub_token")]
    pub hub_url: Option<String>,
    /// Token for --hub-url (sent as `Authorization: Token token="…"`).
    #[arg(long, env = "SCENARIOS_HUB_TOKEN", hide_env_values = true)]
    pub hub_token: Option<String>,
    /// Use a running mock data plane (its `/_mock` API) instead of an in-process one. Its
    /// events are reset before each scenario, so use --jobs 1 with it.
    #[arg(long)]
    pub dataplane_url: Option<String>,
    /// Only the summary table: leave out the failure details (the diffs of expected against
    /// received) that are printed before it by default.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Run each selected scenario N times (a racy loss passes or fails by luck once). The table
    /// shows pass counts per scenario (`7/30 failed: silent-loss`); JUnit marks a scenario
    /// failed if any run failed.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub repeat: u32,
    /// Write a conformance report to attach to a bug report: FILE.md (Markdown) or FILE.html
    /// (one self-contained page). One row per area, each failure linked to what was sent, what
    /// arrived and what Looker was told.
    #[arg(long, value_name = "FILE.md|FILE.html")]
    pub report: Option<PathBuf>,
    /// Run part I of N of the selected scenarios (after --filter), for N parallel CI jobs:
    /// each scenario is in exactly one part, by a hash of its name (its path relative to the
    /// directory given), the same on every machine. --junit then reports this part.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Address the in-process mocks (Looker, data plane) listen on, e.g. 0.0.0.0 or
    /// 127.0.0.2, so that a hub outside this process (a container) can reach them.
    /// [default: 127.0.0.1]
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,
    /// Host name the hub reaches the in-process mocks under (e.g. host.docker.internal): every
    /// URL given to the hub (data plane URL, download URLs, OAuth links) names it. Default: the
    /// --bind address.
    #[arg(long, value_name = "NAME")]
    pub advertise_host: Option<String>,
}

/// `scenarios list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Files or directories; default the embedded scenarios.
    pub paths: Vec<PathBuf>,
    /// Only scenarios whose name, path or tags contain this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Only part I of N (see `run --shard`).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
}

/// What a run or a list selected: the scenarios, and the scenario files that did not load.
struct Selection {
    scenarios: Vec<scenarios::LoadedScenario>,
    broken: Vec<BrokenFile>,
    /// How many scenarios and broken files the filter selected, before the shard's part.
    before_shard: usize,
}

/// Loads the scenarios of `paths` (default the embedded ones), prints a notice for each file of
/// a directory that is not a scenario, and keeps what `filter` and `shard` select. A broken
/// embedded scenario (a bad build) ends the run; a broken file on disk is one result.
fn select(paths: &[PathBuf], filter: Option<&str>, shard: Option<Shard>) -> Result<Selection, u8> {
    let (scenarios, broken) = if paths.is_empty() {
        match scenarios::load::load_embedded() {
            Ok(s) => (s, Vec::new()),
            Err(errors) => {
                for e in errors {
                    eprintln!("error: {e}");
                }
                return Err(report::EXIT_HARNESS);
            }
        }
    } else {
        let found = scenarios::load::discover(paths);
        for f in &found.skipped {
            eprintln!("note: skipped {}: {}", f.path.display(), f.reason);
        }
        (found.scenarios, found.broken)
    };
    let mut scenarios = scenarios::load::filter(scenarios, filter);
    let mut broken = scenarios::load::filter_broken(broken, filter);
    let before_shard = scenarios.len() + broken.len();
    if let Some(shard) = shard {
        scenarios.retain(|s| shard.contains(&s.name));
        broken.retain(|b| shard.contains(&b.name));
    }
    Ok(Selection {
        scenarios,
        broken,
        before_shard,
    })
}

/// A scenario file that did not load, as its own result: a harness problem of that file (the
/// hub was never involved), so the other scenarios still run and JUnit names it.
fn broken_report(b: &BrokenFile) -> Report {
    Report {
        name: b.name.clone(),
        path: b.path.display().to_string(),
        status: Status::HarnessError {
            error: format!(
                "harness problem of this scenario file (not of the hub): it does not load: {}",
                b.error
            ),
        },
        duration: std::time::Duration::ZERO,
        events: 0,
        record: Default::default(),
    }
}

/// `scenarios list`: print name, path and description of each scenario.
pub fn list(args: ListArgs) -> u8 {
    match select(&args.paths, args.filter.as_deref(), args.shard) {
        Ok(sel) => {
            for s in &sel.scenarios {
                let desc = s.scenario.description.lines().next().unwrap_or("");
                println!("{:<50} {}", s.name, desc);
            }
            for b in &sel.broken {
                println!("{:<50} BROKEN: {}", b.name, b.error);
            }
            println!("{} scenarios", sel.scenarios.len());
            if sel.broken.is_empty() {
                report::EXIT_OK
            } else {
                report::EXIT_HARNESS
            }
        }
        Err(code) => code,
    }
}

/// `scenarios run`: returns the process exit code.
pub async fn run(args: RunArgs) -> u8 {
    let Selection {
        scenarios,
        broken,
        before_shard,
    } = match select(&args.paths, args.filter.as_deref(), args.shard) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if before_shard == 0 {
        eprintln!("no scenario matches");
        return report::EXIT_HARNESS;
    }
    if let Some(shard) = args.shard {
        // An empty part (fewer scenarios than shards) is not an error: the others run them.
        println!(
            "shard {shard}: {} of the {before_shard} selected scenario(s)",
            scenarios.len() + broken.len()
        );
    }
    let report_kind = match &args.report {
        Some(path) => match conformance::Kind::from_path(path) {
            Some(k) => Some((path.clone(), k)),
            None => {
                eprintln!(
                    "error: --report {}: the file name must end in .md or .html",
                    path.display()
                );
                return report::EXIT_HARNESS;
            }
        },
        None => None,
    };
    let selected = scenarios.clone();
    // Rounds of the whole selection, so that repeated runs mix with the others as CI's would.
    let scenarios: Vec<_> = (0..args.repeat)
        .flat_map(|_| scenarios.iter().cloned())
        .collect();
    let meta = conformance::Meta {
        hub: args
            .hub_url
            .clone()
            .unwrap_or_else(|| "the in-process reference hub (fresh per scenario)".into()),
        looker_version: format!(
            "the mock Looker, LookerOutgoingWebhook/{} unless a scenario sets another version",
            mock_looker::DEFAULT_LOOKER_VERSION
        ),
        dataplane: args
            .dataplane_url
            .clone()
            .unwrap_or_else(|| "the in-process mock data plane (fresh per scenario)".into()),
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        repeat: args.repeat as usize,
    };
    let jobs = args.jobs.unwrap_or_else(|| {
        if args.dataplane_url.is_some() {
            1
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }
    });
    if args.bind.is_some_and(|ip| ip.is_unspecified()) && args.advertise_host.is_none() {
        eprintln!(
            "note: --bind {} without --advertise-host hands the hub URLs naming {0}, which a hub elsewhere cannot reach: give the name it reaches this machine under",
            args.bind.map(|ip| ip.to_string()).unwrap_or_default()
        );
    }
    let external_hub = args.hub_url.is_some();
    let launcher = Arc::new(Wiring::new(WiringConfig {
        hub_url: args.hub_url,
        hub_token: args.hub_token,
        dataplane_url: args.dataplane_url,
        bind: args.bind,
        advertise_host: args.advertise_host,
    }));
    let bar = ProgressBar::new((scenarios.len() + broken.len()) as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let started = Instant::now();
    let pb = bar.clone();
    let mut reports: Vec<Report> = broken.iter().map(broken_report).collect();
    for b in &broken {
        bar.println(format!("ERROR {}: {}", b.name, b.error));
        bar.inc(1);
    }
    let ran = runner::run_all(launcher, scenarios, jobs, external_hub, move |r| {
        match &r.status {
            Status::Failed { .. } => pb.println(format!(
                "FAIL  {} [{}]",
                r.name,
                r.class().map(|c| c.as_str()).unwrap_or("")
            )),
            Status::HarnessError { error } => pb.println(format!("ERROR {}: {error}", r.name)),
            _ => {}
        }
        pb.set_message(r.name.clone());
        pb.inc(1);
    })
    .await;
    reports.extend(ran);
    bar.finish_and_clear();
    if !args.quiet {
        print!("{}", report::details(&reports));
    }
    print!("{}", report::table(&reports));
    println!(
        "total time {:.1}s with {jobs} job(s)",
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.junit {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = std::fs::write(path, report::junit(&reports)) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return report::EXIT_HARNESS;
        }
        println!("JUnit report: {}", path.display());
    }
    if let Some((path, kind)) = report_kind {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let text = conformance::render(kind, &reports, &selected, &meta);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return report::EXIT_HARNESS;
        }
        println!("conformance report: {}", path.display());
    }
    report::exit_code(&reports)
}

/// Parse flags and run; returns the exit code.
pub async fn main(cli: Cli) -> u8 {
    match cli.command {
        Command::Run(a) => run(a).await,
        Command::List(a) => list(a),
        Command::Record(a) => crate::record::record(a).await,
        Command::Up(a) => match crate::demo::up(a).await {
            Ok(()) => report::EXIT_OK,
            Err(e) => {
                eprintln!("error: {e:#}");
                report::EXIT_HARNESS
            }
        },
    }
}
