//! End to end against the real thing: Prometheus 2.42 scrapes the simulated cluster's
//! `/metrics` at speed 1 and evaluates the shipped rule file, Alertmanager 0.25 with the
//! shipped configuration posts to a webhook, and the KubePodCrashLooping notification it
//! delivers carries the same alerts, with the same labels, as the one the simulation's own
//! `--alert-webhook` monitoring delivers.
//!
//! Needs `prometheus` and `prometheus-alertmanager` on the PATH (`scripts/test` installs them).
//! Without them the test prints a note and passes, unless `CI` is set. It runs for about two
//! minutes of real time; skip it with `cargo test -- --skip real_prometheus`.

mod e2e;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use nightshift_sim::Simulation;
use nightshift_sim::server::{ServeOptions, start};
use serde_json::Value;

use e2e::{
    Daemons, deploy_dir, find_binary, free_port, get_json, get_text, substitute, wait_ready,
};

/// Two replicas that start crashing 5 s in: the crash loop shows within seconds, and
/// KubePodCrashLooping (`for: 1m`, groups evaluated every 30 s) fires about 1.5 minutes in.
const SCENARIO: &str = r#"
name: prometheus-e2e-crash
horizon: 30m
cluster:
  workloads:
    - {kind: Deployment, namespace: shop, name: checkout, replicas: 2, image: registry.local/shop/checkout:2.3.1}
faults:
  - {at: 5s, type: crash, target: shop/checkout}
expect:
  detect: true
  diagnosis: [app/crash]
  locate: shop/checkout
  actions: {acceptable: [escalate]}
  resolved: false
"#;

const REPLICAS: usize = 2;
const ALERT: &str = "KubePodCrashLooping";
const TIMEOUT: Duration = Duration::from_secs(240);

