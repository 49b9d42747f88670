//! A workload's rollout history, and which of its revisions are releases.

use crate::evidence::{EvidenceData, EvidenceId, EvidenceItem, RevisionSummary};
use crate::resource::ResourceRef;

/// A workload's rollout history.
///
/// Rules judge releases, not the agent's own remedies. A revision Nightshift made (`made_by`)
/// with the images of the revision before it and nothing changed but resources (its
/// set-resources, its rollout-restart) keeps the release before it in place:
/// [`Rollout::newest`] skips such revisions and names the newest release still in place, so a
/// bad release followed by the agent's remedy is still judged, and its rollback target,
/// [`Rollout::previous`], predates the release. A revision Nightshift made that does not keep
/// the release in place (a rollback) ends the search: what came before it no longer runs, and
/// the agent's own revision is never a suspect.
#[derive(Debug)]
pub(crate) struct Rollout<'a> {
    pub id: &'a EvidenceId,
    pub workload: ResourceRef,
    /// Newest first, the agent's remedies included.
    pub revisions: Vec<&'a RevisionSummary>,
}

impl<'a> Rollout<'a> {
    /// Where the newest release still in place sits in `revisions`, after the agent's remedies
    /// made since; `None` when the agent's own change (a rollback) replaced what ran before.
    fn release_index(&self) -> Option<usize> {
        let mut i = 0;
        while let Some(r) = self.revisions.get(i) {
            if r.made_by.is_none() {
                return Some(i);
            }
            if !keeps_the_release(r, self.revisions.get(i + 1).copied()) {
                return None;
            }
            i += 1;
        }
        None
    }

    /// The newest release still in place: the newest revision that is not the agent's own
    /// remedy (see the type's documentation). The one to judge as a suspect.
    pub fn newest(&self) -> Option<&'a RevisionSummary> {
        self.revisions.get(self.release_index()?).copied()
    }

    /// The revision before [`Rollout::newest`]: the rollback target, older than the release.
    pub fn previous(&self) -> Option<&'a RevisionSummary> {
        self.revisions.get(self.release_index()? + 1).copied()
    }

    /// Whether the newest release is itself a remedy on the record, made by a person: the
    /// same images with nothing changed but the template's metadata (a `rollout restart`), or
    /// with nothing changed but limits raised (more room, as a raised memory limit gives).
    /// Neither can bring a failure, so neither is a suspect to roll back. The collector's
    /// change list names container and pod-level changes (node selector, tolerations,
    /// volumes...), so an empty list means the template's spec did not change at all.
    pub fn newest_is_remedy(&self) -> bool {
        let (Some(newest), Some(previous)) = (self.newest(), self.previous()) else {
            return false;
        };
        newest.images == previous.images && newest.change.iter().all(|c| raises_a_limit(c))
    }
}

/// Whether the agent's revision `r` keeps `before` in place: the same images, nothing changed
/// but requests and limits (its set-resources may lower one; its restart changes nothing).
fn keeps_the_release(r: &RevisionSummary, before: Option<&RevisionSummary>) -> bool {
    before.is_some_and(|before| {
        r.images == before.images && r.change.iter().all(|c| changes_a_resource(c))
    })
}

/// `memory request 256Mi -> 512Mi`, `cpu limit none -> 1`: a resource of a container changed,
/// as the collector words it.
fn changes_a_resource(change: &str) -> bool {
    let words: Vec<&str> = change.split_whitespace().collect();
    matches!(words.as_slice(), [_, "request" | "limit", _, "->", _])
}

/// `memory limit 512Mi -> 1Gi` or `cpu limit 500m -> 1`, as the collector words a template
/// change: a limit raised. A limit set where there was none is not: it can be too low.
fn raises_a_limit(change: &str) -> bool {
    let mut words = change.split_whitespace();
    let (Some(resource), Some("limit"), Some(from), Some("->"), Some(to), None) = (
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
    ) else {
        return false;
    };
    let parse = |q: &str| match resource {
        "memory" => crate::units::parse_memory(q).ok(),
        "cpu" => crate::units::parse_cpu(q).ok(),
        _ => None,
    };
    match (from, parse(to)) {
        ("none", _) => false,
        (_, None) => false,
        (from, Some(to)) => parse(from).is_some_and(|from| to >= from),
    }
}

impl<'a> Rollout<'a> {
    /// Reads the item, if it is of this kind.
    pub fn read(item: &'a EvidenceItem, workload: ResourceRef) -> Option<Self> {
        let EvidenceData::RolloutHistory { revisions, .. } = &item.data else {
            return None;
        };
        let mut revisions: Vec<&RevisionSummary> = revisions.iter().collect();
        revisions.sort_by_key(|r| std::cmp::Reverse(r.revision));
        Some(Rollout {
            id: &item.id,
            workload,
            revisions,
        })
    }
}
