//! The objects, kinds and lifecycles of a real cluster, checked with kubectl 1.32 and kube-rs
//! against a running simulation: Jobs, ReplicationControllers, events.k8s.io Events, the
//! namespace lifecycle, the default objects, node Leases, change causes, image pulls, a bad
//! release's own log lines, service IP allocation and pod admission defaults. Each assertion
//! says what kube-apiserver 1.34 answers.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use nightshift_sim::Simulation;
use serde_json::Value;

use crate::harness;
use crate::jobs::job_condition;

pub(crate) const SCENARIO: &str = r#"
name: cluster-objects
horizon: 2h
cluster:
  nodes:
    - {name: node-a, cpu: "8", memory: 16Gi}
    - {name: node-b, cpu: "8", memory: 16Gi}
  workloads:
    - kind: Deployment
      namespace: shop
      name: catalog
      replicas: 2
      image: registry.local/shop/catalog:3.3.2
      resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 500m, memory: 256Mi}}
faults:
  - at: 30s
    type: bad-rollout
    target: shop/catalog
    params: {image: registry.local/shop/catalog:3.4.0, effect: crash}
    logs:
      - 'INFO catalog 3.4.0 starting, schema version expected=58'
      - 'FATAL schema check failed: database is at version 57, expected 58'
expect:
  detect: true
  diagnosis: [deploy/bad-release]
  locate: shop/catalog
  actions: {acceptable: [rollback]}
  resolved: true
"#;

/// The harness's cluster running this file's scenario, with kubectl run synchronously.
pub(crate) struct Cluster(harness::Cluster);

impl std::ops::Deref for Cluster {
    type Target = harness::Cluster;

    fn deref(&self) -> &harness::Cluster {
        &self.0
    }
}

impl Cluster {
    pub(crate) async fn start(speed: f64) -> Option<Cluster> {
        harness::Cluster::start_scenario(SCENARIO, "cluster-objects.yaml", speed)
            .await
            .map(Cluster)
    }

    pub(crate) fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("HOME", self.dir())
            .env("KUBECACHEDIR", self.dir().join("cache"))
            .output()
            .expect("kubectl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.kubectl(args);
        assert!(ok, "kubectl {args:?} failed:\n{text}");
        text
    }

    pub(crate) fn fails(&self, args: &[&str]) -> String {
        let (ok, text) = self.kubectl(args);
        assert!(!ok, "kubectl {args:?} should have failed:\n{text}");
        text
    }

    /// A `kubectl create ...`/`kubectl run ...` command (kubectl sends these as protobuf),
    /// with `extra` flags put before any `--`.
    pub(crate) fn create_cmd(&self, args: &[&str], extra: &[&str]) -> (bool, String) {
        let mut all = args.to_vec();
        let at = all.iter().position(|a| *a == "--").unwrap_or(all.len());
        all.splice(at..at, extra.iter().copied());
        self.kubectl(&all)
    }

    pub(crate) fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    pub(crate) fn client(&self) -> kube::Client {
        let mut config = kube::Config::new(
            format!("http://{}", self.running.addr)
                .parse()
                .expect("valid url"),
        );
        config.default_retry = false;
        kube::Client::try_from(config).expect("kube client")
    }

