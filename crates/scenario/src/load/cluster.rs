//! `cluster`: nodes, config objects and workloads, with their defaults.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use super::error::{Doc, Result};
use super::limits::{self, too_many};
use super::raw::{
    RawBehavior, RawCluster, RawLogs, RawNode, RawResourceList, RawResources, RawWorkload,
};
use super::refs;
use super::source_map::KeyPath;
use crate::model::{
    Behavior, Cluster, ConfigRef, Dependency, LogSpec, NodeSpec, Probes, ResourceList, Resources,
    Workload, WorkloadKind,
};
use crate::template::LogTemplate;
use crate::units;

/// The node a cluster gets when the file declares none.
pub const DEFAULT_NODE_NAME: &str = "node-1";
/// Allocatable CPU of a node that does not say, in millicores (8 cores).
pub const DEFAULT_NODE_CPU_MILLIS: u64 = 8_000;
/// Allocatable memory of a node that does not say, in bytes (32Gi).
pub const DEFAULT_NODE_MEMORY_BYTES: u64 = 32 << 30;

const WORKLOAD_KINDS: &str = "Deployment, StatefulSet, DaemonSet";

/// Converts `cluster`, or the default cluster when the key is absent.
pub(crate) fn convert(raw: Option<RawCluster>, doc: &Doc) -> Result<Cluster> {
    let path = KeyPath::root().key("cluster");
    let raw = raw.unwrap_or_default();

    let nodes = match raw.nodes {
        None => vec![NodeSpec {
            name: DEFAULT_NODE_NAME.to_string(),
            cpu_millis: DEFAULT_NODE_CPU_MILLIS,
            memory_bytes: DEFAULT_NODE_MEMORY_BYTES,
            labels: BTreeMap::new(),
        }],
        Some(raw_nodes) if raw_nodes.is_empty() => {
            return Err(doc.invalid(
                &path.key("nodes"),
                "the cluster needs at least one node; leave `nodes` out for the default node `node-1`",
            ));
        }
        Some(raw_nodes) => {
            check_count(
                doc,
                &path.key("nodes"),
                raw_nodes.len(),
                "nodes",
                limits::MAX_NODES,
            )?;
            let mut nodes: Vec<NodeSpec> = Vec::with_capacity(raw_nodes.len());
            let mut names: HashSet<String> = HashSet::with_capacity(raw_nodes.len());
            for (i, raw_node) in raw_nodes.into_iter().enumerate() {
                let node_path = path.key("nodes").index(i);
                let node = convert_node(raw_node, &node_path, doc)?;
                if !names.insert(node.name.clone()) {
                    return Err(doc.invalid(
                        &node_path.key("name"),
                        format!("node `{}` is declared twice", node.name),
                    ));
                }
                nodes.push(node);
            }
            nodes
        }
    };

    let raw_configs = raw.configs.unwrap_or_default();
    check_count(
        doc,
        &path.key("configs"),
        raw_configs.len(),
        "config objects",
        limits::MAX_CONFIGS,
    )?;
    let mut configs: Vec<ConfigRef> = Vec::with_capacity(raw_configs.len());
    let mut seen_configs: HashSet<ConfigRef> = HashSet::with_capacity(raw_configs.len());
    for (i, text) in raw_configs.iter().enumerate() {
        let config_path = path.key("configs").index(i);
        let config = refs::parse_config_ref(text).map_err(|e| doc.invalid(&config_path, e))?;
        if !seen_configs.insert(config.clone()) {
            return Err(doc.invalid(&config_path, format!("`{text}` is listed twice")));
        }
        configs.push(config);
    }

    let raw_workloads = raw.workloads.unwrap_or_default();
    check_count(
        doc,
        &path.key("workloads"),
        raw_workloads.len(),
        "workloads",
        limits::MAX_WORKLOADS,
    )?;
    let mut workloads: Vec<Workload> = Vec::with_capacity(raw_workloads.len());
    // Each workload by namespace and name: whether it has a Service.
    let mut declared: HashMap<(String, String), bool> = HashMap::with_capacity(raw_workloads.len());
    let mut pods: u64 = 0;
    for (i, raw_workload) in raw_workloads.into_iter().enumerate() {
        let workload_path = path.key("workloads").index(i);
        let workload = convert_workload(raw_workload, &workload_path, doc)?;
        let name = (workload.namespace.clone(), workload.name.clone());
        if declared.insert(name, workload.service).is_some() {
            return Err(doc.invalid(
                &workload_path.key("name"),
                format!("workload `{}` is declared twice", workload.key()),
            ));
        }
        pods += match workload.kind {
            WorkloadKind::DaemonSet => nodes.len() as u64,
            _ => u64::from(workload.replicas),
        };
        if pods > limits::MAX_PODS {
            return Err(doc.invalid(
                &workload_path,
                format!(
                    "the workloads up to this one run {pods} pods, more than the limit of {} for the whole cluster (DaemonSets count one pod per node)",
                    limits::MAX_PODS
                ),
            ));
        }
        workloads.push(workload);
    }

    // Dependencies can point forward in the list, so they are checked once all are known.
    for (i, workload) in workloads.iter().enumerate() {
        for (j, dependency) in workload.depends_on.iter().enumerate() {
            if let Dependency::InCluster { namespace, name } = dependency {
                let dep_path = path.key("workloads").index(i).key("depends_on").index(j);
                if namespace == &workload.namespace && name == &workload.name {
                    return Err(doc.invalid(
                        &dep_path,
                        format!("workload `{}` cannot depend on itself", workload.key()),
                    ));
                }
                match declared.get(&(namespace.clone(), name.clone())) {
                    None => {
                        return Err(doc.invalid(
                            &dep_path,
                            format!("`{dependency}` is not a workload in cluster.workloads"),
                        ));
                    }
                    Some(false) => {
                        return Err(doc.invalid(
                            &dep_path,
                            format!("`{dependency}` has `service: false`, so nothing can call it"),
                        ));
                    }
                    Some(true) => {}
                }
            }
        }
    }

    Ok(Cluster {
        nodes,
        configs,
        workloads,
    })
}

