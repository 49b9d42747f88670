//! Builders for hand-made evidence bundles, and a tiny executor for the async analyzer.

use std::collections::BTreeMap;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, Duration, TimeZone, Utc};
use nightshift_core::action::Action;
use nightshift_core::analysis::{Analysis, AnalysisInput, Analyzer};
use nightshift_core::evidence::{
    ConditionSummary, ContainerSpecSummary, Evidence, EvidenceData, EvidenceId, EvidenceItem,
    EvidenceKind, ProbeSummary, RevisionSummary,
};
use nightshift_core::incident::{Incident, IncidentId, State, TimelineEntry, TimelineKind};
use nightshift_core::{ActionName, Category, ResourceRef, RuleAnalyzer, WorkloadKind};

/// Minutes after the start of the test day (negative: before it).
pub fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0)
        .single()
        .expect("valid date")
        + Duration::minutes(minutes)
}

/// Polls a future to completion on this thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

pub fn deployment(ns: &str, name: &str) -> ResourceRef {
    ResourceRef::deployment(ns, name)
}

pub fn statefulset(ns: &str, name: &str) -> ResourceRef {
    ResourceRef::workload(WorkloadKind::StatefulSet, ns, name)
}

pub fn pod(ns: &str, name: &str) -> ResourceRef {
    ResourceRef::Pod {
        namespace: ns.into(),
        name: name.into(),
    }
}

pub const MI: f64 = 1024.0 * 1024.0;

/// A container status, built fluently.
#[derive(Clone)]
pub struct Ctr {
    ns: String,
    pod: String,
    node: Option<String>,
    phase: String,
    container: String,
    image: String,
    ready: bool,
    restarts: i32,
    state: String,
    reason: Option<String>,
    message: Option<String>,
    exit_code: Option<i32>,
    last_reason: Option<String>,
    last_exit_code: Option<i32>,
    last_finished_at: Option<DateTime<Utc>>,
    started_at: Option<DateTime<Utc>>,
    pod_reason: Option<String>,
    owner: Option<ResourceRef>,
}

impl Ctr {
    /// States the pod's owner, as the agent reads it from the pod's owner references.
    pub fn owned_by(mut self, owner: ResourceRef) -> Ctr {
        self.owner = Some(owner);
        self
    }

    /// A ready, running container started at t(0).
    pub fn running(ns: &str, pod: &str, container: &str, image: &str) -> Ctr {
        Ctr {
            ns: ns.into(),
            pod: pod.into(),
            node: Some("node-a".into()),
            phase: "Running".into(),
            container: container.into(),
            image: image.into(),
            ready: true,
            restarts: 0,
            state: "running".into(),
            reason: None,
            message: None,
            exit_code: None,
            last_reason: None,
            last_exit_code: None,
            last_finished_at: None,
            started_at: Some(t(-60 * 24)),
            pod_reason: None,
            owner: None,
        }
    }

    pub fn not_ready(mut self) -> Ctr {
        self.ready = false;
        self
    }

    pub fn waiting(mut self, reason: &str, message: Option<&str>) -> Ctr {
        self.state = "waiting".into();
        self.ready = false;
        self.reason = Some(reason.into());
        self.message = message.map(Into::into);
        self.started_at = None;
        self
    }

    pub fn pending(mut self) -> Ctr {
        self.phase = "Pending".into();
        self
    }

    pub fn restarted(mut self, restarts: i32, reason: &str, exit: i32, at: i64) -> Ctr {
        self.restarts = restarts;
        self.last_reason = Some(reason.into());
        self.last_exit_code = Some(exit);
        self.last_finished_at = Some(t(at));
        self
    }

    pub fn started(mut self, at: i64) -> Ctr {
        self.started_at = Some(t(at));
        self
    }

    pub fn on_node(mut self, node: &str) -> Ctr {
        self.node = Some(node.into());
        self
    }

    pub fn lost(mut self) -> Ctr {
        self.phase = "Unknown".into();
        self.ready = false;
        self.pod_reason = Some("NodeLost".into());
        self
    }

    pub fn evicted(mut self, message: &str) -> Ctr {
        self.phase = "Failed".into();
        self.ready = false;
        self.state = "terminated".into();
        self.pod_reason = Some("Evicted".into());
        self.message = Some(message.into());
        self
    }
}

/// One revision of a rollout history.
pub fn rev(
    revision: i64,
    image: &str,
    created: i64,
    replicas: i32,
    change: &[&str],
) -> RevisionSummary {
    RevisionSummary {
        revision,
        images: vec![image.into()],
        created_at: Some(t(created)),
        replicas,
        ready: replicas,
        change: change.iter().map(|c| c.to_string()).collect(),
        made_by: None,
    }
}

