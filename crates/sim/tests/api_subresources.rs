//! Logs, evictions and metrics.k8s.io through kube-rs.

mod common;

use std::time::Duration;

use common::{START_MS, node, pod, start};
use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, EvictParams, LogParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use nightshift_sim::resources;
use nightshift_sim::telemetry::ContainerUsage;
use serde_json::json;

fn api_error(err: kube::Error) -> (u16, String, String) {
    match err {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn logs_with_tail_previous_and_timestamps() {
    let server = start().await;
    server.put("", "v1", "pods", pod("web-1", json!({}), "node-a"));
    let t = &server.telemetry;
    for i in 0..5 {
        t.log(
            "default",
            "web-1",
            "app",
            false,
            START_MS + i * 1000,
            &format!("line {i}"),
        );
    }
    t.log(
        "default",
        "web-1",
        "app",
        true,
        START_MS - 5000,
        "crashed: out of memory",
    );
    let pods: Api<Pod> = Api::default_namespaced(server.client());

    assert_eq!(
        pods.logs("web-1", &LogParams::default()).await.unwrap(),
        "line 0\nline 1\nline 2\nline 3\nline 4\n"
    );
    let tail = LogParams {
        tail_lines: Some(2),
        timestamps: true,
        ..LogParams::default()
    };
    assert_eq!(
        pods.logs("web-1", &tail).await.unwrap(),
        "2026-01-01T00:00:03.000000000Z line 3\n2026-01-01T00:00:04.000000000Z line 4\n"
    );
    let previous = LogParams {
        previous: true,
        container: Some("app".into()),
        ..LogParams::default()
    };
    assert_eq!(
        pods.logs("web-1", &previous).await.unwrap(),
        "crashed: out of memory\n"
    );
    server.store.clock().advance_to(START_MS + 4500);
    let recent = LogParams {
        since_seconds: Some(2),
        ..LogParams::default()
    };
    assert_eq!(
        pods.logs("web-1", &recent).await.unwrap(),
        "line 3\nline 4\n"
    );
    let limited = LogParams {
        limit_bytes: Some(10),
        ..LogParams::default()
    };
    assert_eq!(pods.logs("web-1", &limited).await.unwrap(), "line 0\nlin");

    // Errors: the kubelet's codes.
    let (code, _, message) = api_error(pods.logs("nope", &LogParams::default()).await.unwrap_err());
    assert_eq!((code, message.as_str()), (404, "pods \"nope\" not found"));
    let bad = LogParams {
        container: Some("sidecar".into()),
        ..LogParams::default()
    };
    assert_eq!(
        api_error(pods.logs("web-1", &bad).await.unwrap_err()).0,
        400
    );
    let waiting = LogParams {
        container: Some("waiting".into()),
        ..LogParams::default()
    };
    t.log("default", "web-1", "waiting", false, START_MS, "");
    let (code, _, message) = api_error(pods.logs("web-1", &waiting).await.unwrap_err());
    assert_eq!(code, 400);
    assert!(
        message.contains("is waiting to start: ContainerCreating"),
        "{message}"
    );
    server.put("", "v1", "pods", pod("fresh", json!({}), "node-a"));
    t.log("default", "fresh", "app", false, START_MS, "first");
    let no_previous = LogParams {
        previous: true,
        ..LogParams::default()
    };
    let (code, _, message) = api_error(pods.logs("fresh", &no_previous).await.unwrap_err());
    assert_eq!(code, 400);
    assert!(
        message.contains("previous terminated container"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_streams_new_lines_until_the_pod_goes_away() {
    let server = common::start_with(common::store(), |s| {
        s.log_poll_interval = Duration::from_millis(20)
    })
    .await;
    server.put("", "v1", "pods", pod("web-1", json!({}), "node-a"));
    server
        .telemetry
        .log("default", "web-1", "app", false, START_MS, "started");
    let pods: Api<Pod> = Api::default_namespaced(server.client());
    let follow = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let mut lines = pods.log_stream("web-1", &follow).await.unwrap().lines();
    let next = async |lines: &mut (dyn futures::Stream<Item = std::io::Result<String>> + Unpin)| {
        tokio::time::timeout(Duration::from_secs(10), lines.try_next())
            .await
            .expect("line in time")
            .unwrap()
    };
    assert_eq!(next(&mut lines).await.as_deref(), Some("started"));
    server.telemetry.log(
        "default",
        "web-1",
        "app",
        false,
        START_MS + 1000,
        "request 1",
    );
    server.telemetry.log(
        "default",
        "web-1",
        "app",
        false,
        START_MS + 1000,
        "request 2",
    );
    assert_eq!(next(&mut lines).await.as_deref(), Some("request 1"));
    assert_eq!(next(&mut lines).await.as_deref(), Some("request 2"));
    server.store.remove(
        resources::find("", "v1", "pods").unwrap(),
        "default",
        "web-1",
    );
    assert_eq!(next(&mut lines).await, None, "the stream ends with the pod");
}

fn ready_pod(name: &str) -> serde_json::Value {
    pod(name, json!({"app": "web"}), "node-a")
}

#[tokio::test]
async fn eviction_respects_disruption_budgets() {
    let server = start().await;
    server.put("", "v1", "pods", ready_pod("web-1"));
    server.put("", "v1", "pods", ready_pod("web-2"));
    server.put(
        "policy",
        "v1",
        "poddisruptionbudgets",
        json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
        }),
    );
    let pods: Api<Pod> = Api::default_namespaced(server.client());

    let err = pods
        .evict("web-1", &EvictParams::default())
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected a Status")
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (429, "TooManyRequests")
    );
    assert_eq!(
        status.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let cause = &status.details.unwrap().causes[0];
    assert_eq!(cause.reason, "DisruptionBudget");
    assert_eq!(
        cause.message,
        "The disruption budget web needs 2 healthy pods and has 2 currently"
    );
    assert!(
        pods.get("web-1")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );

    // A third ready pod makes room for one eviction; a dry run changes nothing.
    server.put("", "v1", "pods", ready_pod("web-3"));
    let dry = EvictParams {
        post_options: PostParams {
            dry_run: true,
            ..PostParams::default()
        },
        ..EvictParams::default()
    };
    pods.evict("web-1", &dry).await.unwrap();
    assert!(
        pods.get("web-1")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );
    let evicted = EvictParams {
        delete_options: Some(DeleteParams {
            grace_period_seconds: Some(5),
            ..DeleteParams::default()
        }),
        ..EvictParams::default()
    };
    let status = pods.evict("web-1", &evicted).await.unwrap();
    assert_eq!(status.code, 201);
    let web1 = pods.get("web-1").await.unwrap();
    assert!(web1.metadata.deletion_timestamp.is_some());
    assert_eq!(web1.metadata.deletion_grace_period_seconds, Some(5));

    // web-1 is terminating now, so it no longer counts as healthy: the next one is refused.
    assert_eq!(
        api_error(
            pods.evict("web-2", &EvictParams::default())
                .await
                .unwrap_err()
        )
        .0,
        429
    );
    // Pods outside every budget go freely.
    server.put(
        "",
        "v1",
        "pods",
        pod("loner", json!({"app": "batch"}), "node-a"),
    );
    pods.evict("loner", &EvictParams::default()).await.unwrap();
    assert_eq!(
        api_error(
            pods.evict("ghost", &EvictParams::default())
                .await
                .unwrap_err()
        )
        .0,
        404
    );
}

#[tokio::test]
async fn metrics_api_serves_pod_and_node_usage() {
    let server = start().await;
    server.put("", "v1", "nodes", node("node-a"));
    server.put(
        "",
        "v1",
        "pods",
        pod("web-1", json!({"app": "web"}), "node-a"),
    );
    server.put(
        "",
        "v1",
        "pods",
        pod("db-1", json!({"app": "db"}), "node-a"),
    );
    server.put(
        "",
        "v1",
        "pods",
        pod("idle", json!({"app": "web"}), "node-a"),
    );
    {
        let mut pods = server.telemetry.pods.lock().unwrap();
        for (name, cpu) in [("web-1", 12), ("db-1", 250)] {
            pods.insert(
                ("default".into(), name.into()),
                vec![ContainerUsage {
                    name: "app".into(),
                    cpu_millis: cpu,
                    memory_bytes: 64 * 1024 * 1024,
                }],
            );
        }
        server
            .telemetry
            .nodes
            .lock()
            .unwrap()
            .insert("node-a".into(), (1500, 4 << 30));
    }
    let client = server.client();
    let gvk = |kind: &str| GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", kind);
    let pod_metrics: Api<DynamicObject> = Api::default_namespaced_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk("PodMetrics"), "pods"),
    );
    let list = pod_metrics.list(&Default::default()).await.unwrap();
    let names: Vec<&str> = list
        .items
        .iter()
        .map(|m| m.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["db-1", "web-1"], "pods without usage are left out");
    let web = &list.items[1].data;
    assert_eq!(web["window"], "30s");
    assert_eq!(
        web["containers"][0],
        json!({"name": "app", "usage": {"cpu": "12000000n", "memory": "65536Ki"}})
    );
    assert_eq!(
        list.items[1].metadata.labels.as_ref().unwrap()["app"],
        "web"
    );
    let selected = pod_metrics
        .list(&kube::api::ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 1);
    let one = pod_metrics.get("db-1").await.unwrap();
    assert_eq!(one.data["containers"][0]["usage"]["cpu"], "250000000n");

    let node_metrics: Api<DynamicObject> = Api::all_with(
        client,
        &ApiResource::from_gvk_with_plural(&gvk("NodeMetrics"), "nodes"),
    );
    let nodes = node_metrics.list(&Default::default()).await.unwrap();
    assert_eq!(
        nodes.items[0].data["usage"],
        json!({"cpu": "1500000000n", "memory": "4194304Ki"})
    );
    let (code, _, _) = api_error(
        node_metrics
            .delete("node-a", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 405);
}