/// Refuses a list of `count` items at `path` when that is more than `limit`.
fn check_count(doc: &Doc, path: &KeyPath, count: usize, what: &str, limit: usize) -> Result<()> {
    if count > limit {
        return Err(doc.invalid(path, too_many(count, what, limit)));
    }
    Ok(())
}

/// Refuses more labels than [`limits::MAX_LABELS`].
fn check_labels(doc: &Doc, path: &KeyPath, labels: &BTreeMap<String, String>) -> Result<()> {
    check_count(doc, path, labels.len(), "labels", limits::MAX_LABELS)
}

fn convert_node(raw: RawNode, path: &KeyPath, doc: &Doc) -> Result<NodeSpec> {
    let name = doc.required(raw.name, path, "name")?;
    refs::check_dns_subdomain("node name", &name).map_err(|e| doc.invalid(&path.key("name"), e))?;
    let cpu_millis = match raw.cpu {
        Some(text) => cpu(doc, &path.key("cpu"), &text)?,
        None => DEFAULT_NODE_CPU_MILLIS,
    };
    let memory_bytes = match raw.memory {
        Some(text) => memory(doc, &path.key("memory"), &text)?,
        None => DEFAULT_NODE_MEMORY_BYTES,
    };
    if cpu_millis == 0 {
        return Err(doc.invalid(&path.key("cpu"), "a node needs some cpu"));
    }
    if memory_bytes == 0 {
        return Err(doc.invalid(&path.key("memory"), "a node needs some memory"));
    }
    let labels = raw.labels.unwrap_or_default();
    check_labels(doc, &path.key("labels"), &labels)?;
    Ok(NodeSpec {
        name,
        cpu_millis,
        memory_bytes,
        labels,
    })
}

