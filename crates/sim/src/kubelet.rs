//! The kubelet of every node: pulls images, checks config references, starts containers, runs
//! probes, restarts with exponential back-off, OOM-kills, evicts under disk pressure, stops pods
//! being deleted, and writes pod status.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use serde_json::{Value, json};

use crate::app::{self, Condition, Inputs};
use crate::clock::rfc3339;
use crate::events::{EventType, ObjectRef, Source};
use crate::logs::{LineSource, LogTimeline};
use crate::quantity;
use crate::resources;
use crate::store::{Part, Store};
use crate::world::{
    CState, ContainerRuntime, ImageProfile, Instance, LATENCY_BUCKETS, PodRuntime, Terminated,
    Waiting, WorkloadModel, World,
};

const MAX_BACKOFF_MS: i64 = 300_000;
const INITIAL_BACKOFF_MS: i64 = 10_000;
/// A container that ran this long gets its back-off reset, as the kubelet does.
const BACKOFF_RESET_MS: i64 = 600_000;
/// How long stopping containers takes when a pod is deleted.
const SHUTDOWN_MS: i64 = 2_000;
/// Interval between kubelet evictions under disk pressure.
const EVICTION_INTERVAL_MS: i64 = 10_000;

/// Per-second view of the cluster the containers need: which services have ready endpoints
/// and how much traffic each ready replica gets.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Ready, answering replicas per workload key.
    pub ready: HashMap<String, u32>,
}

impl Traffic {
    /// Counts ready replicas from the runtime.
    pub fn measure(world: &World) -> Self {
        let mut ready: HashMap<String, u32> = HashMap::new();
        for pr in world.pods.values() {
            let alive = world.nodes.get(&pr.node).is_some_and(|n| n.alive);
            if let Some(w) = &pr.workload
                && alive
                && pr.ready()
                && pr
                    .containers
                    .iter()
                    .all(|c| c.running().is_some_and(|i| !i.unresponsive && !i.hung))
            {
                *ready.entry(w.clone()).or_default() += 1;
            }
        }
        Traffic { ready }
    }
}

/// Runs one second of every kubelet.
pub fn sync(world: &mut World, store: &Store, now: i64) {
    let pods = store.list_typed::<Pod>(None);
    // Most pods are in steady state and skip this second: find the ones due first, so the
    // traffic picture is only computed when some pod needs it.
    let mut seen: std::collections::HashSet<&str> =
        std::collections::HashSet::with_capacity(pods.len());
    let mut due: Vec<&Pod> = Vec::new();
    for pod in &pods {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            continue;
        };
        let uid = pod.metadata.uid.as_deref().unwrap_or("");
        seen.insert(uid);
        if !world.nodes.get(node).is_some_and(|n| n.alive) {
            continue;
        }
        match world.pods.get(uid) {
            Some(pr)
                if pod.metadata.deletion_timestamp.is_none()
                    && !pr.dirty
                    && now < pr.next_sync_ms => {}
            Some(_) => due.push(pod),
            None => {
                if pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed") {
                    continue;
                }
                let pr = new_runtime(world, store, pod, node, now);
                world.pods.insert(uid.to_string(), pr);
                due.push(pod);
            }
        }
    }
    if !due.is_empty() {
        let traffic = Traffic::measure(world);
        for pod in due {
            let uid = pod.metadata.uid.as_deref().unwrap_or("");
            sync_pod(world, store, pod, uid, &traffic, now);
        }
    }
    world.pods.retain(|uid, _| seen.contains(uid.as_str()));
    evict_under_pressure(world, store, now);
}

