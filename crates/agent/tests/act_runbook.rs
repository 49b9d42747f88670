//! run-runbook against the simulated cluster: a Job runbook's check and real run are two
//! Jobs, and the same idempotency key never runs either twice, even when the agent stops
//! while the Job runs; an `actions` runbook's steps are not repeated under the same key.

mod support;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::api::ListParams;
use nightshift_agent::act::{Actuator, JobPhase, JobResult, OutcomeStatus, Runbooks};
use nightshift_agent::clock::{Clock, ExternalClock};
use nightshift_core::runbook::{RunbookRegistry, RunbookSettings, read};
use nightshift_core::{Action, ResourceRef};
use support::{Cluster, scenario};

const RUNBOOKS: &str = r#"
- name: warm-cache
  match: {categories: [app/hang]}
  risk: low
  targets: {namespaces: [shop]}
  timeout: 2m
  job:
    image: registry.local/ops/cache-tools:1.2.0
    command: [sh, -c]
    args: ["echo 'warming'; sleep 20; echo 'warmed 812 keys'"]
    dry_run_args: ["echo 'would warm 812 keys'"]
- name: restart-and-widen
  match: {categories: [app/hang]}
  risk: low
  targets: {namespaces: [shop]}
  actions:
    - {action: rollout-restart}
    - {action: scale, replicas: 4}
"#;

fn actuator(cluster: &Cluster) -> Actuator {
    let settings: Vec<RunbookSettings> = serde_saphyr::from_str(RUNBOOKS).unwrap();
    let registry: RunbookRegistry = read::registry(&settings, |_| None).unwrap();
    let sim = cluster.sim.clone();
    let clock: Arc<dyn Clock> = Arc::new(ExternalClock::new(
        move || sim.clock().now_ms(),
        Duration::from_millis(10),
    ));
    cluster
        .actuator()
        .with_runbooks(Runbooks::from_specs(&registry, clock))
}

fn run(name: &str) -> Action {
    Action::RunRunbook {
        name: name.into(),
        target: ResourceRef::deployment("shop", "checkout"),
    }
}

async fn jobs(cluster: &Cluster) -> Vec<Job> {
    Api::<Job>::namespaced(cluster.client.clone(), "shop")
        .list(&ListParams::default().labels("nightshift.io/runbook=warm-cache"))
        .await
        .unwrap()
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runbook_runs_once_per_key_even_across_a_stop() {
    let cluster = Cluster::running(&scenario("", ""), 20.0).await;
    let actuator = actuator(&cluster);
    let action = run("warm-cache");
    let key = "inc-000007-a0";
    // The agent stops while the real Job runs.
    let first = {
        let (actuator, action) = (actuator.clone(), action.clone());
        tokio::spawn(async move { actuator.execute(&action, key).await })
    };
    let started = tokio::time::Instant::now();
    while !jobs(&cluster)
        .await
        .iter()
        .any(|j| j.metadata.labels.as_ref().unwrap()["nightshift.io/runbook-phase"] == "run")
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no real run started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.abort();
    assert!(actuator.already_applied(&action, key).await.unwrap());
    // Back, it finds both Jobs and waits for the real one rather than starting another.
    let report = actuator.dry_run_for(&action, key).await.unwrap();
    assert_eq!(report.jobs.len(), 1);
    assert!(
        report.jobs[0].attached,
        "the check found again: {:?}",
        report.jobs[0]
    );
    let outcome = actuator.execute(&action, key).await.unwrap();
    assert_eq!(outcome.status, OutcomeStatus::AlreadyApplied);
    let real = outcome.jobs.last().unwrap();
    assert_eq!(
        (real.phase, real.result, real.attached),
        (JobPhase::Run, JobResult::Succeeded, true)
    );
    assert!(real.logs.contains("warmed 812 keys"), "{}", real.logs);
    let all = jobs(&cluster).await;
    assert_eq!(all.len(), 2, "one check and one run: {all:#?}");
    for j in &all {
        let labels = j.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["nightshift.io/incident"], "inc-000007");
        assert_eq!(labels["nightshift.io/action-id"], key);
    }
    // A dry run without a key is a fresh check of its own.
    let fresh = actuator.dry_run(&action).await.unwrap();
    assert!(!fresh.jobs[0].attached);
    assert_eq!(jobs(&cluster).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actions_runbook_does_not_repeat_its_steps_under_the_same_key() {
    let cluster = Cluster::running(&scenario("", ""), 20.0).await;
    let actuator = actuator(&cluster);
    let action = run("restart-and-widen");
    let dry = actuator.dry_run(&action).await.unwrap();
    assert!(
        dry.summary.contains("1. ") && dry.summary.contains("2. "),
        "{}",
        dry.summary
    );
    assert_eq!(
        cluster
            .deployment("shop", "checkout")
            .await
            .spec
            .unwrap()
            .replicas,
        Some(3)
    );
    let key = "inc-000009-a0";
    let outcome = actuator.execute(&action, key).await.unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Applied);
    let d = cluster.deployment("shop", "checkout").await;
    let generation = d.metadata.generation;
    assert_eq!(d.spec.unwrap().replicas, Some(4));
    let again = actuator.execute(&action, key).await.unwrap();
    assert_eq!(again.status, OutcomeStatus::AlreadyApplied);
    assert_eq!(
        cluster
            .deployment("shop", "checkout")
            .await
            .metadata
            .generation,
        generation,
        "nothing sent again"
    );
    let unknown = actuator.execute(&run("nope"), "k").await.unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("no runbook registered named \"nope\"")
    );
}
