//! `nightshift eval` as a user runs it: a scenario written from the contract alone loads, runs
//! and is scored into the documented JSON; a malformed file exits 2 naming the file and the
//! problem; the same files give the same report.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nightshift"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/eval")
        .join(name)
}

fn suite(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(format!("{name}.yaml"))
}

fn eval(paths: &[&Path], json: &Path, extra: &[&str]) -> std::process::Output {
    let mut cmd = bin();
    cmd.arg("eval")
        .args(paths)
        .arg("--json")
        .arg(json)
        .arg("--quiet");
    cmd.args(extra);
    cmd.output().expect("nightshift runs")
}

#[test]
fn a_malformed_scenario_exits_2_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken-horizon.yaml");
    std::fs::copy(fixture("broken-horizon.yaml.txt"), &bad).unwrap();
    let json = dir.path().join("report.json");
    let out = eval(&[&suite("noop-quiet-shop"), &bad], &json, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken-horizon.yaml"), "{err}");
    assert!(err.contains("horizon") && err.contains("line 2"), "{err}");
    assert!(!json.exists(), "no report for a suite that does not load");
}

#[test]
fn an_unknown_key_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("typo.yaml");
    let text = std::fs::read_to_string(suite("noop-quiet-shop"))
        .unwrap()
        .replace("horizon:", "horizn:");
    std::fs::write(&bad, text).unwrap();
    let out = eval(&[&bad], &dir.path().join("r.json"), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("typo.yaml") && err.contains("horizn"), "{err}");
}

fn without_timings(mut v: serde_json::Value) -> serde_json::Value {
    for s in v["scenarios"].as_array_mut().unwrap() {
        let s = s.as_object_mut().unwrap();
        s.remove("ttd_s");
        s.remove("ttm_s");
    }
    let sum = v["summary"].as_object_mut().unwrap();
    for k in ["ttd_median_s", "ttm_median_s", "ttm_p95_s"] {
        sum.remove(k);
    }
    v
}

/// The contract's own example (completed with the workload it depends on) runs and is
/// scored; a second run of the same files gives the same report, timings aside.
#[test]
fn a_scenario_from_outside_the_suite_runs_and_reports_the_same_twice() {
    let dir = tempfile::tempdir().unwrap();
    let outside = fixture("checkout-oom-undersized.yaml");
    let control = suite("noop-quiet-shop");
    let first = dir.path().join("first.json");
    let html = dir.path().join("report.html");
    let out = eval(
        &[&outside, &control],
        &first,
        &["--html", html.to_str().unwrap(), "--strict"],
    );
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("checkout-oom-undersized"), "{table}");
    assert!(table.contains("detection rate"), "{table}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&first).unwrap()).unwrap();
    let s = &report["scenarios"][0];
    assert_eq!(s["name"], "checkout-oom-undersized");
    assert_eq!(s["detected"], true, "{report:#}");
    assert_eq!(s["diagnosis"], "resource/memory-limit", "{report:#}");
    assert_eq!(s["harmful"], 0);
    assert_eq!(report["summary"]["scenarios"], 2);
    assert_eq!(report["summary"]["false_positive_rate"], 0.0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("checkout-oom-undersized"));

    let second = dir.path().join("second.json");
    let out = eval(&[&outside, &control], &second, &[]);
    assert!(out.status.success(), "{out:?}");
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&second).unwrap()).unwrap();
    assert_eq!(without_timings(report), without_timings(again));
}

#[test]
fn a_broken_policy_exits_2_and_an_llm_config_without_a_model_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "mode: sometimes\n").unwrap();
    let json = dir.path().join("r.json");
    let out = eval(
        &[&suite("noop-quiet-shop")],
        &json,
        &["--policy", policy.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy.yaml") && err.contains("mode"), "{err}");
    assert!(!json.exists());

    let config = dir.path().join("nightshift.yaml");
    std::fs::write(&config, "store: sqlite://x.db\n").unwrap();
    let out = eval(
        &[&suite("noop-quiet-shop")],
        &json,
        &[
            "--analyzer",
            "llm",
            "--llm-config",
            config.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nightshift.yaml") && err.contains("llm:"),
        "{err}"
    );
    assert!(!json.exists());
}
