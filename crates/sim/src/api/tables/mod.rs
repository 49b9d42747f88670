//! Server-side printing: the `meta.k8s.io/v1` Tables kubectl asks for (`Accept: ...;as=Table`)
//! to show `kubectl get` columns, with the same columns and cell formats as the real API
//! server's printers. Ages are measured on the simulated clock.
//!
//! This module holds the Table itself and picks the printer of each kind; the printers live
//! with their group of kinds: [`pods`], [`nodes`], [`workloads`], [`services`], [`events`]
//! [`rbac`], and [`objects`] for the rest.

mod events;
mod format;
mod nodes;
mod objects;
mod pods;
mod rbac;
mod services;
mod workloads;

use serde_json::{Value, json};

use crate::resources::ResourceType;
use format::{age_at, str_at};

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowObject {
    /// Nothing.
    None,
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl RowObject {
    /// From the `includeObject` query parameter.
    pub fn from_query(value: Option<&str>) -> Self {
        match value {
            Some("None") => RowObject::None,
            Some("Object") => RowObject::Object,
            _ => RowObject::Metadata,
        }
    }
}

/// An object reduced to its metadata, as `PartialObjectMetadata`.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A Table of `items`.
pub fn table(
    rt: &ResourceType,
    items: &[&Value],
    now_ms: i64,
    rv: &str,
    continue_token: Option<&str>,
    row_object: RowObject,
) -> Value {
    let columns: Vec<Value> = columns(rt)
        .iter()
        .map(|(name, ty, priority)| {
            let mut c = json!({"name": name, "type": ty, "format": "", "description": "", "priority": priority});
            if *name == "Name" {
                c["format"] = json!("name");
            }
            c
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|e| {
            let mut row = json!({"cells": cells(rt, e, now_ms)});
            match row_object {
                RowObject::None => {}
                RowObject::Metadata => row["object"] = partial_metadata(e),
                RowObject::Object => row["object"] = (*e).clone(),
            }
            row
        })
        .collect();
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// A column definition: name, type, priority (1 = shown only with `-o wide`).
type Column = (&'static str, &'static str, u8);

const S: &str = "string";
const I: &str = "integer";

fn columns(rt: &ResourceType) -> &'static [Column] {
    match (rt.group, rt.kind) {
        ("", "Pod") => pods::COLUMNS,
        ("apps", "Deployment") => workloads::DEPLOYMENT_COLUMNS,
        ("apps", "ReplicaSet") | ("", "ReplicationController") => workloads::REPLICA_SET_COLUMNS,
        ("batch", "Job") => workloads::JOB_COLUMNS,
        ("apps", "StatefulSet") => workloads::STATEFUL_SET_COLUMNS,
        ("apps", "DaemonSet") => workloads::DAEMON_SET_COLUMNS,
        ("apps", "ControllerRevision") => workloads::CONTROLLER_REVISION_COLUMNS,
        ("", "Node") => nodes::COLUMNS,
        ("", "Service") => services::SERVICE_COLUMNS,
        ("", "Namespace") => objects::NAMESPACE_COLUMNS,
        (_, "Event") => events::COLUMNS,
        ("", "Endpoints") => services::ENDPOINTS_COLUMNS,
        ("", "ConfigMap") => objects::CONFIG_MAP_COLUMNS,
        ("", "Secret") => objects::SECRET_COLUMNS,
        ("", "ServiceAccount") => objects::SERVICE_ACCOUNT_COLUMNS,
        ("policy", "PodDisruptionBudget") => objects::POD_DISRUPTION_BUDGET_COLUMNS,
        ("coordination.k8s.io", "Lease") => objects::LEASE_COLUMNS,
        ("networking.k8s.io", "NetworkPolicy") => objects::NETWORK_POLICY_COLUMNS,
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => rbac::ROLE_COLUMNS,
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            rbac::BINDING_COLUMNS
        }
        _ => objects::DEFAULT_COLUMNS,
    }
}

fn cells(rt: &ResourceType, o: &Value, now: i64) -> Vec<Value> {
    let name = json!(str_at(o, "/metadata/name"));
    let age = json!(age_at(o, "/metadata/creationTimestamp", now));
    match (rt.group, rt.kind) {
        ("", "Pod") => pods::cells(o, now),
        ("apps", "Deployment") => workloads::deployment(o, name, age),
        ("apps", "ReplicaSet") => workloads::replica_set(o, name, age),
        ("", "ReplicationController") => workloads::replication_controller(o, name, age),
        ("batch", "Job") => workloads::job(o, name, age, now),
        ("apps", "StatefulSet") => workloads::stateful_set(o, name, age),
        ("apps", "DaemonSet") => workloads::daemon_set(o, name, age),
        ("apps", "ControllerRevision") => workloads::controller_revision(o, name, age),
        ("", "Node") => nodes::cells(o, name, age),
        ("", "Service") => services::service(o, name, age),
        ("", "Namespace") => objects::namespace(o, name, age),
        ("events.k8s.io", "Event") => events::cells(&crate::events::to_core(o), now),
        (_, "Event") => events::cells(o, now),
        ("", "Endpoints") => services::endpoints(o, name, age),
        ("", "ConfigMap") => objects::config_map(o, name, age),
        ("", "Secret") => objects::secret(o, name, age),
        ("", "ServiceAccount") => objects::service_account(o, name, age),
        ("policy", "PodDisruptionBudget") => objects::pod_disruption_budget(o, name, age),
        ("coordination.k8s.io", "Lease") => objects::lease(o, name, age),
        ("networking.k8s.io", "NetworkPolicy") => objects::network_policy(o, name, age),
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => rbac::role(o, name),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            rbac::binding(o, name, age)
        }
        _ => vec![name, age],
    }
}
