//! The container state machine: waiting for config references and images, starting, and
//! restarting with exponential back-off after an exit.

use k8s_openapi::api::core::v1::Container;

use super::Traffic;
use super::run::run_container;
use crate::events::{EventType, ObjectRef, Source};
use crate::logs::{LineSource, LogTimeline};
use crate::resources;
use crate::store::Store;
use crate::world::{
    CState, ContainerRuntime, Instance, PodRuntime, Terminated, Waiting, WorkloadModel, World,
};

const MAX_BACKOFF_MS: i64 = 300_000;
pub(super) const INITIAL_BACKOFF_MS: i64 = 10_000;
/// A container that ran this long gets its back-off reset, as the kubelet does.
const BACKOFF_RESET_MS: i64 = 600_000;

impl ContainerRuntime {
    /// Waiting reason as the API shows it.
    pub fn state_reason(&self) -> Option<&'static str> {
        match &self.state {
            CState::Waiting(Waiting::Creating) | CState::Waiting(Waiting::Pulling(_)) => {
                Some("ContainerCreating")
            }
            CState::Waiting(Waiting::ConfigError(_)) => Some("CreateContainerConfigError"),
            CState::Waiting(Waiting::PullBackOff { first: true, .. }) => Some("ErrImagePull"),
            CState::Waiting(Waiting::PullBackOff { first: false, .. }) => Some("ImagePullBackOff"),
            CState::Waiting(Waiting::CrashBackOff(_)) => Some("CrashLoopBackOff"),
            _ => None,
        }
    }
}

/// One second of container `ci` of the pod `pr`: a waiting container moves towards its start,
/// a running one runs.
pub(super) fn step_container(
    world: &mut World,
    store: &Store,
    pod_ref: &ObjectRef,
    pr: &mut PodRuntime,
    ci: usize,
    cspec: &Container,
    model: &WorkloadModel,
    traffic: &Traffic,
    (now, dt): (i64, f64),
) {
    let cref = pod_ref.clone().container(&cspec.name);
    let w = match &pr.containers[ci].state {
        CState::Terminated(_) => return,
        CState::Running(_) => {
            return run_container(
                world,
                store,
                &cref,
                pr,
                ci,
                cspec,
                model,
                traffic,
                (now, dt),
            );
        }
        CState::Waiting(w) => w.clone(),
    };
    let node = pr.node.clone();
    let image = cspec.image.clone().unwrap_or_default();
    let src = || Source::kubelet(&node);
    let start_now = match w {
        Waiting::CrashBackOff(until) => {
            if now >= until {
                true
            } else {
                if now % 10_000 < 1_000 {
                    let c = &pr.containers[ci];
                    world.recorder.record(
                        store,
                        &cref,
                        EventType::Warning,
                        "BackOff",
                        &format!(
                            "Back-off restarting failed container {} in pod {}_{}({})",
                            c.name, pr.name, pr.namespace, pr.uid
                        ),
                        src(),
                    );
                }
                false
            }
        }
        Waiting::Creating | Waiting::ConfigError(_) => {
            let c = &pr.containers[ci];
            if matches!(w, Waiting::ConfigError(_)) && now < c.retry_ms {
                false
            } else if let Some(missing) = missing_reference(store, &pr.namespace, cspec) {
                let c = &mut pr.containers[ci];
                c.retry_ms = now + 10_000;
                let changed = c.state_reason() != Some("CreateContainerConfigError");
                c.state = CState::Waiting(Waiting::ConfigError(missing.clone()));
                pr.dirty |= changed;
                world.recorder.record(
                    store,
                    &cref,
                    EventType::Warning,
                    "Failed",
                    &format!("Error: {missing}"),
                    src(),
                );
                false
            } else {
                let has = world.nodes[&node].images.contains(&image)
                    && cspec.image_pull_policy.as_deref() != Some("Always");
                if has {
                    world.recorder.record(
                        store,
                        &cref,
                        EventType::Normal,
                        "Pulled",
                        &format!("Container image \"{image}\" already present on machine"),
                        src(),
                    );
                    true
                } else {
                    world.recorder.record(
                        store,
                        &cref,
                        EventType::Normal,
                        "Pulling",
                        &format!("Pulling image \"{image}\""),
                        src(),
                    );
                    let pull = 1_000 + (image.len() as i64 * 37) % 2_000;
                    pr.containers[ci].state = CState::Waiting(Waiting::Pulling(now + pull));
                    false
                }
            }
        }
        Waiting::Pulling(done) => {
            if now < done {
                false
            } else if !world.missing_images.contains(&image) {
                world
                    .nodes
                    .get_mut(&node)
                    .expect("node exists")
                    .images
                    .insert(image.clone());
                let secs = 1.0 + ((image.len() * 37) % 2000) as f64 / 1000.0;
                world.recorder.record(
                    store,
                    &cref,
                    EventType::Normal,
                    "Pulled",
                    &format!(
                        "Successfully pulled image \"{image}\" in {secs:.3}s ({secs:.3}s including waiting). Image size: {} bytes.",
                        40_000_000 + image.len() * 1_000_003 % 90_000_000
                    ),
                    src(),
                );
                true
            } else {
                let reference = image.clone();
                let message = format!(
                    "Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{reference}\": failed to resolve reference \"{reference}\": {reference}: not found"
                );
                world
                    .recorder
                    .record(store, &cref, EventType::Warning, "Failed", &message, src());
                world.recorder.record(
                    store,
                    &cref,
                    EventType::Warning,
                    "Failed",
                    "Error: ErrImagePull",
                    src(),
                );
                let c = &mut pr.containers[ci];
                c.pull_backoff_ms = if c.pull_backoff_ms == 0 {
                    INITIAL_BACKOFF_MS
                } else {
                    (c.pull_backoff_ms * 2).min(MAX_BACKOFF_MS)
                };
                c.state = CState::Waiting(Waiting::PullBackOff {
                    first: true,
                    retry_ms: now + c.pull_backoff_ms,
                    message,
                });
                pr.dirty = true;
                false
            }
        }
        Waiting::PullBackOff {
            first,
            retry_ms,
            message,
        } => {
            if now >= retry_ms {
                world.recorder.record(
                    store,
                    &cref,
                    EventType::Normal,
                    "Pulling",
                    &format!("Pulling image \"{image}\""),
                    src(),
                );
                pr.containers[ci].state = CState::Waiting(Waiting::Pulling(now + 1_000));
                false
            } else {
                if first {
                    pr.containers[ci].state = CState::Waiting(Waiting::PullBackOff {
                        first: false,
                        retry_ms,
                        message,
                    });
                    pr.dirty = true;
                }
                if now % 10_000 < 1_000 {
                    world.recorder.record(
                        store,
                        &cref,
                        EventType::Normal,
                        "BackOff",
                        &format!("Back-off pulling image \"{image}\""),
                        src(),
                    );
                    world.recorder.record(
                        store,
                        &cref,
                        EventType::Warning,
                        "Failed",
                        "Error: ImagePullBackOff",
                        src(),
                    );
                }
                false
            }
        }
    };
    if start_now {
        start_container(world, store, &cref, pr, ci, &image, model, now);
    }
}

