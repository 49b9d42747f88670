//! Serving the router on a listener with limits a hostile or broken client cannot get past:
//! a cap on open connections (past it, the connection idle the longest is closed to make room,
//! and a new one is refused only when every connection is busy), a deadline for a request's
//! headers, an idle timeout between requests, and the peer address for per-client admission.
//!
//! Written over hyper's connection builder rather than `axum::serve`, which has none of these
//! settings.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

/// The address a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// Sizes, timeouts and rates of the HTTP API.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Requests handled at once (past it: 503 with `Retry-After`).
    pub max_requests: usize,
    /// Time for a request's headers to arrive, from the connection's start or the previous
    /// response.
    pub header_read_timeout: Duration,
    /// Time for a body to arrive (408 past it).
    pub body_read_timeout: Duration,
    /// A connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// The largest Alertmanager webhook body, in bytes (413 past it).
    pub max_alert_body: usize,
    /// Alerts per second admitted per client (0: no limit; 429 past it).
    pub alerts_per_second: f64,
    /// Alerts a client may send at once before its rate applies.
    pub alert_burst: f64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 4096,
            max_requests: 512,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            max_alert_body: crate::perceive::alertmanager::MAX_BODY_BYTES,
            alerts_per_second: 50_000.0,
            alert_burst: 100_000.0,
        }
    }
}

/// Counters of the server, for `/metrics`.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections open now.
    pub open: AtomicUsize,
    /// Idle connections closed to make room for new ones.
    pub evicted: AtomicU64,
    /// Connections refused because every open one was busy.
    pub refused: AtomicU64,
}

struct Conn {
    /// Requests in progress on it.
    busy: Arc<AtomicUsize>,
    /// When it last started or finished a request.
    last: Arc<Mutex<Instant>>,
    close: Arc<Notify>,
}

/// Serves `app` on `listener` under `limits` until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    stats: Arc<ServerStats>,
) {
    let table: Arc<Mutex<BTreeMap<u64, Conn>>> = Arc::default();
    let sweeper = tokio::spawn(sweep_idle(table.clone(), limits.idle_timeout));
    let _sweeper = AbortOnDrop(sweeper);
    let mut next_id = 0u64;
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors or a connection reset before accept: wait, go on.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if !make_room(&table, limits.max_connections, &stats) {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let conn = Conn {
            busy: Arc::new(AtomicUsize::new(0)),
            last: Arc::new(Mutex::new(Instant::now())),
            close: Arc::new(Notify::new()),
        };
        let (busy, last, close) = (conn.busy.clone(), conn.last.clone(), conn.close.clone());
        if let Ok(mut t) = table.lock() {
            t.insert(id, conn);
        }
        stats.open.fetch_add(1, Ordering::Relaxed);
        let app = app.clone();
        let table = table.clone();
        let stats = stats.clone();
        let header_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(Peer(addr));
                let busy = busy.clone();
                let last = last.clone();
                busy.fetch_add(1, Ordering::AcqRel);
                let app = app.clone();
                async move {
                    let res = app.oneshot(req.map(Body::new)).await;
                    busy.fetch_sub(1, Ordering::AcqRel);
                    if let Ok(mut l) = last.lock() {
                        *l = Instant::now();
                    }
                    res
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                // A client that sent its whole request and closed its side (or gave up
                // waiting) still has its request handled: the work does not depend on the
                // client staying to read the answer.
                .half_close(true)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = close.notified() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await;
                }
            }
            if let Ok(mut t) = table.lock() {
                t.remove(&id);
            }
            stats.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Below the cap: true. At the cap: closes the connection idle the longest and returns true,
/// or returns false when every connection is busy.
fn make_room(table: &Mutex<BTreeMap<u64, Conn>>, max: usize, stats: &ServerStats) -> bool {
    let Ok(mut t) = table.lock() else {
        return false;
    };
    if t.len() < max.max(1) {
        return true;
    }
    let idle = t
        .iter()
        .filter(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
        .min_by_key(|(_, c)| c.last.lock().map(|l| *l).unwrap_or_else(|_| Instant::now()))
        .map(|(id, _)| *id);
    match idle.and_then(|id| t.remove(&id)) {
        Some(c) => {
            c.close.notify_one();
            stats.evicted.fetch_add(1, Ordering::Relaxed);
            true
        }
        None => false,
    }
}

/// Closes connections idle longer than `timeout`, once a second.
async fn sweep_idle(table: Arc<Mutex<BTreeMap<u64, Conn>>>, timeout: Duration) {
    loop {
        tokio::time::sleep(Duration::from_secs(1).min(timeout)).await;
        let now = Instant::now();
        if let Ok(mut t) = table.lock() {
            t.retain(|_, c| {
                let idle = c.busy.load(Ordering::Acquire) == 0
                    && c.last
                        .lock()
                        .map(|l| now.duration_since(*l) > timeout)
                        .unwrap_or(false);
                if idle {
                    c.close.notify_one();
                }
                !idle
            });
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
