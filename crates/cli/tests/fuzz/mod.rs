//! A fuzz driver on stable Rust for every parser and loader of hostile input: the Alertmanager
//! webhook, scenario files, the policy file, the agent's configuration file and the model's
//! answer.
//!
//! Each input is drawn from a ChaCha generator seeded with `(seed, index)`, so `--seed S
//! --first I --inputs 1` replays input `I` exactly. About seven inputs in ten are valid
//! documents with a few structural mutations (`mutate.rs`), two in ten are those documents
//! damaged as text, one in ten is raw bytes. Every input runs under `catch_unwind` on a worker
//! thread; a panic, or an input that runs longer than the bound, is a [`Failure`] whose input
//! is saved to a file. An input that never returns is reported once it has run ten times the
//! bound; its thread is abandoned and a new worker takes the next input.
//!
//! A stack overflow or an allocation failure aborts the process, past any `catch_unwind`: with
//! `NIGHTSHIFT_FUZZ_TRACE=1` each input is written to `<out>/<parser>-running.bin` and its index
//! printed before it runs, so the last one written is the culprit.
//!
//! Used by `tests/fuzz_parsers.rs` (a few thousand inputs per parser on every test run) and by
//! `benches/fuzz.rs` (`scripts/fuzz`: millions, in release).

#![allow(dead_code)]

pub mod mutate;
pub mod targets;

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Once};
use std::thread;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Stack of a tokio worker thread, where the webhook and the model's answer are parsed.
pub const TOKIO_STACK: usize = 2 << 20;
/// Stack of the main thread, where the binary reads its configuration and policy files.
pub const MAIN_STACK: usize = 8 << 20;

/// One parser under test.
pub trait Target: Send + Sync + 'static {
    /// The name `--parser` takes.
    fn name(&self) -> &'static str;
    /// Draws one input.
    fn generate(&self, rng: &mut ChaCha8Rng) -> Vec<u8>;
    /// Feeds the parser one input. An error is a fine answer; a panic is not.
    fn feed(&self, input: &[u8]);
    /// The stack the parser runs on in the binary; the workers get the same.
    fn stack(&self) -> usize {
        TOKIO_STACK
    }
}

/// The generator of input `index` of a run seeded with `seed`.
pub fn rng_for(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// What a run covers.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seed of the whole run.
    pub seed: u64,
    /// Index of the first input.
    pub first: u64,
    /// How many inputs.
    pub inputs: u64,
    /// Longest time one input may take.
    pub bound: Duration,
    /// Where failing inputs are saved.
    pub out: PathBuf,
}

/// Why an input failed.
#[derive(Debug, Clone)]
pub enum FailureKind {
    /// The parser panicked; the message and where.
    Panic(String),
    /// The input took longer than the bound (or never returned).
    Hang(Duration),
}

/// One failing input.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Parser.
    pub parser: &'static str,
    /// Seed of the run.
    pub seed: u64,
    /// Index of the input in the run.
    pub index: u64,
    /// What went wrong.
    pub kind: FailureKind,
    /// The input, saved.
    pub saved: PathBuf,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.kind {
            FailureKind::Panic(message) => format!("panic: {message}"),
            FailureKind::Hang(took) => format!("hang: {took:.2?}"),
        };
        write!(
            f,
            "{} seed {} input {}: {what}\n  input saved to {}\n  replay: scripts/fuzz --parser {} --seed {} --first {} --inputs 1",
            self.parser,
            self.seed,
            self.index,
            self.saved.display(),
            self.parser,
            self.seed,
            self.index
        )
    }
}

/// What a run found.
#[derive(Debug)]
pub struct Report {
    /// Parser.
    pub parser: &'static str,
    /// Inputs fed.
    pub inputs: u64,
    /// Bytes fed.
    pub bytes: u64,
    /// Time spent in the parser (the rest is generating inputs).
    pub feeding: Duration,
    /// Wall time.
    pub elapsed: Duration,
    /// Panics and hangs.
    pub failures: Vec<Failure>,
}

impl Report {
    /// Panics found.
    pub fn panics(&self) -> usize {
        self.failures
            .iter()
            .filter(|f| matches!(f.kind, FailureKind::Panic(_)))
            .count()
    }

    /// Hangs found.
    pub fn hangs(&self) -> usize {
        self.failures.len() - self.panics()
    }

    /// Inputs per second of wall time.
    pub fn rate(&self) -> f64 {
        self.inputs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// What a worker tells the driver.
enum Event {
    Failed {
        index: u64,
        kind: FailureKind,
        input: Vec<u8>,
    },
    Fed {
        inputs: u64,
        bytes: u64,
        feeding: Duration,
    },
}

/// What the worker is doing, for the watchdog: the input it runs (index + 1; 0 when between
/// inputs) and since when, in nanoseconds from the start of the run.
struct Progress {
    running: AtomicU64,
    since_nanos: AtomicU64,
}

thread_local! {
    /// Set on worker threads: their panics are recorded here instead of printed.
    static LAST_PANIC: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

/// Installs, once, a panic hook that keeps workers quiet and remembers what they said; other
/// threads (a test's own assertions) still print as usual.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let recorded = LAST_PANIC.with(|slot| {
                let mut slot = slot.borrow_mut();
                match slot.as_mut() {
                    Some(last) => {
                        *last = Some(info.to_string());
                        true
                    }
                    None => false,
                }
            });
            if !recorded {
                default(info);
            }
        }));
    });
}

