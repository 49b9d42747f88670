//! `nightshift sim --wall-clock-timestamps`: at any speed, simulated time catches up with the
//! wall clock and then keeps its pace, so no object is stamped in the future.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Process, free_port, scenario_path, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_nightshift");

/// The newest node Lease renewal of the cluster, in ms since the epoch.
fn newest_renewal(kubeconfig: &Path) -> Option<i64> {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["get", "leases", "-n", "kube-node-lease", "-o", "json"])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["items"]
        .as_array()?
        .iter()
        .filter_map(|l| l["spec"]["renewTime"].as_str())
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
        .max()
}

#[test]
fn timestamps_never_run_ahead_of_the_wall_clock() {
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubectl is not installed but CI is set"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let kubeconfig = dir.path().join("kubeconfig");
    // Thirty seconds behind the wall clock, at 600 times real time: unbound, simulated time
    // would be twenty minutes ahead within three seconds.
    let start = chrono::Utc::now() - chrono::Duration::seconds(30);
    let args: Vec<String> = [
        "sim",
        "--scenario",
        &scenario_path("noop-quiet-shop").display().to_string(),
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--speed",
        "600",
        "--start",
        &start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "--kubeconfig-out",
        &kubeconfig.display().to_string(),
        "--wall-clock-timestamps",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut p = Process::spawn(Path::new(BIN), "sim", dir.path(), &args, &[]);
    wait_for("the simulated cluster", Duration::from_secs(120), || {
        assert!(p.running(), "the simulated cluster exited:\n{}", p.output());
        (kubeconfig.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let renewed = wait_for("a lease", Duration::from_secs(30), || {
        newest_renewal(&kubeconfig)
    });
    let now = chrono::Utc::now().timestamp_millis();
    // Caught up (leases are renewed every ten simulated seconds), and not ahead.
    assert!(renewed <= now, "renewed {} ms in the future", renewed - now);
    assert!(renewed >= now - 25_000, "renewed {} ms ago", now - renewed);
}
