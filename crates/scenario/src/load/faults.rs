//! `faults`: when, what and where, with each type's parameters and defaults.

use std::time::Duration;

use super::cluster;
use super::error::{Doc, Result};
use super::index::Index;
use super::limits::{self, too_many};
use super::params::Params;
use super::raw::RawFault;
use super::refs;
use super::source_map::KeyPath;
use crate::model::{
    Cluster, ConfigKind, Fault, FaultKind, MissingVia, ReplicaCount, RolloutEffect, Target,
    UnschedulableParams, Workload, WorkloadKind,
};
use crate::units;

/// Exit code of a `crash` fault that does not say.
pub const DEFAULT_CRASH_EXIT_CODE: i32 = 1;
/// Time from start to exit of a `crash` fault that does not say.
pub const DEFAULT_CRASH_AFTER: Duration = Duration::from_secs(2);
/// Error ratio of a `bad-rollout` with `effect: errors` that does not say.
pub const DEFAULT_ROLLOUT_ERROR_RATIO: f64 = 0.5;
/// Growth of a `memory-leak` that does not say: 20Mi per minute.
pub const DEFAULT_LEAK_BYTES_PER_MINUTE: u64 = 20 << 20;
/// Liveness timeout of a `probe-misconfig` that does not say.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Length of a `transient` burst that does not say.
pub const DEFAULT_TRANSIENT_DURATION: Duration = Duration::from_secs(45);
/// Error ratio of a `transient` burst that does not say.
pub const DEFAULT_TRANSIENT_ERROR_RATIO: f64 = 0.3;

/// What a fault type may strike.
#[derive(Clone, Copy, PartialEq)]
enum TargetKinds {
    Workload,
    Node,
    WorkloadOrExternal,
    Any,
}

/// The parameters each fault type accepts and what it may target.
fn signature(type_name: &str) -> Option<(&'static [&'static str], TargetKinds)> {
    use TargetKinds::*;
    Some(match type_name {
        "crash" => (&["exit_code", "after", "replicas"], Workload),
        "bad-rollout" => (&["image", "effect", "error_ratio"], Workload),
        "image-pull" => (&["image"], Workload),
        "missing-config" => (&["ref", "via"], Workload),
        "memory-limit" => (&["memory"], Workload),
        "memory-leak" => (&["rate", "since_rollout"], Workload),
        "hang" => (&["replicas"], Workload),
        "traffic-surge" => (&["factor", "duration"], Workload),
        "dependency-down" => (&["duration"], WorkloadOrExternal),
        "node-failure" => (&["duration"], Node),
        "disk-pressure" => (&["duration"], Node),
        "unschedulable" => (&["cpu", "memory", "node_selector"], Workload),
        "probe-misconfig" => (&["timeout"], Workload),
        "scale-to-zero" => (&[], Workload),
        "transient" => (&["duration", "error_ratio"], Workload),
        "noop" => (&[], Any),
        _ => return None,
    })
}

/// Converts `faults`.
pub(crate) fn convert(
    raw: Vec<RawFault>,
    index: &Index,
    horizon: Duration,
    doc: &Doc,
) -> Result<Vec<Fault>> {
    if raw.len() > limits::MAX_FAULTS {
        return Err(doc.invalid(
            &KeyPath::root().key("faults"),
            too_many(raw.len(), "faults", limits::MAX_FAULTS),
        ));
    }
    raw.into_iter()
        .enumerate()
        .map(|(i, raw)| {
            convert_fault(
                raw,
                &KeyPath::root().key("faults").index(i),
                index,
                horizon,
                doc,
            )
        })
        .collect()
}

/// `at`: required, a duration, before the horizon; `what` names the thing in the error.
pub(crate) fn at_before_horizon(
    raw: Option<String>,
    path: &KeyPath,
    horizon: Duration,
    what: &str,
    doc: &Doc,
) -> Result<Duration> {
    let at_text = doc.required(raw, path, "at")?;
    let at = cluster::duration(doc, &path.key("at"), &at_text)?;
    if at >= horizon {
        return Err(doc.invalid(
            &path.key("at"),
            format!(
                "{what} at {} is not before the horizon ({}); move it earlier or raise `horizon`",
                units::format_duration(at),
                units::format_duration(horizon)
            ),
        ));
    }
    Ok(at)
}

