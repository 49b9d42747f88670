//! The garbage collector: objects whose controller owner is gone are deleted (background
//! propagation).

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::resources;
use crate::store::{DeleteOptions, Store};

fn uids<'a>(metas: impl Iterator<Item = &'a ObjectMeta>, into: &mut HashSet<&'a str>) {
    for m in metas {
        if let Some(u) = m.uid.as_deref() {
            into.insert(u);
        }
    }
}

fn orphaned(meta: &ObjectMeta, owners: &HashSet<&str>) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .filter(|r| r.controller == Some(true))
        .any(|r| !owners.contains(r.uid.as_str()))
}

/// Deletes dependents (ReplicaSets, Pods, ControllerRevisions) whose controller is gone.
pub fn sync(store: &Store) {
    let deployments = store.list_typed::<Deployment>(None);
    let statefulsets = store.list_typed::<StatefulSet>(None);
    let daemonsets = store.list_typed::<DaemonSet>(None);
    let replicasets = store.list_typed::<ReplicaSet>(None);
    let controllers = store.list_typed::<ReplicationController>(None);
    let jobs = store.list_typed::<Job>(None);
    let pods = store.list_typed::<Pod>(None);
    let revisions = store.list_typed::<ControllerRevision>(None);
    let mut owners: HashSet<&str> = HashSet::new();
    uids(deployments.iter().map(|d| &d.metadata), &mut owners);
    uids(statefulsets.iter().map(|d| &d.metadata), &mut owners);
    uids(daemonsets.iter().map(|d| &d.metadata), &mut owners);
    uids(replicasets.iter().map(|d| &d.metadata), &mut owners);
    uids(controllers.iter().map(|d| &d.metadata), &mut owners);
    uids(jobs.iter().map(|d| &d.metadata), &mut owners);
    fn sweep<K>(
        store: &Store,
        list: &[Arc<K>],
        owners: &HashSet<&str>,
        meta: impl Fn(&K) -> &ObjectMeta,
    ) where
        K: k8s_openapi::Resource,
    {
        let rt = resources::of::<K>();
        for o in list {
            let m = meta(o);
            if orphaned(m, owners) {
                let ns = m.namespace.as_deref().unwrap_or("");
                let name = m.name.as_deref().unwrap_or("");
                let _ = store.delete(rt, ns, name, &DeleteOptions::default());
            }
        }
    }
    sweep(store, &replicasets, &owners, |x| &x.metadata);
    sweep(store, &pods, &owners, |x| &x.metadata);
    sweep(store, &revisions, &owners, |x| &x.metadata);
}
