//! A running container's second: the application model's answer given the faults and the
//! traffic, the log source it prints from, its counters, and its exit (a crash with its last
//! words, or an OOM kill the kernel reports).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Container;
use nightshift_scenario::{Dependency, LogTemplate, RolloutEffect};

use super::Traffic;
use super::containers::terminate;
use super::probes::probe;
use crate::app::{self, Condition, Inputs};
use crate::events::{EventType, ObjectRef, Source};
use crate::logs::LineSource;
use crate::quantity;
use crate::store::Store;
use crate::world::{CState, ImageProfile, LATENCY_BUCKETS, PodRuntime, WorkloadModel, World};

/// Runs container `ci` of the pod `pr` for `dt` seconds ending at `now`.
pub(super) fn run_container(
    world: &mut World,
    store: &Store,
    cref: &ObjectRef,
    pr: &mut PodRuntime,
    ci: usize,
    cspec: &Container,
    model: &WorkloadModel,
    traffic: &Traffic,
    (now, dt): (i64, f64),
) {
    if let Some(script) = pr.containers[ci].script.clone() {
        return run_script(world, store, cref, pr, ci, &script, now);
    }
    let workload = pr.workload.clone().unwrap_or_default();
    let image = pr.containers[ci].image.clone();
    let profile = world
        .registry
        .get(&image)
        .cloned()
        .unwrap_or(ImageProfile::Healthy);
    let limits = cspec.resources.as_ref().and_then(|r| r.limits.as_ref());
    let memory_limit = limits
        .and_then(|l| l.get("memory"))
        .and_then(|q| quantity::memory(&q.0));
    let cpu_limit = limits
        .and_then(|l| l.get("cpu"))
        .and_then(|q| quantity::cpu(&q.0));
    let f = &world.faults;
    let mut rps_total = model.behavior.rps;
    if let Some((factor, until)) = f.surge.get(&workload)
        && until.is_none_or(|u| now < u)
    {
        rps_total *= factor;
    }
    let rps = traffic.per_replica(world, &workload, model, rps_total);
    let crash = f
        .crash
        .get(&workload)
        .and_then(|(img, code, after, count)| {
            if *img != image {
                return None;
            }
            if let Some(n) = count {
                // The pod being synced is out of `world.pods` (see `sync`): it joins here.
                let mut names: Vec<&str> = world
                    .pods
                    .values()
                    .chain(std::iter::once(&*pr))
                    .filter(|p| {
                        p.workload.as_deref() == Some(workload.as_str())
                            && p.stopping_since.is_none()
                    })
                    .map(|p| p.name.as_str())
                    .collect();
                names.sort_unstable();
                if !names.iter().take(*n as usize).any(|x| *x == pr.name) {
                    return None;
                }
            }
            Some((*code, *after))
        });
    let transient = f
        .transient
        .get(&workload)
        .filter(|(_, end)| now < *end)
        .map(|(r, _)| *r);
    let t = app::tick(&Inputs {
        model,
        profile: &profile,
        instance: pr.containers[ci].running().expect("running"),
        now_ms: now,
        memory_limit,
        cpu_limit,
        rps,
        memory_need: f.memory_need.get(&workload).copied(),
        leak: f.leak.get(&workload).copied(),
        crash,
        transient,
    });
    // Dependencies the container cannot reach.
    let mut failing: Vec<String> = Vec::new();
    for d in &model.depends_on {
        let down = match d {
            Dependency::InCluster { namespace, name } => {
                traffic
                    .ready
                    .get(&format!("{namespace}/{name}"))
                    .copied()
                    .unwrap_or(0)
                    == 0
            }
            Dependency::External { .. } => f
                .external_down
                .get(&d.host_port())
                .is_some_and(|end| end.is_none_or(|e| now < e)),
        };
        if down {
            failing.push(d.host_port());
        }
    }
    // Client-side calls to in-cluster dependencies go on whatever the caller's readiness.
    if t.serving {
        let (cns, caller) = workload.split_once('/').unwrap_or(("", ""));
        let share = model.behavior.rps / f64::from(model.base_replicas.max(1));
        for d in &model.depends_on {
            if let Dependency::InCluster { namespace, name } = d {
                let outcome = if failing.contains(&d.host_port()) {
                    "error"
                } else {
                    "success"
                };
                *world
                    .client_requests
                    .entry((
                        namespace.clone(),
                        name.clone(),
                        cns.to_string(),
                        caller.to_string(),
                        outcome,
                    ))
                    .or_default() += share * dt;
            }
        }
    }
    let f = &world.faults;
    let dep_lines = failing.first().and_then(|_| {
        model.depends_on.iter().find_map(|d| {
            let key = match d {
                Dependency::InCluster { namespace, name } => format!("{namespace}/{name}"),
                Dependency::External { .. } => format!("external/{}", d.host_port()),
            };
            if failing.contains(&d.host_port()) {
                f.logs.get(&(key, "dependency-down")).cloned()
            } else {
                None
            }
        })
    });
    let condition = if t.error_ratio > 0.2 && transient.is_some() {
        Condition::Transient
    } else if matches!(
        profile,
        ImageProfile::Bad {
            effect: RolloutEffect::Errors,
            ..
        }
    ) {
        Condition::Errors
    } else if t.cpu_demand_millis > cpu_limit.map(|l| l as f64).unwrap_or(f64::INFINITY) {
        Condition::Overload
    } else if memory_limit.is_some_and(|l| t.memory_bytes as f64 > l as f64 * 0.85) {
        Condition::Memory
    } else {
        Condition::Normal
    };
    let override_lines = active_override(world, &workload, condition, &profile);
    // A process that stops serving (a hang, or a release that hangs) prints its fault's
    // lines, if the scenario gives any, as its last before it falls silent.
    if !t.serving
        && let Some(log) = pr.containers[ci].log.as_mut()
        && *log.current() != LineSource::Silent
    {
        let fault = if matches!(profile, ImageProfile::Bad { .. }) {
            "bad-rollout"
        } else {
            "hang"
        };
        if let Some(lines) = world.faults.logs.get(&(workload.clone(), fault)) {
            let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(now as u64);
            for (i, l) in lines.iter().enumerate() {
                log.push(now + i as i64, l.render(&mut rng, &model.deps));
            }
        }
    }
    let source = app::log_source(
        model,
        t.serving,
        &failing,
        dep_lines,
        override_lines,
        condition,
    );

    let c = &mut pr.containers[ci];
    if let Some(log) = c.log.as_mut() {
        log.switch(now, source);
    }
    // Counters, integrated over the time since the last sync.
    c.cpu_seconds += t.cpu_used_millis / 1000.0 * dt;
    c.cfs.1 += 10.0 * dt;
    if t.cpu_demand_millis > cpu_limit.map(|l| l as f64).unwrap_or(f64::INFINITY) {
        c.cfs.0 += 10.0
            * dt
            * (1.0 - cpu_limit.unwrap_or(1) as f64 / t.cpu_demand_millis)
                .clamp(0.0, 1.0)
                .max(0.3);
    }
    let served = if t.serving && c.ready() { rps } else { 0.0 };
    if served > 0.0 {
        let served = served * dt;
        let errors = served * t.error_ratio;
        *c.requests.entry(200).or_default() += served - errors;
        if errors > 0.0 {
            let code = if t.cpu_demand_millis > cpu_limit.map(|l| l as f64).unwrap_or(f64::INFINITY)
            {
                503
            } else {
                500
            };
            *c.requests.entry(code).or_default() += errors;
        }
        let secs = t.latency_ms / 1000.0;
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            // Latencies spread around the mean: share below each bound of an exponential.
            c.latency_buckets[i] += served * (1.0 - (-b / secs.max(1e-6)).exp());
        }
        c.latency_sum += served * secs;
        *c.requests.entry(0).or_default() += 0.0;
    }
    let CState::Running(inst) = &mut c.state else {
        unreachable!("checked running")
    };
    inst.memory_bytes = t.memory_bytes;
    inst.cpu_millis = t.cpu_used_millis;
    inst.rps = served;
    inst.error_ratio = t.error_ratio;
    inst.latency_ms = t.latency_ms;
    if let Some((code, reason)) = t.exit {
        let started = inst.started_ms;
        let cid = inst.container_id.clone();
        if reason == "OOMKilled" {
            let node = &pr.node;
            let pid = 1000 + (started % 30_000);
            world.recorder.record(
                store,
                &ObjectRef { api_version: "v1".into(), kind: "Node".into(), namespace: String::new(), name: node.clone(), uid: node.clone(), field_path: None },
                EventType::Warning,
                "OOMKilling",
                &format!(
                    "Memory cgroup out of memory: Killed process {pid} ({}) total-vm:{}kB, anon-rss:{}kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1024kB oom_score_adj:936",
                    c.name,
                    t.memory_bytes / 1024 + 200_000,
                    t.memory_bytes / 1024
                ),
                Source { component: "kernel-monitor", host: Some(node.clone()) },
            );
        } else {
            // A bad release crashes with the lines its fault gives; a crash fault with its own.
            let fault = if matches!(profile, ImageProfile::Bad { .. }) {
                "bad-rollout"
            } else {
                "crash"
            };
            let lines = world
                .faults
                .logs
                .get(&(workload.clone(), fault))
                .cloned()
                .unwrap_or_else(|| crate::logs::builtin(app::CRASH_LINES));
            if let Some(log) = c.log.as_mut() {
                let mut rng =
                    <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(started as u64);
                // The last words come after the last periodic line, then the log ends.
                for (i, l) in lines.iter().enumerate() {
                    log.push(now + 1 + i as i64, l.render(&mut rng, &model.deps));
                }
                log.end(now + 1 + lines.len() as i64);
            }
        }
        terminate(world, store, cref, pr, ci, code, reason, started, cid, now);
        return;
    }
    probe(world, store, cref, pr, ci, cspec, model, &t, &failing, now);
}

