//! Retrieval: how well and how fast the knowledge base finds past incidents like a new one,
//! on SQLite (a file in a temporary directory) and on PostgreSQL (a scratch schema in the
//! `test` database at 127.0.0.1:5432, skipped when unreachable). Prints figures; asserts
//! nothing about them.
//!
//! - Quality, leave one out: the entries of a suite run (`nightshift eval --kb-out FILE`) go
//!   into a fresh store; each entry with a category asks the knowledge base what the agent
//!   asks for a new incident (its signature with the category still unknown, the alert names
//!   as text, itself left out), and counts as found when the top 3 holds another entry of its
//!   category. Entries whose category occurs once in the set cannot be found: they are listed
//!   apart and left out of the share.
//! - Speed: a store filled with `--size` entries made from the suite's by changing
//!   namespaces, workload names, ids and times (the shapes of text stay), in batches; then
//!   queries built from entries that were not stored, timed as `Store::kb_search` answers them.
//!
//! `cargo bench -p nightshift-store --bench kb [-- --entries FILE] [--size N] [--queries N]
//! [--quick]`: by default the suite's entries are `benches/fixtures/kb-suite.json`, 100,000
//! entries and 300 queries; `--misses` lists what the top 3 held for each entry not found;
//! `--size 0` measures quality alone; `--dims N` (default 768, 0 for none) gives every entry
//! of the speed measure a random vector of N values and times the same queries with one.
//! `cargo test --all-targets` runs bench targets too, without the `--bench` flag: then, as
//! with `--quick`, this makes a tiny run (the quality measure, 200 entries, 20 queries,
//! vectors of 64 values) that takes a few seconds in a debug build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nightshift_core::Category;
use nightshift_core::knowledge::Entry;
use nightshift_store::{KbQuery, QueryVector, Store};
use sqlx::AssertSqlSafe;

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/benches/fixtures/kb-suite.json"
);
/// Entries written per transaction while filling.
const BATCH: usize = 1_000;
/// What the agent asks for (`learn::recall`): more than it shows, for the counts.
const LIMIT: usize = 20;
/// The quality measure's cut-off.
const TOP: usize = 3;
/// The quick run's store and queries: enough to run every step, little enough for CI.
const QUICK_SIZE: usize = 200;
const QUICK_QUERIES: usize = 20;
const QUICK_DIMS: usize = 64;
/// The vectors' space in the speed measure.
const SPACE: &str = "bench:random";

struct Args {
    entries: PathBuf,
    size: usize,
    queries: usize,
    quick: bool,
    misses: bool,
    dims: usize,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        entries: PathBuf::from(FIXTURE),
        size: 100_000,
        queries: 300,
        quick: !std::env::args().any(|a| a == "--bench"),
        misses: false,
        dims: 768,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value"))
                .map(|v| (name.to_string(), v))
        };
        match a.as_str() {
            "--entries" => out.entries = PathBuf::from(value("--entries")?.1),
            "--size" | "--queries" | "--dims" => {
                let (name, v) = value(&a)?;
                let n: usize = v
                    .replace(['_', ','], "")
                    .parse()
                    .map_err(|_| format!("{name} {v}: expected a whole number"))?;
                match name.as_str() {
                    "--size" => out.size = n,
                    "--queries" => out.queries = n.max(1),
                    _ => out.dims = n,
                }
            }
            "--quick" => out.quick = true,
            "--misses" => out.misses = true,
            _ => {} // `--bench` and whatever else cargo passes
        }
    }
    if out.quick {
        out.size = out.size.min(QUICK_SIZE);
        out.queries = out.queries.min(QUICK_QUERIES);
        out.dims = out.dims.min(QUICK_DIMS);
    }
    Ok(out)
}

fn load(path: &PathBuf) -> Result<Vec<Entry>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: unable to read: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: line {}: not a JSON array of knowledge-base entries \
             (`nightshift eval --kb-out FILE` writes one): {e}",
            path.display(),
            e.line()
        )
    })
}

/// The databases the benchmark runs on, each a fresh store per use.
enum Db {
    /// The directory goes when the value does.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        admin: sqlx::PgPool,
        schema: String,
    },
}

