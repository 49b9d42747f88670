//! deploy/bad-release, deploy/image-pull, config/missing-reference, config/scheduling.

use nightshift_core::{Action, Category};

use super::support::*;

const OLD: &str = "registry.local/shop/checkout:2.3.1";
const NEW: &str = "registry.local/shop/checkout:2.4.0";

/// checkout: revision 1 ran for days, revision 2 rolled out at t(10).
fn checkout_rollout(change: &[&str], new_image: &str) -> Bundle {
    Bundle::on(deployment("shop", "checkout"))
        .rollout(
            deployment("shop", "checkout"),
            vec![
                rev(2, new_image, 10, 1, change),
                rev(1, OLD, -3 * 24 * 60, 2, &[]),
            ],
        )
        .container(Ctr::running(
            "shop",
            "checkout-6d5f8c7b9-abcde",
            "checkout",
            OLD,
        ))
        .container(Ctr::running(
            "shop",
            "checkout-6d5f8c7b9-fghij",
            "checkout",
            OLD,
        ))
}

#[test]
fn crash_right_after_a_rollout_is_a_bad_release_not_an_app_crash() {
    let a = checkout_rollout(&["image checkout:2.3.1 -> checkout:2.4.0"], NEW)
        .container(
            Ctr::running("shop", "checkout-7f9c6d8b4-vwxyz", "checkout", NEW)
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
            11,
        )
        .logs(
            "shop",
            "checkout-7f9c6d8b4-vwxyz",
            true,
            &[
                "INFO checkout 2.4.0 starting",
                "FATAL schema check failed: database is at version 57, expected 58",
            ],
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::BadRelease, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, deployment("shop", "checkout"));
    assert_eq!(
        first(&a),
        &Action::Rollback {
            target: deployment("shop", "checkout"),
            revision: Some(1)
        }
    );
    between(a.diagnosis.confidence, 0.8, 0.95);
    between(a.plans[0].confidence, 0.8, 0.95);
    assert!(
        a.diagnosis.summary.contains("revision 2"),
        "{}",
        a.diagnosis.summary
    );
    assert!(
        a.diagnosis.summary.contains("FATAL"),
        "{}",
        a.diagnosis.summary
    );
    assert!(a.diagnosis.evidence.len() >= 3);
}

#[test]
fn errors_after_a_completed_rollout_roll_back() {
    let api = deployment("payments", "payments-api");
    let new = "registry.local/payments/payments-api:1.8.0";
    let mut b = Bundle::on(api.clone())
        .rollout(
            api.clone(),
            vec![
                rev(
                    2,
                    new,
                    4,
                    3,
                    &["image payments-api:1.7.4 -> payments-api:1.8.0"],
                ),
                rev(
                    1,
                    "registry.local/payments/payments-api:1.7.4",
                    -10 * 24 * 60,
                    0,
                    &[],
                ),
            ],
        )
        .metric(
            api.clone(),
            Met::new("error_ratio", 0.48).range(0.001, 0.52, 0.01),
        )
        .signal(
            "HighErrorRate",
            true,
            &[("namespace", "payments"), ("service", "payments-api")],
            7,
        );
    for p in [
        "payments-api-5c7d9f8b6-aaaaa",
        "payments-api-5c7d9f8b6-bbbbb",
        "payments-api-5c7d9f8b6-ccccc",
    ] {
        b = b
            .container(Ctr::running("payments", p, "payments-api", new).started(5))
            .logs(
                "payments",
                p,
                false,
                &[
                    "ERROR POST /v1/charges status=500 error=\"json: cannot unmarshal string\"",
                    "INFO POST /v1/charges status=201",
                    "ERROR POST /v1/charges status=500 error=\"json: cannot unmarshal string\"",
                    "ERROR POST /v1/charges status=500 error=\"json: cannot unmarshal string\"",
                ],
            );
    }
    let a = b.analyze();
    assert_eq!(a.diagnosis.category, Category::BadRelease, "{a:#?}");
    assert_eq!(
        first(&a),
        &Action::Rollback {
            target: api,
            revision: Some(1)
        }
    );
    between(a.diagnosis.confidence, 0.7, 0.95);
    assert!(
        a.diagnosis.summary.contains("serving errors"),
        "{}",
        a.diagnosis.summary
    );
}

