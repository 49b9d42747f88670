//! The Helm chart against a cluster: `scripts/chart render` renders deploy/helm/nightshift
//! with Helm's own code, kubectl applies the manifests to a fresh simulated cluster (a
//! server-side dry run, then for real) and reads every object back; the configuration and
//! policy the chart renders are then loaded by the real agent, which must start and answer
//! `/readyz` with them.
//!
//! Needs kubectl (`/usr/bin/kubectl`) and Python 3 with PyPI for the chart tools, which
//! `scripts/chart` installs into target/tools on first use. Without kubectl the test says so
//! and passes, except in CI.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{free_port, scenario_path, start_agent, start_sim};

const BIN: &str = env!("CARGO_BIN_EXE_nightshift");
const KUBECTL: &str = "/usr/bin/kubectl";
/// The release namespace of the rendered chart.
const NAMESPACE: &str = "nightshift";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kubectl_available() -> bool {
    let present = Path::new(KUBECTL).exists();
    assert!(
        present || std::env::var_os("CI").is_none(),
        "{KUBECTL} is missing but CI is set: the chart test must run in CI"
    );
    present
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("unable to run kubectl: {e}"))
}

fn kubectl_ok(kubeconfig: &Path, args: &[&str]) -> String {
    let out = kubectl(kubeconfig, args);
    assert!(
        out.status.success(),
        "kubectl {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `scripts/chart render DIR -f VALUES...`: the manifests `helm template` would print.
fn render(dir: &Path, values: &[&Path]) -> PathBuf {
    let mut cmd = Command::new(repo().join("scripts/chart"));
    cmd.arg("render").arg(dir);
    for v in values {
        cmd.arg("-f").arg(v);
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
    dir.join("manifests.yaml")
}

/// The objects of a manifest file, as `kind/name` in kubectl's lowercase resource form.
fn objects_of(manifests: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifests).expect("the rendered manifests");
    let mut out = Vec::new();
    for doc in text.split("\n---\n") {
        let field = |key: &str, indent: &str| {
            doc.lines()
                .find_map(|l| l.strip_prefix(&format!("{indent}{key}: ")))
                .map(|v| v.trim().trim_matches('"').to_string())
        };
        if let (Some(kind), Some(name)) = (field("kind", ""), field("name", "  ")) {
            out.push(format!("{}/{name}", kind.to_lowercase()));
        }
    }
    out
}

/// The objects kubectl names in its output (`deployment.apps/nightshift created`), as
/// `deployment/nightshift`.
fn named(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|word| word.split_once('/'))
        .map(|(kind, name)| format!("{}/{name}", kind.split('.').next().unwrap_or(kind)))
        .collect()
}

/// Creates the namespaces (from a manifest: the simulated API server takes JSON bodies, which
/// `kubectl create namespace` does not send).
fn ensure_namespaces(kubeconfig: &Path, dir: &Path, names: &[&str]) {
    let path = dir.join("namespaces.yaml");
    let text: String = names
        .iter()
        .map(|ns| format!("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"))
        .collect();
    std::fs::write(&path, text).expect("a namespaces manifest");
    kubectl_ok(
        kubeconfig,
        &["apply", "-f", path.to_str().expect("a UTF-8 path")],
    );
}

/// Applies the manifests (dry run on the server first) and reads every object back.
fn apply_and_read_back(kubeconfig: &Path, manifests: &Path) -> Vec<String> {
    let file = manifests.to_str().expect("a UTF-8 path");
    let expected = objects_of(manifests);
    assert!(!expected.is_empty(), "nothing rendered in {file}");
    let dry = kubectl_ok(kubeconfig, &["apply", "--dry-run=server", "-f", file]);
    for object in &expected {
        assert!(
            named(&dry).contains(object),
            "the server-side dry run did not mention {object}:\n{dry}"
        );
    }
    let before = kubectl(kubeconfig, &["get", "-f", file, "-o", "name"]);
    assert!(
        String::from_utf8_lossy(&before.stdout).trim().is_empty(),
        "the dry run created objects:\n{}",
        String::from_utf8_lossy(&before.stdout)
    );
    kubectl_ok(kubeconfig, &["apply", "-f", file]);
    let got = kubectl_ok(kubeconfig, &["get", "-f", file, "-o", "name"]);
    for object in &expected {
        assert!(
            named(&got).contains(object),
            "{object} is not in the cluster after apply:\n{got}"
        );
    }
    eprintln!(
        "{}: {} objects applied (server-side dry run first) and read back",
        manifests.display(),
        expected.len()
    );
    expected
}

#[test]
fn the_chart_installs_into_a_cluster_and_its_configuration_starts_the_agent() {
    if !kubectl_available() {
        eprintln!("skipping: {KUBECTL} is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let sim = start_sim(
        Path::new(BIN),
        dir.path(),
        &scenario_path("memory-limit-checkout-oom-undersized"),
        1.0,
        None,
    );
    let kc = sim.kubeconfig.as_path();
    ensure_namespaces(
        kc,
        dir.path(),
        &[NAMESPACE, "kube-node-lease", "shop", "payments"],
    );

    // The default values: what `helm install nightshift deploy/helm/nightshift` creates.
    let default = render(&dir.path().join("default"), &[]);
    let objects = apply_and_read_back(kc, &default);
    for kind in [
        "deployment/nightshift",
        "service/nightshift",
        "serviceaccount/nightshift",
        "configmap/nightshift-config",
        "configmap/nightshift-policy",
        "poddisruptionbudget/nightshift",
        "clusterrole/nightshift-read",
        "clusterrole/nightshift-write",
        "clusterrole/nightshift-nodes",
        "clusterrolebinding/nightshift-read",
        "role/nightshift",
        "rolebinding/nightshift-node-leases",
        "networkpolicy/nightshift",
    ] {
        assert!(objects.iter().any(|o| o == kind), "{kind} not rendered");
    }

    // Every option but the Prometheus operator's kinds, which this cluster does not serve:
    // writes bound per namespace, a second release beside the first.
    let no_operator = dir.path().join("no-operator.yaml");
    std::fs::write(
        &no_operator,
        "metrics:\n  serviceMonitor: {enabled: false}\n  prometheusRule: {enabled: false}\n  dashboard: {enabled: true, namespace: \"\"}\n",
    )
    .expect("a values file");
    let all = repo().join("deploy/helm/nightshift/ci/all-values.yaml");
    let everything = render(&dir.path().join("all"), &[&all, &no_operator]);
    let objects = apply_and_read_back(kc, &everything);
    for kind in [
        "rolebinding/ns-agent-write",
        "configmap/ns-agent-dashboard",
        "clusterrole/ns-agent-runbooks",
        "rolebinding/ns-agent-runbooks",
    ] {
        assert!(objects.iter().any(|o| o == kind), "{kind} not rendered");
    }
    let bound = kubectl_ok(kc, &["get", "rolebinding", "-A", "-o", "name"]);
    assert!(
        !kubectl_ok(kc, &["get", "clusterrolebinding", "-o", "name"]).contains("ns-agent-write"),
        "with rbac.writeNamespaces the writes must not be bound cluster-wide"
    );
    assert!(bound.contains("ns-agent-write"), "{bound}");

    // The configuration and the policy each install mounts, as the cluster holds them, load
    // in the real agent: every key the chart writes is one the agent knows. The default
    // install runs two replicas on PostgreSQL, the store URL in NIGHTSHIFT_STORE and each
    // replica's identity in POD_NAME, as the Deployment sets them: both are Ready, and one
    // holds the Lease the chart's Role names.
    let default_env = ["NIGHTSHIFT_TOKEN_ADMIN", "NIGHTSHIFT_BASIC_PASSWORD"];
    let maps = ("nightshift-config", "nightshift-policy", "policy.yaml");
    match fresh_schema() {
        Some(store) => {
            let replicas: Vec<_> = ["nightshift-0", "nightshift-1"]
                .into_iter()
                .map(|pod| {
                    let agent = Agent::on(kc, &dir.path().join(pod), maps, &default_env)
                        .store(&store)
                        .pod(pod)
                        .start();
                    (pod, agent)
                })
                .collect();
            let holder = common::wait_for(
                "a replica to hold the Lease nightshift",
                Duration::from_secs(60),
                || {
                    let out = kubectl(
                        kc,
                        &[
                            "get",
                            "lease",
                            "nightshift",
                            "-n",
                            NAMESPACE,
                            "-o",
                            "jsonpath={.spec.holderIdentity}",
                        ],
                    );
                    let holder = String::from_utf8_lossy(&out.stdout).trim().to_string();
                    replicas
                        .iter()
                        .any(|(pod, _)| *pod == holder)
                        .then_some(holder)
                },
            );
            eprintln!("two replicas Ready on the default configuration; {holder} leads");
            drop(replicas);
        }
        None => {
            // One replica on SQLite, which refuses leader election: the section goes.
            Agent::on(kc, &dir.path().join("agent-default"), maps, &default_env)
                .without_leader_election()
                .start();
        }
    }
    Agent::on(
        kc,
        &dir.path().join("agent-all"),
        (
            "ns-agent-config",
            "ns-agent-policy",
            "nightshift-policy.yaml",
        ),
        &[
            "NIGHTSHIFT_TOKEN_OPS",
            "ALICE_TOKEN",
            "NIGHTSHIFT_TOKEN_ALERTMANAGER_BEARER",
            "NIGHTSHIFT_BASIC_PASSWORD",
            "OPENAI_API_KEY",
        ],
    )
    .without_leader_election()
    .start();
    drop(sim);
}

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh schema of the test database (scripts/test runs PostgreSQL), or `None` when it is not
/// reachable outside CI.
fn fresh_schema() -> Option<String> {
    let schema = format!("chart_{}", std::process::id());
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-v"])
        .args(["ON_ERROR_STOP=1", "-c"])
        .arg(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .output();
    match out {
        Ok(o) if o.status.success() => Some(format!("{POSTGRES}?options[search_path]={schema}")),
        other => {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL at {POSTGRES} is required when CI is set: {other:?}"
            );
            eprintln!("note: PostgreSQL at {POSTGRES} is unreachable, one replica on SQLite");
            None
        }
    }
}

/// A key of a ConfigMap in the release namespace.
fn config_map_key(kubeconfig: &Path, name: &str, key: &str) -> String {
    let path = format!("jsonpath={{.data.{}}}", key.replace('.', "\\."));
    kubectl_ok(
        kubeconfig,
        &["get", "configmap", name, "-n", NAMESPACE, "-o", &path],
    )
}

/// The agent on the configuration and policy of the ConfigMaps `(config, policy, policy
/// key)`, with the pod's addresses and paths moved to this machine (loopback, a temp dir, the
/// simulated cluster) and each variable in `env` set as its Secret would set it.
struct Agent<'a> {
    kubeconfig: &'a Path,
    dir: PathBuf,
    maps: (&'a str, &'a str, &'a str),
    env: Vec<(String, String)>,
    store: Option<String>,
    leader_election: bool,
}

impl<'a> Agent<'a> {
    fn on(
        kubeconfig: &'a Path,
        dir: &Path,
        maps: (&'a str, &'a str, &'a str),
        env: &[&str],
    ) -> Self {
        Agent {
            kubeconfig,
            dir: dir.to_path_buf(),
            maps,
            env: env
                .iter()
                .map(|v| (v.to_string(), "s3cret-for-the-chart-test".to_string()))
                .collect(),
            store: None,
            leader_election: true,
        }
    }

    /// The store URL in NIGHTSHIFT_STORE, as the Deployment passes it from its Secret
    /// (default: SQLite in the temp dir, in the file).
    fn store(mut self, url: &str) -> Self {
        self.store = Some(url.to_string());
        self.env.push(("NIGHTSHIFT_STORE".into(), url.to_string()));
        self
    }

    /// POD_NAME and POD_NAMESPACE, as the downward API sets them.
    fn pod(mut self, name: &str) -> Self {
        self.env.push(("POD_NAME".into(), name.to_string()));
        self.env
            .push(("POD_NAMESPACE".into(), NAMESPACE.to_string()));
        self
    }

    /// Drops the leader_election section (the agent refuses it on SQLite).
    fn without_leader_election(mut self) -> Self {
        self.leader_election = false;
        self
    }

    /// Starts it and waits for `/readyz`.
    fn start(self) -> common::Process {
        let (config_map, policy_map, policy_key) = self.maps;
        let kubeconfig = self.kubeconfig;
        let config = config_map_key(kubeconfig, config_map, "nightshift.yaml");
        let policy = config_map_key(kubeconfig, policy_map, policy_key);
        assert!(
            config.lines().any(|l| l.starts_with("listen: 0.0.0.0:"))
                && config
                    .lines()
                    .any(|l| l == "policy: /etc/nightshift/policy/policy.yaml"),
            "the chart's listen address and policy path:\n{config}"
        );
        let dir = &self.dir;
        std::fs::create_dir_all(dir).expect("a dir");
        let policy_path = dir.join("policy.yaml");
        std::fs::write(&policy_path, &policy).expect("the policy");
        let check = Command::new(BIN)
            .args(["policy", "check"])
            .arg(&policy_path)
            .output()
            .expect("nightshift policy check");
        assert!(
            check.status.success(),
            "the chart's policy does not load:\n{policy}\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let port = free_port();
        // Every URL of the configuration (webhook, Prometheus, model) points at a closed
        // loopback port instead: the test reaches no other host.
        let mut lines = Vec::new();
        let mut in_election = false;
        for l in config.lines() {
            if !l.starts_with(' ') {
                in_election = l.starts_with("leader_election:");
            }
            if l.starts_with("listen:")
                || l.starts_with("policy:")
                || (in_election && !self.leader_election)
            {
                continue;
            }
            lines.push(match l.split_once(": ") {
                Some((key, value)) if value.contains("://") => format!("{key}: http://127.0.0.1:9"),
                _ => l.to_string(),
            });
        }
        lines.push(format!("listen: 127.0.0.1:{port}"));
        lines.push(format!("policy: {}", policy_path.display()));
        lines.push(format!("kubeconfig: {}", kubeconfig.display()));
        if self.store.is_none() {
            lines.push(format!("store: {}", common::store_url(dir)));
        }
        let config_path = dir.join("nightshift.yaml");
        std::fs::write(&config_path, lines.join("\n") + "\n").expect("the config");
        let env: Vec<(&str, &Path)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), Path::new(v.as_str())))
            .collect();
        let agent = start_agent(Path::new(BIN), dir, "agent", &config_path, port, &env);
        assert!(common::http_ok(port, "/readyz"));
        eprintln!("{config_map}: the agent starts on it and answers /readyz");
        agent
    }
}
