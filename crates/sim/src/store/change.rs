//! The change log watches read: what happened to which object at which version, kept
//! bounded, and broadcast to the watches already running.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::entry::Entry;
use super::error::StoreError;
use super::{Inner, Store};
use crate::resources::{self, ResourceType};

/// How many changes the log keeps for watches that resume from a resource version.
pub(super) const CHANGE_LOG_CAPACITY: usize = 10_000;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// Created.
    Added,
    /// Updated.
    Modified,
    /// Removed.
    Deleted,
}

impl ChangeType {
    /// The watch event type string.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// The changes a watch replays, and the receiver for the ones to come.
pub type WatchStart = (Vec<Arc<Change>>, broadcast::Receiver<Arc<Change>>);

/// One entry of the change log, as watches deliver it.
#[derive(Debug, Clone)]
pub struct Change {
    /// Resource type.
    pub rt: &'static ResourceType,
    /// What happened.
    pub kind: ChangeType,
    /// The object after the change (for deletions: its last state, with the deletion's version).
    pub entry: Arc<Entry>,
}

impl Store {
    /// Appends a change to the log (dropping the oldest past its capacity) and sends it to
    /// the running watches.
    pub(super) fn record(
        &self,
        inner: &mut Inner,
        rt: &'static ResourceType,
        kind: ChangeType,
        entry: Arc<Entry>,
    ) {
        inner.kind_rv[resources::index_of(rt)] = entry.resource_version();
        let change = Arc::new(Change { rt, kind, entry });
        if inner.log.len() == CHANGE_LOG_CAPACITY
            && let Some(old) = inner.log.pop_front()
        {
            inner.compacted = old.entry.resource_version();
        }
        inner.log.push_back(change.clone());
        let _ = self.tx.send(change);
    }

    /// Starts a watch of one type from `since` (exclusive): the changes already logged after
    /// it, and a receiver for the ones to come, with no gap between the two.
    /// `None` means from now.
    pub fn watch(
        &self,
        rt: &'static ResourceType,
        since: Option<u64>,
    ) -> Result<WatchStart, StoreError> {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let backlog = match since {
            None => Vec::new(),
            Some(rv) if rv < inner.compacted => {
                return Err(StoreError::Gone {
                    requested: rv,
                    oldest: inner.compacted,
                });
            }
            Some(rv) => inner
                .log
                .iter()
                .filter(|c| c.entry.resource_version() > rv)
                .filter_map(|c| {
                    if std::ptr::eq(c.rt, rt) {
                        Some(c.clone())
                    } else {
                        super::view::seen_as(rt, c)
                    }
                })
                .collect(),
        };
        Ok((backlog, rx))
    }
}
