//! The crate graph of ARCHITECTURE.md, checked against `cargo metadata`: the domain depends
//! on no other crate of the workspace, and no production crate (the domain, the store, the
//! agent, the model analyzer) depends on the test ground (the scenario format, the simulated
//! cluster, the simulated monitoring). A new arrow is a decision: change the table here and
//! the drawing in ARCHITECTURE.md together.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Every workspace crate and the workspace crates it may depend on (normal dependencies;
/// dev-dependencies are test wiring and may use the test ground).
const ALLOWED: &[(&str, &[&str])] = &[
    ("nightshift-core", &[]),
    // The one outgoing HTTP client: a leaf that every crate making requests uses.
    ("nightshift-net", &[]),
    ("nightshift-store", &["nightshift-core"]),
    ("nightshift-llm", &["nightshift-core", "nightshift-net"]),
    (
        "nightshift-agent",
        &["nightshift-core", "nightshift-store", "nightshift-net"],
    ),
    ("nightshift-scenario", &["nightshift-core"]),
    ("nightshift-monitor", &["nightshift-core"]),
    (
        "nightshift-sim",
        &[
            "nightshift-core",
            "nightshift-scenario",
            "nightshift-monitor",
            "nightshift-net",
        ],
    ),
    (
        "nightshift",
        &[
            "nightshift-core",
            "nightshift-store",
            "nightshift-llm",
            "nightshift-agent",
            "nightshift-scenario",
            "nightshift-monitor",
            "nightshift-sim",
            "nightshift-net",
        ],
    ),
];

const PRODUCTION: &[&str] = &[
    "nightshift-core",
    "nightshift-net",
    "nightshift-store",
    "nightshift-llm",
    "nightshift-agent",
];
const TEST_GROUND: &[&str] = &[
    "nightshift-scenario",
    "nightshift-sim",
    "nightshift-monitor",
];

/// Each workspace crate and its normal dependencies on other workspace crates.
fn workspace_graph() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let names: BTreeSet<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(String::from))
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["kind"].is_null())
                .filter_map(|d| d["name"].as_str())
                .filter(|d| names.contains(*d))
                .map(String::from)
                .collect();
            (p["name"].as_str().expect("name").to_string(), deps)
        })
        .collect()
}

#[test]
fn every_crate_depends_only_on_what_the_architecture_allows() {
    let graph = workspace_graph();
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(c, deps)| (*c, deps.iter().copied().collect()))
        .collect();
    for (krate, deps) in &graph {
        let Some(ok) = allowed.get(krate.as_str()) else {
            panic!("{krate} is not in the layering table; add it here and to ARCHITECTURE.md");
        };
        for dep in deps {
            assert!(
                ok.contains(dep.as_str()),
                "{krate} depends on {dep}, which the layering does not allow (ARCHITECTURE.md)"
            );
        }
    }
    assert_eq!(graph.len(), allowed.len(), "every table entry is a crate");
}

#[test]
fn no_production_crate_reaches_the_test_ground() {
    let graph = workspace_graph();
    for krate in PRODUCTION {
        // Transitively: a production crate must not reach the test ground through another.
        let mut seen = BTreeSet::new();
        let mut todo = vec![krate.to_string()];
        while let Some(c) = todo.pop() {
            for d in graph.get(&c).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        for ground in TEST_GROUND {
            assert!(
                !seen.contains(*ground),
                "production crate {krate} depends on {ground}"
            );
        }
    }
}
