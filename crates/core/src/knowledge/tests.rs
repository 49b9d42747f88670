use chrono::{TimeZone, Utc};

use super::*;
use crate::resource::{ResourceRef, WorkloadKind};

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, day, 3, 0, 0).unwrap()
}

fn incident(id: &str, resource: &ResourceRef, category: Category, day: u32) -> Entry {
    let mut signature = Signature::for_resource(resource);
    signature.category = Some(category);
    signature.alerts = vec!["KubePodCrashLooping".into()];
    signature.container_reasons = vec!["OOMKilled".into()];
    Entry {
        id: id.into(),
        source: EntrySource::Incident,
        title: format!("{category} on {resource}"),
        summary: "working set grows until the container is OOMKilled".into(),
        signature,
        actions: vec![ActionTaken {
            action: ActionName::RolloutRestart,
            target: Some(resource.locate_key()),
            fixed: Some(true),
        }],
        outcome: Outcome::Resolved,
        occurred_at: at(day),
        mitigated_after_s: Some(120),
        approved_by: vec![],
        services: vec![],
        notes: vec![],
        file: None,
    }
}

#[test]
fn the_same_workload_and_fault_is_similar_and_another_is_not() {
    let cart = ResourceRef::deployment("shop", "cart");
    let web = ResourceRef::deployment("front", "web");
    let past = incident("inc-000001", &cart, Category::MemoryLeak, 1);
    let mut probe = Signature::for_resource(&cart);
    probe.alerts = vec!["KubePodCrashLooping".into()];
    probe.container_reasons = vec!["OOMKilled".into()];
    let same = similarity(&probe, &past, 0.9);
    assert!(same >= 0.7, "{same}");

    let mut other = Signature::for_resource(&web);
    other.alerts = vec!["KubeDeploymentReplicasMismatch".into()];
    other.event_reasons = vec!["FailedScheduling".into()];
    let different = similarity(&other, &past, 0.2);
    assert!(different < SAME_THING, "{different}");

    // Knowing the categories differ counts against the match.
    probe.category = Some(Category::BadRelease);
    assert!(similarity(&probe, &past, 0.9) < same);
}

#[test]
fn another_fault_on_the_same_workload_is_less_alike_than_the_same_fault_elsewhere() {
    let checkout = ResourceRef::deployment("shop", "checkout");
    let mut probe = Signature::for_resource(&checkout);
    probe.alerts = vec!["KubePodCrashLooping".into(), "OOMKilled".into()];
    probe.container_reasons = vec!["OOMKilled".into()];
    // The node under checkout failed: the same workload, nothing seen in common.
    let mut node_failure = incident("inc-000001", &checkout, Category::NodeNotReady, 1);
    node_failure.signature.alerts = vec!["ReplicasUnavailable".into()];
    node_failure.signature.container_reasons = vec![];
    // Another workload of the namespace ran out of memory the same way.
    let cache = ResourceRef::workload(WorkloadKind::StatefulSet, "shop", "session-cache");
    let mut elsewhere = incident("inc-000002", &cache, Category::MemoryLimit, 2);
    elsewhere.signature.alerts = probe.alerts.clone();
    // Its logs are the workload's own request logs, so its words match better.
    let workload = similarity(&probe, &node_failure, 0.8);
    let fault = similarity(&probe, &elsewhere, 0.5);
    assert!(fault > workload, "{fault} <= {workload}");
    // The same fault back on the same workload is still the same thing.
    let mut again = incident("inc-000003", &checkout, Category::MemoryLimit, 3);
    again.signature.alerts = probe.alerts.clone();
    let same = similarity(&probe, &again, 0.5);
    assert!(same >= SAME_THING && same > fault, "{same}");
}

#[test]
fn recall_counts_similar_incidents_in_the_window_and_what_fixed_them() {
    let cart = ResourceRef::deployment("shop", "cart");
    let mut failed = incident("inc-000002", &cart, Category::MemoryLeak, 2);
    failed.actions[0].fixed = Some(false);
    failed.outcome = Outcome::Unresolved;
    let hits: Vec<Hit> = [
        incident("inc-000001", &cart, Category::MemoryLeak, 1),
        failed,
        incident("inc-000003", &cart, Category::MemoryLeak, 3),
    ]
    .into_iter()
    .map(|entry| Hit {
        entry,
        similarity: 0.8,
        lexical: 0.8,
        semantic: None,
    })
    .collect();
    let r = recall(&hits, at(4), std::time::Duration::from_secs(30 * 86_400));
    assert_eq!(r.seen, 3);
    assert_eq!(
        r.line().unwrap(),
        "seen 3 times in 30 days; rollout-restart fixed it 2 of 3 times; last on 2026-12-03 \
         (inc-000003)"
    );
    // Outside the window, nothing.
    let r = recall(&hits, at(4), std::time::Duration::from_secs(86_400 / 2));
    assert_eq!(r.line(), None);
}

