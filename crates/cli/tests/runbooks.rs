//! Runbooks on the simulated cluster: a Job runbook the rule analyzer proposes runs in check
//! mode and for real (both Jobs in the cluster, their logs on the timeline); a Job that fails
//! or runs past its timeout escalates with its log; an `actions` runbook runs its sequence;
//! the policy refuses a runbook that is not registered or not allowed on the target, naming
//! the rule.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::api::ListParams;
use nightshift::lab::{Lab, LabOptions};
use nightshift_agent::engine::EngineConfig;
use nightshift_core::analysis::AnalyzeError;
use nightshift_core::runbook::{RunbookRegistry, RunbookSettings, read};
use nightshift_core::{
    Action, Analysis, AnalysisInput, Analyzer, Category, Diagnosis, IncidentId, Plan, ResourceRef,
    State, TimelineEntry, TimelineKind,
};
use nightshift_scenario::Scenario;
use nightshift_store::{IncidentFilter, Store};
use serde_json::Value;

/// One orders-worker replica of three hangs at 3m (the scenario of the suite, with a longer
/// horizon so that the cluster's clock runs on while Jobs do).
fn hang() -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/hang-orders-worker-deadlock.yaml");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("horizon: 20m", "horizon: 90m");
    nightshift_scenario::load::parse_str(&text, "hang with a long horizon").unwrap()
}

fn registry(yaml: &str) -> RunbookRegistry {
    let settings: Vec<RunbookSettings> = serde_saphyr::from_str(yaml).unwrap();
    read::registry(&settings, |v| {
        (v == "RUNBOOK_TOKEN").then(|| "tok-4f9a2c".into())
    })
    .unwrap()
}

fn options(dir: &tempfile::TempDir, runbooks: RunbookRegistry) -> LabOptions {
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.speed = 30.0;
    opts.engine = EngineConfig {
        settle: Duration::from_secs(5),
        stabilization: Duration::from_secs(30),
        verify_deadline: Duration::from_secs(240),
        max_attempts: 3,
        runbooks,
        ..EngineConfig::default()
    };
    opts
}

/// Polls until `done` answers `Some`, or panics naming `what` after three minutes.
async fn until<T, F: Future<Output = Option<T>>>(what: &str, mut done: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(v) = done().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The first incident once it is in one of `states`, with its timeline.
async fn settled(store: &Store, states: &[State]) -> (IncidentId, State, Vec<TimelineEntry>) {
    let what = format!("an incident in {states:?}");
    until(&what, || {
        let store = store.clone();
        async move {
            let list = store.list(&IncidentFilter::default()).await.ok()?;
            let i = list.iter().find(|i| states.contains(&i.incident.state))?;
            let timeline = store.timeline(&i.incident.id).await.ok()?;
            Some((i.incident.id.clone(), i.incident.state, timeline))
        }
    })
    .await
}

async fn runbook_jobs(lab: &Lab<impl Analyzer + 'static>, runbook: &str) -> Vec<Job> {
    Api::<Job>::namespaced(lab.agent.engine.cluster().clone(), "shop")
        .list(&ListParams::default().labels(&format!("nightshift.io/runbook={runbook}")))
        .await
        .unwrap()
        .items
}

fn label<'a>(job: &'a Job, key: &str) -> Option<&'a str> {
    job.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// The `jobs` recorded with the entries of `kind` (a dry run's report, an action's outcome
/// or its failure).
fn recorded_jobs(timeline: &[TimelineEntry], kind: TimelineKind) -> Vec<Value> {
    timeline
        .iter()
        .filter(|e| e.kind == kind)
        .flat_map(|e| {
            let d = &e.data;
            [&d["report"]["jobs"], &d["outcome"]["jobs"], &d["jobs"]]
                .into_iter()
                .filter_map(|v| v.as_array().cloned())
                .flatten()
                .collect::<Vec<_>>()
        })
        .collect()
}

