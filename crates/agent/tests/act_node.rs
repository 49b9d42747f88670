//! cordon, uncordon and drain against the simulated cluster.

mod support;

use std::time::Duration;

use nightshift_agent::act::{Disruption, OutcomeStatus, RetryPolicy};
use nightshift_agent::verify::{CriteriaContext, VerifyStatus, criteria};
use nightshift_core::{Action, ResourceRef};
use serde_json::json;
use support::{Cluster, ready, scenario};

fn unschedulable(n: &k8s_openapi::api::core::v1::Node) -> bool {
    n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordon_and_uncordon_with_dry_runs_first() {
    let cluster = Cluster::manual(&scenario("", "")).await;
    cluster.advance(5).await;
    let actuator = cluster.actuator();
    let verifier = cluster.verifier();
    let cordon = Action::CordonNode {
        node: "node-a".into(),
    };

    let report = actuator.dry_run(&cordon).await.unwrap();
    assert_eq!(report.summary, "cordon node node-a");
    assert_eq!(
        report
            .changes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["node/node-a spec.unschedulable: <unset> → true"]
    );
    assert!(
        !unschedulable(&cluster.node("node-a").await),
        "the dry run changed nothing"
    );

    let since = verifier.now().await;
    let c = criteria(&cordon, &CriteriaContext::default());
    assert!(
        matches!(verifier.check(&c, since).await, VerifyStatus::Pending { why } if why == "node node-a is still schedulable")
    );
    let outcome = actuator.execute(&cordon, "inc-9/a1").await.unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Applied);
    assert!(unschedulable(&cluster.node("node-a").await));
    assert_eq!(verifier.check(&c, since).await, VerifyStatus::Recovered);
    assert!(actuator.already_applied(&cordon, "inc-9/a1").await.unwrap());
    assert_eq!(
        actuator.execute(&cordon, "inc-9/a1").await.unwrap().status,
        OutcomeStatus::AlreadyApplied
    );

    let uncordon = Action::UncordonNode {
        node: "node-a".into(),
    };
    let report = actuator.dry_run(&uncordon).await.unwrap();
    assert_eq!(
        report
            .changes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["node/node-a spec.unschedulable: true → <unset>"]
    );
    assert!(unschedulable(&cluster.node("node-a").await));
    assert!(
        !actuator
            .already_applied(&uncordon, "inc-9/a2")
            .await
            .unwrap()
    );
    actuator.execute(&uncordon, "inc-9/a2").await.unwrap();
    assert!(!unschedulable(&cluster.node("node-a").await));
    let c = criteria(&uncordon, &CriteriaContext::default());
    assert_eq!(verifier.check(&c, since).await, VerifyStatus::Recovered);

    let err = actuator
        .dry_run(&Action::CordonNode {
            node: "node-z".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "node node-z not found");
}

const LOG_AGENT: &str = "    - kind: DaemonSet\n      namespace: shop\n      name: log-agent\n      image: registry.local/shop/checkout:2.3.1\n      labels: {app: log-agent}\n      service: false\n";

/// Four checkout replicas, two per node, and a log agent on each node.
fn four_replicas() -> String {
    scenario(LOG_AGENT, "").replace("replicas: 3", "replicas: 4")
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 40,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(250),
    }
}

