//! transient, none, thin evidence, and evidence that makes no sense.

use nightshift_core::evidence::RevisionSummary;
use nightshift_core::{Action, Category};

use super::support::*;

const IMAGE: &str = "registry.local/shop/inventory:2.2.0";

fn inventory() -> Bundle {
    let w = deployment("shop", "inventory");
    let mut b = Bundle::on(w.clone()).rollout(w, vec![rev(1, IMAGE, -9000, 3, &[])]);
    for p in [
        "inventory-6c5b4a3d2-aaaaa",
        "inventory-6c5b4a3d2-bbbbb",
        "inventory-6c5b4a3d2-ccccc",
    ] {
        b = b.container(Ctr::running("shop", p, "inventory", IMAGE));
    }
    b
}

#[test]
fn an_error_burst_that_ended_is_left_alone() {
    let w = deployment("shop", "inventory");
    let a = inventory()
        .metric(w.clone(), Met::new("error_ratio", 0.004).range(0.001, 0.35, -0.04))
        .signal("HighErrorRate", false, &[("namespace", "shop"), ("service", "inventory")], 6)
        .logs(
            "shop",
            "inventory-6c5b4a3d2-aaaaa",
            false,
            &[
                "WARN GET /api/stock/4411 status=503 duration_ms=420 error=\"connection pool exhausted\"",
                "INFO GET /api/stock/4412 status=200 available=12 duration_ms=4",
            ],
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::Transient, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, w);
    assert!(matches!(first(&a), Action::None { .. }), "{a:#?}");
    assert!(changes_nothing(&a));
    between(a.diagnosis.confidence, 0.6, 0.8);
}

#[test]
fn an_error_burst_that_goes_on_unexplained_escalates() {
    let w = deployment("shop", "inventory");
    let a = inventory()
        .metric(w, Met::new("error_ratio", 0.3).range(0.001, 0.35, 0.0))
        .analyze();
    assert_eq!(a.diagnosis.category, Category::Transient);
    assert!(a.diagnosis.confidence < 0.5);
    assert!(matches!(first(&a), Action::Escalate { .. }), "{a:#?}");
}

#[test]
fn nothing_wrong_is_none() {
    let a = inventory()
        .signal(
            "KubePodNotReady",
            false,
            &[("namespace", "shop"), ("pod", "inventory-6c5b4a3d2-aaaaa")],
            3,
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::None, "{a:#?}");
    assert!(matches!(first(&a), Action::None { .. }));
    between(a.diagnosis.confidence, 0.7, 0.8);
}

#[test]
fn an_empty_bundle_says_so() {
    let a = Bundle::on(deployment("shop", "inventory")).analyze();
    assert_eq!(a.diagnosis.category, Category::None);
    assert!(a.diagnosis.confidence < 0.3);
    assert!(matches!(first(&a), Action::Escalate { .. }));
    assert!(a.diagnosis.summary.contains("no evidence"));
}

#[test]
fn firing_alerts_with_evidence_that_matches_nothing_escalate() {
    let a = inventory()
        .signal(
            "SomethingOdd",
            true,
            &[("namespace", "shop"), ("deployment", "inventory")],
            10,
        )
        .analyze();
    assert!(a.diagnosis.confidence < 0.5, "{a:#?}");
    assert!(matches!(first(&a), Action::Escalate { .. }));
}

#[test]
fn odd_evidence_does_not_panic() {
    let w = deployment("shop", "odd");
    let empty_revision = RevisionSummary {
        revision: 7,
        images: vec![],
        created_at: None,
        replicas: -1,
        ready: -1,
        change: vec!["".into(), "-".into()],
        made_by: Some("inc-1-a1".into()),
    };
    let mut b = Bundle::on(w.clone())
        .rollout(w.clone(), vec![empty_revision.clone(), empty_revision])
        .rollout(w.clone(), vec![])
        .workload(
            w.clone(),
            -3,
            -3,
            vec![spec("", "", "not-a-quantity", "lots")],
        )
        .metric(
            w.clone(),
            Met::new("", f64::NAN).range(f64::NEG_INFINITY, f64::INFINITY, f64::NAN),
        )
        .metric(
            w.clone(),
            Met::new("container_memory_working_set_bytes", 1e30).limit(0.0),
        )
        .metric(
            w.clone(),
            Met::new("error_ratio", -5.0).range(-1.0, 1e9, -1e9),
        )
        .metric(
            w.clone(),
            Met::new("container_cpu_usage_seconds_total", f64::NAN).limit(f64::NAN),
        )
        .metric(
            w.clone(),
            Met::new("http_requests_per_second", f64::INFINITY).range(0.0, 0.0, 0.0),
        )
        .container(
            Ctr::running("", "-", "", "")
                .waiting("CreateContainerConfigError", Some("secret \"\" not found"))
                .restarted(-4, "OOMKilled", 137, 10_000),
        )
        .container(
            Ctr::running("shop", "odd", "", "")
                .waiting("CrashLoopBackOff", None)
                .restarted(i32::MAX, "", 0, -100_000),
        )
        .pod_warning("shop", "", "FailedScheduling", "Insufficient", i32::MIN, 0)
        .node("", vec![condition("Ready", "", None)], &[""], &[""])
        .logs(
            "shop",
            "odd",
            true,
            &[
                "",
                ":",
                "dial tcp :80: connection refused",
                "timeout 999999:99999",
            ],
        )
        .dependency(w.clone(), ":", None, Some(0), &[""], usize::MAX)
        .signal("", true, &[("", "")], 0)
        .past(
            Category::Crash,
            nightshift_core::ActionName::Escalate,
            "",
            f64::NAN,
        );
    b = b.tried(&Action::Scale {
        target: w,
        replicas: i32::MIN,
    });
    let a = b.analyze();
    assert!(a.diagnosis.confidence.is_finite());
}
