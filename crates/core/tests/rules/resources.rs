//! resource/memory-limit and resource/memory-leak, told apart by how fast memory fills.

use nightshift_core::action::ResourceChange;
use nightshift_core::{Action, Category};

use super::support::*;

const CHECKOUT: &str = "registry.local/shop/checkout:2.3.1";

/// checkout with a 256Mi limit, one old revision, three pods OOMKilled `restarts` times.
pub fn undersized(restarts: i32) -> Bundle {
    let w = deployment("shop", "checkout");
    let mut b = Bundle::on(w.clone())
        .rollout(w.clone(), vec![rev(1, CHECKOUT, -9000, 3, &[])])
        .workload(w, 3, 0, vec![spec("checkout", CHECKOUT, "256Mi", "500m")]);
    for p in [
        "checkout-6d5f8c7b9-aaaaa",
        "checkout-6d5f8c7b9-bbbbb",
        "checkout-6d5f8c7b9-ccccc",
    ] {
        b = b.container(
            Ctr::running("shop", p, "checkout", CHECKOUT)
                .waiting(
                    "CrashLoopBackOff",
                    Some("back-off 1m20s restarting failed container"),
                )
                .restarted(restarts, "OOMKilled", 137, 18),
        );
    }
    b
}

#[test]
fn oom_right_after_start_raises_the_memory_limit() {
    let a = undersized(4)
        .metric(
            deployment("shop", "checkout"),
            Met::new("container_memory_working_set_bytes", 250.0 * MI)
                .range(180.0 * MI, 256.0 * MI, 0.0)
                .limit(256.0 * MI),
        )
        .logs(
            "shop",
            "checkout-6d5f8c7b9-aaaaa",
            true,
            &["WARN heap usage high: 97% of container limit"],
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::MemoryLimit, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, deployment("shop", "checkout"));
    assert_eq!(
        first(&a),
        &Action::SetResources {
            target: deployment("shop", "checkout"),
            container: "checkout".into(),
            change: ResourceChange {
                requests: Default::default(),
                limits: [("memory".to_string(), "384Mi".to_string())].into(),
            },
        }
    );
    between(a.diagnosis.confidence, 0.8, 0.95);
    assert!(
        a.plans
            .iter()
            .all(|p| !matches!(p.action, Action::Rollback { .. } | Action::Scale { .. })),
        "never a rollback or a scale-down for an undersized limit"
    );
}

#[test]
fn oom_without_metrics_is_less_sure() {
    let a = undersized(3).analyze();
    assert_eq!(a.diagnosis.category, Category::MemoryLimit);
    assert!(matches!(first(&a), Action::SetResources { .. }));
    between(a.diagnosis.confidence, 0.5, 0.69);
    assert!(
        a.notes.iter().any(|n| n.contains("no memory metrics")),
        "{:?}",
        a.notes
    );
}

/// search-indexer with a 768Mi limit whose memory grows 40Mi a minute from each start.
pub fn leaking(revisions: Vec<nightshift_core::evidence::RevisionSummary>, image: &str) -> Bundle {
    let w = deployment("search", "search-indexer");
    Bundle::on(w.clone())
        .rollout(w.clone(), revisions)
        .workload(w.clone(), 2, 1, vec![spec("indexer", image, "768Mi", "1")])
        .container(
            Ctr::running("search", "search-indexer-7c6b5d4f3-aaaaa", "indexer", image)
                .restarted(1, "OOMKilled", 137, 8)
                .started(8),
        )
        .container(
            Ctr::running("search", "search-indexer-7c6b5d4f3-bbbbb", "indexer", image)
                .not_ready()
                .restarted(1, "OOMKilled", 137, 19)
                .started(19),
        )
        .metric(
            pod("search", "search-indexer-7c6b5d4f3-aaaaa"),
            Met::new("container_memory_working_set_bytes", 820.0 * MI * 0.9)
                .range(350.0 * MI, 760.0 * MI, 40.0 * MI)
                .limit(768.0 * MI)
                .window(900),
        )
        .logs(
            "search",
            "search-indexer-7c6b5d4f3-aaaaa",
            false,
            &["WARN gc pause 900ms, heap after gc grows: 610MiB"],
        )
}

/// The leaking container's memory limit doubled: what a leak without a rollout gets first.
pub fn doubled_limit() -> Action {
    Action::SetResources {
        target: deployment("search", "search-indexer"),
        container: "indexer".into(),
        change: ResourceChange {
            limits: [("memory".to_string(), "1536Mi".to_string())].into(),
            ..ResourceChange::default()
        },
    }
}

