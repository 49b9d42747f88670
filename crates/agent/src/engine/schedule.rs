//! Which incident the engine's workers take next, and when a waiting one is due again.
//!
//! An incident is worked on in steps. A step that has to wait (the settle window, a human's
//! answer, the next look at a recovery) does not sleep on a worker: it returns when it wants
//! to be looked at again, and the incident goes on a timer. Workers take the ready incident of
//! highest priority (severity, then criticality, then the kind of resource, then age), so a
//! node going down is not queued behind thousands of pod alerts, and an answer or a new signal
//! wakes a waiting incident at once. Memory is one small entry per incident in flight.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use nightshift_core::IncidentId;
use tokio::sync::Notify;

use crate::clock::Clock;

/// How urgent an incident is; greater first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Priority {
    /// 3 critical, 2 warning (or unknown), 1 info.
    pub severity: u8,
    /// The policy's criticality of its namespace (0 low .. 3 critical).
    pub criticality: u8,
    /// 3 node, 2 workload or service, 1 pod, 0 anything else (a storm).
    pub kind: u8,
    /// Older first.
    pub opened: Reverse<i64>,
}

/// What an incident needs next from the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing more for now (closed, escalated, observing).
    Done,
    /// A look at or after this time (agent clock).
    At(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ready,
    Running { wake: bool },
    Waiting { due: DateTime<Utc>, seq: u64 },
}

#[derive(Debug)]
struct Entry {
    priority: Priority,
    status: Status,
}

#[derive(Debug, Default)]
struct Queue {
    entries: HashMap<IncidentId, Entry>,
    ready: BinaryHeap<(Priority, Reverse<u64>, IncidentId)>,
    timers: BTreeSet<(DateTime<Utc>, u64, IncidentId)>,
    seq: u64,
}

impl Queue {
    fn push_ready(&mut self, id: IncidentId, priority: Priority) {
        self.seq += 1;
        self.ready.push((priority, Reverse(self.seq), id));
    }
}

/// How many incidents are where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Waiting for a worker.
    pub ready: usize,
    /// On a worker now.
    pub running: usize,
    /// Waiting for a time (settle, approval, recovery).
    pub waiting: usize,
}

impl Backlog {
    /// Incidents in flight.
    pub fn total(&self) -> usize {
        self.ready + self.running + self.waiting
    }
}

/// The queue of incidents in flight.
pub(super) struct Scheduler {
    queue: Mutex<Queue>,
    workers: Notify,
    timer: Notify,
}