fn convert_workload(raw: RawWorkload, path: &KeyPath, doc: &Doc) -> Result<Workload> {
    let kind = match raw.kind.as_deref() {
        None | Some("Deployment") => WorkloadKind::Deployment,
        Some("StatefulSet") => WorkloadKind::StatefulSet,
        Some("DaemonSet") => WorkloadKind::DaemonSet,
        Some(other) => {
            return Err(doc.invalid(
                &path.key("kind"),
                format!("unknown workload kind `{other}`; expected one of: {WORKLOAD_KINDS}"),
            ));
        }
    };
    let namespace = doc.required(raw.namespace, path, "namespace")?;
    refs::check_dns_label("namespace", &namespace)
        .map_err(|e| doc.invalid(&path.key("namespace"), e))?;
    let name = doc.required(raw.name, path, "name")?;
    refs::check_dns_label("workload name", &name).map_err(|e| doc.invalid(&path.key("name"), e))?;
    let image = doc.required(raw.image, path, "image")?;
    check_image(&image).map_err(|e| doc.invalid(&path.key("image"), e))?;

    let labels = match raw.labels {
        None => BTreeMap::from([("app".to_string(), name.clone())]),
        Some(labels) if labels.is_empty() => {
            return Err(doc.invalid(
                &path.key("labels"),
                "a workload needs at least one label for its selector; leave `labels` out for `{app: <name>}`",
            ));
        }
        Some(labels) => {
            check_labels(doc, &path.key("labels"), &labels)?;
            labels
        }
    };
    let replicas = raw.replicas.unwrap_or(1);
    if replicas > limits::MAX_REPLICAS {
        return Err(doc.invalid(
            &path.key("replicas"),
            format!(
                "{replicas} replicas is more than the limit of {}",
                limits::MAX_REPLICAS
            ),
        ));
    }

    let resources = convert_resources(raw.resources, &path.key("resources"), doc)?;
    let probes = Probes {
        readiness: raw
            .probes
            .as_ref()
            .and_then(|p| p.readiness)
            .unwrap_or(true),
        liveness: raw
            .probes
            .as_ref()
            .and_then(|p| p.liveness)
            .unwrap_or(false),
    };

    let raw_env_from = raw.env_from.unwrap_or_default();
    check_count(
        doc,
        &path.key("env_from"),
        raw_env_from.len(),
        "references",
        limits::MAX_REFERENCES,
    )?;
    let mut env_from = Vec::new();
    for (i, text) in raw_env_from.iter().enumerate() {
        let reference = refs::parse_local_config_ref(text)
            .map_err(|e| doc.invalid(&path.key("env_from").index(i), e))?;
        env_from.push(reference);
    }

    let raw_depends_on = raw.depends_on.unwrap_or_default();
    check_count(
        doc,
        &path.key("depends_on"),
        raw_depends_on.len(),
        "dependencies",
        limits::MAX_REFERENCES,
    )?;
    let mut depends_on: Vec<Dependency> = Vec::new();
    for (i, text) in raw_depends_on.iter().enumerate() {
        let dep_path = path.key("depends_on").index(i);
        let dependency = refs::parse_dependency(text).map_err(|e| doc.invalid(&dep_path, e))?;
        if depends_on.contains(&dependency) {
            return Err(doc.invalid(&dep_path, format!("`{text}` is listed twice")));
        }
        depends_on.push(dependency);
    }

    let behavior = convert_behavior(raw.behavior, &path.key("behavior"), doc)?;
    let logs = convert_logs(raw.logs, &path.key("logs"), !depends_on.is_empty(), doc)?;

    Ok(Workload {
        kind,
        namespace,
        name,
        replicas,
        image,
        labels,
        service: raw.service.unwrap_or(true),
        resources,
        probes,
        env_from,
        depends_on,
        behavior,
        logs,
    })
}