const CHECKED_JOB: &str = r#"
- name: drain-stuck-jobs
  description: release the jobs the worker holds, as the queue's playbook does
  match: {categories: [app/hang], labels: {app: orders-worker}}
  risk: low
  targets: {namespaces: [shop]}
  timeout: 2m
  job:
    image: registry.local/ops/ansible-runner:9.1
    command: [sh, -c]
    args: ["echo 'PLAY [release stuck jobs] changed=3'; echo 'token tok-4f9a2c used'"]
    dry_run_args: ["echo 'PLAY [release stuck jobs] (check mode) changed=0'; sleep 5"]
    env:
      - {name: QUEUE, value: orders}
      - {name: QUEUE_PASSWORD, secret: {name: orders-db, key: password}}
      - {name: TOKEN, from_env: RUNBOOK_TOKEN}
    ttl: 1h
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runbook_runs_in_check_mode_then_for_real() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start(&hang(), options(&dir, registry(CHECKED_JOB)))
        .await
        .unwrap();
    let store = lab.agent.engine.store().clone();
    let (id, _, _) = settled(
        &store,
        &[
            State::Verifying,
            State::Resolved,
            State::Closed,
            State::Unresolved,
            State::Analyzing,
            State::Escalated,
        ],
    )
    .await;
    let timeline = until("the runbook's action on the record", || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let t = store.timeline(&id).await.ok()?;
            t.iter()
                .any(|e| e.kind == TimelineKind::Action && e.message.starts_with("run-runbook"))
                .then_some(t)
        }
    })
    .await;
    let lines: Vec<&str> = timeline.iter().map(|e| e.message.as_str()).collect();
    // The rule analyzer's diagnosis; the runbook written for this workload comes first.
    let plan = timeline
        .iter()
        .find(|e| e.kind == TimelineKind::Plan)
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(
        plan.message
            .starts_with("plan: run-runbook drain-stuck-jobs")
            && plan
                .message
                .contains("registered runbook drain-stuck-jobs (release the jobs"),
        "{}",
        plan.message
    );
    let decision = timeline
        .iter()
        .find(|e| e.kind == TimelineKind::Decision)
        .expect("a decision");
    assert!(
        decision.message.contains("risk: low → execute"),
        "{lines:#?}"
    );
    // Both Jobs are in the cluster, labelled with the incident and the phase.
    let jobs = runbook_jobs(&lab, "drain-stuck-jobs").await;
    assert_eq!(
        jobs.len(),
        2,
        "a check-mode Job and the real one: {jobs:#?}"
    );
    let mut phases: Vec<&str> = jobs
        .iter()
        .map(|j| label(j, "nightshift.io/runbook-phase").unwrap())
        .collect();
    phases.sort();
    assert_eq!(phases, vec!["dry-run", "run"]);
    for j in &jobs {
        assert_eq!(label(j, "nightshift.io/incident"), Some(id.0.as_str()));
        let c = &j
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0];
        let env = c.env.clone().unwrap_or_default();
        let secret = env.iter().find(|e| e.name == "QUEUE_PASSWORD").unwrap();
        let by_ref = secret
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (by_ref.name.as_str(), by_ref.key.as_str()),
            ("orders-db", "password")
        );
        assert!(secret.value.is_none(), "the agent never reads the Secret");
        // The restricted Pod Security Standard.
        let pod = j.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        let ps = pod
            .security_context
            .as_ref()
            .expect("a pod security context");
        assert_eq!(ps.run_as_non_root, Some(true));
        assert_eq!(
            ps.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
            Some("RuntimeDefault")
        );
        let cs = c
            .security_context
            .as_ref()
            .expect("a container security context");
        assert_eq!(cs.allow_privilege_escalation, Some(false));
        assert_eq!(
            cs.capabilities.as_ref().and_then(|c| c.drop.clone()),
            Some(vec!["ALL".to_string()])
        );
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert!(
            env.iter().any(|e| e.name == "NIGHTSHIFT_TARGET_NAME"
                && e.value.as_deref() == Some("orders-worker"))
        );
    }
    let run = jobs
        .iter()
        .find(|j| label(j, "nightshift.io/runbook-phase") == Some("run"))
        .unwrap();
    assert_eq!(
        label(run, "nightshift.io/action-id"),
        Some(format!("{}-a0", id.0).as_str())
    );
    assert_eq!(run.status.as_ref().unwrap().succeeded, Some(1));
    // The check's log on the dry run's entry, the real run's on the action's, redacted.
    let checked = recorded_jobs(&timeline, TimelineKind::DryRun);
    assert!(
        checked.iter().any(|j| j["phase"] == "dry-run"
            && j["result"] == "succeeded"
            && j["logs"]
                .as_str()
                .unwrap()
                .contains("(check mode) changed=0")),
        "{checked:#?}"
    );
    let ran = recorded_jobs(&timeline, TimelineKind::Action);
    let real = ran
        .iter()
        .find(|j| j["phase"] == "run")
        .unwrap_or_else(|| panic!("{ran:#?}"));
    assert_eq!(real["result"], "succeeded");
    assert_eq!(real["succeeded"], 1);
    let logs = real["logs"].as_str().unwrap();
    assert!(
        logs.contains("PLAY [release stuck jobs] changed=3"),
        "{logs}"
    );
    assert!(
        !logs.contains("tok-4f9a2c"),
        "a value from the agent's environment is masked: {logs}"
    );
    assert!(
        real["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Complete" && c["status"] == "True"),
        "{real:#?}"
    );
    // The check ran once: execute found the engine's own dry run under the same key.
    let mut checks: Vec<&str> = ran
        .iter()
        .filter(|j| j["phase"] == "dry-run")
        .filter_map(|j| j["job"].as_str())
        .collect();
    checks.dedup();
    assert!(checks.len() <= 1, "{checks:?}");
    // Verification follows, with the workload's recovery as the criteria.
    let verification = until("a verification", || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let t = store.timeline(&id).await.ok()?;
            t.into_iter().find(|e| e.kind == TimelineKind::Verification)
        }
    })
    .await;
    let criteria = verification.data["criteria"].to_string();
    assert!(criteria.contains("shop/orders-worker"), "{criteria}");
    lab.stop();
}

