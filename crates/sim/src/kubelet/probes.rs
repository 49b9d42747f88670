//! Readiness and liveness probes of a running container, answered from what the application
//! model says it does this second. A failed liveness probe restarts the container.

use k8s_openapi::api::core::v1::{Container, Probe};

use super::containers::terminate;
use crate::app::Tick;
use crate::events::{EventType, ObjectRef, Source};
use crate::store::Store;
use crate::world::{CState, PodRuntime, WorkloadModel, World};

fn probe_timeout_ms(p: &Probe) -> f64 {
    p.timeout_seconds.unwrap_or(1) as f64 * 1000.0
}

/// Probes the running container `ci` of the pod `pr` when its period is due, given the
/// model's answer `t` and the dependencies it cannot reach (`failing`).
pub(super) fn probe(
    world: &mut World,
    store: &Store,
    cref: &ObjectRef,
    pr: &mut PodRuntime,
    ci: usize,
    cspec: &Container,
    model: &WorkloadModel,
    t: &Tick,
    failing: &[String],
    now: i64,
) {
    let readiness = cspec.readiness_probe.as_ref();
    let liveness = cspec.liveness_probe.as_ref();
    let period = readiness
        .or(liveness)
        .and_then(|p| p.period_seconds)
        .unwrap_or(10) as i64
        * 1000;
    let pod_ip = &pr.ip;
    let c = &mut pr.containers[ci];
    let CState::Running(inst) = &mut c.state else {
        unreachable!("checked running")
    };
    let started_up = now - inst.started_ms >= model.behavior.startup.as_millis() as i64;
    if readiness.is_none() && !inst.ready {
        inst.ready = true;
        pr.dirty = true;
    }
    if now < inst.next_probe_ms {
        return;
    }
    inst.next_probe_ms = now + period;
    let mut events: Vec<(EventType, &str, String)> = Vec::new();
    if let Some(p) = readiness {
        let initial = p.initial_delay_seconds.unwrap_or(0) as i64 * 1000;
        if now - inst.started_ms >= initial {
            let timeout = probe_timeout_ms(p);
            let ok = t.serving && failing.is_empty() && started_up && t.latency_ms <= timeout;
            if ok {
                inst.readiness_failures = 0;
                if !inst.ready {
                    inst.ready = true;
                    pr.dirty = true;
                }
            } else if started_up || !t.serving {
                inst.readiness_failures += 1;
                let msg = if !t.serving || t.latency_ms > timeout {
                    format!(
                        "Readiness probe failed: Get \"http://{pod_ip}:8080/ready\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                    )
                } else {
                    "Readiness probe failed: HTTP probe failed with statuscode: 503".to_string()
                };
                events.push((EventType::Warning, "Unhealthy", msg));
                if inst.readiness_failures >= p.failure_threshold.unwrap_or(3) as u32 && inst.ready
                {
                    inst.ready = false;
                    pr.dirty = true;
                }
            }
        }
    }
    let mut kill = false;
    if let Some(p) = liveness {
        let initial = p.initial_delay_seconds.unwrap_or(0) as i64 * 1000;
        if now - inst.started_ms >= initial {
            let timeout = probe_timeout_ms(p);
            if t.serving && t.latency_ms <= timeout {
                inst.liveness_failures = 0;
            } else {
                inst.liveness_failures += 1;
                events.push((
                    EventType::Warning,
                    "Unhealthy",
                    format!(
                        "Liveness probe failed: Get \"http://{pod_ip}:8080/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                    ),
                ));
                if inst.liveness_failures >= p.failure_threshold.unwrap_or(3) as u32 {
                    kill = true;
                }
            }
        }
    }
    let started = inst.started_ms;
    let cid = inst.container_id.clone();
    for (kind, reason, msg) in events {
        world
            .recorder
            .record(store, cref, kind, reason, &msg, Source::kubelet(&pr.node));
    }
    if kill {
        world.recorder.record(
            store,
            cref,
            EventType::Normal,
            "Killing",
            &format!(
                "Container {} failed liveness probe, will be restarted",
                c.name
            ),
            Source::kubelet(&pr.node),
        );
        terminate(world, store, cref, pr, ci, 137, "Error", started, cid, now);
    }
}
