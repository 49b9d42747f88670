//! The outbox end to end, with the generic webhook against the simulated cluster: a receiver
//! that is down for ten minutes of the cluster's time gets every notification once it is back,
//! in order per incident, none lost and none twice; a receiver that refuses a request gets it
//! the configured number of times, and the refusal is on the incident's record.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::StatusCode;
use axum::routing::post;
use nightshift::lab::{Lab, LabOptions};
use nightshift_core::State;
use nightshift_core::notice::NotifyEvent;
use nightshift_store::{IncidentFilter, NoticeStatus};
use serde_json::Value;

fn scenario(name: &str) -> nightshift_scenario::Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(format!("{name}.yaml"));
    nightshift_scenario::load_file(&path).unwrap()
}

/// A webhook receiver: answers `answer` while it is down, 200 otherwise, and keeps what it
/// accepted.
#[derive(Clone, Default)]
struct Receiver {
    down: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    got: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    async fn serve(&self, answer: StatusCode) -> String {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(move |Json(body): Json<Value>| {
                let me = me.clone();
                async move {
                    if me.down.load(Ordering::SeqCst) {
                        me.refused.fetch_add(1, Ordering::SeqCst);
                        return answer;
                    }
                    me.got.lock().unwrap().push(body);
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/hook")
    }

    fn got(&self) -> Vec<Value> {
        self.got.lock().unwrap().clone()
    }
}

async fn lab(hook: String, dir: &tempfile::TempDir) -> Lab {
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.speed = 60.0;
    opts.notify_webhook = Some(hook);
    Lab::start(&scenario("bad-rollout-catalog-crash"), opts)
        .await
        .unwrap()
}

/// Waits (real time) until `f` holds.
async fn until(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_ten_minutes_gets_everything_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::default();
    receiver.down.store(true, Ordering::SeqCst);
    let hook = receiver.serve(StatusCode::SERVICE_UNAVAILABLE).await;
    let lab = lab(hook, &dir).await;
    let store = lab.agent.engine.store().clone();
    let clock = lab.sim.clock().clone();
    // Down from the start for ten minutes of the cluster's time: the incident opens and moves
    // on while every try fails.
    let down_until = clock.now() + chrono::Duration::minutes(10);
    until("an incident", Duration::from_secs(120), async || {
        !store
            .list(&IncidentFilter::default())
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    until(
        "ten minutes of cluster time",
        Duration::from_secs(120),
        async || clock.now() >= down_until,
    )
    .await;
    assert!(
        receiver.refused.load(Ordering::SeqCst) >= 2,
        "the receiver was tried while down"
    );
    assert!(receiver.got().is_empty());
    let pending: u64 = store
        .outbox_backlog()
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert!(pending >= 1, "notifications wait in the outbox");
    receiver.down.store(false, Ordering::SeqCst);

    // Back: everything arrives once the incident is closed and the outbox is empty.
    until(
        "the incident closed and delivered",
        Duration::from_secs(240),
        async || {
            let list = store.list(&IncidentFilter::default()).await.unwrap();
            let closed = list.iter().all(|i| i.incident.state == State::Closed);
            let backlog = store.outbox_backlog().await.unwrap();
            closed && backlog.iter().all(|(_, n)| *n == 0)
        },
    )
    .await;
    lab.stop();

    let got = receiver.got();
    let list = store.list(&IncidentFilter::default()).await.unwrap();
    let mut expected = 0;
    for i in &list {
        let record = store.notices(&i.incident.id).await.unwrap();
        assert!(
            record
                .iter()
                .all(|n| n.destination == "webhook" && n.status == NoticeStatus::Delivered),
            "{record:?}"
        );
        assert!(record.iter().any(|n| n.attempts > 1), "some were retried");
        expected += record.len();
        let events: Vec<NotifyEvent> = record.iter().map(|n| n.event).collect();
        assert_eq!(events.first(), Some(&NotifyEvent::IncidentOpened));
        assert_eq!(events.last(), Some(&NotifyEvent::Closed));
        // What the receiver got for this incident: the same steps, in the same order.
        let received: Vec<String> = got
            .iter()
            .filter(|n| n["incident"] == i.incident.id.0.as_str())
            .map(|n| n["kind"].as_str().unwrap().to_string())
            .collect();
        let recorded: Vec<String> = events.iter().map(|e| e.as_str().to_string()).collect();
        assert_eq!(received, recorded, "in order, none lost");
    }
    assert_eq!(got.len(), expected);
    let mut keys = BTreeMap::new();
    for n in &got {
        *keys
            .entry(n["dedup_key"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert!(keys.values().all(|n| *n == 1), "none twice: {keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_notification_is_given_up_and_recorded_without_holding_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::default();
    receiver.down.store(true, Ordering::SeqCst);
    let hook = receiver.serve(StatusCode::BAD_REQUEST).await;
    let lab = lab(hook, &dir).await;
    let store = lab.agent.engine.store().clone();
    let api = format!("http://{}", lab.agent.addr);
    // The first notification is refused three times, then given up; the ones after it are
    // refused too while the receiver stays this way: each is tried three times, not forever.
    until(
        "a notification given up",
        Duration::from_secs(120),
        async || {
            let list = store.list(&IncidentFilter::default()).await.unwrap();
            let Some(i) = list.first() else { return false };
            store
                .notices(&i.incident.id)
                .await
                .unwrap()
                .iter()
                .any(|n| n.status == NoticeStatus::Failed)
        },
    )
    .await;
    receiver.down.store(false, Ordering::SeqCst);
    let id = store.list(&IncidentFilter::default()).await.unwrap()[0]
        .incident
        .id
        .clone();
    until(
        "later notifications delivered",
        Duration::from_secs(240),
        async || {
            store
                .notices(&id)
                .await
                .unwrap()
                .iter()
                .any(|n| n.status == NoticeStatus::Delivered)
        },
    )
    .await;
    assert!(receiver.refused.load(Ordering::SeqCst) >= 3);
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();
    let view: Value = http
        .get(format!("{api}/api/v1/incidents/{}", id.0))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &view["notifications"][0];
    assert_eq!(first["destination"], "webhook");
    assert_eq!(first["event"], "incident_opened");
    assert_eq!(first["status"], "failed");
    assert_eq!(first["attempts"], 3);
    assert!(first["error"].as_str().unwrap().contains("400"), "{first}");
    let timeline = view["timeline"].as_array().unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| e["kind"] == "notification"
                && e["message"].as_str().unwrap().contains("given up")),
        "the failure is on the timeline"
    );
    // Later steps of the same incident were still delivered, in order.
    let delivered: Vec<String> = receiver
        .got()
        .iter()
        .filter(|n| n["incident"] == id.0.as_str())
        .map(|n| n["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(!delivered.is_empty());
    assert!(!delivered.iter().any(|k| k == "incident_opened"));
    lab.stop();
}

/// Posts one KubeNodeNotReady alert for a node of its own (a new incident each, so a new
/// notification each) and returns how long the receiver took to answer.
async fn post_alert(http: &reqwest::Client, url: &str, node: &str) -> Duration {
    let body = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "nightshift",
        "groupKey": format!("{{}}:{{node=\"{node}\"}}"),
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "KubeNodeNotReady", "node": node},
            "annotations": {"summary": "node not ready"},
            "startsAt": "2026-01-01T00:00:00Z"
        }]
    });
    let start = Instant::now();
    let r = http.post(url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_does_not_wait_for_a_destination_that_hangs() {
    // A receiver that answers at once, then, switched, never answers.
    let hang = Arc::new(AtomicBool::new(false));
    let held = Arc::new(AtomicUsize::new(0));
    let (h, k) = (hang.clone(), held.clone());
    let app = axum::Router::new().route(
        "/hook",
        post(move || {
            let (h, k) = (h.clone(), k.clone());
            async move {
                if h.load(Ordering::SeqCst) {
                    k.fetch_add(1, Ordering::SeqCst);
                    std::future::pending::<()>().await;
                }
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.watchers = false;
    opts.monitoring = false;
    opts.notify_webhook = Some(hook);
    let lab = Lab::start(&scenario("noop-quiet-shop"), opts)
        .await
        .unwrap();
    let url = format!("http://{}/api/v1/alerts/alertmanager", lab.agent.addr);
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut answering = vec![];
    for i in 0..20 {
        answering.push(post_alert(&http, &url, &format!("fine-{i}")).await);
    }
    hang.store(true, Ordering::SeqCst);
    // Hold the destination: a delivery is waiting on the receiver from here on.
    post_alert(&http, &url, "first-held").await;
    until(
        "the receiver to hold a delivery",
        Duration::from_secs(30),
        async || held.load(Ordering::SeqCst) > 0,
    )
    .await;
    let mut hanging = vec![];
    for i in 0..20 {
        hanging.push(post_alert(&http, &url, &format!("held-{i}")).await);
    }
    let store = lab.agent.engine.store().clone();
    let pending: u64 = store
        .outbox_backlog()
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    lab.stop();
    let (a, b) = (median(answering.clone()), median(hanging.clone()));
    println!(
        "intake of one alert (median of 20, debug build): {:.1} ms with the destination answering, {:.1} ms while it hangs (max {:.1} ms); {pending} notifications waiting",
        a.as_secs_f64() * 1e3,
        b.as_secs_f64() * 1e3,
        hanging.iter().max().unwrap().as_secs_f64() * 1e3,
    );
    // Every alert was recorded while the destination held a delivery (a delivery waits up to
    // 15 s for an answer: intake that waited for it could not answer in time).
    assert!(pending >= 20, "{pending} waiting");
    assert!(hanging.iter().all(|d| *d < Duration::from_secs(10)));
}