#[test]
fn a_fault_fixed_again_and_again_on_one_workload_recurs() {
    let cart = ResourceRef::deployment("shop", "cart");
    let key = cart.to_string();
    let hits: Vec<Hit> = (1..=3)
        .map(|d| Hit {
            entry: incident(&format!("inc-00000{d}"), &cart, Category::MemoryLeak, d),
            similarity: 0.9,
            lexical: 1.0,
            semantic: None,
        })
        .collect();
    let limit = RecurrenceLimit {
        limit: 3,
        window: std::time::Duration::from_secs(7 * 86_400),
    };
    let r = recurrence(&hits, Category::MemoryLeak, &key, at(4), limit).unwrap();
    assert_eq!(r.action, ActionName::RolloutRestart);
    assert_eq!(r.incidents, ["inc-000001", "inc-000002", "inc-000003"]);
    assert!(r.reason().starts_with(
        "recurring: resource/memory-leak on deployment/shop/cart came back 3 times in 168h \
         after rollout-restart"
    ));
    // Fewer than the limit, another category, or the check off: not recurring.
    assert!(recurrence(&hits[..2], Category::MemoryLeak, &key, at(4), limit).is_none());
    assert!(recurrence(&hits, Category::MemoryLimit, &key, at(4), limit).is_none());
    let off = RecurrenceLimit { limit: 0, ..limit };
    assert!(recurrence(&hits, Category::MemoryLeak, &key, at(4), off).is_none());
}

const POSTMORTEM: &str = "---
title: Checkout ran out of memory after 2.3
kind: postmortem
date: 2026-03-14
services: [checkout]
namespaces: [shop]
categories: [resource/memory-leak, deploy/bad-release]
alerts: [KubePodCrashLooping]
actions: [rollback]
outcome: resolved
---
# Checkout OOM

The 2.3 release leaked a cache; token=abc123secretvalue was in the logs.
";

#[test]
fn a_postmortem_reads_into_an_entry() {
    let e = parse_document("pm/checkout.md", "checkout", POSTMORTEM, at(1)).unwrap();
    assert_eq!(e.id, "doc/checkout");
    assert_eq!(e.source, EntrySource::Postmortem);
    assert_eq!(e.title, "Checkout ran out of memory after 2.3");
    assert_eq!(e.signature.category, Some(Category::MemoryLeak));
    assert_eq!(e.services, ["checkout"]);
    assert_eq!(e.actions[0].action, ActionName::Rollback);
    assert_eq!(e.actions[0].fixed, Some(true));
    assert_eq!(
        e.occurred_at,
        Utc.with_ymd_and_hms(2026, 3, 14, 0, 0, 0).unwrap()
    );
    assert!(e.summary.contains("deploy/bad-release"));
    assert!(!e.summary.contains("abc123secretvalue"), "{}", e.summary);
    assert!(e.index_text().contains("checkout"));
}

#[test]
fn broken_front_matter_names_the_file_key_and_line() {
    let cases = [
        (
            POSTMORTEM.replace("resource/memory-leak", "resource/leaky"),
            "categories[0]",
            7,
        ),
        (
            POSTMORTEM.replace("rollback", "reboot-cluster"),
            "actions[0]",
            9,
        ),
        (
            POSTMORTEM.replace("date: 2026-03-14", "date: March"),
            "date",
            4,
        ),
        (
            POSTMORTEM.replace("kind: postmortem", "knd: postmortem"),
            "knd",
            3,
        ),
        (
            POSTMORTEM.replace("services: [checkout]", "services: checkout"),
            "services",
            5,
        ),
    ];
    for (text, key, line) in cases {
        let e = parse_document("pm/checkout.md", "checkout", &text, at(1)).unwrap_err();
        assert_eq!((e.key.as_str(), e.line), (key, Some(line)), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("pm/checkout.md: {key}: ")),
            "{e}"
        );
    }
    let e = parse_document("a.md", "a", "# no front matter\n", at(1)).unwrap_err();
    assert!(e.message.contains("no front matter"), "{e}");
    let e = parse_document("a.md", "a", "---\ntitle: x\n", at(1)).unwrap_err();
    assert!(e.message.contains("not closed"), "{e}");
    let e = parse_document("a.md", "a", "---\ntitle: [x\n---\n", at(1)).unwrap_err();
    assert!(e.message.contains("not valid YAML"), "{e}");
    assert_eq!(e.line.map(|l| l >= 2), Some(true), "{e}");
}
