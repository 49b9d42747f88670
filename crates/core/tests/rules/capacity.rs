//! capacity/traffic-surge and config/probe: both want more replicas, for different reasons.

use nightshift_core::{Action, Category};

use super::support::*;

#[test]
fn traffic_surge_scales_up_to_bring_cpu_under_the_limit() {
    let w = deployment("shop", "storefront");
    let image = "registry.local/shop/storefront:5.2.0";
    let mut b = Bundle::on(w.clone())
        .rollout(w.clone(), vec![rev(1, image, -9000, 2, &[])])
        .workload(
            w.clone(),
            2,
            2,
            vec![spec("storefront", image, "256Mi", "500m")],
        )
        .metric(
            w.clone(),
            Met::new("http_requests_per_second", 500.0).range(100.0, 510.0, 20.0),
        )
        .metric(
            w.clone(),
            Met::new("error_ratio", 0.12).range(0.001, 0.14, 0.01),
        )
        .metric(
            w.clone(),
            Met::new("http_request_duration_seconds_p99", 2.3).range(0.035, 2.4, 0.1),
        )
        .signal(
            "ContainerCPUSaturated",
            true,
            &[("namespace", "shop"), ("pod", "storefront-5d6c7b8a9-aaaaa")],
            6,
        );
    for p in ["storefront-5d6c7b8a9-aaaaa", "storefront-5d6c7b8a9-bbbbb"] {
        b = b
            .container(Ctr::running("shop", p, "storefront", image))
            .metric(
                pod("shop", p),
                Met::new("container_cpu_usage_seconds_total", 0.5)
                    .range(0.18, 0.5, 0.02)
                    .limit(0.5),
            )
            .metric(pod("shop", p), Met::new("cpu_throttling_ratio", 0.6));
    }
    let a = b.analyze();
    assert_eq!(a.diagnosis.category, Category::TrafficSurge, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, w);
    // 2 replicas at 36% of the limit before a 5x surge need 2 × 1.8 / 0.7 → 6.
    assert_eq!(
        first(&a),
        &Action::Scale {
            target: w,
            replicas: 6
        }
    );
    between(a.diagnosis.confidence, 0.85, 0.95);
    assert!(
        a.diagnosis.summary.contains("no crashes"),
        "{}",
        a.diagnosis.summary
    );
}

#[test]
fn cpu_saturation_without_a_request_rate_is_less_sure_and_doubles() {
    let w = deployment("shop", "storefront");
    let image = "registry.local/shop/storefront:5.2.0";
    let a = Bundle::on(w.clone())
        .workload(
            w.clone(),
            3,
            3,
            vec![spec("storefront", image, "256Mi", "500m")],
        )
        .container(Ctr::running(
            "shop",
            "storefront-5d6c7b8a9-aaaaa",
            "storefront",
            image,
        ))
        .metric(
            pod("shop", "storefront-5d6c7b8a9-aaaaa"),
            Met::new("container_cpu_usage_seconds_total", 0.49)
                .limit(0.5)
                .window(0),
        )
        .analyze();
    assert_eq!(a.diagnosis.category, Category::TrafficSurge);
    assert_eq!(
        first(&a),
        &Action::Scale {
            target: w,
            replicas: 6
        }
    );
    between(a.diagnosis.confidence, 0.5, 0.69);
}

/// search-api whose liveness probe (1s) times out under load; `revisions` is its history.
fn probe_killed(revisions: Vec<nightshift_core::evidence::RevisionSummary>) -> Bundle {
    probe_killed_seen(revisions, true)
}

/// The same, with or without latency and cpu metrics in the evidence.
fn probe_killed_seen(
    revisions: Vec<nightshift_core::evidence::RevisionSummary>,
    metrics: bool,
) -> Bundle {
    let w = deployment("search", "search-api");
    let image = "registry.local/search/search-api:4.1.0";
    let mut b = Bundle::on(w.clone())
        .rollout(w.clone(), revisions)
        .workload(
            w.clone(),
            2,
            1,
            vec![with_liveness(spec("search-api", image, "512Mi", "1"), 1)],
        );
    if metrics {
        b = b.metric(
            w.clone(),
            Met::new("http_request_duration_seconds_p99", 0.95).range(0.6, 1.2, 0.0),
        );
    }
    for p in ["search-api-6f5e4d3c2-aaaaa", "search-api-6f5e4d3c2-bbbbb"] {
        b = b
            .container(
                Ctr::running("search", p, "search-api", image)
                    .restarted(3, "Error", 137, 17)
                    .started(17),
            )
            .metric_if(
                metrics,
                pod("search", p),
                Met::new("container_cpu_usage_seconds_total", 0.75).limit(1.0),
            )
            .pod_warning(
                "search",
                p,
                "Unhealthy",
                "Liveness probe failed: Get \"http://10.1.0.7:8080/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                12,
                3,
            )
            .pod_normal(
                "search",
                p,
                "Killing",
                "Container search-api failed liveness probe, will be restarted",
                3,
                4,
            );
    }
    b
}

