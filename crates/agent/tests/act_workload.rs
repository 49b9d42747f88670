//! scale, rollout-restart and set-resources against the simulated cluster: dry runs change
//! nothing and say what would change, real runs change it, the same key never applies twice,
//! and verification sees the recovery.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use nightshift_agent::act::{
    ACTION_ID_ANNOTATION, ActError, OutcomeStatus, RESTARTED_AT_ANNOTATION,
};
use nightshift_agent::verify::{CriteriaContext, VerifyStatus, criteria};
use nightshift_core::action::ResourceChange;
use nightshift_core::{Action, ResourceRef};
use serde_json::json;
use support::{Cluster, ready, reasons, scenario};

fn checkout() -> ResourceRef {
    ResourceRef::deployment("shop", "checkout")
}

/// The action keys stamped in the templates of `ns`'s ReplicaSets, by revision.
async fn made_by(cluster: &Cluster, ns: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = cluster
        .replica_sets(ns)
        .await
        .iter()
        .map(|rs| {
            let revision =
                rs.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"]
                    .clone();
            let key = rs
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.annotations.as_ref())
                .and_then(|a| a.get(ACTION_ID_ANNOTATION))
                .cloned();
            (revision, key)
        })
        .collect();
    out.sort();
    out
}

fn restarted_at(d: &Deployment) -> Option<String> {
    d.spec
        .as_ref()?
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(RESTARTED_AT_ANNOTATION)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_dry_run_changes_nothing_then_scales_up_once() {
    let cluster = Cluster::manual(&scenario("", "")).await;
    cluster.advance(20).await;
    let actuator = cluster.actuator();
    let action = Action::Scale {
        target: checkout(),
        replicas: 6,
    };

    let report = actuator.dry_run(&action).await.unwrap();
    assert_eq!(
        report
            .changes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["deployment/shop/checkout spec.replicas: 3 → 6"]
    );
    assert_eq!(
        report.summary,
        "scale deployment shop/checkout from 3 to 6 replicas"
    );
    let d = cluster.deployment("shop", "checkout").await;
    assert_eq!(
        d.spec.unwrap().replicas,
        Some(3),
        "the dry run changed nothing"
    );
    cluster.advance(10).await;
    assert_eq!(cluster.live_pods("shop", "app=checkout").await.len(), 3);

    let verifier = cluster.verifier();
    let since = verifier.now().await;
    assert!(!actuator.already_applied(&action, "inc-1/a1").await.unwrap());
    let outcome = actuator.execute(&action, "inc-1/a1").await.unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Applied);
    assert_eq!(outcome.changes[0].to.as_deref(), Some("6"));
    let d = cluster.deployment("shop", "checkout").await;
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(6));
    assert_eq!(
        d.metadata.annotations.unwrap()["nightshift.io/action-id"],
        "inc-1/a1"
    );
    assert!(actuator.already_applied(&action, "inc-1/a1").await.unwrap());

    // Someone scales back to 3; the same key must not scale again.
    Api::<Deployment>::namespaced(cluster.client.clone(), "shop")
        .patch_scale(
            "checkout",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let again = actuator.execute(&action, "inc-1/a1").await.unwrap();
    assert_eq!(again.status, OutcomeStatus::AlreadyApplied);
    assert_eq!(
        cluster
            .deployment("shop", "checkout")
            .await
            .spec
            .unwrap()
            .replicas,
        Some(3)
    );
    actuator.execute(&action, "inc-1/a2").await.unwrap();

    let c = criteria(
        &action,
        &CriteriaContext::from_outcome(&outcome).with_stabilization(Duration::from_secs(60)),
    );
    let (status, seen) = cluster
        .verify_until_final(&verifier, &c, since, 10, 300)
        .await;
    assert_eq!(status, VerifyStatus::Recovered, "{seen:?}");
    assert!(
        seen.iter().any(
            |s| matches!(s, VerifyStatus::Pending { why } if why.contains("stabilization window"))
        ),
        "healthy but not yet stable for the window first: {seen:?}"
    );
    let pods = cluster.live_pods("shop", "app=checkout").await;
    assert_eq!(pods.len(), 6);
    assert!(pods.iter().all(ready));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_refuses_daemonsets_and_negative_counts() {
    let extra = "    - kind: DaemonSet\n      namespace: shop\n      name: log-agent\n      image: registry.local/ops/log-agent:1.0\n      service: false\n";
    let cluster = Cluster::manual(&scenario(extra, "")).await;
    let actuator = cluster.actuator();
    let err = actuator
        .dry_run(&Action::Scale {
            target: ResourceRef::Workload {
                kind: nightshift_core::WorkloadKind::DaemonSet,
                namespace: "shop".into(),
                name: "log-agent".into(),
            },
            replicas: 2,
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "daemonset shop/log-agent has no replica count to scale"
    );
    let err = actuator
        .execute(
            &Action::Scale {
                target: checkout(),
                replicas: -1,
            },
            "k",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ActError::InvalidReplicas { replicas: -1, .. }),
        "{err}"
    );
    let err = actuator
        .dry_run(&Action::Scale {
            target: ResourceRef::node("node-a"),
            replicas: 2,
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("scale needs a workload"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_restart_like_kubectl_and_never_twice_for_one_key() {
    let cluster = Cluster::manual(&scenario("", "")).await;
    cluster.advance(20).await;
    let actuator = cluster.actuator();
    let action = Action::RolloutRestart { target: checkout() };

    let report = actuator.dry_run(&action).await.unwrap();
    assert_eq!(report.changes.len(), 1, "{report}");
    assert_eq!(
        report.changes[0].field,
        "spec.template.metadata.annotations[\"kubectl.kubernetes.io/restartedAt\"]"
    );
    assert_eq!(report.changes[0].from, None);
    assert_eq!(
        restarted_at(&cluster.deployment("shop", "checkout").await),
        None
    );
    assert_eq!(cluster.replica_sets("shop").await.len(), 1);
    let before: Vec<String> = cluster
        .live_pods("shop", "app=checkout")
        .await
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();

    let verifier = cluster.verifier();
    let since = verifier.now().await;
    let outcome = actuator.execute(&action, "inc-2/a1").await.unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Applied);
    assert_eq!(outcome.changes.len(), 1, "{:?}", outcome.changes);
    let stamp = restarted_at(&cluster.deployment("shop", "checkout").await).expect("restartedAt");
    cluster.advance(60).await;
    assert_eq!(
        made_by(&cluster, "shop").await,
        [("1".into(), None), ("2".into(), Some("inc-2/a1".into()))],
        "one new revision, which says the restart made it"
    );
    let after = cluster.live_pods("shop", "app=checkout").await;
    assert_eq!(after.len(), 3);
    assert!(
        after
            .iter()
            .all(|p| !before.contains(p.metadata.name.as_ref().unwrap())),
        "every pod was replaced"
    );

    // Crash recovery: the intent is replayed with the same key.
    assert!(actuator.already_applied(&action, "inc-2/a1").await.unwrap());
    let again = actuator.execute(&action, "inc-2/a1").await.unwrap();
    assert_eq!(again.status, OutcomeStatus::AlreadyApplied);
    cluster.advance(10).await;
    assert_eq!(
        cluster.replica_sets("shop").await.len(),
        2,
        "no third revision"
    );
    assert_eq!(
        restarted_at(&cluster.deployment("shop", "checkout").await).as_deref(),
        Some(stamp.as_str())
    );

    let c = criteria(&action, &CriteriaContext::from_outcome(&outcome));
    let (status, seen) = cluster
        .verify_until_final(&verifier, &c, since, 15, 400)
        .await;
    assert_eq!(status, VerifyStatus::Recovered, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_restart_refuses_a_paused_deployment() {
    let cluster = Cluster::manual(&scenario("", "")).await;
    Api::<Deployment>::namespaced(cluster.client.clone(), "shop")
        .patch(
            "checkout",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": true}})),
        )
        .await
        .unwrap();
    let err = cluster
        .actuator()
        .execute(&Action::RolloutRestart { target: checkout() }, "k")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "deployment shop/checkout is paused; resume it (kubectl rollout resume) before a rollout-restart"
    );
}

const OOM: &str =
    "  - {at: 30s, type: memory-limit, target: shop/checkout, params: {memory: 300Mi}}\n";

fn raise_memory(limit: &str) -> Action {
    let mut change = ResourceChange::default();
    change.limits.insert("memory".into(), limit.into());
    Action::SetResources {
        target: checkout(),
        container: "checkout".into(),
        change,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_resources_raising_memory_ends_oom_kills() {
    let cluster = Cluster::manual(&scenario("", OOM)).await;
    cluster.advance(120).await;
    let pods = cluster.live_pods("shop", "app=checkout").await;
    assert!(
        pods.iter()
            .any(|p| reasons(p).iter().any(|r| r == "OOMKilled")),
        "the fault OOMKills: {:?}",
        pods.iter().map(reasons).collect::<Vec<_>>()
    );
    let actuator = cluster.actuator();
    let action = raise_memory("512Mi");

    let report = actuator.dry_run(&action).await.unwrap();
    assert_eq!(
        report
            .changes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "deployment/shop/checkout spec.template.spec.containers[checkout].resources.limits.memory: 256Mi → 512Mi"
        ]
    );
    assert_eq!(
        report.summary,
        "set limits.memory 256Mi → 512Mi of container checkout in deployment shop/checkout"
    );
    let limit = |d: &Deployment| {
        d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .resources
            .as_ref()
            .unwrap()
            .limits
            .as_ref()
            .unwrap()["memory"]
            .0
            .clone()
    };
    assert_eq!(
        limit(&cluster.deployment("shop", "checkout").await),
        "256Mi"
    );

    let verifier = cluster.verifier();
    let since = verifier.now().await;
    let outcome = actuator.execute(&action, "inc-3/a1").await.unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Applied);
    assert_eq!(
        outcome
            .changes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "deployment/shop/checkout spec.template.spec.containers[checkout].resources.limits.memory: 256Mi → 512Mi"
        ]
    );
    let d = cluster.deployment("shop", "checkout").await;
    assert_eq!(limit(&d), "512Mi");
    cluster.advance(5).await;
    assert_eq!(
        made_by(&cluster, "shop").await.last(),
        Some(&("2".into(), Some("inc-3/a1".into()))),
        "the revision of the new limit says which action made it"
    );
    let requests = d
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .resources
        .as_ref()
        .unwrap()
        .requests
        .clone()
        .unwrap();
    assert_eq!(requests["memory"].0, "128Mi", "other values untouched");

    let c = criteria(
        &action,
        &CriteriaContext::from_outcome(&outcome).with_stabilization(Duration::from_secs(120)),
    );
    let (status, seen) = cluster
        .verify_until_final(&verifier, &c, since, 15, 600)
        .await;
    assert_eq!(status, VerifyStatus::Recovered, "{seen:?}");
    let pods = cluster.live_pods("shop", "app=checkout").await;
    assert_eq!(pods.len(), 3);
    for p in &pods {
        assert!(ready(p));
        assert!(
            !reasons(p).iter().any(|r| r == "OOMKilled"),
            "{:?}",
            reasons(p)
        );
        assert_eq!(
            p.status
                .as_ref()
                .unwrap()
                .container_statuses
                .as_ref()
                .unwrap()[0]
                .restart_count,
            0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_resources_too_low_fails_verification_at_once() {
    let cluster = Cluster::manual(&scenario("", OOM)).await;
    cluster.advance(60).await;
    let actuator = cluster.actuator();
    let action = raise_memory("280Mi");
    let verifier = cluster.verifier();
    let since = verifier.now().await;
    let outcome = actuator.execute(&action, "inc-4/a1").await.unwrap();
    let c = criteria(&action, &CriteriaContext::from_outcome(&outcome));
    let (status, seen) = cluster
        .verify_until_final(&verifier, &c, since, 10, 300)
        .await;
    let VerifyStatus::Failed { why } = &status else {
        panic!("expected a failure, got {seen:?}")
    };
    assert!(
        why.contains("was OOMKilled") && why.contains("(memory limit 280Mi)"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_resources_rejects_bad_input_before_sending_anything() {
    let cluster = Cluster::manual(&scenario("", "")).await;
    let actuator = cluster.actuator();
    let mut change = ResourceChange::default();
    change.limits.insert("memory".into(), "512MB".into());
    let err = actuator
        .execute(
            &Action::SetResources {
                target: checkout(),
                container: "checkout".into(),
                change,
            },
            "k",
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid quantity \"512MB\" for limits.memory: expected Kubernetes notation such as 500m, 1.5, 256Mi or 1Gi"
    );
    let mut change = ResourceChange::default();
    change.requests.insert("cpu".into(), "200m".into());
    let err = actuator
        .dry_run(&Action::SetResources {
            target: checkout(),
            container: "sidecar".into(),
            change,
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "container \"sidecar\" not found in deployment shop/checkout; its containers are: checkout"
    );
    let err = actuator
        .dry_run(&Action::SetResources {
            target: ResourceRef::deployment("shop", "missing"),
            container: "x".into(),
            change: ResourceChange::default(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "set-resources for deployment shop/missing names no request or limit to set"
    );
    let err = actuator
        .dry_run(&Action::RolloutRestart {
            target: ResourceRef::deployment("shop", "missing"),
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "deployment shop/missing not found");
    assert!(
        !cluster
            .deployment("shop", "checkout")
            .await
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("nightshift.io/action-id")
    );
}

/// OrderedReady never rolls a fixed template past a crash-looping pod: set-resources on a
/// StatefulSet also evicts its pods that are not Ready, and the fix reaches every pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_resources_on_a_crash_looping_statefulset_replaces_the_stuck_pods() {
    let extra = r#"    - kind: StatefulSet
      namespace: shop
      name: cache
      replicas: 2
      image: registry.local/shop/cache:7.2.5
      resources:
        requests: {cpu: 100m, memory: 256Mi}
        limits: {cpu: 500m, memory: 512Mi}
      behavior: {memory: 300Mi, startup: 3s}
"#;
    let faults = "  - {at: 30s, type: memory-limit, target: shop/cache, params: {memory: 700Mi}}\n";
    let cluster = Cluster::manual(&scenario(extra, faults)).await;
    cluster.advance(150).await;
    let before = cluster.pods("shop", "app=cache").await;
    assert!(
        before.iter().any(|p| !ready(p)),
        "the cache crash-loops before the fix: {:?}",
        before.iter().map(reasons).collect::<Vec<_>>()
    );
    let action = Action::SetResources {
        target: ResourceRef::Workload {
            kind: nightshift_core::WorkloadKind::StatefulSet,
            namespace: "shop".into(),
            name: "cache".into(),
        },
        container: "cache".into(),
        change: ResourceChange {
            limits: [("memory".to_string(), "1Gi".to_string())].into(),
            ..ResourceChange::default()
        },
    };
    let outcome = cluster
        .actuator()
        .execute(&action, "inc-9/a1")
        .await
        .unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Applied);
    assert!(
        !outcome.pods.is_empty(),
        "the stuck pods are evicted: {outcome:?}"
    );
    cluster.advance(120).await;
    let after = cluster.pods("shop", "app=cache").await;
    assert_eq!(after.len(), 2);
    for p in &after {
        assert!(
            ready(p),
            "{} is ready after the fix: {:?}",
            p.metadata.name.as_deref().unwrap_or(""),
            reasons(p)
        );
        let limit = &p.spec.as_ref().unwrap().containers[0]
            .resources
            .as_ref()
            .unwrap()
            .limits
            .as_ref()
            .unwrap()["memory"];
        assert_eq!(limit.0, "1Gi");
    }
}
