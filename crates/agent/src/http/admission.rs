//! Alerts admitted per client: a token bucket per credential (or address, when the API is
//! open), so one noisy sender cannot take the intake from the others. Written here because it
//! is a few lines over a map; the rate-limiting crates limit requests, not the alerts inside a
//! batch.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Clients remembered at most; past it, the buckets that are full again are forgotten.
const MAX_CLIENTS: usize = 10_000;

/// Per-client alert budgets.
#[derive(Debug)]
pub struct Admission {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Admission {
    /// `rate` alerts per second with bursts of `burst`; a rate of zero admits everything.
    pub fn new(rate: f64, burst: f64) -> Self {
        Admission {
            rate: rate.max(0.0),
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Admits `n` alerts from `client`, or says how long it should wait. A batch larger than
    /// the bucket is admitted when the bucket has anything left, and the client then waits
    /// until its debt is paid back, so its average rate stays bounded whatever its batch size.
    pub fn admit(&self, client: &str, n: usize) -> Result<(), Duration> {
        self.admit_at(client, n, Instant::now())
    }

    fn admit_at(&self, client: &str, n: usize, now: Instant) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(client) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let b = buckets.entry(client.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate).min(self.burst);
        b.at = now;
        if b.tokens <= 0.0 {
            return Err(Duration::from_secs_f64(
                -b.tokens / self.rate + 1.0 / self.rate,
            ));
        }
        b.tokens -= n as f64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_past_its_rate_waits_and_others_do_not() {
        let a = Admission::new(100.0, 200.0);
        let t0 = Instant::now();
        assert!(a.admit_at("noisy", 150, t0).is_ok());
        assert!(
            a.admit_at("noisy", 150, t0).is_ok(),
            "the bucket had 50 left"
        );
        let wait = a.admit_at("noisy", 1, t0).unwrap_err();
        assert!(wait >= Duration::from_millis(1000), "{wait:?}");
        assert!(a.admit_at("quiet", 10, t0).is_ok());
        // After the debt is paid back, the noisy client is admitted again.
        assert!(a.admit_at("noisy", 1, t0 + Duration::from_secs(2)).is_ok());
    }

    #[test]
    fn a_rate_of_zero_admits_everything() {
        let a = Admission::new(0.0, 0.0);
        for _ in 0..1000 {
            assert!(a.admit("x", 1_000_000).is_ok());
        }
    }
}