#[test]
fn image_pull_error_from_a_new_revision_rolls_back() {
    let catalog = deployment("shop", "catalog");
    let bad = "registry.local/shop/catalog:3.1.0-rcl";
    let message = format!(
        "Failed to pull image \"{bad}\": rpc error: code = NotFound desc = failed to resolve reference \"{bad}\": {bad}: not found"
    );
    let a = Bundle::on(catalog.clone())
        .rollout(
            catalog.clone(),
            vec![
                rev(3, bad, 2, 1, &["image catalog:3.0.4 -> catalog:3.1.0-rcl"]),
                rev(2, "registry.local/shop/catalog:3.0.4", -2000, 3, &[]),
            ],
        )
        .container(Ctr::running(
            "shop",
            "catalog-59c8d7f6b-aaaaa",
            "catalog",
            "registry.local/shop/catalog:3.0.4",
        ))
        .container(
            Ctr::running("shop", "catalog-8b7f6d5c4-zzzzz", "catalog", bad)
                .pending()
                .waiting(
                    "ImagePullBackOff",
                    Some(&format!("Back-off pulling image \"{bad}\"")),
                ),
        )
        .pod_warning("shop", "catalog-8b7f6d5c4-zzzzz", "Failed", &message, 4, 3)
        .analyze();
    assert_eq!(a.diagnosis.category, Category::ImagePull, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, catalog);
    assert_eq!(
        first(&a),
        &Action::Rollback {
            target: catalog,
            revision: Some(2)
        }
    );
    between(a.diagnosis.confidence, 0.8, 0.95);
    assert!(
        a.diagnosis.summary.contains("not found"),
        "{}",
        a.diagnosis.summary
    );
}

#[test]
fn image_pull_error_on_a_long_running_revision_escalates() {
    let a = Bundle::on(deployment("shop", "checkout"))
        .rollout(deployment("shop", "checkout"), vec![rev(1, OLD, -5000, 2, &[])])
        .container(
            Ctr::running("shop", "checkout-6d5f8c7b9-abcde", "checkout", OLD)
                .waiting("ErrImagePull", Some("pull access denied for registry.local/shop/checkout, repository does not exist or may require 'docker login'")),
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::ImagePull);
    assert!(
        matches!(first(&a), Action::Escalate { reason } if reason.contains("credentials")),
        "{a:#?}"
    );
    assert!(changes_nothing(&a));
}

#[test]
fn missing_secret_added_by_a_rollout_rolls_back() {
    let a = checkout_rollout(&["+envFrom secret/checkout-tls"], OLD)
        .container(
            Ctr::running("shop", "checkout-7f9c6d8b4-vwxyz", "checkout", OLD)
                .pending()
                .waiting(
                    "CreateContainerConfigError",
                    Some("secret \"checkout-tls\" not found"),
                ),
        )
        .pod_warning(
            "shop",
            "checkout-7f9c6d8b4-vwxyz",
            "Failed",
            "Error: secret \"checkout-tls\" not found",
            5,
            11,
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::MissingReference, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, deployment("shop", "checkout"));
    assert_eq!(
        first(&a),
        &Action::Rollback {
            target: deployment("shop", "checkout"),
            revision: Some(1)
        }
    );
    between(a.diagnosis.confidence, 0.85, 0.95);
    assert!(
        a.diagnosis.summary.contains("secret shop/checkout-tls"),
        "{}",
        a.diagnosis.summary
    );
}