impl Db {
    fn label(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres { .. } => "postgres",
        }
    }

    async fn sqlite(name: &str) -> (Db, Store) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join(format!("{name}.db"));
        let store = Store::open(&path.display().to_string())
            .await
            .expect("open sqlite");
        (Db::Sqlite { _dir: dir }, store)
    }

    async fn postgres(name: &str) -> Option<(Db, Store)> {
        let admin = match sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect(POSTGRES)
            .await
        {
            Ok(admin) => admin,
            Err(e) => {
                println!("postgres   skipped: {POSTGRES} is unreachable ({e})");
                return None;
            }
        };
        let schema = format!("nst_bench_kb_{name}_{}", std::process::id());
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .expect("create schema");
        let store = Store::open(&format!("{POSTGRES}?options[search_path]={schema}"))
            .await
            .expect("open postgres");
        Some((Db::Postgres { admin, schema }, store))
    }

    /// Fresh planner statistics, as autovacuum would have gathered them on a table this size.
    async fn analyze(&self) {
        if let Db::Postgres { admin, schema } = self {
            sqlx::query(AssertSqlSafe(format!("ANALYZE {schema}.kb_entries")))
                .execute(admin)
                .await
                .expect("analyze");
        }
    }

    async fn drop(self, store: Store) {
        store.close().await;
        if let Db::Postgres { admin, schema } = self {
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .expect("drop schema");
        }
    }
}

/// What the agent asks for a new incident like `e`: its signature before the diagnosis (no
/// category), its alert names as text (the diagnosis' title would give the answer away),
/// itself left out, as of `now`.
fn probe(e: &Entry, now: DateTime<Utc>) -> KbQuery {
    let mut signature = e.signature.clone();
    signature.category = None;
    KbQuery {
        text: signature.alerts.join(" "),
        signature,
        exclude: Some(e.id.clone()),
        before: Some(now),
        vector: None,
    }
}

/// Leave-one-out quality on one database; the top 3 ids of each query, for comparing
/// databases.
async fn quality(db: &Db, store: &Store, entries: &[Entry], misses: bool) -> Vec<Vec<String>> {
    store
        .kb_put(entries)
        .await
        .expect("store the suite's entries");
    let now = entries
        .iter()
        .map(|e| e.occurred_at)
        .max()
        .unwrap_or_else(Utc::now);
    let mut count: BTreeMap<Category, usize> = BTreeMap::new();
    for c in entries.iter().filter_map(Entry::category) {
        *count.entry(c).or_default() += 1;
    }
    // Per category: (asked, found).
    let mut by_category: BTreeMap<Category, (usize, usize)> = BTreeMap::new();
    let mut alone: Vec<&Entry> = Vec::new();
    let mut answers = Vec::new();
    for e in entries {
        let Some(category) = e.category() else {
            continue;
        };
        if count[&category] < 2 {
            alone.push(e);
            continue;
        }
        let hits = store.kb_search(&probe(e, now), TOP).await.expect("search");
        let found = hits.iter().any(|h| h.entry.category() == Some(category));
        if misses && !found {
            let top: Vec<String> = hits
                .iter()
                .map(|h| {
                    let c = h.entry.category().map(|c| c.as_str()).unwrap_or("-");
                    format!("{} {c} {:.2}/{:.2}", h.entry.id, h.similarity, h.lexical)
                })
                .collect();
            println!(
                "{:<10}   missed {} ({category}): {}",
                "",
                e.id,
                top.join(", ")
            );
        }
        let row = by_category.entry(category).or_default();
        row.0 += 1;
        row.1 += usize::from(found);
        answers.push(hits.into_iter().map(|h| h.entry.id).collect());
    }
    let asked: usize = by_category.values().map(|r| r.0).sum();
    let found: usize = by_category.values().map(|r| r.1).sum();
    println!(
        "{:<10} top {TOP} holds another entry of the same category: {found} of {asked} = {:.3} \
         (goal >= 0.9)",
        db.label(),
        share(found, asked)
    );
    for (c, (asked, found)) in &by_category {
        println!(
            "{:<10}   {:<28} {found:>3} of {asked:>3} = {:.3}",
            "",
            c.as_str(),
            share(*found, *asked)
        );
    }
    if !alone.is_empty() {
        let list: Vec<String> = alone
            .iter()
            .map(|e| {
                format!(
                    "{} ({})",
                    e.id,
                    e.category().map(|c| c.as_str()).unwrap_or("")
                )
            })
            .collect();
        println!(
            "{:<10}   not counted, the only entry of their category (nothing to find): {}",
            "",
            list.join(", ")
        );
    }
    answers
}

fn share(found: usize, asked: usize) -> f64 {
    if asked == 0 {
        0.0
    } else {
        found as f64 / asked as f64
    }
}

/// A deterministic generator (SplitMix64): the same entries on every run and database.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[(self.next() % list.len() as u64) as usize]
    }
}

