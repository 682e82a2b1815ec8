//! Load generator: 100-event `/v1/batch` requests over 4 concurrent keep-alive connections
//! against the mock with durable SQLite storage, on loopback.
//!
//! `cargo bench -p mock-dataplane --bench load [-- --events N --connections C --batch B --gzip --no-fsync --in-memory]`
//! The server is the release `mock-dataplane` binary in its own process (`--data-dir` in a temp
//! dir), so its RSS is measured alone. Prints events/s accepted, request latency percentiles,
//! and the server's RSS after 100k and 1M stored events.

use std::time::{Duration, Instant};

struct Args {
    events: usize,
    connections: usize,
    batch: usize,
    gzip: bool,
    fsync: bool,
    /// Store in memory instead of SQLite: shows what the durable store costs.
    in_memory: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        events: 1_000_000,
        connections: 4,
        batch: 100,
        gzip: false,
        fsync: true,
        in_memory: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match arg.as_str() {
            "--events" => a.events = num("--events"),
            "--connections" => a.connections = num("--connections"),
            "--batch" => a.batch = num("--batch"),
            "--gzip" => a.gzip = true,
            "--no-fsync" => a.fsync = false,
            "--in-memory" => a.in_memory = true,
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// User + system CPU seconds a process has used (from /proc/<pid>/stat, clock ticks of 100 Hz).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`: state is field 3; utime 14, stime 15.
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds per thread name of a process (tokio workers summed), busiest first.
fn cpu_by_thread(pid: u32) -> Vec<(String, f64)> {
    let mut by_name = std::collections::BTreeMap::<String, f64>::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let tid = task.file_name().to_string_lossy().into_owned();
            let name = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
                .unwrap_or_default()
                .trim()
                .to_owned();
            *by_name.entry(name).or_default() += cpu_seconds(&format!("{pid}/task/{tid}"));
        }
    }
    let mut v: Vec<(String, f64)> = by_name.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// A realistic SDK-like event (~400 bytes) with a distinct messageId per slot.
fn batch_body(batch: usize, salt: usize) -> String {
    let events: Vec<String> = (0..batch)
        .map(|i| {
            format!(
                r#"{{"type":"track","event":"Order Completed","userId":"user-{i}","anonymousId":"anon-{salt}-{i}","messageId":"{salt:08}-{i:04}-4000-8000-000000000000","properties":{{"revenue":9.99,"currency":"EUR","order_id":"o-{i}"}},"context":{{"library":{{"name":"analytics-node","version":"3.0.13"}},"app":{{"name":"looker/actions","version":"dev"}}}},"channel":"server","originalTimestamp":"2026-01-01T00:00:00.000Z","sentAt":"2026-01-01T00:00:00.000Z"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"batch":[{}],"sentAt":"2026-01-01T00:00:00.000Z"}}"#,
        events.join(",")
    )
}

fn main() -> anyhow::Result<()> {
    let args = parse_args();
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mock-dataplane"));
        cmd.args(["--port", "0", "--write-key", "bench-key"]);
        if args.in_memory {
            cmd.arg("--in-memory");
        } else {
            cmd.arg("--data-dir").arg(dir.path());
        }
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        if !args.fsync {
            cmd.arg("--no-fsync");
        }
        let mut child = cmd.spawn()?;
        let pid = child.id();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let first = lines.next().unwrap()?;
        std::thread::spawn(move || for _ in lines {});
        let base = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .to_owned();
        let url = format!("{base}/v1/batch");
        println!("server pid {pid}, RSS at start {:.1} MiB", rss_mib(pid));
        let bodies: Vec<bytes::Bytes> = (0..8)
            .map(|salt| {
                let body = batch_body(args.batch, salt);
                if args.gzip {
                    use std::io::Write;
                    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    e.write_all(body.as_bytes()).unwrap();
                    bytes::Bytes::from(e.finish().unwrap())
                } else {
                    bytes::Bytes::from(body)
                }
            })
            .collect();
        println!(
            "load: {} events in {}-event /v1/batch requests ({} bytes{}), {} connections, storage {}",
            args.events,
            args.batch,
            bodies[0].len(),
            if args.gzip { " gzipped" } else { "" },
            args.connections,
            match (args.in_memory, args.fsync) {
                (true, _) => "off (--in-memory)",
                (false, true) => "durable (WAL synced before each acknowledgement)",
                (false, false) => "--no-fsync (acknowledged after the commit, not synced)",
            }
        );
        let requests_total = args.events / args.batch;
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let done_events = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..args.connections {
            let client = serving::http_client()
                .no_proxy()
                .pool_max_idle_per_host(1)
                .build()?;
            let url = url.clone();
            let bodies = bodies.clone();
            let next = next.clone();
            let done_events = done_events.clone();
            let gzip = args.gzip;
            let batch = args.batch;
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= requests_total {
                        break;
                    }
                    let mut req = client
                        .post(&url)
                        .basic_auth("bench-key", Some(""))
                        .body(bodies[n % bodies.len()].clone());
                    if gzip {
                        req = req.header("content-encoding", "gzip");
                    }
                    let t = Instant::now();
                    let resp = req.send().await.expect("request");
                    let status = resp.status();
                    let _ = resp.bytes().await;
                    latencies.push(t.elapsed());
                    assert_eq!(status, 200, "request refused");
                    done_events.fetch_add(batch, std::sync::atomic::Ordering::Relaxed);
                }
                latencies
            }));
        }
        // RSS checkpoints while the load runs.
        let mut checkpoints = vec![100_000usize, 1_000_000, 2_000_000, 5_000_000];
        checkpoints.retain(|c| *c <= args.events);
        let monitor = {
            let done_events = done_events.clone();
            tokio::spawn(async move {
                let mut out = Vec::new();
                for c in checkpoints {
                    while done_events.load(std::sync::atomic::Ordering::Relaxed) < c {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    out.push((c, rss_mib(pid), started.elapsed()));
                }
                out
            })
        };
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await?);
        }
        let elapsed = started.elapsed();
        let marks = monitor.await?;
        latencies.sort();
        let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        let events = done_events.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "accepted {events} events in {:.2} s: {:.0} events/s, {:.0} requests/s",
            elapsed.as_secs_f64(),
            events as f64 / elapsed.as_secs_f64(),
            latencies.len() as f64 / elapsed.as_secs_f64()
        );
        println!(
            "latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.90).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            latencies.last().unwrap().as_secs_f64() * 1e3
        );
        for (c, rss, at) in marks {
            println!("RSS after {c} events: {rss:.1} MiB (at {:.1} s)", at.as_secs_f64());
        }
        let db = std::fs::metadata(dir.path().join("events.sqlite3")).map(|m| m.len()).unwrap_or(0);
        let wal = std::fs::metadata(dir.path().join("events.sqlite3-wal")).map(|m| m.len()).unwrap_or(0);
        println!(
            "database size: {:.1} MiB, WAL file {:.1} MiB",
            db as f64 / (1 << 20) as f64,
            wal as f64 / (1 << 20) as f64
        );
        let server_cpu = cpu_seconds(&pid.to_string());
        let threads: Vec<String> = cpu_by_thread(pid)
            .into_iter()
            .filter(|(_, s)| *s >= 0.05)
            .map(|(n, s)| format!("{n} {s:.1} s"))
            .collect();
        let client_cpu = cpu_seconds("self");
        println!(
            "CPU: server {server_cpu:.1} s ({:.0} events per server CPU-second), load generator {client_cpu:.1} s; machine load average {}",
            events as f64 / server_cpu.max(0.001),
            std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
        );
        println!("server CPU by thread: {}", threads.join(", "));
        let _ = child.kill();
        let _ = child.wait();
        anyhow::Ok(())
    })
}
