//! In-cluster configuration: `nightshift run` with no kubeconfig, inside a pod, reaches the API
//! server at `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` with its mounted
//! service account (token, CA, namespace). Here the "pod" is the real binary with those
//! variables pointing at a simulated cluster that enforces authentication and RBAC with the
//! Helm chart's ServiceAccount, Roles and bindings applied, and the mount is the token
//! directory the simulated cluster writes for that service account.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::chart::chart;
use common::record::until_incident;
use common::{Process, free_port, lab_policy_path, scenario_path, start_agent, wait_for};
use nightshift_core::State;
use nightshift_store::Store;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_nightshift");

/// `nightshift sim --rbac` with a token directory for the service account `account`
/// (`NS/NAME`); returns the process, the admin kubeconfig and the API port.
fn sim(dir: &Path, webhook: &str, account: &str) -> (Process, PathBuf, u16) {
    let port = free_port();
    let kubeconfig = dir.join("kubeconfig");
    let args: Vec<String> = [
        "sim",
        "--scenario",
        &scenario_path("hang-orders-worker-deadlock")
            .display()
            .to_string(),
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--speed",
        "30",
        "--kubeconfig-out",
        &kubeconfig.display().to_string(),
        "--alert-webhook",
        webhook,
        "--rbac",
        "--service-account-tokens",
        &dir.join("tokens").display().to_string(),
        "--service-account",
        account,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut p = Process::spawn(Path::new(BIN), "sim", dir, &args, &[]);
    wait_for("the simulated cluster", Duration::from_secs(120), || {
        assert!(p.running(), "the simulated cluster exited:\n{}", p.output());
        (kubeconfig.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
            .then_some(())
    });
    (p, kubeconfig, port)
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The agent's configuration: no kubeconfig.
fn config(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join("nightshift.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:{port}\nstore: sqlite://{}?mode=rwc\npolicy: {}\nwatchers: false\n\
             settle: 1s\npoll: 200ms\nstabilization: 60s\nverify_deadline: 10m\n",
            dir.join("record.db").display(),
            lab_policy_path().display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_in_a_pod_uses_its_service_account() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let agent_port = free_port();
    let webhook = format!("http://127.0.0.1:{agent_port}/api/v1/alerts/alertmanager");
    // The chart's own RBAC objects, and the namespaces they live in.
    let rendered = d.join("chart");
    std::fs::create_dir_all(&rendered).unwrap();
    let manifest = chart(&rendered, "");
    let sa = &manifest.service_account;
    let account = format!("{}/{}", sa.namespace, sa.name);
    let (_sim, admin, api_port) = sim(d, &webhook, &account);
    let mut namespaces: BTreeSet<String> = manifest
        .objects
        .iter()
        .filter_map(|o| o["metadata"]["namespace"].as_str().map(str::to_string))
        .collect();
    namespaces.insert(sa.namespace.clone());
    let mut items: Vec<Value> = namespaces
        .iter()
        .map(|ns| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
        .collect();
    items.extend(manifest.objects.iter().cloned());
    // One file per object, namespaces first (kubectl applies a folder in name order).
    let list = d.join("rbac");
    std::fs::create_dir_all(&list).unwrap();
    for (i, item) in items.iter().enumerate() {
        std::fs::write(list.join(format!("{i:03}.json")), item.to_string()).unwrap();
    }
    kubectl(&admin, &["apply", "-f", &list.display().to_string()]);
    let mount = d.join("tokens").join(&sa.namespace).join(&sa.name);
    for f in ["token", "ca.crt", "namespace"] {
        assert!(mount.join(f).is_file(), "the mount holds {f}");
    }
    let port = api_port.to_string();
    let config = config(d, agent_port);
    let _agent = start_agent(
        Path::new(BIN),
        d,
        "agent",
        &config,
        agent_port,
        &[
            ("KUBERNETES_SERVICE_HOST", Path::new("127.0.0.1")),
            ("KUBERNETES_SERVICE_PORT", Path::new(&port)),
            ("NIGHTSHIFT_SERVICE_ACCOUNT_DIR", &mount),
            ("KUBECONFIG", Path::new("/nonexistent")),
        ],
    );
    // The whole loop through the service account: reads for evidence, the restart, the
    // verification.
    let store = Store::open(&format!(
        "sqlite://{}?mode=rwc",
        d.join("record.db").display()
    ))
    .await
    .unwrap();
    let closed = until_incident(
        &store,
        Duration::from_secs(180),
        "the incident handled through the service account",
        |i| matches!(i.incident.state, State::Closed | State::Escalated),
    )
    .await;
    assert_eq!(closed.incident.state, State::Closed);
}

#[test]
fn a_pod_without_its_mount_is_told_where_the_token_should_be() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();
    let config = config(d, port);
    let out = Command::new(BIN)
        .args(["run", "--config", &config.display().to_string()])
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", "1")
        .env("NIGHTSHIFT_SERVICE_ACCOUNT_DIR", d.join("missing"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("in-cluster configuration"), "{err}");
    assert!(err.contains("missing/token"), "{err}");
    assert!(err.contains("NIGHTSHIFT_SERVICE_ACCOUNT_DIR"), "{err}");
}