/// The same revision, created by the Nightshift action with idempotency key `key`.
pub fn made_by(revision: RevisionSummary, key: &str) -> RevisionSummary {
    RevisionSummary {
        made_by: Some(key.into()),
        ..revision
    }
}

/// A metric, built fluently.
pub struct Met {
    pub name: String,
    pub current: f64,
    pub min: f64,
    pub max: f64,
    pub trend: f64,
    pub limit: Option<f64>,
    pub window: u64,
}

impl Met {
    pub fn new(name: &str, current: f64) -> Met {
        Met {
            name: name.into(),
            current,
            min: current,
            max: current,
            trend: 0.0,
            limit: None,
            window: 600,
        }
    }

    pub fn range(mut self, min: f64, max: f64, trend: f64) -> Met {
        self.min = min;
        self.max = max;
        self.trend = trend;
        self
    }

    pub fn limit(mut self, limit: f64) -> Met {
        self.limit = Some(limit);
        self
    }

    pub fn window(mut self, seconds: u64) -> Met {
        self.window = seconds;
        self
    }
}

/// A container of a workload template.
pub fn spec(name: &str, image: &str, memory_limit: &str, cpu_limit: &str) -> ContainerSpecSummary {
    ContainerSpecSummary {
        name: name.into(),
        image: image.into(),
        requests: BTreeMap::new(),
        limits: [
            ("memory".to_string(), memory_limit.to_string()),
            ("cpu".to_string(), cpu_limit.to_string()),
        ]
        .into(),
        readiness: Some(ProbeSummary {
            timeout_seconds: 1,
            period_seconds: 10,
            failure_threshold: 3,
            initial_delay_seconds: 0,
        }),
        liveness: None,
        config_refs: Vec::new(),
    }
}

pub fn with_liveness(mut c: ContainerSpecSummary, timeout_seconds: i32) -> ContainerSpecSummary {
    c.liveness = Some(ProbeSummary {
        timeout_seconds,
        period_seconds: 10,
        failure_threshold: 3,
        initial_delay_seconds: 0,
    });
    c
}

pub fn with_refs(mut c: ContainerSpecSummary, refs: &[&str]) -> ContainerSpecSummary {
    c.config_refs = refs.iter().map(|r| r.to_string()).collect();
    c
}

pub fn condition(kind: &str, status: &str, reason: Option<&str>) -> ConditionSummary {
    ConditionSummary {
        kind: kind.into(),
        status: status.into(),
        reason: reason.map(Into::into),
        message: None,
        since: Some(t(3)),
    }
}

/// An incident with its evidence and timeline.
pub struct Bundle {
    incident: Incident,
    items: Vec<EvidenceItem>,
    history: Vec<TimelineEntry>,
    now: DateTime<Utc>,
}

impl Bundle {
    /// An incident about `resource`, observed at t(20).
    pub fn on(resource: ResourceRef) -> Bundle {
        Bundle {
            incident: Incident {
                id: IncidentId("inc-000001".into()),
                state: State::Analyzing,
                title: format!("trouble with {resource}"),
                resource,
                category: None,
                root_cause: None,
                attempts: 0,
                opened_at: t(15),
                updated_at: t(20),
                resolved_at: None,
            },
            items: Vec::new(),
            history: Vec::new(),
            now: t(20),
        }
    }

    fn push(
        &mut self,
        kind: EvidenceKind,
        resource: ResourceRef,
        data: EvidenceData,
    ) -> EvidenceId {
        let id = EvidenceId(format!("E{}", self.items.len() + 1));
        self.items.push(EvidenceItem {
            id: id.clone(),
            kind,
            resource,
            summary: format!("{kind:?}"),
            data,
            observed_at: self.now,
        });
        id
    }

    pub fn container(mut self, c: Ctr) -> Bundle {
        let resource = pod(&c.ns, &c.pod);
        self.push(
            EvidenceKind::ContainerStatus,
            resource,
            EvidenceData::ContainerStatus {
                pod: c.pod,
                node: c.node,
                phase: c.phase,
                container: c.container,
                image: c.image,
                ready: c.ready,
                restart_count: c.restarts,
                state: c.state,
                reason: c.reason,
                message: c.message,
                exit_code: c.exit_code,
                last_reason: c.last_reason,
                last_exit_code: c.last_exit_code,
                last_finished_at: c.last_finished_at,
                last_started_at: None,
                started_at: c.started_at,
                pod_reason: c.pod_reason,
                owner: c.owner,
                template: None,
            },
        );
        self
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        mut self,
        resource: ResourceRef,
        object_kind: &str,
        object_name: &str,
        event_type: &str,
        reason: &str,
        message: &str,
        count: i32,
        first: i64,
    ) -> Bundle {
        self.push(
            EvidenceKind::Event,
            resource,
            EvidenceData::Event {
                event_type: event_type.into(),
                reason: reason.into(),
                message: message.into(),
                count,
                first_seen: Some(t(first)),
                last_seen: Some(t(first.max(19))),
                object_kind: object_kind.into(),
                object_name: object_name.into(),
            },
        );
        self
    }

