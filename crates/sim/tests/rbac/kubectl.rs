//! Real kubectl and a least-privilege chart against a server enforcing RBAC: service account
//! tokens given with `--token` or mounted as files, `kubectl auth can-i`, denials as kubectl
//! prints them, and the admin kubeconfig the served simulation writes.

use super::common;
use std::path::Path;
use std::sync::Arc;

use common::{Kubeconfig, kubectl_available, node, pod, start_tls_with, store};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use nightshift_sim::Simulation;
use nightshift_sim::api::auth::Access;
use nightshift_sim::server::{AccessOptions, ServeOptions, start_with_access};
use serde_json::json;

const AGENT: &str = "system:serviceaccount:default:agent";

/// A Role reading pods in `default` and its binding to `default/agent`.
const POD_READER: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: default}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: agent-reads-pods, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {kind: ServiceAccount, name: agent, namespace: default}
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn output(out: &std::process::Output) -> (Option<i32>, String, String) {
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_with_a_service_account_token_is_authorized_by_rbac() {
    if !kubectl_available() {
        eprintln!("skipping: kubectl is not installed");
        return;
    }
    let access = Arc::new(Access::rbac());
    let a = access.clone();
    let server = start_tls_with(store(), move |s| s.set_access(a).unwrap()).await;
    server.put(
        "",
        "v1",
        "namespaces",
        json!({"metadata": {"name": "shop"}}),
    );
    server.put(
        "",
        "v1",
        "serviceaccounts",
        json!({"metadata": {"name": "agent", "namespace": "default"}}),
    );
    server.put("", "v1", "nodes", node("node-a"));
    server.put("", "v1", "pods", pod("x", json!({}), "node-a"));
    let admin = Kubeconfig::with_token(&server, access.admin_token());
    let token = access.mint_service_account_token("default", "agent");
    let sa = |args: &[&str]| {
        let mut all = vec!["--token", token.as_str()];
        all.extend_from_slice(args);
        all.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let kc = &admin;
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            output(&kc.kubectl(&refs).await)
        }
    };

    let roles = admin.kubectl_ok(&["get", "clusterroles"]).await;
    let header: Vec<&str> = roles.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "CREATED", "AT"], "{roles}");
    for name in ["cluster-admin", "system:discovery", "system:basic-user"] {
        assert!(
            roles.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name} in:\n{roles}"
        );
    }

    let (code, _, stderr) = run(sa(&["get", "pods"])).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!("Error from server (Forbidden): pods is forbidden: User \"{AGENT}\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"")),
        "{stderr}"
    );

    let manifest = write(admin.dir.path(), "pod-reader.yaml", POD_READER);
    admin
        .kubectl_ok(&["apply", "--dry-run=server", "-f", &manifest])
        .await;
    let (code, _, _) = run(sa(&["get", "pods"])).await;
    assert_eq!(code, Some(1), "a server dry run grants nothing");
    let applied = admin.kubectl_ok(&["apply", "-f", &manifest]).await;
    assert!(
        applied.contains("rolebinding.rbac.authorization.k8s.io/agent-reads-pods created"),
        "{applied}"
    );

    let (code, stdout, stderr) = run(sa(&["get", "pods", "-o", "name"])).await;
    assert_eq!((code, stdout.trim()), (Some(0), "pod/x"), "{stderr}");
    let (code, _, stderr) = run(sa(&["delete", "pod", "x"])).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!("Error from server (Forbidden): pods \"x\" is forbidden: User \"{AGENT}\" cannot delete resource \"pods\" in API group \"\" in the namespace \"default\"")),
        "{stderr}"
    );

    for (args, answer) in [
        (vec!["list", "pods"], "yes"),
        (vec!["watch", "pods", "-n", "default"], "yes"),
        (vec!["delete", "pods"], "no"),
        (vec!["list", "pods", "-n", "shop"], "no"),
        (vec!["get", "pods", "--subresource=log"], "no"),
        (vec!["list", "pods", "--all-namespaces"], "no"),
        (vec!["get", "nodes"], "no"),
    ] {
        let mut all = vec!["auth", "can-i"];
        all.extend(args.iter().copied());
        let (code, stdout, stderr) = run(sa(&all)).await;
        assert_eq!(stdout.trim(), answer, "can-i {args:?}: {stderr}");
        assert_eq!(
            code,
            Some(if answer == "yes" { 0 } else { 1 }),
            "can-i {args:?}"
        );
    }
    let (code, stdout, _) = run(vec![
        "auth".into(),
        "can-i".into(),
        "delete".into(),
        "nodes".into(),
    ])
    .await;
    assert_eq!((code, stdout.trim()), (Some(0), "yes"), "the admin may");

    let (code, list, stderr) = run(sa(&["auth", "can-i", "--list"])).await;
    assert_eq!(code, Some(0), "{stderr}");
    let pods_line: Vec<&str> = list
        .lines()
        .find(|l| l.starts_with("pods "))
        .unwrap_or_else(|| panic!("no pods rule in:\n{list}"))
        .split_whitespace()
        .collect();
    assert_eq!(
        pods_line,
        ["pods", "[]", "[]", "[get", "list", "watch]"],
        "{list}"
    );
    assert!(!list.lines().any(|l| l.starts_with("nodes ")), "{list}");

    let wide = admin
        .kubectl_ok(&["get", "rolebindings", "-o", "wide"])
        .await;
    let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"],
        "{wide}"
    );
    let row: Vec<&str> = wide.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        (row[0], row[1], row[3]),
        ("agent-reads-pods", "Role/pod-reader", "default/agent"),
        "{wide}"
    );

    let (code, _, stderr) = run(vec![
        "get".into(),
        "pods".into(),
        "--token".into(),
        "sim.forged".into(),
    ])
    .await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("You must be logged in to the server (Unauthorized)"),
        "{stderr}"
    );
}

