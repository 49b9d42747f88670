//! app/crash and app/hang.

use nightshift_core::{Action, Category};

use super::support::*;

const IMAGE: &str = "registry.local/shop/checkout:2.3.1";

fn crashing_checkout(b: Bundle) -> Bundle {
    let mut b = b;
    for p in [
        "checkout-6d5f8c7b9-aaaaa",
        "checkout-6d5f8c7b9-bbbbb",
        "checkout-6d5f8c7b9-ccccc",
    ] {
        b = b
            .container(
                Ctr::running("shop", p, "checkout", IMAGE)
                    .waiting(
                        "CrashLoopBackOff",
                        Some("back-off 2m40s restarting failed container"),
                    )
                    .restarted(5, "Error", 2, 18),
            )
            .pod_warning(
                "shop",
                p,
                "BackOff",
                "Back-off restarting failed container checkout",
                9,
                4,
            )
            .logs(
                "shop",
                p,
                true,
                &[
                    "INFO POST /api/checkout promo_code=SPRING24 order_id=4f2a9c",
                    "panic: runtime error: invalid memory address or nil pointer dereference",
                    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x38 pc=0x4a1b2c3]",
                    "goroutine 212 [running]:",
                ],
            );
    }
    b
}

#[test]
fn crash_without_a_rollout_escalates() {
    let w = deployment("shop", "checkout");
    let a = crashing_checkout(
        Bundle::on(w.clone()).rollout(w.clone(), vec![rev(1, IMAGE, -3 * 24 * 60, 0, &[])]),
    )
    .analyze();
    assert_eq!(a.diagnosis.category, Category::Crash, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, w);
    assert!(matches!(first(&a), Action::Escalate { .. }), "{a:#?}");
    assert!(
        changes_nothing(&a),
        "no rollback, no restart for a bug in the running image"
    );
    between(a.diagnosis.confidence, 0.75, 0.9);
    assert!(
        a.diagnosis.summary.contains("panic"),
        "{}",
        a.diagnosis.summary
    );
    assert!(
        a.diagnosis.summary.contains("exit 2"),
        "{}",
        a.diagnosis.summary
    );
}

#[test]
fn crash_long_after_the_last_rollout_is_still_an_app_crash() {
    let w = deployment("shop", "checkout");
    let a = crashing_checkout(Bundle::on(w.clone()).rollout(
        w.clone(),
        vec![
            rev(
                2,
                IMAGE,
                -3 * 24 * 60,
                3,
                &["image checkout:2.3.0 -> checkout:2.3.1"],
            ),
            rev(
                1,
                "registry.local/shop/checkout:2.3.0",
                -9 * 24 * 60,
                0,
                &[],
            ),
        ],
    ))
    .analyze();
    assert_eq!(a.diagnosis.category, Category::Crash, "{a:#?}");
    assert!(changes_nothing(&a));
    assert!(
        a.notes
            .iter()
            .any(|n| n.contains("rolling back is not proposed")),
        "{:?}",
        a.notes
    );
}

#[test]
fn crash_with_only_the_alert_is_a_guess() {
    let a = Bundle::on(pod("shop", "checkout-6d5f8c7b9-aaaaa"))
        .signal(
            "KubePodCrashLooping",
            true,
            &[
                ("namespace", "shop"),
                ("pod", "checkout-6d5f8c7b9-aaaaa"),
                ("container", "checkout"),
            ],
            12,
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::Crash);
    // Nothing states the pod's owner: no workload is made up from the pod's name.
    assert_eq!(
        a.diagnosis.root_cause,
        pod("shop", "checkout-6d5f8c7b9-aaaaa")
    );
    assert!(a.diagnosis.confidence < 0.5);
    assert!(matches!(first(&a), Action::Escalate { .. }));
}

/// orders-worker with three replicas; `hung` of them stopped answering at t(3).
pub fn worker(hung: &[&str]) -> Bundle {
    let w = deployment("shop", "orders-worker");
    let image = "registry.local/shop/orders-worker:3.6.2";
    let mut b = Bundle::on(w.clone())
        .rollout(w.clone(), vec![rev(1, image, -9000, 3, &[])])
        .workload(
            w,
            3,
            3 - hung.len() as i32,
            vec![spec("worker", image, "256Mi", "500m")],
        );
    for p in [
        "orders-worker-7b8c9d6f5-aaaaa",
        "orders-worker-7b8c9d6f5-bbbbb",
        "orders-worker-7b8c9d6f5-ccccc",
    ] {
        if hung.contains(&p) {
            b = b
                .container(Ctr::running("shop", p, "worker", image).not_ready())
                .pod_warning(
                    "shop",
                    p,
                    "Unhealthy",
                    "Readiness probe failed: Get \"http://10.1.0.9:8080/ready\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                    40,
                    4,
                )
                .logs(
                    "shop",
                    p,
                    false,
                    &["WARN waiting for a database connection: pool exhausted (in_use=10 open=10) after 95s"],
                );
        } else {
            b = b.container(Ctr::running("shop", p, "worker", image)).logs(
                "shop",
                p,
                false,
                &["INFO processed job=order.paid id=9f8e7d6c5b duration_ms=42"],
            );
        }
    }
    b
}

