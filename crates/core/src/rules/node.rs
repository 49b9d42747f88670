//! Node signatures: a node that stopped reporting, and a node under disk pressure. The root
//! cause is the node even when the incident was opened on one of its pods.

use super::facts::{ContainerFact, Facts, NodeFact};
use super::finding::{Cites, Finding, count};
use super::patterns;
use crate::Category;
use crate::action::Action;
use crate::resource::ResourceRef;

/// Node signatures over the whole bundle.
pub(crate) fn findings(facts: &Facts<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for node in suspect_nodes(facts) {
        out.extend(not_ready(facts, &node));
        out.extend(disk_pressure(facts, &node));
    }
    out
}

/// Nodes the evidence points at: from node conditions, lost or evicted pods, node alerts.
fn suspect_nodes(facts: &Facts<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |n: &str| {
        if !n.is_empty() && !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    };
    if let ResourceRef::Node { name } = &facts.incident.resource {
        add(name);
    }
    for n in &facts.nodes {
        add(n.node);
    }
    for c in &facts.containers {
        if (c.node_lost() || c.evicted())
            && let Some(n) = c.node
        {
            add(n);
        }
    }
    for s in &facts.signals {
        if let Some(n) = s.label("node") {
            add(n);
        }
    }
    out
}

fn pods_on<'f>(facts: &'f Facts<'_>, node: &str) -> Vec<&'f ContainerFact<'f>> {
    facts
        .containers
        .iter()
        .filter(|c| c.node == Some(node))
        .collect()
}

