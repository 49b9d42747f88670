//! Every default the contract documents is applied.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::load;
use nightshift_scenario::{
    ActionName, ActionPattern, Category, Probes, ResourceList, Resources, WorkloadKind,
};

const MINIMAL: &str = "\
name: minimal
cluster:
  workloads:
    - namespace: shop
      name: checkout
      image: registry.local/shop/checkout:1.0.0
expect:
  diagnosis: [none]
";

const MI: u64 = 1024 * 1024;

#[test]
fn scenario_defaults() {
    let scenario = load(MINIMAL);
    assert_eq!(scenario.name, "minimal");
    assert_eq!(scenario.summary, "");
    assert_eq!(scenario.seed, 1);
    assert_eq!(scenario.horizon, Duration::from_secs(20 * 60));
    assert!(scenario.faults.is_empty());
    assert!(scenario.cluster.configs.is_empty());
}

#[test]
fn the_default_cluster_has_one_node() {
    let scenario = load(MINIMAL);
    let nodes = &scenario.cluster.nodes;
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].name, "node-1");
    assert_eq!(nodes[0].cpu_millis, 8_000);
    assert_eq!(nodes[0].memory_bytes, 32 * 1024 * MI);
    assert!(nodes[0].labels.is_empty());

    let scenario = load("name: bare\nexpect: {diagnosis: [none]}\n");
    assert_eq!(scenario.cluster.nodes.len(), 1);
    assert!(scenario.cluster.workloads.is_empty());
}

#[test]
fn a_declared_node_gets_default_capacity() {
    let scenario = load(&MINIMAL.replace("cluster:\n", "cluster:\n  nodes:\n    - name: node-a\n"));
    let node = &scenario.cluster.nodes[0];
    assert_eq!(
        (node.name.as_str(), node.cpu_millis, node.memory_bytes),
        ("node-a", 8_000, 32 * 1024 * MI)
    );
}

#[test]
fn workload_defaults() {
    let scenario = load(MINIMAL);
    let workload = &scenario.cluster.workloads[0];
    assert_eq!(workload.kind, WorkloadKind::Deployment);
    assert_eq!(workload.key(), "shop/checkout");
    assert_eq!(workload.replicas, 1);
    assert_eq!(
        workload.labels,
        BTreeMap::from([("app".to_string(), "checkout".to_string())])
    );
    assert!(workload.service);
    assert_eq!(workload.resources, Resources::default());
    assert_eq!(
        workload.probes,
        Probes {
            readiness: true,
            liveness: false
        }
    );
    assert!(workload.env_from.is_empty());
    assert!(workload.depends_on.is_empty());
}

#[test]
fn behavior_and_log_defaults() {
    let scenario = load(MINIMAL);
    let workload = &scenario.cluster.workloads[0];
    let behavior = &workload.behavior;
    assert_eq!(behavior.memory_bytes, 64 * MI);
    assert_eq!(behavior.cpu_millis, 50);
    assert_eq!(behavior.rps, 10.0);
    assert_eq!(behavior.error_ratio, 0.001);
    assert_eq!(behavior.latency_ms, 20.0);
    assert_eq!(behavior.startup, Duration::from_secs(3));
    assert_eq!(workload.logs.every, Duration::from_secs(5));
    assert!(workload.logs.lines.is_empty());
}

#[test]
fn partly_written_blocks_keep_the_other_defaults() {
    let text = MINIMAL.replace(
        "      image: registry.local/shop/checkout:1.0.0\n",
        "      image: registry.local/shop/checkout:1.0.0\n      probes: {liveness: true}\n      \
         behavior: {rps: 50}\n      logs: {lines: ['GET / {int:1..9}']}\n      \
         resources: {limits: {memory: 256Mi}}\n",
    );
    let scenario = load(&text);
    let workload = &scenario.cluster.workloads[0];
    assert_eq!(
        workload.probes,
        Probes {
            readiness: true,
            liveness: true
        }
    );
    assert_eq!(workload.behavior.rps, 50.0);
    assert_eq!(workload.behavior.cpu_millis, 50);
    assert_eq!(workload.logs.every, Duration::from_secs(5));
    assert_eq!(workload.logs.lines.len(), 1);
    assert_eq!(
        workload.resources,
        Resources {
            requests: ResourceList::default(),
            limits: ResourceList {
                cpu_millis: None,
                memory_bytes: Some(256 * MI)
            }
        }
    );
}

