//! The runbook rules: a `run-runbook` plan is held against the runbook it names.

use chrono::{DateTime, Utc};
use nightshift_core::policy::{Criticality, DecisionContext, Mode, Policy, TargetFacts};
use nightshift_core::runbook::{RunbookRegistry, RunbookSettings, read};
use nightshift_core::{Action, Category, Plan, ResourceRef, Risk, Verdict};

fn now() -> DateTime<Utc> {
    "2026-06-10T12:00:00Z".parse().unwrap()
}

fn registry() -> RunbookRegistry {
    let settings: Vec<RunbookSettings> = serde_saphyr::from_str(
        r#"
- name: flush-queue
  match: {categories: [app/hang]}
  risk: low
  targets: {namespaces: [shop], labels: {team: orders}}
  actions: [{action: rollout-restart}]
- name: reindex
  match: {categories: [app/crash], labels: {app: catalog}}
  risk: medium
  targets: {namespaces: [shop]}
  job: {image: registry.local/ops/reindex:1, dry_run_args: [--check]}
"#,
    )
    .unwrap();
    read::registry(&settings, |_| None).unwrap()
}

fn run(name: &str, ns: &str, workload: &str) -> Plan {
    Plan {
        action: Action::RunRunbook {
            name: name.into(),
            target: ResourceRef::deployment(ns, workload),
        },
        confidence: 0.9,
        rationale: "r".into(),
        expected_outcome: "e".into(),
    }
}

fn ctx(
    plan: &Plan,
    category: Category,
    labels: &[(&str, &str)],
    reg: &RunbookRegistry,
) -> DecisionContext {
    let target = plan.action.target().unwrap();
    let mut ctx = DecisionContext::new(now(), target.clone(), 0.9);
    ctx.category = Some(category);
    ctx.target = TargetFacts {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        owner: Some(target),
        replicas: Some(3),
        ready_replicas: Some(3),
        ..TargetFacts::default()
    };
    if let Action::RunRunbook { name, .. } = &plan.action {
        ctx.runbook = reg.get(name).cloned();
    }
    ctx
}

fn auto() -> Policy {
    Policy {
        mode: Mode::Auto,
        ..Policy::default()
    }
}

#[test]
fn a_runbook_that_is_not_registered_is_forbidden_by_name() {
    let reg = registry();
    let p = run("drop-database", "shop", "orders");
    let d = auto().decide(&p, &ctx(&p, Category::Hang, &[], &reg));
    assert_eq!(d.verdict, Verdict::Forbidden);
    assert_eq!(d.rule, "runbook: drop-database is not registered");
}

#[test]
fn a_target_outside_the_runbooks_targets_is_forbidden() {
    let reg = registry();
    let p = run("flush-queue", "payments", "ledger");
    let d = auto().decide(&p, &ctx(&p, Category::Hang, &[("team", "orders")], &reg));
    assert_eq!(d.verdict, Verdict::Forbidden);
    assert!(
        d.rule
            .starts_with("runbook: flush-queue may not run on payments/ledger")
            && d.rule
                .contains("namespace payments is not among its targets (shop)"),
        "{}",
        d.rule
    );
    let p = run("flush-queue", "shop", "orders");
    let d = auto().decide(&p, &ctx(&p, Category::Hang, &[("team", "web")], &reg));
    assert_eq!(d.verdict, Verdict::Forbidden);
    assert!(d.rule.contains("team=orders"), "{}", d.rule);
    let node = Plan {
        action: Action::RunRunbook {
            name: "flush-queue".into(),
            target: ResourceRef::node("node-a"),
        },
        ..p.clone()
    };
    let d = auto().decide(&node, &ctx(&node, Category::Hang, &[], &reg));
    assert!(d.rule.contains("has no namespace"), "{}", d.rule);
}

#[test]
fn a_runbook_written_for_another_diagnosis_is_forbidden() {
    let reg = registry();
    let p = run("flush-queue", "shop", "orders");
    let d = auto().decide(
        &p,
        &ctx(&p, Category::MemoryLimit, &[("team", "orders")], &reg),
    );
    assert_eq!(d.verdict, Verdict::Forbidden);
    assert_eq!(
        d.rule,
        "runbook: flush-queue is not written for resource/memory-limit (match: app/hang)"
    );
    let mut c = ctx(&p, Category::Hang, &[("team", "orders")], &reg);
    c.category = None;
    assert!(
        auto()
            .decide(&p, &c)
            .rule
            .contains("not written for an unknown diagnosis")
    );
    let p = run("reindex", "shop", "search");
    let d = auto().decide(&p, &ctx(&p, Category::Crash, &[("app", "search")], &reg));
    assert_eq!(d.verdict, Verdict::Forbidden);
    assert!(d.rule.contains("labelled app=catalog"), "{}", d.rule);
}

