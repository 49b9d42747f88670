//! What the tests read back: the pods a test saw removed, the record's first incident, a
//! hook's marker file, a kube client for a kubeconfig.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use nightshift_store::{IncidentFilter, Store, StoredIncident};

use super::Process;

/// The orders-worker pods the test saw, by uid: name, and whether it saw it terminating or
/// gone after having seen it.
pub type Seen = Arc<Mutex<BTreeMap<String, (String, bool)>>>;

/// Lists orders-worker pods every 100ms and remembers every uid and every removal.
pub fn watch_pods(client: kube::Client) -> (Seen, tokio::task::JoinHandle<()>) {
    let seen: Seen = Arc::default();
    let out = seen.clone();
    let task = tokio::spawn(async move {
        let api: Api<Pod> = Api::namespaced(client, "shop");
        loop {
            if let Ok(list) = api.list(&ListParams::default()).await {
                let mut s = out.lock().unwrap();
                let mut present = BTreeSet::new();
                for p in list.items {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    if !name.starts_with("orders-worker-") {
                        continue;
                    }
                    let uid = p.metadata.uid.clone().unwrap_or_default();
                    let terminating = p.metadata.deletion_timestamp.is_some();
                    let e = s.entry(uid.clone()).or_insert((name, false));
                    e.1 |= terminating;
                    present.insert(uid);
                }
                for (uid, e) in s.iter_mut() {
                    e.1 |= !present.contains(uid);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (seen, task)
}

pub fn removed(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .values()
        .filter(|(_, gone)| *gone)
        .map(|(name, _)| name.clone())
        .collect()
}

pub async fn client(kubeconfig: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Polls the store until `done` holds for the first incident, or panics after `limit`.
pub async fn until_incident(
    store: &Store,
    limit: Duration,
    what: &str,
    done: impl Fn(&StoredIncident) -> bool,
) -> StoredIncident {
    let deadline = Instant::now() + limit;
    loop {
        let list = store.list(&IncidentFilter::default()).await.unwrap();
        if let Some(i) = list.iter().min_by_key(|i| i.incident.opened_at)
            && done(i)
        {
            return i.clone();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; incidents: {:?}",
            list.iter()
                .map(|i| (&i.incident.id.0, i.incident.state))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn until_file(path: &Path, agent: &mut Process, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(key) = std::fs::read_to_string(path)
            && !key.is_empty()
        {
            return key;
        }
        assert!(agent.running(), "the agent exited before the pause");
        assert!(
            Instant::now() < deadline,
            "the agent never reached the pause ({})",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
