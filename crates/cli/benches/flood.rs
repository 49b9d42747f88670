//! Load benchmark: a flood of alerts that each name a new resource, against the real
//! `nightshift run` process and a `nightshift sim` cluster (speed 1, so simulated time is wall
//! time), on loopback. Prints figures; asserts nothing. Run with
//! `cargo bench -p nightshift --bench flood [-- --seconds N --rate R]` (defaults: 60 s at
//! 1,500 alerts/s).
//!
//! Phase 1: the flood, in batches every 100 ms; ten seconds in, one real alert (a critical
//! `KubeNodeNotReady` for a node) is sent. Printed: alerts accepted per second, p99 webhook
//! latency, the backlog and open incidents at the end, the agent's largest VmRSS, and the time
//! from the real incident's settle window ending to its analysis.
//!
//! Phase 2: the same flood for a third of the time with as many idle connections held open as
//! this process may open (up to 20,000): the same figures, and whether `/healthz` answered.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_nightshift");
const SETTLE_SECS: u64 = 5;

fn junk(prefix: &str, batch: usize, n: usize) -> String {
    let now = chrono::Utc::now().to_rfc3339();
    let alerts: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "status": "firing",
                "labels": {"alertname": format!("Junk{}", i % 7), "namespace": "shop", "pod": format!("{prefix}-{batch}-{i}"), "severity": "info"},
                "annotations": {"summary": "noise"},
                "startsAt": now,
            })
        })
        .collect();
    json!({"version": "4", "status": "firing", "groupKey": format!("{{}}:{{b=\"{prefix}{batch}\"}}"), "alerts": alerts}).to_string()
}

fn real_alert(node: &str) -> String {
    json!({"version": "4", "status": "firing", "groupKey": format!("{{}}:{{node=\"{node}\"}}"), "alerts": [{
        "status": "firing",
        "labels": {"alertname": "KubeNodeNotReady", "node": node, "severity": "critical"},
        "annotations": {"summary": format!("{node} is not ready")},
        "startsAt": chrono::Utc::now().to_rfc3339(),
    }]})
    .to_string()
}

struct Figures {
    accepted: usize,
    seconds: f64,
    p99: Duration,
    errors: usize,
    max_rss: f64,
    backlog: String,
    incidents: usize,
    analysis_after_settle: Option<Duration>,
}

