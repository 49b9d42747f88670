//! The scenario's scripted people: at each `humans[i].at` of simulated time, the change is
//! made through the cluster's API like any client, under the person's field manager
//! (kubectl's by default), with the same request code the agent's actions use.

use std::time::Duration;

use kube::Client;
use nightshift_agent::act::Actuator;
use nightshift_core::{Action, ResourceRef};
use nightshift_scenario::{Human, HumanAction, Scenario, Target};
use nightshift_sim::Simulation;

/// Runs every scripted change at its time; returns when the last one is made.
pub async fn run(
    scenario: Scenario,
    sim: std::sync::Arc<Simulation>,
    client: Client,
    start_ms: i64,
) {
    let mut humans = scenario.humans.clone();
    humans.sort_by_key(|h| h.at);
    for (i, h) in humans.iter().enumerate() {
        let due = start_ms + h.at.as_millis() as i64;
        while sim.clock().now_ms() < due {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let Some(action) = action_of(&scenario, h) else {
            tracing::warn!(who = %h.who, "scripted change has no target in the cluster");
            continue;
        };
        let actuator = Actuator::new(client.clone()).with_field_manager(h.field_manager.clone());
        let key = format!("human-{}-{i}", h.who);
        match actuator.execute(&action, &key).await {
            Ok(o) => {
                tracing::info!(who = %h.who, manager = %h.field_manager, "scripted change: {}", o.summary)
            }
            Err(e) => tracing::warn!(who = %h.who, error = %e, "scripted change failed"),
        }
    }
}

/// The catalogue action that makes the person's change.
fn action_of(scenario: &Scenario, h: &Human) -> Option<Action> {
    let workload = || match &h.target {
        Target::Workload { namespace, name } => scenario
            .cluster
            .workloads
            .iter()
            .find(|w| &w.namespace == namespace && &w.name == name)
            .map(|w| ResourceRef::Workload {
                kind: w.kind,
                namespace: namespace.clone(),
                name: name.clone(),
            }),
        _ => None,
    };
    let node = || match &h.target {
        Target::Node(n) => Some(n.clone()),
        _ => None,
    };
    Some(match &h.action {
        HumanAction::RolloutRestart => Action::RolloutRestart {
            target: workload()?,
        },
        HumanAction::Rollback => Action::Rollback {
            target: workload()?,
            revision: None,
        },
        HumanAction::Scale { replicas } => Action::Scale {
            target: workload()?,
            replicas: *replicas,
        },
        HumanAction::CordonNode => Action::CordonNode { node: node()? },
        HumanAction::UncordonNode => Action::UncordonNode { node: node()? },
    })
}
