//! The cluster's workloads, nodes and external hosts by name, built once, so that checking a
//! reference costs the same with twenty workloads or twenty thousand.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::model::{Cluster, Dependency, Target, Workload};

/// How many names an error lists before it only counts the rest.
const LISTED: usize = 10;

/// What a fault target or `expect` entry may name.
pub(crate) struct Index<'a> {
    workloads: HashMap<(&'a str, &'a str), &'a Workload>,
    /// Workloads some other workload lists in `depends_on`.
    callees: HashSet<(&'a str, &'a str)>,
    cluster: &'a Cluster,
    nodes: HashSet<&'a str>,
    externals: BTreeSet<String>,
}

impl<'a> Index<'a> {
    pub fn new(cluster: &'a Cluster) -> Index<'a> {
        let mut index = Index {
            workloads: HashMap::with_capacity(cluster.workloads.len()),
            callees: HashSet::new(),
            cluster,
            nodes: cluster.nodes.iter().map(|n| n.name.as_str()).collect(),
            externals: BTreeSet::new(),
        };
        for workload in &cluster.workloads {
            index
                .workloads
                .insert((&workload.namespace, &workload.name), workload);
            for dependency in &workload.depends_on {
                match dependency {
                    Dependency::InCluster { namespace, name } => {
                        index.callees.insert((namespace, name));
                    }
                    Dependency::External { host, port } => {
                        index.externals.insert(format!("external/{host}:{port}"));
                    }
                }
            }
        }
        index
    }

    /// The workload `namespace/name`, if declared.
    pub fn workload(&self, namespace: &str, name: &str) -> Option<&'a Workload> {
        self.workloads.get(&(namespace, name)).copied()
    }

    /// The cluster indexed.
    pub fn cluster(&self) -> &'a Cluster {
        self.cluster
    }

    /// Whether some workload lists `namespace/name` in its `depends_on`.
    pub fn is_called(&self, namespace: &str, name: &str) -> bool {
        self.callees.contains(&(namespace, name))
    }

    /// Whether `target` exists in the cluster: a declared workload or node, or an external
    /// host some workload depends on.
    pub fn check_target_exists(&self, target: &Target) -> Result<(), String> {
        match target {
            Target::Workload { namespace, name } => {
                if self.workload(namespace, name).is_some() {
                    return Ok(());
                }
                let known = self.cluster.workloads.iter().map(Workload::key);
                Err(format!(
                    "`{target}` is not a workload in cluster.workloads ({})",
                    listing(known, self.cluster.workloads.len())
                ))
            }
            Target::Node(name) => {
                if self.nodes.contains(name.as_str()) {
                    return Ok(());
                }
                let known = self
                    .cluster
                    .nodes
                    .iter()
                    .map(|n| format!("node/{}", n.name));
                Err(format!(
                    "`{target}` is not a node in cluster.nodes ({})",
                    listing(known, self.cluster.nodes.len())
                ))
            }
            Target::External { host, port } => {
                if self.externals.contains(&format!("external/{host}:{port}")) {
                    return Ok(());
                }
                Err(format!(
                    "`{target}` is not in any workload's depends_on ({})",
                    listing(self.externals.iter().cloned(), self.externals.len())
                ))
            }
        }
    }
}

/// `declared: a, b, c`, the first few of `count` names, or `there are none`.
fn listing(known: impl Iterator<Item = String>, count: usize) -> String {
    if count == 0 {
        return "there are none".to_string();
    }
    let shown: Vec<String> = known.take(LISTED).collect();
    if count > LISTED {
        format!(
            "declared: {} and {} more",
            shown.join(", "),
            count - shown.len()
        )
    } else {
        format!("declared: {}", shown.join(", "))
    }
}