/// Runs `opts.inputs` inputs through `target`.
pub fn run(target: Arc<dyn Target>, opts: &Options) -> Report {
    install_hook();
    let start = Instant::now();
    let end = opts.first + opts.inputs;
    let abandon_after = opts.bound * 10;
    let mut failures = Vec::new();
    let (mut inputs, mut bytes, mut feeding) = (0, 0, Duration::ZERO);
    let mut next = opts.first;
    while next < end {
        let progress = Arc::new(Progress {
            running: AtomicU64::new(0),
            since_nanos: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel();
        spawn_worker(
            Arc::clone(&target),
            opts.clone(),
            next..end,
            Arc::clone(&progress),
            start,
            tx,
        );
        next = end;
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(Event::Failed { index, kind, input }) => {
                    failures.push(record(target.name(), opts, index, kind, &input));
                }
                Ok(Event::Fed {
                    inputs: n,
                    bytes: b,
                    feeding: f,
                }) => {
                    inputs += n;
                    bytes += b;
                    feeding += f;
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let running = progress.running.load(Ordering::Acquire);
                    if running == 0 {
                        continue;
                    }
                    let since = Duration::from_nanos(progress.since_nanos.load(Ordering::Acquire));
                    let took = start.elapsed().saturating_sub(since);
                    if took < abandon_after {
                        continue;
                    }
                    // Stuck: leave the thread to itself and go on with a new worker.
                    let index = running - 1;
                    let input = target.generate(&mut rng_for(opts.seed, index));
                    inputs += 1;
                    bytes += input.len() as u64;
                    failures.push(record(
                        target.name(),
                        opts,
                        index,
                        FailureKind::Hang(took),
                        &input,
                    ));
                    next = index + 1;
                    break;
                }
            }
        }
    }
    Report {
        parser: target.name(),
        inputs,
        bytes,
        feeding,
        elapsed: start.elapsed(),
        failures,
    }
}

fn spawn_worker(
    target: Arc<dyn Target>,
    opts: Options,
    range: std::ops::Range<u64>,
    progress: Arc<Progress>,
    start: Instant,
    tx: mpsc::Sender<Event>,
) {
    thread::Builder::new()
        .name(format!("fuzz-{}", target.name()))
        .stack_size(target.stack())
        .spawn(move || {
            LAST_PANIC.with(|slot| *slot.borrow_mut() = Some(None));
            let trace = std::env::var_os("NIGHTSHIFT_FUZZ_TRACE").is_some_and(|v| v == "1");
            let (mut inputs, mut bytes, mut feeding) = (0u64, 0u64, Duration::ZERO);
            for index in range {
                let input = target.generate(&mut rng_for(opts.seed, index));
                if trace {
                    let running = opts.out.join(format!("{}-running.bin", target.name()));
                    let _ = std::fs::create_dir_all(&opts.out)
                        .and_then(|()| std::fs::write(&running, &input));
                    eprintln!("{} seed {} input {index}", target.name(), opts.seed);
                }
                progress
                    .since_nanos
                    .store(start.elapsed().as_nanos() as u64, Ordering::Release);
                progress.running.store(index + 1, Ordering::Release);
                let began = Instant::now();
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| target.feed(&input)));
                let took = began.elapsed();
                progress.running.store(0, Ordering::Release);
                inputs += 1;
                bytes += input.len() as u64;
                feeding += took;
                let kind = match outcome {
                    Err(payload) => Some(FailureKind::Panic(panic_message(payload.as_ref()))),
                    Ok(()) if took > opts.bound => Some(FailureKind::Hang(took)),
                    Ok(()) => None,
                };
                if let Some(kind) = kind
                    && tx.send(Event::Failed { index, kind, input }).is_err()
                {
                    return;
                }
                if inputs == 1024 {
                    let _ = tx.send(Event::Fed {
                        inputs,
                        bytes,
                        feeding,
                    });
                    (inputs, bytes, feeding) = (0, 0, Duration::ZERO);
                }
            }
            let _ = tx.send(Event::Fed {
                inputs,
                bytes,
                feeding,
            });
        })
        .expect("a fuzz worker thread");
}

/// The hook's record of the last panic on this thread, or the payload's text.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let hooked = LAST_PANIC.with(|slot| slot.borrow_mut().as_mut().and_then(Option::take));
    hooked.unwrap_or_else(|| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

fn record(
    parser: &'static str,
    opts: &Options,
    index: u64,
    kind: FailureKind,
    input: &[u8],
) -> Failure {
    let saved = opts
        .out
        .join(format!("{parser}-seed{}-input{index}.bin", opts.seed));
    if let Err(e) = std::fs::create_dir_all(&opts.out).and_then(|()| std::fs::write(&saved, input))
    {
        eprintln!("unable to save {}: {e}", saved.display());
    }
    Failure {
        parser,
        seed: opts.seed,
        index,
        kind,
        saved,
    }
}

/// Feeds a saved input (a file written by an earlier run) to `target` once, on this thread.
pub fn replay_file(target: &dyn Target, path: &Path) -> Result<Duration, String> {
    let input = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let began = Instant::now();
    target.feed(&input);
    Ok(began.elapsed())
}
