//! Alert storms: a bounded number of incidents open per alert rule and per source, the rest
//! folded into one storm incident that names what it folded and goes to a human; and how
//! urgent each incident is, so the workers take a node going down before the storm.
//!
//! A rule firing for a thousand pods at once is either one cause (which correlation usually
//! finds: the pods share a workload or a node) or a broken alert; either way a thousand
//! incidents, each collecting evidence and each perhaps acting, is the wrong answer. Past
//! `per_rule` open incidents of one rule, new resources of that rule join the rule's storm
//! incident; past `per_source` open incidents from one source, every new resource of that
//! source joins the source's storm. The agent does not act on a storm: it escalates it with
//! a count of what it folded.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use nightshift_core::{
    Analyzer, Incident, IncidentId, ResourceRef, Signal, SignalSource, SignalStatus, State,
    TimelineKind,
};
use nightshift_store::StoredIncident;
use serde_json::json;

use super::schedule::Priority;
use super::timeline::entry;
use super::{Engine, EngineError};

/// How many incidents stay open per rule and per source before new ones fold into a storm.
/// An incident counts while the agent works on it, and for `window` after it went to a human
/// or was only observed (it is still open for a person), unless it closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StormLimits {
    /// Open incidents of one alert rule (or detection).
    pub per_rule: usize,
    /// Open incidents from one source (Alertmanager, the watchers).
    pub per_source: usize,
    /// How long an escalated or observed incident still counts.
    pub window: std::time::Duration,
}

impl Default for StormLimits {
    fn default() -> Self {
        StormLimits {
            per_rule: 50,
            per_source: 500,
            window: std::time::Duration::from_secs(30 * 60),
        }
    }
}

type RuleKey = (SignalSource, String);

/// Open incidents the engine is working on, by rule and by source.
#[derive(Debug, Default)]
pub(super) struct Folding {
    incidents: HashMap<IncidentId, (RuleKey, ResourceRef)>,
    /// Incidents the workers are done with that still count until then.
    lingering: BTreeSet<(DateTime<Utc>, IncidentId)>,
    roots: HashSet<ResourceRef>,
    per_rule: HashMap<RuleKey, usize>,
    per_source: HashMap<SignalSource, usize>,
}

fn source_name(s: SignalSource) -> &'static str {
    match s {
        SignalSource::Alertmanager => "alertmanager",
        SignalSource::Watcher => "watcher",
    }
}

impl Folding {
    /// The roots the store should correlate `signals` to: each signal's own root, or its
    /// storm's when its rule or source is past its limit and its root has no open incident.
    fn fold(
        &self,
        signals: &[Signal],
        roots: &mut [Option<ResourceRef>],
        limits: StormLimits,
    ) -> usize {
        let mut rule = self.per_rule.clone();
        let mut source = self.per_source.clone();
        let mut seen: HashSet<ResourceRef> = HashSet::new();
        let mut folded = 0;
        for (s, root) in signals.iter().zip(roots.iter_mut()) {
            let Some(r) = root.as_ref() else {
                continue;
            };
            if s.status != SignalStatus::Firing
                || matches!(r, ResourceRef::Storm { .. })
                || self.roots.contains(r)
                || seen.contains(r)
            {
                continue;
            }
            let key = (s.source, s.name.clone());
            let by_rule = rule.entry(key).or_default();
            let by_source = source.entry(s.source).or_default();
            let storm = if *by_rule >= limits.per_rule {
                Some(s.name.replace('/', "_"))
            } else if *by_source >= limits.per_source {
                Some("*".to_string())
            } else {
                None
            };
            match storm {
                Some(rule_name) => {
                    *root = Some(ResourceRef::Storm {
                        source: source_name(s.source).into(),
                        rule: rule_name,
                    });
                    folded += 1;
                }
                None => {
                    *by_rule += 1;
                    *by_source += 1;
                    seen.insert(r.clone());
                }
            }
        }
        folded
    }

    fn track(&mut self, incident: &Incident, first: Option<&Signal>) {
        if matches!(incident.resource, ResourceRef::Storm { .. })
            || self.incidents.contains_key(&incident.id)
        {
            return;
        }
        let Some(s) = first else {
            return;
        };
        let key = (s.source, s.name.clone());
        *self.per_rule.entry(key.clone()).or_default() += 1;
        *self.per_source.entry(s.source).or_default() += 1;
        self.roots.insert(incident.resource.clone());
        self.incidents
            .insert(incident.id.clone(), (key, incident.resource.clone()));
    }

    /// An incident the workers are done with: it stops counting at `until`, or now.
    fn release(&mut self, id: &IncidentId, until: Option<DateTime<Utc>>) {
        match until {
            Some(t) if self.incidents.contains_key(id) => {
                self.lingering.insert((t, id.clone()));
            }
            _ => self.forget(id),
        }
    }

