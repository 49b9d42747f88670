//! The agent as the Helm chart's service account, against a simulated cluster that enforces
//! RBAC with the chart's Roles and bindings applied:
//!
//! - a scenario per action kind scores the same as with the cluster administrator, and the
//!   agent is refused nothing (the whole suite runs this way in `scripts/test`'s gate);
//! - a 403 during the evaluation is counted, reported and fails the strict gate;
//! - every write rule of the chart is needed: without it, named actions fail with a 403;
//! - Secrets stay unreadable unless the chart's `rbac.readSecrets` grants them;
//! - `nightshift sim --rbac` serves HTTPS and writes service account tokens.
//!
//! The chart is rendered with Helm's own code by `scripts/chart render`, which installs its
//! tools into target/tools on first use.

use std::process::Command;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, ListParams};
use nightshift::eval::{
    AgentIdentity, EvalOptions, RbacManifest, Rules, ScenarioRun, run_all, run_all_as,
};
use nightshift::lab::LAB_POLICY;
use nightshift_agent::act::{ActError, Actuator, OutcomeStatus};
use nightshift_core::action::ResourceChange;
use nightshift_core::policy::Policy;
use nightshift_core::{Action, ResourceRef, WorkloadKind};
use nightshift_sim::Simulation;
use nightshift_sim::server::{self, AccessOptions, Running, ServeOptions, start_with_access};
use serde_json::{Value, json};

mod common;

use common::chart::{chart, repo};

fn default_chart() -> (tempfile::TempDir, RbacManifest) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = chart(dir.path(), "");
    (dir, manifest)
}

// ---------------------------------------------------------------------------------------------
// The same scores as the chart's service account as as the cluster administrator.

/// One scenario per kind of action the agent takes in the suite.
const ONE_PER_ACTION: &[(&str, &str)] = &[
    ("restart-pod", "dependency-down-orders-postgres"),
    ("rollout-restart", "hang-tax-calculator-all-replicas"),
    ("scale", "scale-to-zero-cart-manual-mistake"),
    ("rollback", "bad-rollout-catalog-crash"),
    ("set-resources", "memory-limit-checkout-oom-undersized"),
    ("cordon-node", "disk-pressure-node-a-log-flood"),
];

