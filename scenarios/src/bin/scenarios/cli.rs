//! The `scenarios` command line, as a library function so the binary stays a few lines.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use scenarios::Status;
use scenarios::conformance;
use scenarios::report;
use scenarios::runner;
use scenarios::wiring::{Wiring, WiringConfig};

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
}

/// `scenarios list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Files or directories; default the embedded scenarios.
    pub paths: Vec<PathBuf>,
    /// Only scenarios whose name, path or tags contain this text.
    #[arg(long)]
    pub filter: Option<String>,
}

fn load(paths: &[PathBuf], filter: Option<&str>) -> Result<Vec<scenarios::LoadedScenario>, u8> {
    let loaded = if paths.is_empty() {
        scenarios::load::load_embedded()
    } else {
        scenarios::load::load_paths(paths)
    };
    match loaded {
        Ok(s) => Ok(scenarios::load::filter(s, filter)),
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            Err(report::EXIT_HARNESS)
        }
    }
}

/// `scenarios list`: print name, path and description of each scenario.
pub fn list(args: ListArgs) -> u8 {
    match load(&args.paths, args.filter.as_deref()) {
        Ok(all) => {
            for s in &all {
                let desc = s.scenario.description.lines().next().unwrap_or("");
                println!("{:<50} {}", s.name, desc);
            }
            println!("{} scenarios", all.len());
            report::EXIT_OK
        }
        Err(code) => code,
    }
}

/// `scenarios run`: returns the process exit code.
pub async fn run(args: RunArgs) -> u8 {
    let scenarios = match load(&args.paths, args.filter.as_deref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if scenarios.is_empty() {
        eprintln!("no scenario matches");
        return report::EXIT_HARNESS;
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
    let external_hub = args.hub_url.is_some();
    let launcher = Arc::new(Wiring::new(WiringConfig {
        hub_url: args.hub_url,
        hub_token: args.hub_token,
        dataplane_url: args.dataplane_url,
    }));
    let bar = ProgressBar::new(scenarios.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let started = Instant::now();
    let pb = bar.clone();
    let reports = runner::run_all(launcher, scenarios, jobs, external_hub, move |r| {
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
