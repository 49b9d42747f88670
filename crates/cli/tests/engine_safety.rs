//! The engine's brakes, on the simulated cluster: the per-target budget ends a restart loop on
//! a flapping workload, a failed attempt cools the target down, an approval nobody gives
//! expires into an escalation, and a decision recorded just before a crash is carried out
//! after the restart.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nightshift::lab::{LAB_POLICY, Lab, LabOptions};
use nightshift_agent::engine::EngineConfig;
use nightshift_core::analysis::AnalyzeError;
use nightshift_core::evidence::EvidenceData;
use nightshift_core::policy::Policy;
use nightshift_core::{
    Action, Analysis, AnalysisInput, Analyzer, Category, Decision, Diagnosis, Plan, ResourceRef,
    Risk, State, TimelineKind, Verdict,
};
use nightshift_scenario::Scenario;
use nightshift_store::{
    ActionRecord, ActionStatus, ApprovalStatus, IncidentFilter, NewIncident, Store,
};

/// A brain that always proposes what its function makes of the input, sure of it.
struct Proposes(fn(&AnalysisInput<'_>) -> Action);

impl Analyzer for Proposes {
    fn name(&self) -> &str {
        "proposes"
    }

    async fn analyze(&self, input: &AnalysisInput<'_>) -> Result<Analysis, AnalyzeError> {
        let target = input.incident.resource.clone();
        Ok(Analysis {
            diagnosis: Diagnosis {
                category: Category::Crash,
                summary: "the same remedy as always".into(),
                evidence: Vec::new(),
                root_cause: target,
                confidence: 0.95,
            },
            plans: vec![Plan {
                action: (self.0)(input),
                confidence: 0.95,
                rationale: "it helped last time".into(),
                expected_outcome: "recovery".into(),
            }],
            analyzer: "proposes".into(),
            notes: Vec::new(),
        })
    }
}

/// Restarts a pod of the incident's workload named in the evidence.
fn restart_a_pod(input: &AnalysisInput<'_>) -> Action {
    let (namespace, name) = match &input.incident.resource {
        ResourceRef::Workload {
            namespace, name, ..
        } => (namespace.clone(), name.clone()),
        other => panic!("expected a workload incident, got {other}"),
    };
    let pod = input
        .evidence
        .items
        .iter()
        .find_map(|i| match &i.data {
            EvidenceData::ContainerStatus { pod, .. } if pod.starts_with(&format!("{name}-")) => {
                Some(pod.clone())
            }
            _ => None,
        })
        .expect("a pod of the workload in the evidence");
    Action::RestartPod { namespace, pod }
}

fn rollout_restart(input: &AnalysisInput<'_>) -> Action {
    Action::RolloutRestart {
        target: input.incident.resource.clone(),
    }
}

fn scenario(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(format!("{name}.yaml"));
    nightshift_scenario::load_file(&path).unwrap()
}

/// The lab policy in `mode`, with `extra` keys.
fn policy(mode: &str, extra: &str) -> Policy {
    let lab = LAB_POLICY.replace("\nmode: auto\n", &format!("\nmode: {mode}\n"));
    assert!(lab.contains(&format!("mode: {mode}")));
    Policy::parse(&format!("{lab}\n{extra}"), "test policy").unwrap()
}

/// Five attempts, short waits: a 5s settle, a 30s stabilization window, `verify_deadline`.
fn quick_engine(verify_deadline: Duration) -> EngineConfig {
    EngineConfig {
        settle: Duration::from_secs(5),
        stabilization: Duration::from_secs(30),
        verify_deadline,
        max_attempts: 5,
        ..EngineConfig::default()
    }
}

fn options(dir: &tempfile::TempDir, policy: Policy, engine: EngineConfig) -> LabOptions {
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.speed = 60.0;
    opts.policy = policy;
    opts.engine = engine;
    opts
}

/// Polls until `done` answers `Some`, or panics naming `what` after two minutes.
async fn until<T, F: Future<Output = Option<T>>>(what: &str, mut done: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(v) = done().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every action the agent recorded, oldest first.
async fn all_actions(store: &Store) -> Vec<ActionRecord> {
    let mut out = Vec::new();
    for i in store.list(&IncidentFilter::default()).await.unwrap() {
        out.extend(store.actions(&i.incident.id).await.unwrap());
    }
    out.sort_by_key(|a| a.id);
    out
}

/// The rules of every decision recorded, oldest first.
async fn decision_rules(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    let mut list = store.list(&IncidentFilter::default()).await.unwrap();
    list.reverse();
    for i in list {
        for d in store.decisions(&i.incident.id).await.unwrap() {
            out.push(d.decision.rule);
        }
    }
    out
}

/// One replica that leaks memory from every start and is OOMKilled about three minutes in: a
/// restart helps, verification passes, and the next kill opens the next incident.
const FLAPPING: &str = r#"
name: flapping-leaky-worker
summary: a single replica leaks from every start and is OOMKilled a few minutes in
seed: 5
horizon: 60m
cluster:
  nodes:
    - name: node-a
      cpu: "8"
      memory: 32Gi
  workloads:
    - kind: Deployment
      namespace: shop
      name: leaky
      replicas: 1
      image: registry.local/shop/leaky:1.0.0
      resources:
        requests: {cpu: 100m, memory: 128Mi}
        limits: {cpu: 500m, memory: 256Mi}
      behavior: {memory: 100Mi, cpu: 50m, rps: 10, latency_ms: 20, startup: 2s}
      logs:
        every: 5s
        lines:
          - 'INFO handled job id={hex:8}'
faults:
  - at: 1m
    type: memory-leak
    target: shop/leaky
    params: {rate: 60Mi/min}
expect:
  detect: true
  diagnosis: [resource/memory-leak]
  locate: shop/leaky
  actions:
    acceptable: [restart-pod]
  resolved: false
"#;

/// A restart "works" every time and the workload fails again every time: the budget of two
/// actions per target per hour counts the restarts of each new pod against the Deployment,
/// and the third incident is escalated instead of restarting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_ends_a_restart_loop_on_a_flapping_workload() {
    let s = nightshift_scenario::load::parse_str(FLAPPING, "flapping test scenario").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = quick_engine(Duration::from_secs(180));
    let mut p = policy("auto", "budgets: {actions_per_target_per_hour: 2}");
    // The budget is what this test is about: the knowledge base's recurrence check (which
    // would hand the third incident over too) is off.
    p.learning.recurrence.limit = 0;
    let opts = options(&dir, p, engine);
    let lab = Lab::start_with(&s, opts, Proposes(restart_a_pod))
        .await
        .unwrap();
    let store = lab.agent.engine.store().clone();
    let clock = lab.sim.clock().clone();
    let stopped_at = until("an escalation by the budget", || {
        let (store, clock) = (store.clone(), clock.clone());
        async move {
            let rules = decision_rules(&store).await;
            rules
                .iter()
                .any(|r| r.starts_with("budget:"))
                .then(|| clock.now())
        }
    })
    .await;
    // Ten more simulated minutes: three more kills, and still no restart.
    until("ten more simulated minutes", || {
        let now = clock.now();
        async move { (now - stopped_at >= chrono::Duration::minutes(10)).then_some(()) }
    })
    .await;
    let actions = all_actions(&store).await;
    let restarts: Vec<&ActionRecord> = actions
        .iter()
        .filter(|a| a.action.changes_infra())
        .collect();
    assert_eq!(restarts.len(), 2, "two restarts, then the budget");
    assert!(restarts.iter().all(|a| a.status == ActionStatus::Done));
    let pods: Vec<&Action> = restarts.iter().map(|a| &a.action).collect();
    assert_ne!(pods[0], pods[1], "each restart was of a new pod");
    let rules = decision_rules(&store).await;
    let budget: Vec<&String> = rules.iter().filter(|r| r.starts_with("budget:")).collect();
    assert_eq!(
        budget[0], "budget: 2 actions on shop/leaky in the last hour",
        "{rules:?}"
    );
    let list = store.list(&IncidentFilter::default()).await.unwrap();
    let resolved = list
        .iter()
        .filter(|i| i.incident.state == State::Closed)
        .count();
    let escalated = list
        .iter()
        .filter(|i| i.incident.state == State::Escalated)
        .count();
    assert_eq!(
        (resolved, escalated),
        (2, 1),
        "two recoveries, then one escalation that later kills join"
    );
    lab.stop();
}

/// A crash loop a rolling restart does not cure: the attempt fails verification, and the
/// next attempt is stopped by the cooldown after a failure rather than restarting again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_attempt_cools_the_target_down() {
    let dir = tempfile::tempdir().unwrap();
    let engine = quick_engine(Duration::from_secs(90));
    let opts = options(
        &dir,
        policy("auto", "budgets: {cooldown_after_failure: 30m}"),
        engine,
    );
    let lab = Lab::start_with(
        &scenario("crash-checkout-bug"),
        opts,
        Proposes(rollout_restart),
    )
    .await
    .unwrap();
    let store = lab.agent.engine.store().clone();
    let incident = until("the incident to be escalated", || {
        let store = store.clone();
        async move {
            let list = store.list(&IncidentFilter::default()).await.unwrap();
            list.into_iter()
                .find(|i| i.incident.state == State::Escalated)
        }
    })
    .await;
    let id = &incident.incident.id;
    let actions = store.actions(id).await.unwrap();
    assert_eq!(actions.len(), 1, "one rolling restart");
    assert_eq!(actions[0].status, ActionStatus::Done);
    let decisions = store.decisions(id).await.unwrap();
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[1].attempt, 1);
    let rule = &decisions[1].decision.rule;
    assert!(
        rule.starts_with("cooldown: last failure") && rule.ends_with("< 30m"),
        "{rule}"
    );
    let timeline = store.timeline(id).await.unwrap();
    assert!(timeline.iter().any(|e| e.kind == TimelineKind::Verification
        && e.data["recovered"] == false
        && e.data["attempt"] == 0));
    assert_eq!(
        timeline.last().map(|e| e.message.contains("cooldown")),
        Some(true),
        "the escalation names the cooldown: {:?}",
        timeline.last()
    );
    lab.stop();
}

