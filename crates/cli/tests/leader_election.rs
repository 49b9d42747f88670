//! Two replicas of the real binary on one PostgreSQL record against a simulated cluster, the
//! holder of a Lease running the engine:
//!
//! - the leader is killed (SIGKILL) between the write-ahead intent and the change: the other
//!   replica takes over within the lease and the hung pod is restarted exactly once;
//! - the leader is killed during verification: the other finishes it, nothing is done twice;
//! - the leader is stopped (SIGSTOP) past its lease right after its intent, the other takes
//!   over and acts, then the first is continued (SIGCONT): it changes nothing, and its
//!   attempt is on the incident's timeline (fencing by the store's leadership term);
//! - a replica configured for leader election on SQLite is refused at start.
//!
//! The scenario is one hung orders-worker replica (restart-pod, in the lab's auto mode), as in
//! crash_resume.rs. The figure printed is the time from the leader's death to the first step
//! of the new leader.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::record::{client, removed, until_file, until_incident, watch_pods};
use common::{Process, Sim, free_port, lab_policy_path, scenario_path, start_agent};
use nightshift_agent::engine::{HOLD_AFTER_INTENT, PAUSE_AFTER_INTENT};
use nightshift_core::{State, TimelineKind};
use nightshift_store::{ActionStatus, Store};

const BIN: &str = env!("CARGO_BIN_EXE_nightshift");
const SPEED: f64 = 30.0;
/// The lease of these tests: 5s, short, so that the tests are quick; `NIGHTSHIFT_TEST_LEASE`
/// (seconds) measures another, e.g. the default 10.
fn lease() -> Duration {
    let secs = std::env::var("NIGHTSHIFT_TEST_LEASE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    Duration::from_secs(secs)
}

/// The simulated cluster, and the record both replicas share.
struct Cluster {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    sim: Sim,
    store_url: String,
    /// Where the simulated cluster posts its alerts (replica a).
    alert_port: u16,
    /// What both replicas' notification webhook received, in order.
    notified: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    hook: String,
}

/// A webhook receiver keeping every notification it gets.
fn receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(body);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(listener, app).await.unwrap()
    });
    (format!("http://{addr}/hook"), got)
}

fn cluster(store_url: String) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let alert_port = free_port();
    let webhook = format!("http://127.0.0.1:{alert_port}/api/v1/alerts/alertmanager");
    let sim = common::start_sim(
        Path::new(BIN),
        &path,
        &scenario_path("hang-orders-worker-deadlock"),
        SPEED,
        Some(&webhook),
    );
    let (hook, notified) = receiver();
    Cluster {
        _dir: dir,
        dir: path,
        sim,
        store_url,
        alert_port,
        notified,
        hook,
    }
}