fn convert_fault(
    raw: RawFault,
    path: &KeyPath,
    index: &Index,
    horizon: Duration,
    doc: &Doc,
) -> Result<Fault> {
    let at = at_before_horizon(raw.at, path, horizon, "the fault", doc)?;

    let type_name = doc.required(raw.kind, path, "type")?;
    let Some((allowed, target_kinds)) = signature(&type_name) else {
        return Err(doc.invalid(
            &path.key("type"),
            format!(
                "unknown fault type `{type_name}`; expected one of: {}",
                FaultKind::TYPE_NAMES.join(", ")
            ),
        ));
    };

    let target_text = doc.required(raw.target, path, "target")?;
    let target_path = path.key("target");
    let target = refs::parse_target(&target_text).map_err(|e| doc.invalid(&target_path, e))?;
    let fits = matches!(
        (&target, target_kinds),
        (_, TargetKinds::Any)
            | (
                Target::Workload { .. },
                TargetKinds::Workload | TargetKinds::WorkloadOrExternal
            )
            | (Target::External { .. }, TargetKinds::WorkloadOrExternal)
            | (Target::Node(_), TargetKinds::Node)
    );
    if !fits {
        let wanted = match target_kinds {
            TargetKinds::Workload => "a workload `<namespace>/<name>`",
            TargetKinds::Node => "a node `node/<name>`",
            TargetKinds::WorkloadOrExternal => {
                "a workload `<namespace>/<name>` or `external/<host:port>`"
            }
            TargetKinds::Any => "anything",
        };
        return Err(doc.invalid(
            &target_path,
            format!("fault type {type_name} targets {wanted}, not `{target}`"),
        ));
    }
    index
        .check_target_exists(&target)
        .map_err(|e| doc.invalid(&target_path, e))?;
    let workload = match &target {
        Target::Workload { namespace, name } => index.workload(namespace, name),
        _ => None,
    };

    let params = Params::new(raw.params, path.key("params"), &type_name, allowed, doc)?;
    let kind = match workload {
        Some(workload) => workload_fault(&type_name, &params, workload, index, &target_path)?,
        None => other_fault(&type_name, &params)?,
    };

    // Dependency errors are printed by the callers, which have dependencies by construction;
    // on a node the lines go to whatever runs there.
    let has_deps = match (&kind, workload) {
        (FaultKind::DependencyDown { .. }, _) | (_, None) => true,
        (_, Some(workload)) => !workload.depends_on.is_empty(),
    };
    let logs = raw
        .logs
        .map(|lines| cluster::templates(lines, &path.key("logs"), has_deps, doc))
        .transpose()?;

    Ok(Fault {
        at,
        kind,
        target,
        logs,
    })
}