/// Approve mode with a two-minute approval timeout: nobody answers, the approval expires, the
/// incident is escalated, and nothing is changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_approval_expires_into_an_escalation() {
    let dir = tempfile::tempdir().unwrap();
    let engine = EngineConfig {
        settle: Duration::from_secs(5),
        ..EngineConfig::default()
    };
    let opts = options(&dir, policy("approve", "approval_timeout: 2m"), engine);
    let lab = Lab::start(&scenario("hang-orders-worker-deadlock"), opts)
        .await
        .unwrap();
    let store = lab.agent.engine.store().clone();
    let asked = until("an approval request", || {
        let store = store.clone();
        async move {
            let list = store.list(&IncidentFilter::default()).await.unwrap();
            list.into_iter()
                .find(|i| i.incident.state == State::AwaitingApproval)
        }
    })
    .await;
    let id = asked.incident.id.clone();
    let escalated = until("the escalation", || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let i = store.get(&id).await.unwrap()?;
            (i.incident.state == State::Escalated).then_some(i)
        }
    })
    .await;
    let approvals = store.approvals(&id).await.unwrap();
    assert_eq!(approvals.len(), 1);
    let a = &approvals[0];
    assert_eq!(a.status, ApprovalStatus::Expired);
    assert_eq!(a.deadline - a.requested_at, chrono::Duration::minutes(2));
    assert!(a.decided_at.is_some_and(|t| t >= a.deadline));
    let timeline = store.timeline(&id).await.unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| e.kind == TimelineKind::Approval && e.message.contains("expired")),
        "the expiry is on the timeline"
    );
    assert!(
        timeline
            .iter()
            .any(|e| e.message.contains("nobody approved in time")),
        "the escalation says why"
    );
    assert!(escalated.incident.state == State::Escalated);
    assert!(
        store
            .actions(&id)
            .await
            .unwrap()
            .iter()
            .all(|a| !a.action.changes_infra()),
        "nothing was carried out"
    );
    lab.stop();
}

