//! The web console's server time with a full record: 10,000 incidents written through the
//! store as the engine writes them (signals, transitions, evidence rounds with log lines,
//! analyses, decisions, approvals, actions, verification notes, notifications queued for two
//! destinations), plus one long-running incident with a record far larger than the rest.
//! Then the agent's real router, in process (no socket), answers `GET /console/` (the first
//! page; a state, namespace and text filter; a deep page) and `GET /console/incidents/{id}`
//! of the largest incident. Printed: p50, p95, p99 and max per page, on SQLite (a file in a
//! temporary directory) and on PostgreSQL (a fresh schema of the `test` database at
//! 127.0.0.1:5432, skipped when unreachable). Asserts only that pages answer 200.
//!
//! `cargo bench -p nightshift --bench console [-- --incidents N --requests R]` (defaults:
//! 10,000 incidents, 200 requests per page). `cargo test --all-targets` runs bench targets
//! without the `--bench` flag `cargo bench` passes; then this prints a line and returns.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use kube::runtime::reflector;
use nightshift::lab::LAB_POLICY;
use nightshift_agent::clock::SystemClock;
use nightshift_agent::engine::{Engine, EngineConfig, Parts};
use nightshift_agent::http::{ApiState, Auth, router};
use nightshift_agent::perceive::watchers::Caches;
use nightshift_core::policy::Policy;
use nightshift_core::{
    Action, Analysis, Category, Decision, Diagnosis, Evidence, EvidenceData, EvidenceId,
    EvidenceItem, EvidenceKind, Plan, ResourceRef, Risk, RuleAnalyzer, Signal, SignalSource,
    SignalStatus, State, TimelineEntry, TimelineKind, Verdict,
};
use nightshift_store::{ApprovalAnswer, Store, StoredIncident};
use tower::ServiceExt;

const NAMESPACES: [&str; 12] = [
    "shop",
    "payments",
    "search",
    "auth",
    "catalog",
    "checkout",
    "ledger",
    "mail",
    "media",
    "ml",
    "monitoring",
    "edge",
];
const WORKLOADS: [&str; 8] = [
    "api",
    "web",
    "worker",
    "orders",
    "cache",
    "gateway",
    "indexer",
    "scheduler",
];
const CATEGORIES: [Category; 5] = [
    Category::BadRelease,
    Category::MemoryLimit,
    Category::MemoryLeak,
    Category::TrafficSurge,
    Category::ImagePull,
];

/// The resource incident `i` is about: mostly workloads, some pods, nodes and storms; one
/// resource per incident, so that each signal opens its own incident.
fn resource(i: usize) -> ResourceRef {
    let ns = NAMESPACES[i % NAMESPACES.len()];
    let name = format!("{}-{i:05}", WORKLOADS[i / 7 % WORKLOADS.len()]);
    match i % 25 {
        0 => ResourceRef::node(&format!("worker-{i:05}")),
        1 => ResourceRef::Storm {
            source: "alertmanager".into(),
            rule: format!("KubePodNotReady{i:05}"),
        },
        2..=5 => ResourceRef::Pod {
            namespace: ns.into(),
            name: format!("{name}-7d9f-abcde"),
        },
        _ => ResourceRef::deployment(ns, &name),
    }
}

