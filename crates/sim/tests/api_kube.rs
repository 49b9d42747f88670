//! The simulated API server driven through kube-rs: reads, writes, patches, deletions, dry
//! runs and the scale subresource.

mod common;

use common::{deployment, pod, start};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use nightshift_sim::resources;
use serde_json::json;

fn api_error(err: kube::Error) -> (u16, String, String) {
    match err {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn get_and_list_with_selectors_and_pages() {
    let server = start().await;
    for (name, app, node) in [
        ("web-1", "web", "node-a"),
        ("web-2", "web", "node-b"),
        ("web-3", "web", "node-b"),
        ("db-1", "db", "node-a"),
        ("cache-1", "cache", "node-a"),
    ] {
        server.put("", "v1", "pods", pod(name, json!({"app": app}), node));
    }
    let pods: Api<Pod> = Api::default_namespaced(server.client());

    let p = pods.get("web-2").await.unwrap();
    assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("node-b"));
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Running"));

    let names = |list: kube::core::ObjectList<Pod>| -> Vec<String> {
        list.items.iter().map(|p| p.name_any()).collect()
    };
    let web = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(names(web), ["web-1", "web-2", "web-3"]);
    let set = pods
        .list(&ListParams::default().labels("app in (db,cache)"))
        .await
        .unwrap();
    assert_eq!(names(set), ["cache-1", "db-1"]);
    let not_web = pods
        .list(&ListParams::default().labels("app!=web,app"))
        .await
        .unwrap();
    assert_eq!(names(not_web), ["cache-1", "db-1"]);
    let on_b = pods
        .list(&ListParams::default().fields("spec.nodeName=node-b"))
        .await
        .unwrap();
    assert_eq!(names(on_b), ["web-2", "web-3"]);
    let both = pods
        .list(
            &ListParams::default()
                .labels("app=web")
                .fields("spec.nodeName!=node-b,status.phase=Running"),
        )
        .await
        .unwrap();
    assert_eq!(names(both), ["web-1"]);
    let by_name = pods
        .list(&ListParams::default().fields("metadata.name=db-1"))
        .await
        .unwrap();
    assert_eq!(names(by_name), ["db-1"]);

    // Pages of two: continue tokens chain through every object exactly once.
    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(2);
    let first = pods.list(&lp).await.unwrap();
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let list_rv = first.metadata.resource_version.clone();
    let mut page = first;
    loop {
        assert!(page.items.len() <= 2);
        assert_eq!(
            page.metadata.resource_version, list_rv,
            "every page reports the first page's version"
        );
        seen.extend(page.items.iter().map(|p| p.name_any()));
        match page.metadata.continue_.clone().filter(|c| !c.is_empty()) {
            Some(token) => {
                lp = lp.continue_token(&token);
                page = pods.list(&lp).await.unwrap();
            }
            None => break,
        }
    }
    assert_eq!(seen, ["cache-1", "db-1", "web-1", "web-2", "web-3"]);

    // All namespaces.
    server.put(
        "",
        "v1",
        "namespaces",
        json!({"metadata": {"name": "other"}}),
    );
    let mut elsewhere = pod("web-1", json!({"app": "web"}), "node-a");
    elsewhere["metadata"]["namespace"] = json!("other");
    server.put("", "v1", "pods", elsewhere);
    let all: Api<Pod> = Api::all(server.client());
    assert_eq!(
        all.list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .len(),
        4
    );
}

#[tokio::test]
async fn create_replace_and_conflicts() {
    let server = start().await;
    let client = server.client();
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "settings"},
        "data": {"mode": "fast"},
    }))
    .unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    assert!(created.metadata.uid.is_some());
    let rv = created.resource_version().unwrap();
    let (code, reason, _) = api_error(cms.create(&PostParams::default(), &cm).await.unwrap_err());
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    let mut changed = created.clone();
    changed
        .data
        .as_mut()
        .unwrap()
        .insert("mode".into(), "safe".into());
    let replaced = cms
        .replace("settings", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_eq!(replaced.data.as_ref().unwrap()["mode"], "safe");
    assert_ne!(replaced.resource_version().unwrap(), rv);

    // The same stale version again: a conflict, and the stored object keeps the first write.
    let (code, reason, message) = api_error(
        cms.replace("settings", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(
        message.contains("the object has been modified"),
        "{message}"
    );
    assert_eq!(
        cms.get("settings").await.unwrap().data.unwrap()["mode"],
        "safe"
    );

    let generated: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap();
    let made = cms
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    assert!(
        made.name_any().starts_with("gen-") && made.name_any().len() == 9,
        "{}",
        made.name_any()
    );
}

#[tokio::test]
async fn merge_json_and_strategic_patches() {
    let server = start().await;
    let mut two = pod("web-1", json!({"app": "web"}), "node-a");
    two["spec"]["containers"] = json!([
        {"name": "app", "image": "web:1", "env": [{"name": "A", "value": "1"}]},
        {"name": "proxy", "image": "proxy:1"},
    ]);
    server.put("", "v1", "pods", two);
    let pods: Api<Pod> = Api::default_namespaced(server.client());
    let pp = PatchParams::default();

    let p = pods
        .patch(
            "web-1",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "front", "app": null}}})),
        )
        .await
        .unwrap();
    let labels = p.metadata.labels.unwrap();
    assert_eq!(labels.get("tier").map(String::as_str), Some("front"));
    assert!(!labels.contains_key("app"));

    let ops = serde_json::from_value(json!([
        {"op": "add", "path": "/metadata/annotations", "value": {"note": "hi"}},
        {"op": "replace", "path": "/spec/containers/1/image", "value": "proxy:2"},
    ]))
    .unwrap();
    let p = pods
        .patch("web-1", &pp, &Patch::<()>::Json(ops))
        .await
        .unwrap();
    assert_eq!(p.metadata.annotations.unwrap()["note"], "hi");
    assert_eq!(
        p.spec.unwrap().containers[1].image.as_deref(),
        Some("proxy:2")
    );

    // Strategic merge: containers merge by name; the proxy container and the app's env stay.
    let p = pods
        .patch(
            "web-1",
            &pp,
            &Patch::Strategic(json!({"spec": {"containers": [{"name": "app", "image": "web:2"}]}})),
        )
        .await
        .unwrap();
    let spec = p.spec.unwrap();
    assert_eq!(spec.containers.len(), 2);
    assert_eq!(spec.containers[0].image.as_deref(), Some("web:2"));
    assert_eq!(spec.containers[1].image.as_deref(), Some("proxy:2"));
    let env: Vec<String> = spec.containers[0]
        .env
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(env, ["A"]);

    // A pod's env is fixed once it exists (kube-apiserver: 422, spec: Forbidden).
    let (code, _, message) = api_error(
        pods.patch(
            "web-1",
            &pp,
            &Patch::Strategic(json!({"spec": {"containers": [
                {"name": "app", "env": [{"name": "B", "value": "2"}]}
            ]}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(
        message.contains("spec: Forbidden: pod updates may not change fields"),
        "{message}"
    );

    // A merge patch carrying a stale resourceVersion is a precondition: 409.
    let stale = json!({"metadata": {"resourceVersion": "2", "labels": {"x": "y"}}});
    let (code, _, _) = api_error(
        pods.patch("web-1", &pp, &Patch::Merge(stale))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);

    // Status patches write only the status.
    let p = pods
        .patch_status(
            "web-1",
            &pp,
            &Patch::Merge(json!({"status": {"phase": "Failed"}, "spec": {"nodeName": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.status.unwrap().phase.as_deref(), Some("Failed"));
    assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("node-a"));
}

#[tokio::test]
async fn server_side_apply_creates_and_updates_a_lease() {
    let server = start().await;
    let leases: Api<Lease> = Api::default_namespaced(server.client());
    let apply = |holder: &str| {
        Patch::Apply(json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "nightshift-leader"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15},
        }))
    };
    let pp = PatchParams::apply("nightshift").force();
    let created = leases
        .patch("nightshift-leader", &pp, &apply("a"))
        .await
        .unwrap();
    assert_eq!(
        created.spec.as_ref().unwrap().holder_identity.as_deref(),
        Some("a")
    );
    let updated = leases
        .patch("nightshift-leader", &pp, &apply("b"))
        .await
        .unwrap();
    let spec = updated.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some("b"));
    assert_eq!(spec.lease_duration_seconds, Some(15));
    assert_eq!(updated.metadata.uid, created.metadata.uid);

    // Apply without a field manager is refused as an invalid option (422).
    let no_manager = PatchParams::default();
    let (code, _, message) = api_error(
        leases
            .patch("nightshift-leader", &no_manager, &apply("c"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422, "{message}");
}

#[tokio::test]
async fn deletes_with_grace_and_propagation() {
    let server = start().await;
    server.put("", "v1", "pods", pod("bound", json!({}), "node-a"));
    server.put("", "v1", "pods", pod("unbound", json!({}), ""));
    let pods: Api<Pod> = Api::default_namespaced(server.client());

    // A pod on a node is only marked; the kubelet removes it after the grace period.
    let marked = pods
        .delete("bound", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(30));
    assert!(pods.get("bound").await.is_ok());
    let gone = pods
        .delete("unbound", &DeleteParams::default())
        .await
        .unwrap();
    assert!(gone.is_left());
    let (code, _, _) = api_error(pods.get("unbound").await.unwrap_err());
    assert_eq!(code, 404);
    let (code, _, message) = api_error(
        pods.delete("unbound", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, message.as_str()),
        (404, "pods \"unbound\" not found")
    );

    // Orphan propagation strips the owner reference from dependents.
    let d = server.put("apps", "v1", "deployments", deployment("web", 1));
    let mut rs = deployment("web-abc", 1);
    rs["kind"] = json!("ReplicaSet");
    rs["spec"]["selector"]["matchLabels"] = json!({"app": "web-abc"});
    rs["spec"]["template"]["metadata"]["labels"] = json!({"app": "web-abc"});
    rs["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
        "uid": d["metadata"]["uid"], "controller": true,
    }]);
    server.put("apps", "v1", "replicasets", rs);
    let deploys: Api<Deployment> = Api::default_namespaced(server.client());
    deploys
        .delete("web", &DeleteParams::orphan())
        .await
        .unwrap();
    let replicasets: Api<ReplicaSet> = Api::default_namespaced(server.client());
    let rs = replicasets.get("web-abc").await.unwrap();
    assert!(rs.metadata.owner_references.unwrap_or_default().is_empty());

    // Preconditions.
    let stale = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("nope".into()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let (code, _, _) = api_error(replicasets.delete("web-abc", &stale).await.unwrap_err());
    assert_eq!(code, 409);

    // Delete a collection by label.
    server.put("", "v1", "pods", pod("a", json!({"wipe": "yes"}), ""));
    server.put("", "v1", "pods", pod("b", json!({"wipe": "yes"}), ""));
    let deleted = pods
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("wipe=yes"),
        )
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(deleted.items.len(), 2);
    assert_eq!(
        pods.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
}

#[tokio::test]
async fn dry_runs_change_nothing() {
    let server = start().await;
    server.put("", "v1", "pods", pod("web-1", json!({"app": "web"}), ""));
    let pods: Api<Pod> = Api::default_namespaced(server.client());
    let rv = server.store.resource_version();

    let new_pod: Pod = serde_json::from_value(pod("web-2", json!({}), "")).unwrap();
    let dry = pods
        .create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &new_pod,
        )
        .await
        .unwrap();
    assert_eq!(dry.name_any(), "web-2");
    assert!(dry.metadata.uid.is_some());

    let patched = pods
        .patch(
            "web-1",
            &PatchParams {
                dry_run: true,
                ..PatchParams::default()
            },
            &Patch::Merge(json!({"metadata": {"labels": {"app": "db"}}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.labels()["app"], "db");

    let deleted = pods
        .delete(
            "web-1",
            &DeleteParams {
                dry_run: true,
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    assert!(deleted.is_left());

    assert_eq!(
        server.store.resource_version(),
        rv,
        "a dry run moved the store's version"
    );
    assert!(pods.get("web-2").await.is_err());
    assert_eq!(pods.get("web-1").await.unwrap().labels()["app"], "web");
}

#[tokio::test]
async fn deployment_scale_subresource() {
    let server = start().await;
    server.put("apps", "v1", "deployments", deployment("web", 2));
    let deploys: Api<Deployment> = Api::default_namespaced(server.client());

    let scale = deploys.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.as_ref().unwrap().replicas, Some(2));
    assert_eq!(
        scale.status.as_ref().unwrap().selector.as_deref(),
        Some("app=web")
    );

    let patched = deploys
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(5));
    assert_eq!(
        deploys.get("web").await.unwrap().spec.unwrap().replicas,
        Some(5)
    );

    let mut scale: Scale = deploys.get_scale("web").await.unwrap();
    scale.spec.as_mut().unwrap().replicas = Some(1);
    let replaced = deploys
        .replace_scale("web", &PostParams::default(), &scale)
        .await
        .unwrap();
    assert_eq!(replaced.spec.unwrap().replicas, Some(1));
    assert_eq!(
        deploys.get("web").await.unwrap().spec.unwrap().replicas,
        Some(1)
    );

    // The version of the scale read before the last write is stale now.
    let (code, _, _) = api_error(
        deploys
            .replace_scale("web", &PostParams::default(), &scale)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);
    let rt = resources::find("apps", "v1", "deployments").unwrap();
    assert_eq!(
        server.store.get(rt, "default", "web").unwrap().value()["spec"]["replicas"],
        1
    );
}

#[tokio::test]
async fn metadata_only_lists_and_watches() {
    let server = start().await;
    server.put("", "v1", "pods", pod("web-1", json!({"app": "web"}), ""));
    let pods: Api<Pod> = Api::default_namespaced(server.client());
    let list = pods.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items[0].metadata.name.as_deref(), Some("web-1"));
    assert_eq!(
        list.items[0].metadata.labels.as_ref().unwrap()["app"],
        "web"
    );
    let one = pods.get_metadata("web-1").await.unwrap();
    assert_eq!(one.types.unwrap().kind, "PartialObjectMetadata");
    use futures::TryStreamExt;
    let mut events = pods
        .watch_metadata(&Default::default(), "0")
        .await
        .unwrap()
        .boxed();
    match events.try_next().await.unwrap() {
        Some(kube::api::WatchEvent::Added(m)) => {
            assert_eq!(m.metadata.name.as_deref(), Some("web-1"))
        }
        other => panic!("expected web-1 added, got {other:?}"),
    }
}
