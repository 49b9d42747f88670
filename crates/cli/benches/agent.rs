//! Benchmark of the agent. Prints figures next to their goals; asserts nothing. Run with
//! `cargo bench -p nightshift --bench agent`.
//!
//! - Webhook intake: Alertmanager v4 batches of 100 alerts, every fingerprint distinct, over
//!   1,000 pods of 50 Deployments, posted by 4 concurrent senders over HTTP to the agent's
//!   receiver, recorded in SQLite; alerts per second.
//! - Webhook latency: 10-alert batches at a steady 1,000 alerts/s (sent on schedule, not after
//!   the previous answer), p50 and p99 of the request time; then the same on a fresh agent
//!   whose notification receiver accepts connections and never answers (intake must not wait
//!   on notifications).
//! - Alert to decision: with the rule analyzer and the engine's settle delay set to zero (it
//!   is 30s by default, to gather alerts that fire together), the time from posting one
//!   crash-loop alert to the decision entry on the live timeline, for 20 crashing Deployments
//!   one after the other.
//! - Resident memory (VmRSS) of the real `nightshift run` process: idle against a
//!   three-service cluster, and watching a `nightshift sim` process serving 5,000 pods on 100
//!   nodes.
//!
//! Webhook figures run the real `nightshift run` and `nightshift sim` processes; the decision
//! figure runs the agent as the lab does (`nightshift::lab`), with the simulated
//! cluster at speed 1 from now, so that its clock is the wall clock.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use nightshift::lab::{Lab, LabOptions};
use nightshift_agent::engine::EngineConfig;
use nightshift_core::TimelineKind;
use nightshift_core::policy::Policy;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_nightshift");

/// One line of the result table.
struct Row {
    figure: &'static str,
    value: String,
    goal: &'static str,
    met: Option<bool>,
}

fn row(figure: &'static str, value: String, goal: &'static str, met: Option<bool>) -> Row {
    Row {
        figure,
        value,
        goal,
        met,
    }
}

/// `deployments` Deployments of `replicas` pods in 10 namespaces on `nodes` nodes, with
/// `faults` (YAML list items indented by two spaces).
fn cluster_yaml(nodes: usize, deployments: usize, replicas: usize, faults: &str) -> String {
    let mut y = String::from("name: bench-agent\nhorizon: 6h\ncluster:\n  nodes:\n");
    for i in 0..nodes {
        let _ = writeln!(y, "    - {{name: node-{i:03}, cpu: \"64\", memory: 256Gi}}");
    }
    y.push_str("  workloads:\n");
    for d in 0..deployments {
        let _ = writeln!(
            y,
            "    - {{kind: Deployment, namespace: ns-{}, name: app-{d:02}, replicas: {replicas}, image: registry.local/app-{d:02}:1.0.0, resources: {{requests: {{cpu: 10m, memory: 32Mi}}, limits: {{cpu: 500m, memory: 256Mi}}}}, behavior: {{memory: 40Mi, cpu: 5m, rps: 5, startup: 2s}}}}",
            d % 10
        );
    }
    let faults = if faults.is_empty() {
        "  - {at: 5h, type: noop, target: ns-0/app-00}\n".to_string()
    } else {
        faults.to_string()
    };
    y.push_str(&format!(
        "faults:\n{faults}expect:\n  detect: false\n  diagnosis: [none]\n  locate: ns-0/app-00\n  actions: {{acceptable: [none]}}\n  resolved: true\n"
    ));
    y
}

fn scenario(yaml: &str) -> nightshift_scenario::Scenario {
    nightshift_scenario::parse_str(yaml, "bench-agent.yaml").expect("the bench scenario loads")
}

/// A lab at speed 1 (its clock the wall clock), observe mode, no simulated monitoring and no
/// detectors: only the alerts the benchmark posts.
async fn lab(yaml: &str, dir: &Path, engine: EngineConfig) -> Lab {
    let mut opts = LabOptions::new(dir.join("record.db"));
    opts.speed = 1.0;
    opts.start_ms = chrono::Utc::now().timestamp_millis();
    opts.monitoring = false;
    opts.watchers = false;
    opts.policy = Policy::default();
    opts.engine = engine;
    Lab::start(&scenario(yaml), opts)
        .await
        .expect("the lab starts")
}

/// Waits until the cluster runs `n` pods, then a moment for the agent's caches to see them.
async fn until_pods(lab: &Lab, n: usize) -> Vec<Arc<Pod>> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let pods: Vec<Arc<Pod>> = lab
            .sim
            .store()
            .list_typed::<Pod>(None)
            .into_iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .collect();
        if pods.len() >= n {
            tokio::time::sleep(Duration::from_secs(2)).await;
            return pods;
        }
        assert!(Instant::now() < deadline, "the cluster never ran {n} pods");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn fingerprint(alertname: &str, ns: &str, pod: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (alertname, ns, pod).hash(&mut h);
    format!("{:016x}", h.finish())
}