    pub(crate) async fn until(&self, what: &str, f: impl Fn(&Simulation) -> bool) {
        for _ in 0..1200 {
            if f(&self.sim) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    pub(crate) async fn until_kubectl(
        &self,
        what: &str,
        args: &[&str],
        f: impl Fn(&str) -> bool,
    ) -> String {
        let mut last = String::new();
        for _ in 0..300 {
            let (_, text) = self.kubectl(args);
            if f(&text) {
                return text;
            }
            last = text;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {what}; last output:\n{last}");
    }
}

const RC_MANIFEST: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: shop}
spec:
  selector: {app: legacy}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy, namespace: shop}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers: [{name: legacy, image: registry.local/shop/legacy:1.0}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_with_a_replication_controller_applies_and_runs() {
    let Some(c) = Cluster::start(20.0).await else {
        return;
    };
    let path = c.file("legacy.yaml", RC_MANIFEST);
    let out = c.ok(&["apply", "-f", &path]);
    assert!(out.contains("service/legacy created"), "{out}");
    assert!(
        out.contains("replicationcontroller/legacy created"),
        "{out}"
    );
    // kubectl get rc: NAME DESIRED CURRENT READY AGE, 2 2 2 once the pods are Ready.
    let table = c
        .until_kubectl("rc ready", &["get", "rc", "legacy", "-n", "shop"], |t| {
            t.lines()
                .nth(1)
                .is_some_and(|l| l.split_whitespace().take(4).eq(["legacy", "2", "2", "2"]))
        })
        .await;
    assert!(
        table
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .eq(["NAME", "DESIRED", "CURRENT", "READY", "AGE"]),
        "{table}"
    );
    let rc = c.json(&["get", "rc", "legacy", "-n", "shop"]);
    // The selector defaults to the template's labels.
    assert_eq!(rc["spec"]["selector"]["app"], "legacy");
    let pods = c.json(&["get", "pods", "-n", "shop", "-l", "app=legacy"]);
    let owner = &pods["items"][0]["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["apiVersion"].as_str(), owner["kind"].as_str()),
        (Some("v1"), Some("ReplicationController"))
    );
    // Scaled like a ReplicaSet.
    c.ok(&["scale", "rc", "legacy", "-n", "shop", "--replicas=1"]);
    c.until_kubectl("rc scaled", &["get", "rc", "legacy", "-n", "shop"], |t| {
        t.lines()
            .nth(1)
            .is_some_and(|l| l.split_whitespace().take(3).eq(["legacy", "1", "1"]))
    })
    .await;
    // The Service finds its pod.
    c.until_kubectl(
        "endpoints",
        &["get", "endpoints", "legacy", "-n", "shop"],
        |t| t.contains(":8080"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_leases_services_history_and_admission_defaults() {
    let Some(c) = Cluster::start(20.0).await else {
        return;
    };
    // kubectl describe node: the Lease is there, renewed.
    let describe = c.ok(&["describe", "node", "node-a"]);
    assert!(!describe.contains("Failed to get lease"), "{describe}");
    assert!(describe.contains("HolderIdentity:  node-a"), "{describe}");
    let lease = c.json(&["get", "lease", "node-a", "-n", "kube-node-lease"]);
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
    let renewed = lease["spec"]["renewTime"].as_str().unwrap().to_string();
    c.until_kubectl(
        "lease renewed",
        &[
            "get",
            "lease",
            "node-a",
            "-n",
            "kube-node-lease",
            "-o",
            "jsonpath={.spec.renewTime}",
        ],
        |t| !t.is_empty() && t != renewed,
    )
    .await;

    // The kubernetes Service in default.
    let svc = c.json(&["get", "svc", "kubernetes", "-n", "default"]);
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.1");
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
    assert_eq!(svc["metadata"]["labels"]["component"], "apiserver");
    assert_eq!(svc["metadata"]["labels"]["provider"], "kubernetes");
    // Allocated cluster IPs; a taken one is refused with 422.
    let (ok, out) = c.create_cmd(
        &[
            "create",
            "service",
            "clusterip",
            "a",
            "--tcp=80:8080",
            "-n",
            "shop",
        ],
        &[],
    );
    assert!(ok, "{out}");
    let a = c.json(&["get", "svc", "a", "-n", "shop"]);
    let ip = a["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.") && a["spec"]["clusterIPs"][0] == ip.as_str());
    assert_eq!(a["spec"]["ipFamilies"], serde_json::json!(["IPv4"]));
    assert_eq!(a["spec"]["ipFamilyPolicy"], "SingleStack");
    assert_eq!(a["spec"]["internalTrafficPolicy"], "Cluster");
    let (ok, err) = c.create_cmd(
        &[
            "create",
            "service",
            "clusterip",
            "b",
            "--tcp=80",
            "-n",
            "shop",
            &format!("--clusterip={ip}"),
        ],
        &[],
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains(&format!("Service \"b\" is invalid: spec.clusterIPs: Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: provided IP is already allocated")),
        "{err}"
    );
    let (ok, out) = c.create_cmd(
        &[
            "create", "service", "nodeport", "np", "--tcp=80", "-n", "shop",
        ],
        &[],
    );
    assert!(ok, "{out}");
    let np = c.json(&["get", "svc", "np", "-n", "shop"]);
    let port = np["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&port), "{np}");

    // Pod admission defaults, seen on a server-side dry run.
    let (ok, out) = c.create_cmd(
        &["run", "p", "--image=nginx:1.27", "-n", "shop"],
        &["--dry-run=server", "-o", "json"],
    );
    assert!(ok, "{out}");
    let pod: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["status"]["qosClass"], "BestEffort");
    let spec = &pod["spec"];
    assert_eq!(spec["serviceAccountName"], "default");
    assert_eq!(spec["enableServiceLinks"], true);
    assert_eq!(spec["priority"], 0);
    assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(spec["containers"][0]["terminationMessagePolicy"], "File");
    assert_eq!(spec["tolerations"].as_array().unwrap().len(), 2);
    let (ok, out) = c.create_cmd(
        &["run", "g", "--image=nginx:1.27", "-n", "shop", "--overrides",
            r#"{"spec":{"containers":[{"name":"g","image":"nginx:1.27","resources":{"limits":{"cpu":"1","memory":"1Gi"}}}]}}"#],
        &["--dry-run=server", "-o", "json"],
    );
    assert!(ok, "{out}");
    let limited: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(limited["status"]["qosClass"], "Guaranteed");

    // kubectl rollout history lists the change causes.
    let (ok, out) = c.create_cmd(
        &[
            "create",
            "deployment",
            "hist",
            "--image=nginx:1.25",
            "-n",
            "shop",
        ],
        &[],
    );
    assert!(ok, "{out}");
    c.ok(&[
        "annotate",
        "deployment",
        "hist",
        "-n",
        "shop",
        "kubernetes.io/change-cause=first release",
    ]);
    c.until_kubectl(
        "first revision",
        &["rollout", "history", "deployment/hist", "-n", "shop"],
        |t| t.contains("first release"),
    )
    .await;
    c.ok(&[
        "set",
        "image",
        "deployment/hist",
        "nginx=nginx:1.26",
        "-n",
        "shop",
    ]);
    c.ok(&[
        "annotate",
        "deployment",
        "hist",
        "-n",
        "shop",
        "--overwrite",
        "kubernetes.io/change-cause=bump to 1.26",
    ]);
    let history = c
        .until_kubectl(
            "second revision",
            &["rollout", "history", "deployment/hist", "-n", "shop"],
            |t| t.contains("bump to 1.26"),
        )
        .await;
    assert!(history.contains("CHANGE-CAUSE"), "{history}");
    let row2 = history
        .lines()
        .find(|l| l.trim_start().starts_with('2'))
        .unwrap();
    assert!(row2.contains("bump to 1.26"), "{history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_release_prints_its_faults_lines() {
    let Some(c) = Cluster::start(20.0).await else {
        return;
    };
    // The fault at 30s rolls out 3.4.0, whose pods crash with the fault's lines.
    c.until("a 3.4.0 pod restarted", |s| {
        s.store().list_typed::<Pod>(Some("shop")).iter().any(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .is_some_and(|cs| cs[0].image.ends_with(":3.4.0") && cs[0].restart_count >= 1)
        })
    })
    .await;
    let pods = c.json(&["get", "pods", "-n", "shop"]);
    let bad = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .ends_with(":3.4.0")
                && p["status"]["containerStatuses"][0]["restartCount"].as_i64() >= Some(1)
        })
        .unwrap();
    let name = bad["metadata"]["name"].as_str().unwrap();
    let logs = c.ok(&["logs", name, "-n", "shop", "--previous"]);
    assert!(
        logs.contains("FATAL schema check failed: database is at version 57, expected 58"),
        "{logs}"
    );
    assert!(!logs.contains("panic: runtime error"), "{logs}");
}

/// The cluster of [`SCENARIO`] stepped `seconds` simulated seconds, without a server.
pub(crate) fn stepped(yaml: &str, seconds: u32) -> Arc<Simulation> {
    let scenario = nightshift_scenario::parse_str(yaml, "stepped.yaml").unwrap();
    let sim = Simulation::new(&scenario, 1_767_225_600_000);
    for _ in 0..seconds {
        sim.step();
    }
    sim
}

pub(crate) fn step(sim: &Simulation, seconds: u32) {
    for _ in 0..seconds {
        sim.step();
    }
}

#[test]
fn a_hung_process_prints_its_faults_lines_then_falls_silent() {
    use nightshift_sim::telemetry::Telemetry;
    let yaml = SCENARIO.replace(
        "  - at: 30s\n    type: bad-rollout\n    target: shop/catalog\n    params: {image: registry.local/shop/catalog:3.4.0, effect: crash}\n    logs:\n      - 'INFO catalog 3.4.0 starting, schema version expected=58'\n      - 'FATAL schema check failed: database is at version 57, expected 58'\n",
        "  - at: 30s\n    type: hang\n    target: shop/catalog\n    logs: ['WARN worker pool exhausted: 0/16 threads free']\n",
    );
    assert!(yaml.contains("type: hang"));
    let sim = stepped(&yaml, 90);
    let pods = sim.store().list_typed::<Pod>(Some("shop"));
    let logs: Vec<Vec<String>> = pods
        .iter()
        .map(|p| {
            sim.logs("shop", p.metadata.name.as_deref().unwrap(), None, false)
                .unwrap()
                .into_iter()
                .map(|l| l.text)
                .collect()
        })
        .collect();
    // One replica hangs: its last line is the fault's, and nothing follows.
    let hung: Vec<&Vec<String>> = logs
        .iter()
        .filter(|l| l.iter().any(|t| t.contains("worker pool exhausted")))
        .collect();
    assert_eq!(hung.len(), 1, "{logs:?}");
    assert_eq!(
        hung[0].last().unwrap(),
        "WARN worker pool exhausted: 0/16 threads free"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_runs_a_job_and_meets_a_terminating_namespace() {
    let Some(c) = crate::harness::Cluster::start().await else {
        return;
    };
    // A Job created with BatchV1Api: the defaults come back, and it completes.
    let out = c
        .python(
            r#"
batch = client.BatchV1Api()
job = batch.create_namespaced_job("shop", {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "py-job"},
    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
        {"name": "c", "image": "busybox", "command": ["sh", "-c", "echo from python; sleep 2"]}]}}}})
print(json.dumps({"backoffLimit": job.spec.backoff_limit, "completions": job.spec.completions,
    "selector": job.spec.selector.match_labels, "labels": job.spec.template.metadata.labels}))
"#,
        )
        .await
        .json();
    assert_eq!(out["backoffLimit"], 6, "{out}");
    assert_eq!(out["completions"], 1);
    assert_eq!(out["labels"]["job-name"], "py-job");
    assert!(out["selector"]["batch.kubernetes.io/controller-uid"].is_string());
    c.until("py-job complete", |s| {
        job_condition(s, "py-job", "Complete").is_some()
    })
    .await;
    let out = c
        .python(
            r#"
job = client.BatchV1Api().read_namespaced_job("py-job", "shop")
types = sorted(x.type for x in job.status.conditions if x.status == "True")
print(json.dumps({"succeeded": job.status.succeeded, "conditions": types}))
"#,
        )
        .await
        .json();
    assert_eq!(out["succeeded"], 1, "{out}");
    assert_eq!(
        out["conditions"],
        serde_json::json!(["Complete", "SuccessCriteriaMet"])
    );

