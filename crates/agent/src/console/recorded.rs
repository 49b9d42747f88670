//! What an incident's timeline records beside its steps, as the incident page shows it: what
//! the knowledge base said about it ("seen before"), the notes people added, and the runs of
//! runbook Jobs.

use nightshift_core::{TimelineEntry, TimelineKind};

use super::incident_view::strings;
use super::view::{label, time};
use crate::act::{JobResult, JobRun};

/// What the knowledge base said about the incident when it was analyzed.
#[derive(Debug, Clone)]
pub struct SeenBeforeView {
    /// When it was said.
    pub at: String,
    /// The line, `seen 3 times in 30 days; ...`.
    pub line: String,
    /// The most similar entries: id, their page (incidents), and title when the knowledge
    /// base still holds them.
    pub similar: Vec<SimilarView>,
}

/// An entry like the incident.
#[derive(Debug, Clone)]
pub struct SimilarView {
    /// Entry id.
    pub id: String,
    /// Its incident page, for an incident.
    pub link: Option<String>,
    /// Its title and how it ended, when known.
    pub about: Option<String>,
}

/// A person's note.
#[derive(Debug, Clone)]
pub struct NoteView {
    /// When.
    pub at: String,
    /// Who.
    pub by: String,
    /// What.
    pub text: String,
}

/// A run of a runbook's Job.
#[derive(Debug, Clone)]
pub struct JobView {
    /// When recorded.
    pub at: String,
    /// The runbook.
    pub runbook: String,
    /// `namespace/name`.
    pub job: String,
    /// `dry-run` or `run`.
    pub phase: String,
    /// `succeeded`, `failed`, `timed-out`.
    pub result: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// Pods: `succeeded 1, failed 0`, and the reason of the condition that ended it.
    pub detail: String,
    /// The tail of its pod's log.
    pub logs: String,
}

/// The latest recall line on the timeline; the similar entries' titles are filled in by the
/// caller.
pub(super) fn seen_before(timeline: &[TimelineEntry]) -> Option<SeenBeforeView> {
    let e = timeline
        .iter()
        .rev()
        .find(|e| e.kind == TimelineKind::Note && e.data.get("recall").is_some())?;
    Some(SeenBeforeView {
        at: time(e.at),
        line: e.message.clone(),
        similar: strings(&e.data["similar"])
            .into_iter()
            .map(|id| SimilarView {
                link: super::learned::entry_link(&id),
                id,
                about: None,
            })
            .collect(),
    })
}

/// People's notes ([`crate::learn::notes`]), oldest first.
pub(super) fn notes(timeline: &[TimelineEntry]) -> Vec<NoteView> {
    crate::learn::notes(timeline)
        .into_iter()
        .map(|n| NoteView {
            at: time(n.at),
            by: n.by,
            text: n.text,
        })
        .collect()
}

/// The runbook Jobs the timeline records: a dry run's report, an action's outcome, a failed
/// runbook's entry.
pub(super) fn jobs(timeline: &[TimelineEntry]) -> Vec<JobView> {
    timeline
        .iter()
        .flat_map(|e| {
            let d = &e.data;
            [&d["report"]["jobs"], &d["outcome"]["jobs"], &d["jobs"]]
                .into_iter()
                .filter_map(|v| serde_json::from_value::<Vec<JobRun>>(v.clone()).ok())
                .flatten()
                .map(move |j| JobView {
                    at: time(e.at),
                    runbook: j.runbook.clone(),
                    job: format!("{}/{}", j.namespace, j.job),
                    phase: j.phase.as_str().to_string(),
                    result: label(&j.result),
                    ok: j.result == JobResult::Succeeded,
                    detail: format!(
                        "succeeded {}, failed {}{}{}",
                        j.succeeded,
                        j.failed,
                        j.reason().map(|r| format!("; {r}")).unwrap_or_default(),
                        if j.attached {
                            "; found running after a restart"
                        } else {
                            ""
                        }
                    ),
                    logs: j.logs.trim_end().to_string(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::axis::tests::e;

    #[test]
    fn recall_notes_and_jobs_are_read_from_the_timeline() {
        let job = |phase: &str, result: &str| {
            serde_json::json!({
                "runbook": "drain", "namespace": "shop", "job": format!("drain-{phase}"),
                "phase": phase, "result": result, "succeeded": 1, "failed": 0,
                "conditions": [], "logs": "changed=3\n",
            })
        };
        let mut recall = e(5, TimelineKind::Note, "seen 2 times in 30 days");
        recall.data = serde_json::json!({"recall": {}, "similar": ["inc-000007", "doc/oom"]});
        let mut note = e(6, TimelineKind::Note, "note by alice: check the lock");
        note.data = serde_json::json!({"note": "check the lock", "by": "alice"});
        let mut judged = e(7, TimelineKind::Note, "alice marked the proposal right");
        judged.data = serde_json::json!({"fate": {}});
        let mut dry = e(8, TimelineKind::DryRun, "dry run");
        dry.data = serde_json::json!({"report": {"jobs": [job("dry-run", "succeeded")]}});
        let mut ran = e(9, TimelineKind::Action, "runbook failed");
        ran.data = serde_json::json!({"jobs": [job("run", "failed")]});
        let timeline = [recall, note, judged, dry, ran];

        let seen = seen_before(&timeline).unwrap();
        assert_eq!(seen.line, "seen 2 times in 30 days");
        assert_eq!(
            seen.similar[0].link.as_deref(),
            Some("/console/incidents/inc-000007")
        );
        assert!(seen.similar[1].link.is_none());
        let notes = notes(&timeline);
        assert_eq!(notes.len(), 1);
        assert_eq!(
            (notes[0].by.as_str(), notes[0].text.as_str()),
            ("alice", "check the lock")
        );
        let jobs = jobs(&timeline);
        assert_eq!(jobs.len(), 2);
        assert_eq!((jobs[0].phase.as_str(), jobs[0].ok), ("dry-run", true));
        assert_eq!((jobs[1].result.as_str(), jobs[1].ok), ("failed", false));
        assert_eq!(jobs[1].job, "shop/drain-run");
        assert_eq!(jobs[1].logs, "changed=3");
        assert!(seen_before(&timeline[1..]).is_none());
    }
}
