//! Fault injection: at its time each fault changes the cluster the way the real cause would
//! (a rollout through the API, a deleted object, a dead kubelet) or changes what the
//! application model does. Nothing here decides symptoms: the controllers and the kubelet do.

use std::sync::Arc;

use nightshift_scenario::{ConfigKind, FaultKind, MissingVia, ReplicaCount, Target, WorkloadKind};
use serde_json::{Value, json};

use crate::resources;
use crate::store::{DeleteOptions, Part, Store};
use crate::world::{CState, World};

/// Injects the faults due at `now` and ends the ones whose duration ran out.
pub fn sync(world: &mut World, store: &Store, now: i64, start_ms: i64) {
    let faults = world.scenario.faults.clone();
    for (i, f) in faults.iter().enumerate() {
        if world.faults.injected.contains(&i) || start_ms + f.at.as_millis() as i64 > now {
            continue;
        }
        world.faults.injected.insert(i);
        let end = |d: &Option<std::time::Duration>| d.map(|d| now + d.as_millis() as i64);
        let key = f.target.to_string();
        if let Some(lines) = &f.logs {
            world
                .faults
                .logs
                .insert((key.clone(), f.kind.type_name()), Arc::new(lines.clone()));
        }
        tracing::info!(fault = f.kind.type_name(), target = %f.target, "injecting fault");
        // Pods of the target react at once rather than at their next steady-state sync.
        for uid in pods_of(world, &key) {
            if let Some(p) = world.pods.get_mut(&uid) {
                p.next_sync_ms = 0;
            }
        }
        match &f.kind {
            FaultKind::Crash {
                exit_code,
                after,
                replicas,
            } => {
                let image = current_image(store, &f.target).unwrap_or_default();
                let count = match replicas {
                    ReplicaCount::All => None,
                    ReplicaCount::Count(n) => Some(*n),
                };
                world
                    .faults
                    .crash
                    .insert(key, (image, *exit_code, after.as_millis() as i64, count));
            }
            FaultKind::BadRollout { image, .. } | FaultKind::ImagePull { image } => {
                rollout(store, &f.target, |c| c["image"] = json!(image));
            }
            FaultKind::MemoryLeak {
                bytes_per_minute,
                since_rollout,
            } => match since_rollout {
                Some(image) => rollout(store, &f.target, |c| c["image"] = json!(image)),
                None => {
                    world.faults.leak.insert(key, (*bytes_per_minute, now));
                }
            },
            FaultKind::MissingConfig { reference, via } => {
                let field = match reference.kind {
                    ConfigKind::ConfigMap => json!({"configMapRef": {"name": reference.name}}),
                    ConfigKind::Secret => json!({"secretRef": {"name": reference.name}}),
                };
                match via {
                    MissingVia::Rollout => rollout(store, &f.target, |c| {
                        let mut list = c
                            .get("envFrom")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default();
                        list.push(field.clone());
                        c["envFrom"] = json!(list);
                    }),
                    MissingVia::Restart => {
                        if let Target::Workload { namespace, .. } = &f.target {
                            let plural = match reference.kind {
                                ConfigKind::ConfigMap => "configmaps",
                                ConfigKind::Secret => "secrets",
                            };
                            let rt = resources::find("", "v1", plural).expect("registered");
                            let _ = store.delete(
                                rt,
                                namespace,
                                &reference.name,
                                &DeleteOptions::default(),
                            );
                            // Make sure the running template references it, then restart every pod.
                            let referenced = template(store, &f.target).is_some_and(|t| {
                                t.to_string().contains(&format!("\"{}\"", reference.name))
                            });
                            if !referenced {
                                rollout(store, &f.target, |c| {
                                    let mut list = c
                                        .get("envFrom")
                                        .and_then(Value::as_array)
                                        .cloned()
                                        .unwrap_or_default();
                                    list.push(field.clone());
                                    c["envFrom"] = json!(list);
                                });
                            } else {
                                for uid in pods_of(world, &key) {
                                    delete_pod(world, store, &uid);
                                }
                            }
                        }
                    }
                }
            }
            FaultKind::MemoryLimit { memory_bytes } => {
                world.faults.memory_need.insert(key, *memory_bytes);
            }
            FaultKind::Hang { replicas } => {
                let mut uids = pods_of(world, &key);
                uids.sort_by_key(|u| world.pods[u].name.clone());
                let n = match replicas {
                    ReplicaCount::All => uids.len(),
                    ReplicaCount::Count(n) => *n as usize,
                };
                for uid in uids.into_iter().take(n) {
                    for c in &mut world.pods.get_mut(&uid).expect("listed").containers {
                        if let CState::Running(i) = &mut c.state {
                            i.hung = true;
                        }
                    }
                }
            }
            FaultKind::TrafficSurge { factor, duration } => {
                world.faults.surge.insert(key, (*factor, end(duration)));
            }
            FaultKind::DependencyDown { duration } => match &f.target {
                Target::External { .. } => {
                    world.faults.external_down.insert(
                        key.trim_start_matches("external/").to_string(),
                        end(duration),
                    );
                }
                _ => {
                    world
                        .faults
                        .dependency_down
                        .insert(key.clone(), end(duration));
                    for uid in pods_of(world, &key) {
                        for c in &mut world.pods.get_mut(&uid).expect("listed").containers {
                            if let CState::Running(i) = &mut c.state {
                                i.unresponsive = true;
                                i.ready = false;
                            }
                        }
                        world.pods.get_mut(&uid).expect("listed").dirty = true;
                    }
                }
            },
            FaultKind::NodeFailure { duration } => {
                if let Target::Node(n) = &f.target {
                    world.faults.node_failure.insert(n.clone(), end(duration));
                    if let Some(nr) = world.nodes.get_mut(n) {
                        nr.alive = false;
                        nr.dead_since = Some(now);
                    }
                }
            }
            FaultKind::DiskPressure { duration } => {
                if let Target::Node(n) = &f.target {
                    world.faults.disk_pressure.insert(n.clone(), end(duration));
                    if let Some(nr) = world.nodes.get_mut(n) {
                        nr.disk_pressure = true;
                    }
                }
            }
            FaultKind::Unschedulable(p) => rollout_pod(store, &f.target, |spec| {
                if let Some(c) = spec["containers"].get_mut(0) {
                    if let Some(cpu) = p.cpu_millis {
                        c["resources"]["requests"]["cpu"] = json!(format!("{cpu}m"));
                        if c["resources"]["limits"]["cpu"].is_string() {
                            c["resources"]["limits"]["cpu"] = json!(format!("{cpu}m"));
                        }
                    }
                    if let Some(m) = p.memory_bytes {
                        c["resources"]["requests"]["memory"] = json!(m.to_string());
                        if c["resources"]["limits"]["memory"].is_string() {
                            c["resources"]["limits"]["memory"] = json!(m.to_string());
                        }
                    }
                }
                if !p.node_selector.is_empty() {
                    spec["nodeSelector"] = json!(p.node_selector);
                }
            }),
            FaultKind::ProbeMisconfig { timeout } => {
                let secs = (timeout.as_millis() as i64 / 1000).max(1);
                rollout(store, &f.target, |c| {
                    if c.get("livenessProbe").is_none_or(Value::is_null) {
                        c["livenessProbe"] = json!({"httpGet": {"path": "/healthz", "port": crate::bootstrap::APP_PORT, "scheme": "HTTP"}, "periodSeconds": 10, "failureThreshold": 3, "successThreshold": 1});
                    }
                    c["livenessProbe"]["timeoutSeconds"] = json!(secs);
                });
            }
            FaultKind::ScaleToZero => {
                if let Some((rt, ns, name)) = workload_ref(store, &f.target)
                    && let Some(e) = store.get(rt, &ns, &name)
                {
                    let mut v = e.value().clone();
                    v["spec"]["replicas"] = json!(0);
                    v["metadata"]["resourceVersion"] = json!("");
                    let _ = store.update(rt, &ns, &name, v, Part::Main, false);
                }
            }
            FaultKind::Transient {
                duration,
                error_ratio,
            } => {
                world
                    .faults
                    .transient
                    .insert(key, (*error_ratio, now + duration.as_millis() as i64));
            }
            FaultKind::Noop => {}
        }
    }
    // Ends of durations.
    let ended = |end: &Option<i64>| end.is_some_and(|e| now >= e);
    let nodes: Vec<String> = world
        .faults
        .node_failure
        .iter()
        .filter(|(_, e)| ended(e))
        .map(|(n, _)| n.clone())
        .collect();
    for n in nodes {
        world.faults.node_failure.remove(&n);
        if let Some(nr) = world.nodes.get_mut(&n) {
            nr.alive = true;
            nr.dead_since = None;
            for p in world.pods.values_mut().filter(|p| p.node == n) {
                p.dirty = true;
            }
        }
    }
    let pressured: Vec<String> = world
        .faults
        .disk_pressure
        .iter()
        .filter(|(_, e)| ended(e))
        .map(|(n, _)| n.clone())
        .collect();
    for n in pressured {
        world.faults.disk_pressure.remove(&n);
        if let Some(nr) = world.nodes.get_mut(&n) {
            nr.disk_pressure = false;
        }
    }
    let recovered: Vec<String> = world
        .faults
        .dependency_down
        .iter()
        .filter(|(_, e)| ended(e))
        .map(|(k, _)| k.clone())
        .collect();
    for k in recovered {
        world.faults.dependency_down.remove(&k);
        for uid in pods_of(world, &k) {
            for c in &mut world.pods.get_mut(&uid).expect("listed").containers {
                if let CState::Running(i) = &mut c.state {
                    i.unresponsive = false;
                }
            }
        }
    }
}