/// What must not depend on the agent's credentials: everything but the timings, which move
/// by a few simulated seconds between any two runs (docs/eval.md, "Determinism").
fn outcome(r: &ScenarioRun) -> Value {
    let s = &r.score;
    json!({
        "name": s.name,
        "detected": s.detected,
        "diagnosis": s.diagnosis,
        "diagnosis_correct": s.diagnosis_correct,
        "located": s.located,
        "actions": s.actions,
        "action_ok": s.action_ok,
        "harmful": s.harmful,
        "resolved": s.resolved,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_scenario_per_action_scores_the_same_as_the_chart_service_account_with_no_403() {
    let (_dir, manifest) = default_chart();
    let scenarios: Vec<_> = ONE_PER_ACTION
        .iter()
        .map(|(_, name)| {
            let path = repo().join("scenarios").join(format!("{name}.yaml"));
            let s = nightshift_scenario::load::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
            (path, s)
        })
        .collect();
    let opts = EvalOptions {
        policy: Policy::parse(LAB_POLICY, "deploy/policy.lab.yaml").unwrap(),
        jobs: 2,
        speed: 180.0,
    };
    let admin = run_all(scenarios.clone(), &opts, &Rules, &|_| {})
        .await
        .unwrap();
    let identity = AgentIdentity::ServiceAccount(Arc::new(manifest));
    let least = run_all_as(scenarios, &opts, &identity, &Rules, &|_| {})
        .await
        .unwrap();

    for ((action, _), (a, l)) in ONE_PER_ACTION.iter().zip(admin.iter().zip(&least)) {
        assert_eq!(a.score.forbidden, None, "as admin nothing is enforced");
        assert_eq!(
            l.observation.forbidden,
            Some(vec![]),
            "{}: the chart's service account was refused",
            l.score.name
        );
        assert_eq!(l.score.forbidden, Some(0));
        assert_eq!(
            outcome(a),
            outcome(l),
            "{}: credentials changed the run",
            a.score.name
        );
        assert!(
            l.score
                .actions
                .iter()
                .any(|x| x.starts_with(&format!("{action}@"))),
            "{}: expected a {action}, got {:?}",
            l.score.name,
            l.score.actions
        );
        assert!(l.score.resolved, "{}", l.score.name);
    }
    let report: Value =
        serde_json::from_str(&nightshift::eval::report::json(&least)).expect("JSON report");
    assert_eq!(report["summary"]["forbidden"], 0);
    assert_eq!(report["scenarios"][0]["forbidden"], 0);
    let report: Value =
        serde_json::from_str(&nightshift::eval::report::json(&admin)).expect("JSON report");
    assert!(
        report["summary"].get("forbidden").is_none(),
        "as admin the report is the contract's, unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_in_the_evaluation_is_counted_and_fails_the_strict_gate() {
    let (_dir, manifest) = default_chart();
    // Without the rule for deployments/scale and statefulsets/scale.
    let less = manifest.without_rule("ClusterRole", "nightshift-write", 2);
    let path = repo().join("scenarios/scale-to-zero-cart-manual-mistake.yaml");
    let scenario = nightshift_scenario::load::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let opts = EvalOptions {
        policy: Policy::parse(LAB_POLICY, "deploy/policy.lab.yaml").unwrap(),
        jobs: 1,
        speed: 180.0,
    };
    let identity = AgentIdentity::ServiceAccount(Arc::new(less));
    let runs = run_all_as(vec![(path, scenario)], &opts, &identity, &Rules, &|_| {})
        .await
        .unwrap();
    let run = &runs[0];
    assert!(
        run.score.forbidden.unwrap_or(0) > 0,
        "{:?}",
        run.observation.forbidden
    );
    assert!(
        !run.score.resolved,
        "the agent could not scale the cart back up"
    );
    let gate = nightshift::eval::report::gate(&runs);
    assert!(
        gate.iter().any(|line| line.starts_with(
            "scale-to-zero-cart-manual-mistake: the agent was refused"
        ) && line.contains(
            "deployments.apps \"cart\" is forbidden: User \"system:serviceaccount:nightshift:nightshift\" cannot patch resource \"deployments/scale\" in API group \"apps\" in the namespace \"shop\""
        )),
        "{gate:?}"
    );
    let table = nightshift::eval::report::table(&runs);
    assert!(table.lines().next().unwrap().ends_with(" 403"), "{table}");
    assert!(table.contains("forbidden (403)"), "{table}");
}

// ---------------------------------------------------------------------------------------------
// Each write rule of the chart, and the actions that fail without it.

const WRITE_SCENARIO: &str = r#"name: chart-write-rules
horizon: 6h
cluster:
  nodes:
    - {name: node-a, cpu: "8", memory: 16Gi}
    - {name: node-b, cpu: "8", memory: 16Gi}
  workloads:
    - kind: Deployment
      namespace: shop
      name: web
      replicas: 2
      image: registry.local/shop/web:1.0.0
      resources:
        requests: {cpu: 100m, memory: 128Mi}
        limits: {cpu: 500m, memory: 256Mi}
      behavior: {memory: 100Mi, cpu: 50m, rps: 10, startup: 2s}
    - kind: StatefulSet
      namespace: shop
      name: db
      replicas: 1
      image: registry.local/shop/db:1.0.0
      resources:
        requests: {cpu: 100m, memory: 128Mi}
        limits: {cpu: 500m, memory: 256Mi}
      behavior: {memory: 100Mi, cpu: 50m, rps: 10, startup: 2s}
    - kind: DaemonSet
      namespace: shop
      name: shipper
      image: registry.local/shop/shipper:1.0.0
      service: false
      resources:
        requests: {cpu: 50m, memory: 64Mi}
        limits: {cpu: 200m, memory: 128Mi}
      behavior: {memory: 40Mi, cpu: 10m, rps: 0, startup: 2s}
faults:
  - {at: 5h, type: noop, target: shop/web}
expect:
  detect: false
  diagnosis: [none]
  resolved: true
"#;

/// A cluster enforcing `manifest`, with the scenario's workloads running, a second revision
/// of `shop/web` to roll back from, and a ReplicaSet `shop/solo` that no Deployment owns.
struct WriteCluster {
    sim: Arc<Simulation>,
    running: Running,
    admin: kube::Client,
}

impl Drop for WriteCluster {
    fn drop(&mut self) {
        self.running.clock.abort();
        self.running.server.abort();
    }
}

impl WriteCluster {
    async fn start(manifest: &RbacManifest) -> Self {
        let scenario = nightshift_scenario::parse_str(WRITE_SCENARIO, "chart-write-rules.yaml")
            .unwrap_or_else(|e| panic!("{e}"));
        let sim = Simulation::new(&scenario, 1_767_225_600_000);
        manifest.apply(sim.store()).unwrap();
        let running = start_with_access(
            sim.clone(),
            &ServeOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                // The test moves the clock itself.
                speed: 0.001,
                alert_webhook: None,
                kubeconfig_out: None,
                stop_at_horizon: false,
                field_validation: Default::default(),
            },
            &AccessOptions {
                rbac: true,
                ..AccessOptions::default()
            },
        )
        .await
        .unwrap();
        let mut config = kube::Config::new(server::https_url(running.addr).parse().unwrap());
        config.root_cert = Some(vec![nightshift_sim::api::tls::ca_der()]);
        config.auth_info.token = Some(running.access.admin_token().to_string().into());
        let admin = kube::Client::try_from(config).unwrap();
        let cluster = WriteCluster {
            sim,
            running,
            admin,
        };
        cluster.advance(30).await;
        // A second revision of web, so that rollback has one to return to.
        let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
            Api::namespaced(cluster.admin.clone(), "shop");
        deployments
            .patch(
                "web",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Strategic(json!({"spec": {"template": {"spec": {
                    "containers": [{"name": "web", "image": "registry.local/shop/web:1.0.1"}]
                }}}})),
            )
            .await
            .unwrap();
        // A ReplicaSet of its own, with web's pod template under other labels.
        let web = deployments.get("web").await.unwrap();
        let mut template = serde_json::to_value(web.spec.unwrap().template).unwrap();
        template["metadata"]["labels"] = json!({"app": "solo"});
        let replica_sets: Api<k8s_openapi::api::apps::v1::ReplicaSet> =
            Api::namespaced(cluster.admin.clone(), "shop");
        replica_sets
            .create(
                &Default::default(),
                &serde_json::from_value(json!({
                    "metadata": {"name": "solo", "namespace": "shop"},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": {"app": "solo"}},
                        "template": template,
                    },
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        cluster.advance(30).await;
        cluster
    }

    async fn advance(&self, seconds: u32) {
        let sim = self.sim.clone();
        tokio::task::spawn_blocking(move || {
            for _ in 0..seconds {
                sim.step();
            }
        })
        .await
        .unwrap();
    }

    /// The name of a live pod of `ns` with label `app`.
    async fn pod(&self, ns: &str, app: &str) -> String {
        let pods: Api<Pod> = Api::namespaced(self.admin.clone(), ns);
        pods.list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .find_map(|p| p.metadata.name)
            .unwrap_or_else(|| panic!("no pod of {ns}/{app}"))
    }

    /// An actuator authenticating as the manifest's service account.
    fn actuator(&self, manifest: &RbacManifest) -> Actuator {
        let config = nightshift::eval::rbac::service_account_config(&self.running, manifest)
            .expect("a service account configuration");
        Actuator::from_config(config).expect("an actuator")
    }
}

/// The actions of the catalogue that change the cluster, by the names the test gives them.
const CATALOGUE: &[&str] = &[
    "rollout-restart deployment",
    "rollout-restart statefulset",
    "rollout-restart daemonset",
    "rollback deployment",
    "set-resources deployment",
    "scale deployment",
    "scale statefulset",
    "restart-pod of a Deployment",
    "restart-pod of a bare ReplicaSet",
    "cordon-node",
    "uncordon-node",
    "drain-node",
];

/// The action `name` of [`CATALOGUE`] on the write cluster's objects as they are now (the
/// pods to restart are looked up when the action runs: earlier actions replace pods).
async fn action(cluster: &WriteCluster, name: &str) -> Action {
    let web = ResourceRef::deployment("shop", "web");
    let db = ResourceRef::workload(WorkloadKind::StatefulSet, "shop", "db");
    let shipper = ResourceRef::workload(WorkloadKind::DaemonSet, "shop", "shipper");
    match name {
        "rollout-restart deployment" => Action::RolloutRestart { target: web },
        "rollout-restart statefulset" => Action::RolloutRestart { target: db },
        "rollout-restart daemonset" => Action::RolloutRestart { target: shipper },
        "rollback deployment" => Action::Rollback {
            target: web,
            revision: None,
        },
        "set-resources deployment" => Action::SetResources {
            target: web,
            container: "web".into(),
            change: ResourceChange {
                limits: [("memory".to_string(), "384Mi".to_string())].into(),
                ..ResourceChange::default()
            },
        },
        "scale deployment" => Action::Scale {
            target: web,
            replicas: 3,
        },
        "scale statefulset" => Action::Scale {
            target: db,
            replicas: 2,
        },
        "restart-pod of a Deployment" => Action::RestartPod {
            namespace: "shop".into(),
            pod: cluster.pod("shop", "web").await,
        },
        "restart-pod of a bare ReplicaSet" => Action::RestartPod {
            namespace: "shop".into(),
            pod: cluster.pod("shop", "solo").await,
        },
        "cordon-node" => Action::CordonNode {
            node: "node-a".into(),
        },
        "uncordon-node" => Action::UncordonNode {
            node: "node-a".into(),
        },
        "drain-node" => Action::DrainNode {
            node: "node-b".into(),
        },
        other => panic!("no action {other} in the catalogue"),
    }
}

/// Whether the error says the server refused with a 403.
fn forbidden_error(e: &ActError) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if let Some(kube::Error::Api(status)) = err.downcast_ref::<kube::Error>()
            && status.code == 403
        {
            return true;
        }
        source = err.source();
    }
    false
}

/// Runs every action of the catalogue as the manifest's service account; returns those that
/// failed, each with the 403 messages the server answered while it ran.
async fn refused_actions(manifest: &RbacManifest) -> Vec<(&'static str, Vec<String>)> {
    let cluster = WriteCluster::start(manifest).await;
    let actuator = cluster.actuator(manifest);
    let user = manifest.user();
    let mut refused = Vec::new();
    for (i, name) in CATALOGUE.iter().copied().enumerate() {
        let action = action(&cluster, name).await;
        let before: Vec<_> = cluster.running.access.denials();
        let result = actuator.execute(&action, &format!("lp-{i}")).await;
        let after = cluster.running.access.denials();
        let new: Vec<String> = after
            .iter()
            .filter(|d| d.user == user && !before.contains(d))
            .map(|d| d.message.clone())
            .collect();
        match result {
            Ok(o) if o.status == OutcomeStatus::Applied => {
                assert!(new.is_empty(), "{name} succeeded yet was refused: {new:?}");
            }
            Ok(o) => {
                // A drain that could not evict reports the pods it left behind.
                assert_eq!(o.status, OutcomeStatus::Partial, "{name}: {o:?}");
                let text = format!("{:?}", o.pods);
                assert!(text.contains("forbidden"), "{name}: {text}");
                assert!(!new.is_empty(), "{name}: no 403 was answered: {o:?}");
                refused.push((name, new));
            }
            Err(e) => {
                assert!(
                    forbidden_error(&e),
                    "{name} failed for another reason than a 403: {e:?}"
                );
                assert!(!new.is_empty(), "{name}: no 403 was counted");
                refused.push((name, new));
            }
        }
        cluster.advance(5).await;
    }
    refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_rule_of_the_chart_is_needed_by_a_named_action() {
    let (_dir, manifest) = default_chart();
    assert_eq!(
        refused_actions(&manifest).await,
        vec![],
        "with the whole chart every action is allowed"
    );

    // (role, rule, the resources it names, the actions that must then fail)
    let expected: &[(&str, usize, &[&str])] = &[
        (
            "nightshift-write",
            0,
            &[
                "rollout-restart deployment",
                "rollout-restart statefulset",
                "rollout-restart daemonset",
                "rollback deployment",
                "set-resources deployment",
                "scale deployment",
                "scale statefulset",
                "restart-pod of a Deployment",
            ],
        ),
        ("nightshift-write", 1, &["restart-pod of a bare ReplicaSet"]),
        (
            "nightshift-write",
            2,
            &["scale deployment", "scale statefulset"],
        ),
        (
            "nightshift-write",
            3,
            &[
                "restart-pod of a Deployment",
                "restart-pod of a bare ReplicaSet",
                "drain-node",
            ],
        ),
        (
            "nightshift-nodes",
            0,
            &["cordon-node", "uncordon-node", "drain-node"],
        ),
    ];
    let write_rules = manifest
        .rules("ClusterRole", "nightshift-write")
        .unwrap()
        .len();
    let node_rules = manifest
        .rules("ClusterRole", "nightshift-nodes")
        .unwrap()
        .len();
    assert_eq!(
        (write_rules, node_rules),
        (4, 1),
        "a write rule was added or removed: give it a row here"
    );
    let mut table = String::new();
    for (role, index, must_fail) in expected {
        let rule = manifest.rules("ClusterRole", role).unwrap()[*index].clone();
        let less = manifest.without_rule("ClusterRole", role, *index);
        let refused = refused_actions(&less).await;
        let names: Vec<&str> = refused.iter().map(|(n, _)| *n).collect();
        assert_eq!(&names, must_fail, "without {role} rule {index}: {rule}");
        let resources: Vec<String> = rule["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        for (name, messages) in &refused {
            assert!(
                messages.iter().all(|m| m.contains("is forbidden")
                    && resources
                        .iter()
                        .any(|r| m.contains(&format!("resource \"{r}\"")))),
                "{name} without {role} rule {index} ({resources:?}) was refused otherwise: {messages:?}"
            );
        }
        table.push_str(&format!("{role} {resources:?}: {names:?}\n"));
    }
    eprintln!("{table}");
}

// ---------------------------------------------------------------------------------------------
// Secrets.

/// Whether the manifest's service account can read the Secret `shop/db-password`, and see its
/// data, on a cluster enforcing the manifest.
async fn reads_secret(manifest: &RbacManifest) -> Result<Secret, u16> {
    let scenario = nightshift_scenario::parse_str(
        &WRITE_SCENARIO.replace(
            "  workloads:",
            "  configs: [secret/shop/db-password]\n  workloads:",
        ),
        "chart-secrets.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let sim = Simulation::new(&scenario, 1_767_225_600_000);
    manifest.apply(sim.store()).unwrap();
    let running = start_with_access(
        sim,
        &ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            speed: 0.001,
            alert_webhook: None,
            kubeconfig_out: None,
            stop_at_horizon: false,
            field_validation: Default::default(),
        },
        &AccessOptions {
            rbac: true,
            ..AccessOptions::default()
        },
    )
    .await
    .unwrap();
    let config = nightshift::eval::rbac::service_account_config(&running, manifest).unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "shop");
    let listed = Api::<Secret>::all(client)
        .list(&ListParams::default())
        .await;
    let got = secrets.get("db-password").await;
    running.clock.abort();
    running.server.abort();
    match (listed, got) {
        (Ok(_), Ok(secret)) => Ok(secret),
        (Err(kube::Error::Api(a)), Err(kube::Error::Api(b))) if a.code == b.code => Err(a.code),
        other => panic!("list and get disagree: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_unreadable_unless_the_chart_values_grant_them() {
    let (_dir, manifest) = default_chart();
    assert_eq!(
        reads_secret(&manifest).await.map(|_| ()),
        Err(403),
        "the default chart grants no Secrets"
    );

    let dir = tempfile::tempdir().unwrap();
    let granted = chart(dir.path(), "rbac:\n  readSecrets: true\n");
    let secret = reads_secret(&granted)
        .await
        .expect("rbac.readSecrets grants get and list on Secrets");
    assert!(
        secret.data.is_some_and(|d| !d.is_empty()),
        "and the data comes with them"
    );
}

// ---------------------------------------------------------------------------------------------
// `nightshift sim --rbac`.

/// The simulated cluster's process, ended when the test is done with it.
struct SimProcess(std::process::Child);

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_with_rbac_serves_https_and_writes_service_account_tokens() {
    let bin = env!("CARGO_BIN_EXE_nightshift");
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = dir.path().join("kubeconfig");
    let tokens = dir.path().join("tokens");
    let scenario = repo().join("scenarios/noop-quiet-shop.yaml");
    let args = |extra: &[&str]| {
        let mut cmd = Command::new(bin);
        cmd.arg("sim")
            .arg("--scenario")
            .arg(&scenario)
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        cmd
    };

    let refused = args(&["--service-account", "nightshift/nightshift"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "tokens need a folder");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--service-account-tokens <DIR>"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let refused = args(&[
        "--service-account-tokens",
        "/tmp/x",
        "--service-account",
        "nightshift",
    ])
    .output()
    .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("must be written namespace/name"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let _sim = SimProcess(
        args(&[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--rbac",
            "--kubeconfig-out",
            kubeconfig.to_str().unwrap(),
            "--service-account-tokens",
            tokens.to_str().unwrap(),
            "--service-account",
            "nightshift/nightshift",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !(kubeconfig.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the sim did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let written = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        written.contains(&format!("server: https://127.0.0.1:{port}"))
            && written.contains("certificate-authority-data:"),
        "{written}"
    );
    let admin_token = written
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .expect("the kubeconfig carries the admin token")
        .to_string();
    let mounted = tokens.join("nightshift/nightshift");
    assert_eq!(
        std::fs::read_to_string(mounted.join("namespace")).unwrap(),
        "nightshift"
    );
    assert_eq!(
        std::fs::read_to_string(mounted.join("ca.crt")).unwrap(),
        nightshift_sim::api::tls::CA_PEM
    );
    let client = |token: String| {
        let mut config = kube::Config::new(format!("https://127.0.0.1:{port}").parse().unwrap());
        config.root_cert = Some(vec![nightshift_sim::api::tls::ca_der()]);
        config.auth_info.token = Some(token.into());
        kube::Client::try_from(config).unwrap()
    };
    let agent = client(std::fs::read_to_string(mounted.join("token")).unwrap());
    let pods: Api<Pod> = Api::all(agent);
    match pods.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 401, "no ServiceAccount yet: {s:?}"),
        other => panic!("expected 401: {other:?}"),
    }
    let admin = client(admin_token);
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
    namespaces
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": "nightshift"}})).unwrap(),
        )
        .await
        .unwrap();
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(admin, "nightshift");
    accounts
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": "nightshift"}})).unwrap(),
        )
        .await
        .unwrap();
    match pods.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(
            s.message,
            "pods is forbidden: User \"system:serviceaccount:nightshift:nightshift\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
        ),
        other => panic!("expected 403: {other:?}"),
    }
}