#[test]
fn missing_secret_deleted_under_a_running_revision_escalates() {
    let orders = deployment("shop", "orders");
    let image = "registry.local/shop/orders:7.1.0";
    let mut b = Bundle::on(orders.clone())
        .rollout(orders.clone(), vec![rev(1, image, -20 * 24 * 60, 0, &[])])
        .workload(
            orders.clone(),
            2,
            0,
            vec![with_refs(
                spec("orders", image, "384Mi", "750m"),
                &["secret/orders-db", "configmap/orders-config"],
            )],
        );
    for p in ["orders-5f6d7c8b9-aaaaa", "orders-5f6d7c8b9-bbbbb"] {
        b = b
            .container(Ctr::running("shop", p, "orders", image).pending().waiting(
                "CreateContainerConfigError",
                Some("secret \"orders-db\" not found"),
            ))
            .pod_warning(
                "shop",
                p,
                "Failed",
                "Error: secret \"orders-db\" not found",
                8,
                5,
            );
    }
    let a = b.analyze();
    assert_eq!(a.diagnosis.category, Category::MissingReference, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, orders);
    assert!(
        matches!(first(&a), Action::Escalate { reason } if reason.contains("orders-db") && reason.contains("restore")),
        "{a:#?}"
    );
    assert!(
        changes_nothing(&a),
        "no rollback when the reference is old: {a:#?}"
    );
    between(a.diagnosis.confidence, 0.8, 0.95);
}

#[test]
fn unschedulable_pods_of_a_new_revision_roll_back() {
    let rec = deployment("shop", "recommender");
    let image = "registry.local/shop/recommender:1.4.0";
    let a = Bundle::on(rec.clone())
        .rollout(
            rec.clone(),
            vec![
                rev(2, image, 3, 0, &["nodeSelector +nvidia.com/gpu.present=true"]),
                rev(1, image, -4000, 2, &[]),
            ],
        )
        .container(Ctr::running("shop", "recommender-6b5c4d3f2-aaaaa", "recommender", image))
        .container(Ctr::running("shop", "recommender-6b5c4d3f2-bbbbb", "recommender", image))
        .pod_warning(
            "shop",
            "recommender-9d8c7b6f5-qqqqq",
            "FailedScheduling",
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
            7,
            3,
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::Scheduling, "{a:#?}");
    assert_eq!(
        first(&a),
        &Action::Rollback {
            target: rec,
            revision: Some(1)
        }
    );
    between(a.diagnosis.confidence, 0.8, 0.95);
    assert!(
        a.diagnosis.summary.contains("node selector"),
        "{}",
        a.diagnosis.summary
    );
}

#[test]
fn unschedulable_without_a_rollout_escalates() {
    let a = Bundle::on(deployment("shop", "recommender"))
        .rollout(
            deployment("shop", "recommender"),
            vec![rev(
                1,
                "registry.local/shop/recommender:1.4.0",
                -4000,
                2,
                &[],
            )],
        )
        .pod_warning(
            "shop",
            "recommender-6b5c4d3f2-ccccc",
            "FailedScheduling",
            "0/3 nodes are available: 3 Insufficient cpu.",
            3,
            12,
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::Scheduling);
    assert!(
        matches!(first(&a), Action::Escalate { reason } if reason.contains("insufficient cpu")),
        "{a:#?}"
    );
    assert!(changes_nothing(&a));
}

#[test]
fn pods_of_a_new_revision_that_hang_are_a_bad_release_not_an_app_hang() {
    let a = checkout_rollout(&["image checkout:2.3.1 -> checkout:2.4.0"], NEW)
        .container(
            Ctr::running("shop", "checkout-7f9c6d8b4-vwxyz", "checkout", NEW)
                .not_ready()
                .started(11),
        )
        .pod_warning(
            "shop",
            "checkout-7f9c6d8b4-vwxyz",
            "Unhealthy",
            "Readiness probe failed: Get \"http://10.1.0.3:8080/ready\": context deadline exceeded",
            30,
            12,
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::BadRelease, "{a:#?}");
    assert_eq!(
        first(&a),
        &Action::Rollback {
            target: deployment("shop", "checkout"),
            revision: Some(1)
        }
    );
    between(a.diagnosis.confidence, 0.75, 0.95);
}
