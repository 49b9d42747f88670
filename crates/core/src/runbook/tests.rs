use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::analysis::{Analysis, Diagnosis, Plan};

fn parse(yaml: &str) -> Result<RunbookRegistry, RunbookConfigError> {
    parse_with(yaml, |_| None)
}

fn parse_with(
    yaml: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<RunbookRegistry, RunbookConfigError> {
    let settings: Vec<RunbookSettings> = serde_saphyr::from_str(yaml).expect("yaml");
    read::registry(&settings, env)
}

const BOTH: &str = r#"
- name: restart-then-scale
  description: restart the pods, then add one
  match: {categories: [app/hang], labels: {app: orders-worker}}
  risk: low
  targets: {namespaces: [shop]}
  timeout: 5m
  actions:
    - action: rollout-restart
    - action: scale
      replicas: 3
- name: clear-cache
  match: {categories: [app/crash, app/hang]}
  risk: high
  targets: {labels: {team: orders}}
  job:
    image: registry.local/ops/ansible:9
    command: [ansible-playbook]
    args: [clear-cache.yml]
    dry_run_args: [clear-cache.yml, --check]
    env:
      - {name: LEVEL, value: info}
      - {name: DB_PASSWORD, secret: {name: ops-db, key: password}}
      - {name: API_TOKEN, from_env: OPS_TOKEN}
    service_account: runbook-runner
    ttl: 30m
"#;

#[test]
fn reads_both_kinds_with_their_defaults() {
    let reg = parse_with(BOTH, |v| (v == "OPS_TOKEN").then(|| "s3cret".to_string())).unwrap();
    assert_eq!(reg.names(), vec!["clear-cache", "restart-then-scale"]);
    let a = reg.get("restart-then-scale").unwrap();
    assert_eq!(a.risk, Risk::Low);
    assert_eq!(a.timeout, Duration::from_secs(300));
    assert_eq!(a.matches.categories, vec![Category::Hang]);
    let RunbookKind::Actions(steps) = &a.kind else {
        panic!("actions")
    };
    assert_eq!(steps.len(), 2);
    let target = ResourceRef::deployment("shop", "orders-worker");
    assert_eq!(
        steps[1].action_for(&target).unwrap(),
        Action::Scale {
            target: target.clone(),
            replicas: 3
        }
    );
    assert!(steps[0].action_for(&ResourceRef::node("n1")).is_err());
    let j = reg.get("clear-cache").unwrap();
    assert_eq!(j.risk, Risk::High);
    assert_eq!(j.timeout, Duration::from_secs(600), "the default timeout");
    let RunbookKind::Job(job) = &j.kind else {
        panic!("job")
    };
    assert_eq!(job.dry_run_args, vec!["clear-cache.yml", "--check"]);
    assert_eq!(job.ttl, Duration::from_secs(1800));
    assert_eq!(job.backoff_limit, 0);
    assert_eq!(
        (job.run_as_user, job.run_as_root),
        (None, false),
        "not root"
    );
    assert_eq!(
        job.env[1].source,
        EnvSource::Secret {
            name: "ops-db".into(),
            key: "password".into()
        }
    );
    assert_eq!(job.hidden_values(), vec!["s3cret"]);
    // The value read from the environment is neither printed nor serialized.
    assert!(!format!("{j:?}").contains("s3cret"));
    assert!(!serde_json::to_string(j).unwrap().contains("s3cret"));
}

#[test]
fn an_unset_variable_stops_with_its_name() {
    let e = parse(BOTH).unwrap_err();
    assert_eq!(e.key, "runbooks[1].job.env[2].from_env");
    assert!(e.to_string().contains("OPS_TOKEN is not set"), "{e}");
    let e = parse_with(BOTH, |_| Some(String::new())).unwrap_err();
    assert!(e.to_string().contains("OPS_TOKEN"), "{e}");
}

#[test]
fn mistakes_name_their_key() {
    let cases = [
        (
            "- {name: x, match: {categories: [app/crsh]}, targets: {namespaces: [a]}, actions: [{action: rollout-restart}]}",
            "runbooks[0].match.categories[0]",
            "app/crsh",
        ),
        (
            "- {name: x, match: {categories: []}, targets: {namespaces: [a]}, actions: [{action: rollout-restart}]}",
            "runbooks[0].match.categories",
            "at least one",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}, actions: [{action: restart-everything}]}",
            "runbooks[0].actions[0].action",
            "restart-everything",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}, actions: [{action: run-runbook}]}",
            "runbooks[0].actions[0].action",
            "cannot be a runbook step",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}, actions: [{action: scale}]}",
            "runbooks[0].actions[0].replicas",
            "replica count",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}, actions: [{action: rollout-restart, replicas: 2}]}",
            "runbooks[0].actions[0].replicas",
            "takes no replicas",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}, actions: [{action: rollout-restart}, {action: drain-node}]}",
            "runbooks[0].actions[1].action",
            "one target",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}, job: {dry_run_args: []}}",
            "runbooks[0].job.image",
            "missing",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}, job: {image: i}}",
            "runbooks[0].job.dry_run_args",
            "check mode",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}, job: {image: i, dry_run_args: [], env: [{name: A, value: b, from_env: C}]}}",
            "runbooks[0].job.env[0]",
            "exactly one",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}, job: {image: i, dry_run_args: [], run_as_user: 0}}",
            "runbooks[0].job.run_as_user",
            "run_as_root: true",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}, job: {image: i, dry_run_args: [], run_as_user: -5}}",
            "runbooks[0].job.run_as_user",
            "not a user id",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}, risk: extreme, actions: [{action: rollout-restart}]}",
            "runbooks[0].risk",
            "low, medium or high",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, actions: [{action: rollout-restart}]}",
            "runbooks[0].targets",
            "only where it is allowed",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}, timeout: soon, actions: [{action: rollout-restart}]}",
            "runbooks[0].timeout",
            "soon",
        ),
        (
            "- {name: X_bad, match: {categories: [app/crash]}, targets: {namespaces: [a]}, actions: [{action: rollout-restart}]}",
            "runbooks[0].name",
            "X_bad",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}}",
            "runbooks[0]",
            "`actions`",
        ),
        (
            "- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}, actions: [{action: rollout-restart}]}\n- {name: x, match: {categories: [app/crash]}, targets: {namespaces: [a]}, actions: [{action: rollout-restart}]}",
            "runbooks[1].name",
            "twice",
        ),
    ];
    for (yaml, key, says) in cases {
        let e = parse(yaml).unwrap_err();
        assert_eq!(e.key, key, "{yaml}: {e}");
        assert!(e.message.contains(says), "{yaml}: {e}");
    }
    let unknown = serde_saphyr::from_str::<Vec<RunbookSettings>>(
        "- name: x\n  match: {categories: [app/crash]}\n  imagee: y\n",
    )
    .unwrap_err()
    .to_string();
    assert!(unknown.contains("imagee"), "{unknown}");
}

