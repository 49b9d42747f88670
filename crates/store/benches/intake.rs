//! Webhook intake: how many signals per second `record_signals` takes, on SQLite (a file
//! in a temporary directory, WAL, synchronous=FULL) and on PostgreSQL (a scratch schema in
//! the `test` database at 127.0.0.1:5432, skipped when unreachable).
//!
//! `cargo bench -p nightshift-store --bench intake [-- TOTAL]` (default 100,000 signals).
//! `cargo test --all-targets` runs bench targets too (`test = false` does not stop that) but
//! without the `--bench` flag `cargo bench` passes; then this prints a line and returns.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use nightshift_core::{ResourceRef, Signal, SignalSource, SignalStatus};
use nightshift_store::Store;
use sqlx::AssertSqlSafe;

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const BATCH: usize = 1_000;

/// A realistic Alertmanager alert: one per pod of a failing node.
fn signal(i: usize, status: SignalStatus) -> Signal {
    let pod = format!("checkout-7d9f{:04}-{i:05}", i % 97);
    Signal {
        fingerprint: format!("{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        source: SignalSource::Alertmanager,
        status,
        name: "KubePodNotReady".into(),
        labels: BTreeMap::from([
            ("alertname".into(), "KubePodNotReady".into()),
            ("namespace".into(), "shop".into()),
            ("pod".into(), pod.clone()),
            ("node".into(), format!("worker-{}", i % 7)),
            ("severity".into(), "warning".into()),
        ]),
        annotations: BTreeMap::from([(
            "summary".into(),
            format!("Pod shop/{pod} has been in a non-ready state for longer than 15 minutes."),
        )]),
        starts_at: Utc::now(),
        ends_at: None,
        resource: Some(ResourceRef::Pod {
            namespace: "shop".into(),
            name: pod,
        }),
    }
}

/// Feeds `signals` in batches, returning signals per second.
async fn feed(store: &Store, signals: &[Signal], batch: usize) -> f64 {
    let start = Instant::now();
    for chunk in signals.chunks(batch) {
        store.record_signals(chunk).await.expect("record a batch");
    }
    signals.len() as f64 / start.elapsed().as_secs_f64()
}

async fn run(label: &str, store: &Store, total: usize) {
    let firing: Vec<Signal> = (0..total)
        .map(|i| signal(i, SignalStatus::Firing))
        .collect();
    let resolved: Vec<Signal> = (0..total)
        .map(|i| signal(i, SignalStatus::Resolved))
        .collect();
    let new = feed(store, &firing, BATCH).await;
    let repeat = feed(store, &firing, BATCH).await;
    let resolve = feed(store, &resolved, BATCH).await;
    let storm: Vec<Signal> = (total..total + 5_000)
        .map(|i| signal(i, SignalStatus::Firing))
        .collect();
    let one_batch = feed(store, &storm, storm.len()).await;
    let singles: Vec<Signal> = (total + 5_000..total + 5_500)
        .map(|i| signal(i, SignalStatus::Firing))
        .collect();
    let single = feed(store, &singles, 1).await;
    println!(
        "{label:<10} new {new:>9.0}/s   repeats {repeat:>9.0}/s   resolved {resolve:>9.0}/s   \
         one 5,000-alert batch {one_batch:>9.0}/s   one per transaction {single:>7.0}/s"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "intake: a benchmark; run it with `cargo bench -p nightshift-store --bench intake`"
        );
        return;
    }
    let total: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    println!("intake: {total} signals in batches of {BATCH} (signals per second)");

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("intake.db");
    let store = Store::open(&path.display().to_string())
        .await
        .expect("open sqlite");
    run("sqlite", &store, total).await;
    store.close().await;

    let admin = match sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(POSTGRES)
        .await
    {
        Ok(admin) => admin,
        Err(e) => {
            println!("postgres   skipped: {POSTGRES} is unreachable ({e})");
            return;
        }
    };
    let schema = format!("nst_bench_{}", std::process::id());
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .expect("create schema");
    let store = Store::open(&format!("{POSTGRES}?options[search_path]={schema}"))
        .await
        .expect("open postgres");
    run("postgres", &store, total).await;
    store.close().await;
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .expect("drop schema");
}