const SCENARIO: &str = r#"
name: rbac-chart
horizon: 2h
expect:
  detect: false
  actions: {acceptable: [escalate]}
  resolved: false
cluster:
  nodes:
    - {name: node-a, cpu: "4", memory: 8Gi}
  workloads:
    - {kind: Deployment, namespace: shop, name: web, replicas: 1, image: registry.local/shop/web:1.0.0}
"#;

/// A least-privilege install of the agent: its own namespace, account, configuration and
/// workload, a read-mostly ClusterRole with the few writes its actions need, a Role for its
/// lease, and a NetworkPolicy.
const CHART: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: nightshift}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: nightshift-agent, namespace: nightshift}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: nightshift-config, namespace: nightshift}
data: {policy.yaml: "mode: observe\n"}
---
apiVersion: v1
kind: Secret
metadata: {name: nightshift-llm, namespace: nightshift}
type: Opaque
stringData: {api-key: not-a-real-key}
---
apiVersion: v1
kind: Service
metadata: {name: nightshift-agent, namespace: nightshift}
spec:
  selector: {app: nightshift-agent}
  ports: [{name: http, port: 8080, targetPort: 8080}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: nightshift-agent, namespace: nightshift}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: nightshift-agent}}
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: nightshift-agent, namespace: nightshift}
spec: {holderIdentity: ""}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: nightshift-agent, namespace: nightshift}
spec:
  podSelector: {matchLabels: {app: nightshift-agent}}
  policyTypes: [Ingress]
  ingress:
  - ports: [{port: 8080}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: nightshift-agent}
rules:
- apiGroups: [""]
  resources: [pods, nodes, events, services, endpoints]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [""]
  resources: [pods/eviction]
  verbs: [create]
- apiGroups: [apps]
  resources: [deployments, replicasets, statefulsets, daemonsets]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [deployments/scale]
  verbs: [patch]
- apiGroups: [metrics.k8s.io]
  resources: [pods, nodes]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: nightshift-agent}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: nightshift-agent}
subjects:
- {kind: ServiceAccount, name: nightshift-agent, namespace: nightshift}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: nightshift-agent-lease, namespace: nightshift}
rules:
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [nightshift-agent]
  verbs: [get, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: nightshift-agent-lease, namespace: nightshift}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: nightshift-agent-lease}
subjects:
- {kind: ServiceAccount, name: nightshift-agent}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: nightshift-agent, namespace: nightshift}
spec:
  replicas: 1
  selector: {matchLabels: {app: nightshift-agent}}
  template:
    metadata: {labels: {app: nightshift-agent}}
    spec:
      serviceAccountName: nightshift-agent
      containers:
      - {name: agent, image: registry.local/nightshift/agent:1.0.0}
"#;

