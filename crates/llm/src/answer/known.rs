//! The resources the evidence names: a target or root cause the model writes must be one of
//! them.

use std::collections::{BTreeMap, BTreeSet};

use nightshift_core::{AnalysisInput, EvidenceData, ResourceRef};

/// Resources the evidence names, by the forms a model may write them in.
pub(super) struct Known {
    by_display: BTreeMap<String, ResourceRef>,
    by_locate: BTreeMap<String, ResourceRef>,
}

impl Known {
    pub(super) fn of(input: &AnalysisInput<'_>) -> Known {
        let mut all: BTreeSet<ResourceRef> = BTreeSet::new();
        all.insert(input.incident.resource.clone());
        for item in &input.evidence.items {
            all.insert(item.resource.clone());
            let ns = item.resource.namespace().unwrap_or("").to_string();
            match &item.data {
                EvidenceData::ContainerStatus { pod, node, .. } => {
                    all.insert(ResourceRef::Pod {
                        namespace: ns.clone(),
                        name: pod.clone(),
                    });
                    if let Some(n) = node {
                        all.insert(ResourceRef::node(n));
                    }
                }
                EvidenceData::Logs { pod, .. } => {
                    all.insert(ResourceRef::Pod {
                        namespace: ns,
                        name: pod.clone(),
                    });
                }
                EvidenceData::NodeCondition { node, .. } => {
                    all.insert(ResourceRef::node(node));
                }
                EvidenceData::Dependency {
                    host_port,
                    in_cluster,
                    ..
                } => {
                    all.insert(ResourceRef::External {
                        host_port: host_port.clone(),
                    });
                    if let Some(r) = in_cluster {
                        all.insert(r.clone());
                    }
                }
                _ => {}
            }
        }
        let mut known = Known {
            by_display: BTreeMap::new(),
            by_locate: BTreeMap::new(),
        };
        for r in all {
            known
                .by_display
                .insert(r.to_string().to_lowercase(), r.clone());
            // A workload wins the short form over a Service or a pod of the same name.
            let short = r.locate_key();
            let better = match known.by_locate.get(&short) {
                None => true,
                Some(old) => {
                    !matches!(old, ResourceRef::Workload { .. })
                        && matches!(r, ResourceRef::Workload { .. })
                }
            };
            if better {
                known.by_locate.insert(short, r);
            }
        }
        known
    }

    pub(super) fn resolve(&self, text: &str, field: &str) -> Result<ResourceRef, String> {
        let t = text.trim().trim_matches('`');
        if let Some(r) = self.by_display.get(&t.to_lowercase()) {
            return Ok(r.clone());
        }
        if let Some(r) = self.by_locate.get(t) {
            return Ok(r.clone());
        }
        Err(format!(
            "{field}: {t:?} is not a resource in the evidence; use one of: {}",
            self.by_display
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}