fn pods_of(world: &World, workload: &str) -> Vec<String> {
    world
        .pods
        .values()
        .filter(|p| p.workload.as_deref() == Some(workload) && p.stopping_since.is_none())
        .map(|p| p.uid.clone())
        .collect()
}

fn delete_pod(world: &World, store: &Store, uid: &str) {
    if let Some(p) = world.pods.get(uid) {
        let _ = store.delete(
            resources::find("", "v1", "pods").expect("registered"),
            &p.namespace,
            &p.name,
            &DeleteOptions::default(),
        );
    }
}

fn workload_ref(
    store: &Store,
    target: &Target,
) -> Option<(&'static resources::ResourceType, String, String)> {
    let Target::Workload { namespace, name } = target else {
        return None;
    };
    for plural in ["deployments", "statefulsets", "daemonsets"] {
        let rt = resources::find("apps", "v1", plural).expect("registered");
        if store.get(rt, namespace, name).is_some() {
            return Some((rt, namespace.clone(), name.clone()));
        }
    }
    None
}

fn template(store: &Store, target: &Target) -> Option<Value> {
    let (rt, ns, name) = workload_ref(store, target)?;
    store
        .get(rt, &ns, &name)
        .and_then(|e| e.value().pointer("/spec/template").cloned())
}

fn current_image(store: &Store, target: &Target) -> Option<String> {
    template(store, target)?
        .pointer("/spec/containers/0/image")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Changes the first container of the workload's pod template, as `kubectl set` would.
fn rollout(store: &Store, target: &Target, change: impl Fn(&mut Value)) {
    rollout_pod(store, target, |spec| {
        if let Some(c) = spec["containers"].get_mut(0) {
            change(c);
        }
    });
}

fn rollout_pod(store: &Store, target: &Target, change: impl Fn(&mut Value)) {
    let Some((rt, ns, name)) = workload_ref(store, target) else {
        return;
    };
    let Some(e) = store.get(rt, &ns, &name) else {
        return;
    };
    let mut v = e.value().clone();
    if let Some(spec) = v.pointer_mut("/spec/template/spec") {
        change(spec);
    }
    v["metadata"]["resourceVersion"] = json!("");
    if let Err(err) = store.update(rt, &ns, &name, v, Part::Main, false) {
        tracing::warn!(%err, "fault rollout failed");
    }
    let _ = WorkloadKind::Deployment;
}
