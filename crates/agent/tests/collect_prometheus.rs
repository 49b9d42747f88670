//! PromQL ranges in the evidence, against a real Prometheus 2.42 scraping the simulated
//! cluster's `/metrics` (the cluster runs at speed 1 from now, so its samples carry wall-clock
//! timestamps as on a real cluster), and against a Prometheus that is down or never answers.
//!
//! Needs `prometheus` on the PATH (`scripts/test` installs the Debian package). Without it the
//! real-Prometheus test prints a note and passes, unless `CI` is set.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use nightshift_agent::collect::Collector;
use nightshift_agent::prometheus::{Prometheus, PrometheusConfig};
use nightshift_core::{EvidenceData, EvidenceKind, ResourceRef};
use nightshift_sim::Simulation;
use nightshift_sim::server::{Running, ServeOptions, start};

/// checkout crashes from 5 s in (restarts); storefront serves with 30% 5xx answers.
const SCENARIO: &str = r#"
name: collect-prometheus
horizon: 1h
cluster:
  workloads:
    - kind: Deployment
      namespace: shop
      name: checkout
      replicas: 2
      image: registry.local/shop/checkout:2.3.1
      resources:
        requests: {cpu: 100m, memory: 128Mi}
        limits: {cpu: 500m, memory: 256Mi}
      behavior: {memory: 120Mi, cpu: 80m, rps: 20, startup: 1s}
    - kind: Deployment
      namespace: shop
      name: storefront
      replicas: 2
      image: registry.local/shop/storefront:5.2.0
      resources:
        requests: {cpu: 100m, memory: 128Mi}
        limits: {cpu: 500m, memory: 256Mi}
      behavior: {memory: 150Mi, cpu: 90m, rps: 60, error_ratio: 0.3, startup: 1s}
faults:
  - {at: 5s, type: crash, target: shop/checkout, params: {after: 3s}}
expect:
  detect: true
  diagnosis: [app/crash]
  locate: shop/checkout
  actions: {acceptable: [escalate]}
  resolved: false
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `prometheus` on the PATH; without it, `None` unless CI is set, where it must be there.
fn prometheus_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("prometheus"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "prometheus is not on the PATH; CI must run this test (scripts/test installs it)"
        );
        println!("note: prometheus is not on the PATH; skipping the real Prometheus test");
    }
    found
}

/// A Prometheus process, killed on drop (its log printed if the test failed).
struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("prometheus.log"));
            eprintln!("--- prometheus log ---\n{}", log.unwrap_or_default());
        }
    }
}

