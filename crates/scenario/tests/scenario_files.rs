//! Every scenario shipped in `scenarios/` loads, is named after its file, and together they
//! cover every fault type.

use std::collections::BTreeSet;
use std::path::PathBuf;

use nightshift_scenario::{FaultKind, load_paths};

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
