//! Memory held by `/_mock/stream` subscribers that never read.
//!
//! `cargo bench -p mock-dataplane --bench stalled_stream [-- --events N --subscribers S --hold-secs T --bin PATH]`
//! (harness = false). Starts the release `mock-dataplane` binary (or `--bin PATH`, e.g. an
//! older build to compare) with durable SQLite storage in a temp dir, stores N events
//! (default 200,000, SDK-like, ~420 bytes each) in 100-event batches, then opens S raw
//! connections (default 5) that ask for `/_mock/stream` and never read. While they hang it
//! samples the server's RSS and times `GET /health`; then it closes them. Prints VmRSS and
//! VmHWM (peak RSS, from /proc/<pid>/status) after the fill, while the subscribers hang, and
//! after they left.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

struct Args {
    events: usize,
    subscribers: usize,
    hold: Duration,
    bin: String,
}

fn parse_args() -> Args {
    let mut a = Args {
        events: 200_000,
        subscribers: 5,
        hold: Duration::from_secs(8),
        bin: env!("CARGO_BIN_EXE_mock-dataplane").to_owned(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().unwrap_or_else(|| panic!("{name} needs a value"));
        match arg.as_str() {
            "--events" => a.events = val("--events").parse().expect("--events N"),
            "--subscribers" => {
                a.subscribers = val("--subscribers").parse().expect("--subscribers N")
            }
            "--hold-secs" => {
                a.hold = Duration::from_secs(val("--hold-secs").parse().expect("secs"))
            }
            "--bin" => a.bin = val("--bin"),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// `VmRSS` and `VmHWM` of a process in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn batch_body(batch: usize, salt: usize) -> String {
    let events: Vec<String> = (0..batch)
        .map(|i| {
            format!(
                r#"{{"type":"track","event":"Order Completed","userId":"user-{i}","anonymousId":"anon-{salt}-{i}","messageId":"{salt:08}-{i:04}-4000-8000-000000000000","properties":{{"revenue":9.99,"currency":"EUR","order_id":"o-{i}"}},"context":{{"library":{{"name":"analytics-node","version":"3.0.13"}},"app":{{"name":"looker/actions","version":"dev"}}}},"channel":"server","originalTimestamp":"2026-01-01T00:00:00.000Z","sentAt":"2026-01-01T00:00:00.000Z"}}"#
            )
        })
        .collect();
    format!(r#"{{"batch":[{}]}}"#, events.join(","))
}

fn main() -> anyhow::Result<()> {
    let args = parse_args();
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut child = std::process::Command::new(&args.bin)
            .args(["--port", "0", "--write-key", "bench-key", "--data-dir"])
            .arg(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let pid = child.id();
        let mut lines =
            std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let first = lines.next().unwrap()?;
        std::thread::spawn(move || for _ in lines {});
        let base = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .to_owned();
        let addr = base.trim_start_matches("http://").to_owned();
        println!("server {} (pid {pid})", args.bin);

        // Fill.
        let started = Instant::now();
        let requests = args.events / 100;
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let client = serving::http_client().no_proxy().build()?;
            let url = format!("{base}/v1/batch");
            let next = next.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= requests {
                        break;
                    }
                    let r = client
                        .post(&url)
                        .basic_auth("bench-key", Some(""))
                        .body(batch_body(100, n))
                        .send()
                        .await
                        .expect("request");
                    assert_eq!(r.status(), 200);
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        let (rss, hwm) = memory_mib(pid);
        println!(
            "stored {} events in {:.1} s: VmRSS {rss:.1} MiB, VmHWM {hwm:.1} MiB",
            requests * 100,
            started.elapsed().as_secs_f64()
        );

        // Subscribers that never read (a small receive buffer, so the server's side fills up).
        let mut subs = Vec::new();
        for _ in 0..args.subscribers {
            let sock = tokio::net::TcpSocket::new_v4()?;
            sock.set_recv_buffer_size(4096)?;
            let mut stream = sock.connect(addr.parse()?).await?;
            stream
                .write_all(format!("GET /_mock/stream HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
                .await?;
            subs.push(stream);
        }
        let client = serving::http_client().no_proxy().build()?;
        let until = Instant::now() + args.hold;
        let mut worst_health = Duration::ZERO;
        let mut peak_rss: f64 = 0.0;
        while Instant::now() < until {
            let t = Instant::now();
            let ok = client
                .get(format!("{base}/health"))
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            let took = t.elapsed();
            worst_health = worst_health.max(took);
            assert!(ok, "/health failed");
            peak_rss = peak_rss.max(memory_mib(pid).0);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let (rss, hwm) = memory_mib(pid);
        println!(
            "{} stalled subscribers for {} s: VmRSS {rss:.1} MiB (highest sample {peak_rss:.1}), VmHWM {hwm:.1} MiB, slowest /health {:.0} ms",
            args.subscribers,
            args.hold.as_secs(),
            worst_health.as_secs_f64() * 1000.0
        );
        drop(subs);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (rss, hwm) = memory_mib(pid);
        println!("3 s after they disconnected: VmRSS {rss:.1} MiB, VmHWM {hwm:.1} MiB");
        child.kill()?;
        child.wait()?;
        Ok::<_, anyhow::Error>(())
    })
}