    /// A Warning event about a pod.
    pub fn pod_warning(
        self,
        ns: &str,
        name: &str,
        reason: &str,
        message: &str,
        count: i32,
        first: i64,
    ) -> Bundle {
        self.event(
            pod(ns, name),
            "Pod",
            name,
            "Warning",
            reason,
            message,
            count,
            first,
        )
    }

    /// A Normal event about a pod.
    pub fn pod_normal(
        self,
        ns: &str,
        name: &str,
        reason: &str,
        message: &str,
        count: i32,
        first: i64,
    ) -> Bundle {
        self.event(
            pod(ns, name),
            "Pod",
            name,
            "Normal",
            reason,
            message,
            count,
            first,
        )
    }

    /// An event about a node.
    pub fn node_event(self, node: &str, reason: &str, message: &str, first: i64) -> Bundle {
        self.event(
            ResourceRef::node(node),
            "Node",
            node,
            "Warning",
            reason,
            message,
            1,
            first,
        )
    }

    /// A Normal event about a workload.
    pub fn workload_event(self, w: ResourceRef, reason: &str, message: &str, first: i64) -> Bundle {
        let (kind, name) = match &w {
            ResourceRef::Workload { kind, name, .. } => (kind.as_str(), name.clone()),
            other => panic!("not a workload: {other}"),
        };
        self.event(w, kind, &name, "Normal", reason, message, 1, first)
    }

    pub fn logs(mut self, ns: &str, pod_name: &str, previous: bool, lines: &[&str]) -> Bundle {
        self.push(
            EvidenceKind::Logs,
            pod(ns, pod_name),
            EvidenceData::Logs {
                pod: pod_name.into(),
                container: "app".into(),
                previous,
                lines: lines.iter().map(|l| l.to_string()).collect(),
                total_lines: lines.len(),
                owner: None,
            },
        );
        self
    }

    /// Rollout history, newest first.
    pub fn rollout(mut self, w: ResourceRef, revisions: Vec<RevisionSummary>) -> Bundle {
        let current = revisions.first().map_or(0, |r| r.revision);
        self.push(
            EvidenceKind::RolloutHistory,
            w,
            EvidenceData::RolloutHistory { revisions, current },
        );
        self
    }

    pub fn workload(
        mut self,
        w: ResourceRef,
        replicas: i32,
        ready: i32,
        containers: Vec<ContainerSpecSummary>,
    ) -> Bundle {
        let kind = match &w {
            ResourceRef::Workload { kind, .. } => kind.to_string(),
            _ => "Deployment".into(),
        };
        self.push(
            EvidenceKind::Object,
            w,
            EvidenceData::Object {
                kind,
                replicas: Some(replicas),
                ready: Some(ready),
                available: Some(ready),
                updated: Some(replicas),
                labels: BTreeMap::new(),
                conditions: Vec::new(),
                containers,
                node_selector: BTreeMap::new(),
            },
        );
        self
    }

    pub fn node(
        mut self,
        node: &str,
        conditions: Vec<ConditionSummary>,
        taints: &[&str],
        pods: &[&str],
    ) -> Bundle {
        self.push(
            EvidenceKind::NodeCondition,
            ResourceRef::node(node),
            EvidenceData::NodeCondition {
                node: node.into(),
                conditions,
                taints: taints.iter().map(|t| t.to_string()).collect(),
                unschedulable: false,
                pods: pods.iter().map(|p| p.to_string()).collect(),
                workloads: vec!["shop/checkout".into()],
            },
        );
        self
    }

    pub fn metric_if(self, present: bool, about: ResourceRef, m: Met) -> Bundle {
        if present { self.metric(about, m) } else { self }
    }

    pub fn metric(mut self, about: ResourceRef, m: Met) -> Bundle {
        let subject = about.locate_key();
        self.push(
            EvidenceKind::Metric,
            about,
            EvidenceData::Metric {
                name: m.name,
                subject,
                current: m.current,
                min: m.min,
                max: m.max,
                trend_per_minute: m.trend,
                limit: m.limit,
                window_seconds: m.window,
            },
        );
        self
    }

