//! How offered traffic spreads over a workload's replicas: a service coming up is offered the
//! share its ready replicas stand for, and once it has been fully ready, the load of a replica
//! that drops out falls on the others.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Event, Pod};
use nightshift_sim::Simulation;

const START_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// One node with most of its cpu requested and a three-replica StatefulSet whose replicas each
/// run at `cpu` of a 1-core limit once all three serve; alone, one would need three times that.
fn statefulset(cpu: &str, faults: &str) -> String {
    format!(
        r#"
name: t
horizon: 30m
cluster:
  nodes:
    - {{name: node-a, cpu: "4", memory: 16Gi}}
  workloads:
    - kind: StatefulSet
      namespace: quotes
      name: pricer
      replicas: 3
      image: registry.local/quotes/pricer:3.8.2
      resources:
        requests: {{cpu: "1", memory: 1Gi}}
        limits: {{cpu: "1", memory: 2Gi}}
      behavior: {{memory: 900Mi, cpu: {cpu}, rps: 150, latency_ms: 70, startup: 20s}}
faults:
{faults}
expect:
  detect: false
"#
    )
}

fn sim(yaml: &str) -> Arc<Simulation> {
    let scenario =
        nightshift_scenario::load::parse_str(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"));
    Simulation::new(&scenario, START_MS)
}

fn ready_pods(sim: &Simulation) -> usize {
    sim.store()
        .list_typed::<Pod>(Some("quotes"))
        .iter()
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count()
}

fn sum(sim: &Simulation, name: &str, label: (&str, &str)) -> f64 {
    sim.samples()
        .into_iter()
        .filter(|s| s.name == name && s.labels.get(label.0).map(String::as_str) == Some(label.1))
        .map(|s| s.value)
        .sum()
}

fn readiness_failures(sim: &Simulation) -> usize {
    sim.store()
        .list_typed::<Event>(Some("quotes"))
        .iter()
        .filter(|e| {
            e.reason.as_deref() == Some("Unhealthy")
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("Readiness probe failed"))
        })
        .count()
}

#[test]
fn first_pod_of_a_statefulset_is_not_given_the_whole_service() {
    let sim = sim(&statefulset(
        "400m",
        "  - {at: 25m, type: noop, target: quotes/pricer}",
    ));
    let mut seconds = 0;
    while ready_pods(&sim) < 3 {
        sim.step();
        seconds += 1;
        assert!(seconds < 300, "pricer not fully ready after {seconds}s");
        if seconds % 5 == 0 {
            assert_eq!(
                sum(
                    &sim,
                    "container_cpu_cfs_throttled_periods_total",
                    ("container", "pricer")
                ),
                0.0,
                "a pricer replica was throttled while the StatefulSet came up ({seconds}s)"
            );
        }
    }
    // Ordered start: the replicas came up one after the other, not at once.
    assert!(seconds > 40, "all ready after {seconds}s");
    for _ in 0..120 {
        sim.step();
    }
    assert_eq!(
        readiness_failures(&sim),
        0,
        "readiness dropped while coming up"
    );
    assert_eq!(
        sum(
            &sim,
            "container_cpu_cfs_throttled_periods_total",
            ("container", "pricer")
        ),
        0.0
    );
    let served = sum(&sim, "http_requests_total", ("service", "pricer"));
    assert!(
        served > 150.0 * 100.0,
        "the service serves its traffic: {served}"
    );
}

#[test]
fn once_fully_ready_a_hung_replica_leaves_its_load_to_the_others() {
    // At 800m of a 1-core limit with three replicas; two carry 1200m each.
    let sim = sim(&statefulset(
        "800m",
        "  - {at: 4m, type: hang, target: quotes/pricer}",
    ));
    for _ in 0..230 {
        sim.step();
    }
    assert_eq!(ready_pods(&sim), 3);
    let before = sum(
        &sim,
        "container_cpu_cfs_throttled_periods_total",
        ("container", "pricer"),
    );
    assert_eq!(before, 0.0, "healthy replicas are not throttled");
    for _ in 0..120 {
        sim.step();
    }
    let after = sum(
        &sim,
        "container_cpu_cfs_throttled_periods_total",
        ("container", "pricer"),
    );
    assert!(
        after > 0.0,
        "the two answering replicas carry the hung one's share"
    );
}