#[test]
fn the_actions_of_a_runbook_are_held_against_the_forbidden_operations() {
    let reg = registry();
    let mut policy = auto();
    policy
        .forbidden
        .push(nightshift_core::policy::ForbiddenRule {
            operation: nightshift_core::Operation::Action(
                nightshift_core::ActionName::RolloutRestart,
            ),
            namespaces: vec!["shop".into()],
        });
    let p = run("flush-queue", "shop", "orders");
    let d = policy.decide(&p, &ctx(&p, Category::Hang, &[("team", "orders")], &reg));
    assert_eq!(d.verdict, Verdict::Forbidden);
    assert_eq!(d.rule, "forbidden: rollout-restart in namespace shop");
}

#[test]
fn the_scale_steps_of_a_runbook_are_held_to_the_limits_of_scale() {
    let settings: Vec<RunbookSettings> = serde_saphyr::from_str(
        "- {name: widen, match: {categories: [app/hang]}, risk: low, targets: {namespaces: [shop]}, actions: [{action: scale, replicas: 50}]}\n",
    )
    .unwrap();
    let reg = read::registry(&settings, |_| None).unwrap();
    let p = run("widen", "shop", "orders");
    let d = auto().decide(&p, &ctx(&p, Category::Hang, &[], &reg));
    assert_eq!(d.verdict, Verdict::Escalate);
    assert_eq!(d.rule, "blast-radius: scale to 50 > max_replicas 20");
}

#[test]
fn the_restart_steps_of_a_runbook_are_held_to_the_share_of_replicas() {
    let reg = registry();
    let p = run("flush-queue", "shop", "orders");
    let mut c = ctx(&p, Category::Hang, &[("team", "orders")], &reg);
    // One replica: the rolling restart takes the only one down, as the action would.
    c.target.replicas = Some(1);
    c.target.ready_replicas = Some(1);
    let d = auto().decide(&p, &c);
    assert_eq!(
        (d.verdict, d.risk),
        (Verdict::NeedsApproval, Risk::High),
        "{d:?}"
    );
    assert!(
        d.factors
            .iter()
            .any(|f| f.starts_with("touches 1 of 1 replicas at once")),
        "{:?}",
        d.factors
    );
    // A drain step evicts: a PodDisruptionBudget that allows nothing makes it high.
    let settings: Vec<RunbookSettings> = serde_saphyr::from_str(
        "- {name: empty-node, match: {categories: [node/not-ready]}, risk: low, targets: {labels: {pool: batch}}, actions: [{action: drain-node}]}\n",
    )
    .unwrap();
    let reg = read::registry(&settings, |_| None).unwrap();
    let p = Plan {
        action: Action::RunRunbook {
            name: "empty-node".into(),
            target: ResourceRef::Node { name: "n1".into() },
        },
        ..run("empty-node", "x", "y")
    };
    let mut c = ctx(&p, Category::NodeNotReady, &[("pool", "batch")], &reg);
    c.target.replicas = Some(4);
    c.target.ready_replicas = Some(4);
    c.target.pods_touched = Some(1);
    c.target.pdb_disruptions_allowed = Some(0);
    let d = auto().decide(&p, &c);
    assert_eq!(d.risk, Risk::High, "{d:?}");
    assert!(
        d.factors
            .iter()
            .any(|f| f.starts_with("PodDisruptionBudget allows 0 disruptions")),
        "{:?}",
        d.factors
    );
}

#[test]
fn the_risk_class_is_the_base_risk() {
    let reg = registry();
    let p = run("flush-queue", "shop", "orders");
    let d = auto().decide(&p, &ctx(&p, Category::Hang, &[("team", "orders")], &reg));
    assert_eq!((d.verdict, d.risk), (Verdict::Execute, Risk::Low), "{d:?}");
    assert!(
        d.factors
            .iter()
            .any(|f| f == "risk class of runbook flush-queue: low"),
        "{:?}",
        d.factors
    );
    let p = run("reindex", "shop", "catalog");
    let d = auto().decide(&p, &ctx(&p, Category::Crash, &[("app", "catalog")], &reg));
    assert_eq!(
        (d.verdict, d.risk),
        (Verdict::NeedsApproval, Risk::Medium),
        "{d:?}"
    );
    assert!(d.rule.starts_with("risk: medium → approval"), "{}", d.rule);
    // Criticality still raises it.
    let mut policy = auto();
    policy
        .criticality
        .namespaces
        .insert("shop".into(), Criticality::Medium);
    let p = run("flush-queue", "shop", "orders");
    let d = policy.decide(&p, &ctx(&p, Category::Hang, &[("team", "orders")], &reg));
    assert_eq!((d.verdict, d.risk), (Verdict::NeedsApproval, Risk::Medium));
    // Other plans are not held against any runbook.
    let restart = Plan {
        action: Action::RolloutRestart {
            target: ResourceRef::deployment("shop", "orders"),
        },
        ..p.clone()
    };
    let d = auto().decide(&restart, &ctx(&restart, Category::Hang, &[], &reg));
    assert_ne!(d.verdict, Verdict::Forbidden);
    assert!(!d.rule.starts_with("runbook:"), "{}", d.rule);
}