const TEAMS: &[&str] = &[
    "shop",
    "payments",
    "search",
    "identity",
    "media",
    "ads",
    "billing",
    "growth",
    "risk",
    "logistics",
    "catalog",
    "reviews",
    "messaging",
    "platform",
    "data",
    "ml",
    "edge",
    "mobile",
    "partners",
    "support",
    "finance",
    "ledger",
    "orders",
    "inventory",
    "pricing",
    "loyalty",
    "tracking",
    "maps",
    "video",
    "audio",
    "social",
    "trust",
    "fraud",
    "onboarding",
    "checkout",
    "infra",
    "observability",
    "gateway",
    "auth",
    "notifications",
];
const PARTS: &[&str] = &[
    "api",
    "worker",
    "gateway",
    "frontend",
    "backend",
    "cache",
    "indexer",
    "scheduler",
    "sync",
    "exporter",
    "router",
    "proxy",
    "store",
    "writer",
    "reader",
    "consumer",
    "producer",
    "cron",
    "renderer",
    "resolver",
    "broker",
    "collector",
    "ingest",
    "matcher",
    "planner",
    "ranker",
    "notifier",
    "uploader",
    "thumbnailer",
    "validator",
    "auditor",
    "bridge",
    "relay",
    "mailer",
    "session",
    "profile",
    "quote",
    "invoice",
    "cart",
    "feed",
];

/// Replaces whole words (not parts of longer ones) `from` by `to`.
fn replace_word(text: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + from.len()..].chars().next();
        let boundary = |c: Option<char>| !c.is_some_and(char::is_alphanumeric);
        out.push_str(&rest[..at]);
        out.push_str(if boundary(before) && boundary(after) {
            to
        } else {
            from
        });
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

/// Entry `i` of the large store: a suite entry moved to another namespace and workload name,
/// given another id and a time in the year before `now`.
fn perturbed(suite: &[Entry], i: usize, now: DateTime<Utc>) -> Entry {
    let mut rng = Rng(i as u64);
    let mut e = suite[i % suite.len()].clone();
    let ns = rng.pick(TEAMS).to_string();
    let name = format!("{}-{}", rng.pick(TEAMS), rng.pick(PARTS));
    let moves: Vec<(String, String)> = [
        (e.signature.name.clone(), name.clone()),
        (e.signature.namespace.clone(), ns.clone()),
    ]
    .into_iter()
    .filter_map(|(from, to)| from.map(|f| (f, to)))
    .collect();
    let apply = |s: &str| {
        moves
            .iter()
            .fold(s.to_string(), |s, (from, to)| replace_word(&s, from, to))
    };
    e.id = format!("bench/{i:06}");
    e.title = apply(&e.title);
    e.summary = apply(&e.summary);
    let sig = &mut e.signature;
    sig.resource = sig.resource.as_deref().map(apply);
    sig.namespace = sig.namespace.as_ref().map(|_| ns.clone());
    sig.name = sig.name.as_ref().map(|_| name.clone());
    for list in [&mut sig.log_templates, &mut sig.rollout_change] {
        for s in list.iter_mut() {
            *s = apply(s);
        }
    }
    for a in &mut e.actions {
        a.target = a.target.as_deref().map(apply);
    }
    e.services = e.services.iter().map(|s| apply(s)).collect();
    e.occurred_at = now - chrono::Duration::seconds((rng.next() % (365 * 86_400)) as i64);
    e
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at].as_secs_f64() * 1_000.0
}

/// Fills a store with `size` perturbed entries and times queries from `queries` held-out
/// ones.
async fn speed(db: &Db, store: &Store, suite: &[Entry], size: usize, queries: usize, dims: usize) {
    let now = suite
        .iter()
        .map(|e| e.occurred_at)
        .max()
        .unwrap_or_else(Utc::now);
    let start = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..size {
        batch.push(perturbed(suite, i, now));
        if batch.len() == BATCH || i + 1 == size {
            store.kb_put(&batch).await.expect("store a batch");
            batch.clear();
        }
    }
    let fill = start.elapsed();
    db.analyze().await;
    let asked: Vec<KbQuery> = (size..size + queries)
        .map(|i| probe(&perturbed(suite, i, now), now))
        .collect();
    // One pass to warm the caches, as a running agent's would be.
    for q in asked.iter().take(20) {
        store.kb_search(q, LIMIT).await.expect("search");
    }
    let mut times = Vec::with_capacity(asked.len());
    let mut hits = 0;
    for q in &asked {
        let start = Instant::now();
        hits += store.kb_search(q, LIMIT).await.expect("search").len();
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "{:<10} {size} entries filled in {:.1} s ({:.0}/s); {} queries of {LIMIT}: \
         p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms (goal p95 < 20 ms); \
         {:.1} hits a query",
        db.label(),
        fill.as_secs_f64(),
        size as f64 / fill.as_secs_f64(),
        times.len(),
        percentile(&times, 0.50),
        percentile(&times, 0.95),
        percentile(&times, 0.99),
        percentile(&times, 1.0),
        hits as f64 / times.len() as f64,
    );
    if dims > 0 {
        vector_speed(db, store, &asked, size, dims).await;
    }
}

