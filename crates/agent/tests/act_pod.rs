//! restart-pod against the simulated cluster: evictions, never a bare pod, budgets respected,
//! one restart per key.

mod support;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use nightshift_agent::act::{ActError, Disruption, OutcomeStatus};
use nightshift_agent::verify::{CriteriaContext, VerifyStatus, criteria};
use nightshift_core::{Action, ResourceRef};
use serde_json::json;
use support::{Cluster, ready, scenario};

fn name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_pod_evicts_once_and_the_replacement_becomes_ready() {
    let cluster = Cluster::manual(&scenario("", "")).await;
    cluster.advance(20).await;
    let pods = cluster.live_pods("shop", "app=checkout").await;
    let victim = pods[0].clone();
    let action = Action::RestartPod {
        namespace: "shop".into(),
        pod: name(&victim),
    };
    let actuator = cluster.actuator();

    let report = actuator.dry_run(&action).await.unwrap();
    assert_eq!(
        report.summary,
        format!(
            "evict pod shop/{} so that deployment shop/checkout replaces it",
            name(&victim)
        )
    );
    assert_eq!(report.pods.len(), 1);
    assert_eq!(report.pods[0].result, Disruption::WouldEvict);
    assert_eq!(
        report.pods[0].owner,
        Some(ResourceRef::deployment("shop", "checkout"))
    );
    let still = cluster.live_pods("shop", "app=checkout").await;
    assert_eq!(still.len(), 3, "the dry run evicted nothing");
    assert!(still.iter().any(|p| name(p) == name(&victim)));

    let verifier = cluster.verifier();
    let since = verifier.now().await;
    let outcome = actuator.execute(&action, "inc-7/a1").await.unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Applied);
    assert_eq!(outcome.replaced_pod_uid, victim.metadata.uid.clone());
    assert_eq!(
        outcome.affected_workloads,
        [ResourceRef::deployment("shop", "checkout")]
    );
    assert!(
        !cluster
            .live_pods("shop", "app=checkout")
            .await
            .iter()
            .any(|p| name(p) == name(&victim)),
        "the pod is terminating"
    );
    assert!(actuator.already_applied(&action, "inc-7/a1").await.unwrap());
    let again = actuator.execute(&action, "inc-7/a1").await.unwrap();
    assert_eq!(again.status, OutcomeStatus::AlreadyApplied);

    let c = criteria(&action, &CriteriaContext::from_outcome(&outcome));
    let (status, seen) = cluster
        .verify_until_final(&verifier, &c, since, 15, 400)
        .await;
    assert_eq!(status, VerifyStatus::Recovered, "{seen:?}");
    let now = cluster.live_pods("shop", "app=checkout").await;
    assert_eq!(now.len(), 3);
    assert!(now.iter().all(ready));
    let survivors = now
        .iter()
        .filter(|p| pods.iter().any(|o| name(o) == name(p)))
        .count();
    assert_eq!(survivors, 2, "exactly one pod was replaced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_pod_refuses_a_bare_pod() {
    let cluster = Cluster::manual(&scenario("", "")).await;
    cluster.advance(10).await;
    let bare: Pod = serde_json::from_value(json!({
        "metadata": {"name": "debug-shell", "namespace": "shop", "labels": {"app": "debug"}},
        "spec": {"nodeName": "node-a", "containers": [{"name": "sh", "image": "registry.local/shop/checkout:2.3.1"}]},
    }))
    .unwrap();
    Api::<Pod>::namespaced(cluster.client.clone(), "shop")
        .create(&PostParams::default(), &bare)
        .await
        .unwrap();
    let action = Action::RestartPod {
        namespace: "shop".into(),
        pod: "debug-shell".into(),
    };
    let actuator = cluster.actuator();
    let err = actuator.dry_run(&action).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "pod shop/debug-shell has no controller; refusing to delete a bare pod"
    );
    let err = actuator.execute(&action, "k").await.unwrap_err();
    assert!(matches!(err, ActError::BarePod { .. }), "{err}");
    assert_eq!(cluster.live_pods("shop", "app=debug").await.len(), 1);

    let err = actuator
        .execute(
            &Action::RestartPod {
                namespace: "shop".into(),
                pod: "nope".into(),
            },
            "k",
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "pod shop/nope not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_pod_respects_a_disruption_budget() {
    let cluster = Cluster::manual(&scenario("", "")).await;
    cluster.advance(20).await;
    cluster
        .pdb("shop", "checkout", json!({"minAvailable": 3}))
        .await;
    let victim = name(&cluster.live_pods("shop", "app=checkout").await[0]);
    let action = Action::RestartPod {
        namespace: "shop".into(),
        pod: victim.clone(),
    };
    let actuator = cluster.actuator();
    let err = actuator.dry_run(&action).await.unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "eviction of pod shop/{victim} refused by its disruption budget: Cannot evict pod"
        )),
        "{err}"
    );
    let err = actuator.execute(&action, "inc-8/a1").await.unwrap_err();
    let ActError::DryRun { source, .. } = &err else {
        panic!("the dry run inside execute fails first: {err}")
    };
    assert!(matches!(**source, ActError::EvictionRefused { .. }));
    assert_eq!(
        err.to_string(),
        "the dry run of restart-pod failed; nothing was changed"
    );
    assert!(
        cluster
            .live_pods("shop", "app=checkout")
            .await
            .iter()
            .any(|p| name(p) == victim)
    );
    let d = cluster.deployment("shop", "checkout").await;
    assert!(
        !d.metadata
            .annotations
            .unwrap_or_default()
            .contains_key("nightshift.io/action-id"),
        "a failed dry run stamps nothing"
    );
    assert!(!actuator.already_applied(&action, "inc-8/a1").await.unwrap());
}