#[test]
fn expect_defaults_when_detecting() {
    let scenario = load(MINIMAL);
    let expect = &scenario.expect;
    assert!(expect.detect);
    assert_eq!(expect.diagnosis, vec![Category::None]);
    assert_eq!(expect.locate, None);
    assert!(expect.actions.acceptable.is_empty());
    assert!(expect.actions.harmful.is_empty());
    assert!(!expect.resolved);
}

#[test]
fn expect_defaults_without_detection() {
    let scenario = load(&MINIMAL.replace("  diagnosis: [none]\n", "  detect: false\n"));
    let expect = &scenario.expect;
    assert!(!expect.detect);
    assert_eq!(expect.diagnosis, vec![Category::None]);
    assert_eq!(expect.actions.acceptable.len(), 1);
    assert_eq!(
        expect.actions.acceptable[0].pattern,
        ActionPattern::Action(ActionName::None)
    );
    assert_eq!(expect.actions.acceptable[0].target, None);
    assert!(!expect.resolved);
}

#[test]
fn explicit_values_replace_defaults() {
    let text = "\
name: explicit
summary: all written out
seed: 7
horizon: 1h30m
cluster:
  nodes:
    - {name: node-a, cpu: 2500m, memory: 4Gi, labels: {topology.kubernetes.io/zone: a}}
  configs: [secret/shop/db, configmap/shop/flags]
  workloads:
    - kind: StatefulSet
      namespace: shop
      name: db
      replicas: 2
      image: registry.local/shop/postgres:16
      labels: {app: postgres, tier: data}
      service: true
      resources:
        requests: {cpu: 250m, memory: 512Mi}
        limits: {cpu: 1, memory: 1Gi}
      probes: {readiness: false, liveness: true}
      env_from: [secret/db, configmap/flags]
      behavior: {memory: 600Mi, cpu: 0.2, rps: 80, error_ratio: 0.01, latency_ms: 4.5, startup: 20s}
      logs: {every: 500ms, lines: ['LOG checkpoint {int:1..9}']}
expect:
  detect: true
  diagnosis: [app/crash, app/hang]
  locate: shop/db
  actions: {acceptable: [rollout-restart], harmful: [scale-down, drain-node@node/node-a]}
  resolved: true
";
    let scenario = load(text);
    assert_eq!(
        (scenario.summary.as_str(), scenario.seed),
        ("all written out", 7)
    );
    assert_eq!(scenario.horizon, Duration::from_secs(90 * 60));
    let node = &scenario.cluster.nodes[0];
    assert_eq!((node.cpu_millis, node.memory_bytes), (2_500, 4 * 1024 * MI));
    assert_eq!(
        node.labels
            .get("topology.kubernetes.io/zone")
            .map(String::as_str),
        Some("a")
    );
    assert_eq!(scenario.cluster.configs.len(), 2);
    let db = &scenario.cluster.workloads[0];
    assert_eq!(db.kind, WorkloadKind::StatefulSet);
    assert_eq!(db.replicas, 2);
    assert_eq!(db.labels.len(), 2);
    assert_eq!(
        db.resources.requests,
        ResourceList {
            cpu_millis: Some(250),
            memory_bytes: Some(512 * MI)
        }
    );
    assert_eq!(
        db.resources.limits,
        ResourceList {
            cpu_millis: Some(1_000),
            memory_bytes: Some(1024 * MI)
        }
    );
    assert_eq!(
        db.probes,
        Probes {
            readiness: false,
            liveness: true
        }
    );
    assert_eq!(db.env_from.len(), 2);
    assert_eq!(db.behavior.cpu_millis, 200);
    assert_eq!(db.behavior.latency_ms, 4.5);
    assert_eq!(db.behavior.startup, Duration::from_secs(20));
    assert_eq!(db.logs.every, Duration::from_millis(500));
    assert_eq!(
        scenario.expect.diagnosis,
        vec![Category::Crash, Category::Hang]
    );
    assert_eq!(scenario.expect.actions.harmful.len(), 2);
    assert_eq!(
        scenario.expect.actions.harmful[1].to_string(),
        "drain-node@node/node-a"
    );
    assert!(scenario.expect.resolved);
}

#[test]
fn dependencies_render_as_host_port() {
    let text = "\
name: deps
cluster:
  workloads:
    - {namespace: shop, name: web, image: 'web:1', depends_on: [shop/db, external/pay.example.com:443]}
    - {namespace: shop, name: db, image: 'db:1'}
expect: {diagnosis: [none]}
";
    let scenario = load(text);
    let deps: Vec<String> = scenario.cluster.workloads[0]
        .depends_on
        .iter()
        .map(|d| d.host_port())
        .collect();
    assert_eq!(
        deps,
        ["db.shop.svc.cluster.local:80", "pay.example.com:443"]
    );
}