/// An image reference: non-empty, no spaces; the registry is simulated, so any name exists.
pub(crate) fn check_image(image: &str) -> Result<(), String> {
    if image.is_empty() || image.chars().any(char::is_whitespace) {
        Err(format!(
            "invalid image `{image}`; expected a reference such as `registry.local/shop/checkout:2.3.1`"
        ))
    } else {
        Ok(())
    }
}

fn convert_resources(raw: Option<RawResources>, path: &KeyPath, doc: &Doc) -> Result<Resources> {
    let Some(raw) = raw else {
        return Ok(Resources::default());
    };
    let list = |raw: Option<RawResourceList>, path: KeyPath| -> Result<ResourceList> {
        let Some(raw) = raw else {
            return Ok(ResourceList::default());
        };
        Ok(ResourceList {
            cpu_millis: raw
                .cpu
                .map(|t| cpu(doc, &path.key("cpu"), &t))
                .transpose()?,
            memory_bytes: raw
                .memory
                .map(|t| memory(doc, &path.key("memory"), &t))
                .transpose()?,
        })
    };
    let requests = list(raw.requests, path.key("requests"))?;
    let limits = list(raw.limits, path.key("limits"))?;
    // The API server refuses a request above its limit; so does the scenario.
    if let (Some(request), Some(limit)) = (requests.cpu_millis, limits.cpu_millis)
        && request > limit
    {
        return Err(doc.invalid(
            &path.key("requests").key("cpu"),
            format!(
                "cpu request {} is above the cpu limit {}; a request must be at most its limit",
                units::format_cpu(request),
                units::format_cpu(limit)
            ),
        ));
    }
    if let (Some(request), Some(limit)) = (requests.memory_bytes, limits.memory_bytes)
        && request > limit
    {
        return Err(doc.invalid(
                &path.key("requests").key("memory"),
                format!(
                    "memory request {} is above the memory limit {}; a request must be at most its limit",
                    units::format_memory(request),
                    units::format_memory(limit)
                ),
            ));
    }
    Ok(Resources { requests, limits })
}

/// Steady-state memory of a replica that does not say (64Mi).
pub const DEFAULT_MEMORY_BYTES: u64 = 64 << 20;
/// Steady-state cpu of a replica that does not say (50m).
pub const DEFAULT_CPU_MILLIS: u64 = 50;
/// Requests per second of a workload that does not say.
pub const DEFAULT_RPS: f64 = 10.0;
/// Error ratio of a workload that does not say.
pub const DEFAULT_ERROR_RATIO: f64 = 0.001;
/// Mean latency of a workload that does not say, in milliseconds.
pub const DEFAULT_LATENCY_MS: f64 = 20.0;
/// Time to Ready of a workload that does not say.
pub const DEFAULT_STARTUP: Duration = Duration::from_secs(3);
/// Log interval of a workload that does not say.
pub const DEFAULT_LOG_EVERY: Duration = Duration::from_secs(5);

