//! The agent's notion of time. In production it is the wall clock; against the simulated
//! cluster it is the simulation's clock, which may run many times faster, so every grace
//! period, approval timeout, stabilization window and budget is measured in the cluster's time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

/// A source of time and of waiting.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
    /// Waits `d` of this clock's time.
    fn sleep(&self, d: Duration) -> BoxFuture<'_, ()>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A clock read from a function returning milliseconds since the epoch (the simulated
/// cluster's clock). Waiting polls it in short real-time steps.
#[derive(Clone)]
pub struct ExternalClock {
    now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
    poll: Duration,
}

impl ExternalClock {
    /// A clock reading `now_ms`, polled every `poll` of real time while sleeping.
    pub fn new(now_ms: impl Fn() -> i64 + Send + Sync + 'static, poll: Duration) -> Self {
        ExternalClock {
            now_ms: Arc::new(now_ms),
            poll,
        }
    }
}

impl Clock for ExternalClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis((self.now_ms)()).unwrap_or_default()
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'_, ()> {
        let until = (self.now_ms)() + d.as_millis() as i64;
        Box::pin(async move {
            while (self.now_ms)() < until {
                tokio::time::sleep(self.poll).await;
            }
        })
    }
}
