//! Real kubectl against the running simulated cluster: each command's effect is asserted on the
//! simulation's state.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use nightshift_sim::Simulation;
use nightshift_sim::server::{Running, ServeOptions, start, write_kubeconfig};

const SCENARIO: &str = r#"
name: kubectl-tour
horizon: 2h
cluster:
  nodes:
    - {name: node-a, cpu: "4", memory: 8Gi}
    - {name: node-b, cpu: "4", memory: 8Gi}
  workloads:
    - kind: Deployment
      namespace: shop
      name: web
      replicas: 2
      image: registry.local/shop/web:1.0.0
      resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 500m, memory: 256Mi}}
      logs:
        every: 2s
        lines: ["INFO GET /index status=200 duration_ms={int:1..9}"]
    - kind: Deployment
      namespace: shop
      name: worker
      replicas: 1
      image: registry.local/shop/worker:1.0.0
    - {kind: DaemonSet, namespace: kube-system, name: node-agent, image: registry.local/node-agent:1.0.0, service: false}
faults:
  - {at: 20s, type: crash, target: shop/worker}
expect:
  detect: true
  diagnosis: [app/crash]
  locate: shop/worker
  actions: {acceptable: [escalate]}
  resolved: false
"#;

fn kubectl_available() -> bool {
    let ok = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "kubectl is not installed but CI is set"
    );
    ok
}