    pub fn dependency(
        mut self,
        about: ResourceRef,
        host_port: &str,
        in_cluster: Option<ResourceRef>,
        ready_endpoints: Option<u32>,
        callers: &[&str],
        error_lines: usize,
    ) -> Bundle {
        self.push(
            EvidenceKind::Dependency,
            about,
            EvidenceData::Dependency {
                host_port: host_port.into(),
                in_cluster,
                ready_endpoints,
                failing_callers: callers.iter().map(|c| c.to_string()).collect(),
                error_lines,
            },
        );
        self
    }

    pub fn signal(
        mut self,
        name: &str,
        firing: bool,
        labels: &[(&str, &str)],
        starts: i64,
    ) -> Bundle {
        let resource = self.incident.resource.clone();
        self.push(
            EvidenceKind::Signal,
            resource,
            EvidenceData::Signal {
                name: name.into(),
                status: if firing { "firing" } else { "resolved" }.into(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                starts_at: t(starts),
            },
        );
        self
    }

    pub fn past(
        mut self,
        category: Category,
        action: ActionName,
        outcome: &str,
        similarity: f64,
    ) -> Bundle {
        let resource = self.incident.resource.clone();
        self.push(
            EvidenceKind::PastIncident,
            resource,
            EvidenceData::PastIncident {
                incident: "inc-000000".into(),
                category: category.as_str().into(),
                action: Some(action.as_str().into()),
                outcome: outcome.into(),
                similarity,
            },
        );
        self
    }

    /// A remediation attempt recorded in the timeline, followed by a failed verification.
    pub fn tried(mut self, action: &Action) -> Bundle {
        self.history.push(TimelineEntry {
            at: t(18),
            kind: TimelineKind::Action,
            message: format!("{} carried out", action.name()),
            data: serde_json::to_value(action).expect("actions serialize"),
        });
        self.history.push(TimelineEntry {
            at: t(19),
            kind: TimelineKind::Verification,
            message: "not recovered".into(),
            data: serde_json::json!({"recovered": false}),
        });
        self
    }

    /// Runs the rule analyzer through the async interface.
    pub fn analyze(&self) -> Analysis {
        let evidence = Evidence {
            items: self.items.clone(),
            bytes: 0,
            truncated: 0,
        };
        let input = AnalysisInput {
            incident: &self.incident,
            evidence: &evidence,
            history: &self.history,
        };
        let analyzer = RuleAnalyzer::new();
        assert_eq!(analyzer.name(), "rules");
        let analysis = block_on(analyzer.analyze(&input)).expect("the rule analyzer never fails");
        check_invariants(&analysis, &evidence);
        if std::env::var_os("RULES_PRINT").is_some() {
            // `RULES_PRINT=1 cargo test -p nightshift-core --test rules -- --nocapture`
            eprintln!(
                "{}",
                serde_json::to_string_pretty(&analysis).unwrap_or_default()
            );
        }
        analysis
    }
}

/// What every analysis must satisfy, whatever the evidence.
fn check_invariants(a: &Analysis, evidence: &Evidence) {
    assert_eq!(a.analyzer, "rules");
    assert!((0.0..=1.0).contains(&a.diagnosis.confidence), "{a:#?}");
    assert!(!a.plans.is_empty(), "at least one plan: {a:#?}");
    for p in &a.plans {
        assert!((0.0..=1.0).contains(&p.confidence), "{p:#?}");
        assert!(
            !p.rationale.is_empty() && !p.expected_outcome.is_empty(),
            "{p:#?}"
        );
    }
    for id in &a.diagnosis.evidence {
        assert!(
            evidence.get(id).is_some(),
            "cites an item that exists: {id:?}"
        );
    }
    if a.diagnosis.confidence < 0.5 {
        assert!(
            a.plans
                .iter()
                .take(2)
                .any(|p| p.action.name() == ActionName::Escalate),
            "thin evidence puts escalation in the first two plans: {a:#?}"
        );
    }
}

/// The first plan's action.
pub fn first(a: &Analysis) -> &Action {
    &a.plans[0].action
}

/// Asserts a confidence band.
pub fn between(value: f64, low: f64, high: f64) {
    assert!(
        (low..=high).contains(&value),
        "confidence {value} outside {low}..={high}"
    );
}

/// No plan changes the cluster.
pub fn changes_nothing(a: &Analysis) -> bool {
    a.plans.iter().all(|p| !p.action.changes_infra())
}
