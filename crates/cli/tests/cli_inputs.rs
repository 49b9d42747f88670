//! Bad input files on the command line: `scenario check` and `policy check` exit 2 naming the
//! file, the key and the line; good files exit 0.

use std::path::PathBuf;
use std::process::{Command, Output};

fn nightshift(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .args(args)
        .output()
        .expect("nightshift runs")
}

fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
        .display()
        .to_string()
}

#[test]
fn policy_check_accepts_the_example_and_names_what_is_wrong() {
    let ok = nightshift(&["policy", "check", &repo("deploy/policy.example.yaml")]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("observe"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("policy.yaml");
    std::fs::write(
        &bad,
        "mode: auto\nmin_confidence: 0.7\nactions:\n  scale: {risk: tiny}\n",
    )
    .unwrap();
    let out = nightshift(&["policy", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy.yaml"), "{err}");
    assert!(err.contains("risk") && err.contains("line 4"), "{err}");
}

#[test]
fn scenario_check_accepts_the_suite_and_names_what_is_wrong() {
    let ok = nightshift(&["scenario", "check", &repo("scenarios")]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).lines().count() >= 40);

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.yaml");
    std::fs::write(
        &bad,
        "name: broken\ncluster:\n  workloads:\n    - {kind: Deployment, namespace: shop, name: web, image: r/web:1}\nfaults:\n  - {at: 1m, type: meltdown, target: shop/web}\nexpect:\n  detect: true\n  diagnosis: [app/crash]\n  actions: {acceptable: [escalate]}\n",
    )
    .unwrap();
    let out = nightshift(&["scenario", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.yaml"), "{err}");
    assert!(err.contains("meltdown") && err.contains("line 6"), "{err}");
}

/// The agent configuration shown in the README loads.
#[test]
fn the_readme_configuration_loads() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let start = readme
        .find("# nightshift.yaml")
        .expect("the README shows a configuration");
    let block = &readme[start..];
    let block = &block[..block.find("```").expect("the block ends")];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nightshift.yaml");
    std::fs::write(&path, block).unwrap();
    let config =
        nightshift::config::AgentConfig::load(&path).unwrap_or_else(|e| panic!("{e}\n{block}"));
    assert!(config.prometheus.is_some());
    assert!(config.llm.is_some());
}