impl Cluster {
    /// The configuration of replica `name` listening on `port`.
    fn config(&self, name: &str, port: u16, store: &str) -> PathBuf {
        let path = self.dir.join(format!("{name}.yaml"));
        let text = format!(
            "listen: 127.0.0.1:{port}\nstore: {store}\nkubeconfig: {}\npolicy: {}\n\
             watchers: false\nsettle: 1s\npoll: 200ms\nstabilization: 60s\nverify_deadline: 10m\n\
             max_attempts: 2\nleader_election:\n  lease: nightshift\n  namespace: shop\n  \
             identity: {name}\n  duration: {}s\n  grace: {}s\nnotify_webhook: {}\n",
            self.sim.kubeconfig.display(),
            lab_policy_path().display(),
            lease().as_secs(),
            (lease().as_secs() / 4).max(1),
            self.hook,
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Starts replica `name`; `hooks` are crash-test hooks with their marker files.
    fn replica(&self, name: &str, port: u16, hooks: &[(&str, &Path)]) -> Process {
        let config = self.config(name, port, &self.store_url);
        start_agent(Path::new(BIN), &self.dir, name, &config, port, hooks)
    }
}

/// Waits until `name` holds the current leadership term.
async fn until_leads(store: &Store, name: &str, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some((term, holder))) = store.current_term().await
            && holder == name
        {
            return term;
        }
        assert!(Instant::now() < deadline, "{name} never came to lead");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The one change-making intent of the first incident, and how it ended.
async fn intents(store: &Store) -> Vec<(String, ActionStatus)> {
    let first = until_incident(store, Duration::from_secs(5), "the record", |_| true).await;
    store
        .actions(&first.incident.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action.changes_infra())
        .map(|a| (a.idempotency_key, a.status))
        .collect()
}

/// SIGSTOP or SIGCONT.
fn signal(process: &Process, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &process.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_within_the_lease_and_the_change_is_made_once() {
    let Some(url) = common::fresh_pg_schema("leader") else {
        return;
    };
    let c = cluster(url.clone());
    let kube = client(&c.sim.kubeconfig).await;
    let (seen, watcher) = watch_pods(kube.clone());
    let marker = c.dir.join("a-paused");
    // a starts alone, so it leads; it stops for good right after its intent is durable.
    let mut a = c.replica("a", c.alert_port, &[(PAUSE_AFTER_INTENT, &marker)]);
    let store = Store::open(&url).await.unwrap();
    let first_term = until_leads(&store, "a", Duration::from_secs(30)).await;
    let b = c.replica("b", free_port(), &[]);
    let key = until_file(&marker, &mut a, Duration::from_secs(180)).await;
    assert_eq!(
        intents(&store).await,
        vec![(key.clone(), ActionStatus::Intended)]
    );
    a.kill();
    let killed = Utc::now();
    let killed_at = Instant::now();

    let term = until_leads(&store, "b", lease() * 3).await;
    assert!(term > first_term, "b claims a newer term");
    let closed = until_incident(
        &store,
        Duration::from_secs(180),
        "the incident to be verified and closed by b",
        |i| matches!(i.incident.state, State::Closed | State::Escalated),
    )
    .await;
    assert_eq!(closed.incident.state, State::Closed, "not escalated");
    let timeline = store.timeline(&closed.incident.id).await.unwrap();
    let resumed = timeline
        .iter()
        .find(|e| e.at > killed && e.message.contains("resuming intent"))
        .expect("b resumes a's intent");
    let takeover = (resumed.at - killed).num_milliseconds() as f64 / 1000.0;
    println!(
        "takeover: {takeover:.1}s from the leader's death to the new leader's first step (lease {}s; waited {:.1}s in all)",
        lease().as_secs(),
        killed_at.elapsed().as_secs_f64()
    );
    assert!(
        takeover <= lease().as_secs_f64() + 5.0,
        "taken over in {takeover:.1}s with a {}s lease",
        lease().as_secs()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(intents(&store).await, vec![(key, ActionStatus::Done)]);
    assert_eq!(
        removed(&seen).len(),
        1,
        "exactly one pod restarted: {:?}",
        removed(&seen)
    );
    watcher.abort();
    // Notifications went on across the change of leader: every step on the record was
    // delivered, and the receiver got each (a repeat is possible only for a delivery cut by
    // the kill, and it carries the same dedup key).
    until_delivered(&store, &closed.incident.id).await;
    let got = c.notified.lock().unwrap().clone();
    let record = store.notices(&closed.incident.id).await.unwrap();
    let mut keys: Vec<String> = got
        .iter()
        .filter(|n| n["incident"] == closed.incident.id.0.as_str())
        .map(|n| n["dedup_key"].as_str().unwrap().to_string())
        .collect();
    let received = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), record.len(), "every step once: {keys:?}");
    assert!(
        received <= record.len() + 1,
        "{received} for {}",
        record.len()
    );
    println!(
        "notifications across the change of leader: {} steps, {received} deliveries",
        record.len()
    );
    drop(b);
}

/// Waits until every notification of `id` is delivered.
async fn until_delivered(store: &Store, id: &nightshift_core::IncidentId) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let record = store.notices(id).await.unwrap();
        if !record.is_empty()
            && record
                .iter()
                .all(|n| n.status == nightshift_store::NoticeStatus::Delivered)
        {
            return;
        }
        assert!(Instant::now() < deadline, "undelivered: {record:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_killed_during_verification_is_replaced_and_nothing_is_done_twice() {
    let Some(url) = common::fresh_pg_schema("leader") else {
        return;
    };
    let c = cluster(url.clone());
    let kube = client(&c.sim.kubeconfig).await;
    let (seen, watcher) = watch_pods(kube.clone());
    let mut a = c.replica("a", c.alert_port, &[]);
    let store = Store::open(&url).await.unwrap();
    until_leads(&store, "a", Duration::from_secs(30)).await;
    let _b = c.replica("b", free_port(), &[]);
    until_incident(
        &store,
        Duration::from_secs(180),
        "a to act and verify",
        |i| i.incident.state == State::Verifying,
    )
    .await;
    a.kill();
    let killed = Utc::now();
    until_leads(&store, "b", lease() * 3).await;
    let closed = until_incident(
        &store,
        Duration::from_secs(180),
        "b to finish the verification",
        |i| matches!(i.incident.state, State::Closed | State::Escalated),
    )
    .await;
    assert_eq!(closed.incident.state, State::Closed, "not escalated");
    let timeline = store.timeline(&closed.incident.id).await.unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| e.at > killed && e.kind == TimelineKind::Verification),
        "b verified after a died"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let done = intents(&store).await;
    assert_eq!(done.len(), 1, "one action: {done:?}");
    assert_eq!(done[0].1, ActionStatus::Done);
    assert_eq!(
        removed(&seen).len(),
        1,
        "one pod restarted: {:?}",
        removed(&seen)
    );
    watcher.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_past_its_lease_changes_nothing_when_it_wakes() {
    let Some(url) = common::fresh_pg_schema("leader") else {
        return;
    };
    let c = cluster(url.clone());
    let kube = client(&c.sim.kubeconfig).await;
    let (seen, watcher) = watch_pods(kube.clone());
    let marker = c.dir.join("a-held");
    let mut a = c.replica("a", c.alert_port, &[(HOLD_AFTER_INTENT, &marker)]);
    let store = Store::open(&url).await.unwrap();
    until_leads(&store, "a", Duration::from_secs(30)).await;
    let _b = c.replica("b", free_port(), &[]);
    let key = until_file(&marker, &mut a, Duration::from_secs(180)).await;
    signal(&a, "-STOP");
    // b takes over and carries a's intent out.
    until_leads(&store, "b", lease() * 3).await;
    let acted = until_incident(
        &store,
        Duration::from_secs(120),
        "b to carry the restart out",
        |i| {
            matches!(
                i.incident.state,
                State::Verifying | State::Resolved | State::Closed
            )
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        removed(&seen).len(),
        1,
        "b restarted the pod: {:?}",
        removed(&seen)
    );
    // a wakes up where it stopped, believing it still leads.
    std::fs::remove_file(&marker).unwrap();
    signal(&a, "-CONT");
    let deadline = Instant::now() + Duration::from_secs(30);
    let note = loop {
        let timeline = store.timeline(&acted.incident.id).await.unwrap();
        if let Some(e) = timeline
            .iter()
            .find(|e| e.kind == TimelineKind::Note && e.message.starts_with("not carried out"))
        {
            break e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "a's fenced attempt is not on the timeline: {:?}",
            timeline.iter().map(|e| &e.message).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(note.message.contains(&key), "{}", note.message);
    assert!(note.message.contains("b leads"), "{}", note.message);
    assert!(a.running(), "a goes on, as a follower");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        removed(&seen).len(),
        1,
        "a changed nothing: {:?}",
        removed(&seen)
    );
    assert_eq!(intents(&store).await, vec![(key, ActionStatus::Done)]);
    watcher.abort();
}

#[test]
fn replicas_on_sqlite_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nightshift.yaml");
    std::fs::write(
        &config,
        format!(
            "store: sqlite://{}/record.db\nleader_election:\n  lease: nightshift\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config", &config.display().to_string()])
        .env_remove("NIGHTSHIFT_STORE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("leader_election"), "{err}");
    assert!(err.contains("PostgreSQL"), "{err}");
    assert!(err.contains("SQLite"), "{err}");
}

/// One Alertmanager payload with `n` distinct firing alerts numbered from `first`.
fn alerts(first: usize, n: usize) -> serde_json::Value {
    let alerts: Vec<serde_json::Value> = (first..first + n)
        .map(|i| {
            serde_json::json!({
                "status": "firing",
                "labels": {"alertname": format!("StormAlert{}", i % 40), "namespace": "shop",
                           "pod": format!("storm-{i}"), "severity": "warning"},
                "annotations": {"summary": "storm"},
                "startsAt": Utc::now().to_rfc3339(),
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": format!("{i:016x}"),
            })
        })
        .collect();
    serde_json::json!({
        "version": "4", "status": "firing", "receiver": "nightshift", "groupKey": "{}:{}",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "",
        "alerts": alerts,
    })
}

/// Posts `batches` payloads of `per` alerts, each to one replica and, when that one does not
/// take it (restarting), to the other, as a Service in front of them and Alertmanager's
/// retries would; returns the alerts acknowledged.
async fn post_storm(ports: [u16; 2], batches: usize, per: usize) -> usize {
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut acknowledged = 0;
    for b in 0..batches {
        let body = alerts(b * per, per);
        let mut sent = false;
        for attempt in 0..200 {
            let port = ports[(b + attempt) % 2];
            let url = format!("http://127.0.0.1:{port}/api/v1/alerts/alertmanager");
            match http.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {
                    sent = true;
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        assert!(sent, "batch {b} was never acknowledged");
        acknowledged += per;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_during_an_alert_storm_loses_no_signal() {
    let Some(url) = common::fresh_pg_schema("leader") else {
        return;
    };
    let c = cluster(url.clone());
    let store = Store::open(&url).await.unwrap();
    let ports = [c.alert_port, free_port()];
    let mut a = c.replica("a", ports[0], &[]);
    until_leads(&store, "a", Duration::from_secs(30)).await;
    let mut b = c.replica("b", ports[1], &[]);
    let storm = tokio::spawn(post_storm(ports, 300, 10));

    // Rolling restart, as a Deployment does it: the leader first. SIGTERM hands the Lease
    // over between steps, so the other leads long before the lease would expire.
    tokio::time::sleep(Duration::from_secs(2)).await;
    signal(&a, "-TERM");
    let terminated = Instant::now();
    until_leads(&store, "b", lease() * 3).await;
    let handover = terminated.elapsed().as_secs_f64();
    wait_for_exit(&mut a);
    a = c.replica("a", ports[0], &[]);
    signal(&b, "-TERM");
    until_leads(&store, "a", lease() * 3).await;
    wait_for_exit(&mut b);
    let _b = c.replica("b", ports[1], &[]);

    let sent = storm.await.unwrap();
    // The simulated cluster's own alerts go to the record too: count the storm's.
    let recorded = store
        .firing_signals(nightshift_core::SignalSource::Alertmanager, 1_000_000)
        .await
        .unwrap()
        .iter()
        .filter(|s| s.name.starts_with("StormAlert"))
        .count();
    println!(
        "rolling restart under a storm: {sent} alerts acknowledged, {recorded} signals recorded; the Lease was handed over {handover:.1}s after SIGTERM"
    );
    assert_eq!(recorded, sent, "every acknowledged alert is recorded once");
    assert!(
        handover < lease().as_secs_f64(),
        "SIGTERM released the Lease ({handover:.1}s)"
    );
    assert!(a.running());
}

/// Waits for a process that was sent SIGTERM to exit by itself.
fn wait_for_exit(p: &mut Process) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while p.running() {
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}