/// A container running a command: ready while it runs (the sim runs no probes against a
/// command), and ended with the command's exit code once it has run its course.
fn run_script(
    world: &mut World,
    store: &Store,
    cref: &ObjectRef,
    pr: &mut PodRuntime,
    ci: usize,
    script: &crate::kubelet::script::Script,
    now: i64,
) {
    let CState::Running(inst) = &mut pr.containers[ci].state else {
        return;
    };
    inst.cpu_millis = 5.0;
    inst.memory_bytes = 8 << 20;
    if !inst.ready {
        inst.ready = true;
        pr.dirty = true;
    }
    if now - inst.started_ms < script.duration_ms {
        return;
    }
    let (started, cid) = (inst.started_ms, inst.container_id.clone());
    let reason = if script.exit_code == 0 {
        "Completed"
    } else {
        "Error"
    };
    let end = started.saturating_add(script.duration_ms).min(now);
    terminate(
        world,
        store,
        cref,
        pr,
        ci,
        script.exit_code,
        reason,
        started,
        cid,
        end,
    );
}

/// The log lines a scenario gives for the fault behind `condition`, if it gave any.
fn active_override(
    world: &World,
    workload: &str,
    condition: Condition,
    profile: &ImageProfile,
) -> Option<Arc<Vec<LogTemplate>>> {
    // What a bad release prints is its fault's lines, whatever its symptom.
    if condition != Condition::Normal
        && matches!(profile, ImageProfile::Bad { .. })
        && let Some(lines) = world
            .faults
            .logs
            .get(&(workload.to_string(), "bad-rollout"))
    {
        return Some(lines.clone());
    }
    let kind = match condition {
        Condition::Normal => return None,
        Condition::Transient => "transient",
        Condition::Overload => "traffic-surge",
        Condition::Errors => "bad-rollout",
        Condition::Memory => {
            if world.faults.memory_need.contains_key(workload) {
                "memory-limit"
            } else {
                "memory-leak"
            }
        }
    };
    world
        .faults
        .logs
        .get(&(workload.to_string(), kind))
        .cloned()
}