#[test]
fn liveness_probe_timing_out_under_load_scales_up_and_asks_for_a_probe_fix() {
    let w = deployment("search", "search-api");
    let a = probe_killed(vec![rev(
        1,
        "registry.local/search/search-api:4.1.0",
        -9000,
        2,
        &[],
    )])
    .analyze();
    assert_eq!(a.diagnosis.category, Category::Probe, "{a:#?}");
    assert_eq!(a.diagnosis.root_cause, w);
    assert_eq!(
        first(&a),
        &Action::Scale {
            target: w,
            replicas: 4
        }
    );
    assert!(
        matches!(&a.plans[1].action, Action::Escalate { reason } if reason.contains("timeoutSeconds")),
        "{a:#?}"
    );
    between(a.diagnosis.confidence, 0.8, 0.95);
}

#[test]
fn liveness_timeouts_on_every_replica_scale_up_even_without_metrics() {
    let w = deployment("search", "search-api");
    let a = probe_killed_seen(
        vec![rev(
            1,
            "registry.local/search/search-api:4.1.0",
            -9000,
            2,
            &[],
        )],
        false,
    )
    .analyze();
    assert_eq!(a.diagnosis.category, Category::Probe, "{a:#?}");
    assert!(
        matches!(first(&a), Action::Scale { target, replicas } if *target == w && *replicas > 2),
        "{a:#?}"
    );
    assert!(a.plans[0].confidence >= 0.7, "{a:#?}");
}

#[test]
fn a_probe_added_by_a_rollout_that_times_out_is_the_probe_even_without_metrics() {
    let w = deployment("search", "search-api");
    let image = "registry.local/search/search-api:4.1.0";
    let a = probe_killed_seen(
        vec![
            rev(2, image, 1, 2, &["liveness probe None -> Some(1s)"]),
            rev(1, image, -9000, 0, &[]),
        ],
        false,
    )
    .analyze();
    assert_eq!(a.diagnosis.category, Category::Probe, "{a:#?}");
    assert!(
        matches!(first(&a), Action::Scale { target, .. } if *target == w),
        "{a:#?}"
    );
}

#[test]
fn a_probe_tightened_by_a_rollout_is_still_the_probe_and_scales_up() {
    let w = deployment("search", "search-api");
    let image = "registry.local/search/search-api:4.1.0";
    let a = probe_killed(vec![
        rev(2, image, 1, 2, &["livenessProbe timeoutSeconds 10 -> 1"]),
        rev(1, image, -9000, 0, &[]),
    ])
    .analyze();
    assert_eq!(a.diagnosis.category, Category::Probe, "{a:#?}");
    assert_eq!(
        first(&a),
        &Action::Scale {
            target: w,
            replicas: 4
        }
    );
    assert!(
        matches!(&a.plans[1].action, Action::Escalate { reason } if reason.contains("revision 2 changed it")),
        "{a:#?}"
    );
    assert!(
        a.plans
            .iter()
            .all(|p| !matches!(p.action, Action::RolloutRestart { .. }))
    );
}

/// What the agent's collector gives today: instant usage from metrics.k8s.io and alerts.
fn storefront_saturated(replicas: i32) -> Bundle {
    let w = deployment("shop", "storefront");
    let image = "registry.local/shop/storefront:5.2.0";
    let mut b = Bundle::on(w.clone())
        .signal(
            "HighErrorRate",
            true,
            &[("namespace", "shop"), ("service", "storefront")],
            6,
        )
        .signal(
            "HighLatency",
            true,
            &[("namespace", "shop"), ("service", "storefront")],
            7,
        )
        .workload(
            w.clone(),
            replicas,
            replicas,
            vec![spec("storefront", image, "256Mi", "500m")],
        )
        .rollout(w, vec![rev(1, image, -9000, replicas, &[])]);
    for i in 0..replicas {
        let p = format!("storefront-5d6c7b8a9-p{i:04}");
        b = b
            .container(Ctr::running("shop", &p, "storefront", image))
            .metric(
                pod("shop", &p),
                Met::new("container_cpu_usage_millicores", 497.0)
                    .limit(500.0)
                    .window(0),
            );
    }
    b
}

#[test]
fn saturation_with_error_and_latency_alerts_is_enough_to_scale() {
    let a = storefront_saturated(2).analyze();
    assert_eq!(a.diagnosis.category, Category::TrafficSurge, "{a:#?}");
    assert_eq!(
        first(&a),
        &Action::Scale {
            target: deployment("shop", "storefront"),
            replicas: 4
        }
    );
    between(a.plans[0].confidence, 0.7, 0.85);
}

#[test]
fn after_scaling_did_not_suffice_a_larger_scale_is_a_new_step() {
    let a = storefront_saturated(4)
        .tried(&Action::Scale {
            target: deployment("shop", "storefront"),
            replicas: 4,
        })
        .analyze();
    assert_eq!(
        first(&a),
        &Action::Scale {
            target: deployment("shop", "storefront"),
            replicas: 8
        },
        "{a:#?}"
    );
}

