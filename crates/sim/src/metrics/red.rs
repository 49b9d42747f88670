//! RED metrics of the applications: requests served by status code and their latency
//! histogram, per container, and the requests services make to each other, by outcome.

use super::{Samples, l};
use crate::world::{ContainerRuntime, LATENCY_BUCKETS, World};

/// `http_requests_total` and `http_request_duration_seconds` of one container serving `service`.
pub(super) fn http(out: &mut Samples, ns: &str, pod: &str, service: &str, c: &ContainerRuntime) {
    for (code, n) in &c.requests {
        if *code == 0 {
            continue;
        }
        out.push(
            "http_requests_total",
            l(&[
                ("namespace", ns),
                ("pod", pod),
                ("service", service),
                ("code", &code.to_string()),
            ]),
            n.floor(),
        );
    }
    let total: f64 = c
        .requests
        .iter()
        .filter(|(k, _)| **k != 0)
        .map(|(_, v)| v)
        .sum();
    if total > 0.0 {
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            out.push(
                "http_request_duration_seconds_bucket",
                l(&[
                    ("namespace", ns),
                    ("pod", pod),
                    ("service", service),
                    ("le", &format_le(*b)),
                ]),
                c.latency_buckets[i].floor(),
            );
        }
        out.push(
            "http_request_duration_seconds_bucket",
            l(&[
                ("namespace", ns),
                ("pod", pod),
                ("service", service),
                ("le", "+Inf"),
            ]),
            total.floor(),
        );
        out.push(
            "http_request_duration_seconds_sum",
            l(&[("namespace", ns), ("pod", pod), ("service", service)]),
            c.latency_sum,
        );
        out.push(
            "http_request_duration_seconds_count",
            l(&[("namespace", ns), ("pod", pod), ("service", service)]),
            total.floor(),
        );
    }
}

/// `service_client_requests_total`, from every caller to every service.
pub(super) fn client_requests(out: &mut Samples, world: &World) {
    for ((ns, svc, cns, caller, outcome), v) in &world.client_requests {
        out.push(
            "service_client_requests_total",
            l(&[
                ("namespace", ns),
                ("service", svc),
                ("caller_namespace", cns),
                ("caller", caller),
                ("outcome", outcome),
            ]),
            v.floor(),
        );
    }
}

fn format_le(b: f64) -> String {
    let s = format!("{b}");
    if s.contains('.') { s } else { format!("{s}.0") }
}