fn on_node(pods: &[k8s_openapi::api::core::v1::Pod], node: &str) -> Vec<String> {
    pods.iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .map(|p| p.metadata.name.clone().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_waits_for_the_budget_and_the_workload_recovers_elsewhere() {
    let cluster = Cluster::running(&four_replicas(), 50.0).await;
    let verifier = cluster.verifier();
    // Let every pod start.
    let all_ready = async {
        loop {
            let pods = cluster.live_pods("shop", "app=checkout").await;
            if pods.len() == 4 && pods.iter().all(ready) {
                return pods;
            }
            support::pause(50).await;
        }
    };
    let pods = tokio::time::timeout(Duration::from_secs(20), all_ready)
        .await
        .expect("checkout starts");
    let victims = on_node(&pods, "node-a");
    assert_eq!(
        victims.len(),
        2,
        "least-allocated scheduling spreads 2 and 2"
    );
    // At most one checkout pod may be down at a time: the second eviction must wait until
    // the first pod's replacement is Ready on node-b.
    cluster
        .pdb("shop", "checkout", json!({"minAvailable": 3}))
        .await;
    let actuator = cluster.actuator().with_retry(fast_retries());
    let drain = Action::DrainNode {
        node: "node-a".into(),
    };

    let report = actuator.dry_run(&drain).await.unwrap();
    assert_eq!(
        report.summary,
        "drain node node-a: cordon it and evict 2 pods (1 left alone)"
    );
    let would: Vec<&str> = report
        .pods
        .iter()
        .filter(|p| p.result == Disruption::WouldEvict)
        .map(|p| p.pod.as_str())
        .collect();
    assert_eq!(would.len(), 2);
    assert!(would.iter().all(|p| victims.iter().any(|v| v == p)));
    let skipped: Vec<_> = report
        .pods
        .iter()
        .filter(|p| matches!(p.result, Disruption::Skipped { .. }))
        .collect();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].pod.starts_with("log-agent-"), "{report}");
    assert!(!unschedulable(&cluster.node("node-a").await));
    assert_eq!(
        on_node(&cluster.live_pods("shop", "app=checkout").await, "node-a").len(),
        2,
        "the dry run evicted nothing"
    );

    let since = verifier.now().await;
    let outcome = actuator.execute(&drain, "inc-10/a1").await.unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Applied, "{:?}", outcome.pods);
    let evicted: Vec<_> = outcome
        .pods
        .iter()
        .filter(|p| p.result == Disruption::Evicted)
        .collect();
    assert_eq!(evicted.len(), 2, "{:?}", outcome.pods);
    assert!(
        evicted.iter().any(|p| p.attempts > 1),
        "the budget refused one eviction until the replacement was Ready: {:?}",
        outcome.pods
    );
    assert_eq!(
        outcome.affected_workloads,
        [ResourceRef::deployment("shop", "checkout")]
    );
    assert!(unschedulable(&cluster.node("node-a").await));

    let c = criteria(
        &drain,
        &CriteriaContext::from_outcome(&outcome).with_stabilization(Duration::from_secs(60)),
    );
    let status = tokio::time::timeout(
        Duration::from_secs(60),
        verifier.wait(&c, since, Duration::from_millis(100)),
    )
    .await
    .expect("verification ends");
    assert_eq!(status, VerifyStatus::Recovered);
    let pods = cluster.live_pods("shop", "app=checkout").await;
    assert_eq!(pods.len(), 4);
    assert!(pods.iter().all(ready));
    assert!(on_node(&pods, "node-a").is_empty());
    assert_eq!(
        on_node(&cluster.live_pods("shop", "app=log-agent").await, "node-a").len(),
        1,
        "the DaemonSet pod stays"
    );
    assert!(actuator.already_applied(&drain, "inc-10/a1").await.unwrap());
    assert_eq!(
        actuator.execute(&drain, "inc-10/a1").await.unwrap().status,
        OutcomeStatus::AlreadyApplied
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_reports_the_pods_a_budget_never_lets_go() {
    let cluster = Cluster::manual(&four_replicas()).await;
    cluster.advance(20).await;
    cluster
        .pdb("shop", "checkout", json!({"minAvailable": 4}))
        .await;
    let actuator = cluster.actuator().with_retry(RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
    });
    let drain = Action::DrainNode {
        node: "node-a".into(),
    };
    let report = actuator.dry_run(&drain).await.unwrap();
    assert_eq!(
        report
            .pods
            .iter()
            .filter(|p| matches!(p.result, Disruption::Blocked { .. }))
            .count(),
        2,
        "{report}"
    );
    let outcome = actuator.execute(&drain, "inc-11/a1").await.unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Partial);
    let blocked: Vec<_> = outcome
        .pods
        .iter()
        .filter_map(|p| match &p.result {
            Disruption::Blocked { reason } => Some((p.attempts, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(blocked.len(), 2, "{:?}", outcome.pods);
    for (attempts, reason) in &blocked {
        assert_eq!(*attempts, 3);
        assert!(
            reason.contains("disruption budget")
                && reason.ends_with("(still refused after 3 attempts)"),
            "{reason}"
        );
    }
    assert!(
        unschedulable(&cluster.node("node-a").await),
        "cordoned anyway"
    );
    // Not done: running it again under the same key retries the evictions.
    assert!(!actuator.already_applied(&drain, "inc-11/a1").await.unwrap());
    let verifier = cluster.verifier();
    let since = verifier.now().await;
    let c = criteria(
        &drain,
        &CriteriaContext::from_outcome(&outcome).with_deadline(Duration::from_secs(30)),
    );
    let (status, seen) = cluster
        .verify_until_final(&verifier, &c, since, 10, 100)
        .await;
    let VerifyStatus::Failed { why } = status else {
        panic!("{seen:?}")
    };
    assert!(
        why.contains("2 evictable pods still on node node-a"),
        "{why}"
    );
}