/// The first non-optional ConfigMap or Secret the container reads (from `envFrom` and `env`)
/// that does not exist, as the kubelet reports it.
fn missing_reference(store: &Store, ns: &str, c: &Container) -> Option<String> {
    let mut refs: Vec<(&str, &str)> = Vec::new();
    for ef in c.env_from.iter().flatten() {
        if let Some(r) = ef
            .config_map_ref
            .as_ref()
            .filter(|r| r.optional != Some(true))
        {
            refs.push(("configmaps", &r.name));
        }
        if let Some(r) = ef.secret_ref.as_ref().filter(|r| r.optional != Some(true)) {
            refs.push(("secrets", &r.name));
        }
    }
    for vf in c.env.iter().flatten().filter_map(|e| e.value_from.as_ref()) {
        if let Some(r) = vf
            .secret_key_ref
            .as_ref()
            .filter(|r| r.optional != Some(true))
        {
            refs.push(("secrets", &r.name));
        }
        if let Some(r) = vf
            .config_map_key_ref
            .as_ref()
            .filter(|r| r.optional != Some(true))
        {
            refs.push(("configmaps", &r.name));
        }
    }
    refs.into_iter().find_map(|(plural, name)| {
        let rt = resources::find("", "v1", plural).expect("registered");
        store
            .get(rt, ns, name)
            .is_none()
            .then(|| format!("{} \"{name}\" not found", rt.singular))
    })
}

