//! Each fault type: its defaults, its explicit parameters and its target.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{fault, load, with_faults};
use nightshift_scenario::{
    ConfigKind, FaultKind, LocalConfigRef, MissingVia, ReplicaCount, RolloutEffect, Target,
    UnschedulableParams,
};

const MI: u64 = 1024 * 1024;

fn checkout() -> Target {
    Target::Workload {
        namespace: "shop".into(),
        name: "checkout".into(),
    }
}

#[test]
fn crash() {
    let f = fault("  - {at: 3m, type: crash, target: shop/checkout}\n");
    assert_eq!(f.at, Duration::from_secs(180));
    assert_eq!(f.target, checkout());
    assert_eq!(f.logs, None);
    assert_eq!(
        f.kind,
        FaultKind::Crash {
            exit_code: 1,
            after: Duration::from_secs(2),
            replicas: ReplicaCount::All
        }
    );
    let f = fault(
        "  - {at: 3m, type: crash, target: shop/checkout, params: {exit_code: 137, after: 10s, replicas: 2}}\n",
    );
    assert_eq!(
        f.kind,
        FaultKind::Crash {
            exit_code: 137,
            after: Duration::from_secs(10),
            replicas: ReplicaCount::Count(2)
        }
    );
    let f = fault("  - {at: 3m, type: crash, target: shop/checkout, params: {replicas: all}}\n");
    assert!(matches!(
        f.kind,
        FaultKind::Crash {
            replicas: ReplicaCount::All,
            ..
        }
    ));
}

#[test]
fn bad_rollout() {
    let f = fault(
        "  - {at: 3m, type: bad-rollout, target: shop/checkout, params: {image: 'checkout:2'}}\n",
    );
    assert_eq!(
        f.kind,
        FaultKind::BadRollout {
            image: "checkout:2".into(),
            effect: RolloutEffect::Crash,
            error_ratio: 0.5
        }
    );
    let f = fault(
        "  - {at: 3m, type: bad-rollout, target: shop/checkout, params: {image: 'checkout:2', effect: errors, error_ratio: 0.2}}\n",
    );
    assert_eq!(
        f.kind,
        FaultKind::BadRollout {
            image: "checkout:2".into(),
            effect: RolloutEffect::Errors,
            error_ratio: 0.2
        }
    );
    for (text, effect) in [
        ("oom", RolloutEffect::Oom),
        ("hang", RolloutEffect::Hang),
        ("crash", RolloutEffect::Crash),
    ] {
        let f = fault(&format!(
            "  - {{at: 3m, type: bad-rollout, target: shop/checkout, params: {{image: 'c:2', effect: {text}}}}}\n"
        ));
        assert!(
            matches!(f.kind, FaultKind::BadRollout { effect: e, .. } if e == effect),
            "{text}"
        );
    }
}

#[test]
fn image_pull() {
    let f = fault(
        "  - {at: 3m, type: image-pull, target: shop/checkout, params: {image: 'checkout:typo'}}\n",
    );
    assert_eq!(
        f.kind,
        FaultKind::ImagePull {
            image: "checkout:typo".into()
        }
    );
}

#[test]
fn missing_config() {
    let f = fault(
        "  - {at: 3m, type: missing-config, target: shop/checkout, params: {ref: secret/checkout-tls}}\n",
    );
    assert_eq!(
        f.kind,
        FaultKind::MissingConfig {
            reference: LocalConfigRef {
                kind: ConfigKind::Secret,
                name: "checkout-tls".into()
            },
            via: MissingVia::Rollout
        }
    );
    let f = fault(
        "  - {at: 3m, type: missing-config, target: shop/checkout, params: {ref: secret/checkout-db, via: restart}}\n",
    );
    assert_eq!(
        f.kind,
        FaultKind::MissingConfig {
            reference: LocalConfigRef {
                kind: ConfigKind::Secret,
                name: "checkout-db".into()
            },
            via: MissingVia::Restart
        }
    );
}

#[test]
fn memory_limit() {
    let f =
        fault("  - {at: 3m, type: memory-limit, target: shop/checkout, params: {memory: 300Mi}}\n");
    assert_eq!(
        f.kind,
        FaultKind::MemoryLimit {
            memory_bytes: 300 * MI
        }
    );
}