/// Prometheus scraping `target` every second, listening on `port`.
fn start_prometheus(binary: &PathBuf, target: &str, port: u16) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: nightshift-sim\n    honor_labels: true\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let child = Command::new(binary)
        .args([
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("prometheus starts");
    Daemon { child, dir }
}

async fn serve_sim() -> (std::sync::Arc<Simulation>, Running, kube::Client) {
    let scenario = nightshift_scenario::parse_str(SCENARIO, "collect-prometheus.yaml").unwrap();
    let sim = Simulation::new(&scenario, Utc::now().timestamp_millis());
    let running = start(
        sim.clone(),
        &ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            speed: 1.0,
            alert_webhook: None,
            kubeconfig_out: None,
            stop_at_horizon: false,
            field_validation: Default::default(),
        },
    )
    .await
    .unwrap();
    let config = kube::Config::new(format!("http://{}", running.addr).parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    (sim, running, client)
}

fn config(url: String) -> PrometheusConfig {
    PrometheusConfig {
        window: Duration::from_secs(120),
        step: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
        ..PrometheusConfig::new(url)
    }
}

/// The metric items of a range (not the instant metrics.k8s.io ones), by name.
fn ranges(items: &[(String, EvidenceData)]) -> Vec<(&str, f64, f64, Option<f64>)> {
    items
        .iter()
        .filter_map(|(_, d)| match d {
            EvidenceData::Metric {
                name,
                max,
                current,
                limit,
                window_seconds: 120,
                ..
            } => Some((name.as_str(), *current, *max, *limit)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_from_a_real_prometheus_join_the_evidence() {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    let (_sim, running, client) = serve_sim().await;
    let port = free_port();
    let _prometheus = start_prometheus(&binary, &running.addr.to_string(), port);
    let prom = Prometheus::new(config(format!("http://127.0.0.1:{port}")));
    let checkout = ResourceRef::deployment("shop", "checkout");
    let storefront = ResourceRef::deployment("shop", "storefront");

    // Until checkout has restarted and storefront's error ratio is in: a few scrapes.
    let deadline = Instant::now() + Duration::from_secs(120);
    let storefront_items = loop {
        let now = Utc::now();
        let c: Vec<(String, EvidenceData)> = prom
            .workload_ranges(&checkout, now)
            .await
            .into_iter()
            .map(|(_, s, d)| (s, d))
            .collect();
        let s: Vec<(String, EvidenceData)> = prom
            .workload_ranges(&storefront, now)
            .await
            .into_iter()
            .map(|(_, s, d)| (s, d))
            .collect();
        let restarted = ranges(&c)
            .iter()
            .any(|(n, _, max, _)| *n == "container_restarts_per_5m" && *max > 0.0);
        let errors = ranges(&s)
            .iter()
            .any(|(n, _, _, _)| *n == "http_5xx_error_ratio");
        // Past the start-up ramp: the working set near its 150Mi, the cpu rate over samples.
        let warm = ranges(&s).iter().any(|(n, _, max, _)| {
            *n == "container_memory_working_set_bytes" && *max > 100.0 * 1024.0 * 1024.0
        }) && ranges(&s)
            .iter()
            .any(|(n, current, ..)| *n == "container_cpu_usage_millicores" && *current > 10.0);
        if restarted && errors && warm {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no restarts or error ratio from Prometheus yet: {c:?} {s:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };

    let s = ranges(&storefront_items);
    let memory = s
        .iter()
        .find(|(n, ..)| *n == "container_memory_working_set_bytes")
        .expect("storefront's memory range");
    assert_eq!(
        memory.3,
        Some(256.0 * 1024.0 * 1024.0),
        "the limit from cAdvisor"
    );
    let cpu = s
        .iter()
        .find(|(n, ..)| *n == "container_cpu_usage_millicores")
        .expect("storefront's cpu range");
    assert_eq!(cpu.3, Some(500.0), "the cpu limit in millicores");
    let ratio = s
        .iter()
        .find(|(n, ..)| *n == "http_5xx_error_ratio")
        .unwrap();
    assert!((0.15..0.45).contains(&ratio.1), "about 30% 5xx: {ratio:?}");
    assert!(
        !s.iter()
            .any(|(n, _, max, _)| *n == "container_restarts_per_5m" && *max > 0.0),
        "storefront did not restart: {s:?}"
    );
    assert!(
        storefront_items
            .iter()
            .all(|(summary, _)| summary.starts_with("shop/storefront")),
        "storefront's items are storefront's: {storefront_items:?}"
    );

    // Through the collector: the same ranges are items of the bundle, about the workload.
    let collector = Collector::new(client, Default::default()).with_prometheus(Some(
        Prometheus::new(config(format!("http://127.0.0.1:{port}"))),
    ));
    let evidence = collector.collect(&checkout, &[], Utc::now()).await.unwrap();
    let windowed: Vec<_> = evidence
        .of_kind(EvidenceKind::Metric)
        .filter(|i| {
            matches!(
                i.data,
                EvidenceData::Metric {
                    window_seconds: 120,
                    ..
                }
            )
        })
        .collect();
    assert!(windowed.len() >= 3, "{windowed:?}");
    assert!(windowed.iter().all(|i| i.resource == checkout));
    running.server.abort();
    running.clock.abort();
}

/// A Prometheus that refuses connections, and one that accepts them and never answers: the
/// collection still succeeds, with the cluster's evidence and no ranges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_that_is_down_or_silent_does_not_fail_the_collection() {
    let (_sim, running, client) = serve_sim().await;
    let checkout = ResourceRef::deployment("shop", "checkout");
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    // Accepts and holds connections without a word.
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    for url in [
        format!("http://127.0.0.1:{}", free_port()),
        format!("http://{silent_addr}"),
    ] {
        let mut cfg = config(url.clone());
        cfg.timeout = Duration::from_millis(500);
        let collector = Collector::new(client.clone(), Default::default())
            .with_prometheus(Some(Prometheus::new(cfg)));
        let evidence = collector
            .collect(&checkout, &[], Utc::now())
            .await
            .unwrap_or_else(|e| panic!("collection with Prometheus at {url} failed: {e}"));
        assert!(
            evidence
                .of_kind(EvidenceKind::Object)
                .any(|i| i.resource == checkout),
            "the cluster's evidence is there"
        );
        assert!(
            !evidence.items.iter().any(|i| matches!(
                i.data,
                EvidenceData::Metric {
                    window_seconds: 120,
                    ..
                }
            )),
            "no ranges from {url}"
        );
    }
    hold.abort();
    running.server.abort();
    running.clock.abort();
}
