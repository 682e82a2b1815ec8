//! How every fuzz property of the workspace runs: how many cases, what counts as a hang, and
//! a tally printed at the end so a long run reports its case count and time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

/// A case slower than this is a hang.
pub const HANG_AFTER: Duration = Duration::from_secs(20);

/// Cases per fuzz property: `FUZZ_CASES`, default 256 (so a normal `cargo test` stays short;
/// the long run sets 100000).
pub fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// The proptest settings of every fuzz property: `cases()` cases, no regression files written
/// into the source tree (a failure prints its minimal input instead).
pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    }
}

/// Runs every case of `strategy` through `check` on a thread of its own with an 8 MiB stack
/// and a deadline of [`HANG_AFTER`]: a case that does not finish in time fails as a hang, and
/// a panic fails as a panic (printed above by the test harness). Prints the case count and
/// time.
pub fn with_deadline<S>(name: &str, strategy: S, check: fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Send + 'static,
{
    let mut runner = TestRunner::new(config());
    let started = Instant::now();
    let result = runner.run(&strategy, |input| {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || {
                let _ = tx.send(check(input));
            })
            .expect("a thread for the case");
        match rx.recv_timeout(HANG_AFTER) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(TestCaseError::fail(format!("hang: over {HANG_AFTER:?}")))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(TestCaseError::fail("panic")),
        }
    });
    eprintln!(
        "fuzz {name}: {} cases in {:.1} s",
        cases(),
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
}

/// Aborts the process when a case runs longer than [`HANG_AFTER`], printing the case: for
/// properties run by the `proptest!` macro on the test's own thread. Tests run in parallel, so
/// each thread has its own slot.
pub struct Watchdog {
    /// Per test thread: when its current case started, and the case.
    running: Arc<Mutex<HashMap<ThreadId, (Instant, String)>>>,
}

impl Watchdog {
    /// The process-wide watchdog (its thread is started once).
    pub fn get() -> &'static Watchdog {
        static W: OnceLock<Watchdog> = OnceLock::new();
        W.get_or_init(|| {
            let running: Arc<Mutex<HashMap<ThreadId, (Instant, String)>>> = Arc::default();
            let watched = running.clone();
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(200));
                    let slow = watched.lock().ok().and_then(|m| {
                        m.values()
                            .find(|(at, _)| at.elapsed() > HANG_AFTER)
                            .map(|(_, input)| input.clone())
                    });
                    if let Some(input) = slow {
                        eprintln!("HANG: a fuzz case ran over {HANG_AFTER:?}; input:\n{input:?}");
                        std::process::abort();
                    }
                }
            });
            Watchdog { running }
        })
    }

    /// Runs one case under the watchdog.
    pub fn case<T>(&self, input: &str, f: impl FnOnce() -> T) -> T {
        let me = std::thread::current().id();
        let mut shown = input.to_owned();
        shown.truncate(shown.floor_char_boundary(64 * 1024));
        if let Ok(mut m) = self.running.lock() {
            m.insert(me, (Instant::now(), shown));
        }
        let out = f();
        if let Ok(mut m) = self.running.lock() {
            m.remove(&me);
        }
        out
    }
}

/// Counts a property's cases and how many of them were valid input, and prints both with the
/// time when dropped: `name: N loads (M valid …) in S s`.
pub struct Tally {
    name: &'static str,
    what: &'static str,
    start: Instant,
    loads: AtomicU64,
    valid: AtomicU64,
}

impl Tally {
    /// `what` names the valid ones in the printed line ("valid scenarios").
    pub fn new(name: &'static str, what: &'static str) -> Self {
        Self {
            name,
            what,
            start: Instant::now(),
            loads: AtomicU64::new(0),
            valid: AtomicU64::new(0),
        }
    }

    /// One case, valid or not.
    pub fn count(&self, valid: bool) {
        self.loads.fetch_add(1, Ordering::Relaxed);
        if valid {
            self.valid.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        eprintln!(
            "{}: {} loads ({} {}) in {:.1} s",
            self.name,
            self.loads.load(Ordering::Relaxed),
            self.valid.load(Ordering::Relaxed),
            self.what,
            self.start.elapsed().as_secs_f64()
        );
    }
}
