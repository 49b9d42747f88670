//! `humans:` and `expect.recurrence`: what loads, and every mistake named by key and line.

mod common;

use common::*;
use nightshift_scenario::{HumanAction, Target};

/// The cluster with `humans` (a YAML list, indented by two) and a minimal expect; the line of
/// the first entry.
fn with_humans(humans: &str) -> (String, u64) {
    let line = CLUSTER.lines().count() as u64 + 2;
    (
        format!("{CLUSTER}humans:\n{humans}expect:\n  diagnosis: [none]\n"),
        line,
    )
}

#[test]
fn people_load_with_kubectl_managers_by_default() {
    let (text, _) = with_humans(
        "  - {at: 5m, who: alice, action: scale, replicas: 5, target: shop/checkout}\n  \
         - {at: 6m, action: cordon-node, target: node/node-b, field_manager: ops-console}\n",
    );
    let s = load(&text);
    assert_eq!(s.humans.len(), 2);
    assert_eq!(s.humans[0].action, HumanAction::Scale { replicas: 5 });
    assert_eq!(s.humans[0].field_manager, "kubectl-scale");
    assert_eq!(s.humans[0].who, "alice");
    assert_eq!(s.humans[1].target, Target::Node("node-b".into()));
    assert_eq!(s.humans[1].field_manager, "ops-console");
    assert_eq!(s.humans[1].who, "someone");
}

#[test]
fn mistakes_in_people_name_the_key_and_line() {
    let cases = [
        (
            "  - {at: 5m, action: reboot, target: shop/checkout}\n",
            "humans[0].action",
            "unknown action `reboot`",
        ),
        (
            "  - {at: 5m, action: scale, target: shop/checkout}\n",
            "humans[0]",
            "`scale` needs `replicas`",
        ),
        (
            "  - {at: 5m, action: rollback, replicas: 2, target: shop/checkout}\n",
            "humans[0].replicas",
            "`replicas` is for `scale`",
        ),
        (
            "  - {at: 5m, action: cordon-node, target: shop/checkout}\n",
            "humans[0].target",
            "takes a node",
        ),
        (
            "  - {at: 5m, action: rollout-restart, target: shop/cart}\n",
            "humans[0].target",
            "is not a workload",
        ),
        (
            "  - {at: 30m, action: rollout-restart, target: shop/checkout}\n",
            "humans[0].at",
            "not before the horizon",
        ),
        (
            "  - {at: 5m, action: rollout-restart, target: shop/checkout, field_manager: \"\"}\n",
            "humans[0].field_manager",
            "1 to 128 characters",
        ),
    ];
    for (entry, key, what) in cases {
        let (text, line) = with_humans(entry);
        assert_error(&text, key, line, what);
    }
    // An unknown key is refused too, never ignored.
    let (text, _) =
        with_humans("  - {at: 5m, action: rollout-restart, target: shop/checkout, as: bob}\n");
    assert!(error(&text).contains("as"), "{}", error(&text));
}

#[test]
fn a_recurrence_needs_a_located_resource() {
    let text =
        format!("{CLUSTER}expect:\n  diagnosis: [resource/memory-leak]\n  recurrence: true\n");
    let message = error(&text);
    assert!(
        message.starts_with(&format!("{ORIGIN}: expect.recurrence: "))
            && message.contains("needs `locate`"),
        "{message}"
    );
    let text = format!(
        "{CLUSTER}expect:\n  diagnosis: [resource/memory-leak]\n  locate: shop/checkout\n  recurrence: true\n"
    );
    assert!(load(&text).expect.recurrence);
}
