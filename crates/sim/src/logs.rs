//! Container logs, generated on demand.
//!
//! A container instance does not store its lines: it stores when it started, how often it
//! prints, and which line source held from which time (normal lines, a fault's lines, silence).
//! Any range of lines is rendered from that and the scenario seed, so thousands of pods cost a
//! few hundred bytes each and `tailLines`/`sinceSeconds` only render what is asked for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use nightshift_scenario::LogTemplate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::telemetry::LogLine;

/// Where the lines of a stretch of time come from.
#[derive(Debug, Clone)]
pub enum LineSource {
    /// One of these templates per tick, `{dep}` drawn from `deps`.
    Lines {
        /// Templates to pick from.
        templates: Arc<Vec<LogTemplate>>,
        /// `host:port` of dependencies for `{dep}`.
        deps: Arc<Vec<String>>,
    },
    /// Nothing (a hung process).
    Silent,
}

impl PartialEq for LineSource {
    // Templates compare by identity: every source of templates hands out shared `Arc`s, and a
    // deep comparison every tick of every container would dominate the kubelet's time.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (LineSource::Silent, LineSource::Silent) => true,
            (
                LineSource::Lines {
                    templates: a,
                    deps: da,
                },
                LineSource::Lines {
                    templates: b,
                    deps: db,
                },
            ) => Arc::ptr_eq(a, b) && (Arc::ptr_eq(da, db) || da == db),
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
struct Segment {
    from_ms: i64,
    source: LineSource,
}

/// The log of one container instance.
#[derive(Debug, Clone)]
pub struct LogTimeline {
    seed: u64,
    start_ms: i64,
    every_ms: i64,
    end_ms: Option<i64>,
    segments: Vec<Segment>,
    extra: Vec<LogLine>,
}

impl LogTimeline {
    /// A log that starts at `start_ms` printing from `source` every `every_ms`.
    pub fn new(seed: u64, start_ms: i64, every_ms: i64, source: LineSource) -> Self {
        LogTimeline {
            seed,
            start_ms,
            every_ms: every_ms.max(100),
            end_ms: None,
            segments: vec![Segment {
                from_ms: start_ms,
                source,
            }],
            extra: Vec::new(),
        }
    }

    /// From `at` on, lines come from `source` (no-op if it already does).
    pub fn switch(&mut self, at: i64, source: LineSource) {
        if self.segments.last().is_some_and(|s| s.source == source) {
            return;
        }
        self.segments.push(Segment {
            from_ms: at,
            source,
        });
    }

    /// The source in force now.
    pub fn current(&self) -> &LineSource {
        &self
            .segments
            .last()
            .expect("a timeline has a segment")
            .source
    }

    /// Adds a one-off line (start-up banner, the last words of a crash).
    pub fn push(&mut self, ts_ms: i64, text: impl Into<String>) {
        self.extra.push(LogLine {
            ts_ms,
            text: text.into(),
        });
    }

    /// The container stopped at `at`: no lines after it.
    pub fn end(&mut self, at: i64) {
        self.end_ms.get_or_insert(at);
    }

    /// Lines with `since_ms <= ts <= until_ms`, oldest first, at most the last `tail` of them.
    pub fn render(
        &self,
        since_ms: Option<i64>,
        until_ms: i64,
        tail: Option<usize>,
    ) -> Vec<LogLine> {
        let until = self.end_ms.map_or(until_ms, |e| e.min(until_ms));
        let from = since_ms.unwrap_or(self.start_ms).max(self.start_ms);
        if until < from {
            return Vec::new();
        }
        // Periodic lines are at start + k*every for k >= 1.
        let first_k = ((from - self.start_ms) + self.every_ms - 1) / self.every_ms;
        let first_k = first_k.max(1);
        let last_k = (until - self.start_ms) / self.every_ms;
        let mut extras: Vec<&LogLine> = self
            .extra
            .iter()
            .filter(|l| l.ts_ms >= from && l.ts_ms <= until)
            .collect();
        extras.sort_by_key(|l| l.ts_ms);
        // Walk backwards so a tail only renders what it returns.
        let mut out: Vec<LogLine> = Vec::new();
        let limit = tail.unwrap_or(usize::MAX);
        let mut k = last_k;
        let mut ei = extras.len();
        while out.len() < limit && (k >= first_k || ei > 0) {
            let periodic_ts = if k >= first_k {
                Some(self.start_ms + k * self.every_ms)
            } else {
                None
            };
            let extra_ts = if ei > 0 {
                Some(extras[ei - 1].ts_ms)
            } else {
                None
            };
            match (periodic_ts, extra_ts) {
                (Some(p), Some(e)) if e >= p => {
                    out.push(extras[ei - 1].clone());
                    ei -= 1;
                }
                (Some(p), _) => {
                    if let Some(text) = self.line_at(k, p) {
                        out.push(LogLine { ts_ms: p, text });
                    }
                    k -= 1;
                }
                (None, Some(_)) => {
                    out.push(extras[ei - 1].clone());
                    ei -= 1;
                }
                (None, None) => break,
            }
        }
        out.reverse();
        out
    }

    fn line_at(&self, k: i64, ts: i64) -> Option<String> {
        let seg = self.segments.iter().rev().find(|s| s.from_ms <= ts)?;
        match &seg.source {
            LineSource::Silent => None,
            LineSource::Lines { templates, deps } => {
                if templates.is_empty() {
                    return None;
                }
                let mut rng = ChaCha8Rng::seed_from_u64(
                    self.seed ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                );
                let t = &templates[rng.random_range(0..templates.len())];
                Some(t.render(&mut rng, deps))
            }
        }
    }
}

/// Parses built-in templates once per constant; they are constants, so a failure is a
/// programming error. The same constant always yields the same `Arc`, which keeps
/// [`LogTimeline::switch`] from opening a segment per tick.
pub fn builtin(lines: &'static [&'static str]) -> Arc<Vec<LogTemplate>> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Arc<Vec<LogTemplate>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(lines.as_ptr() as usize)
        .or_insert_with(|| {
            Arc::new(
                lines
                    .iter()
                    .map(|l| {
                        LogTemplate::parse(l)
                            .unwrap_or_else(|e| panic!("built-in log line {l:?}: {e}"))
                    })
                    .collect(),
            )
        })
        .clone()
}
