//! dependency/unavailable and operation/scaled-to-zero: the incident is on the caller, the
//! root cause is what it calls.

use nightshift_core::{Action, Category, ResourceRef};

use super::support::*;

const PG_HOST: &str = "postgres.shop.svc.cluster.local:80";

/// orders and orders-worker cannot reach postgres, whose process runs but does not answer.
pub fn postgres_down(with_dependency_item: bool) -> Bundle {
    let orders = deployment("shop", "orders");
    let refused = format!("ERROR db query failed: dial tcp {PG_HOST}: connect: connection refused");
    let retry = format!("WARN retrying database connection to {PG_HOST} (attempt 3/5) in 4s");
    let mut b = Bundle::on(orders.clone())
        .workload(
            statefulset("shop", "postgres"),
            1,
            0,
            vec![spec(
                "postgres",
                "registry.local/shop/postgres:16.4",
                "2Gi",
                "2",
            )],
        )
        .container(
            Ctr::running(
                "shop",
                "postgres-0",
                "postgres",
                "registry.local/shop/postgres:16.4",
            )
            .not_ready(),
        )
        .pod_warning(
            "shop",
            "postgres-0",
            "Unhealthy",
            "Readiness probe failed: Get \"http://10.1.0.4:8080/ready\": context deadline exceeded",
            30,
            3,
        );
    for (p, image) in [
        ("orders-5f6d7c8b9-aaaaa", "registry.local/shop/orders:7.1.0"),
        ("orders-5f6d7c8b9-bbbbb", "registry.local/shop/orders:7.1.0"),
        (
            "orders-worker-7b8c9d6f5-aaaaa",
            "registry.local/shop/orders-worker:3.6.2",
        ),
    ] {
        b = b
            .container(Ctr::running("shop", p, "app", image).not_ready())
            .pod_warning("shop", p, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", 20, 4)
            .logs("shop", p, false, &[&refused, &retry, &refused, "ERROR POST /api/orders status=503 duration_ms=3000 error=\"database unavailable\""]);
    }
    if with_dependency_item {
        b = b.dependency(
            orders,
            PG_HOST,
            Some(ResourceRef::Service {
                namespace: "shop".into(),
                name: "postgres".into(),
            }),
            Some(0),
            &["shop/orders", "shop/orders-worker"],
            48,
        );
    }
    b
}

#[test]
fn dependency_down_roots_at_the_dependency_not_the_caller() {
    let a = postgres_down(true).analyze();
    assert_eq!(
        a.diagnosis.category,
        Category::DependencyUnavailable,
        "{a:#?}"
    );
    assert_eq!(a.diagnosis.root_cause, statefulset("shop", "postgres"));
    // A StatefulSet does not roll past a pod that is not Ready: the pod itself is restarted.
    assert_eq!(
        first(&a),
        &Action::RestartPod {
            namespace: "shop".into(),
            pod: "postgres-0".into()
        }
    );
    between(a.diagnosis.confidence, 0.85, 0.95);
    assert!(
        a.plans.iter().all(|p| p
            .action
            .target()
            .is_none_or(|t| t.locate_key().starts_with("shop/postgres"))),
        "nothing is done to the callers: {a:#?}"
    );
    assert!(
        a.diagnosis.summary.contains("shop/orders"),
        "{}",
        a.diagnosis.summary
    );
}

#[test]
fn dependency_down_is_found_from_caller_logs_alone() {
    let a = postgres_down(false).analyze();
    assert_eq!(
        a.diagnosis.category,
        Category::DependencyUnavailable,
        "{a:#?}"
    );
    assert_eq!(a.diagnosis.root_cause, statefulset("shop", "postgres"));
    // A StatefulSet does not roll past a pod that is not Ready: the pod itself is restarted.
    assert_eq!(
        first(&a),
        &Action::RestartPod {
            namespace: "shop".into(),
            pod: "postgres-0".into()
        }
    );
    between(a.diagnosis.confidence, 0.75, 0.95);
}

#[test]
fn external_dependency_outage_escalates() {
    let api = deployment("payments", "payments-api");
    let host = "api.card-processor.example.com:443";
    let line = format!(
        "ERROR POST /v1/charges status=502 error=\"Post https://{host}/v2/authorize: dial tcp: i/o timeout\" duration_ms=5012"
    );
    let breaker = format!("WARN circuit breaker for {host} is open, failing fast for 20s");
    let mut b = Bundle::on(api.clone())
        .dependency(
            api.clone(),
            host,
            None,
            None,
            &["payments/payments-api"],
            120,
        )
        .metric(
            api.clone(),
            Met::new("error_ratio", 0.4).range(0.001, 0.45, 0.02),
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
    ] {
        b = b
            .container(
                Ctr::running(
                    "payments",
                    p,
                    "payments-api",
                    "registry.local/payments/payments-api:1.7.4",
                )
                .not_ready(),
            )
            .logs("payments", p, false, &[&line, &breaker, &line]);
    }
    let a = b.analyze();
    assert_eq!(
        a.diagnosis.category,
        Category::DependencyUnavailable,
        "{a:#?}"
    );
    assert_eq!(
        a.diagnosis.root_cause,
        ResourceRef::External {
            host_port: host.into()
        }
    );
    assert!(
        matches!(first(&a), Action::Escalate { reason } if reason.contains("outside the cluster")),
        "{a:#?}"
    );
    assert!(changes_nothing(&a));
    between(a.diagnosis.confidence, 0.8, 0.95);
}

#[test]
fn scaled_to_zero_scales_back_to_the_count_it_had() {
    let cart = deployment("shop", "cart");
    let a = Bundle::on(ResourceRef::Service {
        namespace: "shop".into(),
        name: "cart".into(),
    })
    .workload(cart.clone(), 0, 0, vec![spec("cart", "registry.local/shop/cart:1.9.0", "256Mi", "500m")])
    .workload_event(cart.clone(), "ScalingReplicaSet", "Scaled down replica set cart-7c9d8f6b5 from 3 to 0", 3)
    .signal("ServiceNoEndpointsWithCallers", true, &[("namespace", "shop"), ("service", "cart")], 4)
    .container(Ctr::running("shop", "storefront-5d6c7b8a9-aaaaa", "storefront", "registry.local/shop/storefront:5.2.0"))
    .logs(
        "shop",
        "storefront-5d6c7b8a9-aaaaa",
        false,
        &["ERROR GET /cart failed: dial tcp cart.shop.svc.cluster.local:80: connect: connection refused"],
    )
    .analyze();
    assert_eq!(a.diagnosis.category, Category::ScaledToZero, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, cart);
    assert_eq!(
        first(&a),
        &Action::Scale {
            target: cart,
            replicas: 3
        }
    );
    between(a.diagnosis.confidence, 0.85, 0.95);
}

#[test]
fn scaled_to_zero_without_the_old_count_guesses_with_less_confidence() {
    let cart = deployment("shop", "cart");
    let a = Bundle::on(cart.clone())
        .workload(cart.clone(), 0, 0, vec![])
        .signal(
            "ServiceNoEndpointsWithCallers",
            true,
            &[("namespace", "shop"), ("service", "cart")],
            4,
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::ScaledToZero);
    assert_eq!(
        first(&a),
        &Action::Scale {
            target: cart,
            replicas: 2
        }
    );
    between(a.plans[0].confidence, 0.6, 0.72);
    assert!(
        a.diagnosis.summary.contains("guess"),
        "{}",
        a.diagnosis.summary
    );
}

#[test]
fn scaled_to_zero_that_nobody_misses_is_not_scaled_up_first() {
    let cart = deployment("shop", "cart");
    let a = Bundle::on(cart.clone())
        .workload(cart, 0, 0, vec![])
        .analyze();
    assert_eq!(a.diagnosis.category, Category::ScaledToZero);
    assert!(matches!(first(&a), Action::Escalate { .. }), "{a:#?}");
    assert!(a.diagnosis.confidence < 0.5);
}

#[test]
fn a_dependency_with_nothing_of_it_in_the_evidence_is_escalated_before_a_blind_restart() {
    let storefront = deployment("shop", "storefront");
    let a = Bundle::on(storefront.clone())
        .dependency(
            storefront,
            "catalog.shop.svc.cluster.local:80",
            Some(deployment("shop", "catalog")),
            Some(0),
            &["shop/storefront"],
            30,
        )
        .container(
            Ctr::running(
                "shop",
                "storefront-5d6c7b8a9-aaaaa",
                "storefront",
                "registry.local/shop/storefront:5.2.0",
            )
            .not_ready(),
        )
        .analyze();
    assert_eq!(
        a.diagnosis.category,
        Category::DependencyUnavailable,
        "{a:#?}"
    );
    assert_eq!(a.diagnosis.root_cause, deployment("shop", "catalog"));
    assert!(matches!(first(&a), Action::Escalate { .. }), "{a:#?}");
    assert!(matches!(a.plans[1].action, Action::RolloutRestart { .. }));
}

#[test]
fn a_dependency_made_the_incident_root_is_diagnosed_from_its_callers_alerts() {
    let pg = statefulset("shop", "postgres");
    let a = Bundle::on(pg.clone())
        .signal(
            "KubePodNotReady",
            true,
            &[("namespace", "shop"), ("pod", "orders-5f6d7c8b9-aaaaa")],
            6,
        )
        .signal(
            "HighErrorRate",
            true,
            &[("namespace", "shop"), ("service", "orders")],
            6,
        )
        .signal(
            "KubeStatefulSetReplicasMismatch",
            true,
            &[("namespace", "shop"), ("statefulset", "postgres")],
            8,
        )
        .workload(
            pg.clone(),
            1,
            0,
            vec![spec(
                "postgres",
                "registry.local/shop/postgres:16.4",
                "2Gi",
                "2",
            )],
        )
        .container(
            Ctr::running(
                "shop",
                "postgres-0",
                "postgres",
                "registry.local/shop/postgres:16.4",
            )
            .not_ready(),
        )
        .pod_warning(
            "shop",
            "postgres-0",
            "Unhealthy",
            "Readiness probe failed: Get \"http://10.1.0.4:8080/ready\": context deadline exceeded",
            30,
            3,
        )
        .logs(
            "shop",
            "postgres-0",
            false,
            &["LOG:  checkpoint complete: wrote 120 buffers (0.7%)"],
        )
        .analyze();
    assert_eq!(
        a.diagnosis.category,
        Category::DependencyUnavailable,
        "{a:#?}"
    );
    assert_eq!(a.diagnosis.root_cause, pg);
    assert_eq!(
        first(&a),
        &Action::RestartPod {
            namespace: "shop".into(),
            pod: "postgres-0".into()
        }
    );
    assert!(
        a.diagnosis.summary.contains("shop/orders"),
        "{}",
        a.diagnosis.summary
    );
    between(a.diagnosis.confidence, 0.7, 0.9);
}

#[test]
fn an_external_root_with_only_its_callers_alerts_escalates() {
    let host = "api.card-processor.example.com:443";
    let external = ResourceRef::External {
        host_port: host.into(),
    };
    let a = Bundle::on(external.clone())
        .signal(
            "HighErrorRate",
            true,
            &[("namespace", "payments"), ("service", "payments-api")],
            6,
        )
        .dependency(external.clone(), host, None, None, &[], 0)
        .analyze();
    assert_eq!(
        a.diagnosis.category,
        Category::DependencyUnavailable,
        "{a:#?}"
    );
    assert_eq!(a.diagnosis.root_cause, external);
    assert!(matches!(first(&a), Action::Escalate { .. }));
    assert!(changes_nothing(&a));
}

#[test]
fn callers_named_by_their_pods_are_reported_as_workloads() {
    let a = Bundle::on(deployment("shop", "orders"))
        .dependency(
            deployment("shop", "orders"),
            PG_HOST,
            Some(statefulset("shop", "postgres")),
            Some(0),
            &["shop/orders-5f6d7c8b9-aaaaa", "shop/orders-5f6d7c8b9-bbbbb"],
            12,
        )
        .container(
            Ctr::running(
                "shop",
                "postgres-0",
                "postgres",
                "registry.local/shop/postgres:16.4",
            )
            .not_ready(),
        )
        .analyze();
    assert_eq!(a.diagnosis.root_cause, statefulset("shop", "postgres"));
    assert!(
        a.diagnosis.summary.contains("shop/orders fail"),
        "{}",
        a.diagnosis.summary
    );
}

/// A chain: checkout-shipping cannot reach address-service, which is not ready because it
/// cannot reach an external provider. Restarting address-service fixes nothing; the root is
/// the provider, and that is a person's call.
#[test]
fn a_dependency_that_fails_on_its_own_dependency_is_a_symptom_of_the_deeper_one() {
    let shipping = deployment("delivery", "checkout-shipping");
    let address = deployment("delivery", "address-service");
    let host = "api.addressvalidation.example.com:443";
    let upstream = format!(
        "ERROR validate address: Post \"https://{host}/v1/validate\": dial tcp: i/o timeout"
    );
    let to_address =
        "ERROR upstream address-service.delivery.svc.cluster.local:80: connect: connection refused";
    let mut b = Bundle::on(shipping.clone()).workload(
        address.clone(),
        2,
        0,
        vec![spec(
            "address-service",
            "registry.local/delivery/address-service:1.4.0",
            "256Mi",
            "500m",
        )],
    );
    for p in [
        "address-service-6c7d8e9f0-aaaaa",
        "address-service-6c7d8e9f0-bbbbb",
    ] {
        b = b
            .container(
                Ctr::running(
                    "delivery",
                    p,
                    "address-service",
                    "registry.local/delivery/address-service:1.4.0",
                )
                .not_ready(),
            )
            .logs("delivery", p, false, &[&upstream, &upstream, &upstream]);
    }
    for p in [
        "checkout-shipping-5b6c7d8e9-aaaaa",
        "checkout-shipping-5b6c7d8e9-bbbbb",
    ] {
        b = b
            .container(
                Ctr::running(
                    "delivery",
                    p,
                    "checkout-shipping",
                    "registry.local/delivery/checkout-shipping:2.0.1",
                )
                .not_ready(),
            )
            .logs("delivery", p, false, &[to_address, to_address, to_address]);
    }
    let a = b.analyze();
    assert_eq!(
        a.diagnosis.category,
        Category::DependencyUnavailable,
        "{a:#?}"
    );
    assert_eq!(
        a.diagnosis.root_cause,
        ResourceRef::External {
            host_port: host.into()
        },
        "{a:#?}"
    );
    assert!(
        a.plans.iter().all(|p| !p.action.changes_infra()),
        "nothing in the cluster is changed: {a:#?}"
    );
    assert!(
        a.diagnosis.summary.contains("delivery/checkout-shipping"),
        "the whole chain is named: {}",
        a.diagnosis.summary
    );
}
