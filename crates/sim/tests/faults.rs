//! Every fault type, run in simulated time, shows the symptoms a real cluster shows: pod
//! reasons, events, log lines and metric values.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use nightshift_sim::Simulation;
use nightshift_sim::telemetry::Telemetry;

const START_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn scenario(yaml: &str) -> nightshift_scenario::Scenario {
    nightshift_scenario::load::parse_str(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn run(yaml: &str, seconds: u32) -> Arc<Simulation> {
    let sim = Simulation::new(&scenario(yaml), START_MS);
    for _ in 0..seconds {
        sim.step();
    }
    sim
}

fn pods(sim: &Simulation, ns: &str) -> Vec<Arc<Pod>> {
    sim.store().list_typed::<Pod>(Some(ns))
}

fn waiting_reasons(sim: &Simulation, ns: &str) -> Vec<String> {
    pods(sim, ns)
        .iter()
        .flat_map(|p| {
            p.status
                .clone()
                .unwrap_or_default()
                .container_statuses
                .unwrap_or_default()
        })
        .filter_map(|c| c.state.and_then(|s| s.waiting).and_then(|w| w.reason))
        .collect()
}

fn events(sim: &Simulation, reason: &str) -> Vec<Arc<Event>> {
    sim.store()
        .list_typed::<Event>(None)
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

fn metric(sim: &Simulation, name: &str, label: (&str, &str)) -> Vec<f64> {
    sim.samples()
        .into_iter()
        .filter(|s| s.name == name && s.labels.get(label.0).map(String::as_str) == Some(label.1))
        .map(|s| s.value)
        .collect()
}

fn ready_pods(sim: &Simulation, ns: &str) -> usize {
    pods(sim, ns)
        .iter()
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count()
}

const BASE: &str = r#"
name: t
horizon: 30m
cluster:
  nodes:
    - {name: node-a, cpu: "4", memory: 8Gi}
    - {name: node-b, cpu: "4", memory: 8Gi}
  configs: [secret/shop/checkout-db]
  workloads:
    - kind: Deployment
      namespace: shop
      name: checkout
      replicas: 3
      image: registry.local/shop/checkout:2.3.1
      resources:
        requests: {cpu: 100m, memory: 128Mi}
        limits: {cpu: 500m, memory: 256Mi}
      env_from: [secret/checkout-db]
      depends_on: [shop/postgres]
      behavior: {memory: 120Mi, cpu: 80m, rps: 60}
      logs:
        every: 2s
        lines: ["INFO GET /api/cart status=200 duration_ms={int:5..60}"]
    - kind: StatefulSet
      namespace: shop
      name: postgres
      replicas: 1
      image: registry.local/postgres:16.2
      resources:
        requests: {cpu: 200m, memory: 256Mi}
        limits: {cpu: "1", memory: 1Gi}
"#;

fn with_fault(fault: &str, expect: &str) -> String {
    format!("{BASE}faults:\n{fault}\nexpect:\n{expect}\n")
}

const EXPECT: &str = "  detect: true\n  diagnosis: [app/crash]\n  locate: shop/checkout\n  actions: {acceptable: [escalate], harmful: [rollback]}\n  resolved: false";

#[test]
fn steady_state_is_healthy() {
    let sim = run(
        &with_fault("  - {at: 5m, type: noop, target: shop/checkout}", EXPECT),
        120,
    );
    assert_eq!(ready_pods(&sim, "shop"), 4, "3 checkout + 1 postgres ready");
    let d = sim
        .store()
        .get_typed::<Deployment>("shop", "checkout")
        .expect("deployment");
    let st = d.status.clone().expect("status");
    assert_eq!(st.available_replicas, Some(3));
    assert_eq!(
        d.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("deployment.kubernetes.io/revision"))
            .map(String::as_str),
        Some("1")
    );
    assert!(!events(&sim, "Scheduled").is_empty());
    assert!(!events(&sim, "Started").is_empty());
    let pod = pods(&sim, "shop")
        .into_iter()
        .find(|p| {
            p.metadata
                .name
                .as_deref()
                .unwrap_or("")
                .starts_with("checkout-")
        })
        .expect("pod");
    let logs = sim
        .logs("shop", pod.metadata.name.as_deref().unwrap(), None, false)
        .expect("logs");
    assert!(
        logs.iter()
            .any(|l| l.text.starts_with("INFO GET /api/cart status=200")),
        "{logs:?}"
    );
    assert!(
        metric(&sim, "http_requests_total", ("service", "checkout"))
            .iter()
            .sum::<f64>()
            > 1000.0
    );
    assert_eq!(
        metric(
            &sim,
            "kube_deployment_status_replicas_available",
            ("deployment", "checkout")
        ),
        vec![3.0]
    );
}

#[test]
fn same_seed_same_run() {
    let yaml = with_fault("  - {at: 1m, type: crash, target: shop/checkout}", EXPECT);
    let a = run(&yaml, 150);
    let b = run(&yaml, 150);
    let dump = |s: &Simulation| {
        let mut names: Vec<String> = pods(s, "shop")
            .iter()
            .map(|p| serde_json::to_string(&**p).unwrap())
            .collect();
        names.sort();
        (names, nightshift_sim::metrics::render(&s.samples()))
    };
    let (da, db) = (dump(&a), dump(&b));
    for (x, y) in da.0.iter().zip(db.0.iter()) {
        assert_eq!(x, y, "pods differ between two runs of the same seed");
    }
    let first_diff = da.1.lines().zip(db.1.lines()).find(|(x, y)| x != y);
    assert!(first_diff.is_none(), "metrics differ: {first_diff:?}");
}

#[test]
fn crash_loops_with_back_off() {
    let sim = run(
        &with_fault(
            "  - {at: 1m, type: crash, target: shop/checkout, params: {exit_code: 2}}",
            EXPECT,
        ),
        240,
    );
    assert!(
        waiting_reasons(&sim, "shop")
            .iter()
            .any(|r| r == "CrashLoopBackOff"),
        "{:?}",
        waiting_reasons(&sim, "shop")
    );
    let p = pods(&sim, "shop")
        .into_iter()
        .find(|p| {
            p.metadata
                .name
                .as_deref()
                .unwrap_or("")
                .starts_with("checkout-")
        })
        .unwrap();
    let cs = &p
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    assert!(cs.restart_count >= 3, "restarts {}", cs.restart_count);
    let last = cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(last.exit_code, 2);
    assert_eq!(last.reason.as_deref(), Some("Error"));
    let backoff = events(&sim, "BackOff");
    assert!(backoff.iter().any(|e| {
        e.message
            .as_deref()
            .unwrap_or("")
            .starts_with("Back-off restarting failed container checkout")
    }));
    assert!(
        backoff.iter().any(|e| e.count.unwrap_or(0) > 1),
        "aggregated BackOff events"
    );
    let prev = sim
        .logs("shop", p.metadata.name.as_deref().unwrap(), None, true)
        .expect("previous logs");
    assert!(
        prev.iter()
            .any(|l| l.text.starts_with("panic: runtime error")),
        "{prev:?}"
    );
    assert!(
        !metric(
            &sim,
            "kube_pod_container_status_waiting_reason",
            ("reason", "CrashLoopBackOff")
        )
        .is_empty()
    );
}

#[test]
fn bad_rollout_creates_a_failing_revision_and_rollback_heals() {
    let sim = run(
        &with_fault(
            "  - {at: 1m, type: bad-rollout, target: shop/checkout, params: {image: registry.local/shop/checkout:2.4.0}}",
            EXPECT,
        ),
        200,
    );
    let rs = sim.store().list_typed::<ReplicaSet>(Some("shop"));
    let revs: Vec<&str> = rs
        .iter()
        .filter_map(|r| {
            r.metadata
                .annotations
                .as_ref()?
                .get("deployment.kubernetes.io/revision")
                .map(String::as_str)
        })
        .collect();
    assert!(revs.contains(&"1") && revs.contains(&"2"), "{revs:?}");
    assert!(
        waiting_reasons(&sim, "shop")
            .iter()
            .any(|r| r == "CrashLoopBackOff")
    );
    // The old revision keeps serving: maxUnavailable 25% of 3 rounds down to 0.
    assert!(ready_pods(&sim, "shop") >= 3);
    assert!(!events(&sim, "ScalingReplicaSet").is_empty());
}

#[test]
fn image_pull_errors_back_off() {
    let sim = run(
        &with_fault(
            "  - {at: 1m, type: image-pull, target: shop/checkout, params: {image: registry.local/shop/checkout:9.9.9}}",
            EXPECT,
        ),
        150,
    );
    let reasons = waiting_reasons(&sim, "shop");
    assert!(
        reasons
            .iter()
            .any(|r| r == "ImagePullBackOff" || r == "ErrImagePull"),
        "{reasons:?}"
    );
    assert!(
        events(&sim, "Failed").iter().any(|e| e
            .message
            .as_deref()
            .unwrap_or("")
            .contains("not found"))
    );
}

#[test]
fn missing_config_blocks_container_creation() {
    let sim = run(
        &with_fault(
            "  - {at: 1m, type: missing-config, target: shop/checkout, params: {ref: secret/checkout-tls}}",
            EXPECT,
        ),
        120,
    );
    assert!(
        waiting_reasons(&sim, "shop")
            .iter()
            .any(|r| r == "CreateContainerConfigError")
    );
    assert!(
        events(&sim, "Failed")
            .iter()
            .any(|e| e.message.as_deref() == Some("Error: secret \"checkout-tls\" not found"))
    );
}

#[test]
fn memory_limit_oom_kills_with_137() {
    let sim = run(
        &with_fault(
            "  - {at: 1m, type: memory-limit, target: shop/checkout, params: {memory: 300Mi}}",
            EXPECT,
        ),
        200,
    );
    let p = pods(&sim, "shop")
        .into_iter()
        .find(|p| {
            p.metadata
                .name
                .as_deref()
                .unwrap_or("")
                .starts_with("checkout-")
        })
        .unwrap();
    let cs = &p
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    let last = cs
        .last_state
        .as_ref()
        .unwrap()
        .terminated
        .as_ref()
        .expect("terminated before");
    assert_eq!(last.exit_code, 137);
    assert_eq!(last.reason.as_deref(), Some("OOMKilled"));
    assert!(!events(&sim, "OOMKilling").is_empty());
    assert!(
        !metric(
            &sim,
            "kube_pod_container_status_last_terminated_reason",
            ("reason", "OOMKilled")
        )
        .is_empty()
    );
}

#[test]
fn memory_leak_grows_until_oom() {
    let sim = run(
        &with_fault(
            "  - {at: 1m, type: memory-leak, target: shop/checkout, params: {rate: 40Mi/min}}",
            EXPECT,
        ),
        60 + 120,
    );
    let ws = metric(
        &sim,
        "container_memory_working_set_bytes",
        ("container", "checkout"),
    );
    assert!(ws.iter().all(|w| *w > 150.0 * 1024.0 * 1024.0), "{ws:?}");
    let sim2 = run(
        &with_fault(
            "  - {at: 1m, type: memory-leak, target: shop/checkout, params: {rate: 40Mi/min}}",
            EXPECT,
        ),
        60 + 360,
    );
    assert!(
        !metric(
            &sim2,
            "kube_pod_container_status_last_terminated_reason",
            ("reason", "OOMKilled")
        )
        .is_empty()
    );
}

#[test]
fn hang_fails_readiness_without_exit() {
    let sim = run(
        &with_fault("  - {at: 1m, type: hang, target: shop/checkout}", EXPECT),
        150,
    );
    assert_eq!(
        ready_pods(&sim, "shop"),
        3,
        "one checkout replica not ready"
    );
    assert!(events(&sim, "Unhealthy").iter().any(|e| {
        e.message
            .as_deref()
            .unwrap_or("")
            .starts_with("Readiness probe failed")
    }));
    let restarts = metric(
        &sim,
        "kube_pod_container_status_restarts_total",
        ("container", "checkout"),
    );
    assert!(restarts.iter().all(|r| *r == 0.0));
}

#[test]
fn traffic_surge_saturates_cpu_and_sheds_load() {
    let sim = run(
        &with_fault(
            "  - {at: 1m, type: traffic-surge, target: shop/checkout, params: {factor: 10}}",
            EXPECT,
        ),
        200,
    );
    let errors: f64 = sim
        .samples()
        .into_iter()
        .filter(|s| {
            s.name == "http_requests_total"
                && s.labels.get("code").map(String::as_str) == Some("503")
        })
        .map(|s| s.value)
        .sum();
    assert!(errors > 100.0, "503s under surge: {errors}");
    let throttled: f64 = metric(
        &sim,
        "container_cpu_cfs_throttled_periods_total",
        ("container", "checkout"),
    )
    .iter()
    .sum();
    assert!(throttled > 0.0);
}

#[test]
fn dependency_down_makes_callers_fail_readiness() {
    let yaml = with_fault(
        "  - at: 1m\n    type: dependency-down\n    target: shop/postgres\n    logs: [\"ERROR pq: connection to {dep} refused\"]",
        EXPECT,
    );
    let sim = run(&yaml, 150);
    assert_eq!(
        ready_pods(&sim, "shop"),
        0,
        "postgres and its callers are not ready"
    );
    let p = pods(&sim, "shop")
        .into_iter()
        .find(|p| {
            p.metadata
                .name
                .as_deref()
                .unwrap_or("")
                .starts_with("checkout-")
        })
        .unwrap();
    let logs = sim
        .logs("shop", p.metadata.name.as_deref().unwrap(), None, false)
        .unwrap();
    assert!(logs.iter().any(|l| l.text == "ERROR pq: connection to postgres.shop.svc.cluster.local:80 refused"), "{:?}", &logs[logs.len().saturating_sub(3)..]);
    let errors = metric(&sim, "service_client_requests_total", ("outcome", "error"));
    assert!(errors.iter().sum::<f64>() > 0.0);
    // Postgres's process still runs: no restarts.
    assert!(
        metric(
            &sim,
            "kube_pod_container_status_restarts_total",
            ("container", "postgres")
        )
        .iter()
        .all(|r| *r == 0.0)
    );
}

#[test]
fn node_failure_marks_node_unknown_and_evicts_after_five_minutes() {
    let sim = run(
        &with_fault(
            "  - {at: 1m, type: node-failure, target: node/node-a}",
            EXPECT,
        ),
        60 + 30,
    );
    let node = sim.store().get_typed::<Node>("", "node-a").unwrap();
    let ready = node
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready.status, "True", "still within the grace period");
    let sim = run(
        &with_fault(
            "  - {at: 1m, type: node-failure, target: node/node-a}",
            EXPECT,
        ),
        60 + 60,
    );
    let node = sim.store().get_typed::<Node>("", "node-a").unwrap();
    let ready = node
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready.status, "Unknown");
    assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
    let taints = node
        .spec
        .as_ref()
        .unwrap()
        .taints
        .clone()
        .unwrap_or_default();
    assert!(
        taints
            .iter()
            .any(|t| t.key == "node.kubernetes.io/unreachable" && t.effect == "NoExecute")
    );
    assert!(!events(&sim, "NodeNotReady").is_empty());
    let sim = run(
        &with_fault(
            "  - {at: 1m, type: node-failure, target: node/node-a}",
            EXPECT,
        ),
        60 + 60 + 330,
    );
    assert!(!events(&sim, "TaintManagerEviction").is_empty());
    // Replacements run on node-b.
    let on_b = pods(&sim, "shop")
        .iter()
        .filter(|p| {
            p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("node-b")
                && p.metadata.deletion_timestamp.is_none()
        })
        .count();
    assert!(on_b >= 3, "{on_b}");
}

