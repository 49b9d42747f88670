//! "Now" as the cluster sees it.
//!
//! Stabilization windows and deadlines are measured against the timestamps the cluster writes
//! (container start times, condition transitions), so "now" must come from the same clock.
//! A real cluster's clock agrees with ours to within NTP error, but a simulated one may run
//! many times faster than real time, and any agent may run on a host with a skewed clock. The
//! default therefore asks the API server: a dry-run create of a ConfigMap returns the object
//! with `creationTimestamp` set by the server, and persists nothing.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, ListParams, PostParams};

/// Where "now" comes from.
#[derive(Clone)]
pub enum ClusterClock {
    /// The API server's clock: the `creationTimestamp` of a dry-run-created ConfigMap in
    /// `namespace` (second precision; needs permission to create ConfigMaps there, which a dry
    /// run checks like a real create). Falls back to [`ClusterClock::Heartbeats`] when refused.
    Server {
        /// Namespace of the dry-run ConfigMap.
        namespace: String,
    },
    /// The newest node heartbeat (node Lease `renewTime`, node condition
    /// `lastHeartbeatTime`): needs only read access, but lags the cluster by up to the
    /// heartbeat interval (10s for leases). Falls back to the local clock when there is none.
    Heartbeats,
    /// This process's clock.
    Local,
    /// A caller-supplied clock, e.g. a simulation's.
    Custom(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>),
}

impl Default for ClusterClock {
    /// [`ClusterClock::Server`] in namespace `default`.
    fn default() -> Self {
        ClusterClock::Server {
            namespace: "default".into(),
        }
    }
}

impl fmt::Debug for ClusterClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterClock::Server { namespace } => f
                .debug_struct("Server")
                .field("namespace", namespace)
                .finish(),
            ClusterClock::Heartbeats => f.write_str("Heartbeats"),
            ClusterClock::Local => f.write_str("Local"),
            ClusterClock::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// A Kubernetes timestamp as chrono's.
pub(crate) fn to_utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl ClusterClock {
    /// A clock from a function.
    pub fn custom(f: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        ClusterClock::Custom(Arc::new(f))
    }

    /// The current time by this clock. Never fails: each source falls back to the next.
    pub async fn now(&self, client: &Client) -> DateTime<Utc> {
        match self {
            ClusterClock::Server { namespace } => match server_time(client, namespace).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(error = %e, "the API server's clock is unavailable; using node heartbeats");
                    heartbeat_time(client).await.unwrap_or_else(Utc::now)
                }
            },
            ClusterClock::Heartbeats => heartbeat_time(client).await.unwrap_or_else(Utc::now),
            ClusterClock::Local => Utc::now(),
            ClusterClock::Custom(f) => f(),
        }
    }
}

async fn server_time(client: &Client, namespace: &str) -> Result<DateTime<Utc>, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let probe = ConfigMap {
        metadata: ObjectMeta {
            generate_name: Some("nightshift-clock-".into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    let pp = PostParams {
        dry_run: true,
        field_manager: Some("nightshift".into()),
    };
    let created = api.create(&pp, &probe).await?;
    Ok(created
        .metadata
        .creation_timestamp
        .map(|t| to_utc(t.0.as_millisecond()))
        .unwrap_or_else(Utc::now))
}

async fn heartbeat_time(client: &Client) -> Option<DateTime<Utc>> {
    let mut newest: Option<i64> = None;
    let mut see = |ms: i64| newest = Some(newest.map_or(ms, |n| n.max(ms)));
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    if let Ok(list) = leases.list(&ListParams::default()).await {
        for l in list.items {
            if let Some(t) = l.spec.and_then(|s| s.renew_time) {
                see(t.0.as_millisecond());
            }
        }
    }
    let nodes: Api<Node> = Api::all(client.clone());
    if let Ok(list) = nodes.list(&ListParams::default()).await {
        for n in list.items {
            for c in n.status.and_then(|s| s.conditions).unwrap_or_default() {
                if let Some(t) = c.last_heartbeat_time {
                    see(t.0.as_millisecond());
                }
            }
        }
    }
    newest.map(to_utc)
}
