//! The Helm chart rendered by `scripts/chart render` (Helm's own code, installed into
//! target/tools on first use), read as the RBAC objects the agent runs with.

use std::path::{Path, PathBuf};
use std::process::Command;

use nightshift::eval::rbac::RbacManifest;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The chart rendered with `values` (YAML text of a values file, empty for the defaults).
pub fn chart(dir: &Path, values: &str) -> RbacManifest {
    let mut cmd = Command::new(repo().join("scripts/chart"));
    cmd.arg("render").arg(dir);
    if !values.is_empty() {
        let file = dir.join("values.yaml");
        std::fs::write(&file, values).expect("a values file");
        cmd.arg("-f").arg(file);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("unable to run scripts/chart: {e}"));
    assert!(
        out.status.success(),
        "scripts/chart render failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    RbacManifest::load(&dir.join("manifests.yaml")).unwrap_or_else(|e| panic!("{e}"))
}