#[test]
fn disk_pressure_evicts_and_taints() {
    let sim = run(
        &with_fault(
            "  - {at: 1m, type: disk-pressure, target: node/node-a}",
            EXPECT,
        ),
        150,
    );
    assert!(!events(&sim, "Evicted").is_empty());
    let node = sim.store().get_typed::<Node>("", "node-a").unwrap();
    assert!(
        node.spec
            .as_ref()
            .unwrap()
            .taints
            .clone()
            .unwrap_or_default()
            .iter()
            .any(|t| t.key == "node.kubernetes.io/disk-pressure")
    );
    assert!(
        pods(&sim, "shop")
            .iter()
            .any(|p| p.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("Evicted"))
    );
    let pressure: Vec<_> = sim
        .samples()
        .into_iter()
        .filter(|s| {
            s.name == "kube_node_status_condition"
                && s.labels["condition"] == "DiskPressure"
                && s.labels["status"] == "true"
                && s.value == 1.0
        })
        .map(|s| s.labels["node"].clone())
        .collect();
    assert_eq!(pressure, vec!["node-a".to_string()]);
}

#[test]
fn unschedulable_rollout_stays_pending() {
    let sim = run(
        &with_fault(
            "  - {at: 1m, type: unschedulable, target: shop/checkout, params: {cpu: \"64\"}}",
            EXPECT,
        ),
        150,
    );
    let fs = events(&sim, "FailedScheduling");
    assert!(
        fs.iter().any(|e| e
            .message
            .as_deref()
            .unwrap_or("")
            .contains("Insufficient cpu")),
        "{:?}",
        fs.iter().map(|e| e.message.clone()).collect::<Vec<_>>()
    );
    assert!(
        pods(&sim, "shop")
            .iter()
            .any(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending"))
    );
}

#[test]
fn scale_to_zero_removes_endpoints() {
    let sim = run(
        &with_fault(
            "  - {at: 1m, type: scale-to-zero, target: shop/postgres}",
            EXPECT,
        ),
        150,
    );
    assert_eq!(
        metric(
            &sim,
            "kube_endpoint_address_available",
            ("endpoint", "postgres")
        ),
        vec![0.0]
    );
    assert_eq!(
        metric(
            &sim,
            "kube_statefulset_replicas",
            ("statefulset", "postgres")
        ),
        vec![0.0]
    );
}

#[test]
fn transient_burst_ends_by_itself() {
    let yaml = with_fault(
        "  - {at: 1m, type: transient, target: shop/checkout, params: {duration: 30s, error_ratio: 0.5}}",
        EXPECT,
    );
    let during = run(&yaml, 95);
    let errs = |s: &Simulation| -> f64 {
        s.samples()
            .into_iter()
            .filter(|x| {
                x.name == "http_requests_total"
                    && x.labels.get("code").map(String::as_str) == Some("500")
            })
            .map(|x| x.value)
            .sum()
    };
    let e1 = errs(&during);
    assert!(e1 > 100.0, "{e1}");
    let after = run(&yaml, 400);
    let e2 = errs(&after);
    // No new errors beyond the steady trickle after the burst.
    assert!(e2 - e1 < 50.0, "{e1} {e2}");
}

#[test]
fn probe_misconfig_restarts_under_load() {
    let yaml = BASE.replace(
        "behavior: {memory: 120Mi, cpu: 80m, rps: 60}",
        "behavior: {memory: 120Mi, cpu: 400m, rps: 60, latency_ms: 150}",
    ) + "faults:\n  - {at: 1m, type: probe-misconfig, target: shop/checkout}\nexpect:\n"
        + EXPECT
        + "\n";
    let sim = run(&yaml, 300);
    assert!(events(&sim, "Unhealthy").iter().any(|e| {
        e.message
            .as_deref()
            .unwrap_or("")
            .starts_with("Liveness probe failed")
    }));
    assert!(events(&sim, "Killing").iter().any(|e| {
        e.message
            .as_deref()
            .unwrap_or("")
            .contains("failed liveness probe, will be restarted")
    }));
}

/// A DaemonSet keeps its history as ControllerRevisions, and a rollout replaces its
/// crash-looping old pods at once (the controller deletes unavailable old pods first) instead
/// of waiting for every pod to be ready: a rollback after a bad rollout reaches every node.
#[test]
fn daemonset_revisions_and_a_rollback_past_crash_looping_pods() {
    use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
    let yaml = format!(
        "{BASE}    - {{kind: DaemonSet, namespace: ops, name: shipper, image: registry.local/ops/shipper:1.0.0, service: false}}\nfaults:\n  - {{at: 1m, type: bad-rollout, target: ops/shipper, params: {{image: registry.local/ops/shipper:1.1.0, effect: crash}}}}\nexpect:\n  detect: true\n  diagnosis: [deploy/bad-release]\n  locate: ops/shipper\n  actions: {{acceptable: [rollback]}}\n  resolved: true\n"
    );
    let sim = run(&yaml, 240);
    let revisions = sim.store().list_typed::<ControllerRevision>(Some("ops"));
    let mut numbers: Vec<i64> = revisions.iter().map(|r| r.revision).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, [1, 2], "one revision per template");
    let images = |sim: &Simulation| -> Vec<String> {
        pods(sim, "ops")
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .map(|p| {
                p.spec.as_ref().unwrap().containers[0]
                    .image
                    .clone()
                    .unwrap()
            })
            .collect()
    };
    assert!(
        images(&sim).iter().all(|i| i.ends_with(":1.1.0")),
        "the bad rollout reached both nodes: {:?}",
        images(&sim)
    );
    assert_eq!(ready_pods(&sim, "ops"), 0, "every new pod crash-loops");
    // Roll back as `kubectl rollout undo` does: revision 1's template.
    let old = revisions.iter().find(|r| r.revision == 1).unwrap();
    let template = old.data.as_ref().unwrap().0["spec"]["template"].clone();
    let ds = sim
        .store()
        .get_typed::<DaemonSet>("ops", "shipper")
        .unwrap();
    let mut v = serde_json::to_value(&*ds).unwrap();
    v["spec"]["template"] = template;
    sim.store()
        .write_typed(
            &serde_json::from_value::<DaemonSet>(v).unwrap(),
            nightshift_sim::store::Part::Main,
        )
        .unwrap();
    for _ in 0..60 {
        sim.step();
    }
    assert!(
        images(&sim).iter().all(|i| i.ends_with(":1.0.0")),
        "{:?}",
        images(&sim)
    );
    assert_eq!(
        ready_pods(&sim, "ops"),
        2,
        "both nodes run the old revision again"
    );
}

fn progressing_reason(sim: &Simulation) -> Option<String> {
    let d = sim.store().get_typed::<Deployment>("shop", "checkout")?;
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Progressing")?
        .reason
        .clone()
}

/// A rollout that never becomes available times out after the progress deadline; pods of a
/// completed rollout that fail later do not (the condition stays `NewReplicaSetAvailable`).
#[test]
fn only_a_rollout_in_progress_exceeds_its_progress_deadline() {
    let crash = run(
        &with_fault("  - {at: 1m, type: crash, target: shop/checkout}", EXPECT),
        15 * 60,
    );
    assert_eq!(
        progressing_reason(&crash).as_deref(),
        Some("NewReplicaSetAvailable")
    );
    let pull = run(
        &with_fault(
            "  - {at: 1m, type: image-pull, target: shop/checkout, params: {image: registry.local/shop/checkout:9.9.9}}",
            EXPECT,
        ),
        15 * 60,
    );
    assert_eq!(
        progressing_reason(&pull).as_deref(),
        Some("ProgressDeadlineExceeded")
    );
}
