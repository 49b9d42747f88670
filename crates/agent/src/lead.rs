//! Leadership among replicas.
//!
//! Every replica receives alerts, serves the API and records signals into the shared store;
//! one, the holder of a coordination.k8s.io Lease, runs the engine (analysis, decisions,
//! actions, verification, approvals' expiry). The Lease decides who should lead; the store
//! decides whose writes count: on taking the lead a replica claims a new *term* in the store
//! ([`Store::claim_term`]), and every write-ahead intent is recorded only under the current
//! term, and checked again right before the change is made. A replica that lost the Lease
//! while paused or cut off (its process stopped, its node partitioned) wakes up, finds a newer
//! term, and changes nothing; its attempt is written on the incident's timeline.
//!
//! A single replica (the default, and the only way on SQLite) leads alone, with no Lease and
//! no terms.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use nightshift_store::Store;
use tokio::sync::watch;

use crate::clock::Clock;

/// Whether this replica leads, and in which term.
#[derive(Debug, Clone)]
pub enum Lead {
    /// The only replica: it always leads, and its intents carry no term.
    Alone,
    /// One of several: it leads while the channel holds a term.
    Elected(watch::Receiver<Option<u64>>),
}

/// What a replica may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// It leads; `Some(term)` when elected.
    Leads(Option<u64>),
    /// Another replica leads (or none does yet).
    Follows,
}

impl Lead {
    /// Leads now?
    pub fn standing(&self) -> Standing {
        match self {
            Lead::Alone => Standing::Leads(None),
            Lead::Elected(rx) => match *rx.borrow() {
                Some(term) => Standing::Leads(Some(term)),
                None => Standing::Follows,
            },
        }
    }

    /// Waits until this replica leads; returns its term.
    pub async fn leading(&mut self) -> Option<u64> {
        match self {
            Lead::Alone => None,
            Lead::Elected(rx) => loop {
                if let Some(term) = *rx.borrow_and_update() {
                    return Some(term);
                }
                if rx.changed().await.is_err() {
                    // The election ended (shutdown): never lead again.
                    std::future::pending::<()>().await;
                }
            },
        }
    }

    /// Waits for the next change of standing.
    pub async fn changed(&mut self) {
        match self {
            Lead::Alone => std::future::pending().await,
            Lead::Elected(rx) => {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

/// How replicas elect their leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionSettings {
    /// Name of the Lease.
    pub lease: String,
    /// Namespace of the Lease (the agent's own).
    pub namespace: String,
    /// This replica's name in the Lease (its pod name).
    pub identity: String,
    /// How long a lease holds without renewal: a dead leader is replaced within about this.
    pub duration: Duration,
    /// How long before expiry the holder renews.
    pub grace: Duration,
}

/// A running election.
pub struct Election {
    lead: Lead,
    /// Dropping the manager's channel makes it release the Lease.
    manager: Option<
        tokio::task::JoinHandle<
            Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>,
        >,
    >,
    stop: Option<watch::Receiver<bool>>,
    task: tokio::task::JoinHandle<()>,
}

/// Why the election could not start.
#[derive(Debug, thiserror::Error)]
#[error("unable to take part in leader election on Lease {namespace}/{lease}: {message}")]
pub struct ElectionError {
    /// Namespace.
    pub namespace: String,
    /// Lease.
    pub lease: String,
    /// Cause.
    pub message: String,
}

impl Election {
    /// Joins the election: the Lease is created when missing, renewed while held; each time
    /// this replica takes the lead it claims a new term in `store`.
    pub async fn join(
        client: Client,
        store: Store,
        clock: std::sync::Arc<dyn Clock>,
        settings: &ElectionSettings,
    ) -> Result<Election, ElectionError> {
        let err = |message: String| ElectionError {
            namespace: settings.namespace.clone(),
            lease: settings.lease.clone(),
            message,
        };
        let manager = LeaseManagerBuilder::new(client, &settings.lease)
            .with_namespace(&settings.namespace)
            .with_identity(&settings.identity)
            .with_duration(settings.duration.as_secs().max(1))
            .with_grace(settings.grace.as_secs().max(1))
            .with_field_manager(format!("nightshift-{}", settings.identity))
            .build()
            .await
            .map_err(|e| err(e.to_string()))?;
        let (mut held, manager) = manager.watch().await;
        let (tx, rx) = watch::channel(None);
        let identity = settings.identity.clone();
        let stop = held.clone();
        let task = tokio::spawn(async move {
            loop {
                let holds = *held.borrow_and_update();
                let standing = if holds {
                    // The term is what fences the previous leader: claimed before anything runs.
                    let mut tries = 0u32;
                    loop {
                        match store.claim_term(&identity, clock.now()).await {
                            Ok(term) => break Some(term),
                            Err(e) => {
                                tries += 1;
                                tracing::error!(error = %e, tries, "unable to claim a leadership term; retrying");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                if !*held.borrow() {
                                    break None;
                                }
                            }
                        }
                    }
                } else {
                    None
                };
                match standing {
                    Some(term) => tracing::info!(identity, term, "leading"),
                    None => tracing::info!(identity, "following"),
                }
                if tx.send(standing).is_err() || held.changed().await.is_err() {
                    let _ = tx.send(None);
                    return;
                }
            }
        });
        Ok(Election {
            lead: Lead::Elected(rx),
            manager: Some(manager),
            stop: Some(stop),
            task,
        })
    }

    /// This replica's standing, to hand to the engine.
    pub fn lead(&self) -> Lead {
        self.lead.clone()
    }

    /// Steps down: stops leading at once and releases the Lease, so another replica takes
    /// over without waiting for it to expire.
    pub async fn resign(mut self) {
        self.task.abort();
        // The manager releases the Lease when every receiver of its channel is gone.
        drop(self.stop.take());
        if let Some(manager) = self.manager.take() {
            match tokio::time::timeout(Duration::from_secs(5), manager).await {
                Ok(Ok(Ok(_))) => tracing::info!("released the leader Lease"),
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "unable to release the leader Lease"),
                Ok(Err(_)) | Err(_) => tracing::warn!("the leader Lease was not released in time"),
            }
        }
    }
}
