//! Revisions Nightshift made itself (`made_by`: its set-resources, rollout-restart or
//! rollback) are remedies on the record: never suspects, never rollback targets made after the
//! failures began, and a bad release before them is still judged.

use nightshift_core::{Action, Category};

use super::resources::leaking;
use super::support::*;

const OLD: &str = "registry.local/shop/checkout:2.3.1";
const NEW: &str = "registry.local/shop/checkout:2.4.0";
const INDEXER: &str = "registry.local/search/search-indexer:2.8.4";
const INDEXER_NEW: &str = "registry.local/search/search-indexer:2.9.0";

fn no_rollback(a: &nightshift_core::Analysis) {
    assert!(
        a.plans
            .iter()
            .all(|p| !matches!(p.action, Action::Rollback { .. })),
        "{a:#?}"
    );
}

/// checkout crash-looping on `image` from t(12), with the given history.
fn checkout_crashing(
    revisions: Vec<nightshift_core::evidence::RevisionSummary>,
    image: &str,
) -> Bundle {
    Bundle::on(deployment("shop", "checkout"))
        .rollout(deployment("shop", "checkout"), revisions)
        .container(
            Ctr::running("shop", "checkout-7f9c6d8b4-vwxyz", "checkout", image)
                .waiting(
                    "CrashLoopBackOff",
                    Some("back-off 40s restarting failed container"),
                )
                .restarted(4, "Error", 1, 14),
        )
        .pod_warning(
            "shop",
            "checkout-7f9c6d8b4-vwxyz",
            "BackOff",
            "Back-off restarting failed container checkout",
            6,
            12,
        )
        .logs(
            "shop",
            "checkout-7f9c6d8b4-vwxyz",
            true,
            &["FATAL schema check failed: database is at version 57, expected 58"],
        )
}

/// Lowering a limit is a suspect when a person does it (see resources.rs); when our own
/// set-resources did it, it is a remedy on the record, and there is nothing to roll back.
#[test]
fn a_resource_change_of_ours_is_not_rolled_back_even_when_it_lowered_a_limit() {
    for change in [
        "memory limit 1536Mi -> 768Mi",
        "memory limit none -> 768Mi",
        "cpu request 500m -> 250m",
    ] {
        let a = leaking(
            vec![
                made_by(rev(2, INDEXER, 3, 2, &[change]), "inc-7-a1"),
                rev(1, INDEXER, -9000, 0, &[]),
            ],
            INDEXER,
        )
        .analyze();
        assert_eq!(
            a.diagnosis.category,
            Category::MemoryLeak,
            "{change}: {a:#?}"
        );
        no_rollback(&a);
    }
}

/// Our rollback made a revision with another image: if its pods crash, it is not a release
/// to roll back (that would return to the release it replaced), and what came before it no
/// longer runs.
#[test]
fn a_rollback_of_ours_is_not_rolled_back() {
    let a = checkout_crashing(
        vec![
            made_by(
                rev(3, OLD, 10, 1, &["image checkout:2.4.0 -> checkout:2.3.1"]),
                "inc-9-a1",
            ),
            rev(2, NEW, 2, 0, &["image checkout:2.3.1 -> checkout:2.4.0"]),
            rev(1, OLD, -3 * 24 * 60, 0, &[]),
        ],
        OLD,
    )
    .analyze();
    no_rollback(&a);
    assert_ne!(a.diagnosis.category, Category::BadRelease, "{a:#?}");
}

/// A restart of ours is no suspect either, whatever came after it.
#[test]
fn a_restart_of_ours_is_not_a_release() {
    let a = checkout_crashing(
        vec![
            made_by(rev(2, OLD, 10, 1, &[]), "inc-9-a1"),
            rev(1, OLD, -3 * 24 * 60, 0, &[]),
        ],
        OLD,
    )
    .analyze();
    no_rollback(&a);
}

/// A bad release, then our own restart: the release is still in place and still the
/// suspect, and the rollback goes to the revision before it, not to our restart.
#[test]
fn a_bad_release_followed_by_our_restart_still_rolls_back_before_the_release() {
    let a = checkout_crashing(
        vec![
            made_by(rev(3, NEW, 13, 1, &[]), "inc-9-a1"),
            rev(2, NEW, 10, 0, &["image checkout:2.3.1 -> checkout:2.4.0"]),
            rev(1, OLD, -3 * 24 * 60, 0, &[]),
        ],
        NEW,
    )
    .analyze();
    assert_eq!(a.diagnosis.category, Category::BadRelease, "{a:#?}");
    assert_eq!(
        first(&a),
        &Action::Rollback {
            target: deployment("shop", "checkout"),
            revision: Some(1)
        },
        "{a:#?}"
    );
}

/// A leaking release, then our own limit raise (what the leak gets first): the raise gave
/// the leak room and is no suspect, the release is, and the rollback goes before it.
#[test]
fn a_leaking_release_followed_by_our_limit_raise_rolls_back_before_the_release() {
    let a = leaking(
        vec![
            made_by(
                rev(3, INDEXER_NEW, 5, 2, &["memory limit 384Mi -> 768Mi"]),
                "inc-7-a1",
            ),
            rev(
                2,
                INDEXER_NEW,
                -30,
                0,
                &["image search-indexer:2.8.4 -> search-indexer:2.9.0"],
            ),
            rev(1, INDEXER, -9000, 0, &[]),
        ],
        INDEXER_NEW,
    )
    .analyze();
    assert_eq!(
        first(&a),
        &Action::Rollback {
            target: deployment("search", "search-indexer"),
            revision: Some(1)
        },
        "{a:#?}"
    );
    assert!(
        a.plans.iter().all(|p| p.action
            != Action::Rollback {
                target: deployment("search", "search-indexer"),
                revision: Some(2)
            }),
        "{a:#?}"
    );
}

/// A person's revision whose change the collector cannot word (a node selector, outside the
/// containers) is still a release; only the agent's stamp makes a revision a remedy. Then
/// the agent's own restart after it changes nothing in the judgement.
#[test]
fn a_release_the_change_list_cannot_word_is_still_judged_past_our_restart() {
    let rec = deployment("shop", "recommender");
    let image = "registry.local/shop/recommender:1.4.0";
    for ours in [false, true] {
        let mut revisions = vec![rev(2, image, 3, 0, &[]), rev(1, image, -4000, 2, &[])];
        if ours {
            revisions.insert(0, made_by(rev(3, image, 5, 0, &[]), "inc-4-a1"));
        }
        let a = Bundle::on(rec.clone())
            .rollout(rec.clone(), revisions)
            .container(Ctr::running(
                "shop",
                "recommender-6b5c4d3f2-aaaaa",
                "recommender",
                image,
            ))
            .pod_warning(
                "shop",
                "recommender-9d8c7b6f5-qqqqq",
                "FailedScheduling",
                "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.",
                7,
                3,
            )
            .analyze();
        assert_eq!(a.diagnosis.category, Category::Scheduling, "{a:#?}");
        assert_eq!(
            first(&a),
            &Action::Rollback {
                target: rec.clone(),
                revision: Some(1)
            },
            "ours: {ours}: {a:#?}"
        );
    }
}