fn distinct_pods(containers: &[&ContainerFact<'_>]) -> usize {
    let mut p: Vec<&str> = containers.iter().map(|c| c.pod).collect();
    p.sort_unstable();
    p.dedup();
    p.len()
}

/// Ready `Unknown`/`False`, pods Unknown or NodeLost: drain the node (or cordon it when
/// there is nowhere else to go).
fn not_ready(facts: &Facts<'_>, node: &str) -> Option<Finding> {
    let fact: Option<&NodeFact<'_>> = facts.node(node);
    let condition_down = fact.is_some_and(NodeFact::not_ready);
    let lost: Vec<&ContainerFact<'_>> = pods_on(facts, node)
        .into_iter()
        .filter(|c| c.node_lost())
        .collect();
    let events: Vec<_> = facts
        .events
        .iter()
        .filter(|e| {
            (e.object_kind.eq_ignore_ascii_case("node")
                && e.object_name == node
                && (e.reason == "NodeNotReady" || e.message.contains("NotReady")))
                || ((e.reason == "TaintManagerEviction" || e.reason == "NodeLost")
                    && lost.iter().any(|c| c.pod == e.object_name))
        })
        .collect();
    let alerts: Vec<_> = facts
        .signals
        .iter()
        .filter(|s| {
            s.firing
                && s.label("node") == Some(node)
                && s.name.to_ascii_lowercase().contains("notready")
        })
        .collect();
    if !condition_down && lost.is_empty() {
        return None;
    }
    let mut cites = Cites::default();
    if let Some(f) = fact {
        cites.add(f.id);
    }
    cites.extend(lost.iter().map(|c| c.id));
    cites.extend(events.iter().map(|e| e.id));
    cites.extend(alerts.iter().map(|s| s.id));

    let mut confidence = if condition_down { 0.55 } else { 0.4 };
    if !lost.is_empty() {
        confidence += 0.15;
    }
    if !events.is_empty() {
        confidence += 0.1;
    }
    if !alerts.is_empty() {
        confidence += 0.05;
    }
    let ready = fact.and_then(|f| f.condition("Ready"));
    let status = match ready {
        Some(c) => format!(
            "Ready={}{}",
            c.status,
            c.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        None => "no node status in the evidence".to_string(),
    };
    let workloads = fact.map(|f| f.workloads.len()).unwrap_or(0);
    let affected = if workloads > 0 {
        format!(
            "; {} of {} on it",
            count(
                distinct_pods(&lost).max(fact.map_or(0, |f| f.pods.len())),
                "pod"
            ),
            count(workloads, "workload")
        )
    } else if !lost.is_empty() {
        format!(
            "; {} Unknown/NodeLost on it",
            count(distinct_pods(&lost), "pod")
        )
    } else {
        String::new()
    };
    let summary = format!("node/{node} is not ready: {status}{affected}");
    let others_ready = facts.nodes.iter().any(|n| n.node != node && n.ready());
    let cordoned = fact.is_some_and(|f| f.unschedulable);
    let root = ResourceRef::node(node);
    let drain = Action::DrainNode {
        node: node.to_string(),
    };
    let cordon = Action::CordonNode {
        node: node.to_string(),
    };
    let drain_why = format!(
        "the kubelet on {node} stopped reporting; draining moves its pods to the ready nodes now instead of after the eviction timeout"
    );
    let drain_outcome = "every workload that had pods on the node has its replicas Ready elsewhere";
    let cordon_why = format!("keeps new pods off {node} until it reports again");
    let cordon_outcome =
        "no new pod is scheduled onto the node; its workloads recover as pods are replaced";
    let finding = Finding::new(Category::NodeNotReady, root, confidence, summary, cites);
    let finding = if others_ready || cordoned {
        finding
            .plan(drain, confidence, &drain_why, drain_outcome)
            .plan(cordon, confidence - 0.1, &cordon_why, cordon_outcome)
    } else {
        finding
            .plan(cordon, confidence - 0.1, &cordon_why, cordon_outcome)
            .plan(
                drain,
                confidence - 0.25,
                &format!(
                    "{drain_why} (no other ready node is in the evidence: check capacity first)"
                ),
                drain_outcome,
            )
    };
    Some(finding.escalate(
        0.45,
        &format!("a person must bring {node} back or replace it"),
    ))
}

/// DiskPressure, pods evicted for ephemeral storage: cordon the node and have a person free
/// the disk.
fn disk_pressure(facts: &Facts<'_>, node: &str) -> Option<Finding> {
    let fact = facts.node(node);
    let pressure = fact
        .and_then(|f| f.condition("DiskPressure"))
        .is_some_and(|c| c.status.eq_ignore_ascii_case("true"));
    let tainted = fact.is_some_and(|f| {
        f.taints
            .iter()
            .any(|t| t.contains("node.kubernetes.io/disk-pressure"))
    });
    let on_node = pods_on(facts, node);
    let node_pods: Vec<&str> = on_node.iter().map(|c| c.pod).collect();
    // The eviction message may not travel with the pod status; the node's condition or an
    // Evicted event about the pod then says why.
    let storage_events: Vec<_> = facts
        .events
        .iter()
        .filter(|e| {
            e.reason == "Evicted" && e.about_pod() && patterns::is_storage_pressure(e.message)
        })
        .collect();
    let evicted: Vec<&ContainerFact<'_>> = on_node
        .into_iter()
        .filter(|c| {
            c.evicted()
                && (pressure
                    || tainted
                    || storage_events.iter().any(|e| e.object_name == c.pod)
                    || [c.message, c.pod_reason, c.reason]
                        .iter()
                        .flatten()
                        .any(|t| patterns::is_storage_pressure(t)))
        })
        .collect();
    let events: Vec<_> = facts
        .events
        .iter()
        .filter(|e| {
            (e.object_kind.eq_ignore_ascii_case("node")
                && e.object_name == node
                && patterns::is_storage_pressure(&format!("{} {}", e.reason, e.message)))
                || (storage_events.iter().any(|s| s.id == e.id)
                    && (node_pods.contains(&e.object_name) || pressure || tainted))
        })
        .collect();
    if !pressure && !tainted && evicted.is_empty() {
        return None;
    }
    let mut cites = Cites::default();
    if let Some(f) = fact {
        cites.add(f.id);
    }
    cites.extend(evicted.iter().map(|c| c.id));
    cites.extend(events.iter().map(|e| e.id));
    let mut confidence = if pressure { 0.55 } else { 0.4 };
    if !evicted.is_empty() {
        confidence += 0.15;
    }
    if tainted || !events.is_empty() {
        confidence += 0.1;
    }
    let summary = format!(
        "node/{node} has disk pressure{}{}",
        if pressure { " (DiskPressure=True)" } else { "" },
        if evicted.is_empty() {
            String::new()
        } else {
            format!(
                "; {} evicted for ephemeral storage",
                count(distinct_pods(&evicted), "pod")
            )
        }
    );
    let cordoned = fact.is_some_and(|f| f.unschedulable);
    let root = ResourceRef::node(node);
    let cleanup = format!(
        "a person must find what fills the disk of {node} (container logs, images, emptyDir) and free it"
    );
    let finding = Finding::new(Category::NodeDiskPressure, root, confidence, summary, cites);
    Some(if cordoned {
        finding.escalate(confidence, &cleanup)
    } else {
        finding
            .plan(
                Action::CordonNode {
                    node: node.to_string(),
                },
                confidence,
                &format!("keeps new pods off {node} while its disk is full, so they are not evicted in turn"),
                "evicted pods run on other nodes; no new evictions",
            )
            .escalate(0.55, &cleanup)
    })
}