struct Tour {
    sim: Arc<Simulation>,
    running: Running,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tour {
    fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("HOME", self._dir.path())
            .env("KUBECACHEDIR", self._dir.path().join("cache"))
            .output()
            .expect("kubectl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.kubectl(args);
        assert!(ok, "kubectl {args:?} failed:\n{text}");
        text
    }

    fn deployment(&self, name: &str) -> Arc<Deployment> {
        self.sim
            .store()
            .get_typed::<Deployment>("shop", name)
            .expect("deployment exists")
    }

    async fn until(&self, what: &str, f: impl Fn(&Simulation) -> bool) {
        for _ in 0..600 {
            if f(&self.sim) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

fn ready_web_pods(sim: &Simulation) -> usize {
    sim.store()
        .list_typed::<Pod>(Some("shop"))
        .iter()
        .filter(|p| {
            p.metadata.name.as_deref().unwrap_or("").starts_with("web-")
                && p.metadata.deletion_timestamp.is_none()
        })
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count()
}

async fn tour() -> Option<Tour> {
    if !kubectl_available() {
        eprintln!("kubectl is not installed: skipping");
        return None;
    }
    let scenario = nightshift_scenario::parse_str(SCENARIO, "kubectl-tour.yaml").unwrap();
    let start_ms = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let sim = Simulation::new(&scenario, start_ms);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let running = start(
        sim.clone(),
        &ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            speed: 20.0,
            alert_webhook: None,
            kubeconfig_out: None,
            stop_at_horizon: false,
            field_validation: Default::default(),
        },
    )
    .await
    .unwrap();
    write_kubeconfig(&kubeconfig, &format!("http://{}", running.addr), "sim").unwrap();
    Some(Tour {
        sim,
        running,
        kubeconfig,
        _dir: dir,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_commands_change_the_simulated_cluster() {
    let Some(t) = tour().await else { return };
    t.until("web ready", |s| ready_web_pods(s) == 2).await;

    // get pods -o wide: names, nodes and IPs as the sim has them.
    let wide = t.ok(&["get", "pods", "-n", "shop", "-o", "wide"]);
    for p in t
        .sim
        .store()
        .list_typed::<Pod>(Some("shop"))
        .iter()
        .filter(|p| p.metadata.name.as_deref().unwrap_or("").starts_with("web-"))
    {
        let name = p.metadata.name.as_deref().unwrap();
        let line = wide
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing from:\n{wide}"));
        assert!(
            line.contains(p.spec.as_ref().unwrap().node_name.as_deref().unwrap()),
            "{line}"
        );
        assert!(line.contains("Running"), "{line}");
    }

    // The crash fault: describe shows the back-off, logs --previous the panic.
    t.until("worker restarted twice", |s| {
        s.store().list_typed::<Pod>(Some("shop")).iter().any(|p| {
            p.metadata
                .name
                .as_deref()
                .unwrap_or("")
                .starts_with("worker-")
                && p.status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .is_some_and(|c| c[0].restart_count >= 2)
        })
    })
    .await;
    let worker = t
        .sim
        .store()
        .list_typed::<Pod>(Some("shop"))
        .iter()
        .find(|p| {
            p.metadata
                .name
                .as_deref()
                .unwrap_or("")
                .starts_with("worker-")
        })
        .unwrap()
        .metadata
        .name
        .clone()
        .unwrap();
    let describe = t.ok(&["describe", "pod", "-n", "shop", &worker]);
    assert!(
        describe.contains("Last State:     Terminated"),
        "{describe}"
    );
    assert!(
        describe.contains("Back-off restarting failed container worker"),
        "{describe}"
    );
    let previous = t.ok(&["logs", "-n", "shop", &worker, "--previous"]);
    assert!(previous.contains("panic: runtime error"), "{previous}");
    let events = t.ok(&["get", "events", "-n", "shop"]);
    assert!(
        events.contains("BackOff") && events.contains("ScalingReplicaSet"),
        "{events}"
    );

    // top pods: metrics.k8s.io from the running containers.
    let top = t.ok(&["top", "pods", "-n", "shop"]);
    assert!(
        top.lines()
            .any(|l| l.starts_with("web-") && l.contains("Mi")),
        "{top}"
    );

    // scale.
    t.ok(&["scale", "-n", "shop", "deployment/web", "--replicas=3"]);
    assert_eq!(t.deployment("web").spec.as_ref().unwrap().replicas, Some(3));
    t.until("3 web pods ready", |s| ready_web_pods(s) == 3)
        .await;

    // rollout restart: a new revision; rollout status waits for it.
    t.ok(&["rollout", "restart", "-n", "shop", "deployment/web"]);
    let annotations = t
        .deployment("web")
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .clone()
        .unwrap_or_default();
    assert!(annotations.contains_key("kubectl.kubernetes.io/restartedAt"));
    let status = t.ok(&[
        "rollout",
        "status",
        "-n",
        "shop",
        "deployment/web",
        "--timeout=60s",
    ]);
    assert!(status.contains("successfully rolled out"), "{status}");
    assert_eq!(
        t.deployment("web").metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"],
        "2"
    );

    // rollout undo: back to revision 1's template, as revision 3.
    t.ok(&["rollout", "undo", "-n", "shop", "deployment/web"]);
    t.until("undo rolled out", |s| {
        s.store()
            .get_typed::<Deployment>("shop", "web")
            .is_some_and(|d| {
                d.metadata.annotations.as_ref().is_some_and(|a| {
                    a.get("deployment.kubernetes.io/revision")
                        .map(String::as_str)
                        == Some("3")
                }) && d
                    .spec
                    .as_ref()
                    .unwrap()
                    .template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.annotations.as_ref())
                    .is_none_or(|a| !a.contains_key("kubectl.kubernetes.io/restartedAt"))
            })
    })
    .await;
    let rs = t.sim.store().list_typed::<ReplicaSet>(Some("shop"));
    assert_eq!(
        rs.iter()
            .filter(|r| r.metadata.name.as_deref().unwrap_or("").starts_with("web-"))
            .count(),
        2,
        "undo reuses revision 1's ReplicaSet"
    );

    // cordon, then drain --ignore-daemonsets: node-a ends unschedulable and empty of shop pods.
    t.ok(&["cordon", "node-a"]);
    let node = t.sim.store().get_typed::<Node>("", "node-a").unwrap();
    assert_eq!(node.spec.as_ref().unwrap().unschedulable, Some(true));
    let drain = t.ok(&["drain", "node-a", "--ignore-daemonsets", "--timeout=60s"]);
    assert!(drain.contains("drained"), "{drain}");
    t.until("no shop pods on node-a", |s| {
        !s.store()
            .list_typed::<Pod>(Some("shop"))
            .iter()
            .any(|p| p.spec.as_ref().and_then(|x| x.node_name.as_deref()) == Some("node-a"))
    })
    .await;
    // The DaemonSet pod stays.
    assert!(
        t.sim
            .store()
            .list_typed::<Pod>(Some("kube-system"))
            .iter()
            .any(|p| p.spec.as_ref().and_then(|x| x.node_name.as_deref()) == Some("node-a"))
    );
    t.ok(&["uncordon", "node-a"]);
    assert_ne!(
        t.sim
            .store()
            .get_typed::<Node>("", "node-a")
            .unwrap()
            .spec
            .as_ref()
            .unwrap()
            .unschedulable,
        Some(true)
    );

    t.running.server.abort();
    t.running.clock.abort();
}
