//! Reading policy files: the example parses into what it says, and every kind of mistake is
//! reported with the file, the key and the line.

use std::time::Duration;

use chrono::Weekday;
use nightshift_core::policy::{
    Criticality, FreezeSchedule, Mode, Operation, Policy, PolicyError, TimeOfDay, UtcOffset,
};
use nightshift_core::{ActionName, Risk};

const EXAMPLE: &str = include_str!("../../../deploy/policy.example.yaml");

fn error(text: &str) -> String {
    match Policy::parse(text, "policy.yaml") {
        Ok(policy) => panic!("expected an error, got {policy:#?}"),
        Err(e) => e.to_string(),
    }
}

/// The error names the file, the key and the line.
fn assert_error(text: &str, key: &str, message: &str, line: u64) {
    let err = Policy::parse(text, "policy.yaml").expect_err("expected an error");
    let shown = err.to_string();
    match &err {
        PolicyError::Invalid {
            origin,
            key: k,
            line: l,
            message: m,
            ..
        } => {
            assert_eq!(origin, "policy.yaml", "{shown}");
            assert_eq!(k, key, "{shown}");
            assert!(m.contains(message), "{shown}");
            assert_eq!(*l, Some(line), "{shown}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(
        shown.starts_with(&format!("policy.yaml: {key}: ")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(" at line {line} column ")),
        "{shown}"
    );
}

#[test]
fn the_example_file_parses_into_what_it_says() {
    let p = Policy::parse(EXAMPLE, "deploy/policy.example.yaml").unwrap();
    assert_eq!(p.origin, "deploy/policy.example.yaml");
    assert_eq!(p.mode, Mode::Observe);
    assert_eq!(p.namespace_modes["shop"], Mode::Auto);
    assert_eq!(p.namespace_modes["payments"], Mode::Approve);
    assert_eq!(p.namespace_modes["kube-system"], Mode::Observe);
    assert_eq!(p.min_confidence, 0.7);
    assert_eq!(p.approval_timeout, Duration::from_secs(15 * 60));
    assert_eq!(p.criticality.namespaces["payments"], Criticality::High);
    assert_eq!(p.criticality.labels.len(), 2);
    assert_eq!(p.criticality.labels[0].0.to_string(), "tier=critical");
    assert_eq!(p.criticality.labels[1].0.value, None);
    let scale = &p.actions[&ActionName::Scale];
    assert_eq!(scale.risk, Risk::Low);
    assert_eq!(scale.max_replicas, Some(20));
    assert_eq!(scale.max_step_factor, Some(2.0));
    assert_eq!(p.actions[&ActionName::DrainNode].risk, Risk::High);
    assert_eq!(
        p.actions[&ActionName::SetResources].max_memory_factor,
        Some(2.0)
    );
    assert_eq!(p.forbidden.len(), 4);
    assert_eq!(p.forbidden[0].operation, Operation::ScaleToZero);
    assert_eq!(p.forbidden[1].operation, Operation::LowerMemoryLimit);
    assert_eq!(
        p.forbidden[2].operation,
        Operation::Action(ActionName::DrainNode)
    );
    assert_eq!(p.forbidden[2].namespaces, vec!["kube-system".to_string()]);
    assert_eq!(p.exclude_label, "nightshift.io/exclude");
    assert_eq!(p.budgets.actions_per_target_per_hour, 3);
    assert_eq!(p.budgets.concurrent_actions, 2);
    assert_eq!(p.budgets.cooldown_after_failure, Duration::from_secs(600));
    assert_eq!(p.blast_radius.max_replica_share, 0.5);
    assert_eq!(p.freeze.len(), 2);
    assert_eq!(p.freeze[0].name, "black-friday");
    assert_eq!(
        p.freeze[0].allow,
        vec![Operation::Action(ActionName::RestartPod)]
    );
    assert!(matches!(p.freeze[0].schedule, FreezeSchedule::Fixed { .. }));
    match &p.freeze[1].schedule {
        FreezeSchedule::Weekly {
            days,
            from,
            to,
            timezone,
        } => {
            assert_eq!(days, &vec![Weekday::Fri]);
            assert_eq!(*from, TimeOfDay { minutes: 16 * 60 });
            assert_eq!(*to, TimeOfDay { minutes: 24 * 60 });
            assert_eq!(*timezone, UtcOffset { seconds: 3600 });
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_default_is_observe_with_the_documented_values() {
    let p = Policy::default();
    assert_eq!(p.mode, Mode::Observe);
    assert_eq!(p.min_confidence, 0.7);
    assert_eq!(p.approval_timeout, Duration::from_secs(900));
    assert_eq!(p.exclude_label, "nightshift.io/exclude");
    assert_eq!(p.forbidden.len(), 1);
    assert_eq!(p.forbidden[0].operation, Operation::ScaleToZero);
    let risks: Vec<(ActionName, Risk)> = p.actions.iter().map(|(n, r)| (*n, r.risk)).collect();
    assert_eq!(
        risks,
        vec![
            (ActionName::RestartPod, Risk::Low),
            (ActionName::RolloutRestart, Risk::Low),
            (ActionName::Scale, Risk::Low),
            (ActionName::Rollback, Risk::Medium),
            (ActionName::SetResources, Risk::Medium),
            (ActionName::CordonNode, Risk::Medium),
            (ActionName::UncordonNode, Risk::Medium),
            (ActionName::DrainNode, Risk::High),
            (ActionName::RunRunbook, Risk::High),
        ]
    );
    // An empty file, or one with only comments, is the default policy.
    let mut empty = Policy::parse("# nothing yet\n", "policy.yaml").unwrap();
    empty.origin = p.origin.clone();
    assert_eq!(empty, p);
}

#[test]
fn a_partial_action_entry_keeps_the_other_defaults() {
    let p = Policy::parse("actions:\n  scale: {risk: medium}\n", "policy.yaml").unwrap();
    let scale = &p.actions[&ActionName::Scale];
    assert_eq!(scale.risk, Risk::Medium);
    assert_eq!(scale.max_replicas, Some(20));
    assert_eq!(p.actions[&ActionName::RestartPod].risk, Risk::Low);
}

#[test]
fn bad_mode_names_file_key_line_and_column() {
    let text = "mode: observe\nnamespaces:\n  shop:\n    mode: autp\n";
    assert_eq!(
        error(text),
        "policy.yaml: namespaces.shop.mode: unknown mode \"autp\"; expected observe, dry-run, \
         approve or auto at line 4 column 11"
    );
    assert_error("mode: yolo\n", "mode", "unknown mode \"yolo\"", 1);
}

#[test]
fn unknown_keys_are_errors() {
    assert_error(
        "mode: auto\nmin_confidance: 0.8\n",
        "min_confidance",
        "unknown key \"min_confidance\"; expected one of: mode, namespaces, min_confidence",
        2,
    );
    assert_error(
        "namespaces:\n  shop: {mode: auto, auto: true}\n",
        "namespaces.shop.auto",
        "unknown key \"auto\"; expected mode",
        2,
    );
    assert_error(
        "budgets:\n  actions_per_hour: 3\n",
        "budgets.actions_per_hour",
        "unknown key",
        2,
    );
    assert_error(
        "actions:\n  rollback: {risk: low, max_replicas: 3}\n",
        "actions.rollback.max_replicas",
        "unknown key \"max_replicas\"; expected risk",
        2,
    );
    assert_error(
        "freeze:\n  - name: x\n    start: \"2026-01-01T00:00:00Z\"\n    end: \"2026-01-02T00:00:00Z\"\n    until: \"2026-01-03T00:00:00Z\"\n",
        "freeze[0].until",
        "unknown key",
        5,
    );
}

#[test]
fn bad_types_and_values_are_errors() {
    assert_error(
        "min_confidence: high\n",
        "min_confidence",
        "expected a number from 0 to 1, found \"high\"",
        1,
    );
    assert_error("min_confidence: 1.5\n", "min_confidence", "out of range", 1);
    assert_error(
        "budgets:\n  concurrent_actions: -1\n",
        "budgets.concurrent_actions",
        "out of range",
        2,
    );
    assert_error(
        "budgets:\n  concurrent_actions: two\n",
        "budgets.concurrent_actions",
        "expected a whole number",
        2,
    );
    assert_error(
        "namespaces: [shop]\n",
        "namespaces",
        "expected a mapping, found a list",
        1,
    );
    assert_error(
        "forbidden: scale-to-zero\n",
        "forbidden",
        "expected a list",
        1,
    );
    assert_error(
        "actions:\n  scale: {max_step_factor: 1}\n",
        "actions.scale.max_step_factor",
        "expected a factor above 1",
        2,
    );
    assert_error(
        "actions:\n  drain-node: {risk: extreme}\n",
        "actions.drain-node.risk",
        "unknown risk \"extreme\"; expected low, medium or high",
        2,
    );
    assert_error(
        "criticality:\n  namespaces: {Payments: high}\n",
        "criticality.namespaces.Payments",
        "invalid namespace name",
        2,
    );
    assert_error(
        "criticality:\n  labels: {\"tier=critical\": severe}\n",
        "criticality.labels[\"tier=critical\"]",
        "unknown criticality",
        2,
    );
    assert_error(
        "exclude_label: \"has space\"\n",
        "exclude_label",
        "invalid label key",
        1,
    );
}

#[test]
fn bad_durations_are_errors() {
    assert_error(
        "approval_timeout: 15 minutes\n",
        "approval_timeout",
        "invalid duration `15 minutes`",
        1,
    );
    assert_error(
        "approval_timeout: 15\n",
        "approval_timeout",
        "expected a duration with a unit",
        1,
    );
    assert_error(
        "budgets:\n  cooldown_after_failure: 10d\n",
        "budgets.cooldown_after_failure",
        "unknown unit `d`",
        2,
    );
    assert_error(
        "approval_timeout: 0s\n",
        "approval_timeout",
        "longer than zero",
        1,
    );
}

#[test]
fn unknown_action_names_are_errors() {
    assert_error(
        "actions:\n  restart: {risk: low}\n",
        "actions.restart",
        "unknown action \"restart\"; expected one of: restart-pod, rollout-restart",
        2,
    );
    assert_error(
        "actions:\n  escalate: {risk: low}\n",
        "actions.escalate",
        "changes nothing",
        2,
    );
    assert_error(
        "forbidden:\n  - scale-to-nothing\n",
        "forbidden[0]",
        "unknown action \"scale-to-nothing\"",
        2,
    );
    assert_error(
        "forbidden:\n  - action: drain\n    namespaces: [kube-system]\n",
        "forbidden[0].action",
        "unknown action \"drain\"",
        2,
    );
    assert_error(
        "forbidden:\n  - namespaces: [kube-system]\n",
        "forbidden[0]",
        "missing key \"action\"",
        2,
    );
    assert_error("forbidden: [none]\n", "forbidden[0]", "changes nothing", 1);
}

#[test]
fn bad_freeze_windows_are_errors() {
    assert_error(
        "freeze:\n  - {name: a, days: [fri], from: \"25:00\", to: \"23:00\"}\n",
        "freeze[0].from",
        "invalid time \"25:00\"",
        2,
    );
    assert_error(
        "freeze:\n  - {name: a, days: [friyay], from: \"16:00\", to: \"23:00\"}\n",
        "freeze[0].days[0]",
        "unknown day \"friyay\"",
        2,
    );
    assert_error(
        "freeze:\n  - {name: a, days: [fri], from: \"16:00\", to: \"23:00\", timezone: Europe/Paris}\n",
        "freeze[0].timezone",
        "named zones are not supported",
        2,
    );
    assert_error(
        "freeze:\n  - name: a\n    start: \"2026-11-30T00:00:00Z\"\n    end: \"2026-11-27T00:00:00Z\"\n",
        "freeze[0].start",
        "ends before it starts",
        3,
    );
    assert_error(
        "freeze:\n  - name: a\n    start: \"2026-11-27\"\n    end: \"2026-11-30T00:00:00Z\"\n",
        "freeze[0].start",
        "expected RFC 3339",
        3,
    );
    assert_error(
        "freeze:\n  - name: a\n    start: \"2026-11-27T00:00:00Z\"\n    days: [fri]\n",
        "freeze[0].days",
        "either fixed (start, end) or weekly",
        4,
    );
    assert_error(
        "freeze:\n  - start: \"2026-11-27T00:00:00Z\"\n    end: \"2026-11-30T00:00:00Z\"\n",
        "freeze[0]",
        "missing key \"name\"",
        2,
    );
    assert_error(
        "freeze:\n  - {name: a, days: [fri], to: \"23:00\"}\n",
        "freeze[0]",
        "missing key \"from\"",
        2,
    );
    assert_error(
        "freeze:\n  - {name: a, days: [fri], from: \"16:00\", to: \"23:00\"}\n  - {name: a, days: [sat], from: \"16:00\", to: \"23:00\"}\n",
        "freeze[1].name",
        "already named \"a\"",
        3,
    );
}

#[test]
fn repeated_keys_are_errors() {
    assert_error(
        "mode: auto\nmode: observe\n",
        "mode",
        "the key \"mode\" is written twice",
        2,
    );
}

#[test]
fn yaml_syntax_errors_have_a_line() {
    let err = Policy::parse(
        "mode: auto\nnamespaces:\n  shop: {mode: auto\n",
        "policy.yaml",
    )
    .expect_err("broken YAML");
    let shown = err.to_string();
    assert!(shown.starts_with("policy.yaml: not valid YAML"), "{shown}");
    assert!(shown.contains(" at line "), "{shown}");
    assert_error_root("- observe\n- auto\n", "a policy is a mapping");
}

fn assert_error_root(text: &str, message: &str) {
    let shown = error(text);
    assert!(shown.starts_with("policy.yaml: "), "{shown}");
    assert!(shown.contains(message), "{shown}");
    assert!(shown.contains(" at line 1 column 1"), "{shown}");
}

#[test]
fn load_names_the_file() {
    let dir = std::env::temp_dir().join(format!("nightshift-policy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.yaml");
    std::fs::write(&path, "mode: auto\nnamespaces:\n  shop: {mode: autp}\n").unwrap();
    let err = Policy::load(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}: namespaces.shop.mode: unknown mode",
            path.display()
        )),
        "{err}"
    );
    assert!(err.ends_with("at line 3 column 16"), "{err}");

    let missing = dir.join("missing.yaml");
    let err = Policy::load(&missing).unwrap_err();
    assert!(matches!(err, PolicyError::Read { .. }));
    assert!(err.to_string().contains("missing.yaml"), "{err}");

    let good = dir.join("good.yaml");
    std::fs::write(&good, EXAMPLE).unwrap();
    assert_eq!(
        Policy::load(&good).unwrap().namespace_modes["shop"],
        Mode::Auto
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_report_summarises_the_policy() {
    let p = Policy::parse(EXAMPLE, "policy.yaml").unwrap();
    let report = p.check_report();
    for needle in [
        "policy policy.yaml: valid",
        "mode: observe",
        "namespace shop: auto",
        "min_confidence: 0.7",
        "approval_timeout: 15m",
        "scale            risk low, at most 20 replicas, steps of at most 2x",
        "drain-node in namespaces kube-system",
        "nightshift.io/exclude=true",
        "namespace payments: high",
        "label tier=critical: high",
        "3 actions per target per hour, 2 at once, 10m cooldown after a failure",
        "black-friday: 2026-11-27T00:00:00Z to 2026-11-30T00:00:00Z (namespaces shop, payments); still allowed: restart-pod",
        "friday-evening: every fri 16:00 to 24:00 +01:00",
        "warnings: none",
    ] {
        assert!(report.contains(needle), "missing {needle:?} in\n{report}");
    }
    let risky = Policy::parse("mode: auto\nmin_confidence: 0.3\n", "risky.yaml").unwrap();
    let report = risky.check_report();
    assert!(
        report.contains("namespace kube-system runs in auto mode"),
        "{report}"
    );
    assert!(report.contains("min_confidence 0.3"), "{report}");
    assert!(!report.contains("(always, built in)"), "{report}");
}

#[test]
fn hostile_yaml_is_refused_before_it_costs_a_stack_or_a_second() {
    // 63 levels of nesting: past what a policy needs, refused rather than recursed into.
    let mut deep = String::from("x");
    for _ in 0..63 {
        deep = format!("{{a: {deep}}}");
    }
    let e = Policy::parse(&format!("mode: auto\nnamespaces: {deep}\n"), "deep.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("deep.yaml"), "{e}");
    // Ten levels of ten aliases each (ten billion values if expanded): refused.
    let mut laughs = String::from("mode: auto\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = format!("*l{}", i - 1);
        laughs.push_str(&format!(
            "l{i}: &l{i} [{}]\n",
            [prev.as_str(); 10].join(", ")
        ));
    }
    laughs.push_str("forbidden: *l9\n");
    let e = Policy::parse(&laughs, "laughs.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("laughs.yaml"), "{e}");
}

#[test]
fn learning_and_promotion_read_into_what_they_say() {
    let p = Policy::parse(
        "mode: observe
learning:
  recurrence: {limit: 4, window: 12h}
promotion:
  apply: auto
  window: 720h
  min_samples: 8
  min_lower_bound: 0.8
  ceiling: approve
  namespaces:
    staging: auto
    payments: observe
",
        "policy.yaml",
    )
    .unwrap();
    assert_eq!(p.learning.recurrence.limit, 4);
    assert_eq!(p.learning.recurrence.window, Duration::from_secs(12 * 3600));
    let pr = &p.promotion;
    assert!(pr.auto);
    assert_eq!(pr.window, Duration::from_secs(720 * 3600));
    assert_eq!((pr.min_samples, pr.min_lower_bound), (8, 0.8));
    assert_eq!(pr.ceiling_for("shop"), Mode::Approve);
    assert_eq!(pr.ceiling_for("staging"), Mode::Auto);
    assert_eq!(pr.ceiling_for("payments"), Mode::Observe);
    // Defaults: recommend only, 3 recurrences in a day.
    let d = Policy::default();
    assert!(!d.promotion.auto);
    assert_eq!(d.learning.recurrence.limit, 3);

    assert_error(
        "promotion:\n  apply: sometimes\n",
        "promotion.apply",
        "unknown value",
        2,
    );
    assert_error(
        "promotion:\n  min_samples: 0\n",
        "promotion.min_samples",
        "at least one",
        2,
    );
    assert_error(
        "promotion:\n  ceiling: yolo\n",
        "promotion.ceiling",
        "unknown mode",
        2,
    );
    assert_error(
        "promotion:\n  namespaces:\n    shop: fast\n",
        "promotion.namespaces.shop",
        "unknown mode",
        3,
    );
    assert_error(
        "learning:\n  recurrence: {window: 0}\n",
        "learning.recurrence.window",
        "longer than zero",
        2,
    );
    assert_error(
        "learning:\n  recurence: {}\n",
        "learning.recurence",
        "unknown key",
        2,
    );
}
