//! Benchmark of the simulated cluster at 5,000 pods on 100 nodes. Prints figures; asserts
//! nothing. Run with `cargo bench -p nightshift-sim --bench cluster`.
//!
//! Figures: simulated seconds per real second while stepping, list-all-pods latency over HTTP,
//! watch event fan-out to 20 watchers, and resident memory.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use nightshift_sim::Simulation;
use nightshift_sim::server::{ServeOptions, start};

fn scenario_yaml(nodes: usize, deployments: usize, replicas: usize) -> String {
    let mut y = String::from("name: bench-5000-pods\nhorizon: 2h\ncluster:\n  nodes:\n");
    for i in 0..nodes {
        let _ = writeln!(y, "    - {{name: node-{i:03}, cpu: \"32\", memory: 128Gi}}");
    }
    y.push_str("  workloads:\n");
    for d in 0..deployments {
        let _ = writeln!(
            y,
            "    - {{kind: Deployment, namespace: ns-{}, name: app-{d:02}, replicas: {replicas}, image: registry.local/app-{d:02}:1.0.0, resources: {{requests: {{cpu: 50m, memory: 64Mi}}, limits: {{cpu: 500m, memory: 256Mi}}}}}}",
            d % 10
        );
    }
    y.push_str(
        "faults:\n  - {at: 1h, type: noop, target: ns-0/app-00}\nexpect:\n  detect: false\n",
    );
    y
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    // `cargo test --all-targets` builds and runs benches too; only `cargo bench` passes
    // `--bench`, and only then is this worth minutes of a machine.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let scenario = nightshift_scenario::parse_str(&scenario_yaml(100, 50, 100), "bench.yaml")
            .expect("bench scenario loads");
        let sim = Simulation::new(&scenario, 1_767_225_600_000);
        let t = Instant::now();
        let mut steps = 0;
        while steps < 120 {
            sim.step();
            steps += 1;
        }
        let warmup = t.elapsed();
        let pods = sim
            .store()
            .list_typed::<k8s_openapi::api::core::v1::Pod>(None)
            .len();
        let t = Instant::now();
        for _ in 0..60 {
            sim.step();
        }
        let steady = t.elapsed();
        let mut parts: std::collections::BTreeMap<&str, f64> = Default::default();
        for _ in 0..10 {
            for (name, d) in sim.step_profiled() {
                *parts.entry(name).or_default() += d.as_secs_f64() * 100.0;
            }
        }
        let breakdown: Vec<String> = parts.iter().map(|(k, v)| format!("{k} {v:.1}ms")).collect();
        println!("per simulated second: {}", breakdown.join(", "));
        println!("pods: {pods} on 100 nodes");
        println!("resident memory after start-up: {:.0} MB", rss_mb());
        println!(
            "start-up: 120 simulated s in {:.2} s real ({:.1} sim-s/s)",
            warmup.as_secs_f64(),
            120.0 / warmup.as_secs_f64()
        );
        println!(
            "steady state: 60 simulated s in {:.2} s real ({:.1} sim-s/s; --speed 60 {})",
            steady.as_secs_f64(),
            60.0 / steady.as_secs_f64(),
            if 60.0 / steady.as_secs_f64() >= 60.0 {
                "keeps up"
            } else {
                "falls behind"
            }
        );

        let opts = ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            speed: 1.0,
            alert_webhook: None,
            kubeconfig_out: None,
            stop_at_horizon: false,
            field_validation: Default::default(),
        };
        let running = start(sim.clone(), &opts).await.expect("server starts");
        let url = format!("http://{}/api/v1/pods", running.addr);
        let client = nightshift_net::client(&Default::default())
            .unwrap()
            .build()
            .unwrap();
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..20 {
            let t = Instant::now();
            let body = client
                .get(&url)
                .send()
                .await
                .expect("list")
                .bytes()
                .await
                .expect("body");
            times.push(t.elapsed());
            bytes = body.len();
        }
        times.sort();
        println!(
            "list all pods over HTTP: median {:.1} ms, p90 {:.1} ms ({:.1} MB body)",
            times[10].as_secs_f64() * 1000.0,
            times[18].as_secs_f64() * 1000.0,
            bytes as f64 / 1e6
        );

        // Watch fan-out: 20 watchers on all pods while the cluster runs at full speed.
        let rv = sim.store().resource_version();
        let mut handles = Vec::new();
        for _ in 0..20 {
            let client = client.clone();
            let url = format!(
                "http://{}/api/v1/pods?watch=true&resourceVersion={rv}",
                running.addr
            );
            handles.push(tokio::spawn(async move {
                let mut resp = client.get(&url).send().await.expect("watch");
                let mut events = 0usize;
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    match tokio::time::timeout(Duration::from_millis(500), resp.chunk()).await {
                        Ok(Ok(Some(c))) => events += c.iter().filter(|b| **b == b'\n').count(),
                        Ok(_) => break,
                        Err(_) => {}
                    }
                }
                events
            }));
        }
        let t = Instant::now();
        let s = sim.clone();
        tokio::task::spawn_blocking(move || {
            // A rollout of every deployment: thousands of pod changes.
            for d in s
                .store()
                .list_typed::<k8s_openapi::api::apps::v1::Deployment>(None)
            {
                let mut v = serde_json::to_value(&*d).unwrap();
                v["spec"]["template"]["metadata"]["annotations"] =
                    serde_json::json!({"kubectl.kubernetes.io/restartedAt": "bench"});
                v["metadata"]["resourceVersion"] = serde_json::json!("");
                let ns = d.metadata.namespace.clone().unwrap();
                let name = d.metadata.name.clone().unwrap();
                let _ = s.store().update(
                    nightshift_sim::resources::of::<k8s_openapi::api::apps::v1::Deployment>(),
                    &ns,
                    &name,
                    v,
                    nightshift_sim::store::Part::Main,
                    false,
                );
            }
            for _ in 0..30 {
                s.step();
            }
        })
        .await
        .unwrap();
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap_or(0);
        }
        let secs = t.elapsed().as_secs_f64().max(5.0);
        println!(
            "watch fan-out: {total} events to 20 watchers in {secs:.1} s ({:.0} events/s)",
            total as f64 / secs
        );
        let (kinds, log) = sim.store().stats();
        println!("objects: {kinds:?}; watch log: {log} changes");
        println!("resident memory: {:.0} MB", rss_mb());
        running.server.abort();
        running.clock.abort();
    });
}