impl Scheduler {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Scheduler {
            queue: Mutex::new(Queue::default()),
            workers: Notify::new(),
            timer: Notify::new(),
        })
    }

    /// Asks for a look at `id` now: a new incident is queued with `priority`, a waiting one is
    /// woken, a running one runs again as soon as its step ends. Returns false when it was
    /// already queued or running (nothing new to do).
    pub(super) fn wake(&self, id: &IncidentId, priority: Priority) -> bool {
        let Ok(mut q) = self.queue.lock() else {
            return false;
        };
        let status = q.entries.get(id).map(|e| e.status);
        let queued = match status {
            None => {
                q.entries.insert(
                    id.clone(),
                    Entry {
                        priority,
                        status: Status::Ready,
                    },
                );
                q.push_ready(id.clone(), priority);
                true
            }
            Some(Status::Waiting { due, seq }) => {
                q.timers.remove(&(due, seq, id.clone()));
                let p = q
                    .entries
                    .get(id)
                    .map_or(priority, |e| e.priority.max(priority));
                if let Some(e) = q.entries.get_mut(id) {
                    e.status = Status::Ready;
                    e.priority = p;
                }
                q.push_ready(id.clone(), p);
                true
            }
            Some(Status::Running { .. }) => {
                if let Some(e) = q.entries.get_mut(id) {
                    e.status = Status::Running { wake: true };
                }
                false
            }
            Some(Status::Ready) => false,
        };
        drop(q);
        if queued {
            self.workers.notify_one();
        }
        queued
    }

    /// The ready incident of highest priority, waiting for one if there is none.
    pub(super) async fn next(&self) -> IncidentId {
        loop {
            let notified = self.workers.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Ok(mut q) = self.queue.lock() {
                while let Some((_, _, id)) = q.ready.pop() {
                    // Entries woken twice leave stale heap items behind; skip them.
                    if let Some(e) = q.entries.get_mut(&id)
                        && e.status == Status::Ready
                    {
                        e.status = Status::Running { wake: false };
                        let more = !q.ready.is_empty();
                        drop(q);
                        if more {
                            // Another worker may take the next one.
                            self.workers.notify_one();
                        }
                        return id;
                    }
                }
            }
            notified.await;
        }
    }

    /// A worker finished a step of `id`.
    pub(super) fn finish(&self, id: &IncidentId, next: Next) {
        let Ok(mut q) = self.queue.lock() else {
            return;
        };
        let Some(entry) = q.entries.get(id) else {
            return;
        };
        let woken = matches!(entry.status, Status::Running { wake: true });
        let priority = entry.priority;
        match (next, woken) {
            (_, true) => {
                if let Some(e) = q.entries.get_mut(id) {
                    e.status = Status::Ready;
                }
                q.push_ready(id.clone(), priority);
                drop(q);
                self.workers.notify_one();
            }
            (Next::Done, false) => {
                q.entries.remove(id);
            }
            (Next::At(due), false) => {
                q.seq += 1;
                let seq = q.seq;
                if let Some(e) = q.entries.get_mut(id) {
                    e.status = Status::Waiting { due, seq };
                }
                let earliest = q.timers.first().is_none_or(|(t, _, _)| due < *t);
                q.timers.insert((due, seq, id.clone()));
                drop(q);
                if earliest {
                    self.timer.notify_one();
                }
            }
        }
    }

    /// Moves due incidents to the ready queue; returns when the next one is due.
    fn release_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Ok(mut q) = self.queue.lock() else {
            return None;
        };
        let mut released = 0;
        while let Some((due, seq, id)) = q.timers.first().cloned() {
            if due > now {
                break;
            }
            q.timers.remove(&(due, seq, id.clone()));
            let Some(e) = q.entries.get_mut(&id) else {
                continue;
            };
            e.status = Status::Ready;
            let p = e.priority;
            q.push_ready(id, p);
            released += 1;
        }
        let next = q.timers.first().map(|(t, _, _)| *t);
        drop(q);
        for _ in 0..released {
            self.workers.notify_one();
        }
        next
    }

    /// Releases waiting incidents when they are due, measured on `clock`.
    pub(super) async fn run_timers(self: Arc<Self>, clock: Arc<dyn Clock>) {
        loop {
            let changed = self.timer.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.release_due(clock.now()) {
                None => changed.await,
                Some(due) => {
                    let wait = (due - clock.now())
                        .to_std()
                        .unwrap_or(Duration::ZERO)
                        // Re-read the clock now and then: a simulated clock may jump.
                        .min(Duration::from_secs(1));
                    tokio::select! {
                        _ = clock.sleep(wait) => {}
                        _ = changed => {}
                    }
                }
            }
        }
    }

    /// Whether `id` is in the queue (ready, running or waiting).
    pub(super) fn knows(&self, id: &IncidentId) -> bool {
        self.queue.lock().is_ok_and(|q| q.entries.contains_key(id))
    }

    /// Forgets every incident that is not on a worker now: a replica that stops leading
    /// leaves them to the new leader, which reads them from the record.
    pub(super) fn clear(&self) {
        if let Ok(mut q) = self.queue.lock() {
            q.entries
                .retain(|_, e| matches!(e.status, Status::Running { .. }));
            q.ready.clear();
            q.timers.clear();
        }
    }

    /// Counts by where the incidents are.
    pub(super) fn backlog(&self) -> Backlog {
        let Ok(q) = self.queue.lock() else {
            return Backlog::default();
        };
        let mut b = Backlog::default();
        for e in q.entries.values() {
            match e.status {
                Status::Ready => b.ready += 1,
                Status::Running { .. } => b.running += 1,
                Status::Waiting { .. } => b.waiting += 1,
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn id(s: &str) -> IncidentId {
        IncidentId(s.into())
    }

    fn p(severity: u8, opened: i64) -> Priority {
        Priority {
            severity,
            opened: Reverse(opened),
            ..Priority::default()
        }
    }

    #[tokio::test]
    async fn the_most_urgent_ready_incident_goes_first() {
        let s = Scheduler::new();
        for i in 0..1000 {
            s.wake(&id(&format!("junk-{i}")), p(1, i));
        }
        s.wake(&id("node-down"), p(3, 5000));
        s.wake(&id("older-warning"), p(2, 1));
        s.wake(&id("newer-warning"), p(2, 2));
        assert_eq!(s.next().await, id("node-down"));
        assert_eq!(s.next().await, id("older-warning"));
        assert_eq!(s.next().await, id("newer-warning"));
        assert_eq!(s.next().await, id("junk-0"));
        assert_eq!(
            s.backlog(),
            Backlog {
                ready: 999,
                running: 4,
                waiting: 0
            }
        );
    }

    #[tokio::test]
    async fn a_waiting_incident_holds_no_worker_and_is_woken_early_by_an_answer() {
        let s = Scheduler::new();
        let far = Utc::now() + chrono::Duration::hours(1);
        s.wake(&id("a"), p(2, 0));
        assert_eq!(s.next().await, id("a"));
        s.finish(&id("a"), Next::At(far));
        assert_eq!(s.backlog().waiting, 1);
        s.wake(&id("b"), p(1, 0));
        assert_eq!(s.next().await, id("b"), "the worker is free for others");
        assert!(s.wake(&id("a"), p(2, 0)), "an answer wakes it");
        assert_eq!(s.next().await, id("a"));
        s.finish(&id("a"), Next::Done);
        s.finish(&id("b"), Next::Done);
        assert_eq!(s.backlog(), Backlog::default());
    }

    #[tokio::test]
    async fn a_wake_during_a_step_runs_the_incident_again() {
        let s = Scheduler::new();
        s.wake(&id("a"), p(2, 0));
        assert_eq!(s.next().await, id("a"));
        assert!(!s.wake(&id("a"), p(2, 0)), "already running");
        s.finish(&id("a"), Next::At(Utc::now() + chrono::Duration::hours(1)));
        assert_eq!(
            s.backlog().ready,
            1,
            "not put to sleep: it was woken meanwhile"
        );
        assert_eq!(s.next().await, id("a"));
    }

    #[tokio::test]
    async fn due_timers_release_incidents() {
        let s = Scheduler::new();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        tokio::spawn(s.clone().run_timers(clock));
        s.wake(&id("a"), p(2, 0));
        assert_eq!(s.next().await, id("a"));
        s.finish(
            &id("a"),
            Next::At(Utc::now() + chrono::Duration::milliseconds(50)),
        );
        let got = tokio::time::timeout(Duration::from_secs(5), s.next()).await;
        assert_eq!(got.ok(), Some(id("a")));
    }
}