    // A namespace deleted with CoreV1Api is Terminating; a create in it is a 403 with the
    // NamespaceTerminating cause; `default` may not be deleted (403).
    let out = c
        .python(
            r#"
v1 = client.CoreV1Api()
v1.create_namespace({"metadata": {"name": "py-tmp"}})
# A pod bound to a node no kubelet runs: it stays terminating, and so does its namespace.
v1.create_namespaced_pod("py-tmp", {"metadata": {"name": "stuck"}, "spec": {"nodeName": "ghost",
    "containers": [{"name": "c", "image": "busybox"}]}})
v1.delete_namespace("py-tmp")
out = {"phase": v1.read_namespace("py-tmp").status.phase}
try:
    v1.create_namespaced_config_map("py-tmp", {"metadata": {"name": "late"}})
except ApiException as e:
    out["create"] = {"status": e.status, "body": json.loads(e.body)}
try:
    v1.delete_namespace("default")
except ApiException as e:
    out["default"] = {"status": e.status, "body": json.loads(e.body)}
print(json.dumps(out))
"#,
        )
        .await
        .json();
    assert_eq!(out["phase"], "Terminating", "{out}");
    let create = &out["create"];
    assert_eq!(create["status"], 403, "{out}");
    assert_eq!(create["body"]["reason"], "Forbidden");
    assert_eq!(
        create["body"]["message"],
        "configmaps \"late\" is forbidden: unable to create new content in namespace py-tmp because it is being terminated"
    );
    assert_eq!(
        create["body"]["details"]["causes"][0],
        serde_json::json!({"reason": "NamespaceTerminating", "message": "namespace py-tmp is being terminated", "field": "metadata.namespace"})
    );
    assert_eq!(out["default"]["status"], 403);
    assert_eq!(
        out["default"]["body"]["message"],
        "namespaces \"default\" is forbidden: this namespace may not be deleted"
    );
}
