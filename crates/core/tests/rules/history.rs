//! What the past changes: attempts already made on this incident, and similar incidents.

use nightshift_core::{Action, ActionName, Category};

use super::app::worker;
use super::dependency::postgres_down;
use super::resources::{doubled_limit, leaking, undersized};
use super::support::*;

const INDEXER: &str = "registry.local/search/search-indexer:2.8.4";

#[test]
fn after_a_failed_remedy_on_a_leak_escalation_comes_first() {
    let w = deployment("search", "search-indexer");
    let fresh = leaking(vec![rev(1, INDEXER, -9000, 2, &[])], INDEXER).analyze();
    assert_eq!(first(&fresh), &doubled_limit());

    let again = leaking(vec![rev(1, INDEXER, -9000, 2, &[])], INDEXER)
        .tried(&doubled_limit())
        .tried(&Action::RolloutRestart { target: w.clone() })
        .analyze();
    assert_eq!(again.diagnosis.category, Category::MemoryLeak);
    assert!(
        matches!(first(&again), Action::Escalate { .. }),
        "{again:#?}"
    );
    let restart = again
        .plans
        .iter()
        .find(|p| p.action == Action::RolloutRestart { target: w.clone() })
        .expect("still listed, lower down");
    assert!(restart.confidence < 0.5);
    assert!(
        again.notes.iter().any(|n| n.contains("already tried")),
        "{:?}",
        again.notes
    );
}

#[test]
fn after_restarting_a_dependency_did_not_help_restarting_its_pod_is_not_next() {
    let pg = statefulset("shop", "postgres");
    let a = postgres_down(true)
        .tried(&Action::RolloutRestart { target: pg.clone() })
        .analyze();
    assert_eq!(a.diagnosis.root_cause, pg);
    assert!(matches!(first(&a), Action::Escalate { .. }), "{a:#?}");
}

#[test]
fn a_restart_of_a_pod_that_is_still_hung_is_not_proposed_again_first() {
    let hung = "orders-worker-7b8c9d6f5-bbbbb";
    let a = worker(&[hung])
        .tried(&Action::RestartPod {
            namespace: "shop".into(),
            pod: hung.into(),
        })
        .analyze();
    assert_eq!(a.diagnosis.category, Category::Hang);
    assert!(matches!(first(&a), Action::Escalate { .. }), "{a:#?}");
}

#[test]
fn an_unrelated_earlier_action_changes_nothing() {
    let hung = "orders-worker-7b8c9d6f5-bbbbb";
    let a = worker(&[hung])
        .tried(&Action::RestartPod {
            namespace: "shop".into(),
            pod: "orders-worker-7b8c9d6f5-zzzzz".into(),
        })
        .analyze();
    assert_eq!(
        first(&a),
        &Action::RestartPod {
            namespace: "shop".into(),
            pod: hung.into()
        }
    );
}

#[test]
fn a_remedy_that_resolved_a_similar_incident_gains_confidence() {
    let base = undersized(3).analyze();
    let boosted = undersized(3)
        .past(
            Category::MemoryLimit,
            ActionName::SetResources,
            "resolved",
            0.9,
        )
        .analyze();
    assert!(
        boosted.plans[0].confidence > base.plans[0].confidence,
        "{boosted:#?}"
    );
    assert!(boosted.diagnosis.confidence > base.diagnosis.confidence);
    assert!(
        boosted.notes.iter().any(|n| n.contains("resolved it")),
        "{:?}",
        boosted.notes
    );
}

#[test]
fn a_remedy_that_failed_a_similar_incident_loses_its_place() {
    let past_failure = leaking(vec![rev(1, INDEXER, -9000, 2, &[])], INDEXER)
        .past(
            Category::MemoryLeak,
            ActionName::SetResources,
            "unresolved",
            1.0,
        )
        .analyze();
    assert!(
        matches!(first(&past_failure), Action::Escalate { .. }),
        "{past_failure:#?}"
    );
    assert!(
        past_failure
            .notes
            .iter()
            .any(|n| n.contains("did not resolve it")),
        "{:?}",
        past_failure.notes
    );
}

#[test]
fn a_past_incident_of_another_category_is_ignored() {
    let base = undersized(3).analyze();
    let other = undersized(3)
        .past(Category::Crash, ActionName::SetResources, "resolved", 1.0)
        .analyze();
    assert_eq!(base.plans[0].confidence, other.plans[0].confidence);
}