#[test]
fn slow_leak_without_a_rollout_raises_the_limit_then_restarts_and_escalates() {
    let image = "registry.local/search/search-indexer:2.8.4";
    let a = leaking(vec![rev(1, image, -9000, 2, &[])], image).analyze();
    assert_eq!(a.diagnosis.category, Category::MemoryLeak, "{a:#?}");
    assert_eq!(
        a.diagnosis.root_cause,
        deployment("search", "search-indexer")
    );
    assert_eq!(first(&a), &doubled_limit(), "{a:#?}");
    assert_eq!(
        a.plans[1].action,
        Action::RolloutRestart {
            target: deployment("search", "search-indexer")
        }
    );
    assert!(
        matches!(a.plans[2].action, Action::Escalate { .. }),
        "{a:#?}"
    );
    between(a.diagnosis.confidence, 0.7, 0.9);
    assert!(
        a.diagnosis.summary.contains("40Mi per minute"),
        "{}",
        a.diagnosis.summary
    );
}

#[test]
fn leak_that_came_with_a_rollout_rolls_back() {
    let image = "registry.local/search/search-indexer:2.9.0";
    let a = leaking(
        vec![
            rev(
                2,
                image,
                3,
                2,
                &["image search-indexer:2.8.4 -> search-indexer:2.9.0"],
            ),
            rev(
                1,
                "registry.local/search/search-indexer:2.8.4",
                -9000,
                0,
                &[],
            ),
        ],
        image,
    )
    .analyze();
    assert!(
        matches!(
            a.diagnosis.category,
            Category::MemoryLeak | Category::BadRelease
        ),
        "{a:#?}"
    );
    assert_eq!(
        first(&a),
        &Action::Rollback {
            target: deployment("search", "search-indexer"),
            revision: Some(1)
        }
    );
    between(a.diagnosis.confidence, 0.8, 0.95);
}

#[test]
fn a_single_oom_kill_with_nothing_else_is_too_thin_to_act_on() {
    let w = deployment("shop", "checkout");
    let a = Bundle::on(w.clone())
        .workload(w, 3, 2, vec![spec("checkout", CHECKOUT, "256Mi", "500m")])
        .container(
            Ctr::running("shop", "checkout-6d5f8c7b9-aaaaa", "checkout", CHECKOUT)
                .restarted(1, "OOMKilled", 137, 17)
                .started(17),
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::MemoryLimit);
    assert!(a.diagnosis.confidence < 0.5, "{a:#?}");
    assert!(matches!(first(&a), Action::Escalate { .. }), "{a:#?}");
    assert!(
        a.plans
            .iter()
            .any(|p| matches!(p.action, Action::SetResources { .. }))
    );
}

/// A `rollout restart` makes a new revision with the same containers: a leak that shows up
/// after it was already there, and rolling back to the revision before the restart would
/// change nothing. The restart is not read as a release.
#[test]
fn a_restart_only_revision_is_not_a_release_to_roll_back() {
    let image = "registry.local/search/search-indexer:2.8.4";
    let a = leaking(
        vec![rev(2, image, 3, 2, &[]), rev(1, image, -9000, 0, &[])],
        image,
    )
    .analyze();
    assert_eq!(a.diagnosis.category, Category::MemoryLeak, "{a:#?}");
    assert!(
        a.plans
            .iter()
            .all(|p| !matches!(p.action, Action::Rollback { .. })),
        "{a:#?}"
    );
    assert_eq!(first(&a), &doubled_limit(), "{a:#?}");
}

/// A revision that only raised the memory limit (what a remedy for the leak makes) came
/// before the OOM kills of its pods: it gave the leak more room and cannot have brought it,
/// so it is not a release to roll back, and no revision before it is a rollback target.
#[test]
fn a_revision_that_only_raised_a_limit_is_not_a_release_to_roll_back() {
    let image = "registry.local/search/search-indexer:2.8.4";
    let a = leaking(
        vec![
            rev(2, image, 3, 2, &["memory limit 384Mi -> 768Mi"]),
            rev(1, image, -9000, 0, &[]),
        ],
        image,
    )
    .analyze();
    assert_eq!(a.diagnosis.category, Category::MemoryLeak, "{a:#?}");
    assert!(
        a.plans
            .iter()
            .all(|p| !matches!(p.action, Action::Rollback { .. })),
        "{a:#?}"
    );
}

/// A revision that lowered the limit, or set one where there was none, is a release that can
/// bring OOM kills: still a suspect.
#[test]
fn a_revision_that_lowered_or_set_a_limit_is_still_a_suspect() {
    let image = "registry.local/search/search-indexer:2.8.4";
    for change in ["memory limit 1536Mi -> 768Mi", "memory limit none -> 768Mi"] {
        let a = leaking(
            vec![rev(2, image, 3, 2, &[change]), rev(1, image, -9000, 0, &[])],
            image,
        )
        .analyze();
        assert_eq!(
            first(&a),
            &Action::Rollback {
                target: deployment("search", "search-indexer"),
                revision: Some(1)
            },
            "{change}: {a:#?}"
        );
    }
}