#[test]
fn memory_leak() {
    let f = fault("  - {at: 3m, type: memory-leak, target: shop/checkout}\n");
    assert_eq!(
        f.kind,
        FaultKind::MemoryLeak {
            bytes_per_minute: 20 * MI,
            since_rollout: None
        }
    );
    let f = fault(
        "  - {at: 3m, type: memory-leak, target: shop/checkout, params: {rate: 5Mi/min, since_rollout: 'checkout:2'}}\n",
    );
    assert_eq!(
        f.kind,
        FaultKind::MemoryLeak {
            bytes_per_minute: 5 * MI,
            since_rollout: Some("checkout:2".into())
        }
    );
    let f = fault(
        "  - {at: 3m, type: memory-leak, target: shop/checkout, params: {since_rollout: null}}\n",
    );
    assert_eq!(
        f.kind,
        FaultKind::MemoryLeak {
            bytes_per_minute: 20 * MI,
            since_rollout: None
        }
    );
}

#[test]
fn hang() {
    let f = fault("  - {at: 3m, type: hang, target: shop/checkout}\n");
    assert_eq!(
        f.kind,
        FaultKind::Hang {
            replicas: ReplicaCount::Count(1)
        }
    );
    let f = fault("  - {at: 3m, type: hang, target: shop/checkout, params: {replicas: all}}\n");
    assert_eq!(
        f.kind,
        FaultKind::Hang {
            replicas: ReplicaCount::All
        }
    );
}

#[test]
fn traffic_surge() {
    let f =
        fault("  - {at: 3m, type: traffic-surge, target: shop/checkout, params: {factor: 4}}\n");
    assert_eq!(
        f.kind,
        FaultKind::TrafficSurge {
            factor: 4.0,
            duration: None
        }
    );
    let f = fault(
        "  - {at: 3m, type: traffic-surge, target: shop/checkout, params: {factor: 2.5, duration: 10m}}\n",
    );
    assert_eq!(
        f.kind,
        FaultKind::TrafficSurge {
            factor: 2.5,
            duration: Some(Duration::from_secs(600))
        }
    );
}

#[test]
fn dependency_down_in_the_cluster_and_outside() {
    let f = fault("  - {at: 3m, type: dependency-down, target: shop/db}\n");
    assert_eq!(f.kind, FaultKind::DependencyDown { duration: None });
    assert_eq!(
        f.target,
        Target::Workload {
            namespace: "shop".into(),
            name: "db".into()
        }
    );
    let f = fault(
        "  - {at: 3m, type: dependency-down, target: 'external/pay.example.com:443', params: {duration: 8m}}\n",
    );
    assert_eq!(
        f.kind,
        FaultKind::DependencyDown {
            duration: Some(Duration::from_secs(480))
        }
    );
    assert_eq!(
        f.target,
        Target::External {
            host: "pay.example.com".into(),
            port: 443
        }
    );
}

#[test]
fn node_failure() {
    let f = fault("  - {at: 3m, type: node-failure, target: node/node-b}\n");
    assert_eq!(f.kind, FaultKind::NodeFailure { duration: None });
    assert_eq!(f.target, Target::Node("node-b".into()));
    let f =
        fault("  - {at: 3m, type: node-failure, target: node/node-b, params: {duration: 6m}}\n");
    assert_eq!(
        f.kind,
        FaultKind::NodeFailure {
            duration: Some(Duration::from_secs(360))
        }
    );
}

#[test]
fn disk_pressure() {
    let f = fault("  - {at: 3m, type: disk-pressure, target: node/node-a}\n");
    assert_eq!(f.kind, FaultKind::DiskPressure { duration: None });
    let f =
        fault("  - {at: 3m, type: disk-pressure, target: node/node-a, params: {duration: 10m}}\n");
    assert_eq!(
        f.kind,
        FaultKind::DiskPressure {
            duration: Some(Duration::from_secs(600))
        }
    );
}

#[test]
fn unschedulable() {
    let f = fault(
        "  - {at: 3m, type: unschedulable, target: shop/checkout, params: {cpu: '16', memory: 64Gi}}\n",
    );
    assert_eq!(
        f.kind,
        FaultKind::Unschedulable(UnschedulableParams {
            cpu_millis: Some(16_000),
            memory_bytes: Some(64 * 1024 * MI),
            node_selector: BTreeMap::new()
        })
    );
    let f = fault(
        "  - {at: 3m, type: unschedulable, target: shop/checkout, params: {node_selector: {gpu: 'true', size: 4}}}\n",
    );
    assert_eq!(
        f.kind,
        FaultKind::Unschedulable(UnschedulableParams {
            cpu_millis: None,
            memory_bytes: None,
            node_selector: BTreeMap::from([
                ("gpu".into(), "true".into()),
                ("size".into(), "4".into())
            ])
        })
    );
}

