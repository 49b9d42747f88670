//! The loop against the simulated cluster, scenario by scenario: the incident's category,
//! root-cause resource, first action and final state match what the scenario expects.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nightshift::lab::{Lab, LabOptions};
use nightshift_core::{ActionName, State};
use nightshift_scenario::{ActionPattern, Scenario};
use nightshift_store::IncidentFilter;

struct Outcome {
    category: Option<String>,
    root: Option<String>,
    state: State,
    first_action: Option<ActionName>,
}

fn scenario(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(format!("{name}.yaml"));
    nightshift_scenario::load_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a scenario until its first incident is closed or escalated (or the horizon).
async fn run(name: &str) -> (Scenario, Outcome) {
    run_with(name, None).await
}

async fn run_with(name: &str, policy: Option<&str>) -> (Scenario, Outcome) {
    let s = scenario(name);
    let dir = tempfile::tempdir().unwrap();
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.speed = 60.0;
    if let Some(p) = policy {
        opts.policy = nightshift_core::policy::Policy::parse(p, "test policy").unwrap();
    }
    let lab = Lab::start(&s, opts).await.unwrap();
    let store = lab.agent.engine.store().clone();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let done = lab.cluster.clock.is_finished() || Instant::now() > deadline;
        let list = store.list(&IncidentFilter::default()).await.unwrap();
        if let Some(first) = list.iter().min_by_key(|i| i.incident.opened_at)
            && (matches!(
                first.incident.state,
                State::Closed | State::Escalated | State::Observed
            ) || done)
        {
            let actions = store.actions(&first.incident.id).await.unwrap();
            let first_action = actions
                .iter()
                .map(|a| a.action.name())
                .find(|a| a.changes_infra());
            let i = &first.incident;
            let out = Outcome {
                category: i.category.map(|c| c.to_string()),
                root: i.root_cause.as_ref().map(|r| r.locate_key()),
                state: i.state,
                first_action,
            };
            lab.stop();
            return (s, out);
        }
        if done {
            lab.stop();
            panic!("{name}: no incident by the horizon");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn matches(pattern: &ActionPattern, action: ActionName) -> bool {
    match pattern {
        ActionPattern::Action(a) => *a == action,
        ActionPattern::ScaleUp | ActionPattern::ScaleDown | ActionPattern::ScaleToZero => {
            action == ActionName::Scale
        }
        ActionPattern::RaiseMemoryLimit => action == ActionName::SetResources,
    }
}

async fn check(name: &str) {
    let (s, out) = run(name).await;
    let e = &s.expect;
    let category = out.category.clone().unwrap_or_default();
    assert!(
        e.diagnosis.iter().any(|c| c.as_str() == category),
        "{name}: category {category:?}, expected one of {:?}",
        e.diagnosis
    );
    if let Some(locate) = &e.locate {
        assert_eq!(
            out.root.as_deref(),
            Some(locate.to_string().as_str()),
            "{name}: root cause"
        );
    }
    let acceptable = &e.actions.acceptable;
    let escalate_only = acceptable.iter().all(|m| {
        matches!(
            m.pattern,
            ActionPattern::Action(ActionName::Escalate) | ActionPattern::Action(ActionName::None)
        )
    });
    match out.first_action {
        Some(a) => assert!(
            acceptable.iter().any(|m| matches(&m.pattern, a)),
            "{name}: first action {a}, acceptable {acceptable:?}"
        ),
        None => assert!(
            escalate_only,
            "{name}: no action ran, acceptable {acceptable:?}"
        ),
    }
    for h in &e.actions.harmful {
        if let Some(a) = out.first_action {
            assert!(
                !matches(&h.pattern, a) || acceptable.iter().any(|m| matches(&m.pattern, a)),
                "{name}: harmful action {a}"
            );
        }
    }
    if e.resolved {
        assert_eq!(
            out.state,
            State::Closed,
            "{name}: the incident should end resolved and closed"
        );
    } else {
        assert_eq!(
            out.state,
            State::Escalated,
            "{name}: the incident should end escalated"
        );
    }
}

macro_rules! scenarios {
    ($($test:ident => $file:literal),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                check($file).await;
            }
        )+
    };
}

scenarios! {
    bad_rollout_crash => "bad-rollout-catalog-crash",
    bad_rollout_errors => "bad-rollout-payments-errors",
    memory_limit => "memory-limit-checkout-oom-undersized",
}

/// Observe mode: the loop diagnoses and records, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_mode_changes_nothing() {
    let (_, out) = run_with(
        "memory-limit-checkout-oom-undersized",
        Some("mode: observe\n"),
    )
    .await;
    assert_eq!(out.state, State::Observed);
    assert_eq!(out.category.as_deref(), Some("resource/memory-limit"));
    assert_eq!(out.first_action, None, "observe mode must not act");
}