fn convert_behavior(raw: Option<RawBehavior>, path: &KeyPath, doc: &Doc) -> Result<Behavior> {
    let raw = raw.unwrap_or_default();
    let rps = raw.rps.unwrap_or(DEFAULT_RPS);
    if !rps.is_finite() || rps < 0.0 {
        return Err(doc.invalid(
            &path.key("rps"),
            format!("rps must be zero or more, not {rps}"),
        ));
    }
    if rps > limits::MAX_RPS {
        return Err(doc.invalid(
            &path.key("rps"),
            format!("{rps} rps is more than the limit of {}", limits::MAX_RPS),
        ));
    }
    let error_ratio = raw.error_ratio.unwrap_or(DEFAULT_ERROR_RATIO);
    check_ratio(error_ratio).map_err(|e| doc.invalid(&path.key("error_ratio"), e))?;
    let latency_ms = raw.latency_ms.unwrap_or(DEFAULT_LATENCY_MS);
    if !latency_ms.is_finite() || latency_ms < 0.0 {
        return Err(doc.invalid(
            &path.key("latency_ms"),
            format!("latency_ms must be zero or more, not {latency_ms}"),
        ));
    }
    Ok(Behavior {
        memory_bytes: raw
            .memory
            .map(|t| memory(doc, &path.key("memory"), &t))
            .transpose()?
            .unwrap_or(DEFAULT_MEMORY_BYTES),
        cpu_millis: raw
            .cpu
            .map(|t| cpu(doc, &path.key("cpu"), &t))
            .transpose()?
            .unwrap_or(DEFAULT_CPU_MILLIS),
        rps,
        error_ratio,
        latency_ms,
        startup: raw
            .startup
            .map(|t| duration(doc, &path.key("startup"), &t))
            .transpose()?
            .unwrap_or(DEFAULT_STARTUP),
    })
}

fn convert_logs(
    raw: Option<RawLogs>,
    path: &KeyPath,
    has_deps: bool,
    doc: &Doc,
) -> Result<LogSpec> {
    let Some(raw) = raw else {
        return Ok(LogSpec {
            every: DEFAULT_LOG_EVERY,
            lines: Vec::new(),
        });
    };
    let every = match raw.every {
        Some(text) => duration(doc, &path.key("every"), &text)?,
        None => DEFAULT_LOG_EVERY,
    };
    if every < limits::MIN_LOG_EVERY {
        return Err(doc.invalid(
            &path.key("every"),
            format!(
                "a log line every {} is more often than the limit of one every {}",
                units::format_duration(every),
                units::format_duration(limits::MIN_LOG_EVERY)
            ),
        ));
    }
    let lines = templates(
        raw.lines.unwrap_or_default(),
        &path.key("lines"),
        has_deps,
        doc,
    )?;
    Ok(LogSpec { every, lines })
}

/// Parses log lines; `{dep}` needs dependencies to name.
pub(crate) fn templates(
    lines: Vec<String>,
    path: &KeyPath,
    has_deps: bool,
    doc: &Doc,
) -> Result<Vec<LogTemplate>> {
    check_count(doc, path, lines.len(), "log lines", limits::MAX_LOG_LINES)?;
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.len() > limits::MAX_LOG_LINE_BYTES {
            return Err(doc.invalid(
                &path.index(i),
                format!(
                    "a log line of {} bytes is longer than the limit of {} bytes",
                    line.len(),
                    limits::MAX_LOG_LINE_BYTES
                ),
            ));
        }
        let template = LogTemplate::parse(line).map_err(|e| doc.invalid(&path.index(i), e))?;
        if template.uses_dep() && !has_deps {
            return Err(doc.invalid(
                &path.index(i),
                "`{dep}` names one of the workload's dependencies, but it has no `depends_on`",
            ));
        }
        out.push(template);
    }
    Ok(out)
}

/// A ratio in `[0, 1]`.
pub(crate) fn check_ratio(ratio: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&ratio) {
        Ok(())
    } else {
        Err(format!("a ratio must be between 0 and 1, not {ratio}"))
    }
}

/// Parses a duration, reporting errors at `path`.
pub(crate) fn duration(doc: &Doc, path: &KeyPath, text: &str) -> Result<Duration> {
    units::parse_duration(text).map_err(|e| doc.invalid(path, e))
}

/// Parses a cpu quantity, reporting errors at `path`.
pub(crate) fn cpu(doc: &Doc, path: &KeyPath, text: &str) -> Result<u64> {
    units::parse_cpu(text).map_err(|e| doc.invalid(path, e))
}

/// Parses a memory quantity, reporting errors at `path`.
pub(crate) fn memory(doc: &Doc, path: &KeyPath, text: &str) -> Result<u64> {
    units::parse_memory(text).map_err(|e| doc.invalid(path, e))
}
