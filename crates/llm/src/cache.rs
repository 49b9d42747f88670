//! Answers reused for the same incident signature within a window: an alert that flaps, or
//! a re-collection that found the same picture, costs no second call.
//!
//! The signature is the incident's resource and attempt number plus the shape of the
//! evidence: each item's kind, resource and summary with its variable fields (numbers, ids,
//! times) taken out. Restart counts going up do not change it; a new reason, exit code,
//! event or log template does.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use nightshift_core::{Analysis, AnalysisInput};

use crate::compress::skeleton;

/// Entries kept at most.
const CAPACITY: usize = 512;

/// The signature of an incident's picture.
pub fn signature(input: &AnalysisInput<'_>) -> u64 {
    let mut shapes: Vec<String> = input
        .evidence
        .items
        .iter()
        .map(|i| format!("{:?}|{}|{}", i.kind, i.resource, skeleton(&i.summary)))
        .collect();
    shapes.sort();
    shapes.dedup();
    let mut h = DefaultHasher::new();
    input.incident.resource.hash(&mut h);
    input.incident.attempts.hash(&mut h);
    shapes.hash(&mut h);
    h.finish()
}

/// When the picture was taken: the newest evidence item (the cluster's clock), else now.
pub fn observed_at(input: &AnalysisInput<'_>) -> DateTime<Utc> {
    input
        .evidence
        .items
        .iter()
        .map(|i| i.observed_at)
        .max()
        .unwrap_or_else(Utc::now)
}

/// Recent answers by signature.
#[derive(Debug)]
pub struct AnswerCache {
    ttl: Duration,
    entries: Mutex<HashMap<u64, (DateTime<Utc>, Analysis)>>,
}

impl AnswerCache {
    /// A cache whose answers live for `ttl` (zero: no caching).
    pub fn new(ttl: Duration) -> Self {
        AnswerCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn fresh(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let age = (now - at).num_milliseconds().unsigned_abs();
        !self.ttl.is_zero() && u128::from(age) <= self.ttl.as_millis()
    }

    /// The answer stored for `sig`, if still fresh at `now`, with when it was stored.
    pub fn get(&self, sig: u64, now: DateTime<Utc>) -> Option<(DateTime<Utc>, Analysis)> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(&sig)
            .filter(|(at, _)| self.fresh(*at, now))
            .cloned()
    }

    /// Stores an answer.
    pub fn put(&self, sig: u64, now: DateTime<Utc>, analysis: &Analysis) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                entries.retain(|_, (at, _)| self.fresh(*at, now));
            }
            if entries.len() < CAPACITY {
                entries.insert(sig, (now, analysis.clone()));
            }
        }
    }
}
