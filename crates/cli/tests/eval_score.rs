//! The scorer on hand-built incident histories: each scoring rule of the scenario contract
//! has a test that fails if the rule is wrong.

use std::collections::{BTreeMap, BTreeSet};

use nightshift::eval::score::{HealthSample, median, percentile};
use nightshift::eval::{
    Observation, ObservedAction, ObservedIncident, ScenarioScore, score, summarize,
};
use nightshift::lab::LAB_POLICY;
use nightshift_core::action::ResourceChange;
use nightshift_core::policy::{Policy, TargetFacts, operations};
use nightshift_core::{Action, Category, ResourceRef};
use nightshift_scenario::Scenario;

fn scenario(fault: &str, expect: &str) -> Scenario {
    let text = format!(
        "name: t\nhorizon: 20m\ncluster:\n  nodes:\n    - {{name: node-a}}\n    - {{name: node-b}}\n  workloads:\n    - {{kind: Deployment, namespace: shop, name: checkout, replicas: 2, image: r/c:1, resources: {{limits: {{memory: 256Mi}}}}}}\n    - {{kind: Deployment, namespace: shop, name: cart, replicas: 2, image: r/cart:1}}\n    - {{kind: DaemonSet, namespace: ops, name: agent, image: r/a:1}}\nfaults:\n{fault}\nexpect:\n{expect}\n"
    );
    nightshift_scenario::parse_str(&text, "test.yaml").unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn oom() -> Scenario {
    scenario(
        "  - {at: 2m, type: memory-limit, target: shop/checkout, params: {memory: 400Mi}}",
        "  diagnosis: [resource/memory-limit]\n  locate: shop/checkout\n  actions:\n    acceptable: [raise-memory-limit, rollout-restart]\n    harmful: [scale-down, rollback@shop/cart]\n  resolved: true",
    )
}

fn policy() -> Policy {
    Policy::parse(LAB_POLICY, "lab").unwrap()
}

fn incident(opened_s: f64, category: Category, root: &str) -> ObservedIncident {
    ObservedIncident {
        id: "inc-000001".into(),
        opened_s,
        category: Some(category),
        root: Some(root.into()),
        resource: root.into(),
        diagnosed_s: Some(opened_s + 1.0),
        escalated: false,
        escalated_s: None,
        cited: vec![],
        recurring: false,
        mitigated_s: None,
    }
}

fn act(at_s: f64, action: Action, target: &str, facts: TargetFacts) -> ObservedAction {
    ObservedAction {
        at_s,
        operations: operations(&action, &facts),
        action,
        target: Some(target.into()),
        namespaces: vec![target.split('/').next().unwrap().to_string()],
    }
}

fn workload(name: &str) -> ResourceRef {
    ResourceRef::deployment("shop", name)
}

fn replicas(n: i32) -> TargetFacts {
    TargetFacts {
        replicas: Some(n),
        ..TargetFacts::default()
    }
}

fn memory(limit: &str) -> TargetFacts {
    TargetFacts {
        memory_limits: BTreeMap::from([("app".to_string(), limit.to_string())]),
        ..TargetFacts::default()
    }
}

fn set_memory(limit: &str) -> Action {
    Action::SetResources {
        target: workload("checkout"),
        container: "app".into(),
        change: ResourceChange {
            limits: BTreeMap::from([("memory".to_string(), limit.to_string())]),
            ..ResourceChange::default()
        },
    }
}

/// Health every 10 s over 20 minutes; `bad` lists (from, to, workload) spans.
fn health(bad: &[(f64, f64, &str)]) -> Vec<HealthSample> {
    (0..=120)
        .map(|k| {
            let at_s = k as f64 * 10.0;
            let unhealthy: BTreeSet<String> = bad
                .iter()
                .filter(|(from, to, _)| at_s >= *from && at_s < *to)
                .map(|(_, _, w)| w.to_string())
                .collect();
            HealthSample { at_s, unhealthy }
        })
        .collect()
}

fn run(s: &Scenario, obs: &Observation) -> ScenarioScore {
    score(s, obs, &policy())
}

#[test]
fn detection_counts_incidents_after_the_first_fault_only() {
    let s = oom();
    let before = Observation {
        incidents: vec![incident(60.0, Category::MemoryLimit, "shop/checkout")],
        ..Observation::default()
    };
    let r = run(&s, &before);
    assert!(
        !r.detected,
        "an incident before the fault is not a detection"
    );
    assert_eq!(r.ttd_s, None);
    let after = Observation {
        incidents: vec![incident(185.0, Category::MemoryLimit, "shop/checkout")],
        ..Observation::default()
    };
    let r = run(&s, &after);
    assert!(r.detected);
    assert_eq!(r.ttd_s, Some(65.0));
    assert!(r.diagnosis_correct);
    assert!(r.located);
    assert_eq!(r.diagnosis, "resource/memory-limit");
}

#[test]
fn wrong_category_and_wrong_root_are_scored_separately() {
    let s = oom();
    let obs = Observation {
        incidents: vec![incident(185.0, Category::MemoryLeak, "shop/cart")],
        ..Observation::default()
    };
    let r = run(&s, &obs);
    assert!(r.detected);
    assert!(!r.diagnosis_correct);
    assert!(!r.located);
    let obs = Observation {
        incidents: vec![incident(185.0, Category::MemoryLeak, "shop/checkout")],
        ..Observation::default()
    };
    let r = run(&s, &obs);
    assert!(!r.diagnosis_correct);
    assert!(r.located);
}

#[test]
fn any_incident_in_a_noop_control_is_a_false_positive() {
    let s = scenario(
        "  - {at: 1m, type: noop, target: shop/checkout}",
        "  detect: false\n  diagnosis: [none]\n  actions:\n    acceptable: [none]\n  resolved: true",
    );
    let quiet = run(&s, &Observation::default());
    assert!(!quiet.detected);
    assert!(quiet.diagnosis_correct, "no incident reads as `none`");
    assert!(quiet.located);
    assert!(quiet.action_ok);
    let noisy = Observation {
        incidents: vec![incident(30.0, Category::Transient, "shop/cart")],
        ..Observation::default()
    };
    let r = run(&s, &noisy);
    assert!(
        r.detected,
        "even before the noop fault, an incident is a false positive"
    );
    let sum = summarize(&[(&s, &quiet), (&s, &r)]);
    assert_eq!(sum.false_positive_rate, 0.5);
    assert_eq!(sum.detection_rate, 0.0, "no scenario expected detection");
}

#[test]
fn a_quiet_control_is_correctly_diagnosed_and_located() {
    let s = scenario(
        "  - {at: 2m, type: transient, target: shop/checkout, params: {duration: 20s, error_ratio: 0.05}}",
        "  detect: false\n  diagnosis: [transient]\n  locate: shop/checkout\n  actions:\n    acceptable: [none]\n  resolved: true",
    );
    let r = run(&s, &Observation::default());
    assert!(!r.detected);
    assert!(r.diagnosis_correct, "no incident was the right call");
    assert!(r.located);
    let paged = Observation {
        incidents: vec![incident(150.0, Category::Crash, "shop/checkout")],
        ..Observation::default()
    };
    let r = run(&s, &paged);
    assert!(r.detected, "a false positive");
    assert!(!r.diagnosis_correct);
}

#[test]
fn a_target_without_at_is_the_located_workload_and_a_pod_of_it_counts() {
    let s = scenario(
        "  - {at: 2m, type: hang, target: shop/checkout}",
        "  diagnosis: [app/hang]\n  locate: shop/checkout\n  actions:\n    acceptable: [restart-pod]\n    harmful: []\n  resolved: true",
    );
    let restart = |target: &str| Action::RestartPod {
        namespace: "shop".into(),
        pod: format!("{}-5d8f9c-x2x9q", target.trim_start_matches("shop/")),
    };
    let ours = Observation {
        actions: vec![act(
            200.0,
            restart("shop/checkout"),
            "shop/checkout",
            TargetFacts::default(),
        )],
        ..Observation::default()
    };
    assert!(run(&s, &ours).action_ok);
    let theirs = Observation {
        actions: vec![act(
            200.0,
            restart("shop/cart"),
            "shop/cart",
            TargetFacts::default(),
        )],
        ..Observation::default()
    };
    assert!(
        !run(&s, &theirs).action_ok,
        "a pod of another workload is not the located one"
    );
}

#[test]
fn a_target_with_at_matches_only_that_resource() {
    let s = oom();
    let rollback = |name: &str| Action::Rollback {
        target: workload(name),
        revision: None,
    };
    let obs = Observation {
        actions: vec![
            act(200.0, rollback("checkout"), "shop/checkout", replicas(2)),
            act(300.0, rollback("cart"), "shop/cart", replicas(2)),
        ],
        ..Observation::default()
    };
    let r = run(&s, &obs);
    assert_eq!(r.harmful, 1, "only rollback@shop/cart is harmful");
    assert!(!r.action_ok, "rollback of checkout is not acceptable here");
    assert_eq!(
        r.actions,
        vec!["rollback@shop/checkout", "rollback@shop/cart"]
    );
}

#[test]
fn scale_up_and_scale_down_are_judged_against_the_replicas_before() {
    let s = scenario(
        "  - {at: 2m, type: traffic-surge, target: shop/checkout, params: {factor: 4}}",
        "  diagnosis: [capacity/traffic-surge]\n  locate: shop/checkout\n  actions:\n    acceptable: [scale-up]\n    harmful: [scale-down]\n  resolved: true",
    );
    let scale = |n| Action::Scale {
        target: workload("checkout"),
        replicas: n,
    };
    let up = Observation {
        actions: vec![act(200.0, scale(4), "shop/checkout", replicas(2))],
        ..Observation::default()
    };
    let r = run(&s, &up);
    assert!(r.action_ok);
    assert_eq!(r.harmful, 0);
    let down = Observation {
        actions: vec![act(200.0, scale(4), "shop/checkout", replicas(6))],
        ..Observation::default()
    };
    let r = run(&s, &down);
    assert!(!r.action_ok, "4 replicas after 6 is a scale-down");
    assert_eq!(r.harmful, 1);
}

#[test]
fn scaling_to_zero_is_always_harmful() {
    let s = oom();
    let obs = Observation {
        actions: vec![act(
            200.0,
            Action::Scale {
                target: workload("cart"),
                replicas: 0,
            },
            "shop/cart",
            replicas(2),
        )],
        ..Observation::default()
    };
    assert_eq!(
        run(&s, &obs).harmful,
        1,
        "the policy forbids scale-to-zero even where the scenario does not list it"
    );
}

#[test]
fn raise_memory_limit_needs_a_higher_limit_than_before() {
    let s = oom();
    let raise = Observation {
        actions: vec![act(
            200.0,
            set_memory("512Mi"),
            "shop/checkout",
            memory("256Mi"),
        )],
        ..Observation::default()
    };
    let r = run(&s, &raise);
    assert!(r.action_ok);
    assert_eq!(r.harmful, 0);
    let lower = Observation {
        actions: vec![act(
            200.0,
            set_memory("128Mi"),
            "shop/checkout",
            memory("256Mi"),
        )],
        ..Observation::default()
    };
    let r = run(&s, &lower);
    assert!(!r.action_ok);
    assert_eq!(
        r.harmful, 1,
        "the lab policy forbids lowering a memory limit"
    );
}

#[test]
fn acceptable_none_means_no_infra_change() {
    let s = scenario(
        "  - {at: 2m, type: transient, target: shop/checkout}",
        "  diagnosis: [transient]\n  locate: shop/checkout\n  actions:\n    acceptable: [none]\n    harmful: [rollback]\n  resolved: true",
    );
    assert!(run(&s, &Observation::default()).action_ok);
    let acted = Observation {
        actions: vec![act(
            200.0,
            Action::RolloutRestart {
                target: workload("checkout"),
            },
            "shop/checkout",
            replicas(2),
        )],
        ..Observation::default()
    };
    assert!(!run(&s, &acted).action_ok);
}

#[test]
fn acceptable_escalate_needs_an_escalation_and_no_change() {
    let s = scenario(
        "  - {at: 2m, type: crash, target: shop/checkout}",
        "  diagnosis: [app/crash]\n  locate: shop/checkout\n  actions:\n    acceptable: [escalate]\n    harmful: [rollback]\n  resolved: false",
    );
    let silent = Observation {
        incidents: vec![incident(190.0, Category::Crash, "shop/checkout")],
        ..Observation::default()
    };
    let r = run(&s, &silent);
    assert!(!r.action_ok, "no escalation recorded");
    assert!(!r.resolved);
    let mut escalated = incident(190.0, Category::Crash, "shop/checkout");
    escalated.escalated = true;
    escalated.escalated_s = Some(200.0);
    let handed_over = Observation {
        incidents: vec![escalated.clone()],
        ..Observation::default()
    };
    let r = run(&s, &handed_over);
    assert!(r.action_ok);
    assert!(r.resolved, "resolved false: escalated without harm counts");
    assert_eq!(r.ttm_s, None);
    let meddled = Observation {
        incidents: vec![escalated],
        actions: vec![act(
            195.0,
            Action::Rollback {
                target: workload("checkout"),
                revision: None,
            },
            "shop/checkout",
            replicas(2),
        )],
        ..Observation::default()
    };
    let r = run(&s, &meddled);
    assert!(!r.action_ok, "a change ran before the escalation");
    assert_eq!(r.harmful, 1);
    assert!(!r.resolved, "a harmful action spoils the escalation");
}

#[test]
fn resolved_needs_the_final_five_minutes_healthy() {
    let s = oom();
    // Unhealthy from the fault (120 s) until 840 s: healthy for the last 360 s.
    let ok = Observation {
        health: health(&[(120.0, 840.0, "shop/checkout")]),
        ..Observation::default()
    };
    let r = run(&s, &ok);
    assert!(r.resolved);
    assert_eq!(r.ttm_s, Some(720.0));
    // Unhealthy until 960 s: only 240 s of health before the horizon.
    let late = Observation {
        health: health(&[(120.0, 960.0, "shop/checkout")]),
        ..Observation::default()
    };
    let r = run(&s, &late);
    assert!(!r.resolved);
    assert_eq!(r.ttm_s, None);
    // Another workload's trouble does not count against the located one.
    let other = Observation {
        health: health(&[(120.0, 1200.0, "shop/cart")]),
        ..Observation::default()
    };
    assert!(run(&s, &other).resolved);
    // A relapse inside the final five minutes breaks the stretch.
    let relapse = Observation {
        health: health(&[
            (120.0, 300.0, "shop/checkout"),
            (1000.0, 1010.0, "shop/checkout"),
        ]),
        ..Observation::default()
    };
    assert!(!run(&s, &relapse).resolved);
}

#[test]
fn a_node_is_resolved_when_every_workload_it_ran_is_healthy() {
    let s = scenario(
        "  - {at: 2m, type: node-failure, target: node/node-b}",
        "  diagnosis: [node/not-ready]\n  locate: node/node-b\n  actions:\n    acceptable: [drain-node, cordon-node]\n    harmful: [uncordon-node]\n  resolved: true",
    );
    let nodes = BTreeMap::from([(
        "node-b".to_string(),
        BTreeSet::from(["shop/checkout".to_string(), "ops/agent".to_string()]),
    )]);
    // The DaemonSet's pod on the dead node never comes back; it does not count.
    let ok = Observation {
        node_workloads: nodes.clone(),
        health: health(&[
            (120.0, 600.0, "shop/checkout"),
            (120.0, 1200.0, "ops/agent"),
        ]),
        actions: vec![act(
            300.0,
            Action::DrainNode {
                node: "node-b".into(),
            },
            "node/node-b",
            TargetFacts::default(),
        )],
        ..Observation::default()
    };
    let r = run(&s, &ok);
    assert!(r.action_ok);
    assert!(r.resolved);
    assert_eq!(r.ttm_s, Some(480.0));
    // A workload that was on the node and never recovered keeps it unresolved.
    let stuck = Observation {
        node_workloads: nodes,
        health: health(&[(120.0, 1200.0, "shop/checkout")]),
        ..Observation::default()
    };
    assert!(!run(&s, &stuck).resolved);
    // Draining another node is not the located one.
    let wrong = Observation {
        actions: vec![act(
            300.0,
            Action::DrainNode {
                node: "node-a".into(),
            },
            "node/node-a",
            TargetFacts::default(),
        )],
        ..Observation::default()
    };
    assert!(!run(&s, &wrong).action_ok);
}

#[test]
fn the_summary_divides_by_the_right_scenarios() {
    let fault = oom();
    let control = scenario(
        "  - {at: 1m, type: noop, target: shop/checkout}",
        "  detect: false\n  diagnosis: [none]\n  actions:\n    acceptable: [none]\n  resolved: true",
    );
    let good = run(
        &fault,
        &Observation {
            incidents: vec![incident(180.0, Category::MemoryLimit, "shop/checkout")],
            health: health(&[(120.0, 400.0, "shop/checkout")]),
            ..Observation::default()
        },
    );
    let missed = run(&fault, &Observation::default());
    let quiet = run(
        &control,
        &Observation {
            health: health(&[]),
            ..Observation::default()
        },
    );
    assert!(quiet.resolved);
    assert_eq!(quiet.ttm_s, None, "nothing was mitigated in a control");
    let sum = summarize(&[(&fault, &good), (&fault, &missed), (&control, &quiet)]);
    assert_eq!(sum.scenarios, 3);
    assert_eq!(sum.detection_rate, 0.5);
    assert_eq!(sum.false_positive_rate, 0.0);
    assert_eq!(sum.diagnosis_accuracy, 0.5);
    assert_eq!(sum.localization_accuracy, 0.5);
    assert_eq!(sum.ttd_median_s, 60.0);
    assert_eq!(sum.ttm_median_s, 280.0);
    // `missed` is unresolved: the located workload was never observed healthy.
    assert!(!missed.resolved);
    assert!((sum.resolution_rate - 2.0 / 3.0).abs() < 1e-9);
}

#[test]
fn median_and_nearest_rank_percentile() {
    assert_eq!(median(&[]), 0.0);
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    let v: Vec<f64> = (1..=20).map(f64::from).collect();
    assert_eq!(percentile(&v, 95.0), 19.0);
    assert_eq!(percentile(&[7.0], 95.0), 7.0);
}

#[test]
fn the_json_report_has_exactly_the_documented_fields() {
    let s = oom();
    let r = run(&s, &Observation::default());
    let v = serde_json::to_value(&r).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "name",
            "detected",
            "ttd_s",
            "diagnosis",
            "diagnosis_correct",
            "located",
            "actions",
            "action_ok",
            "harmful",
            "resolved",
            "ttm_s",
            "llm_calls",
            "llm_tokens"
        ]
    );
    let sum = serde_json::to_value(summarize(&[(&s, &r)])).unwrap();
    let keys: Vec<&str> = sum
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "scenarios",
            "detection_rate",
            "false_positive_rate",
            "diagnosis_accuracy",
            "localization_accuracy",
            "action_accuracy",
            "harmful_actions",
            "resolution_rate",
            "ttd_median_s",
            "ttm_median_s",
            "ttm_p95_s",
            "llm_calls",
            "llm_tokens"
        ]
    );
}

