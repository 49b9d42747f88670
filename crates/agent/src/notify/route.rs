//! Which destination hears of which step: routes by namespace, by how critical the namespace
//! is (the policy's criticality) and by event. A destination that no route names hears of
//! everything its kind cares about; one that routes name hears of what any of them lets
//! through.

use nightshift_core::notice::NotifyEvent;
use nightshift_core::policy::Criticality;

use super::Subject;

/// One route.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Route {
    /// The destinations it sends to, by name.
    pub destinations: Vec<String>,
    /// Namespaces it covers (empty: all; `*` also means all). Cluster-scoped incidents (a
    /// node) are covered by an empty list, by `*`, or by the name `cluster`.
    pub namespaces: Vec<String>,
    /// The least critical namespace it covers (`None`: all).
    pub min_criticality: Option<Criticality>,
    /// The events it lets through (empty: all).
    pub events: Vec<NotifyEvent>,
}

impl Route {
    fn covers(&self, s: &Subject) -> bool {
        let namespace_ok = self.namespaces.is_empty()
            || self.namespaces.iter().any(|n| {
                n == "*"
                    || match s.namespace() {
                        Some(ns) => n == ns,
                        None => n == "cluster",
                    }
            });
        namespace_ok
            && self.min_criticality.is_none_or(|min| s.criticality >= min)
            && (self.events.is_empty() || self.events.contains(&s.event))
    }
}

/// Every route.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Routing {
    /// The routes, in the configuration's order.
    pub routes: Vec<Route>,
}

impl Routing {
    /// Whether `destination` is to hear of `s`.
    pub fn allows(&self, destination: &str, s: &Subject) -> bool {
        let mut named = false;
        for r in &self.routes {
            if r.destinations.iter().any(|d| d == destination) {
                named = true;
                if r.covers(s) {
                    return true;
                }
            }
        }
        !named
    }

    /// Destinations the routes name that `known` does not have (a typo in the configuration).
    pub fn unknown_destinations<'a>(&'a self, known: &[&str]) -> Vec<&'a str> {
        let mut out: Vec<&str> = self
            .routes
            .iter()
            .flat_map(|r| r.destinations.iter().map(String::as_str))
            .filter(|d| !known.contains(d))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightshift_core::{Incident, IncidentId, ResourceRef, State, TimelineEntry, TimelineKind};

    fn subject(ns: Option<&str>, crit: Criticality, event: NotifyEvent) -> Subject {
        let at = chrono::DateTime::UNIX_EPOCH;
        let resource = match ns {
            Some(ns) => ResourceRef::deployment(ns, "api"),
            None => ResourceRef::Node {
                name: "node-1".into(),
            },
        };
        Subject {
            seq: 1,
            event,
            entry: TimelineEntry {
                at,
                kind: TimelineKind::Transition,
                message: String::new(),
                data: serde_json::json!({}),
            },
            incident: Incident {
                id: IncidentId("inc-1".into()),
                state: State::Open,
                resource,
                title: "t".into(),
                category: None,
                root_cause: None,
                attempts: 0,
                opened_at: at,
                updated_at: at,
                resolved_at: None,
            },
            criticality: crit,
            analysis: None,
            evidence: vec![],
            decision: None,
            approval: None,
            actions: vec![],
            dry_run: None,
            verification: None,
            history: None,
            link: None,
        }
    }

    #[test]
    fn what_the_knowledge_base_says_goes_with_the_steps_people_act_on() {
        let mut s = subject(Some("shop"), Criticality::Low, NotifyEvent::Escalated);
        s.entry.message = "escalated".into();
        s.history = Some("seen 3 times in 30 days; rollback fixed it 3 of 3 times".into());
        assert_eq!(
            s.text(),
            "Incident inc-1: escalated (seen 3 times in 30 days; rollback fixed it 3 of 3 times)"
        );
        let webhook = super::super::Notification::of(&s);
        assert_eq!(
            webhook.details["history"],
            "seen 3 times in 30 days; rollback fixed it 3 of 3 times"
        );
        s.event = NotifyEvent::Closed;
        assert_eq!(s.text(), "Incident inc-1: escalated");
    }

    fn routing() -> Routing {
        Routing {
            routes: vec![
                Route {
                    destinations: vec!["pager".into()],
                    namespaces: vec![],
                    min_criticality: Some(Criticality::High),
                    events: vec![NotifyEvent::Escalated],
                },
                Route {
                    destinations: vec!["payments-slack".into()],
                    namespaces: vec!["payments".into(), "cluster".into()],
                    min_criticality: None,
                    events: vec![],
                },
            ],
        }
    }

    #[test]
    fn unnamed_destinations_hear_everything() {
        let r = routing();
        let s = subject(Some("shop"), Criticality::Low, NotifyEvent::Planned);
        assert!(r.allows("webhook", &s));
        assert!(Routing::default().allows("pager", &s));
    }

    #[test]
    fn routes_filter_by_namespace_criticality_and_event() {
        let r = routing();
        let high = subject(Some("shop"), Criticality::High, NotifyEvent::Escalated);
        assert!(r.allows("pager", &high));
        let low = subject(Some("shop"), Criticality::Medium, NotifyEvent::Escalated);
        assert!(!r.allows("pager", &low));
        let other = subject(Some("shop"), Criticality::High, NotifyEvent::Resolved);
        assert!(!r.allows("pager", &other));
        assert!(r.allows(
            "payments-slack",
            &subject(Some("payments"), Criticality::Low, NotifyEvent::Planned)
        ));
        assert!(!r.allows(
            "payments-slack",
            &subject(Some("shop"), Criticality::Low, NotifyEvent::Planned)
        ));
        assert!(r.allows(
            "payments-slack",
            &subject(None, Criticality::Low, NotifyEvent::Planned)
        ));
    }

    #[test]
    fn unknown_destinations_are_found() {
        assert_eq!(
            routing().unknown_destinations(&["pager"]),
            vec!["payments-slack"]
        );
    }
}