/// Webhook bodies by the path they were posted to (`real` or `sim`), in arrival order.
type Received = Arc<Mutex<Vec<(&'static str, Value)>>>;

/// The label maps of the firing alerts in a notification.
type AlertLabels = BTreeSet<BTreeMap<String, String>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_and_alertmanager_agree_with_the_sim() {
    let Some((prometheus, alertmanager)) = binaries() else {
        return;
    };
    let client = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();

    let received: Received = Arc::default();
    let hook = webhook_receiver(received.clone()).await;

    let scenario = nightshift_scenario::parse_str(SCENARIO, "prometheus-e2e-crash.yaml").unwrap();
    // The sim's clock starts now, so its samples line up with the wall-clock timestamps a
    // real Prometheus gives them.
    let sim = Simulation::new(&scenario, chrono::Utc::now().timestamp_millis());
    let opts = ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        speed: 1.0,
        alert_webhook: Some(format!("http://{hook}/sim")),
        kubeconfig_out: None,
        stop_at_horizon: false,
        field_validation: Default::default(),
    };
    let running = start(sim.clone(), &opts).await.expect("the sim serves");
    let started = Instant::now();
    let sim_addr = running.addr;

    let mut daemons = Daemons::new();
    let dir = daemons.dir.path().to_path_buf();
    let prom_port = free_port();
    let am_port = std::iter::repeat_with(free_port)
        .find(|p| *p != prom_port)
        .unwrap();
    let prom = format!("http://127.0.0.1:{prom_port}");
    let am = format!("http://127.0.0.1:{am_port}");

    let am_config = dir.join("alertmanager.yml");
    std::fs::write(
        &am_config,
        substitute(
            &std::fs::read_to_string(deploy_dir().join("alertmanager/alertmanager.yml")).unwrap(),
            "deploy/alertmanager/alertmanager.yml",
            &[(
                "http://nightshift.invalid/api/v1/alerts",
                format!("http://{hook}/real"),
            )],
        ),
    )
    .unwrap();
    daemons.spawn(
        "alertmanager",
        &alertmanager,
        &[
            format!("--config.file={}", am_config.display()),
            format!("--storage.path={}", dir.join("am-data").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            // An empty cluster address turns gossip off: one Alertmanager, no peers.
            "--cluster.listen-address=".into(),
        ],
    );

    let rules = deploy_dir().join("prometheus/nightshift-rules.yaml");
    let prom_config = dir.join("prometheus.yml");
    std::fs::write(
        &prom_config,
        substitute(
            &std::fs::read_to_string(deploy_dir().join("prometheus/prometheus.yml")).unwrap(),
            "deploy/prometheus/prometheus.yml",
            &[
                ("scrape_interval: 15s", "scrape_interval: 5s".into()),
                ("evaluation_interval: 30s", "evaluation_interval: 5s".into()),
                (
                    "- nightshift-rules.yaml",
                    format!("- {}", rules.canonicalize().unwrap().display()),
                ),
                ("127.0.0.1:9093", format!("127.0.0.1:{am_port}")),
                ("127.0.0.1:6443", sim_addr.to_string()),
            ],
        ),
    )
    .unwrap();
    daemons.spawn(
        "prometheus",
        &prometheus,
        &[
            format!("--config.file={}", prom_config.display()),
            format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
            // The default (1m) would hold back the first notification of a firing alert
            // behind a previous send; tests want it at once.
            "--rules.alert.resend-delay=2s".into(),
        ],
    );
    wait_ready(&client, &format!("{am}/-/ready"), Duration::from_secs(30)).await;
    wait_ready(&client, &format!("{prom}/-/ready"), Duration::from_secs(30)).await;
    println!(
        "sim on {sim_addr}, prometheus on {prom}, alertmanager on {am}, webhooks on {hook} \
         ({:.1}s after the sim started)",
        started.elapsed().as_secs_f64()
    );

    // Wait until both sides have delivered a firing notification for the alert and their
    // latest ones carry the same alerts (a pod that crashes later would come in a later
    // notification of the group).
    let mut last_progress = Instant::now();
    let (real, simulated) = loop {
        daemons.assert_alive();
        let (real, simulated) = {
            let got = received.lock().unwrap();
            (latest_firing(&got, "real"), latest_firing(&got, "sim"))
        };
        if let (Some(r), Some(s)) = (&real, &simulated)
            && alert_labels(r) == alert_labels(s)
            && alert_labels(r).len() == REPLICAS
        {
            break (r.clone(), s.clone());
        }
        if started.elapsed() > TIMEOUT {
            let got = received.lock().unwrap().clone();
            panic!(
                "no matching {ALERT} notifications from both sides within {TIMEOUT:?}\n\
                 real: {:#?}\nsim: {:#?}\nall webhooks: {got:#}",
                real.as_ref().map(alert_labels),
                simulated.as_ref().map(alert_labels),
                got = Value::Array(got.into_iter().map(|(p, v)| tagged(p, v)).collect()),
            );
        }
        if last_progress.elapsed() >= Duration::from_secs(15) {
            last_progress = Instant::now();
            progress(&client, &prom, &received, started).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!(
        "both delivered {ALERT} after {:.0}s\nreal: {}\nsim: {}",
        started.elapsed().as_secs_f64(),
        serde_json::to_string(&real).unwrap(),
        serde_json::to_string(&simulated).unwrap(),
    );

    for (side, payload) in [("real", &real), ("sim", &simulated)] {
        assert_eq!(payload["version"], "4", "{side}: {payload}");
        assert_eq!(payload["status"], "firing", "{side}: {payload}");
        for a in payload["alerts"].as_array().unwrap() {
            assert_eq!(a["status"], "firing", "{side}: {a}");
            let labels = &a["labels"];
            let keys: BTreeSet<&str> = labels
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            // `job` and `instance`, which a real scrape adds to every series, are
            // aggregated away by the rules.
            assert_eq!(
                keys,
                BTreeSet::from(["alertname", "container", "namespace", "pod", "severity"]),
                "{side}: {a}"
            );
            assert_eq!(labels["alertname"], ALERT, "{side}: {a}");
            assert_eq!(labels["namespace"], "shop", "{side}: {a}");
            assert_eq!(labels["container"], "checkout", "{side}: {a}");
            assert_eq!(labels["severity"], "warning", "{side}: {a}");
            let pod = labels["pod"].as_str().unwrap();
            assert!(pod.starts_with("checkout-"), "{side}: {a}");
        }
    }
    assert_eq!(alert_labels(&real), alert_labels(&simulated));
    assert_eq!(real["groupLabels"], simulated["groupLabels"]);
    assert_eq!(
        real["groupLabels"],
        serde_json::json!({"alertname": ALERT, "namespace": "shop"})
    );
    assert_eq!(real["commonLabels"], simulated["commonLabels"]);
    assert_eq!(
        real["commonAnnotations"], simulated["commonAnnotations"],
        "the rule file's annotation templates render alike"
    );
    for (r, s) in alerts_by_labels(&real)
        .values()
        .zip(alerts_by_labels(&simulated).values())
    {
        assert_eq!(r["annotations"], s["annotations"]);
    }

    check_prometheus(&client, &prom, &sim_addr.to_string()).await;
    running.clock.abort();
    running.server.abort();
}

/// The two binaries, or `None` (after a note) when one is missing outside CI.
fn binaries() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    match (
        find_binary("prometheus"),
        find_binary("prometheus-alertmanager"),
    ) {
        (Some(p), Some(a)) => Some((p, a)),
        (p, a) => {
            let missing = [
                ("prometheus", p.is_none()),
                ("prometheus-alertmanager", a.is_none()),
            ]
            .iter()
            .filter(|(_, m)| *m)
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(" and ");
            assert!(
                std::env::var_os("CI").is_none(),
                "{missing} not on the PATH; CI must run this test (scripts/test installs them)"
            );
            println!("note: {missing} not on the PATH; skipping the real Prometheus test");
            None
        }
    }
}

/// A webhook receiver on a free loopback port that records what comes to `/real` and `/sim`.
async fn webhook_receiver(received: Received) -> std::net::SocketAddr {
    let route = |path: &'static str| {
        let sink = received.clone();
        post(move |body: String| async move {
            let value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("webhook body on /{path} is not JSON ({e}): {body}"));
            sink.lock().unwrap().push((path, value));
            "ok"
        })
    };
    let app = Router::new()
        .route("/real", route("real"))
        .route("/sim", route("sim"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The last firing notification for [`ALERT`] that came to `path`.
fn latest_firing(got: &[(&'static str, Value)], path: &str) -> Option<Value> {
    got.iter()
        .rev()
        .find(|(p, v)| {
            *p == path && v["status"] == "firing" && v["groupLabels"]["alertname"] == ALERT
        })
        .map(|(_, v)| v.clone())
}

fn alert_labels(payload: &Value) -> AlertLabels {
    alerts_by_labels(payload).into_keys().collect()
}

fn alerts_by_labels(payload: &Value) -> BTreeMap<BTreeMap<String, String>, Value> {
    payload["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["status"] == "firing")
        .map(|a| {
            let labels = serde_json::from_value(a["labels"].clone()).expect("string labels");
            (labels, a.clone())
        })
        .collect()
}

fn tagged(path: &str, body: Value) -> Value {
    serde_json::json!({"path": path, "body": body})
}

/// Prints what each side has delivered so far and the alerts Prometheus holds.
async fn progress(client: &reqwest::Client, prom: &str, received: &Received, started: Instant) {
    let summary: Vec<String> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(p, v)| {
            format!(
                "/{p} {} {}",
                text(&v["groupLabels"]["alertname"]),
                text(&v["status"])
            )
        })
        .collect();
    let alerts = get_json(client, &format!("{prom}/api/v1/alerts"), &[]).await;
    let states: Vec<String> = alerts["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let l = &a["labels"];
            format!(
                "{} {} {}",
                text(&l["alertname"]),
                text(&l["pod"]),
                text(&a["state"])
            )
        })
        .collect();
    println!(
        "[{:>3.0}s] webhooks: {summary:?}; prometheus alerts: {states:?}",
        started.elapsed().as_secs_f64()
    );
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// The real Prometheus took the sim's exposition without complaint: the target is up, no
/// sample was dropped, every shipped rule evaluates, and the raw series do carry the `job`
/// and `instance` labels that the alerts must not.
async fn check_prometheus(client: &reqwest::Client, prom: &str, sim_addr: &str) {
    let targets = get_json(client, &format!("{prom}/api/v1/targets"), &[]).await;
    let active = targets["data"]["activeTargets"].as_array().unwrap();
    assert_eq!(active.len(), 1, "{targets}");
    assert_eq!(active[0]["health"], "up", "{targets}");
    assert_eq!(active[0]["lastError"], "", "{targets}");

    let rules = get_json(client, &format!("{prom}/api/v1/rules"), &[]).await;
    let mut count = 0;
    for group in rules["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            count += 1;
            assert_eq!(rule["health"], "ok", "{rule}");
        }
    }
    assert!(count >= 15, "only {count} rules loaded: {rules}");

    let own = get_text(client, &format!("{prom}/metrics")).await;
    for counter in [
        "prometheus_target_scrapes_sample_duplicate_timestamp_total",
        "prometheus_target_scrapes_sample_out_of_order_total",
        "prometheus_target_scrapes_sample_out_of_bounds_total",
        "prometheus_rule_evaluation_failures_total",
    ] {
        assert_eq!(
            sum_of(&own, counter),
            0.0,
            "{counter} in Prometheus's own metrics"
        );
    }

    let raw = get_json(
        client,
        &format!("{prom}/api/v1/query"),
        &[("query", "kube_pod_container_status_restarts_total")],
    )
    .await;
    let series = raw["data"]["result"].as_array().unwrap();
    assert_eq!(series.len(), REPLICAS, "{raw}");
    for s in series {
        assert_eq!(s["metric"]["job"], "nightshift-sim", "{s}");
        assert_eq!(s["metric"]["instance"], sim_addr, "{s}");
    }
}

/// The sum of every series of `name` in a Prometheus text exposition.
fn sum_of(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
