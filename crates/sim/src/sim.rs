//! The simulation: the store, the runtime world and the order in which one simulated second
//! runs the fault injector, the controllers and the kubelets.

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
        })
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
        let now = self.clock.now_ms() + STEP_MS;
        self.clock.advance_to(now);
        let mut world = self.world();
        let store = &*self.store;
        faults::sync(&mut world, store, now, self.clock.start_ms());
        controllers::nodes::sync(&mut world, store, now);
        controllers::deployment::sync(&mut world, store, now);
        controllers::replicaset::sync(&mut world, store, now);
        controllers::statefulset::sync(&mut world, store, now);
        controllers::daemonset::sync(&mut world, store, now);
        // Garbage collection scans every object; every few seconds is as prompt as needed.
        if now % 5_000 == 0 {
            controllers::gc::sync(store, now);
        }
        controllers::scheduler::sync(&mut world, store, now);
        kubelet::sync(&mut world, store, now);
        controllers::endpoints::sync(&mut world, store);
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
