//! Intake: a batch of signals recorded, correlated to root resources and turned into opened or
//! joined incidents; an escalated incident that new signals join may get another look.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use nightshift_core::{
    Analyzer, IncidentId, ResourceRef, Signal, SignalStatus, State, TimelineKind, Verdict,
};
use nightshift_store::SignalOutcome;
use serde_json::json;

use super::timeline::{describe, entry};
use super::{Engine, EngineError, IntakeReport};

impl<A: Analyzer + 'static> Engine<A> {
    /// Takes a batch of signals: records them (repeats deduplicate), correlates the new ones to
    /// root resources, opens or joins one incident per root, and starts work on new incidents.
    pub async fn ingest(
        self: &Arc<Self>,
        signals: Vec<Signal>,
    ) -> Result<IntakeReport, EngineError> {
        // Roots first, outside the transaction (the correlator reads caches and, for a
        // workload whose pods blame a dependency, a cached log tail); then the whole batch is
        // recorded and correlated in one transaction.
        let mut memo: HashMap<ResourceRef, ResourceRef> = HashMap::new();
        let mut roots = Vec::with_capacity(signals.len());
        for s in &signals {
            let root = match (&s.resource, s.status) {
                (Some(resource), SignalStatus::Firing) => Some(match memo.get(resource) {
                    Some(r) => r.clone(),
                    None => {
                        let r = self.correlator.root_of(resource).await;
                        memo.insert(resource.clone(), r.clone());
                        r
                    }
                }),
                _ => None,
            };
            roots.push(root);
        }
        let folded = self.fold_storms(&signals, &mut roots);
        if folded > 0 {
            tracing::warn!(folded, "signals folded into alert storms");
        }
        let now = self.clock.now();
        // One timeline entry per incident and batch: an alert storm is one line, not five
        // thousand.
        let summarize = |group: &[&Signal]| {
            let mut names: BTreeMap<&str, usize> = BTreeMap::new();
            for s in group {
                *names.entry(s.name.as_str()).or_default() += 1;
            }
            let summary: Vec<String> = names
                .iter()
                .map(|(n, c)| {
                    if *c > 1 {
                        format!("{n} x{c}")
                    } else {
                        n.to_string()
                    }
                })
                .collect();
            let sample: Vec<&&Signal> = group.iter().take(20).collect();
            entry(
                now,
                TimelineKind::Signal,
                format!("{} signal(s): {}", group.len(), summary.join(", ")),
                json!({"signals": sample, "count": group.len()}),
            )
        };
        let ingested = self
            .store
            .ingest_batch(&signals, &roots, now, &summarize)
            .await?;
        let mut report = IntakeReport::default();
        for (s, o) in signals.iter().zip(&ingested.outcomes) {
            match o {
                SignalOutcome::Duplicate { .. } => report.duplicates += 1,
                SignalOutcome::Resolved { incident } => {
                    report.resolved += 1;
                    // The store wrote the resolution on the timeline with the record.
                    if let Some(id) = incident {
                        let e = entry(
                            now,
                            TimelineKind::Signal,
                            format!("resolved: {} {}", s.name, describe(s)),
                            json!({"signal": s}),
                        );
                        self.announce(id, e);
                    }
                }
                SignalOutcome::New => report.new += 1,
            }
        }
        for (c, members) in ingested.correlated {
            let id = c.incident.incident.id.clone();
            let group: Vec<&Signal> = members.iter().map(|i| &signals[*i]).collect();
            self.announce(&id, summarize(&group));
            let earliest = group.iter().map(|s| s.starts_at).min().unwrap_or(now);
            if c.opened {
                if let Ok(mut k) = self.counters.lock() {
                    k.detect_seconds
                        .push((now - earliest).num_milliseconds().max(0) as f64 / 1000.0);
                }
                report.opened.push(id.clone());
            } else {
                report.joined.push(id.clone());
            }
            if c.opened {
                self.track(&c.incident.incident, &group);
                let priority = self.priority(&c.incident.incident, &group);
                self.spawn_with(id, priority);
            } else if c.incident.incident.state == State::Escalated
                && self.worth_another_look(&id, now).await
            {
                let priority = self.priority(&c.incident.incident, &group);
                let mut stored = c.incident;
                self.go(
                    &mut stored,
                    State::Collecting,
                    "new evidence after a low-confidence escalation",
                    vec![],
                )
                .await?;
                self.spawn_with(id, priority);
            }
        }
        Ok(report)
    }

    /// An incident escalated only because the evidence was too thin gets another analysis when
    /// new signals join, a minute apart at most and up to `max_analyses` in all.
    async fn worth_another_look(&self, id: &IncidentId, now: DateTime<Utc>) -> bool {
        let Ok(decisions) = self.store.decisions(id).await else {
            return false;
        };
        let Some(last) = decisions.last() else {
            return false;
        };
        let analyses = self.store.analyses(id).await.unwrap_or_default();
        let unsure = analyses
            .last()
            .is_some_and(|a| a.analysis.diagnosis.confidence < self.policy().min_confidence);
        let low_confidence = last.decision.rule.starts_with("min_confidence")
            || (last.decision.verdict == Verdict::Escalate && unsure);
        low_confidence
            && analyses.len() < self.config.max_analyses
            && now - last.decided_at >= chrono::Duration::seconds(60)
    }
}
