//! rollback with `kubectl rollout undo` semantics against the simulated cluster.

mod support;

use chrono::Utc;
use k8s_openapi::api::apps::v1::StatefulSet;
use kube::api::{Api, Patch, PatchParams};
use nightshift_agent::act::{ActError, OutcomeStatus};
use nightshift_agent::collect::Collector;
use nightshift_agent::verify::{CriteriaContext, VerifyStatus, criteria};
use nightshift_core::{Action, EvidenceData, EvidenceKind, ResourceRef};
use serde_json::json;
use support::{Cluster, image, ready, scenario};

const GOOD: &str = "registry.local/shop/checkout:2.3.1";
const BAD: &str = "registry.local/shop/checkout:2.4.0";

fn bad_rollout() -> String {
    scenario(
        "",
        &format!(
            "  - {{at: 1m, type: bad-rollout, target: shop/checkout, params: {{image: {BAD}, effect: crash}}}}\n"
        ),
    )
}

fn checkout() -> ResourceRef {
    ResourceRef::deployment("shop", "checkout")
}

fn revision(d: &k8s_openapi::api::apps::v1::Deployment) -> String {
    d.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"].clone()
}

/// `(revision, made_by)` of `target`'s rollout history as the collector reads it, newest first.
async fn history(cluster: &Cluster, target: &ResourceRef) -> Vec<(i64, Option<String>)> {
    let evidence = Collector::new(cluster.client.clone(), Default::default())
        .collect(target, &[], Utc::now())
        .await
        .unwrap();
    let item = evidence
        .of_kind(EvidenceKind::RolloutHistory)
        .find(|i| &i.resource == target)
        .expect("a rollout history");
    let EvidenceData::RolloutHistory { revisions, .. } = &item.data else {
        unreachable!()
    };
    revisions
        .iter()
        .map(|r| (r.revision, r.made_by.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_after_a_bad_rollout_restores_the_old_image_once() {
    let cluster = Cluster::manual(&bad_rollout()).await;
    cluster.advance(150).await;
    let d = cluster.deployment("shop", "checkout").await;
    assert_eq!(revision(&d), "2");
    assert_eq!(
        d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .as_deref(),
        Some(BAD)
    );
    let actuator = cluster.actuator();
    let action = Action::Rollback {
        target: checkout(),
        revision: None,
    };

    let report = actuator.dry_run(&action).await.unwrap();
    assert_eq!(
        report.summary,
        format!(
            "roll back deployment shop/checkout from revision 2 to revision 1 (image {BAD} → {GOOD})"
        )
    );
    assert_eq!(
        report
            .changes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [format!(
            "deployment/shop/checkout spec.template.spec.containers[checkout].image: {BAD} → {GOOD}"
        )]
    );
    let d = cluster.deployment("shop", "checkout").await;
    assert_eq!(revision(&d), "2", "the dry run changed nothing");
    assert_eq!(
        d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .as_deref(),
        Some(BAD)
    );

    let verifier = cluster.verifier();
    let since = verifier.now().await;
    let outcome = actuator.execute(&action, "inc-5/a1").await.unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Applied);
    assert_eq!(
        outcome
            .changes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [format!(
            "deployment/shop/checkout spec.template.spec.containers[checkout].image: {BAD} → {GOOD}"
        )],
        "the stamp in the template is bookkeeping, not a change to report"
    );
    cluster.advance(30).await;
    let d = cluster.deployment("shop", "checkout").await;
    assert_eq!(revision(&d), "3");
    // The restored template carries the key: a revision of its own, on the record as ours,
    // rather than the old ReplicaSet revived.
    assert_eq!(
        cluster.replica_sets("shop").await.len(),
        3,
        "a new ReplicaSet for the agent's revision"
    );
    assert_eq!(
        history(&cluster, &checkout()).await,
        [(3, Some("inc-5/a1".to_string())), (2, None), (1, None)]
    );

    let c = criteria(&action, &CriteriaContext::from_outcome(&outcome));
    let (status, seen) = cluster
        .verify_until_final(&verifier, &c, since, 15, 400)
        .await;
    assert_eq!(status, VerifyStatus::Recovered, "{seen:?}");
    let pods = cluster.live_pods("shop", "app=checkout").await;
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(|p| ready(p) && image(p) == GOOD));

    // Replaying the intent must not "roll back" again, to the bad revision.
    assert!(actuator.already_applied(&action, "inc-5/a1").await.unwrap());
    let again = actuator.execute(&action, "inc-5/a1").await.unwrap();
    assert_eq!(again.status, OutcomeStatus::AlreadyApplied);
    cluster.advance(20).await;
    let d = cluster.deployment("shop", "checkout").await;
    assert_eq!(revision(&d), "3");
    assert!(
        cluster
            .live_pods("shop", "app=checkout")
            .await
            .iter()
            .all(|p| image(p) == GOOD)
    );

    // A fresh key means a fresh rollback: to the previous revision, the bad one.
    let report = actuator.dry_run(&action).await.unwrap();
    assert!(
        report
            .summary
            .contains(&format!("to revision 2 (image {GOOD} → {BAD})")),
        "{}",
        report.summary
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_a_named_revision_or_refuse() {
    let cluster = Cluster::manual(&scenario("", "")).await;
    cluster.advance(10).await;
    let actuator = cluster.actuator();
    let err = actuator
        .execute(
            &Action::Rollback {
                target: checkout(),
                revision: None,
            },
            "k1",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ActError::NoPreviousRevision { .. }));
    assert_eq!(
        err.to_string(),
        "no previous revision of deployment shop/checkout to roll back to"
    );
    let err = actuator
        .dry_run(&Action::Rollback {
            target: checkout(),
            revision: Some(7),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "revision 7 of deployment shop/checkout not found; revisions in its history: 1"
    );
    let same = actuator
        .execute(
            &Action::Rollback {
                target: checkout(),
                revision: Some(1),
            },
            "k2",
        )
        .await
        .unwrap();
    assert_eq!(same.status, OutcomeStatus::NoChange);
    assert_eq!(
        same.summary,
        "deployment shop/checkout already runs the template of revision 1; nothing to roll back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_of_a_statefulset_uses_its_controller_revisions() {
    // The new image must be one the simulated registry has (any scenario image will do):
    // a StatefulSet whose new pods cannot start blocks its own rollback, as on a real
    // cluster, until the broken pod is deleted.
    let extra = "    - kind: StatefulSet\n      namespace: shop\n      name: postgres\n      replicas: 2\n      image: registry.local/postgres:16.2\n      labels: {app: postgres}\n";
    let cluster = Cluster::manual(&scenario(extra, "")).await;
    cluster.advance(30).await;
    let sts: Api<StatefulSet> = Api::namespaced(cluster.client.clone(), "shop");
    sts.patch(
        "postgres",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "postgres", "image": GOOD}]}}}})),
    )
    .await
    .unwrap();
    cluster.advance(60).await;
    assert!(
        cluster
            .live_pods("shop", "app=postgres")
            .await
            .iter()
            .all(|p| image(p) == GOOD)
    );

    let actuator = cluster.actuator();
    let target = ResourceRef::Workload {
        kind: nightshift_core::WorkloadKind::StatefulSet,
        namespace: "shop".into(),
        name: "postgres".into(),
    };
    let action = Action::Rollback {
        target: target.clone(),
        revision: None,
    };
    let report = actuator.dry_run(&action).await.unwrap();
    assert_eq!(
        report
            .changes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [format!(
            "statefulset/shop/postgres spec.template.spec.containers[postgres].image: {GOOD} → registry.local/postgres:16.2"
        )]
    );
    let verifier = cluster.verifier();
    let since = verifier.now().await;
    let outcome = actuator.execute(&action, "inc-6/a1").await.unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Applied);
    let c = criteria(&action, &CriteriaContext::from_outcome(&outcome));
    let (status, seen) = cluster
        .verify_until_final(&verifier, &c, since, 15, 500)
        .await;
    assert_eq!(status, VerifyStatus::Recovered, "{seen:?}");
    let pods = cluster.live_pods("shop", "app=postgres").await;
    assert_eq!(pods.len(), 2);
    assert!(
        pods.iter()
            .all(|p| ready(p) && image(p) == "registry.local/postgres:16.2")
    );
    assert!(actuator.already_applied(&action, "inc-6/a1").await.unwrap());
    let revisions = history(&cluster, &target).await;
    assert_eq!(
        revisions.first(),
        Some(&(3, Some("inc-6/a1".to_string()))),
        "the controller revision of the rollback is on the record as ours: {revisions:?}"
    );
    assert!(
        revisions[1..].iter().all(|(_, by)| by.is_none()),
        "{revisions:?}"
    );
}
