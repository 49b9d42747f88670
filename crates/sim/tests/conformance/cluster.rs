//! The objects, kinds and lifecycles of a real cluster, checked with kubectl 1.32 and kube-rs
//! against a running simulation: Jobs, ReplicationControllers, events.k8s.io Events, the
//! namespace lifecycle, the default objects, node Leases, change causes, image pulls, a bad
//! release's own log lines, service IP allocation and pod admission defaults. Each assertion
//! says what kube-apiserver 1.34 answers.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use nightshift_sim::Simulation;
use nightshift_sim::server::{Running, ServeOptions, start, write_kubeconfig};
use serde_json::Value;

const SCENARIO: &str = r#"
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

/// A simulation served over HTTP at `speed`, with a kubeconfig for kubectl.
struct Cluster {
    sim: Arc<Simulation>,
    running: Running,
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start(speed: f64) -> Option<Cluster> {
        if !kubectl_available() {
            eprintln!("kubectl is not installed: skipping");
            return None;
        }
        let scenario = nightshift_scenario::parse_str(SCENARIO, "cluster-objects.yaml").unwrap();
        // Simulated time starts in the past so ages read as kubectl expects them.
        let start_ms = chrono::Utc::now().timestamp_millis() - 3_600_000;
        let sim = Simulation::new(&scenario, start_ms);
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let running = start(
            sim.clone(),
            &ServeOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                speed,
                alert_webhook: None,
                kubeconfig_out: None,
                stop_at_horizon: false,
                field_validation: Default::default(),
            },
        )
        .await
        .unwrap();
        write_kubeconfig(&kubeconfig, &format!("http://{}", running.addr), "sim").unwrap();
        Some(Cluster {
            sim,
            running,
            kubeconfig,
            dir,
        })
    }

    fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("HOME", self.dir.path())
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
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

    fn fails(&self, args: &[&str]) -> String {
        let (ok, text) = self.kubectl(args);
        assert!(!ok, "kubectl {args:?} should have failed:\n{text}");
        text
    }

    /// A `kubectl create ...`/`kubectl run ...` command (kubectl sends these as protobuf),
    /// with `extra` flags put before any `--`.
    fn create_cmd(&self, args: &[&str], extra: &[&str]) -> (bool, String) {
        let mut all = args.to_vec();
        let at = all.iter().position(|a| *a == "--").unwrap_or(all.len());
        all.splice(at..at, extra.iter().copied());
        self.kubectl(&all)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    fn client(&self) -> kube::Client {
        let mut config = kube::Config::new(
            format!("http://{}", self.running.addr)
                .parse()
                .expect("valid url"),
        );
        config.default_retry = false;
        kube::Client::try_from(config).expect("kube client")
    }

    async fn until(&self, what: &str, f: impl Fn(&Simulation) -> bool) {
        for _ in 0..1200 {
            if f(&self.sim) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn until_kubectl(&self, what: &str, args: &[&str], f: impl Fn(&str) -> bool) -> String {
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

fn job_condition(sim: &Simulation, name: &str, t: &str) -> Option<String> {
    let job = sim.store().get_typed::<Job>("shop", name)?;
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t && c.status == "True")
        .and_then(|c| c.reason.clone())
}

const JOBS: &str = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: reindex, namespace: shop}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
        - {name: reindex, image: registry.local/shop/reindex:2.0.0,
           command: [sh, -c, "echo 'ERROR index catalog is locked'; exit 1"]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: export, namespace: shop}
spec:
  activeDeadlineSeconds: 20
  template:
    spec:
      restartPolicy: Never
      containers:
        - {name: export, image: registry.local/shop/export:1.0.0, command: [sleep, "3600"]}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_succeed_fail_and_run_past_their_deadline() {
    let Some(c) = Cluster::start(20.0).await else {
        return;
    };
    // kubectl create job: `job.batch/migrate created`.
    let (ok, out) = c.create_cmd(
        &[
            "create",
            "job",
            "migrate",
            "-n",
            "shop",
            "--image=busybox:1.36",
            "--",
            "sh",
            "-c",
            "echo applying migration 0042; sleep 3; echo done: 1284 rows",
        ],
        &[],
    );
    assert!(ok, "{out}");
    assert!(out.contains("job.batch/migrate created"), "{out}");
    let path = c.file("jobs.yaml", JOBS);
    let out = c.ok(&["apply", "-f", &path]);
    assert!(
        out.contains("job.batch/reindex created") && out.contains("job.batch/export created"),
        "{out}"
    );

    c.until("migrate complete", |s| {
        job_condition(s, "migrate", "Complete").is_some()
    })
    .await;
    // Complete and SuccessCriteriaMet, reason CompletionsReached, as the 1.34 Job controller sets.
    assert_eq!(
        job_condition(&c.sim, "migrate", "SuccessCriteriaMet").as_deref(),
        Some("CompletionsReached")
    );
    assert_eq!(
        job_condition(&c.sim, "migrate", "Complete").as_deref(),
        Some("CompletionsReached")
    );
    let job = c.json(&["get", "job", "migrate", "-n", "shop"]);
    assert_eq!(job["status"]["succeeded"], 1);
    assert!(job["status"]["completionTime"].is_string() && job["status"]["startTime"].is_string());
    let uid = job["metadata"]["uid"].as_str().unwrap();
    // The selector and labels the API server defaults.
    assert_eq!(
        job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        uid
    );
    assert_eq!(
        job["spec"]["template"]["metadata"]["labels"]["job-name"],
        "migrate"
    );
    assert_eq!(job["spec"]["backoffLimit"], 6);
    // kubectl logs job/migrate: the lines the command echoed.
    let logs = c.ok(&["logs", "job/migrate", "-n", "shop"]);
    assert_eq!(
        logs.trim(),
        "applying migration 0042\ndone: 1284 rows",
        "{logs}"
    );
    // The pod ended Succeeded, its container Completed with exit code 0.
    let pods = c.json(&["get", "pods", "-n", "shop", "-l", "job-name=migrate"]);
    let pod = &pods["items"][0];
    assert_eq!(pod["status"]["phase"], "Succeeded");
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
        "Completed"
    );
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Job");

    c.until("reindex failed", |s| {
        job_condition(s, "reindex", "Failed").is_some()
    })
    .await;
    // backoffLimit 1: two failed pods, then FailureTarget and Failed with BackoffLimitExceeded.
    assert_eq!(
        job_condition(&c.sim, "reindex", "FailureTarget").as_deref(),
        Some("BackoffLimitExceeded")
    );
    assert_eq!(
        job_condition(&c.sim, "reindex", "Failed").as_deref(),
        Some("BackoffLimitExceeded")
    );
    let reindex = c.json(&["get", "job", "reindex", "-n", "shop"]);
    assert_eq!(reindex["status"]["failed"], 2, "{reindex}");

    c.until("export past its deadline", |s| {
        job_condition(s, "export", "Failed").is_some()
    })
    .await;
    assert_eq!(
        job_condition(&c.sim, "export", "Failed").as_deref(),
        Some("DeadlineExceeded")
    );
    // Its pod is stopped and removed.
    c.until("export pod gone", |s| {
        !s.store().list_typed::<Pod>(Some("shop")).iter().any(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("job-name"))
                .map(String::as_str)
                == Some("export")
                && p.metadata.deletion_timestamp.is_none()
        })
    })
    .await;

    // kubectl get jobs: the 1.34 columns.
    let table = c.ok(&["get", "jobs", "-n", "shop"]);
    let header = table.lines().next().unwrap();
    assert!(
        header
            .split_whitespace()
            .eq(["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]),
        "{table}"
    );
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_string()
    };
    assert!(
        row("migrate")
            .split_whitespace()
            .take(3)
            .eq(["migrate", "Complete", "1/1"]),
        "{table}"
    );
    assert!(
        row("reindex")
            .split_whitespace()
            .take(3)
            .eq(["reindex", "Failed", "0/1"]),
        "{table}"
    );
    assert!(
        row("export")
            .split_whitespace()
            .take(3)
            .eq(["export", "Failed", "0/1"]),
        "{table}"
    );
    // The events of the Job controller.
    let events = c.ok(&[
        "get",
        "events",
        "-n",
        "shop",
        "--field-selector",
        "involvedObject.kind=Job",
    ]);
    for reason in [
        "SuccessfulCreate",
        "Completed",
        "BackoffLimitExceeded",
        "DeadlineExceeded",
    ] {
        assert!(events.contains(reason), "{reason} missing:\n{events}");
    }
    // A template that restarts always is refused: 422 `Job.batch "bad" is invalid:
    // spec.template.spec.restartPolicy: Unsupported value: "Always": supported values:
    // "OnFailure", "Never"`.
    let bad = c.file(
        "bad-job.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: bad, namespace: shop}\nspec:\n  template:\n    spec:\n      containers: [{name: x, image: busybox}]\n",
    );
    let err = c.fails(&["create", "-f", &bad]);
    assert!(err.contains("spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""), "{err}");
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
async fn events_are_one_store_served_by_both_apis() {
    let Some(c) = Cluster::start(20.0).await else {
        return;
    };
    c.until("catalog started", |s| {
        s.store()
            .list_typed::<Pod>(Some("shop"))
            .iter()
            .any(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
    })
    .await;
    let core = c.json(&["get", "events", "-n", "shop"]);
    let v1 = c.json(&["get", "events.v1.events.k8s.io", "-n", "shop"]);
    let names = |list: &Value| {
        let mut n: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    // The same events (some may have been recorded between the two lists).
    let (a, b) = (names(&core), names(&v1));
    assert!(
        !a.is_empty() && a.iter().all(|n| b.contains(n)),
        "{a:?} vs {b:?}"
    );
    let first = core["items"][0].clone();
    let same = v1["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["metadata"]["name"] == first["metadata"]["name"])
        .unwrap();
    // Converted as the API server converts: regarding, note, reportingController,
    // deprecatedSource, deprecatedFirstTimestamp, deprecatedCount.
    assert_eq!(same["apiVersion"], "events.k8s.io/v1");
    assert_eq!(same["regarding"], first["involvedObject"]);
    assert_eq!(same["note"], first["message"]);
    assert_eq!(same["reason"], first["reason"]);
    assert_eq!(same["type"], first["type"]);
    assert_eq!(same["reportingController"], first["reportingComponent"]);
    assert_eq!(same["deprecatedSource"], first["source"]);
    assert_eq!(same["deprecatedFirstTimestamp"], first["firstTimestamp"]);
    // (The count may have grown between the two lists.)
    assert!(same["deprecatedCount"].as_i64() >= first["count"].as_i64());
    // The table of kubectl get events.events.k8s.io has the columns of kubectl get events.
    let table = c.ok(&["get", "events.events.k8s.io", "-n", "shop"]);
    assert!(
        table
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .eq(["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]),
        "{table}"
    );

    // Written through events.k8s.io/v1, read through core/v1.
    let ev = c.file(
        "event.yaml",
        "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata: {name: runbook.1, namespace: shop}\neventTime: \"2026-01-01T00:00:00.000000Z\"\nreportingController: nightshift.dev/runbook\nreportingInstance: runner-1\naction: Restart\nreason: RunbookStarted\nnote: restarting catalog\ntype: Normal\nregarding: {kind: Deployment, namespace: shop, name: catalog, apiVersion: apps/v1}\n",
    );
    c.ok(&["create", "-f", &ev]);
    let back = c.json(&["get", "event", "runbook.1", "-n", "shop"]);
    assert_eq!(back["apiVersion"], "v1");
    assert_eq!(back["message"], "restarting catalog");
    assert_eq!(back["involvedObject"]["name"], "catalog");
    assert_eq!(back["reportingComponent"], "nightshift.dev/runbook");
    assert_eq!(back["action"], "Restart");

    // kube-rs reads both as its typed Events.
    let client = c.client();
    let core_api: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "shop");
    let v1_api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, "shop");
    let ev = v1_api.get("runbook.1").await.unwrap();
    assert_eq!(ev.note.as_deref(), Some("restarting catalog"));
    assert_eq!(
        ev.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("catalog")
    );
    let listed = v1_api.list(&ListParams::default()).await.unwrap();
    assert!(listed.items.len() >= a.len());
    assert!(core_api.get("runbook.1").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_get_their_defaults_and_are_terminated_with_their_content() {
    // Slow enough to see the namespace Terminating while its pods stop.
    let Some(c) = Cluster::start(2.0).await else {
        return;
    };
    let (ok, out) = c.create_cmd(&["create", "namespace", "tmp"], &[]);
    assert!(ok, "{out}");
    // kubectl get sa,cm: the default ServiceAccount and kube-root-ca.crt, made by the
    // controllers within a second.
    let out = c
        .until_kubectl("defaults", &["get", "sa,cm", "-n", "tmp"], |t| {
            t.contains("serviceaccount/default") && t.contains("configmap/kube-root-ca.crt")
        })
        .await;
    assert!(out.contains("configmap/kube-root-ca.crt"), "{out}");
    let ca = c.json(&["get", "cm", "kube-root-ca.crt", "-n", "tmp"]);
    assert_eq!(ca["data"]["ca.crt"], nightshift_sim::api::tls::CA_PEM);

    // kubectl create deployment web --image=nginx: any image pulls; the pods run.
    let (ok, out) = c.create_cmd(
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx",
            "-n",
            "tmp",
            "--replicas=2",
        ],
        &[],
    );
    assert!(ok, "{out}");
    c.until_kubectl("nginx running", &["get", "pods", "-n", "tmp"], |t| {
        t.lines()
            .skip(1)
            .filter(|l| l.contains("Running") && l.contains("1/1"))
            .count()
            == 2
    })
    .await;
    let pod = &c.json(&["get", "pods", "-n", "tmp"])["items"][0];
    assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Always");

    // A pod bound to a node no kubelet runs stays terminating, and keeps the namespace
    // Terminating until it is force-deleted: time to look at it.
    let stuck = c.file(
        "stuck.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: stuck, namespace: tmp}\nspec:\n  nodeName: ghost\n  containers: [{name: c, image: busybox}]\n",
    );
    c.ok(&["apply", "-f", &stuck]);
    // kubectl delete ns: marked Terminating, then its content goes, then the namespace.
    let out = c.ok(&["delete", "namespace", "tmp", "--wait=false"]);
    assert!(out.contains("namespace \"tmp\" deleted"), "{out}");
    let ns = c.json(&["get", "namespace", "tmp"]);
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(ns["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(ns["spec"]["finalizers"], serde_json::json!(["kubernetes"]));
    let table = c.ok(&["get", "namespace", "tmp"]);
    assert!(
        table.lines().nth(1).unwrap().contains("Terminating"),
        "{table}"
    );
    // Creating in it: 403 Forbidden `configmaps "late" is forbidden: unable to create new
    // content in namespace tmp because it is being terminated`, as kubectl create configmap
    // words it, and as kubectl create -f does.
    let (ok, err) = c.create_cmd(&["create", "configmap", "late", "-n", "tmp"], &[]);
    assert!(!ok, "{err}");
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: configmaps \"late\" is forbidden: unable to create new content in namespace tmp because it is being terminated"
    );
    let late = c.file(
        "late.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late, namespace: tmp}\n",
    );
    let err = c.fails(&["create", "-f", &late]);
    assert!(
        err.contains("Error from server (Forbidden): error when creating")
            && err.contains("configmaps \"late\" is forbidden: unable to create new content in namespace tmp because it is being terminated"),
        "{err}"
    );
    // The same through kube-rs: 403, reason Forbidden.
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(c.client(), "tmp");
    let mut cm = k8s_openapi::api::core::v1::ConfigMap::default();
    cm.metadata.name = Some("late".into());
    match cms.create(&Default::default(), &cm).await {
        Err(kube::Error::Api(e)) => {
            assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
            assert_eq!(
                e.message,
                "configmaps \"late\" is forbidden: unable to create new content in namespace tmp because it is being terminated"
            );
        }
        other => panic!("{other:?}"),
    }
    let remaining = c
        .until_kubectl(
            "content remaining reported",
            &["get", "namespace", "tmp", "-o", "json"],
            |t| t.contains("NamespaceContentRemaining"),
        )
        .await;
    assert!(
        remaining.contains("Some resources are remaining: "),
        "{remaining}"
    );
    // Everything else went: the Deployment, its pods, the default objects.
    c.until("only the stuck pod left", |s| {
        let pods = s.store().list_typed::<Pod>(Some("tmp"));
        pods.len() == 1 && pods[0].metadata.name.as_deref() == Some("stuck")
    })
    .await;
    let left = c.ok(&["get", "deploy,sa,cm", "-n", "tmp", "--ignore-not-found"]);
    assert!(left.trim().is_empty(), "{left}");
    // The namespace controller's next pass reports what is left.
    c.until_kubectl(
        "one pod remaining",
        &["get", "namespace", "tmp", "-o", "json"],
        |t| t.contains("Some resources are remaining: pods. has 1 resource instances"),
    )
    .await;
    c.ok(&[
        "delete",
        "pod",
        "stuck",
        "-n",
        "tmp",
        "--grace-period=0",
        "--force",
    ]);
    let (_, gone) = c.kubectl(&["wait", "--for=delete", "namespace/tmp", "--timeout=60s"]);
    let (ok, text) = c.kubectl(&["get", "namespace", "tmp"]);
    assert!(
        !ok && text.contains("namespaces \"tmp\" not found"),
        "{gone}\n{text}"
    );
    assert!(c.sim.store().list_typed::<Pod>(Some("tmp")).is_empty());

    // 403 `namespaces "default" is forbidden: this namespace may not be deleted`.
    let err = c.fails(&["delete", "namespace", "default"]);
    assert!(
        err.contains("Error from server (Forbidden): namespaces \"default\" is forbidden: this namespace may not be deleted"),
        "{err}"
    );
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
fn stepped(yaml: &str, seconds: u32) -> Arc<Simulation> {
    let scenario = nightshift_scenario::parse_str(yaml, "stepped.yaml").unwrap();
    let sim = Simulation::new(&scenario, 1_767_225_600_000);
    for _ in 0..seconds {
        sim.step();
    }
    sim
}

fn step(sim: &Simulation, seconds: u32) {
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

#[test]
fn job_restarts_count_against_the_backoff_limit_and_finished_jobs_expire() {
    let sim = stepped(SCENARIO, 5);
    let rt = nightshift_sim::resources::find("batch", "v1", "jobs").unwrap();
    let job = |name: &str, extra: serde_json::Value, policy: &str, script: &str| {
        let mut v = serde_json::json!({"metadata": {"name": name, "namespace": "shop"}, "spec": {
            "template": {"spec": {"restartPolicy": policy, "containers": [
                {"name": "c", "image": "busybox", "command": ["sh", "-c", script]}]}}}});
        for (k, val) in extra.as_object().unwrap() {
            v["spec"][k] = val.clone();
        }
        sim.store().create(rt, "shop", v, false).unwrap();
    };
    // OnFailure: the container restarts in its pod; its restarts count (backoffLimit 2).
    job(
        "flaky",
        serde_json::json!({"backoffLimit": 2}),
        "OnFailure",
        "echo try; exit 2",
    );
    // A finished Job with ttlSecondsAfterFinished is deleted that long after it finished.
    job(
        "short",
        serde_json::json!({"ttlSecondsAfterFinished": 20}),
        "Never",
        "echo ok",
    );
    step(&sim, 10);
    assert!(job_condition(&sim, "short", "Complete").is_some());
    step(&sim, 25);
    assert!(sim.store().get_typed::<Job>("shop", "short").is_none());
    // Its pods go with it.
    step(&sim, 10);
    assert!(
        !sim.store().list_typed::<Pod>(Some("shop")).iter().any(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("job-name"))
                .map(String::as_str)
                == Some("short")
        })
    );
    // Restarts after 0s, 10s, 20s: the third exceeds the limit of two.
    step(&sim, 60);
    assert_eq!(
        job_condition(&sim, "flaky", "Failed").as_deref(),
        Some("BackoffLimitExceeded")
    );

    // A command that ends in a Deployment's pod is restarted and backs off, as on a real node.
    let deploy = nightshift_sim::resources::find("apps", "v1", "deployments").unwrap();
    sim.store()
        .create(
            deploy,
            "shop",
            serde_json::json!({"metadata": {"name": "oneshot"}, "spec": {
            "selector": {"matchLabels": {"app": "oneshot"}},
            "template": {"metadata": {"labels": {"app": "oneshot"}}, "spec": {"containers": [
                {"name": "c", "image": "busybox", "command": ["echo", "bye"]}]}}}}),
            false,
        )
        .unwrap();
    step(&sim, 40);
    let crashing = sim
        .store()
        .list_typed::<Pod>(Some("shop"))
        .into_iter()
        .find(|p| p.metadata.name.as_deref().unwrap().starts_with("oneshot-"));
    let status = crashing.unwrap().status.clone().unwrap();
    let c = &status.container_statuses.unwrap()[0];
    assert!(c.restart_count >= 2, "{c:?}");
    assert_eq!(
        c.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );
}

#[test]
fn a_suspended_job_runs_no_pods_until_resumed() {
    let sim = stepped(SCENARIO, 5);
    let rt = nightshift_sim::resources::find("batch", "v1", "jobs").unwrap();
    let spec = serde_json::json!({"metadata": {"name": "later", "namespace": "shop"}, "spec": {
        "suspend": true,
        "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "c", "image": "busybox", "command": ["sleep", "5"]}]}}}});
    sim.store().create(rt, "shop", spec, false).unwrap();
    step(&sim, 5);
    let job_pods = |sim: &Simulation| {
        sim.store()
            .list_typed::<Pod>(Some("shop"))
            .iter()
            .filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("job-name"))
                    .map(String::as_str)
                    == Some("later")
            })
            .count()
    };
    // Suspended: condition Suspended True (reason JobSuspended), no pods, no startTime.
    assert_eq!(
        job_condition(&sim, "later", "Suspended").as_deref(),
        Some("JobSuspended")
    );
    assert_eq!(job_pods(&sim), 0);
    let job = sim.store().get_typed::<Job>("shop", "later").unwrap();
    assert!(job.status.as_ref().unwrap().start_time.is_none());
    let mut v = sim
        .store()
        .get(rt, "shop", "later")
        .unwrap()
        .value()
        .clone();
    v["spec"]["suspend"] = serde_json::json!(false);
    sim.store()
        .update(
            rt,
            "shop",
            "later",
            v,
            nightshift_sim::store::Part::Main,
            false,
        )
        .unwrap();
    step(&sim, 15);
    assert_eq!(
        job_condition(&sim, "later", "Complete").as_deref(),
        Some("CompletionsReached")
    );
    assert_eq!(job_pods(&sim), 1);
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