/// The agent stopped after recording a decision and before carrying it out: the incident is
/// left `planned`. The next agent on the same record carries the decision out as recorded
/// (without analysing again) and verifies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_recorded_before_a_crash_is_carried_out_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(&dir, policy("auto", ""), EngineConfig::default());
    let target = ResourceRef::deployment("shop", "orders-worker");
    let id = {
        let store = Store::open(&opts.store).await.unwrap();
        let now = chrono::Utc::now();
        let mut stored = store
            .open_or_join(&NewIncident {
                resource: target.clone(),
                title: "left planned by a crash".into(),
                opened_at: now,
                signal: None,
            })
            .await
            .unwrap()
            .incident;
        for to in [State::Collecting, State::Analyzing, State::Planned] {
            let e = stored
                .incident
                .transition(to, now, "before the crash")
                .unwrap();
            store.update_incident(&mut stored, &[e]).await.unwrap();
        }
        let plan = Plan {
            action: Action::RolloutRestart {
                target: target.clone(),
            },
            confidence: 0.9,
            rationale: "decided before the crash".into(),
            expected_outcome: "every replica Ready".into(),
        };
        let decision = Decision {
            verdict: Verdict::Execute,
            risk: Risk::Low,
            rule: "risk: low → execute (mode auto, global)".into(),
            factors: Vec::new(),
        };
        let id = stored.incident.id.clone();
        store
            .record_decision(&id, 0, &plan, &decision, now)
            .await
            .unwrap();
        store.close().await;
        id
    };
    let lab = Lab::start_with(
        &scenario("hang-orders-worker-deadlock"),
        opts,
        Proposes(rollout_restart),
    )
    .await
    .unwrap();
    let store = lab.agent.engine.store().clone();
    let closed = until("the resumed incident to close", || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let i = store.get(&id).await.unwrap()?;
            matches!(i.incident.state, State::Closed | State::Escalated).then_some(i)
        }
    })
    .await;
    assert_eq!(closed.incident.state, State::Closed);
    let actions = store.actions(&id).await.unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].status, ActionStatus::Done);
    assert_eq!(actions[0].idempotency_key, format!("{}-a0", id.0));
    assert!(
        store.analyses(&id).await.unwrap().is_empty(),
        "carried out as decided, not analysed again"
    );
    let d = lab
        .sim
        .store()
        .get_typed::<k8s_openapi::api::apps::v1::Deployment>("shop", "orders-worker")
        .unwrap();
    let template = d
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    assert!(template.contains_key("kubectl.kubernetes.io/restartedAt"));
    lab.stop();
}