/// One Alertmanager v4 webhook body for `alertname` about `pods` (namespace, name).
fn webhook(alertname: &str, pods: &[(String, String)]) -> Vec<u8> {
    let now = chrono::Utc::now().to_rfc3339();
    let alerts: Vec<serde_json::Value> = pods
        .iter()
        .map(|(ns, pod)| {
            json!({
                "status": "firing",
                "labels": {"alertname": alertname, "namespace": ns, "pod": pod, "severity": "warning"},
                "annotations": {"summary": format!("{alertname} on {ns}/{pod}")},
                "startsAt": now,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.invalid/graph",
                "fingerprint": fingerprint(alertname, ns, pod),
            })
        })
        .collect();
    let ns = pods.first().map(|p| p.0.clone()).unwrap_or_default();
    serde_json::to_vec(&json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{alertname}\", namespace=\"{ns}\"}}"),
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "nightshift",
        "groupLabels": {"alertname": alertname, "namespace": ns},
        "commonLabels": {"alertname": alertname, "namespace": ns},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid",
        "alerts": alerts,
    }))
    .expect("a webhook body")
}

/// Batches of at most `size` alerts per (alertname, namespace), as Alertmanager groups them.
fn batches(alertnames: &[String], pods: &[Arc<Pod>], size: usize) -> Vec<Vec<u8>> {
    let mut by_ns: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for p in pods {
        let ns = p.metadata.namespace.clone().unwrap_or_default();
        let name = p.metadata.name.clone().unwrap_or_default();
        by_ns.entry(ns.clone()).or_default().push((ns, name));
    }
    let mut out = Vec::new();
    for a in alertnames {
        for list in by_ns.values() {
            for chunk in list.chunks(size) {
                out.push(webhook(a, chunk));
            }
        }
    }
    out
}

async fn post(http: &reqwest::Client, url: &str, body: Vec<u8>) -> usize {
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the receiver answers");
    assert!(
        r.status().is_success(),
        "the receiver refused a batch: {}",
        r.status()
    );
    let v: serde_json::Value = r.json().await.expect("a JSON answer");
    v["new"].as_u64().unwrap_or(0) as usize
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Request times at a steady 1,000 alerts/s: a 10-alert batch every 10 ms for 10 s, each sent
/// on time; (p99, p50, max).
async fn steady_latencies(
    http: &reqwest::Client,
    url: &str,
    pods: &[Arc<Pod>],
    prefix: &str,
) -> (Duration, Duration, Duration) {
    let names: Vec<String> = (0..10).map(|i| format!("{prefix}{i:02}")).collect();
    let bodies = batches(&names, pods, 10);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut requests = Vec::new();
    for body in bodies.into_iter().take(1000) {
        tick.tick().await;
        let (http, url) = (http.clone(), url.to_string());
        requests.push(tokio::spawn(async move {
            let t = Instant::now();
            post(&http, &url, body).await;
            t.elapsed()
        }));
    }
    let mut latencies = Vec::new();
    for r in requests {
        latencies.push(r.await.expect("a request"));
    }
    latencies.sort();
    (
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.5),
        *latencies.last().unwrap_or(&Duration::ZERO),
    )
}