/// Starts a new instance of container `ci` from `image`, with a fresh log.
fn start_container(
    world: &mut World,
    store: &Store,
    cref: &ObjectRef,
    pr: &mut PodRuntime,
    ci: usize,
    image: &str,
    model: &WorkloadModel,
    now: i64,
) {
    world.container_counter += 1;
    let counter = world.container_counter;
    let seed = world.scenario.seed;
    let c = &mut pr.containers[ci];
    let restarting = c.last.is_some();
    if restarting {
        c.restart_count += 1;
    }
    let container_id = format!(
        "containerd://{:016x}{:016x}{:016x}{:016x}",
        seed,
        counter,
        counter.wrapping_mul(0x9e37_79b9),
        seed ^ counter
    );
    let log = match &c.script {
        // A command prints what it echoes, when it echoes it, and nothing else.
        Some(script) => {
            let mut log = LogTimeline::new(0, now, model.every_ms, LineSource::Silent);
            for (at, line) in &script.lines {
                log.push(now.saturating_add(*at), line.clone());
            }
            log
        }
        None => {
            let mut log = LogTimeline::new(
                seed ^ counter.wrapping_mul(0x2545_f491_4f6c_dd1d),
                now,
                model.every_ms,
                LineSource::Lines {
                    templates: model.lines.clone(),
                    deps: model.deps.clone(),
                },
            );
            let tag = image.rsplit(':').next().unwrap_or("latest");
            log.push(
                now,
                format!("INFO starting {} version {tag} listening on :8080", c.name),
            );
            log
        }
    };
    c.previous_log = c.log.take().or(c.previous_log.take());
    c.log = Some(log);
    c.image = image.to_string();
    c.state = CState::Running(Box::new(Instance {
        started_ms: now,
        container_id,
        hung: false,
        unresponsive: false,
        memory_bytes: 0,
        cpu_millis: 0.0,
        rps: 0.0,
        error_ratio: 0.0,
        latency_ms: 0.0,
        readiness_failures: 0,
        liveness_failures: 0,
        next_probe_ms: now,
        ready: false,
    }));
    pr.dirty = true;
    let name = &pr.containers[ci].name;
    world.recorder.record(
        store,
        cref,
        EventType::Normal,
        "Created",
        &format!("Created container: {name}"),
        Source::kubelet(&pr.node),
    );
    world.recorder.record(
        store,
        cref,
        EventType::Normal,
        "Started",
        &format!("Started container {name}"),
        Source::kubelet(&pr.node),
    );
}

/// Records the end of the running instance of container `ci` and either restarts it at once
/// (first exit, or after a long run) or backs off, doubling each time up to five minutes.
pub(super) fn terminate(
    world: &mut World,
    store: &Store,
    cref: &ObjectRef,
    pr: &mut PodRuntime,
    ci: usize,
    code: i32,
    reason: &str,
    started: i64,
    container_id: String,
    now: i64,
) {
    pr.dirty = true;
    let restart = match pr.restart_policy.as_str() {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    };
    let c = &mut pr.containers[ci];
    if let Some(log) = c.log.as_mut() {
        log.end(now);
    }
    let ended = Terminated {
        exit_code: code,
        reason: reason.to_string(),
        started_ms: started,
        finished_ms: now,
        container_id,
    };
    if !restart {
        // The restart policy keeps it down: its end is final.
        c.state = CState::Terminated(ended);
        return;
    }
    c.last = Some(ended);
    if now - started >= BACKOFF_RESET_MS {
        c.backoff_ms = 0;
    }
    if c.backoff_ms == 0 {
        c.backoff_ms = INITIAL_BACKOFF_MS;
        let image = c.image.clone();
        let model = pr
            .workload
            .as_ref()
            .and_then(|w| world.workloads.get(w).cloned())
            .unwrap_or_else(|| world.default_model.clone());
        world.recorder.record(
            store,
            cref,
            EventType::Normal,
            "Pulled",
            &format!("Container image \"{image}\" already present on machine"),
            Source::kubelet(&pr.node),
        );
        start_container(world, store, cref, pr, ci, &image, &model, now);
    } else {
        let backoff = c.backoff_ms;
        c.backoff_ms = (c.backoff_ms * 2).min(MAX_BACKOFF_MS);
        c.state = CState::Waiting(Waiting::CrashBackOff(now + backoff));
        world.recorder.record(
            store,
            cref,
            EventType::Warning,
            "BackOff",
            &format!(
                "Back-off restarting failed container {} in pod {}_{}({})",
                c.name, pr.name, pr.namespace, pr.uid
            ),
            Source::kubelet(&pr.node),
        );
    }
}
