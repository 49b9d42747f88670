//! Every scenario shipped in `scenarios/` loads, is named after its file, and together they
//! cover every fault type; the suite has the shape the evaluation relies on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use nightshift_scenario::{Category, Fault, FaultKind, Scenario, load_paths};

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

#[test]
fn every_shipped_scenario_loads() {
    let loaded = load_paths(&[scenarios_dir()]).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.len() >= FaultKind::TYPE_NAMES.len());
    for (path, scenario) in &loaded {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        assert_eq!(
            stem,
            scenario.name,
            "{} is not named after its scenario",
            path.display()
        );
        assert!(
            !scenario.summary.is_empty(),
            "{} has no summary",
            path.display()
        );
        assert!(
            !scenario.faults.is_empty(),
            "{} injects no fault",
            path.display()
        );
    }
}

#[test]
fn shipped_scenarios_cover_every_fault_type() {
    let loaded = load_paths(&[scenarios_dir()]).unwrap_or_else(|e| panic!("{e}"));
    let covered: BTreeSet<&str> = loaded
        .iter()
        .flat_map(|(_, s)| s.faults.iter().map(|f| f.kind.type_name()))
        .collect();
    let missing: Vec<&&str> = FaultKind::TYPE_NAMES
        .iter()
        .filter(|t| !covered.contains(**t))
        .collect();
    assert!(
        missing.is_empty(),
        "no scenario for fault types {missing:?}"
    );
}

/// The fault a scenario is about: the earliest one (the first listed among equals).
fn first_fault(scenario: &Scenario) -> &Fault {
    scenario
        .faults
        .iter()
        .min_by_key(|f| f.at)
        .unwrap_or_else(|| panic!("{} injects no fault", scenario.name))
}

/// How many shipped files have each fault type as their first fault.
fn files_per_first_fault(loaded: &[(PathBuf, Scenario)]) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&'static str, usize> =
        FaultKind::TYPE_NAMES.iter().map(|t| (*t, 0)).collect();
    for (_, scenario) in loaded {
        *counts
            .entry(first_fault(scenario).kind.type_name())
            .or_default() += 1;
    }
    counts
}

#[test]
fn shipped_suite_is_large_and_covers_each_fault_type_twice() {
    let loaded = load_paths(&[scenarios_dir()]).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        loaded.len() >= 40,
        "the suite has {} scenario files; it needs at least 40",
        loaded.len()
    );
    let counts = files_per_first_fault(&loaded);
    let thin: Vec<(&str, usize)> = counts
        .iter()
        .filter(|(_, n)| **n < 2)
        .map(|(t, n)| (*t, *n))
        .collect();
    assert!(
        thin.is_empty(),
        "fault types that are the first fault of fewer than two files: {thin:?}"
    );
    assert!(
        counts["noop"] >= 4,
        "{} noop controls; the suite needs at least 4",
        counts["noop"]
    );
    assert!(
        counts["transient"] >= 3,
        "{} transient controls; the suite needs at least 3",
        counts["transient"]
    );
}

#[test]
fn shipped_scenarios_are_named_after_their_first_fault() {
    let loaded = load_paths(&[scenarios_dir()]).unwrap_or_else(|e| panic!("{e}"));
    for (path, scenario) in &loaded {
        let kind = first_fault(scenario).kind.type_name();
        assert!(
            scenario.name.starts_with(&format!("{kind}-")),
            "{}: a scenario whose first fault is {kind} is named `{kind}-...`",
            path.display()
        );
    }
}

#[test]
fn shipped_controls_expect_what_controls_should() {
    let loaded = load_paths(&[scenarios_dir()]).unwrap_or_else(|e| panic!("{e}"));
    for (path, scenario) in &loaded {
        let expect = &scenario.expect;
        match first_fault(scenario).kind {
            FaultKind::Noop => {
                assert!(
                    !expect.detect,
                    "{}: a noop control expects no incident",
                    path.display()
                );
                assert_eq!(
                    expect.diagnosis,
                    vec![Category::None],
                    "{}: a noop control has nothing to diagnose",
                    path.display()
                );
                assert!(
                    expect.resolved,
                    "{}: a healthy cluster stays healthy (resolved false would ask for an escalation)",
                    path.display()
                );
            }
            FaultKind::Transient { .. } => {
                assert!(
                    expect.diagnosis.contains(&Category::Transient),
                    "{}: a transient control is diagnosed as transient",
                    path.display()
                );
                assert!(
                    expect.resolved,
                    "{}: a transient burst ends by itself",
                    path.display()
                );
            }
            _ => assert!(
                expect.detect,
                "{}: a fault other than noop or transient should be detected",
                path.display()
            ),
        }
    }
}
