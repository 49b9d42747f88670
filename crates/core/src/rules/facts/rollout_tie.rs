//! Whether the newest revision of a workload plausibly caused its failures.

use chrono::Duration;

use crate::evidence::RevisionSummary;
use crate::resource::ResourceRef;

use super::*;

/// A previous revision that ran this long before the newest, with the failures starting only
/// after the newest, counts as healthy.
const PREVIOUS_RAN_MINUTES: i64 = 2;

/// Where a container sits relative to the newest rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RevisionOf {
    Newest,
    Previous,
    Unknown,
}

/// A newest revision that plausibly caused the failures.
#[derive(Debug)]
pub(crate) struct RolloutTie<'a> {
    pub rollout: &'a Rollout<'a>,
    pub newest: &'a RevisionSummary,
    pub previous: &'a RevisionSummary,
    /// Minutes from the rollout to the first failure, when both are known.
    pub minutes_before_onset: Option<i64>,
    /// Failures are shown to be confined to the newest revision.
    pub only_newest_failing: bool,
    /// The previous revision ran (or runs) fine.
    pub previous_healthy: bool,
}

impl RolloutTie<'_> {
    /// A phrase for summaries: `revision 4 (x:1.2)`.
    pub fn describe(&self) -> String {
        let image = self
            .newest
            .images
            .first()
            .map(|i| format!(" ({})", short_image(i)))
            .unwrap_or_default();
        format!("revision {}{image}", self.newest.revision)
    }

    /// `, 3m after its rollout`, when the timing is known.
    pub fn timing(&self) -> String {
        self.minutes_before_onset
            .map(|m| format!(", starting {m}m after its rollout"))
            .unwrap_or_default()
    }
}

impl Facts<'_> {
    /// in image).
    pub fn revision_of(&self, rollout: &Rollout<'_>, c: &ContainerFact<'_>) -> RevisionOf {
        let (Some(newest), Some(previous)) = (rollout.newest(), rollout.previous()) else {
            return RevisionOf::Unknown;
        };
        let in_new = newest.images.iter().any(|i| same_image(i, c.image));
        let in_old = previous.images.iter().any(|i| same_image(i, c.image));
        match (in_new, in_old) {
            (true, false) => RevisionOf::Newest,
            (false, true) => RevisionOf::Previous,
            _ => RevisionOf::Unknown,
        }
    }

    /// Whether the newest rollout of `w` plausibly caused the failures of `failing` pods: it
    /// came shortly before they started (within `window`), there is a previous revision to
    /// return to, and no pod of the previous revision fails.
    pub fn rollout_tie(
        &self,
        w: &ResourceRef,
        failing: &[&ContainerFact<'_>],
        window: Duration,
    ) -> Option<RolloutTie<'_>> {
        let rollout = self.rollout_of(w)?;
        let newest = rollout.newest()?;
        let previous = rollout.previous()?;
        // `newest` is the newest release: the agent's own remedies made since are skipped,
        // never suspects (see `Rollout`).
        if rollout.newest_is_remedy() {
            // Same containers with only the template's metadata moved (a `rollout restart`) or
            // only a limit raised: a person's remedy on the record, not a release that could
            // have brought the failure, and no reason to go back before it.
            return None;
        }
        let pods: Vec<&str> = failing.iter().map(|c| c.pod).collect();
        let onset = self.onset(w, &pods);
        if previous.made_by.is_some()
            && let (Some(made), Some(onset)) = (previous.created_at, onset)
            && made >= onset
        {
            // Our own change after the failures began is no state to go back to.
            return None;
        }
        let mut minutes_before_onset = None;
        if let Some(created) = newest.created_at {
            let onset = onset.unwrap_or(self.now);
            let lead = onset - created;
            if lead < -Duration::minutes(2) || lead > window {
                return None;
            }
            minutes_before_onset = Some(lead.num_minutes().max(0));
        }
        let all = self.containers_of(w);
        let mut on_newest = 0;
        let mut on_previous = 0;
        for c in failing {
            match self.revision_of(rollout, c) {
                RevisionOf::Newest => on_newest += 1,
                RevisionOf::Previous => on_previous += 1,
                RevisionOf::Unknown => {}
            }
        }
        if on_previous > 0 {
            return None;
        }
        let healthy: Vec<&&ContainerFact<'_>> =
            all.iter().filter(|c| c.healthy(self.now)).collect();
        let failing_hashes: Vec<Option<&str>> =
            failing.iter().map(|c| self.template_of(w, c.pod)).collect();
        let hashes_disjoint = !healthy.is_empty()
            && !failing.is_empty()
            && failing_hashes.iter().all(Option::is_some)
            && healthy
                .iter()
                .all(|h| !failing_hashes.contains(&self.template_of(w, h.pod)));
        let only_newest_failing =
            !failing.is_empty() && (on_newest == failing.len() || hashes_disjoint);
        if newest.created_at.is_none() && !only_newest_failing {
            // Neither timing nor images tie the failures to the rollout.
            return None;
        }
        let healthy_on_previous = healthy
            .iter()
            .any(|h| self.revision_of(rollout, h) == RevisionOf::Previous)
            || (hashes_disjoint && !healthy.is_empty());
        // The previous revision ran for a while and nothing failed until the new one came.
        let ran_a_while = match (previous.created_at, newest.created_at) {
            (Some(p), Some(n)) => n - p >= Duration::minutes(PREVIOUS_RAN_MINUTES),
            _ => false,
        };
        Some(RolloutTie {
            rollout,
            newest,
            previous,
            minutes_before_onset,
            only_newest_failing,
            previous_healthy: previous.ready > 0 || healthy_on_previous || ran_a_while,
        })
    }
}