#[test]
fn probe_misconfig() {
    let f = fault("  - {at: 3m, type: probe-misconfig, target: shop/checkout}\n");
    assert_eq!(
        f.kind,
        FaultKind::ProbeMisconfig {
            timeout: Duration::from_secs(1)
        }
    );
    let f = fault(
        "  - {at: 3m, type: probe-misconfig, target: shop/checkout, params: {timeout: 500ms}}\n",
    );
    assert_eq!(
        f.kind,
        FaultKind::ProbeMisconfig {
            timeout: Duration::from_millis(500)
        }
    );
}

#[test]
fn scale_to_zero() {
    let f = fault("  - {at: 3m, type: scale-to-zero, target: shop/checkout}\n");
    assert_eq!(f.kind, FaultKind::ScaleToZero);
}

#[test]
fn transient() {
    let f = fault("  - {at: 3m, type: transient, target: shop/checkout}\n");
    assert_eq!(
        f.kind,
        FaultKind::Transient {
            duration: Duration::from_secs(45),
            error_ratio: 0.3
        }
    );
    let f = fault(
        "  - {at: 3m, type: transient, target: shop/checkout, params: {duration: 90s, error_ratio: 0.5}}\n",
    );
    assert_eq!(
        f.kind,
        FaultKind::Transient {
            duration: Duration::from_secs(90),
            error_ratio: 0.5
        }
    );
}

#[test]
fn noop() {
    let f = fault("  - {at: 3m, type: noop, target: shop/checkout}\n");
    assert_eq!(f.kind, FaultKind::Noop);
    let f = fault("  - {at: 3m, type: noop, target: node/node-a}\n");
    assert_eq!(f.kind, FaultKind::Noop);
}

#[test]
fn every_type_name_round_trips() {
    let entries = [
        "{type: crash, target: shop/checkout}",
        "{type: bad-rollout, target: shop/checkout, params: {image: 'c:2'}}",
        "{type: image-pull, target: shop/checkout, params: {image: 'c:2'}}",
        "{type: missing-config, target: shop/checkout, params: {ref: configmap/flags}}",
        "{type: memory-limit, target: shop/checkout, params: {memory: 1Gi}}",
        "{type: memory-leak, target: shop/checkout}",
        "{type: hang, target: shop/checkout}",
        "{type: traffic-surge, target: shop/checkout, params: {factor: 3}}",
        "{type: dependency-down, target: shop/db}",
        "{type: node-failure, target: node/node-a}",
        "{type: disk-pressure, target: node/node-a}",
        "{type: unschedulable, target: shop/checkout, params: {cpu: 64}}",
        "{type: probe-misconfig, target: shop/checkout}",
        "{type: scale-to-zero, target: shop/checkout}",
        "{type: transient, target: shop/checkout}",
        "{type: noop, target: shop/checkout}",
    ];
    let faults: String = entries
        .iter()
        .map(|e| format!("  - {{at: 2m, {}\n", &e[1..]))
        .collect();
    let scenario = load(&with_faults(&faults));
    let names: Vec<&str> = scenario.faults.iter().map(|f| f.kind.type_name()).collect();
    assert_eq!(names, FaultKind::TYPE_NAMES);
}

#[test]
fn fault_logs_replace_the_defaults() {
    let f = fault(
        "  - at: 3m\n    type: dependency-down\n    target: shop/db\n    logs:\n      - 'ERROR dial tcp {dep}: connection refused'\n",
    );
    let logs = f.logs.unwrap_or_default();
    assert_eq!(logs.len(), 1);
    assert!(logs[0].uses_dep());
}

#[test]
fn faults_keep_their_written_order() {
    let scenario = load(&with_faults(
        "  - {at: 8m, type: noop, target: shop/checkout}\n  - {at: 2m, type: hang, target: shop/checkout}\n",
    ));
    let order: Vec<u64> = scenario.faults.iter().map(|f| f.at.as_secs()).collect();
    assert_eq!(order, [480, 120]);
}