fn new_runtime(world: &mut World, store: &Store, pod: &Pod, node: &str, now: i64) -> PodRuntime {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let workload = owner_workload(store, pod);
    let nr = world.nodes.get_mut(node).expect("node checked by caller");
    nr.next_ip += 1;
    let ip = format!("10.244.{}.{}", nr.index, nr.next_ip % 250 + 2);
    let containers = pod
        .spec
        .as_ref()
        .map(|s| {
            s.containers
                .iter()
                .map(|c| ContainerRuntime::new(&c.name, c.image.as_deref().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    PodRuntime {
        namespace: ns,
        name,
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        node: node.to_string(),
        workload,
        ip,
        containers,
        started_ms: now,
        evicted: None,
        stopping_since: None,
        dirty: true,
        ready_since_ms: now,
        last_ready: false,
        last_sync_ms: now,
        next_sync_ms: now,
    }
}

/// The scenario workload a pod belongs to: through its ReplicaSet to the Deployment, or
/// directly to its StatefulSet or DaemonSet.
pub fn owner_workload(store: &Store, pod: &Pod) -> Option<String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let owner = pod
        .metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))?;
    match owner.kind.as_str() {
        "ReplicaSet" => {
            let rs = store.get_typed::<k8s_openapi::api::apps::v1::ReplicaSet>(&ns, &owner.name)?;
            let dep = rs
                .metadata
                .owner_references
                .as_ref()?
                .iter()
                .find(|o| o.kind == "Deployment")?;
            Some(format!("{ns}/{}", dep.name))
        }
        "StatefulSet" | "DaemonSet" => Some(format!("{ns}/{}", owner.name)),
        _ => None,
    }
}

fn sync_pod(world: &mut World, store: &Store, pod: &Pod, uid: &str, traffic: &Traffic, now: i64) {
    let node = world.pods[uid].node.clone();
    let ns = world.pods[uid].namespace.clone();
    let name = world.pods[uid].name.clone();
    let pod_ref = ObjectRef {
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: ns.clone(),
        name: name.clone(),
        uid: uid.to_string(),
        field_path: None,
    };
    if world.pods[uid].evicted.is_some() {
        if world.pods[uid].dirty {
            write_status(world, store, pod, uid, now);
        }
        return;
    }
    // Deletion: stop the containers, then remove the pod.
    if pod.metadata.deletion_timestamp.is_some() {
        let pr = world.pods.get_mut(uid).expect("runtime exists");
        if pr.stopping_since.is_none() {
            pr.stopping_since = Some(now);
            pr.dirty = true;
            let names: Vec<String> = pr
                .containers
                .iter()
                .filter(|c| c.running().is_some())
                .map(|c| c.name.clone())
                .collect();
            for c in &mut pr.containers {
                if let Some(log) = c.log.as_mut() {
                    log.end(now);
                }
            }
            for c in names {
                world.recorder.record(
                    store,
                    &pod_ref.clone().container(&c),
                    EventType::Normal,
                    "Killing",
                    &format!("Stopping container {c}"),
                    Source::kubelet(&node),
                );
            }
        }
        let since = world.pods[uid].stopping_since.unwrap_or(now);
        if now - since >= SHUTDOWN_MS {
            store.remove(resources::of::<Pod>(), &ns, &name);
            world.pods.remove(uid);
        }
        return;
    }
    let Some(spec) = pod.spec.as_ref() else {
        return;
    };
    let workload = world.pods[uid].workload.clone();
    let model = workload
        .as_ref()
        .and_then(|w| world.workloads.get(w).cloned())
        .unwrap_or_else(|| world.default_model.clone());
    let dt = (now - world.pods[uid].last_sync_ms).clamp(1_000, 10_000) as f64 / 1000.0;
    let ready_replicas = workload
        .as_ref()
        .and_then(|w| traffic.ready.get(w))
        .copied()
        .unwrap_or(0);
    for (ci, cspec) in spec.containers.iter().enumerate() {
        if ci >= world.pods[uid].containers.len() {
            break;
        }
        step_container(
            world,
            store,
            &pod_ref,
            uid,
            ci,
            cspec,
            &model,
            ready_replicas,
            traffic,
            (now, dt),
        );
    }
    let steady = steady_state(world, uid, workload.as_deref(), now);
    let pr = world.pods.get_mut(uid).expect("runtime exists");
    pr.last_sync_ms = now;
    pr.next_sync_ms = now + if steady { STEADY_SYNC_MS } else { 1_000 };
    let ready = pr.ready();
    if ready != pr.last_ready {
        pr.last_ready = ready;
        pr.ready_since_ms = now;
        pr.dirty = true;
    }
    if pr.dirty {
        write_status(world, store, pod, uid, now);
    }
}

/// Sync interval of a pod in steady state.
const STEADY_SYNC_MS: i64 = 5_000;

/// A pod whose containers all run, are Ready, are past start-up and are not under a fault can
/// wait a few seconds between syncs: nothing about it changes meanwhile.
fn steady_state(world: &World, uid: &str, workload: Option<&str>, now: i64) -> bool {
    let Some(pr) = world.pods.get(uid) else {
        return false;
    };
    let f = &world.faults;
    let faulted = workload.is_some_and(|w| {
        f.memory_need.contains_key(w)
            || f.leak.contains_key(w)
            || f.crash.contains_key(w)
            || f.surge.contains_key(w)
            || f.transient.contains_key(w)
    });
    !faulted
        && pr.containers.iter().all(|c| {
            c.running().is_some_and(|i| {
                i.ready && !i.hung && !i.unresponsive && now - i.started_ms > 30_000
            }) && matches!(
                world.registry.get(&c.image),
                None | Some(ImageProfile::Healthy)
            )
        })
}

/// The model of a pod no scenario workload owns: quiet, small, healthy.
pub fn default_model() -> WorkloadModel {
    WorkloadModel {
        behavior: nightshift_scenario::Behavior {
            memory_bytes: 64 << 20,
            cpu_millis: 50,
            rps: 0.0,
            error_ratio: 0.0,
            latency_ms: 20.0,
            startup: std::time::Duration::from_secs(3),
        },
        base_replicas: 1,
        depends_on: Vec::new(),
        lines: crate::logs::builtin(app::DEFAULT_LINES),
        deps: Arc::new(Vec::new()),
        every_ms: 5_000,
    }
}

fn step_container(
    world: &mut World,
    store: &Store,
    pod_ref: &ObjectRef,
    uid: &str,
    ci: usize,
    cspec: &Container,
    model: &WorkloadModel,
    ready_replicas: u32,
    traffic: &Traffic,
    (now, dt): (i64, f64),
) {
    let node = world.pods[uid].node.clone();
    let pod_name = world.pods[uid].name.clone();
    let ns = world.pods[uid].namespace.clone();
    let cref = pod_ref.clone().container(&cspec.name);
    let image = cspec.image.clone().unwrap_or_default();
    let src = || Source::kubelet(&node);
    let state = world.pods[uid].containers[ci].state.clone();
    match state {
        CState::Terminated(_) => {}
        CState::Waiting(w) => {
            let start_now = match w {
                Waiting::CrashBackOff(until) => {
                    if now >= until {
                        true
                    } else {
                        if now % 10_000 < 1_000 {
                            let c = &world.pods[uid].containers[ci];
                            world.recorder.record(
                                store,
                                &cref,
                                EventType::Warning,
                                "BackOff",
                                &format!(
                                    "Back-off restarting failed container {} in pod {}_{}({})",
                                    c.name, pod_name, ns, uid
                                ),
                                src(),
                            );
                        }
                        false
                    }
                }
                Waiting::Creating | Waiting::ConfigError(_) => {
                    let c = &world.pods[uid].containers[ci];
                    if matches!(w, Waiting::ConfigError(_)) && now < c.retry_ms {
                        false
                    } else if let Some(missing) = missing_reference(store, &ns, cspec) {
                        let c = &mut world.pods.get_mut(uid).expect("exists").containers[ci];
                        c.retry_ms = now + 10_000;
                        let changed = c.state_reason() != Some("CreateContainerConfigError");
                        c.state = CState::Waiting(Waiting::ConfigError(missing.clone()));
                        world.pods.get_mut(uid).expect("exists").dirty |= changed;
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
                            {
                                world.recorder.record(
                                    store,
                                    &cref,
                                    EventType::Normal,
                                    "Pulled",
                                    &format!(
                                        "Container image \"{image}\" already present on machine"
                                    ),
                                    src(),
                                );
                            }
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
                            let c = &mut world.pods.get_mut(uid).expect("exists").containers[ci];
                            c.state = CState::Waiting(Waiting::Pulling(now + pull));
                            false
                        }
                    }
                }
                Waiting::Pulling(done) => {
                    if now < done {
                        false
                    } else if world.registry.contains_key(&image) {
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
                        world.recorder.record(
                            store,
                            &cref,
                            EventType::Warning,
                            "Failed",
                            &message,
                            src(),
                        );
                        world.recorder.record(
                            store,
                            &cref,
                            EventType::Warning,
                            "Failed",
                            "Error: ErrImagePull",
                            src(),
                        );
                        let c = &mut world.pods.get_mut(uid).expect("exists").containers[ci];
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
                        world.pods.get_mut(uid).expect("exists").dirty = true;
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
                        let c = &mut world.pods.get_mut(uid).expect("exists").containers[ci];
                        c.state = CState::Waiting(Waiting::Pulling(now + 1_000));
                        false
                    } else {
                        if first {
                            let c = &mut world.pods.get_mut(uid).expect("exists").containers[ci];
                            c.state = CState::Waiting(Waiting::PullBackOff {
                                first: false,
                                retry_ms,
                                message,
                            });
                            world.pods.get_mut(uid).expect("exists").dirty = true;
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
                start_container(world, store, &cref, uid, ci, &image, model, now);
            }
        }
        CState::Running(_) => run_container(
            world,
            store,
            &cref,
            uid,
            ci,
            cspec,
            model,
            ready_replicas,
            traffic,
            (now, dt),
        ),
    }
}

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

fn missing_reference(store: &Store, ns: &str, c: &Container) -> Option<String> {
    // Every non-optional ConfigMap/Secret the container reads, from envFrom and env.
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

fn start_container(
    world: &mut World,
    store: &Store,
    cref: &ObjectRef,
    uid: &str,
    ci: usize,
    image: &str,
    model: &WorkloadModel,
    now: i64,
) {
    world.container_counter += 1;
    let counter = world.container_counter;
    let seed = world.scenario.seed;
    let node = world.pods[uid].node.clone();
    let c = &mut world.pods.get_mut(uid).expect("exists").containers[ci];
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
    let name = c.name.clone();
    world.pods.get_mut(uid).expect("exists").dirty = true;
    world.recorder.record(
        store,
        cref,
        EventType::Normal,
        "Created",
        &format!("Created container: {name}"),
        Source::kubelet(&node),
    );
    world.recorder.record(
        store,
        cref,
        EventType::Normal,
        "Started",
        &format!("Started container {name}"),
        Source::kubelet(&node),
    );
}

fn probe_timeout_ms(p: &Probe) -> f64 {
    p.timeout_seconds.unwrap_or(1) as f64 * 1000.0
}

fn run_container(
    world: &mut World,
    store: &Store,
    cref: &ObjectRef,
    uid: &str,
    ci: usize,
    cspec: &Container,
    model: &WorkloadModel,
    ready_replicas: u32,
    traffic: &Traffic,
    (now, dt): (i64, f64),
) {
    let node = world.pods[uid].node.clone();
    let pod_ip = world.pods[uid].ip.clone();
    let workload = world.pods[uid].workload.clone().unwrap_or_default();
    let image = world.pods[uid].containers[ci].image.clone();
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
    let rps = if ready_replicas > 0 {
        rps_total / f64::from(ready_replicas)
    } else {
        0.0
    };
    let crash = f
        .crash
        .get(&workload)
        .and_then(|(img, code, after, count)| {
            if *img != image {
                return None;
            }
            if let Some(n) = count {
                let mut names: Vec<&str> = world
                    .pods
                    .values()
                    .filter(|p| {
                        p.workload.as_deref() == Some(workload.as_str())
                            && p.stopping_since.is_none()
                    })
                    .map(|p| p.name.as_str())
                    .collect();
                names.sort_unstable();
                let me = world.pods[uid].name.as_str();
                if !names.iter().take(*n as usize).any(|x| *x == me) {
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
    let instance = world.pods[uid].containers[ci]
        .running()
        .expect("running")
        .clone();
    let t = app::tick(&Inputs {
        model,
        profile: &profile,
        instance: &instance,
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
            nightshift_scenario::Dependency::InCluster { namespace, name } => {
                traffic
                    .ready
                    .get(&format!("{namespace}/{name}"))
                    .copied()
                    .unwrap_or(0)
                    == 0
            }
            nightshift_scenario::Dependency::External { .. } => f
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
            if let nightshift_scenario::Dependency::InCluster { namespace, name } = d {
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
                nightshift_scenario::Dependency::InCluster { namespace, name } => {
                    format!("{namespace}/{name}")
                }
                nightshift_scenario::Dependency::External { .. } => {
                    format!("external/{}", d.host_port())
                }
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
            effect: nightshift_scenario::RolloutEffect::Errors,
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
    let override_lines = active_override(world, &workload, &image, condition);
    let source = app::log_source(
        model,
        t.serving,
        &failing,
        dep_lines,
        override_lines,
        condition,
    );

    let pr = world.pods.get_mut(uid).expect("exists");
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
        let name = c.name.clone();
        if reason == "OOMKilled" {
            let pid = 1000 + (started % 30_000);
            world.recorder.record(
                store,
                &ObjectRef { api_version: "v1".into(), kind: "Node".into(), namespace: String::new(), name: node.clone(), uid: node.clone(), field_path: None },
                EventType::Warning,
                "OOMKilling",
                &format!(
                    "Memory cgroup out of memory: Killed process {pid} ({name}) total-vm:{}kB, anon-rss:{}kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1024kB oom_score_adj:936",
                    t.memory_bytes / 1024 + 200_000,
                    t.memory_bytes / 1024
                ),
                Source { component: "kernel-monitor", host: Some(node.clone()) },
            );
        } else {
            let lines = world
                .faults
                .logs
                .get(&(workload.clone(), "crash"))
                .cloned()
                .unwrap_or_else(|| crate::logs::builtin(app::CRASH_LINES));
            let pr = world.pods.get_mut(uid).expect("exists");
            if let Some(log) = pr.containers[ci].log.as_mut() {
                let mut rng =
                    <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(started as u64);
                // The last words come after the last periodic line, then the log ends.
                for (i, l) in lines.iter().enumerate() {
                    log.push(now + 1 + i as i64, l.render(&mut rng, &model.deps));
                }
                log.end(now + 1 + lines.len() as i64);
            }
        }
        terminate(world, store, cref, uid, ci, code, reason, started, cid, now);
        return;
    }
    // Probes.
    let (period, readiness, liveness) = {
        let r = cspec.readiness_probe.as_ref();
        let l = cspec.liveness_probe.as_ref();
        (
            r.or(l).and_then(|p| p.period_seconds).unwrap_or(10) as i64 * 1000,
            r,
            l,
        )
    };
    let pr = world.pods.get_mut(uid).expect("exists");
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
    let name = c.name.clone();
    for (kind, reason, msg) in events {
        world
            .recorder
            .record(store, cref, kind, reason, &msg, Source::kubelet(&node));
    }
    if kill {
        world.recorder.record(
            store,
            cref,
            EventType::Normal,
            "Killing",
            &format!("Container {name} failed liveness probe, will be restarted"),
            Source::kubelet(&node),
        );
        terminate(world, store, cref, uid, ci, 137, "Error", started, cid, now);
    }
}

fn active_override(
    world: &World,
    workload: &str,
    image: &str,
    condition: Condition,
) -> Option<Arc<Vec<nightshift_scenario::LogTemplate>>> {
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
    let _ = image;
    world
        .faults
        .logs
        .get(&(workload.to_string(), kind))
        .cloned()
}

fn terminate(
    world: &mut World,
    store: &Store,
    cref: &ObjectRef,
    uid: &str,
    ci: usize,
    code: i32,
    reason: &str,
    started: i64,
    container_id: String,
    now: i64,
) {
    let node = world.pods[uid].node.clone();
    let pod_name = world.pods[uid].name.clone();
    let ns = world.pods[uid].namespace.clone();
    let pr = world.pods.get_mut(uid).expect("exists");
    pr.dirty = true;
    let c = &mut pr.containers[ci];
    if let Some(log) = c.log.as_mut() {
        log.end(now);
    }
    c.last = Some(Terminated {
        exit_code: code,
        reason: reason.to_string(),
        started_ms: started,
        finished_ms: now,
        container_id,
    });
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
            Source::kubelet(&node),
        );
        start_container(world, store, cref, uid, ci, &image, &model, now);
    } else {
        let backoff = c.backoff_ms;
        c.backoff_ms = (c.backoff_ms * 2).min(MAX_BACKOFF_MS);
        c.state = CState::Waiting(Waiting::CrashBackOff(now + backoff));
        let name = c.name.clone();
        world.recorder.record(
            store,
            cref,
            EventType::Warning,
            "BackOff",
            &format!("Back-off restarting failed container {name} in pod {pod_name}_{ns}({uid})"),
            Source::kubelet(&node),
        );
    }
}

fn evict_under_pressure(world: &mut World, store: &Store, now: i64) {
    let nodes: Vec<String> = world
        .nodes
        .iter()
        .filter(|(_, n)| {
            n.alive && n.disk_pressure && now - n.last_eviction_ms >= EVICTION_INTERVAL_MS
        })
        .map(|(k, _)| k.clone())
        .collect();
    for node in nodes {
        // BestEffort and Burstable pods go first; among equals, the one that started last.
        let victim = world
            .pods
            .values()
            .filter(|p| p.node == node && p.evicted.is_none() && p.stopping_since.is_none())
            .max_by_key(|p| (p.started_ms, p.name.clone()))
            .map(|p| p.uid.clone());
        let Some(uid) = victim else { continue };
        world.nodes.get_mut(&node).expect("exists").last_eviction_ms = now;
        let message = format!(
            "The node was low on resource: ephemeral-storage. Threshold quantity: 10%, available: {}%. ",
            3 + now % 5
        );
        let pr = world.pods.get_mut(&uid).expect("exists");
        pr.evicted = Some(message.clone());
        pr.dirty = true;
        for c in &mut pr.containers {
            if let CState::Running(i) = &c.state {
                let t = Terminated {
                    exit_code: 137,
                    reason: "Error".into(),
                    started_ms: i.started_ms,
                    finished_ms: now,
                    container_id: i.container_id.clone(),
                };
                if let Some(log) = c.log.as_mut() {
                    log.end(now);
                }
                c.state = CState::Terminated(t);
            }
        }
        let pod_ref = ObjectRef {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: pr.namespace.clone(),
            name: pr.name.clone(),
            uid: uid.clone(),
            field_path: None,
        };
        world.recorder.record(
            store,
            &pod_ref,
            EventType::Warning,
            "Evicted",
            &message,
            Source::kubelet(&node),
        );
        world.recorder.record(
            store,
            &ObjectRef {
                api_version: "v1".into(),
                kind: "Node".into(),
                namespace: String::new(),
                name: node.clone(),
                uid: node.clone(),
                field_path: None,
            },
            EventType::Warning,
            "EvictionThresholdMet",
            "Attempting to reclaim ephemeral-storage",
            Source::kubelet(&node),
        );
        if let Some(pod) = store.get_typed::<Pod>(&pod_ref.namespace, &pod_ref.name) {
            write_status(world, store, &pod, &uid, now);
        }
    }
}

/// Writes the pod status from the runtime.
fn write_status(world: &mut World, store: &Store, pod: &Pod, uid: &str, now: i64) {
    let Some(pr) = world.pods.get_mut(uid) else {
        return;
    };
    pr.dirty = false;
    let status = status_json(pr, pod, &world.nodes[&pr.node].index, now);
    let mut v = json!({"metadata": {"name": pr.name, "namespace": pr.namespace}, "status": status});
    v["metadata"]["resourceVersion"] = json!("");
    let _ = store.update(
        resources::of::<Pod>(),
        &pr.namespace,
        &pr.name,
        v,
        Part::Status,
        false,
    );
}

fn state_json(c: &ContainerRuntime, pod: &PodRuntime) -> Value {
    match &c.state {
        CState::Running(i) => json!({"running": {"startedAt": rfc3339(i.started_ms)}}),
        CState::Terminated(t) => terminated_json(t),
        CState::Waiting(w) => {
            let reason = c.state_reason().unwrap_or("ContainerCreating");
            let message = match w {
                Waiting::ConfigError(m) => Some(m.clone()),
                Waiting::PullBackOff {
                    first: true,
                    message,
                    ..
                } => Some(message.clone()),
                Waiting::PullBackOff { first: false, .. } => {
                    Some(format!("Back-off pulling image \"{}\"", c.image))
                }
                Waiting::CrashBackOff(_) => Some(format!(
                    "back-off {}s restarting failed container={} pod={}_{}({})",
                    (c.backoff_ms / 2).max(INITIAL_BACKOFF_MS) / 1000,
                    c.name,
                    pod.name,
                    pod.namespace,
                    pod.uid
                )),
                _ => None,
            };
            match message {
                Some(m) => json!({"waiting": {"reason": reason, "message": m}}),
                None => json!({"waiting": {"reason": reason}}),
            }
        }
    }
}

fn terminated_json(t: &Terminated) -> Value {
    json!({"terminated": {
        "exitCode": t.exit_code,
        "reason": t.reason,
        "startedAt": rfc3339(t.started_ms),
        "finishedAt": rfc3339(t.finished_ms),
        "containerID": t.container_id,
    }})
}

fn status_json(pr: &PodRuntime, pod: &Pod, node_index: &usize, now: i64) -> Value {
    let _ = now;
    let started_any = pr
        .containers
        .iter()
        .any(|c| c.running().is_some() || c.last.is_some());
    let phase = if pr.evicted.is_some() {
        "Failed"
    } else if started_any {
        "Running"
    } else {
        "Pending"
    };
    let ready = pr.ready();
    let since = rfc3339(pr.ready_since_ms);
    let start = rfc3339(pr.started_ms);
    let not_ready: Vec<&str> = pr
        .containers
        .iter()
        .filter(|c| !c.ready())
        .map(|c| c.name.as_str())
        .collect();
    let reason_msg = if not_ready.is_empty() {
        None
    } else {
        Some(format!(
            "containers with unready status: [{}]",
            not_ready.join(" ")
        ))
    };
    let cond = |t: &str, ok: bool, at: &str| {
        let mut c = json!({"type": t, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": at});
        if !ok && let Some(m) = &reason_msg {
            c["reason"] = json!("ContainersNotReady");
            c["message"] = json!(m);
        }
        c
    };
    let statuses: Vec<Value> = pr
        .containers
        .iter()
        .map(|c| {
            let mut s = json!({
                "name": c.name,
                "state": state_json(c, pr),
                "lastState": c.last.as_ref().map(terminated_json).unwrap_or_else(|| json!({})),
                "ready": c.ready(),
                "restartCount": c.restart_count,
                "image": c.image,
                "imageID": format!("{}@sha256:{:064x}", c.image.split(':').next().unwrap_or(""), c.image.len() as u128 * 0x1234_5678_9abc_def1),
                "started": c.running().is_some(),
            });
            if let Some(i) = c.running() {
                s["containerID"] = json!(i.container_id);
            } else if let Some(t) = &c.last {
                s["containerID"] = json!(t.container_id);
            }
            s
        })
        .collect();
    let qos = qos_class(pod);
    let mut status = json!({
        "phase": phase,
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": null, "lastTransitionTime": start},
            {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": start},
            cond("Ready", ready, &since),
            cond("ContainersReady", ready, &since),
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": start},
        ],
        "hostIP": format!("10.0.0.{}", node_index + 10),
        "hostIPs": [{"ip": format!("10.0.0.{}", node_index + 10)}],
        "podIP": pr.ip,
        "podIPs": [{"ip": pr.ip}],
        "startTime": start,
        "containerStatuses": statuses,
        "qosClass": qos,
    });
    if let Some(m) = &pr.evicted {
        status["reason"] = json!("Evicted");
        status["message"] = json!(m);
        status["conditions"][2]["status"] = json!("False");
        status["conditions"][3]["status"] = json!("False");
        status["conditions"]
            .as_array_mut()
            .expect("array")
            .push(json!({"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet", "message": m, "lastProbeTime": null, "lastTransitionTime": rfc3339(now)}));
    }
    status
}

fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = &pod.spec else {
        return "BestEffort";
    };
    let mut any = false;
    let mut guaranteed = true;
    for c in &spec.containers {
        let r = c.resources.as_ref();
        let req = r.and_then(|r| r.requests.as_ref());
        let lim = r.and_then(|r| r.limits.as_ref());
        if req.is_some_and(|m| !m.is_empty()) || lim.is_some_and(|m| !m.is_empty()) {
            any = true;
        }
        for k in ["cpu", "memory"] {
            let l = lim.and_then(|m| m.get(k));
            let q = req.and_then(|m| m.get(k)).or(l);
            if l.is_none() || q != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}
