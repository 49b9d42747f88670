mod support;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, StatefulSet};
use kube::api::{Api, ListParams, Patch, PatchParams};
use nightshift_core::{Action, ResourceRef};
use serde_json::json;
use support::{Cluster, scenario};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch() {
    let extra = "    - kind: StatefulSet\n      namespace: shop\n      name: postgres\n      replicas: 1\n      image: registry.local/postgres:16.2\n      labels: {app: postgres}\n    - kind: DaemonSet\n      namespace: shop\n      name: agent\n      image: registry.local/postgres:16.2\n      labels: {app: agent}\n      service: false\n";
    let cluster = Cluster::manual(&scenario(extra, "")).await;
    cluster.advance(30).await;
    let sts: Api<StatefulSet> = Api::namespaced(cluster.client.clone(), "shop");
    sts.patch("postgres", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "postgres", "image": "registry.local/shop/checkout:2.3.1"}]}}}}))).await.unwrap();
    cluster.advance(40).await;
    let a = cluster.actuator();
    let t = ResourceRef::Workload {
        kind: "StatefulSet".into(),
        namespace: "shop".into(),
        name: "postgres".into(),
    };
    a.execute(
        &Action::Rollback {
            target: t,
            revision: None,
        },
        "k",
    )
    .await
    .unwrap();
    cluster.advance(40).await;
    let crs: Api<ControllerRevision> = Api::namespaced(cluster.client.clone(), "shop");
    for cr in crs.list(&ListParams::default()).await.unwrap().items {
        println!(
            "CR {} rev {} data {}",
            cr.metadata.name.unwrap(),
            cr.revision,
            serde_json::to_string(&cr.data)
                .unwrap()
                .chars()
                .take(80)
                .collect::<String>()
        );
    }
    let s = sts.get("postgres").await.unwrap();
    println!("STS status {:?}", s.status);
    // DaemonSet rollback
    let ds: Api<DaemonSet> = Api::namespaced(cluster.client.clone(), "shop");
    ds.patch("agent", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "registry.local/shop/checkout:2.3.1"}]}}}}))).await.unwrap();
    cluster.advance(20).await;
    let t = ResourceRef::Workload {
        kind: "DaemonSet".into(),
        namespace: "shop".into(),
        name: "agent".into(),
    };
    println!(
        "DS rollback: {:?}",
        a.dry_run(&Action::Rollback {
            target: t,
            revision: None
        })
        .await
        .map(|r| r.summary)
        .map_err(|e| e.to_string())
    );
    // validation
    let d: Api<Deployment> = Api::namespaced(cluster.client.clone(), "shop");
    let pp = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let r = d.patch("checkout", &pp, &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "checkout", "resources": {"limits": {"memory": "lots"}}}]}}}}))).await;
    println!(
        "bad quantity: {:?}",
        r.map(|_| "accepted").map_err(|e| e.to_string())
    );
    let r = d.patch("checkout", &pp, &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "checkout", "resources": {"limits": {"memory": "64Mi"}}}]}}}}))).await;
    println!(
        "limit below request: {:?}",
        r.map(|_| "accepted").map_err(|e| e.to_string())
    );
}