/// The metric lines of `/metrics` that start with `name`.
async fn metric(http: &reqwest::Client, base: &str, name: &str) -> String {
    let text = match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => return String::new(),
    };
    text.lines()
        .filter(|l| l.starts_with(name))
        .map(|l| l.trim_start_matches(name).to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn flood(
    http: &reqwest::Client,
    base: &str,
    pid: u32,
    prefix: &str,
    seconds: f64,
    rate: f64,
    real_node: &str,
) -> Figures {
    let url = format!("{base}/api/v1/alerts/alertmanager");
    let per_batch = ((rate / 10.0).round() as usize).max(1);
    let batches = (seconds * 10.0) as usize;
    let started = Instant::now();
    let stop_rss = Arc::new(AtomicBool::new(false));
    let rss = {
        let stop = stop_rss.clone();
        tokio::task::spawn_blocking(move || {
            let mut max: f64 = 0.0;
            while !stop.load(Ordering::Relaxed) {
                max = max.max(common::rss_mb(pid));
                std::thread::sleep(Duration::from_millis(250));
            }
            max
        })
    };
    let mut sends = Vec::with_capacity(batches);
    let mut real_sent: Option<Instant> = None;
    for b in 0..batches {
        let due = started + Duration::from_millis(100 * b as u64);
        tokio::time::sleep_until(due.into()).await;
        if real_sent.is_none() && due.duration_since(started) >= Duration::from_secs(10) {
            let r = http.post(&url).body(real_alert(real_node)).send().await;
            if r.is_ok_and(|r| r.status().is_success()) {
                real_sent = Some(Instant::now());
            }
        }
        let (http, url, body) = (http.clone(), url.clone(), junk(prefix, b, per_batch));
        sends.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = http.post(&url).body(body).send().await;
            let ok = r.is_ok_and(|r| r.status().is_success());
            (t.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(sends.len());
    let mut errors = 0;
    for s in sends {
        let (d, ok) = s.await.unwrap_or((Duration::MAX, false));
        if ok {
            latencies.push(d);
        } else {
            errors += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    let p99 = latencies
        .get((latencies.len() as f64 * 0.99) as usize)
        .or(latencies.last())
        .copied()
        .unwrap_or_default();
    // The real incident: analysed when its record has an analysis.
    let mut analysis_after_settle = None;
    if let Some(sent) = real_sent {
        let deadline = Instant::now() + Duration::from_secs(120);
        'wait: while Instant::now() < deadline {
            let list: Vec<Value> = match http
                .get(format!("{base}/api/v1/incidents?limit=10000"))
                .send()
                .await
            {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => vec![],
            };
            for i in &list {
                if i["resource"]["name"] == real_node {
                    let id = i["id"].as_str().unwrap_or_default();
                    let shown: Value = match http
                        .get(format!("{base}/api/v1/incidents/{id}"))
                        .send()
                        .await
                    {
                        Ok(r) => r.json().await.unwrap_or_default(),
                        Err(_) => Value::Null,
                    };
                    if shown["analyses"].as_array().is_some_and(|a| !a.is_empty()) {
                        let opened = i["opened_at"].as_str().unwrap_or_default().to_string();
                        println!("  the real incident {id} (opened {opened}):");
                        for e in shown["timeline"].as_array().into_iter().flatten().take(8) {
                            println!(
                                "    {} {}",
                                e["at"].as_str().unwrap_or_default(),
                                e["message"].as_str().unwrap_or_default()
                            );
                        }
                        // Measured on the record: from the end of the settle window to the
                        // diagnosis entry.
                        let at = |v: &Value| {
                            v.as_str()
                                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        };
                        let diagnosed = shown["timeline"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|e| {
                                e["message"]
                                    .as_str()
                                    .is_some_and(|m| m.starts_with("diagnosis"))
                            })
                            .and_then(|e| at(&e["at"]));
                        if let (Some(opened), Some(diagnosed)) = (at(&i["opened_at"]), diagnosed) {
                            let took = (diagnosed - opened).to_std().unwrap_or_default();
                            analysis_after_settle =
                                Some(took.saturating_sub(Duration::from_secs(SETTLE_SECS)));
                        }
                        let _ = sent;
                        break 'wait;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    stop_rss.store(true, Ordering::Relaxed);
    let max_rss = rss.await.unwrap_or(0.0);
    let incidents = http
        .get(format!("{base}/api/v1/incidents?limit=10000"))
        .send()
        .await
        .ok();
    let incidents = match incidents {
        Some(r) => r.json::<Vec<Value>>().await.map(|v| v.len()).unwrap_or(0),
        None => 0,
    };
    Figures {
        accepted: latencies.len() * per_batch,
        seconds,
        p99,
        errors,
        max_rss,
        backlog: metric(http, base, "nightshift_backlog").await,
        incidents,
        analysis_after_settle,
    }
}

/// A process that opens `n` connections to the agent and holds them, sending nothing.
/// Python, because it is on every machine the project supports and a few lines do it.
fn hold_connections(port: u16, n: usize) -> std::process::Child {
    let script = format!(
        "import socket, time\nheld = []\nfor _ in range({n}):\n    try:\n        s = socket.create_connection(('127.0.0.1', {port}))\n        held.append(s)\n    except OSError:\n        time.sleep(0.01)\ntime.sleep(3600)\n"
    );
    std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 holds the idle connections")
}

fn print(title: &str, f: &Figures) {
    println!("{title}");
    println!(
        "  intake            {:.0} alerts/s accepted ({} in {:.1}s, {} batches failed)",
        f.accepted as f64 / f.seconds,
        f.accepted,
        f.seconds,
        f.errors
    );
    println!("  webhook p99       {:.1} ms", f.p99.as_secs_f64() * 1000.0);
    println!(
        "  incidents         {} in the record (storms fold the rest)",
        f.incidents
    );
    println!("  backlog           {}", f.backlog.trim());
    println!("  agent VmRSS max   {:.1} MB", f.max_rss);
    match f.analysis_after_settle {
        Some(d) => println!(
            "  real incident     analysed {:.2}s after its {SETTLE_SECS}s settle window (goal < 5s)",
            d.as_secs_f64()
        ),
        None => println!("  real incident     NOT analysed within 120s"),
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let seconds = common::bench_arg("--seconds", 60.0);
    let rate = common::bench_arg("--rate", 1500.0);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let bin = Path::new(BIN);
    let sim = common::start_sim(
        bin,
        dir.path(),
        &common::scenario_path("noop-quiet-shop"),
        1.0,
        None,
    );
    let port = common::free_port();
    let config = common::agent_config(
        dir.path(),
        port,
        &sim.kubeconfig,
        &format!("settle: {SETTLE_SECS}s\nwatchers: false\n"),
    );
    let agent = common::start_agent(bin, dir.path(), "agent", &config, port, &[]);
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let http = nightshift_net::client(&Default::default())
            .unwrap()
            .build()
            .unwrap();
        println!(
            "flood of {rate:.0} new-incident alerts/s for {seconds:.0}s (settle {SETTLE_SECS}s)"
        );
        let f = flood(&http, &base, agent.pid(), "a", seconds, rate, "node-a").await;
        print("phase 1: the flood", &f);

        // Phase 2: 20,000 idle connections, opened by two helper processes (one process may
        // not hold that many descriptors), held open beside the flood.
        let holders: Vec<std::process::Child> =
            (0..2).map(|_| hold_connections(port, 10_000)).collect();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let held = 20_000;
        let f = flood(
            &http,
            &base,
            agent.pid(),
            "b",
            (seconds / 3.0).max(15.0),
            rate,
            "node-b",
        )
        .await;
        let healthz = tokio::task::block_in_place(|| common::http_ok(port, "/healthz"));
        print(
            &format!("phase 2: the same with {held} idle connections opened"),
            &f,
        );
        println!(
            "  /healthz          {}; connections {}",
            if healthz {
                "answered"
            } else {
                "DID NOT ANSWER"
            },
            metric(&http, &base, "nightshift_http_connections")
                .await
                .trim()
        );
        for mut h in holders {
            let _ = h.kill();
            let _ = h.wait();
        }
    });
    drop(agent);
    drop(sim);
}
