//! Events served through both APIs from one store, and namespaces that get their default
//! objects and terminate with their content, checked with kubectl 1.32 and kube-rs. Each
//! assertion says what kube-apiserver 1.34 answers.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::cluster::Cluster;

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
