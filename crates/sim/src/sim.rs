//! The simulation: the store, the runtime world and the order in which one simulated second
//! runs the fault injector, the controllers and the kubelets.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::api::core::v1::Pod;
use nightshift_scenario::Scenario;

use crate::clock::Clock;
use crate::controllers;
use crate::faults;
use crate::kubelet;
use crate::metrics::{self, Sample};
use crate::store::Store;
use crate::telemetry::{ContainerUsage, LogError, LogLine, Telemetry};
use crate::world::{CState, World};

/// Length of one simulation step in simulated milliseconds.
pub const STEP_MS: i64 = 1_000;

/// A running simulated cluster.
pub struct Simulation {
    store: Arc<Store>,
    world: Mutex<World>,
    clock: Clock,
    /// Never step simulated time past the machine's clock.
    wall_clock_bound: AtomicBool,
}

impl Simulation {
    /// Builds the cluster of `scenario` with its clock at `start_ms` (ms since the epoch).
    pub fn new(scenario: &Scenario, start_ms: i64) -> Arc<Self> {
        let clock = Clock::new(start_ms);
        let store = Arc::new(Store::new(clock.clone(), scenario.seed));
        let world = crate::bootstrap::build(&store, scenario);
        Arc::new(Simulation {
            store,
            world: Mutex::new(world),
            clock,
            wall_clock_bound: AtomicBool::new(false),
        })
    }

    /// With `on`, a step that would take simulated time past the machine's clock does
    /// nothing: the simulation runs at its speed while it is behind the wall clock and at the
    /// wall clock's pace once it has caught up, so no timestamp it writes is in the future
    /// (kubectl's ages stay valid whatever `--speed`).
    pub fn bind_to_wall_clock(&self, on: bool) {
        self.wall_clock_bound.store(on, Ordering::Relaxed);
    }

