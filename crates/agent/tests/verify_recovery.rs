//! Verification against the simulated cluster: a remedy that cannot work fails by its
//! deadline, restarts must stay flat for the whole window, and time is the cluster's.

mod support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use nightshift_agent::verify::{
    ClusterClock, CriteriaContext, Expectation, RecoveryCriteria, Verifier, VerifyStatus, criteria,
};
use nightshift_core::{Action, ResourceRef};
use support::{Cluster, START_MS, scenario};

fn checkout() -> ResourceRef {
    ResourceRef::deployment("shop", "checkout")
}

fn sim_now(cluster: &Cluster) -> DateTime<Utc> {
    cluster.sim.clock().now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_a_restart_cannot_fix_fails_by_the_deadline() {
    let cluster = Cluster::manual(&scenario(
        "",
        "  - {at: 30s, type: crash, target: shop/checkout}\n",
    ))
    .await;
    cluster.advance(90).await;
    let actuator = cluster.actuator();
    let verifier = cluster.verifier();
    let action = Action::RolloutRestart { target: checkout() };
    let since = verifier.now().await;
    let outcome = actuator.execute(&action, "inc-12/a1").await.unwrap();
    let c = criteria(
        &action,
        &CriteriaContext::from_outcome(&outcome).with_deadline(Duration::from_secs(90)),
    );
    let (status, seen) = cluster
        .verify_until_final(&verifier, &c, since, 10, 300)
        .await;
    let VerifyStatus::Failed { why } = &status else {
        panic!("expected a failure: {seen:?}")
    };
    assert!(
        why.starts_with("not recovered 90s after the rollout-restart: "),
        "{why}"
    );
    assert!(
        seen.iter().any(
            |s| matches!(s, VerifyStatus::Pending { why } if why.contains("CrashLoopBackOff"))
        ),
        "the reason is named while it is pending: {seen:?}"
    );
    // It failed at the deadline, not before: 90s of cluster time and a step of 10s.
    let failed_at = sim_now(&cluster);
    let elapsed = (failed_at - since).num_seconds();
    assert!((90..=101).contains(&elapsed), "{elapsed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_must_stay_flat_for_the_whole_window() {
    // A leak that OOMKills each container about 80s after it starts: the pods keep coming
    // back Ready, but never for 120s in a row.
    let cluster = Cluster::manual(&scenario(
        "",
        "  - {at: 10s, type: memory-leak, target: shop/checkout, params: {rate: 100Mi/min}}\n",
    ))
    .await;
    cluster.advance(20).await;
    let verifier = cluster.verifier();
    let since = verifier.now().await;
    let c = RecoveryCriteria {
        action: nightshift_core::ActionName::RolloutRestart,
        expectations: vec![Expectation::WorkloadHealthy {
            workload: checkout(),
            replicas: None,
        }],
        stabilization: Duration::from_secs(120),
        deadline: Duration::from_secs(400),
    };
    let (status, seen) = cluster
        .verify_until_final(&verifier, &c, since, 5, 600)
        .await;
    assert!(
        matches!(&status, VerifyStatus::Failed { why } if why.starts_with("not recovered 400s after")),
        "{seen:?}"
    );
    let windows: Vec<u64> = seen
        .iter()
        .filter_map(|s| match s {
            VerifyStatus::Pending { why } => why
                .strip_prefix("healthy; stable for ")
                .and_then(|w| w.split('s').next())
                .and_then(|n| n.parse().ok()),
            _ => None,
        })
        .collect();
    assert!(!windows.is_empty(), "{seen:?}");
    assert!(windows.iter().all(|w| *w < 120), "{windows:?}");
    assert!(
        windows.windows(2).any(|w| w[1] < w[0]),
        "a restart resets the window: {windows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn now_is_the_clusters_time_not_ours() {
    let cluster = Cluster::manual(&scenario("", "")).await;
    cluster.advance(300).await;
    let sim = sim_now(&cluster);
    assert!(sim.timestamp_millis() >= START_MS + 300_000);

    let server = cluster.verifier();
    let t = server.now().await;
    assert!(
        (sim - t).num_seconds().abs() <= 1,
        "server {t} vs sim {sim}"
    );

    // Heartbeats lag (the simulated kubelet reports once a minute) but are the cluster's.
    let heartbeats = Verifier::new(cluster.client.clone()).with_clock(ClusterClock::Heartbeats);
    let h = heartbeats.now().await;
    assert!(
        h <= sim && (sim - h).num_seconds() <= 61,
        "heartbeats {h} vs sim {sim}"
    );

    let sim_clock = cluster.sim.clock().clone();
    let custom = Verifier::new(cluster.client.clone())
        .with_clock(ClusterClock::custom(move || sim_clock.now()));
    assert_eq!(custom.now().await, sim);

    // Escalate and none change nothing: nothing to verify.
    let c = criteria(
        &Action::Escalate {
            reason: "needs a person".into(),
        },
        &CriteriaContext::default(),
    );
    assert_eq!(server.check(&c, t).await, VerifyStatus::Recovered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_workload_fails_at_once_and_criteria_survive_a_restart() {
    let cluster = Cluster::manual(&scenario("", "")).await;
    cluster.advance(10).await;
    let verifier = cluster.verifier();
    let since = verifier.now().await;
    let c = criteria(
        &Action::Scale {
            target: ResourceRef::deployment("shop", "gone"),
            replicas: 2,
        },
        &CriteriaContext::default(),
    );
    // Criteria are stored with the intent and read back after a restart.
    let stored = serde_json::to_string(&c).unwrap();
    let back: RecoveryCriteria = serde_json::from_str(&stored).unwrap();
    assert_eq!(back, c);
    assert_eq!(
        verifier.check(&back, since).await,
        VerifyStatus::Failed {
            why: "deployment shop/gone no longer exists".into()
        }
    );
}