/// The DER of a one-certificate PEM file, as a pod's `ca.crt` is turned into a trust root.
fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(pem);
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(body.len() % 4, 0);
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let mut out = Vec::new();
    for quad in body.as_bytes().chunks(4) {
        let n = quad.iter().fold(0u32, |n, &c| {
            (n << 6) | u32::from(if c == b'=' { 0 } else { value(c) })
        });
        let keep = 3 - quad.iter().filter(|&&c| c == b'=').count();
        out.extend_from_slice(&n.to_be_bytes()[1..1 + keep]);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_least_privilege_chart_applies_to_a_served_simulation_and_binds_its_account() {
    if !kubectl_available() {
        eprintln!("skipping: kubectl is not installed");
        return;
    }
    let scenario = nightshift_scenario::parse_str(SCENARIO, "rbac-chart.yaml").unwrap();
    let sim = Simulation::new(&scenario, chrono::Utc::now().timestamp_millis() - 3_600_000);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let tokens = dir.path().join("tokens");
    let running = start_with_access(
        sim.clone(),
        &ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            speed: 20.0,
            alert_webhook: None,
            kubeconfig_out: Some(kubeconfig.clone()),
            stop_at_horizon: false,
            field_validation: Default::default(),
        },
        &AccessOptions {
            rbac: true,
            token_dir: Some(tokens.clone()),
            service_accounts: vec!["nightshift/nightshift-agent".parse().unwrap()],
        },
    )
    .await
    .unwrap();
    let kubectl = |args: &[&str]| {
        let out = std::process::Command::new(common::KUBECTL)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .args(args)
            .env("HOME", dir.path())
            .env_remove("KUBECONFIG")
            .output()
            .expect("kubectl runs");
        output(&out)
    };

    let written = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(
        written.contains(&format!("token: {}", running.access.admin_token())),
        "{written}"
    );
    let (code, pods, stderr) = kubectl(&["get", "pods", "-n", "shop", "-o", "name"]);
    assert_eq!(code, Some(0), "the admin kubeconfig works: {stderr}");
    assert!(pods.contains("pod/web-"), "{pods}");

    let mounted = tokens.join("nightshift").join("nightshift-agent");
    let token = std::fs::read_to_string(mounted.join("token")).unwrap();
    assert_eq!(
        std::fs::read_to_string(mounted.join("namespace")).unwrap(),
        "nightshift"
    );
    let url = nightshift_sim::server::https_url(running.addr);
    let mut config = kube::Config::new(url.parse().unwrap());
    config.default_retry = false;
    config.root_cert = Some(vec![
        std::fs::read(mounted.join("ca.crt"))
            .map(|pem| pem_to_der(&pem))
            .unwrap(),
    ]);
    config.auth_info.token = Some(token.clone().into());
    let agent = kube::Client::try_from(config).unwrap();
    let pods: Api<Pod> = Api::all(agent.clone());
    match pods.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 401, "{}", s.message),
        other => panic!("no service account yet, expected 401: {other:?}"),
    }

    let chart = write(dir.path(), "chart.yaml", CHART);
    let (code, out, stderr) = kubectl(&["apply", "--dry-run=server", "-f", &chart]);
    assert_eq!(code, Some(0), "{out}{stderr}");
    assert_eq!(
        out.lines()
            .filter(|l| l.ends_with("created (server dry run)"))
            .count(),
        13,
        "{out}"
    );
    let (code, _, _) = kubectl(&["get", "clusterrole", "nightshift-agent"]);
    assert_eq!(code, Some(1), "a dry run stores nothing");
    let (code, out, stderr) = kubectl(&["apply", "-f", &chart]);
    assert_eq!(code, Some(0), "{out}{stderr}");
    assert_eq!(
        out.lines().filter(|l| l.ends_with(" created")).count(),
        13,
        "{out}"
    );
    let (code, out, stderr) = kubectl(&["apply", "-f", &chart]);
    assert_eq!(code, Some(0), "{out}{stderr}");
    // kubectl always patches a PodDisruptionBudget's selector (its patch strategy is
    // `replace`), so that one reads "configured", on a real cluster too; so does a Secret
    // written with `stringData`, which the server turns into `data`, so the live object never
    // has the `stringData` kubectl's last applied configuration has.
    assert_eq!(
        out.lines()
            .filter(|l| l.ends_with(" unchanged")
                || l.ends_with("/nightshift-agent configured")
                || *l == "secret/nightshift-llm configured")
            .count(),
        13,
        "{out}"
    );
    let (_, netpol, _) = kubectl(&["get", "networkpolicies", "-n", "nightshift"]);
    let rows: Vec<Vec<&str>> = netpol
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "POD-SELECTOR", "AGE"], "{netpol}");
    assert_eq!(
        rows[1][..2],
        ["nightshift-agent", "app=nightshift-agent"],
        "{netpol}"
    );

    assert!(
        !pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let deployments: Api<Deployment> = Api::namespaced(agent.clone(), "shop");
    deployments
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .expect("the chart grants scaling");
    match deployments.delete("web", &DeleteParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(
            s.message,
            "deployments.apps \"web\" is forbidden: User \"system:serviceaccount:nightshift:nightshift-agent\" cannot delete resource \"deployments\" in API group \"apps\" in the namespace \"shop\""
        ),
        other => panic!("expected 403: {other:?}"),
    }
    let secrets: Api<Secret> = Api::namespaced(agent, "nightshift");
    match secrets.get("nightshift-llm").await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403),
        other => panic!("the chart grants no secrets: {other:?}"),
    }
    let (code, answer, _) = kubectl(&[
        "auth",
        "can-i",
        "update",
        "leases/nightshift-agent",
        "-n",
        "nightshift",
        "--token",
        &token,
    ]);
    assert_eq!((code, answer.trim()), (Some(0), "yes"));
    let (code, answer, _) = kubectl(&[
        "auth",
        "can-i",
        "update",
        "leases/other",
        "-n",
        "nightshift",
        "--token",
        &token,
    ]);
    assert_eq!((code, answer.trim()), (Some(1), "no"));
    let (code, answer, _) = kubectl(&[
        "auth",
        "can-i",
        "create",
        "pods",
        "--subresource=eviction",
        "-n",
        "shop",
        "--token",
        &token,
    ]);
    assert_eq!((code, answer.trim()), (Some(0), "yes"));
    running.server.abort();
    running.clock.abort();
}
