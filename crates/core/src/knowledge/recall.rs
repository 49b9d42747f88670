//! What the record of similar incidents says, in the words an SRE would use, and when a
//! fault that comes back after every remedy must go to a person instead of being masked again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{EntrySource, Hit, Outcome};
use crate::catalogue::{ActionName, Category};

/// Hits below this similarity are not "the same thing".
pub const SAME_THING: f64 = 0.5;

/// How an action did on similar past incidents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// The action.
    pub action: ActionName,
    /// Times it ran on them.
    pub tried: u32,
    /// Times the service was verified recovered after it.
    pub fixed: u32,
}

/// The record of incidents like this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recall {
    /// Similar incidents of this agent within the window.
    pub seen: u32,
    /// The window, in days.
    pub window_days: u32,
    /// The most recent of them: its id and when it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<(String, DateTime<Utc>)>,
    /// Each action that ran on them, most tried first.
    pub actions: Vec<ActionRecord>,
    /// Imported postmortems and runbooks that match, by id.
    pub documents: Vec<String>,
}

impl Recall {
    /// One line for the record and notifications: `seen 3 times in 30 days; rollback
    /// fixed it 3 of 3 times; last on 2026-12-01 (inc-000004)`; `None` when nothing similar
    /// is on record.
    pub fn line(&self) -> Option<String> {
        if self.seen == 0 && self.documents.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        if self.seen > 0 {
            let times = if self.seen == 1 { "once" } else { "times" };
            parts.push(if self.seen == 1 {
                format!("seen {times} in {} days", self.window_days)
            } else {
                format!("seen {} {times} in {} days", self.seen, self.window_days)
            });
            for a in &self.actions {
                parts.push(format!(
                    "{} fixed it {} of {} time{}",
                    a.action,
                    a.fixed,
                    a.tried,
                    if a.tried == 1 { "" } else { "s" }
                ));
            }
            if let Some((id, at)) = &self.last {
                parts.push(format!("last on {} ({id})", at.format("%Y-%m-%d")));
            }
        }
        if !self.documents.is_empty() {
            parts.push(format!("see {}", self.documents.join(", ")));
        }
        Some(parts.join("; "))
    }
}

/// Sums up hits (best first) for the line on the record: incidents at least
/// [`SAME_THING`]-similar within `window` before `now`, and matching documents.
pub fn recall(hits: &[Hit], now: DateTime<Utc>, window: Duration) -> Recall {
    let since = now - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    let mut out = Recall {
        seen: 0,
        window_days: (window.as_secs() / 86_400).max(1) as u32,
        last: None,
        actions: Vec::new(),
        documents: Vec::new(),
    };
    for h in hits.iter().filter(|h| h.similarity >= SAME_THING) {
        let e = &h.entry;
        if e.source != EntrySource::Incident {
            out.documents.push(e.id.clone());
            continue;
        }
        if e.occurred_at < since || e.occurred_at > now {
            continue;
        }
        out.seen += 1;
        if out.last.as_ref().is_none_or(|(_, at)| e.occurred_at > *at) {
            out.last = Some((e.id.clone(), e.occurred_at));
        }
        for a in e.actions.iter().filter(|a| a.action.changes_infra()) {
            let Some(fixed) = a.fixed else { continue };
            let i = match out.actions.iter().position(|r| r.action == a.action) {
                Some(i) => i,
                None => {
                    out.actions.push(ActionRecord {
                        action: a.action,
                        tried: 0,
                        fixed: 0,
                    });
                    out.actions.len() - 1
                }
            };
            out.actions[i].tried += 1;
            out.actions[i].fixed += u32::from(fixed);
        }
    }
    out.actions.sort_by_key(|a| std::cmp::Reverse(a.tried));
    out
}

/// When a fault that keeps coming back must go to a person: `limit` earlier incidents of the
/// same category on the same resource within `window`, each "fixed" by a remedy, mean the
/// remedy masks the fault. Set by the policy's `learning.recurrence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecurrenceLimit {
    /// Earlier remedied incidents that make this one recurring; 0 turns the check off.
    pub limit: u32,
    /// How far back they count.
    pub window: Duration,
}

impl Default for RecurrenceLimit {
    fn default() -> Self {
        RecurrenceLimit {
            limit: 3,
            window: Duration::from_secs(24 * 3600),
        }
    }
}

/// A fault found to recur after each remedy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    /// The category.
    pub category: Category,
    /// The resource, as `deployment/shop/cart`.
    pub resource: String,
    /// The remedy that kept "fixing" it.
    pub action: ActionName,
    /// Earlier incidents, oldest first.
    pub incidents: Vec<String>,
    /// The window they fall in.
    pub window_hours: u64,
}

impl Recurrence {
    /// Why the agent hands the incident over instead of remedying it again.
    pub fn reason(&self) -> String {
        format!(
            "recurring: {} on {} came back {} times in {}h after {} ({}); {} again would mask \
             it, a person must find the cause",
            self.category,
            self.resource,
            self.incidents.len(),
            self.window_hours,
            self.action,
            self.incidents.join(", "),
            self.action
        )
    }
}

/// Whether an incident of `category` on `resource` at `now` recurs, per `limit`: the hits
/// that are incidents on the same resource with the same category, within the window, that
/// closed after a verified remedy. The remedy named is the one used most.
pub fn recurrence(
    hits: &[Hit],
    category: Category,
    resource: &str,
    now: DateTime<Utc>,
    limit: RecurrenceLimit,
) -> Option<Recurrence> {
    if limit.limit == 0 {
        return None;
    }
    let since = now - chrono::Duration::from_std(limit.window).unwrap_or(chrono::Duration::MAX);
    let mut earlier: Vec<(&DateTime<Utc>, &str, ActionName)> = hits
        .iter()
        .map(|h| &h.entry)
        .filter(|e| {
            e.source == EntrySource::Incident
                && e.outcome == Outcome::Resolved
                && e.signature.category == Some(category)
                && e.signature.resource.as_deref() == Some(resource)
                && e.occurred_at >= since
                && e.occurred_at <= now
        })
        .filter_map(|e| {
            e.fix()
                .filter(|a| a.action.changes_infra())
                .map(|a| (&e.occurred_at, e.id.as_str(), a.action))
        })
        .collect();
    if (earlier.len() as u32) < limit.limit {
        return None;
    }
    earlier.sort_by(|a, b| a.0.cmp(b.0));
    let mut counts: Vec<(ActionName, usize)> = Vec::new();
    for (_, _, a) in &earlier {
        match counts.iter_mut().find(|(x, _)| x == a) {
            Some((_, n)) => *n += 1,
            None => counts.push((*a, 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    Some(Recurrence {
        category,
        resource: resource.to_string(),
        action: counts[0].0,
        incidents: earlier.iter().map(|(_, id, _)| id.to_string()).collect(),
        window_hours: limit.window.as_secs() / 3600,
    })
}