    /// Stops counting the incidents whose time is up.
    fn expire(&mut self, now: DateTime<Utc>) {
        while let Some((t, id)) = self.lingering.first().cloned() {
            if t > now {
                break;
            }
            self.lingering.remove(&(t, id.clone()));
            self.forget(&id);
        }
    }

    fn forget(&mut self, id: &IncidentId) {
        let Some((key, root)) = self.incidents.remove(id) else {
            return;
        };
        self.roots.remove(&root);
        if let Some(n) = self.per_source.get_mut(&key.0) {
            *n = n.saturating_sub(1);
        }
        if let Some(n) = self.per_rule.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_rule.remove(&key);
            }
        }
    }
}

impl<A: Analyzer + 'static> Engine<A> {
    /// Folds the signals of overflowing rules and sources into their storms (see the module
    /// documentation); returns how many were folded.
    pub(super) fn fold_storms(
        &self,
        signals: &[Signal],
        roots: &mut [Option<ResourceRef>],
    ) -> usize {
        let now = self.clock.now();
        self.folding
            .lock()
            .map(|mut f| {
                f.expire(now);
                f.fold(signals, roots, self.config.storms)
            })
            .unwrap_or(0)
    }

    /// Counts an incident the engine now works on.
    pub(super) fn track(&self, incident: &Incident, signals: &[&Signal]) {
        if let Ok(mut f) = self.folding.lock() {
            f.track(incident, signals.first().copied());
        }
    }

    /// An incident that needs nothing more from the workers: a closed one stops counting; one
    /// that went to a human or was only observed counts for the storm window still.
    pub(super) async fn release(&self, id: &IncidentId) {
        if let Ok(mut m) = self.verify_since.lock() {
            m.remove(id);
        }
        let state = self
            .store
            .get(id)
            .await
            .ok()
            .flatten()
            .map(|s| s.incident.state);
        let until = match state {
            Some(State::Closed | State::Resolved) | None => None,
            Some(_) => Some(
                self.clock.now()
                    + chrono::Duration::from_std(self.config.storms.window).unwrap_or_default(),
            ),
        };
        if let Ok(mut f) = self.folding.lock() {
            f.release(id, until);
        }
    }

    /// How urgent an incident is, from its signals' severity, its namespace's criticality in
    /// the policy, the kind of resource, and its age.
    pub(super) fn priority(&self, incident: &Incident, signals: &[&Signal]) -> Priority {
        let severity = signals
            .iter()
            .map(
                |s| match s.labels.get("severity").map(|v| v.to_ascii_lowercase()) {
                    Some(v) if v == "critical" || v == "page" || v == "error" => 3,
                    Some(v) if v == "info" || v == "none" || v == "low" => 1,
                    _ => 2,
                },
            )
            .max()
            .unwrap_or(2);
        let policy = self.policy();
        let criticality = incident
            .resource
            .namespace()
            .and_then(|ns| policy.criticality.namespaces.get(ns))
            .map_or(0, |c| c.steps() + 1);
        let kind = match incident.resource {
            ResourceRef::Node { .. } => 3,
            ResourceRef::Workload { .. } | ResourceRef::Service { .. } => 2,
            ResourceRef::Pod { .. } | ResourceRef::External { .. } | ResourceRef::Object { .. } => {
                1
            }
            ResourceRef::Storm { .. } => 0,
        };
        Priority {
            severity,
            criticality,
            kind,
            opened: std::cmp::Reverse(incident.opened_at.timestamp_millis()),
        }
    }

    /// A storm is not analyzed or acted on: it goes to a human with what it folded.
    pub(super) async fn escalate_storm(
        self: &Arc<Self>,
        stored: &mut StoredIncident,
    ) -> Result<(), EngineError> {
        let id = stored.incident.id.clone();
        let signals = self.store.incident_signals(&id, 500).await?;
        let count = self.store.incident_signal_count(&id).await?;
        let mut resources: Vec<String> = signals
            .iter()
            .filter_map(|s| s.resource.as_ref().map(|r| r.to_string()))
            .collect();
        resources.sort();
        resources.dedup();
        let (source, rule) = match &stored.incident.resource {
            ResourceRef::Storm { source, rule } => (source.clone(), rule.clone()),
            other => (other.to_string(), String::new()),
        };
        let what = if rule == "*" {
            format!("every new resource from {source}")
        } else {
            format!("{rule} from {source}")
        };
        let note = entry(
            self.clock.now(),
            TimelineKind::Note,
            format!(
                "alert storm: {what} past the open-incident limit; {count} signal(s) folded here, on {}{} resource(s) (first: {}); not analyzed or acted on",
                resources.len(),
                if signals.len() as u64 == count {
                    ""
                } else {
                    " or more"
                },
                resources
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            json!({"signals": count, "resources": resources.iter().take(100).collect::<Vec<_>>()}),
        );
        if stored.incident.state == State::Collecting {
            self.go(stored, State::Analyzing, "an alert storm", vec![])
                .await?;
        }
        self.go(
            stored,
            State::Escalated,
            "an alert storm goes to a human",
            vec![note],
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn signal(name: &str, pod: &str) -> Signal {
        Signal {
            fingerprint: format!("{name}-{pod}"),
            source: SignalSource::Alertmanager,
            status: SignalStatus::Firing,
            name: name.into(),
            labels: Default::default(),
            annotations: Default::default(),
            starts_at: Utc::now(),
            ends_at: None,
            resource: None,
        }
    }

    fn pod(name: &str) -> ResourceRef {
        ResourceRef::Pod {
            namespace: "shop".into(),
            name: name.into(),
        }
    }

    fn incident(id: &str, resource: ResourceRef) -> Incident {
        Incident {
            id: IncidentId(id.into()),
            state: State::Open,
            resource,
            title: String::new(),
            category: None,
            root_cause: None,
            attempts: 0,
            opened_at: Utc::now(),
            updated_at: Utc::now(),
            resolved_at: None,
        }
    }

    #[test]
    fn past_the_rule_limit_new_resources_fold_into_the_rules_storm() {
        let limits = StormLimits {
            per_rule: 3,
            per_source: 100,
            ..StormLimits::default()
        };
        let mut f = Folding::default();
        f.track(&incident("inc-1", pod("a")), Some(&signal("Junk", "a")));
        let signals: Vec<Signal> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|p| signal("Junk", p))
            .chain([signal("NodeDown", "x")])
            .collect();
        let mut roots: Vec<Option<ResourceRef>> = ["a", "b", "c", "d", "e", "x"]
            .iter()
            .map(|p| Some(pod(p)))
            .collect();
        assert_eq!(f.fold(&signals, &mut roots, limits), 2);
        assert_eq!(roots[0], Some(pod("a")), "an open root keeps its incident");
        assert_eq!(roots[1], Some(pod("b")));
        assert_eq!(roots[2], Some(pod("c")));
        let storm = Some(ResourceRef::Storm {
            source: "alertmanager".into(),
            rule: "Junk".into(),
        });
        assert_eq!(roots[3], storm);
        assert_eq!(roots[4], storm);
        assert_eq!(roots[5], Some(pod("x")), "another rule is not folded");
        // When the first incident is done, a new resource of the rule opens its own again.
        f.forget(&IncidentId("inc-1".into()));
        let mut roots = vec![Some(pod("f"))];
        assert_eq!(f.fold(&[signal("Junk", "f")], &mut roots, limits), 0);
    }

    #[test]
    fn an_escalated_incident_counts_until_its_window_ends() {
        let limits = StormLimits {
            per_rule: 1,
            per_source: 100,
            window: std::time::Duration::from_secs(60),
        };
        let mut f = Folding::default();
        let t0 = Utc::now();
        f.track(&incident("inc-1", pod("a")), Some(&signal("Junk", "a")));
        f.release(
            &IncidentId("inc-1".into()),
            Some(t0 + chrono::Duration::seconds(60)),
        );
        let mut roots = vec![Some(pod("b"))];
        f.expire(t0 + chrono::Duration::seconds(30));
        assert_eq!(
            f.fold(&[signal("Junk", "b")], &mut roots, limits),
            1,
            "still counts"
        );
        let mut roots = vec![Some(pod("b"))];
        f.expire(t0 + chrono::Duration::seconds(61));
        assert_eq!(
            f.fold(&[signal("Junk", "b")], &mut roots, limits),
            0,
            "window over"
        );
    }

    #[test]
    fn past_the_source_limit_every_new_resource_folds_into_the_sources_storm() {
        let limits = StormLimits {
            per_rule: 100,
            per_source: 2,
            ..StormLimits::default()
        };
        let f = Folding::default();
        let signals: Vec<Signal> = (0..4).map(|i| signal(&format!("R{i}"), "p")).collect();
        let mut roots: Vec<Option<ResourceRef>> =
            (0..4).map(|i| Some(pod(&format!("p{i}")))).collect();
        assert_eq!(f.fold(&signals, &mut roots, limits), 2);
        assert_eq!(
            roots[3],
            Some(ResourceRef::Storm {
                source: "alertmanager".into(),
                rule: "*".into()
            })
        );
    }
}