/// Faults that strike a workload.
fn workload_fault(
    type_name: &str,
    params: &Params,
    workload: &Workload,
    index: &Index,
    target_path: &KeyPath,
) -> Result<FaultKind> {
    let doc = params.doc;
    let cluster: &Cluster = index.cluster();
    Ok(match type_name {
        "crash" => FaultKind::Crash {
            exit_code: match params.integer("exit_code")? {
                None => DEFAULT_CRASH_EXIT_CODE,
                Some(code) if (0..=255).contains(&code) => code as i32,
                Some(code) => {
                    return Err(params
                        .invalid("exit_code", format!("an exit code is 0 to 255, not {code}")));
                }
            },
            after: params.duration("after")?.unwrap_or(DEFAULT_CRASH_AFTER),
            replicas: params
                .replicas("replicas", workload)?
                .unwrap_or(ReplicaCount::All),
        },
        "bad-rollout" => {
            let image = params.new_image("image", workload)?;
            let effect = match params.string("effect")?.as_deref() {
                None | Some("crash") => RolloutEffect::Crash,
                Some("errors") => RolloutEffect::Errors,
                Some("oom") => RolloutEffect::Oom,
                Some("hang") => RolloutEffect::Hang,
                Some(other) => {
                    return Err(params.invalid(
                        "effect",
                        format!(
                            "unknown effect `{other}`; expected one of: crash, errors, oom, hang"
                        ),
                    ));
                }
            };
            let error_ratio = params.ratio("error_ratio")?;
            if error_ratio.is_some() && effect != RolloutEffect::Errors {
                return Err(params.invalid(
                    "error_ratio",
                    "error_ratio applies only to `effect: errors`",
                ));
            }
            FaultKind::BadRollout {
                image,
                effect,
                error_ratio: error_ratio.unwrap_or(DEFAULT_ROLLOUT_ERROR_RATIO),
            }
        }
        "image-pull" => FaultKind::ImagePull {
            image: params.new_image("image", workload)?,
        },
        "missing-config" => {
            let text = params.required_string("ref")?;
            let reference =
                refs::parse_local_config_ref(&text).map_err(|e| params.invalid("ref", e))?;
            let via = match params.string("via")?.as_deref() {
                None | Some("rollout") => MissingVia::Rollout,
                Some("restart") => MissingVia::Restart,
                Some(other) => {
                    return Err(params.invalid(
                        "via",
                        format!("unknown value `{other}`; expected one of: rollout, restart"),
                    ));
                }
            };
            let kind_name = match reference.kind {
                ConfigKind::ConfigMap => "configmap",
                ConfigKind::Secret => "secret",
            };
            let full = format!("{kind_name}/{}/{}", workload.namespace, reference.name);
            let exists = cluster.configs.iter().any(|c| {
                c.kind == reference.kind
                    && c.namespace == workload.namespace
                    && c.name == reference.name
            });
            match via {
                MissingVia::Rollout if exists => {
                    return Err(params.invalid(
                        "ref",
                        format!("`{full}` exists in cluster.configs, so a rollout referencing it would work; name an object that does not exist"),
                    ));
                }
                MissingVia::Restart if !exists || !workload.env_from.contains(&reference) => {
                    return Err(params.invalid(
                        "ref",
                        format!(
                            "with `via: restart` the object is deleted from under the workload, so `{full}` must be in cluster.configs \
                             and `{text}` in the workload's env_from"
                        ),
                    ));
                }
                _ => {}
            }
            FaultKind::MissingConfig { reference, via }
        }
        "memory-limit" => {
            let memory_bytes = params.required_memory("memory")?;
            match workload.resources.limits.memory_bytes {
                None => {
                    return Err(doc.invalid(
                        target_path,
                        format!(
                            "memory-limit needs a workload with a memory limit, and `{}` has none",
                            workload.key()
                        ),
                    ));
                }
                Some(limit) if memory_bytes <= limit => {
                    return Err(params.invalid(
                        "memory",
                        format!(
                            "{} fits in the workload's memory limit {}; memory-limit needs a working set above the limit",
                            units::format_memory(memory_bytes),
                            units::format_memory(limit)
                        ),
                    ));
                }
                Some(_) => {}
            }
            FaultKind::MemoryLimit { memory_bytes }
        }
        "memory-leak" => FaultKind::MemoryLeak {
            bytes_per_minute: match params.scalar_text("rate")? {
                None => DEFAULT_LEAK_BYTES_PER_MINUTE,
                Some(text) => {
                    let rate =
                        units::parse_memory_rate(&text).map_err(|e| params.invalid("rate", e))?;
                    if rate == 0 {
                        return Err(params.invalid("rate", "a leak needs a rate above zero"));
                    }
                    rate
                }
            },
            since_rollout: match params.string("since_rollout")? {
                None => None,
                Some(_) => Some(params.new_image("since_rollout", workload)?),
            },
        },
        "hang" => FaultKind::Hang {
            replicas: params
                .replicas("replicas", workload)?
                .unwrap_or(ReplicaCount::Count(1)),
        },
        "traffic-surge" => {
            let factor = params.required_number("factor")?;
            if !(factor > 1.0 && factor.is_finite()) {
                return Err(params.invalid(
                    "factor",
                    format!("a surge multiplies traffic by more than 1, not {factor}"),
                ));
            }
            if factor > limits::MAX_SURGE_FACTOR {
                return Err(params.invalid(
                    "factor",
                    format!(
                        "a surge factor of {factor} is more than the limit of {}",
                        limits::MAX_SURGE_FACTOR
                    ),
                ));
            }
            FaultKind::TrafficSurge {
                factor,
                duration: params.positive_duration("duration")?,
            }
        }
        "dependency-down" => {
            if !index.is_called(&workload.namespace, &workload.name) {
                return Err(doc.invalid(
                    target_path,
                    format!("no workload lists `{}` in depends_on; dependency-down targets something other workloads call", workload.key()),
                ));
            }
            FaultKind::DependencyDown {
                duration: params.positive_duration("duration")?,
            }
        }
        "unschedulable" => {
            let cpu_millis = params
                .scalar_text("cpu")?
                .map(|t| units::parse_cpu(&t).map_err(|e| params.invalid("cpu", e)))
                .transpose()?;
            let memory_bytes = params.memory("memory")?;
            let node_selector = params.labels("node_selector")?.unwrap_or_default();
            if cpu_millis.is_none() && memory_bytes.is_none() && node_selector.is_empty() {
                return Err(doc.invalid(
                    &params.path,
                    "fault type unschedulable needs at least one of `cpu`, `memory` (requests) or `node_selector`",
                ));
            }
            FaultKind::Unschedulable(UnschedulableParams {
                cpu_millis,
                memory_bytes,
                node_selector,
            })
        }
        "probe-misconfig" => FaultKind::ProbeMisconfig {
            timeout: params
                .positive_duration("timeout")?
                .unwrap_or(DEFAULT_PROBE_TIMEOUT),
        },
        "scale-to-zero" => {
            if workload.kind == WorkloadKind::DaemonSet {
                return Err(doc.invalid(
                    target_path,
                    format!(
                        "`{}` is a DaemonSet, which cannot be scaled",
                        workload.key()
                    ),
                ));
            }
            FaultKind::ScaleToZero
        }
        "transient" => {
            let error_ratio = params
                .ratio("error_ratio")?
                .unwrap_or(DEFAULT_TRANSIENT_ERROR_RATIO);
            FaultKind::Transient {
                duration: params
                    .positive_duration("duration")?
                    .unwrap_or(DEFAULT_TRANSIENT_DURATION),
                error_ratio,
            }
        }
        _ => other_fault(type_name, params)?,
    })
}

/// Faults whose target is not a workload, and `noop`.
fn other_fault(type_name: &str, params: &Params) -> Result<FaultKind> {
    Ok(match type_name {
        "dependency-down" => FaultKind::DependencyDown {
            duration: params.positive_duration("duration")?,
        },
        "node-failure" => FaultKind::NodeFailure {
            duration: params.positive_duration("duration")?,
        },
        "disk-pressure" => FaultKind::DiskPressure {
            duration: params.positive_duration("duration")?,
        },
        _ => FaultKind::Noop,
    })
}
