//! Which workload a pod, an event or a reference belongs to: as the evidence states it (the
//! collector reads pods' owner references), else a known workload whose generated names it
//! carries; never a workload made up from the shape of a name.

use crate::resource::{ResourceRef, WorkloadKind};

use super::*;

impl<'a> Facts<'a> {
    /// The workload an event's object belongs to: a pod's owner, the workload itself, a
    /// ReplicaSet's Deployment.
    pub(super) fn event_owner(&self, e: &EventFact<'_>) -> Option<ResourceRef> {
        let ns = e.namespace.as_deref()?;
        let kind = e.object_kind;
        if kind.eq_ignore_ascii_case("pod") {
            self.owner_of(ns, e.object_name)
        } else if let Ok(kind) = kind.parse::<WorkloadKind>() {
            Some(self.resolve_workload(ns, e.object_name, kind))
        } else if kind.eq_ignore_ascii_case("replicaset") {
            self.owner_of_replica_set(ns, e.object_name)
        } else {
            None
        }
    }

    /// The workload a pod belongs to, as the evidence states it (read from the pod's owner
    /// references). A pod the evidence does not describe (an event about a pod already
    /// replaced) belongs to the known workload whose generated names it carries
    /// (`<name>-<hash>-<id>`, `<name>-<ordinal>`); otherwise to none: an owner is never
    /// made up from the shape of a name alone.
    pub fn owner_of(&self, namespace: &str, pod: &str) -> Option<ResourceRef> {
        if let Some(owner) = self.pod_owners.get(&(namespace, pod)) {
            return Some(owner.clone());
        }
        self.known_generator(namespace, pod, None)
    }

    /// The Deployment a ReplicaSet (`<name>-<hash>`) belongs to, among the known workloads.
    fn owner_of_replica_set(&self, namespace: &str, rs: &str) -> Option<ResourceRef> {
        self.known_generator(namespace, rs, Some(WorkloadKind::Deployment))
    }

    /// The known workload (of `kind`, when given) whose name, with a generated suffix, makes
    /// `child`; the longest such name wins.
    fn known_generator(
        &self,
        namespace: &str,
        child: &str,
        kind: Option<WorkloadKind>,
    ) -> Option<ResourceRef> {
        self.workloads
            .iter()
            .filter_map(|w| match w {
                ResourceRef::Workload {
                    kind: k,
                    namespace: ns,
                    name,
                } if ns == namespace && kind.is_none_or(|kind| kind == *k) => child
                    .strip_prefix(name.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .filter(|rest| generated_suffix(rest))
                    .map(|_| (name.len(), w)),
                _ => None,
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, w)| w.clone())
    }

    /// A known workload with this namespace and name, else one of the kind given.
    pub fn resolve_workload(&self, namespace: &str, name: &str, kind: WorkloadKind) -> ResourceRef {
        self.known_workload(namespace, name)
            .cloned()
            .unwrap_or_else(|| ResourceRef::workload(kind, namespace, name))
    }

    /// A pod's template revision: as its container statuses state it (the
    /// `pod-template-hash` label), else the hash in a Deployment pod's generated name.
    pub fn template_of<'p>(&'p self, w: &ResourceRef, pod: &'p str) -> Option<&'p str> {
        self.containers
            .iter()
            .find(|c| c.pod == pod && c.template.is_some())
            .and_then(|c| c.template)
            .or_else(|| template_in_name(w, pod))
    }

    /// A known workload with this namespace and name.
    pub fn known_workload(&self, namespace: &str, name: &str) -> Option<&ResourceRef> {
        self.workloads.iter().find(|w| {
            matches!(w, ResourceRef::Workload { namespace: ns, name: n, .. } if ns == namespace && n == name)
        })
    }

    /// The workload a resource reference stands for: itself, a pod's owner, a Service's
    /// same-named workload.
    pub fn workload_of_ref(&self, r: &ResourceRef) -> Option<ResourceRef> {
        match r {
            ResourceRef::Workload { .. } => Some(r.clone()),
            ResourceRef::Pod { namespace, name } => self.owner_of(namespace, name),
            ResourceRef::Service { namespace, name } => {
                self.known_workload(namespace, name).cloned()
            }
            ResourceRef::Object {
                kind,
                namespace,
                name,
            } if kind == "ReplicaSet" => self.owner_of_replica_set(namespace, name),
            ResourceRef::Node { .. }
            | ResourceRef::External { .. }
            | ResourceRef::Storm { .. }
            | ResourceRef::Object { .. } => None,
        }
    }
}

/// The part of a name after its controller's name is one a controller generates:
/// `<hash>-<id>` (Deployment pods), `<ordinal>`, `<hash>` or `<id>`.
fn generated_suffix(rest: &str) -> bool {
    let parts: Vec<&str> = rest.split('-').collect();
    let alnum = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    match parts.as_slice() {
        [hash, id] => alnum(hash) && alnum(id),
        [one] => alnum(one),
        _ => false,
    }
}

/// The pod-template-hash part of a Deployment pod's name (`checkout-5d8f7c9b6-x2x7q`), for
/// evidence that does not state the pod's template.
fn template_in_name<'p>(w: &ResourceRef, pod: &'p str) -> Option<&'p str> {
    let name = name_of(w)?;
    let rest = pod.strip_prefix(name)?.strip_prefix('-')?;
    let (hash, _) = rest.split_once('-')?;
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_hash_in_a_deployment_pod_name() {
        let w = ResourceRef::deployment("shop", "checkout");
        assert_eq!(
            template_in_name(&w, "checkout-5d8f7c9b6-x2x7q"),
            Some("5d8f7c9b6")
        );
        assert_eq!(template_in_name(&w, "billing-5d8f7c9b6-x2x7q"), None);
    }
}