#[test]
fn a_surge_soon_after_an_unrelated_rollout_is_still_a_surge_when_requests_tell() {
    let w = deployment("shop", "storefront");
    let old = "registry.local/shop/storefront:5.2.0";
    let new = "registry.local/shop/storefront:5.2.1";
    let mut b = Bundle::on(w.clone())
        .signal(
            "HighErrorRate",
            true,
            &[("namespace", "shop"), ("service", "storefront")],
            12,
        )
        .workload(
            w.clone(),
            2,
            2,
            vec![spec("storefront", new, "256Mi", "500m")],
        )
        .rollout(
            w.clone(),
            vec![
                rev(
                    2,
                    new,
                    5,
                    2,
                    &["image storefront:5.2.0 -> storefront:5.2.1"],
                ),
                rev(1, old, -9000, 0, &[]),
            ],
        )
        .metric(
            w.clone(),
            Met::new("http_requests_per_second", 400.0).range(100.0, 410.0, 15.0),
        );
    for p in ["storefront-6e7f8a9b1-aaaaa", "storefront-6e7f8a9b1-bbbbb"] {
        b = b
            .container(Ctr::running("shop", p, "storefront", new).started(6))
            .metric(
                pod("shop", p),
                Met::new("container_cpu_usage_millicores", 500.0)
                    .limit(500.0)
                    .window(0),
            )
            .logs(
                "shop",
                p,
                false,
                &[
                    "ERROR GET /products status=503 duration_ms=2400",
                    "ERROR GET /cart status=503 duration_ms=2100",
                    "ERROR GET / status=503 duration_ms=1900",
                ],
            );
    }
    let a = b.analyze();
    assert_eq!(a.diagnosis.category, Category::TrafficSurge, "{a:#?}");
    assert!(matches!(first(&a), Action::Scale { replicas, .. } if *replicas >= 4));
    assert!(
        a.notes
            .iter()
            .any(|n| n.contains("runner-up: deploy/bad-release")),
        "{:?}",
        a.notes
    );
}

/// invoices-api, three replicas at 93% of their cpu limit, with its usual small error rate;
/// its pods started at t(0) and the load alerts began `alerts_from` minutes later.
fn busy_since_start(alerts_from: i64) -> Bundle {
    let w = deployment("billing", "invoices-api");
    let image = "registry.local/billing/invoices-api:4.1.0";
    let mut b = Bundle::on(w.clone())
        .rollout(w.clone(), vec![rev(1, image, 0, 3, &[])])
        .workload(
            w.clone(),
            3,
            3,
            vec![spec("invoices-api", image, "512Mi", "500m")],
        )
        .signal(
            "HighLatency",
            true,
            &[("namespace", "billing"), ("service", "invoices-api")],
            alerts_from + 1,
        );
    for p in [
        "invoices-api-7c9d8b6f5-aaaaa",
        "invoices-api-7c9d8b6f5-bbbbb",
        "invoices-api-7c9d8b6f5-ccccc",
    ] {
        b = b
            .container(Ctr::running("billing", p, "invoices-api", image).started(0))
            .metric(
                pod("billing", p),
                Met::new("container_cpu_usage_seconds_total", 0.465)
                    .limit(0.5)
                    .window(0),
            )
            .signal(
                "ContainerCPUSaturated",
                true,
                &[("namespace", "billing"), ("pod", p)],
                alerts_from,
            );
    }
    b
}

#[test]
fn a_workload_at_its_limit_since_it_started_has_not_been_surged() {
    let a = busy_since_start(3).analyze();
    assert_ne!(a.diagnosis.category, Category::TrafficSurge, "{a:#?}");
    assert!(
        !a.plans
            .iter()
            .any(|p| matches!(p.action, Action::Scale { .. })),
        "{a:#?}"
    );
}

#[test]
fn load_alerts_after_a_stretch_of_normal_service_are_a_surge() {
    let a = busy_since_start(9).analyze();
    assert_eq!(a.diagnosis.category, Category::TrafficSurge, "{a:#?}");
    assert!(matches!(first(&a), Action::Scale { .. }), "{a:#?}");
}

#[test]
fn a_flat_request_rate_at_the_cpu_limit_is_not_a_surge() {
    let w = deployment("billing", "invoices-api");
    let image = "registry.local/billing/invoices-api:4.1.0";
    let p = "invoices-api-7c9d8b6f5-aaaaa";
    let a = Bundle::on(w.clone())
        .workload(
            w.clone(),
            1,
            1,
            vec![spec("invoices-api", image, "512Mi", "500m")],
        )
        .container(Ctr::running("billing", p, "invoices-api", image))
        .metric(
            w.clone(),
            Met::new("http_requests_per_second", 240.0).range(236.0, 244.0, 0.0),
        )
        .metric(
            w.clone(),
            Met::new("error_ratio", 0.008).range(0.007, 0.009, 0.0),
        )
        .metric(
            pod("billing", p),
            Met::new("container_cpu_usage_seconds_total", 0.47)
                .range(0.46, 0.48, 0.0)
                .limit(0.5),
        )
        .signal(
            "ContainerCPUSaturated",
            true,
            &[("namespace", "billing"), ("pod", p)],
            6,
        )
        .analyze();
    assert_ne!(a.diagnosis.category, Category::TrafficSurge, "{a:#?}");
}