/// Intake throughput and steady-rate latency, on one agent, then the steady-rate latency
/// again on an agent whose notification receiver hangs.
async fn webhook_figures(rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // The agent as it runs in production, its own process (`nightshift run`), against a
    // simulated cluster in another: the figures are the agent's, not shared with the
    // cluster's kubelet or with the senders. Incidents open during the intake; a settle
    // longer than the benchmark keeps their analyses out of the measurement.
    let bin = Path::new(BIN);
    let scenario = dir.path().join("bench.yaml");
    std::fs::write(&scenario, cluster_yaml(10, 50, 20, "")).expect("the scenario is written");
    let sim =
        tokio::task::block_in_place(|| common::start_sim(bin, dir.path(), &scenario, 1.0, None));
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();
    let pods = running_pods(&http, &sim.url, 1000).await;
    let port = common::free_port();
    let config = common::agent_config(
        dir.path(),
        port,
        &sim.kubeconfig,
        "settle: 600s\nwatchers: false\n",
    );
    let agent = tokio::task::block_in_place(|| {
        common::start_agent(bin, dir.path(), "agent", &config, port, &[])
    });
    let url = format!("http://127.0.0.1:{port}/api/v1/alerts/alertmanager");

    let names: Vec<String> = (0..40).map(|i| format!("BenchIntake{i:02}")).collect();
    let bodies = batches(&names, &pods, 100);
    let total = names.len() * pods.len();
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let started = Instant::now();
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (queue, http, url) = (queue.clone(), http.clone(), url.clone());
            tokio::spawn(async move {
                let mut new = 0;
                loop {
                    let Some(body) = queue.lock().expect("queue").pop() else {
                        return new;
                    };
                    new += post(&http, &url, body).await;
                }
            })
        })
        .collect();
    let mut new = 0;
    for s in senders {
        new += s.await.expect("a sender");
    }
    let elapsed = started.elapsed();
    assert_eq!(new, total, "every alert was new");
    let rate = total as f64 / elapsed.as_secs_f64();
    rows.push(row(
        "webhook intake (SQLite, HTTP, batches of 100)",
        format!(
            "{rate:.0} alerts/s ({total} alerts in {:.2}s)",
            elapsed.as_secs_f64()
        ),
        ">= 20,000 alerts/s",
        Some(rate >= 20_000.0),
    ));

    let (p99, p50, max) = steady_latencies(&http, &url, &pods, "BenchSteady").await;
    rows.push(row(
        "webhook p99 at 1,000 alerts/s (10-alert batches)",
        format!("{} (p50 {}, max {})", ms(p99), ms(p50), ms(max)),
        "< 25 ms",
        Some(p99 < Duration::from_millis(25)),
    ));
    drop(agent);

    // The same, on a fresh agent whose notification receiver accepts connections and never
    // answers: intake must not notice.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port for the receiver");
    let hook = format!("http://{}/hook", hang.local_addr().expect("an address"));
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = hang.accept().await {
            open.push(socket);
        }
    });
    let hung_dir = dir.path().join("hanging-receiver");
    std::fs::create_dir_all(&hung_dir).expect("a directory");
    let port = common::free_port();
    let config = common::agent_config(
        &hung_dir,
        port,
        &sim.kubeconfig,
        &format!("settle: 600s\nwatchers: false\nnotify_webhook: {hook}\n"),
    );
    let agent = tokio::task::block_in_place(|| {
        common::start_agent(bin, &hung_dir, "agent", &config, port, &[])
    });
    let url = format!("http://127.0.0.1:{port}/api/v1/alerts/alertmanager");
    let (p99, p50, max) = steady_latencies(&http, &url, &pods, "BenchHung").await;
    rows.push(row(
        "  same, notification receiver never answers",
        format!("{} (p50 {}, max {})", ms(p99), ms(p50), ms(max)),
        "< 25 ms",
        Some(p99 < Duration::from_millis(25)),
    ));
    held.abort();
    drop(agent);
    drop(sim);
}

