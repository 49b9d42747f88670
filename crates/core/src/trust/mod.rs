//! The trust ladder: autonomy earned from a measured record, one row per namespace × action
//! × diagnosis category.
//!
//! Every proposal of the agent meets a fate that a person or the cluster decides: in observe
//! mode a person makes the same change (agreement, seen on the cluster through field
//! managers) or another one, or marks the proposal right or wrong; in approve mode it is
//! approved or rejected; in auto mode verification finds the service recovered or not; any
//! action can later be judged harmful. Each fate is an [`Event`]. A row's successes and
//! failures give a success rate and its Wilson lower bound; the policy's `promotion:` says
//! what earns each mode ([`Promotion`]). With `promotion.apply: auto` a row moves itself one
//! step at a time within the namespace's ceiling ([`next_mode`]): a success record promotes
//! it, any rejection, failure or harm demotes it at once, and a pinned row never moves.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalogue::{ActionName, Category};
use crate::policy::Mode;

/// One row of the ladder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RowKey {
    /// Namespace (`-` for cluster-scoped actions such as cordoning a node).
    pub namespace: String,
    /// The action proposed.
    pub action: ActionName,
    /// The diagnosis it was proposed for.
    pub category: Category,
}

impl fmt::Display for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} × {} × {}",
            self.namespace, self.action, self.category
        )
    }
}

/// What became of a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Observe mode: a person made the same change, or marked the proposal right.
    Agreed,
    /// Observe mode: a person made another change instead, or marked the proposal wrong.
    Disagreed,
    /// Approve mode: approved.
    Approved,
    /// Approve mode: rejected.
    Rejected,
    /// Auto (or approved) action: the service was verified recovered.
    Verified,
    /// The action failed, or the service did not recover.
    Failed,
    /// A person judged the action harmful.
    Harmful,
}

impl Fate {
    /// As stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Fate::Agreed => "agreed",
            Fate::Disagreed => "disagreed",
            Fate::Approved => "approved",
            Fate::Rejected => "rejected",
            Fate::Verified => "verified",
            Fate::Failed => "failed",
            Fate::Harmful => "harmful",
        }
    }

    /// Whether it counts for the proposal.
    pub fn success(self) -> bool {
        matches!(self, Fate::Agreed | Fate::Approved | Fate::Verified)
    }

    /// Whether it demotes a row at once.
    pub fn demotes(self) -> bool {
        matches!(self, Fate::Rejected | Fate::Failed | Fate::Harmful)
    }

    /// Whether a person's hands were on it (approve or auto level), as opposed to a
    /// proposal only watched.
    fn hands_on(self) -> bool {
        !matches!(self, Fate::Agreed | Fate::Disagreed)
    }
}

impl std::str::FromStr for Fate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Fate::Agreed,
            Fate::Disagreed,
            Fate::Approved,
            Fate::Rejected,
            Fate::Verified,
            Fate::Failed,
            Fate::Harmful,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
        .ok_or_else(|| {
            format!(
                "unknown fate {s:?}; expected agreed, disagreed, approved, rejected, verified, \
                 failed or harmful"
            )
        })
    }
}

/// One fate on the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The row.
    pub row: RowKey,
    /// The incident whose proposal it was.
    pub incident: String,
    /// What became of it.
    pub fate: Fate,
    /// When.
    pub at: DateTime<Utc>,
    /// Who decided it (a person, `cluster` for a change seen on it, `nightshift` for a
    /// verification).
    pub by: String,
    /// How it was known (`kubectl-rollout made the same change`, `approved`, ...).
    pub detail: String,
}

/// What `promotion:` in the policy says.
#[derive(Debug, Clone, PartialEq)]
pub struct Promotion {
    /// Whether rows move themselves (`auto`) or the ladder only recommends (`recommend`).
    pub auto: bool,
    /// How far back fates count.
    pub window: Duration,
    /// Fates a row needs before it earns anything.
    pub min_samples: u32,
    /// The Wilson lower bound (95%) of its success rate it needs.
    pub min_lower_bound: f64,
    /// The highest mode any row may earn.
    pub ceiling: Mode,
    /// Lower (or higher) ceilings per namespace.
    pub namespace_ceilings: BTreeMap<String, Mode>,
}

impl Default for Promotion {
    fn default() -> Self {
        Promotion {
            auto: false,
            window: Duration::from_secs(30 * 86_400),
            min_samples: 5,
            min_lower_bound: 0.7,
            ceiling: Mode::Approve,
            namespace_ceilings: BTreeMap::new(),
        }
    }
}

impl Promotion {
    /// The ceiling in a namespace.
    pub fn ceiling_for(&self, namespace: &str) -> Mode {
        self.namespace_ceilings
            .get(namespace)
            .copied()
            .unwrap_or(self.ceiling)
    }
}

/// The Wilson score lower bound of a success rate at 95% confidence: with few samples it
/// stays well under the rate (4 of 4 gives 0.51), so a short lucky run earns nothing.
pub fn lower_bound(successes: u32, samples: u32) -> f64 {
    if samples == 0 {
        return 0.0;
    }
    let n = f64::from(samples);
    let p = f64::from(successes) / n;
    let z = 1.96_f64;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let margin = z * ((p * (1.0 - p) + z2 / (4.0 * n)) / n).sqrt();
    ((centre - margin) / (1.0 + z2 / n)).max(0.0)
}