/// A random vector of `dims` values (the store makes it unit length).
fn random_vector(rng: &mut Rng, dims: usize) -> Vec<f32> {
    (0..dims)
        .map(|_| (rng.next() % 2_001) as f32 / 1_000.0 - 1.0)
        .collect()
}

/// Gives every entry a vector of `dims` values, then times the same queries with a vector
/// each: what a search costs with embeddings (the nearest 50 by cosine over every vector,
/// fused with the full-text candidates).
async fn vector_speed(db: &Db, store: &Store, asked: &[KbQuery], size: usize, dims: usize) {
    let mut rng = Rng(7);
    let start = Instant::now();
    let mut written = 0;
    loop {
        let entries = store.kb_unembedded(SPACE, BATCH).await.expect("unembedded");
        if entries.is_empty() {
            break;
        }
        let pairs: Vec<(&Entry, Vec<f32>)> = entries
            .iter()
            .map(|e| (e, random_vector(&mut rng, dims)))
            .collect();
        store.kb_put_vectors(SPACE, &pairs).await.expect("vectors");
        written += pairs.len();
    }
    let fill = start.elapsed();
    let with_vectors: Vec<KbQuery> = asked
        .iter()
        .map(|q| KbQuery {
            vector: Some(QueryVector {
                space: SPACE.into(),
                values: random_vector(&mut rng, dims),
            }),
            ..q.clone()
        })
        .collect();
    // The first search reads every vector into memory.
    let start = Instant::now();
    store
        .kb_search(&with_vectors[0], LIMIT)
        .await
        .expect("search");
    let load = start.elapsed();
    for q in with_vectors.iter().take(20) {
        store.kb_search(q, LIMIT).await.expect("search");
    }
    let mut times = Vec::with_capacity(with_vectors.len());
    for q in &with_vectors {
        let start = Instant::now();
        store.kb_search(q, LIMIT).await.expect("search");
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "{:<10} {written} vectors of {dims} values written in {:.1} s; read by the first search \
         in {:.2} s ({:.0} MB held); {} queries with a vector: p50 {:.2} ms  p95 {:.2} ms  \
         p99 {:.2} ms (of {size} entries)",
        db.label(),
        fill.as_secs_f64(),
        load.as_secs_f64(),
        (written * dims * 4) as f64 / 1e6,
        times.len(),
        percentile(&times, 0.50),
        percentile(&times, 0.95),
        percentile(&times, 0.99),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kb: {e}");
            std::process::exit(2);
        }
    };
    let suite = match load(&args.entries) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            eprintln!("kb: {}: no entries", args.entries.display());
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("kb: {e}");
            std::process::exit(2);
        }
    };
    let categories: BTreeSet<Category> = suite.iter().filter_map(Entry::category).collect();
    println!(
        "kb: {} entries of a suite run ({}), {} categories{}",
        suite.len(),
        args.entries.display(),
        categories.len(),
        if args.quick {
            "; quick run (`cargo bench -p nightshift-store --bench kb` for the full one)"
        } else {
            ""
        }
    );

    println!("quality, leave one out:");
    let (db, store) = Db::sqlite("quality").await;
    let sqlite_answers = quality(&db, &store, &suite, args.misses).await;
    db.drop(store).await;
    if let Some((db, store)) = Db::postgres("quality").await {
        let answers = quality(&db, &store, &suite, args.misses).await;
        db.drop(store).await;
        let alike = answers
            .iter()
            .zip(&sqlite_answers)
            .filter(|(a, b)| a == b)
            .count();
        println!(
            "           the same top {TOP} on both databases: {alike} of {} queries",
            answers.len()
        );
    }

    if args.size == 0 {
        return;
    }
    println!("speed:");
    let (db, store) = Db::sqlite("speed").await;
    speed(&db, &store, &suite, args.size, args.queries, args.dims).await;
    db.drop(store).await;
    if let Some((db, store)) = Db::postgres("speed").await {
        speed(&db, &store, &suite, args.size, args.queries, args.dims).await;
        db.drop(store).await;
    }
}