    /// The object store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The simulated clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The scenario being run.
    pub fn scenario(&self) -> Scenario {
        self.world().scenario.clone()
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the scenario's horizon has passed.
    pub fn finished(&self) -> bool {
        let horizon = self.world().scenario.horizon.as_millis() as i64;
        self.clock.now_ms() - self.clock.start_ms() >= horizon
    }

    /// Advances one simulated second.
    pub fn step(&self) {
        self.step_timed(None);
    }

    /// Advances one simulated second and reports how long each part took (for benchmarks).
    pub fn step_profiled(&self) -> Vec<(&'static str, std::time::Duration)> {
        let mut out = Vec::new();
        self.step_timed(Some(&mut out));
        out
    }

    fn step_timed(&self, mut timings: Option<&mut Vec<(&'static str, std::time::Duration)>>) {
        let now = self.clock.now_ms() + STEP_MS;
        if self.wall_clock_bound.load(Ordering::Relaxed)
            && now > chrono::Utc::now().timestamp_millis()
        {
            return;
        }
        self.clock.advance_to(now);
        let mut world = self.world();
        let store = &*self.store;
        let mut t = std::time::Instant::now();
        let mut lap = |name: &'static str, t: &mut std::time::Instant| {
            if let Some(v) = timings.as_deref_mut() {
                v.push((name, t.elapsed()));
                *t = std::time::Instant::now();
            }
        };
        faults::sync(&mut world, store, now, self.clock.start_ms());
        lap("faults", &mut t);
        use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
        use k8s_openapi::api::batch::v1::Job;
        use k8s_openapi::api::core::v1::{
            ConfigMap, Namespace, Node, Pod, ReplicationController, Service, ServiceAccount,
        };
        let v = |s: &Store| {
            (
                s.kind_version::<Pod>(),
                s.kind_version::<ReplicaSet>(),
                s.kind_version::<Deployment>(),
            )
        };
        let node_state: Vec<u64> = world
            .nodes
            .values()
            .map(|n| {
                u64::from(n.alive)
                    | (u64::from(n.disk_pressure) << 1)
                    | (n.not_ready_since.is_some() as u64) << 2
            })
            .chain([store.kind_version::<Node>()])
            .collect();
        // Node status changes only with the runtime; heartbeats are due every minute.
        if world.must_run("nodes", node_state, now, 10_000)
            || world.nodes.values().any(|n| !n.alive)
        {
            controllers::nodes::sync(&mut world, store, now);
        }
        lap("nodes", &mut t);
        let (pv, rv, dv) = v(store);
        // Progress deadlines are a matter of time: a pass at least every few seconds.
        if world.must_run("deployments", vec![rv, dv], now, 5_000) {
            controllers::deployment::sync(&mut world, store, now);
        }
        lap("deployments", &mut t);
        let (pv, rv, _) = (pv, store.kind_version::<ReplicaSet>(), dv);
        let rcv = store.kind_version::<ReplicationController>();
        if world.must_run("replicasets", vec![pv, rv, rcv], now, 5_000) {
            controllers::replicaset::sync(&mut world, store, now);
        }
        lap("replicasets", &mut t);
        let (sv, dsv) = (
            store.kind_version::<StatefulSet>(),
            store.kind_version::<DaemonSet>(),
        );
        if sv > 0
            && world.must_run(
                "statefulsets",
                vec![store.kind_version::<Pod>(), sv],
                now,
                5_000,
            )
        {
            controllers::statefulset::sync(&mut world, store, now);
        }
        if dsv > 0
            && world.must_run(
                "daemonsets",
                vec![
                    store.kind_version::<Pod>(),
                    dsv,
                    store.kind_version::<Node>(),
                ],
                now,
                5_000,
            )
        {
            controllers::daemonset::sync(&mut world, store, now);
        }
        lap("statefulsets+daemonsets", &mut t);
        let jv = store.kind_version::<Job>();
        if jv > 0 && world.must_run("jobs", vec![store.kind_version::<Pod>(), jv], now, 1_000) {
            controllers::job::sync(&mut world, store, now);
        }
        lap("jobs", &mut t);
        // Namespaces: their default objects, and the removal of those being deleted.
        if world.must_run(
            "namespaces",
            vec![
                store.kind_version::<Namespace>(),
                store.kind_version::<ServiceAccount>(),
                store.kind_version::<ConfigMap>(),
            ],
            now,
            1_000,
        ) {
            controllers::namespace::sync(store, now);
        }
        lap("namespaces", &mut t);
        // Garbage collection and event expiry scan many objects; every few seconds is as
        // prompt as needed.
        if now % 5_000 == 0 {
            controllers::gc::sync(store);
            world.recorder.expire(store, now);
        }
        lap("gc", &mut t);
        controllers::scheduler::sync(&mut world, store, now);
        lap("scheduler", &mut t);
        kubelet::sync(&mut world, store, now);
        lap("kubelet", &mut t);
        if world.must_run(
            "endpoints",
            vec![store.kind_version::<Pod>(), store.kind_version::<Service>()],
            now,
            30_000,
        ) {
            controllers::endpoints::sync(&mut world, store);
        }
        lap("endpoints", &mut t);
    }

    /// Every metric sample now.
    pub fn samples(&self) -> Vec<Sample> {
        let world = self.world();
        metrics::collect(&world, &self.store)
    }

    fn pod_uid(&self, namespace: &str, pod: &str) -> Option<String> {
        self.store
            .get_typed::<Pod>(namespace, pod)
            .and_then(|p| p.metadata.uid.clone())
    }
}

impl Telemetry for Simulation {
    fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        previous: bool,
    ) -> Result<Vec<LogLine>, LogError> {
        let uid = self
            .pod_uid(namespace, pod)
            .ok_or_else(|| LogError::PodNotFound(pod.to_string()))?;
        let world = self.world();
        let Some(pr) = world.pods.get(&uid) else {
            return Err(LogError::Waiting {
                container: container.unwrap_or("").to_string(),
                pod: pod.to_string(),
                reason: "ContainerCreating".into(),
            });
        };
        let c = match container {
            Some(name) => pr
                .containers
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| {
                    LogError::BadContainer(format!("container {name} is not valid for pod {pod}"))
                })?,
            None if pr.containers.len() == 1 => &pr.containers[0],
            None => {
                let names: Vec<&str> = pr.containers.iter().map(|c| c.name.as_str()).collect();
                return Err(LogError::BadContainer(format!(
                    "a container name must be specified for pod {pod}, choose one of: [{}]",
                    names.join(" ")
                )));
            }
        };
        let now = self.clock.now_ms();
        if previous {
            return c
                .previous_log
                .as_ref()
                .map(|l| l.render(None, now, None))
                .ok_or_else(|| LogError::NoPrevious {
                    container: c.name.clone(),
                    pod: pod.to_string(),
                });
        }
        match (&c.state, &c.log) {
            (CState::Waiting(_), Some(log)) if c.last.is_some() => Ok(log.render(None, now, None)),
            (CState::Waiting(_), _) => Err(LogError::Waiting {
                container: c.name.clone(),
                pod: pod.to_string(),
                reason: c.state_reason().unwrap_or("ContainerCreating").to_string(),
            }),
            (_, Some(log)) => Ok(log.render(None, now, None)),
            (_, None) => Ok(Vec::new()),
        }
    }

    fn pod_usage(&self, namespace: &str, pod: &str) -> Option<Vec<ContainerUsage>> {
        let uid = self.pod_uid(namespace, pod)?;
        metrics::usage_of(&self.world(), &uid)
    }

    fn node_usage(&self, node: &str) -> Option<(u64, u64)> {
        let world = self.world();
        if !world.nodes.get(node).is_some_and(|n| n.alive) {
            return None;
        }
        let mut cpu = 0u64;
        let mut mem = 0u64;
        for pr in world.pods.values().filter(|p| p.node == node) {
            for c in &pr.containers {
                if let Some(i) = c.running() {
                    cpu += i.cpu_millis.round() as u64;
                    mem += i.memory_bytes;
                }
            }
        }
        // The system daemons use some too.
        Some((cpu + 120, mem + (600 << 20)))
    }

    fn prometheus_text(&self) -> String {
        metrics::render(&self.samples())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_to_the_wall_clock_it_never_runs_ahead_of_it() {
        let scenario = nightshift_scenario::parse_str(
            "name: t\ncluster:\n  workloads:\n    - {kind: Deployment, namespace: shop, name: web, image: registry.local/web:1}\nfaults:\n  - {at: 1m, type: noop, target: shop/web}\nexpect: {detect: false, diagnosis: [none], locate: shop/web, actions: {acceptable: [none]}, resolved: false}\n",
            "t.yaml",
        )
        .unwrap();
        let wall = chrono::Utc::now().timestamp_millis();
        let sim = Simulation::new(&scenario, wall - 10_000);
        sim.bind_to_wall_clock(true);
        for _ in 0..60 {
            sim.step();
        }
        // Ten seconds behind: it caught up and stopped there.
        let now = sim.clock().now_ms();
        assert!(now >= wall - 1_000, "{now} {wall}");
        assert!(now <= chrono::Utc::now().timestamp_millis());
        sim.bind_to_wall_clock(false);
        sim.step();
        assert_eq!(sim.clock().now_ms(), now + STEP_MS);
    }
}