/// Successes and samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tally {
    /// Fates that counted for the proposal.
    pub successes: u32,
    /// All fates.
    pub samples: u32,
}

impl Tally {
    fn add(&mut self, success: bool) {
        self.samples += 1;
        self.successes += u32::from(success);
    }

    /// successes / samples (0 with none).
    pub fn rate(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            f64::from(self.successes) / f64::from(self.samples)
        }
    }

    /// [`lower_bound`] of the tally.
    pub fn lower_bound(&self) -> f64 {
        lower_bound(self.successes, self.samples)
    }
}

/// A row as the ladder shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Which.
    pub key: RowKey,
    /// Every fate in the window since the last demotion.
    pub all: Tally,
    /// Of which approvals, rejections and verified or failed actions.
    pub hands_on: Tally,
    /// Harmful judgments in the window (any demotion window).
    pub harmful: u32,
    /// What the record earns under the policy.
    pub earned: Mode,
    /// The mode the row is in now (with `promotion.apply: auto`; else the policy's).
    pub mode: Mode,
    /// Set by a person: the row stays in this mode whatever the record says.
    pub pinned: bool,
    /// The last fate.
    pub last: Option<DateTime<Utc>>,
}

/// The tally of a row from its events (oldest first): fates within `window` before `now`,
/// and only those after `since` (the row's last demotion).
pub fn tally(
    events: &[&Event],
    now: DateTime<Utc>,
    window: Duration,
    since: Option<DateTime<Utc>>,
) -> (Tally, Tally, u32) {
    let from = now - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    let mut all = Tally::default();
    let mut hands = Tally::default();
    let mut harmful = 0;
    for e in events.iter().filter(|e| e.at >= from && e.at <= now) {
        if e.fate == Fate::Harmful {
            harmful += 1;
        }
        if since.is_some_and(|s| e.at <= s) {
            continue;
        }
        all.add(e.fate.success());
        if e.fate.hands_on() {
            hands.add(e.fate.success());
        }
    }
    (all, hands, harmful)
}

/// The mode a record earns: approve once enough fates of any kind clear the bound; auto once
/// enough hands-on fates (approvals, verified actions) clear it as well; observe after any
/// harm in the window; never above the namespace's ceiling.
pub fn earned(all: Tally, hands_on: Tally, harmful: u32, p: &Promotion, namespace: &str) -> Mode {
    let clears = |t: Tally| t.samples >= p.min_samples && t.lower_bound() >= p.min_lower_bound;
    let mode = if harmful > 0 || !clears(all) {
        Mode::Observe
    } else if clears(hands_on) {
        Mode::Auto
    } else {
        Mode::Approve
    };
    mode.min(p.ceiling_for(namespace))
}

/// One step down the ladder (observe stays).
pub fn step_down(mode: Mode) -> Mode {
    match mode {
        Mode::Auto => Mode::Approve,
        _ => Mode::Observe,
    }
}

/// One step up, towards `to` (dry-run is not a step of the ladder).
pub fn step_up(mode: Mode, to: Mode) -> Mode {
    let next = match mode {
        Mode::Observe | Mode::DryRun => Mode::Approve,
        Mode::Approve | Mode::Auto => Mode::Auto,
    };
    next.min(to).max(mode)
}

/// A change of a row's mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeChange {
    /// The row.
    pub row: RowKey,
    /// From.
    pub from: Mode,
    /// To.
    pub to: Mode,
    /// Why, in a sentence.
    pub reason: String,
}

/// Where a row in `current` mode goes after `event`, with `promotion.apply: auto`: a
/// demoting fate takes it one step down at once; otherwise it climbs one step towards what
/// the record (`all`, `hands_on`, `harmful`, counted with the event) earns. `None` when it
/// stays.
pub fn next_mode(
    current: Mode,
    event: &Event,
    all: Tally,
    hands_on: Tally,
    harmful: u32,
    p: &Promotion,
) -> Option<ModeChange> {
    let ceiling = p.ceiling_for(&event.row.namespace);
    let (to, reason) = if event.fate.demotes() {
        let to = step_down(current).min(ceiling);
        (
            to,
            format!(
                "{} {} ({}): demoted at once",
                event.incident,
                event.fate.as_str(),
                event.detail
            ),
        )
    } else if current > ceiling {
        (ceiling, format!("above the namespace's ceiling {ceiling}"))
    } else {
        let earned = earned(all, hands_on, harmful, p, &event.row.namespace);
        let to = step_up(current, earned);
        (
            to,
            format!(
                "{} of {} right (lower bound {:.2} ≥ {:.2}), {} hands-on; earned {earned}",
                all.successes,
                all.samples,
                all.lower_bound(),
                p.min_lower_bound,
                hands_on.samples
            ),
        )
    };
    (to != current).then(|| ModeChange {
        row: event.row.clone(),
        from: current,
        to,
        reason,
    })
}

#[cfg(test)]
mod tests;