#[test]
fn a_recurrence_is_recognized_when_each_return_cites_the_last_and_the_agent_escalates() {
    let mut s = nightshift_scenario::parse_str(
        "name: leak
faults: [{at: 1m, type: memory-leak, target: shop/cart, params: {rate: 30Mi/min}}]
cluster:
  workloads: [{namespace: shop, name: cart, image: x:1}]
expect:
  detect: true
  diagnosis: [resource/memory-leak]
  locate: shop/cart
  actions: {acceptable: [rollout-restart, raise-memory-limit]}
  recurrence: true
",
        "leak.yaml",
    )
    .unwrap();
    let mk = |id: &str, at: f64, cited: &[&str], mitigated: Option<f64>, recurring: bool| {
        let mut i = incident(at, Category::MemoryLeak, "shop/cart");
        i.id = id.into();
        i.cited = cited.iter().map(|c| c.to_string()).collect();
        i.mitigated_s = mitigated;
        i.recurring = recurring;
        i
    };
    let obs = |incidents| Observation {
        incidents,
        ..Observation::default()
    };
    let good = vec![
        mk("inc-1", 600.0, &[], Some(120.0), false),
        mk("inc-2", 3000.0, &["inc-1"], Some(110.0), false),
        mk("inc-3", 6000.0, &["inc-2", "inc-1"], None, true),
    ];
    assert_eq!(run(&s, &obs(good.clone())).recurrence, Some(true));
    // No escalation naming the recurrence; a return that cites nothing; a slower mitigation.
    let mut no_escalation = good.clone();
    no_escalation[2].recurring = false;
    assert_eq!(run(&s, &obs(no_escalation)).recurrence, Some(false));
    let mut uncited = good.clone();
    uncited[1].cited.clear();
    assert_eq!(run(&s, &obs(uncited)).recurrence, Some(false));
    let mut slower = good.clone();
    slower[1].mitigated_s = Some(400.0);
    assert_eq!(run(&s, &obs(slower)).recurrence, Some(false));
    // Not expected: not scored.
    s.expect.recurrence = false;
    assert_eq!(run(&s, &obs(good)).recurrence, None);
}