#[test]
fn one_hung_replica_gets_its_pod_restarted() {
    let a = worker(&["orders-worker-7b8c9d6f5-bbbbb"]).analyze();
    assert_eq!(a.diagnosis.category, Category::Hang, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, deployment("shop", "orders-worker"));
    assert_eq!(
        first(&a),
        &Action::RestartPod {
            namespace: "shop".into(),
            pod: "orders-worker-7b8c9d6f5-bbbbb".into()
        }
    );
    between(a.diagnosis.confidence, 0.8, 0.95);
    assert!(
        a.diagnosis.summary.contains("1 of 3 pods not ready"),
        "{}",
        a.diagnosis.summary
    );
}

#[test]
fn every_replica_hung_gets_a_rolling_restart() {
    let a = worker(&[
        "orders-worker-7b8c9d6f5-aaaaa",
        "orders-worker-7b8c9d6f5-bbbbb",
        "orders-worker-7b8c9d6f5-ccccc",
    ])
    .analyze();
    assert_eq!(a.diagnosis.category, Category::Hang, "{a:#?}");
    assert_eq!(
        first(&a),
        &Action::RolloutRestart {
            target: deployment("shop", "orders-worker")
        }
    );
    assert!(
        a.plans
            .iter()
            .filter(|p| matches!(p.action, Action::RestartPod { .. }))
            .count()
            == 3
    );
    between(a.diagnosis.confidence, 0.6, 0.85);
}

#[test]
fn auth_failures_before_a_crash_are_noted() {
    let w = deployment("shop", "checkout");
    let a = Bundle::on(w.clone())
        .rollout(w.clone(), vec![rev(1, IMAGE, -9000, 0, &[])])
        .container(
            Ctr::running("shop", "checkout-6d5f8c7b9-aaaaa", "checkout", IMAGE)
                .waiting("CrashLoopBackOff", None)
                .restarted(6, "Error", 1, 18),
        )
        .logs(
            "shop",
            "checkout-6d5f8c7b9-aaaaa",
            true,
            &[
                "ERROR pq: password authentication failed for user \"checkout\"",
                "FATAL cannot start without a database",
            ],
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::Crash);
    assert!(
        a.notes.iter().any(|n| n.contains("credentials")),
        "{:?}",
        a.notes
    );
    assert!(changes_nothing(&a));
}

/// quotes, a StatefulSet of three at its cpu limit (throttled, shedding load); `flapping` is
/// the replica that answers its readiness probe too slowly, with `its_logs`.
fn overloaded_quotes(its_logs: &[&str]) -> Bundle {
    let w = statefulset("pricing", "quotes");
    let image = "registry.local/pricing/quotes:3.0.4";
    let mut b = Bundle::on(w.clone())
        .rollout(w.clone(), vec![rev(1, image, -9000, 3, &[])])
        .workload(w, 3, 2, vec![spec("quotes", image, "512Mi", "1")]);
    for p in ["quotes-0", "quotes-1", "quotes-2"] {
        let flapping = p == "quotes-1";
        let ctr = Ctr::running("pricing", p, "quotes", image);
        b = b
            .container(if flapping { ctr.not_ready() } else { ctr })
            .metric(
                pod("pricing", p),
                Met::new(
                    "container_cpu_usage_seconds_total",
                    if flapping { 0.3 } else { 1.0 },
                )
                .limit(1.0)
                .window(0),
            )
            .signal(
                "CPUThrottlingHigh",
                true,
                &[("namespace", "pricing"), ("pod", p)],
                9,
            );
        if flapping {
            b = b
                .pod_warning(
                    "pricing",
                    p,
                    "Unhealthy",
                    "Readiness probe failed: Get \"http://10.1.0.9:8080/ready\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                    10,
                    6,
                )
                .logs("pricing", p, false, its_logs);
        }
    }
    b
}

/// Readiness timeouts on a workload at its cpu limit, from a pod that keeps logging its work
/// and the requests it sheds: overload, not a hang; restarting the pod would only move its
/// load to the others.
#[test]
fn readiness_timeouts_under_overload_are_not_a_hang() {
    let a = overloaded_quotes(&[
        "WARN request queue depth 1200 exceeds soft limit, shedding load",
        "ERROR GET /api/v1/orders status=503 duration_ms=1800 error=\"overloaded\"",
        "INFO GET /api/v1/items status=200 duration_ms=640",
    ])
    .analyze();
    assert_ne!(a.diagnosis.category, Category::Hang, "{a:#?}");
    assert!(
        a.plans.iter().all(|p| !matches!(
            p.action,
            Action::RestartPod { .. } | Action::RolloutRestart { .. }
        )),
        "{a:#?}"
    );
}

/// A pod that went silent is stuck, whatever the load on the others.
#[test]
fn a_silent_pod_on_a_busy_workload_is_still_a_hang() {
    let a = overloaded_quotes(&[]).analyze();
    assert_eq!(a.diagnosis.category, Category::Hang, "{a:#?}");
}
