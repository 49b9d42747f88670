//! The simulated clock: milliseconds since the Unix epoch, advanced by the runner.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

/// Shared simulated time. Cheap to clone; every clone sees the same time.
#[derive(Debug, Clone)]
pub struct Clock {
    now_ms: Arc<AtomicI64>,
    start_ms: i64,
}

impl Clock {
    /// A clock standing at `start_ms` milliseconds since the Unix epoch.
    pub fn new(start_ms: i64) -> Self {
        Clock {
            now_ms: Arc::new(AtomicI64::new(start_ms)),
            start_ms,
        }
    }

    /// Current simulated time in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::Acquire)
    }

    /// Current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        to_datetime(self.now_ms())
    }

    /// When the scenario started, in milliseconds since the Unix epoch.
    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// Simulated time elapsed since the start.
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis((self.now_ms() - self.start_ms).max(0) as u64)
    }

    /// Moves the clock forward to `ms` (never backwards).
    pub fn advance_to(&self, ms: i64) {
        self.now_ms.fetch_max(ms, Ordering::AcqRel);
    }
}

/// Milliseconds since the epoch as a UTC time.
pub fn to_datetime(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// RFC 3339 with second precision, as Kubernetes writes `metav1.Time`.
pub fn rfc3339(ms: i64) -> String {
    to_datetime(ms).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// RFC 3339 with microseconds, as Kubernetes writes `metav1.MicroTime`.
pub fn rfc3339_micro(ms: i64) -> String {
    to_datetime(ms).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