const FAILING_JOB: &str = r#"
- name: reindex-queue
  match: {categories: [app/hang]}
  risk: low
  targets: {namespaces: [shop]}
  timeout: 2m
  job:
    image: registry.local/ops/reindex:2.0.0
    command: [sh, -c]
    args: ["echo 'ERROR queue index is locked by another reindex'; exit 1"]
    dry_run_args: ["echo 'would reindex 4211 entries'"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_escalates_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start_with(
        &hang(),
        options(&dir, registry(FAILING_JOB)),
        ProposesAll(vec!["reindex-queue"]),
    )
    .await
    .unwrap();
    let store = lab.agent.engine.store().clone();
    let (id, _, timeline) = settled(&store, &[State::Escalated]).await;
    let failed = timeline
        .iter()
        .rev()
        .find(|e| e.kind == TimelineKind::Action && e.message.starts_with("action failed"))
        .unwrap_or_else(|| panic!("{timeline:#?}"));
    assert!(
        failed
            .message
            .contains("ERROR queue index is locked by another reindex")
            && failed.message.contains("BackoffLimitExceeded"),
        "{}",
        failed.message
    );
    let jobs = failed.data["jobs"].as_array().unwrap();
    let real = jobs.iter().find(|j| j["phase"] == "run").unwrap();
    assert_eq!(real["result"], "failed");
    assert_eq!(real["failed"], 1);
    let actions = store.actions(&id).await.unwrap();
    assert_eq!(actions.len(), 1, "nothing else was tried: {actions:#?}");
    assert!(
        actions[0]
            .error
            .as_deref()
            .unwrap()
            .contains("ERROR queue index is locked")
    );
    assert_eq!(runbook_jobs(&lab, "reindex-queue").await.len(), 2);
    lab.stop();
}

const SLOW_JOB: &str = r#"
- name: rebuild-cache
  match: {categories: [app/hang]}
  risk: low
  targets: {namespaces: [shop]}
  timeout: 30s
  job:
    image: registry.local/ops/cache-tools:1.2.0
    command: [sh, -c]
    args: ["echo 'rebuilding the cache'; sleep 3600"]
    dry_run_args: ["echo 'cache would be rebuilt'"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_timeout_escalates() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start_with(
        &hang(),
        options(&dir, registry(SLOW_JOB)),
        ProposesAll(vec!["rebuild-cache"]),
    )
    .await
    .unwrap();
    let store = lab.agent.engine.store().clone();
    let (_, _, timeline) = settled(&store, &[State::Escalated]).await;
    let failed = timeline
        .iter()
        .rev()
        .find(|e| e.kind == TimelineKind::Action && e.message.starts_with("action failed"))
        .unwrap_or_else(|| panic!("{timeline:#?}"));
    assert!(failed.message.contains("timed out"), "{}", failed.message);
    assert!(
        failed.message.contains("rebuilding the cache"),
        "{}",
        failed.message
    );
    let jobs = failed.data["jobs"].as_array().unwrap();
    assert!(
        jobs.iter()
            .any(|j| j["phase"] == "run" && j["result"] == "timed-out"),
        "{jobs:#?}"
    );
    lab.stop();
}

