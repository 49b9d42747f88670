//! node/not-ready and node/disk-pressure: the root cause is the node, whatever the incident
//! was opened on.

use nightshift_core::{Action, Category, ResourceRef};

use super::support::*;

const IMAGE: &str = "registry.local/shop/checkout:2.3.1";

fn node_b_down(others: bool) -> Bundle {
    let mut b = Bundle::on(pod("shop", "checkout-6d5f8c7b9-bbbbb"))
        .node(
            "node-b",
            vec![condition("Ready", "Unknown", Some("NodeStatusUnknown"))],
            &["node.kubernetes.io/unreachable:NoExecute"],
            &[
                "shop/checkout-6d5f8c7b9-bbbbb",
                "shop/catalog-59c8d7f6b-bbbbb",
            ],
        )
        .container(
            Ctr::running("shop", "checkout-6d5f8c7b9-bbbbb", "checkout", IMAGE)
                .on_node("node-b")
                .lost(),
        )
        .node_event(
            "node-b",
            "NodeNotReady",
            "Node node-b status is now: NodeNotReady",
            3,
        );
    if others {
        b = b
            .node(
                "node-a",
                vec![condition("Ready", "True", Some("KubeletReady"))],
                &[],
                &[],
            )
            .container(Ctr::running(
                "shop",
                "checkout-6d5f8c7b9-aaaaa",
                "checkout",
                IMAGE,
            ));
    }
    b
}

#[test]
fn node_failure_seen_from_a_pod_roots_at_the_node_and_drains_it() {
    let a = node_b_down(true).analyze();
    assert_eq!(a.diagnosis.category, Category::NodeNotReady, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, ResourceRef::node("node-b"));
    assert_eq!(
        first(&a),
        &Action::DrainNode {
            node: "node-b".into()
        }
    );
    assert!(matches!(a.plans[1].action, Action::CordonNode { .. }));
    between(a.diagnosis.confidence, 0.75, 0.9);
    assert!(
        a.diagnosis.summary.contains("Ready=Unknown"),
        "{}",
        a.diagnosis.summary
    );
}

#[test]
fn node_failure_with_no_other_node_in_sight_cordons_first() {
    let a = node_b_down(false).analyze();
    assert_eq!(a.diagnosis.category, Category::NodeNotReady);
    assert_eq!(a.diagnosis.root_cause, ResourceRef::node("node-b"));
    assert_eq!(
        first(&a),
        &Action::CordonNode {
            node: "node-b".into()
        }
    );
}

#[test]
fn node_alert_alone_is_a_low_confidence_node_guess() {
    let a = Bundle::on(ResourceRef::node("node-c"))
        .signal("KubeNodeNotReady", true, &[("node", "node-c")], 10)
        .analyze();
    assert_eq!(a.diagnosis.category, Category::NodeNotReady);
    assert_eq!(a.diagnosis.root_cause, ResourceRef::node("node-c"));
    assert!(a.diagnosis.confidence < 0.5);
    assert!(matches!(first(&a), Action::Escalate { .. }), "{a:#?}");
}

#[test]
fn disk_pressure_cordons_and_asks_for_a_cleanup() {
    let a = Bundle::on(ResourceRef::node("node-a"))
        .node(
            "node-a",
            vec![
                condition("Ready", "True", Some("KubeletReady")),
                condition("DiskPressure", "True", Some("KubeletHasDiskPressure")),
            ],
            &["node.kubernetes.io/disk-pressure:NoSchedule"],
            &["shop/catalog-59c8d7f6b-aaaaa"],
        )
        .node("node-b", vec![condition("Ready", "True", None)], &[], &[])
        .container(
            Ctr::running("shop", "catalog-59c8d7f6b-aaaaa", "catalog", "registry.local/shop/catalog:3.3.2")
                .evicted("The node was low on resource: ephemeral-storage. Threshold quantity: 10%, available: 4%."),
        )
        .node_event("node-a", "EvictionThresholdMet", "Attempting to reclaim ephemeral-storage", 4)
        .pod_warning(
            "shop",
            "catalog-59c8d7f6b-ccccc",
            "FailedScheduling",
            "0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }, 1 Insufficient memory.",
            2,
            5,
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::NodeDiskPressure, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, ResourceRef::node("node-a"));
    assert_eq!(
        first(&a),
        &Action::CordonNode {
            node: "node-a".into()
        }
    );
    assert!(
        matches!(&a.plans[1].action, Action::Escalate { reason } if reason.contains("disk")),
        "{a:#?}"
    );
    between(a.diagnosis.confidence, 0.75, 0.9);
}

#[test]
fn pods_evicted_from_a_node_under_disk_pressure_count_even_without_the_message() {
    let a = Bundle::on(pod("shop", "catalog-59c8d7f6b-aaaaa"))
        .node(
            "node-a",
            vec![
                condition("Ready", "True", Some("KubeletReady")),
                condition("DiskPressure", "True", Some("KubeletHasDiskPressure")),
            ],
            &["node.kubernetes.io/disk-pressure:NoSchedule"],
            &[],
        )
        .container(
            Ctr::running(
                "shop",
                "catalog-59c8d7f6b-aaaaa",
                "catalog",
                "registry.local/shop/catalog:3.3.2",
            )
            .evicted("Evicted"),
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::NodeDiskPressure, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, ResourceRef::node("node-a"));
    assert!(
        a.diagnosis.summary.contains("1 pod evicted"),
        "{}",
        a.diagnosis.summary
    );
    assert_eq!(
        first(&a),
        &Action::CordonNode {
            node: "node-a".into()
        }
    );
}
