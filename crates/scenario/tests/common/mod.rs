//! A small cluster to aim faults at, shared by the loader tests.

#![allow(dead_code)]

use nightshift_scenario::{Fault, Scenario, parse_str};

/// The file name errors are expected to carry.
pub const ORIGIN: &str = "scenarios/test.yaml";

/// A scenario with two nodes, a Deployment with a limit and dependencies, a StatefulSet and a
/// DaemonSet; `{faults}` and `{expect}` are filled in by the tests.
pub const CLUSTER: &str = "\
name: test-scenario
cluster:
  nodes:
    - name: node-a
    - name: node-b
      cpu: \"4\"
      memory: 16Gi
  configs:
    - secret/shop/checkout-db
  workloads:
    - namespace: shop
      name: checkout
      replicas: 3
      image: registry.local/shop/checkout:1.0.0
      resources:
        limits: {cpu: 500m, memory: 256Mi}
      env_from: [secret/checkout-db]
      depends_on: [shop/db, external/pay.example.com:443]
    - kind: StatefulSet
      namespace: shop
      name: db
      image: registry.local/shop/postgres:16
    - kind: DaemonSet
      namespace: platform
      name: agent
      image: registry.local/platform/agent:1
      service: false
";

/// The cluster above with these faults (a YAML list, indented by two) and a minimal expect.
pub fn with_faults(faults: &str) -> String {
    format!("{CLUSTER}faults:\n{faults}expect:\n  diagnosis: [none]\n")
}

/// Loads text that must be valid.
pub fn load(text: &str) -> Scenario {
    parse_str(text, ORIGIN).unwrap_or_else(|e| panic!("{e}\n--- text ---\n{text}"))
}

/// The only fault of a scenario made from one fault entry.
pub fn fault(entry: &str) -> Fault {
    let scenario = load(&with_faults(entry));
    assert_eq!(scenario.faults.len(), 1);
    scenario
        .faults
        .into_iter()
        .next()
        .unwrap_or_else(|| unreachable!())
}

/// The error message for text that must not load.
pub fn error(text: &str) -> String {
    match parse_str(text, ORIGIN) {
        Ok(_) => panic!("loaded, but should not have:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts that an error names the file, the key path, the line and says `what`.
#[track_caller]
pub fn assert_error(text: &str, key_path: &str, line: u64, what: &str) {
    let message = error(text);
    let prefix = if key_path.is_empty() {
        format!("{ORIGIN}: ")
    } else {
        format!("{ORIGIN}: {key_path}: ")
    };
    assert!(
        message.starts_with(&prefix),
        "expected prefix `{prefix}` in: {message}"
    );
    assert!(
        message.contains(&format!(" at line {line} column ")),
        "expected line {line} in: {message}"
    );
    assert!(message.contains(what), "expected `{what}` in: {message}");
}
