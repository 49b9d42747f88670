//! Crash safety with the real binary: the agent is killed with SIGKILL between the write-ahead
//! intent and the change, or between the change and its recorded outcome, then started again
//! on the same store. The restarted agent carries the action out exactly once and the incident
//! goes on to verification and resolution.
//!
//! The agent is stopped at the exact point by its test hooks (`NIGHTSHIFT_PAUSE_AFTER_INTENT`,
//! `NIGHTSHIFT_PAUSE_AFTER_ACTION`): it writes the action's key to the named file and waits.
//! The scenario is one hung orders-worker replica (restart-pod, in the lab's auto mode); what
//! happened in the cluster is read through the Kubernetes API, what the agent recorded from
//! its SQLite file.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::record::{client, removed, until_file, until_incident, watch_pods};
use common::{Sim, agent_config, free_port, lab_policy_path, scenario_path, start_agent};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use nightshift_agent::act::{ACTION_ID_ANNOTATION, RESTARTED_POD_ANNOTATION};
use nightshift_agent::engine::{PAUSE_AFTER_ACTION, PAUSE_AFTER_INTENT};
use nightshift_core::{State, TimelineKind};
use nightshift_store::{ActionRecord, ActionStatus, Store, StoredIncident};

const BIN: &str = env!("CARGO_BIN_EXE_nightshift");
const SPEED: f64 = 30.0;

struct Run {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    sim: Sim,
    port: u16,
    config: PathBuf,
}

fn setup() -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let port = free_port();
    let webhook = format!("http://127.0.0.1:{port}/api/v1/alerts/alertmanager");
    let sim = common::start_sim(
        Path::new(BIN),
        &path,
        &scenario_path("hang-orders-worker-deadlock"),
        SPEED,
        Some(&webhook),
    );
    // Short waits on the agent's (wall) clock; the windows are on the cluster's clock.
    let extra = format!(
        "policy: {}\nwatchers: false\nsettle: 1s\npoll: 200ms\nstabilization: 60s\nverify_deadline: 10m\nmax_attempts: 2\n",
        lab_policy_path().display()
    );
    let config = agent_config(&path, port, &sim.kubeconfig, &extra);
    Run {
        _dir: dir,
        dir: path,
        sim,
        port,
        config,
    }
}

/// The one action of the incident, asserting there is exactly one with `key`.
async fn the_action(store: &Store, incident: &StoredIncident, key: &str) -> ActionRecord {
    let actions = store.actions(&incident.incident.id).await.unwrap();
    let changes: Vec<&ActionRecord> = actions
        .iter()
        .filter(|a| a.action.changes_infra())
        .collect();
    assert_eq!(
        changes.len(),
        1,
        "one intent for one action: {:?}",
        changes
            .iter()
            .map(|a| (&a.idempotency_key, a.status))
            .collect::<Vec<_>>()
    );
    assert_eq!(changes[0].idempotency_key, key);
    changes[0].clone()
}

/// Runs the hang scenario with the agent paused and killed at `hook`, restarts it, and checks
/// the restart happened once. Returns the recorded outcome status.
async fn kill_and_resume(hook: &str, evicted_before_restart: usize) -> String {
    let mut run = setup();
    let kube = client(&run.sim.kubeconfig).await;
    let (seen, watcher) = watch_pods(kube.clone());
    let marker = run.dir.join("paused");
    let mut first = start_agent(
        Path::new(BIN),
        &run.dir,
        "agent-1",
        &run.config,
        run.port,
        &[(hook, &marker)],
    );
    let key = until_file(&marker, &mut first, Duration::from_secs(180)).await;
    first.kill();
    assert!(!first.running());

    let store = Store::open(&common::store_url(&run.dir)).await.unwrap();
    let stopped = until_incident(&store, Duration::from_secs(5), "the record", |_| true).await;
    assert_eq!(stopped.incident.state, State::Acting, "killed while acting");
    let intent = the_action(&store, &stopped, &key).await;
    assert_eq!(
        intent.status,
        ActionStatus::Intended,
        "the intent is durable and still open"
    );
    let pod = match &intent.action {
        nightshift_core::Action::RestartPod { pod, .. } => pod.clone(),
        other => panic!("expected restart-pod of the hung replica, got {other:?}"),
    };
    // Give the cluster a moment to show any change the killed agent made.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        removed(&seen).len(),
        evicted_before_restart,
        "pods removed before the restart: {:?}",
        removed(&seen)
    );

    let mut second = start_agent(
        Path::new(BIN),
        &run.dir,
        "agent-2",
        &run.config,
        run.port,
        &[],
    );
    let closed = until_incident(
        &store,
        Duration::from_secs(180),
        "the incident to be verified and closed",
        |i| matches!(i.incident.state, State::Closed | State::Escalated),
    )
    .await;
    assert_eq!(closed.incident.state, State::Closed, "not escalated");
    assert!(
        closed.incident.resolved_at.is_some(),
        "resolved, then closed"
    );
    // Keep watching a little: nothing else may be evicted.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(second.running());

    let done = the_action(&store, &closed, &key).await;
    assert_eq!(done.status, ActionStatus::Done);
    let outcome = done.outcome.clone().unwrap_or_default();
    assert_eq!(
        removed(&seen),
        vec![pod.clone()],
        "exactly the hung pod, once"
    );
    let d: Deployment = Api::namespaced(kube.clone(), "shop")
        .get("orders-worker")
        .await
        .unwrap();
    let annotations = d.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations.get(ACTION_ID_ANNOTATION), Some(&key));
    let evicted_uid = seen
        .lock()
        .unwrap()
        .iter()
        .find(|(_, (name, _))| *name == pod)
        .map(|(uid, _)| uid.clone());
    assert_eq!(
        annotations.get(RESTARTED_POD_ANNOTATION),
        evicted_uid.as_ref()
    );
    let timeline = store.timeline(&closed.incident.id).await.unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| e.kind == TimelineKind::Note && e.message.contains("resuming intent")),
        "the restarted agent says it resumed the intent"
    );
    assert!(
        timeline
            .iter()
            .any(|e| e.kind == TimelineKind::Verification && e.data["recovered"] == true),
        "verified as recovered"
    );
    watcher.abort();
    second.kill();
    run.sim.process.kill();
    outcome["status"].as_str().unwrap_or_default().to_string()
}

/// Killed after the intent is durable and before the dry run and the change: nothing happened
/// in the cluster, and the restarted agent carries the restart out, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_intent_the_restart_runs_once() {
    let status = kill_and_resume(PAUSE_AFTER_INTENT, 0).await;
    assert_eq!(status, "applied");
}

/// Killed after the change and before its outcome is recorded: the pod is already evicted, and
/// the restarted agent recognises its key on the Deployment instead of restarting another pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_change_it_is_not_repeated() {
    let status = kill_and_resume(PAUSE_AFTER_ACTION, 1).await;
    assert_eq!(status, "already-applied");
}