/// The simulated cluster's running pods, once there are at least `n`.
async fn running_pods(http: &reqwest::Client, url: &str, n: usize) -> Vec<Arc<Pod>> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let list: Option<k8s_openapi::List<Pod>> = async {
            http.get(format!("{url}/api/v1/pods"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()
        }
        .await;
        let pods: Vec<Arc<Pod>> = list
            .map(|l| l.items)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .map(Arc::new)
            .collect();
        if pods.len() >= n {
            return pods;
        }
        assert!(Instant::now() < deadline, "the cluster never ran {n} pods");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Alert to decided plan, one crashing Deployment after the other.
async fn decision_figures(rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut faults = String::new();
    for d in 0..20 {
        let _ = writeln!(
            faults,
            "  - {{at: 5s, type: crash, target: ns-{}/app-{d:02}, params: {{after: 3s}}}}",
            d % 10
        );
    }
    let engine = EngineConfig {
        settle: Duration::ZERO,
        ..EngineConfig::default()
    };
    let lab = lab(&cluster_yaml(4, 20, 3, &faults), dir.path(), engine).await;
    let pods = until_pods(&lab, 1).await;
    drop(pods);
    // A minute of crash loops: restarts, back-off and logs for the rules to read.
    tokio::time::sleep(Duration::from_secs(45)).await;
    let url = format!("http://{}/api/v1/alerts/alertmanager", lab.agent.addr);
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();
    let mut live = lab.agent.engine.subscribe();
    let mut times = Vec::new();
    for d in 0..20 {
        let ns = format!("ns-{}", d % 10);
        let prefix = format!("app-{d:02}-");
        let Some(pod) = lab
            .sim
            .store()
            .list_typed::<Pod>(Some(&ns))
            .into_iter()
            .filter_map(|p| p.metadata.name.clone())
            .find(|n| n.starts_with(&prefix))
        else {
            continue;
        };
        let body = webhook("KubePodCrashLooping", &[(ns, pod)]);
        let t = Instant::now();
        let r: serde_json::Value = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the receiver answers")
            .json()
            .await
            .expect("a JSON answer");
        let Some(id) = r["opened"][0].as_str().map(str::to_string) else {
            continue;
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::time::timeout_at(deadline.into(), live.recv()).await {
                Ok(Ok(e)) if e.incident.0 == id && e.entry.kind == TimelineKind::Decision => {
                    times.push(t.elapsed());
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    times.sort();
    let median = percentile(&times, 0.5);
    // What the rules made of them, to show the decisions rest on real evidence.
    let mut categories: BTreeMap<String, usize> = BTreeMap::new();
    for i in lab
        .agent
        .engine
        .store()
        .list(&nightshift_store::IncidentFilter::default())
        .await
        .unwrap_or_default()
    {
        let c = i.incident.category.map(|c| c.to_string());
        *categories
            .entry(c.unwrap_or_else(|| "none".into()))
            .or_default() += 1;
    }
    let categories: Vec<String> = categories
        .iter()
        .map(|(c, n)| format!("{c} x{n}"))
        .collect();
    rows.push(row(
        "alert to decided plan, rule analyzer (settle 0)",
        format!(
            "median {} (p90 {}, {} incidents: {})",
            ms(median),
            ms(percentile(&times, 0.9)),
            times.len(),
            categories.join(", ")
        ),
        "median < 50 ms",
        Some(!times.is_empty() && median < Duration::from_millis(50)),
    ));
    lab.stop();
}

/// The agent process's largest and last VmRSS over `window`, sampled every 250 ms.
fn sample_rss(pid: u32, window: Duration) -> (f64, f64) {
    let end = Instant::now() + window;
    let mut max: f64 = 0.0;
    let mut last = 0.0;
    while Instant::now() < end {
        last = common::rss_mb(pid);
        max = max.max(last);
        std::thread::sleep(Duration::from_millis(250));
    }
    (max, last)
}

/// The real `nightshift run` against a `nightshift sim` process serving `scenario`, once the
/// cluster runs `pods` pods: its VmRSS over `window`.
fn agent_rss(scenario: &Path, pods: usize, window: Duration) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let bin = Path::new(BIN);
    let sim = common::start_sim(bin, dir.path(), scenario, 1.0, None);
    let pods_url = format!("{}/api/v1/pods", sim.url);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();
    common::wait_for("the cluster's pods", Duration::from_secs(300), || {
        let v: serde_json::Value =
            rt.block_on(async { http.get(&pods_url).send().await.ok()?.json().await.ok() })?;
        let running = v["items"]
            .as_array()?
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .count();
        (running >= pods).then_some(())
    });
    let port = common::free_port();
    let config = common::agent_config(dir.path(), port, &sim.kubeconfig, "watchers: true\n");
    let agent = common::start_agent(bin, dir.path(), "agent", &config, port, &[]);
    sample_rss(agent.pid(), window)
}

fn memory_figures(rows: &mut Vec<Row>) {
    let (max, last) = agent_rss(
        &common::scenario_path("noop-quiet-shop"),
        1,
        Duration::from_secs(15),
    );
    rows.push(row(
        "agent VmRSS idle (nightshift run, small cluster)",
        format!("{max:.1} MB (last {last:.1} MB)"),
        "30 MB",
        Some(max <= 30.0),
    ));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let big = dir.path().join("bench-5000-pods.yaml");
    std::fs::write(&big, cluster_yaml(100, 50, 100, "")).expect("the scenario is written");
    let (max, last) = agent_rss(&big, 5000, Duration::from_secs(30));
    rows.push(row(
        "agent VmRSS watching 5,000 pods on 100 nodes",
        format!("{max:.1} MB (last {last:.1} MB)"),
        "150 MB",
        Some(max <= 150.0),
    ));
}

fn main() {
    // `cargo test --all-targets` builds and runs benches too; only `cargo bench` passes
    // `--bench`, and only then is this worth minutes of a machine.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut rows = Vec::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        webhook_figures(&mut rows).await;
        decision_figures(&mut rows).await;
    });
    drop(rt);
    memory_figures(&mut rows);
    let w = rows.iter().map(|r| r.figure.len()).max().unwrap_or(0);
    let v = rows.iter().map(|r| r.value.len()).max().unwrap_or(0);
    println!();
    println!("{:w$}  {:v$}  {:20}  met", "figure", "value", "goal");
    for r in &rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!("{:w$}  {:v$}  {:20}  {met}", r.figure, r.value, r.goal);
    }
}