fn analysis(category: Category, plans: Vec<Plan>) -> Analysis {
    Analysis {
        diagnosis: Diagnosis {
            category,
            summary: "s".into(),
            evidence: vec![],
            root_cause: ResourceRef::deployment("shop", "orders-worker"),
            confidence: 0.8,
        },
        plans,
        analyzer: "rules".into(),
        notes: vec![],
    }
}

fn plan(action: Action) -> Plan {
    Plan {
        action,
        confidence: 0.85,
        rationale: "r".into(),
        expected_outcome: "e".into(),
    }
}

fn names(a: &Analysis) -> Vec<String> {
    a.plans.iter().map(|p| p.action.to_string()).collect()
}

#[test]
fn proposals_rank_a_runbook_for_this_workload_first_and_a_generic_one_after_the_remedies() {
    let reg = parse_with(BOTH, |_| Some("v".into())).unwrap();
    let target = ResourceRef::deployment("shop", "orders-worker");
    let builtin = || {
        vec![
            plan(Action::RolloutRestart {
                target: target.clone(),
            }),
            plan(Action::Escalate { reason: "r".into() }),
        ]
    };
    let labels = BTreeMap::from([
        ("app".to_string(), "orders-worker".to_string()),
        ("team".to_string(), "orders".to_string()),
    ]);
    let mut a = analysis(Category::Hang, builtin());
    let proposed = propose(&mut a, &reg, &labels, &[]);
    assert_eq!(proposed, vec!["restart-then-scale", "clear-cache"]);
    let n = names(&a);
    assert!(n[0].contains("restart-then-scale"), "{n:?}");
    assert!(n[1].starts_with("rollout-restart"), "{n:?}");
    assert!(n[2].contains("clear-cache"), "{n:?}");
    assert!(n[3].starts_with("escalate"), "{n:?}");
    assert!(
        a.plans[0]
            .rationale
            .contains("registered runbook restart-then-scale"),
        "{}",
        a.plans[0].rationale
    );
    assert!(a.plans[2].confidence < a.plans[0].confidence);
    // Another workload: only the category's runbook, and only where its targets allow.
    let mut a = analysis(Category::Hang, builtin());
    let other = BTreeMap::from([("team".to_string(), "orders".to_string())]);
    assert_eq!(propose(&mut a, &reg, &other, &[]), vec!["clear-cache"]);
    let mut a = analysis(Category::Hang, builtin());
    assert!(propose(&mut a, &reg, &BTreeMap::new(), &[]).is_empty());
    assert_eq!(a.plans, builtin(), "nothing fits: nothing changes");
    // Another category, or already run: not proposed.
    let mut a = analysis(Category::MemoryLimit, builtin());
    assert!(propose(&mut a, &reg, &labels, &[]).is_empty());
    let mut a = analysis(Category::Hang, builtin());
    let again = propose(&mut a, &reg, &labels, &["restart-then-scale".to_string()]);
    assert_eq!(again, vec!["clear-cache"]);
    // No runbooks: nothing changes.
    let mut a = analysis(Category::Hang, builtin());
    assert!(propose(&mut a, &RunbookRegistry::default(), &labels, &[]).is_empty());
    assert_eq!(a.plans, builtin());
    assert!(a.notes.is_empty());
}