fn alert(i: usize, resource: &ResourceRef, at: DateTime<Utc>) -> Signal {
    let name = [
        "KubePodCrashLooping",
        "KubeDeploymentReplicasMismatch",
        "HighLatency",
    ][i % 3];
    Signal {
        fingerprint: format!("{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        source: SignalSource::Alertmanager,
        status: SignalStatus::Firing,
        name: name.into(),
        labels: BTreeMap::from([
            ("alertname".into(), name.into()),
            (
                "namespace".into(),
                resource.namespace().unwrap_or("").into(),
            ),
            ("severity".into(), "critical".into()),
        ]),
        annotations: BTreeMap::from([("summary".into(), format!("{resource}: {name}"))]),
        starts_at: at,
        ends_at: None,
        resource: Some(resource.clone()),
    }
}

/// A collection round: container statuses, events and `log_items` log excerpts of `lines`
/// lines each.
fn evidence(resource: &ResourceRef, at: DateTime<Utc>, log_items: usize, lines: usize) -> Evidence {
    let ns = resource.namespace().unwrap_or("default").to_owned();
    let mut items = Vec::new();
    for k in 0..log_items {
        let pod = format!("app-7d9f-{k:05}");
        items.push(EvidenceItem {
            id: EvidenceId(format!("E{}", items.len() + 1)),
            kind: EvidenceKind::Logs,
            resource: ResourceRef::Pod {
                namespace: ns.clone(),
                name: pod.clone(),
            },
            summary: format!("previous container of {pod}: panic: assignment to entry in nil map"),
            data: EvidenceData::Logs {
                pod,
                container: "app".into(),
                owner: Some(resource.clone()),
                previous: true,
                lines: (0..lines)
                    .map(|n| {
                        format!(
                            "2026-03-01T03:{:02}:{:02}.{n:03}Z level=info msg=\"request handled\" \
                             path=/api/v1/orders/{n} status=200 duration_ms={}",
                            n / 60 % 60,
                            n % 60,
                            n % 97
                        )
                    })
                    .collect(),
                total_lines: lines * 4,
            },
            observed_at: at,
        });
    }
    for k in 0..3 {
        items.push(EvidenceItem {
            id: EvidenceId(format!("E{}", items.len() + 1)),
            kind: EvidenceKind::Event,
            resource: resource.clone(),
            summary: format!("Warning BackOff: back-off restarting failed container ({k})"),
            data: EvidenceData::Event {
                event_type: "Warning".into(),
                reason: "BackOff".into(),
                message: "Back-off restarting failed container app".into(),
                count: 12 + k,
                first_seen: Some(at),
                last_seen: Some(at),
                object_kind: "Pod".into(),
                object_name: format!("app-7d9f-{k:05}"),
            },
            observed_at: at,
        });
    }
    let bytes = serde_json::to_vec(&items).map_or(0, |v| v.len());
    Evidence {
        items,
        bytes,
        truncated: 0,
    }
}

fn analysis(i: usize, target: &ResourceRef) -> Analysis {
    let category = CATEGORIES[i % CATEGORIES.len()];
    Analysis {
        diagnosis: Diagnosis {
            category,
            summary: format!("{target}: {} since the last rollout", category.as_str()),
            evidence: vec![EvidenceId("E1".into()), EvidenceId("E2".into())],
            root_cause: target.clone(),
            confidence: 0.8,
        },
        plans: vec![
            Plan {
                action: Action::Rollback {
                    target: target.clone(),
                    revision: None,
                },
                confidence: 0.8,
                rationale: "the crashes started with the latest revision".into(),
                expected_outcome: "pods Ready, restarts flat for 5m".into(),
            },
            Plan {
                action: Action::Escalate {
                    reason: "if the rollback does not help".into(),
                },
                confidence: 0.2,
                rationale: "fallback".into(),
                expected_outcome: "a human looks".into(),
            },
        ],
        analyzer: "rules".into(),
        notes: vec![],
    }
}

fn note(at: DateTime<Utc>, kind: TimelineKind, message: String) -> TimelineEntry {
    TimelineEntry {
        at,
        kind,
        message,
        data: serde_json::json!({ "ready": 3, "desired": 3, "restarts": 0 }),
    }
}

/// One remediation attempt as the engine records it: collect (from open), analyze (again,
/// after an unresolved attempt), decide, (ask, answer,) act, verify. Returns false when it
/// stops waiting for an answer, true with the incident verifying and `notes` verification
/// entries written.
async fn attempt(
    store: &Store,
    s: &mut StoredIncident,
    i: usize,
    round: u32,
    at: &mut DateTime<Utc>,
    ask: Option<bool>,
    (log_items, lines, notes): (usize, usize, usize),
) -> bool {
    let mut tick = || {
        *at += chrono::Duration::seconds(20);
        *at
    };
    let target = match &s.resource {
        ResourceRef::Pod { namespace, .. } => ResourceRef::deployment(namespace, "app"),
        ResourceRef::Node { .. } | ResourceRef::Storm { .. } => {
            ResourceRef::deployment("default", "app")
        }
        other => other.clone(),
    };
    if s.state == State::Open {
        let e = s.transition(State::Collecting, tick(), "collect").unwrap();
        store.update_incident(s, &[e]).await.unwrap();
    }
    let ev = evidence(&s.resource, tick(), log_items, lines);
    store
        .record_evidence(&s.id, round, &ev, tick())
        .await
        .unwrap();
    if s.state != State::Analyzing {
        let e = s.transition(State::Analyzing, tick(), "analyze").unwrap();
        store.update_incident(s, &[e]).await.unwrap();
    }
    let a = analysis(i, &target);
    store
        .record_analysis(&s.id, round, &a, tick())
        .await
        .unwrap();
    s.category = Some(a.diagnosis.category);
    s.root_cause = Some(target.clone());
    s.attempts = round;
    let e = s.transition(State::Planned, tick(), "planned").unwrap();
    store.update_incident(s, &[e]).await.unwrap();
    let decision = Decision {
        verdict: if ask.is_some() {
            Verdict::NeedsApproval
        } else {
            Verdict::Execute
        },
        risk: Risk::Medium,
        rule: format!(
            "mode: approve (namespace {})",
            s.resource.namespace().unwrap_or("-")
        ),
        factors: vec!["criticality: high".into(), "business hours".into()],
    };
    let d = store
        .record_decision(&s.id, round, &a.plans[0], &decision, tick())
        .await
        .unwrap();
    if let Some(approve) = ask {
        let asked = tick();
        store
            .request_approval(s, Some(d), asked, asked + chrono::Duration::hours(1))
            .await
            .unwrap();
        if !approve {
            return false;
        }
        let answer = ApprovalAnswer {
            approve: true,
            by: "alice".into(),
            reason: Some("looks right".into()),
            at: tick(),
        };
        *s = store.decide_approval(&s.id, &answer).await.unwrap();
    }
    let e = s.transition(State::Acting, tick(), "act").unwrap();
    store.update_incident(s, &[e]).await.unwrap();
    let key = format!("{}-{round}", s.id.0);
    let intent = store
        .record_intent(&s.id, round, &a.plans[0].action, &key, tick())
        .await
        .unwrap();
    let outcome = serde_json::json!({ "rolled_back_to": 6 });
    store
        .mark_action_done(intent, &outcome, tick())
        .await
        .unwrap();
    let e = s.transition(State::Verifying, tick(), "verify").unwrap();
    store.update_incident(s, &[e]).await.unwrap();
    for n in 0..notes {
        let text = format!("check {n}: 3/3 ready, no restarts in the window");
        store
            .append(&s.id, &note(tick(), TimelineKind::Verification, text))
            .await
            .unwrap();
    }
    true
}

/// Incident `i` as the engine would have left it.
async fn incident(store: &Store, i: usize, total: usize) {
    let now = Utc::now();
    let mut at = now - chrono::Duration::days(30) + chrono::Duration::seconds((i * 250) as i64);
    let root = resource(i);
    let signal = alert(i, &root, at);
    let summarize = |group: &[&Signal]| {
        note(
            at,
            TimelineKind::Signal,
            format!("{} signal(s): {}", group.len(), group[0].name),
        )
    };
    let taken = store
        .ingest_batch(&[signal], &[Some(root)], at, &summarize)
        .await
        .unwrap();
    let mut s = taken.correlated[0].0.incident.clone();
    // 3% still wait for an answer; 10% were approved; the rest ran on their own.
    let profile = i % 100;
    let ask = match profile {
        0..=2 => Some(false),
        3..=12 => Some(true),
        _ => None,
    };
    if profile == 13 {
        let e = s.transition(State::Collecting, at, "collect").unwrap();
        store.update_incident(&mut s, &[e]).await.unwrap();
        return; // collecting now
    }
    if !attempt(store, &mut s, i, 1, &mut at, ask, (2, 30, 3)).await {
        return; // awaiting approval
    }
    let e = if profile.is_multiple_of(9) {
        s.transition(State::Unresolved, at, "still failing")
            .unwrap()
    } else {
        s.transition(State::Resolved, at, "recovered").unwrap()
    };
    store.update_incident(&mut s, &[e]).await.unwrap();
    let text = "notified webhook and slack".to_owned();
    store
        .append(&s.id, &note(at, TimelineKind::Note, text))
        .await
        .unwrap();
    // All but the newest tenth are closed.
    if s.state == State::Resolved && i < total * 9 / 10 {
        let e = s.transition(State::Closed, at, "closed").unwrap();
        store.update_incident(&mut s, &[e]).await.unwrap();
    }
}

/// The long-running incident: eight attempts, each with a large evidence round and many
/// verification checks: about 500 timeline entries. Returns its id.
async fn largest(store: &Store) -> String {
    let mut at = Utc::now() - chrono::Duration::days(2);
    let root = ResourceRef::deployment("payments", "ledger");
    let signals: Vec<Signal> = (0..20).map(|k| alert(1_000_000 + k, &root, at)).collect();
    let roots = vec![Some(root.clone()); signals.len()];
    let summarize =
        |group: &[&Signal]| note(at, TimelineKind::Signal, format!("{} signals", group.len()));
    let taken = store
        .ingest_batch(&signals, &roots, at, &summarize)
        .await
        .unwrap();
    let mut s = taken.correlated[0].0.incident.clone();
    for round in 1..=8u32 {
        let ask = (round % 2 == 0).then_some(true);
        attempt(store, &mut s, 7, round, &mut at, ask, (12, 200, 50)).await;
        let e = s
            .transition(State::Unresolved, at, "still failing")
            .unwrap();
        store.update_incident(&mut s, &[e]).await.unwrap();
        let e = s.transition(State::Analyzing, at, "again").unwrap();
        store.update_incident(&mut s, &[e]).await.unwrap();
    }
    s.id.0.clone()
}

async fn fill(store: &Store, total: usize, writers: usize) -> String {
    let start = Instant::now();
    let destinations = ["webhook".to_owned(), "slack".to_owned()];
    store
        .set_notice_destinations(&destinations, Utc::now())
        .await
        .unwrap();
    futures::stream::iter(0..total)
        .for_each_concurrent(writers, |i| async move { incident(store, i, total).await })
        .await;
    let id = largest(store).await;
    let entries = store
        .timeline(&nightshift_core::IncidentId(id.clone()))
        .await
        .unwrap();
    println!(
        "  filled in {:.0} s: {total} incidents, and {id} with {} timeline entries",
        start.elapsed().as_secs_f64(),
        entries.len()
    );
    id
}

/// The agent's router over `store`, with an engine that never talks to a cluster.
fn app(store: Store) -> Router {
    let client = kube::Client::try_from(kube::Config::new(
        "http://127.0.0.1:9".parse().expect("a URL"),
    ))
    .expect("a client");
    let caches = Caches {
        pods: reflector::store().0,
        deployments: reflector::store().0,
        replicasets: reflector::store().0,
        nodes: reflector::store().0,
        services: reflector::store().0,
    };
    let engine = Engine::new(Parts {
        store,
        clock: Arc::new(SystemClock),
        analyzer: RuleAnalyzer::new(),
        policy: Policy::parse(LAB_POLICY, "deploy/policy.lab.yaml").expect("the lab policy"),
        actuator: nightshift_agent::act::Actuator::new(client.clone()),
        verifier: nightshift_agent::verify::Verifier::new(client.clone()),
        caches,
        client,
        config: EngineConfig::default(),
    });
    let state = ApiState::new(engine, Auth::open(false), Default::default());
    router(Arc::new(state))
}

/// One page: status, body bytes, and the time from the request to the last byte.
async fn get(app: &Router, path: &str, cookie: &str) -> (StatusCode, Vec<u8>, Duration) {
    let request = Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("a request");
    let start = Instant::now();
    let response = app.clone().oneshot(request).await.expect("an answer");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    (status, body.to_vec(), start.elapsed())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn measure(label: &str, store: Store, largest: &str, requests: usize) {
    let app = app(store);
    // The first page starts an anonymous session (the API is open); keep its cookie.
    let request = Request::get("/console/")
        .body(Body::empty())
        .expect("a request");
    let first = app.clone().oneshot(request).await.expect("an answer");
    let cookie = first
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let pages = [
        ("list, first page", "/console/".to_owned()),
        (
            "list, filtered",
            "/console/?state=closed&namespace=payments&q=orders".to_owned(),
        ),
        ("list, page 80", "/console/?page=80".to_owned()),
        ("incident, largest", format!("/console/incidents/{largest}")),
    ];
    for (name, path) in pages {
        for _ in 0..5 {
            get(&app, &path, &cookie).await;
        }
        let mut times = Vec::with_capacity(requests);
        let mut bytes = 0;
        for _ in 0..requests {
            let (status, body, took) = get(&app, &path, &cookie).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{path}: {}",
                String::from_utf8_lossy(&body)
            );
            bytes = body.len();
            times.push(took);
        }
        times.sort();
        let at =
            |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
        println!(
            "  {label:<9} {name:<18} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8}",
            ms(at(0.50)),
            ms(at(0.95)),
            ms(at(0.99)),
            ms(times[times.len() - 1]),
            bytes / 1024
        );
    }
}

fn header_line() {
    println!(
        "  {:<9} {:<18} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "engine", "page", "p50 ms", "p95 ms", "p99 ms", "max ms", "KiB"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("console: a benchmark; run it with `cargo bench -p nightshift --bench console`");
        return;
    }
    let total = common::bench_arg("--incidents", 10_000);
    let requests = common::bench_arg("--requests", 200);
    println!("console: {total} incidents, {requests} requests per page, server time");

    let dir = tempfile::tempdir().expect("temporary directory");
    let url = dir.path().join("record.db").display().to_string();
    let store = Store::open(&url).await.expect("open sqlite");
    println!("sqlite ({url})");
    let id = fill(&store, total, 1).await;
    header_line();
    measure("sqlite", store.clone(), &id, requests).await;
    store.close().await;

    let Some(url) = common::fresh_pg_schema("nst_bench_console") else {
        println!("postgres skipped: {} is unreachable", common::POSTGRES);
        return;
    };
    let store = Store::open(&url).await.expect("open postgres");
    println!("postgres ({url})");
    let id = fill(&store, total, 8).await;
    header_line();
    measure("postgres", store.clone(), &id, requests).await;
    store.close().await;
    let schema = url.rsplit('=').next().unwrap_or_default();
    let _ = std::process::Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c"])
        .arg(format!("DROP SCHEMA {schema} CASCADE"))
        .output();
}