const SEQUENCE: &str = r#"
- name: restart-and-widen
  description: restart the workers, then run one more
  match: {categories: [app/hang]}
  risk: low
  targets: {namespaces: [shop], labels: {app: orders-worker}}
  timeout: 5m
  actions:
    - action: rollout-restart
    - action: scale
      replicas: 4
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actions_runbook_runs_its_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start_with(
        &hang(),
        options(&dir, registry(SEQUENCE)),
        ProposesAll(vec!["restart-and-widen"]),
    )
    .await
    .unwrap();
    let store = lab.agent.engine.store().clone();
    let (id, state, timeline) =
        settled(&store, &[State::Resolved, State::Closed, State::Escalated]).await;
    let lines: Vec<&str> = timeline.iter().map(|e| e.message.as_str()).collect();
    assert_ne!(state, State::Escalated, "{lines:#?}");
    let d = Api::<Deployment>::namespaced(lab.agent.engine.cluster().clone(), "shop")
        .get("orders-worker")
        .await
        .unwrap();
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(4));
    let restarted = d
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap_or_default();
    assert!(
        restarted.contains_key("kubectl.kubernetes.io/restartedAt"),
        "{restarted:?}"
    );
    let key = format!("{}-a0", id.0);
    assert_eq!(
        d.metadata
            .annotations
            .unwrap()
            .get("nightshift.io/action-id"),
        Some(&format!("{key}-s1")),
        "the last step's key"
    );
    let dry = timeline
        .iter()
        .find(|e| e.kind == TimelineKind::DryRun)
        .unwrap();
    assert!(
        dry.message.contains("1.") && dry.message.contains("2."),
        "{}",
        dry.message
    );
    let verification = timeline
        .iter()
        .find(|e| e.kind == TimelineKind::Verification)
        .unwrap();
    let criteria = verification.data["criteria"].to_string();
    assert!(criteria.contains("at 4 replicas"), "{criteria}");
    lab.stop();
}

const FLUSH: &str = r#"
- name: flush-queue
  match: {categories: [app/hang]}
  risk: low
  targets: {namespaces: [payments]}
  actions: [{action: rollout-restart}]
"#;

/// The rule of the decision on the one plan `runbook` on shop/orders-worker, with FLUSH
/// registered; and whether anything ran.
async fn refused(runbook: &'static str) -> (String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start_with(
        &hang(),
        options(&dir, registry(FLUSH)),
        ProposesAll(vec![runbook]),
    )
    .await
    .unwrap();
    let store = lab.agent.engine.store().clone();
    let (id, _, _) = settled(&store, &[State::Escalated]).await;
    let decisions = store.decisions(&id).await.unwrap();
    let ran = !store.actions(&id).await.unwrap().is_empty()
        || !runbook_jobs(&lab, runbook).await.is_empty();
    lab.stop();
    (decisions[0].decision.rule.clone(), ran)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_refuses_a_runbook_not_registered_or_not_allowed_here() {
    let (unknown, elsewhere) = tokio::join!(refused("delete-everything"), refused("flush-queue"));
    assert_eq!(
        unknown,
        (
            "runbook: delete-everything is not registered".to_string(),
            false
        )
    );
    assert_eq!(
        elsewhere,
        (
            "runbook: flush-queue may not run on shop/orders-worker: namespace shop is not among its targets (payments)"
                .to_string(),
            false
        )
    );
}

/// A brain that diagnoses a hang of shop/orders-worker and proposes running these runbooks
/// on it.
struct ProposesAll(Vec<&'static str>);

impl Analyzer for ProposesAll {
    fn name(&self) -> &str {
        "proposes"
    }

    async fn analyze(&self, input: &AnalysisInput<'_>) -> Result<Analysis, AnalyzeError> {
        let workload = ResourceRef::deployment("shop", "orders-worker");
        Ok(Analysis {
            diagnosis: Diagnosis {
                category: Category::Hang,
                summary: format!("a worker hangs ({})", input.incident.resource),
                evidence: Vec::new(),
                root_cause: workload.clone(),
                confidence: 0.9,
            },
            plans: self
                .0
                .iter()
                .map(|name| Plan {
                    action: Action::RunRunbook {
                        name: name.to_string(),
                        target: workload.clone(),
                    },
                    confidence: 0.9,
                    rationale: "the runbook for it".into(),
                    expected_outcome: "recovery".into(),
                })
                .collect(),
            analyzer: "proposes".into(),
            notes: Vec::new(),
        })
    }
}
