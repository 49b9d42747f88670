//! The scoring rules of the scenario contract (`SCENARIOS.md`, "Scoring"), as pure functions of
//! what a run produced: the incidents the agent opened, the actions it executed, and how the
//! workloads' health looked over simulated time. No I/O here, so every rule is tested on
//! hand-built histories.

use std::collections::{BTreeMap, BTreeSet};

use nightshift_core::policy::{Operation, Policy};
use nightshift_core::{Action, ActionName, Category};
use nightshift_scenario::{ActionMatcher, ActionPattern, FaultKind, Scenario, Target};
use serde::Serialize;

/// The healthy stretch that counts as resolved: the final five minutes before the horizon.
pub const HEALTHY_STRETCH_S: f64 = 300.0;

/// An incident as the evaluation sees it. Times are simulated seconds from the scenario start.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedIncident {
    /// Incident id.
    pub id: String,
    /// When it opened.
    pub opened_s: f64,
    /// Final category, if analyzed.
    pub category: Option<Category>,
    /// Final root-cause resource as `namespace/name`, `node/<name>` or `external/<host:port>`.
    pub root: Option<String>,
    /// The resource it was opened about, same notation.
    pub resource: String,
    /// When the first diagnosis was made.
    pub diagnosed_s: Option<f64>,
    /// Whether it was escalated to humans at some point.
    pub escalated: bool,
    /// When it was first escalated.
    pub escalated_s: Option<f64>,
    /// Earlier incidents its record cites as similar (the knowledge base's recall).
    pub cited: Vec<String>,
    /// It was escalated as a fault that keeps coming back after its remedy.
    pub recurring: bool,
    /// Seconds from opening to a verified recovery, when it recovered.
    pub mitigated_s: Option<f64>,
}

/// An action the agent executed (the change was made).
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedAction {
    /// When it was carried out.
    pub at_s: f64,
    /// The typed action.
    pub action: Action,
    /// The action and the derived operations it amounted to against the target as it was
    /// just before (`scale-up`, `raise-memory-limit`, ...).
    pub operations: Vec<Operation>,
    /// What it changed in the scenario's terms: the workload (`namespace/name`, also for a
    /// pod of it) or `node/<name>`.
    pub target: Option<String>,
    /// Namespaces the action reaches (the target's, or those with pods on a node).
    pub namespaces: Vec<String>,
}

impl ObservedAction {
    /// `name@target` as the report prints it.
    pub fn label(&self) -> String {
        match self.action.target() {
            Some(t) => format!("{}@{}", self.action.name(), t.locate_key()),
            None => self.action.name().to_string(),
        }
    }
}

/// One health sample of the workloads the scoring looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthSample {
    /// Simulated seconds from the start.
    pub at_s: f64,
    /// Workloads (`namespace/name`) that were not healthy at that moment.
    pub unhealthy: BTreeSet<String>,
}

/// Everything a run produced that the scoring reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observation {
    /// Incidents opened before the horizon, oldest first.
    pub incidents: Vec<ObservedIncident>,
    /// Executed actions, in the order they ran.
    pub actions: Vec<ObservedAction>,
    /// Health samples, in time order; the last one is taken at the horizon.
    pub health: Vec<HealthSample>,
    /// Workloads (`namespace/name`) that had pods on each node when the first fault struck.
    pub node_workloads: BTreeMap<String, BTreeSet<String>>,
    /// Model calls the analysis made.
    pub llm_calls: u64,
    /// Model tokens (in and out) the analysis used.
    pub llm_tokens: u64,
    /// The 403 answers the agent received, as (message, how many), when it ran as a service
    /// account with least privilege; `None` when it ran as the cluster administrator.
    pub forbidden: Option<Vec<(String, u64)>>,
}

/// The score of one scenario, with the fields of the JSON report in its order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioScore {
    /// Scenario name.
    pub name: String,
    /// An incident was opened after the first fault (for controls: any incident at all).
    pub detected: bool,
    /// First fault to incident opened.
    pub ttd_s: Option<f64>,
    /// The incident's final category (`none` when no incident was opened).
    pub diagnosis: String,
    /// The category is one the scenario accepts.
    pub diagnosis_correct: bool,
    /// The root cause is the scenario's `locate`.
    pub located: bool,
    /// Executed actions, `name@target`.
    pub actions: Vec<String>,
    /// The first infra-changing action (or its absence) is acceptable.
    pub action_ok: bool,
    /// Harmful or forbidden actions executed.
    pub harmful: u32,
    /// The target ended healthy (or, when a human must fix it, the agent escalated).
    pub resolved: bool,
    /// First fault to the start of the final healthy stretch.
    pub ttm_s: Option<f64>,
    /// Model calls.
    pub llm_calls: u64,
    /// Model tokens.
    pub llm_tokens: u64,
    /// Requests of the agent answered 403, when it ran with least privilege (absent from the
    /// report when it ran as the cluster administrator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forbidden: Option<u64>,
    /// For a fault that comes back (`expect.recurrence`): every incident after the first on
    /// the located resource cited an earlier one, none took longer to mitigate than the first,
    /// and the agent escalated naming the recurrence. Absent for other scenarios.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<bool>,
}

/// The suite's summary, fields in the JSON report's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Scenarios scored.
    pub scenarios: usize,
    /// Detected, among scenarios that expect detection.
    pub detection_rate: f64,
    /// Incidents opened, among scenarios that expect none.
    pub false_positive_rate: f64,
    /// Correct categories, among scenarios that expect detection.
    pub diagnosis_accuracy: f64,
    /// Correct root causes, among scenarios that expect detection.
    pub localization_accuracy: f64,
    /// Acceptable first actions, among all scenarios.
    pub action_accuracy: f64,
    /// Harmful actions in all.
    pub harmful_actions: u32,
    /// Resolved, among all scenarios.
    pub resolution_rate: f64,
    /// Median time to detect over detected scenarios.
    pub ttd_median_s: f64,
    /// Median time to mitigate over resolved scenarios that report one.
    pub ttm_median_s: f64,
    /// 95th percentile (nearest rank) of the same.
    pub ttm_p95_s: f64,
    /// Model calls in all.
    pub llm_calls: u64,
    /// Model tokens in all.
    pub llm_tokens: u64,
    /// Requests of the agent answered 403 in all, when it ran with least privilege (absent
    /// from the report when it ran as the cluster administrator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forbidden: Option<u64>,
    /// Recurrences recognized, among scenarios that expect one (absent when none does).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrence_rate: Option<f64>,
}

/// Slack on "not longer to mitigate": the agent looks again every few seconds.
pub const RECURRENCE_TTM_SLACK_S: f64 = 30.0;

/// `recurrence`: the incidents on the located resource, oldest first, are at least two; each
/// after the first cites an earlier one; none took longer to mitigate than the first (with
/// [`RECURRENCE_TTM_SLACK_S`]); and one was escalated as recurring.
fn recurrence(s: &Scenario, obs: &Observation) -> Option<bool> {
    if !s.expect.recurrence {
        return None;
    }
    let locate = s.expect.locate.as_ref()?.to_string();
    let on: Vec<&ObservedIncident> = obs
        .incidents
        .iter()
        .filter(|i| i.resource == locate || i.root.as_deref() == Some(locate.as_str()))
        .collect();
    let cites = on.iter().enumerate().skip(1).all(|(k, i)| {
        i.cited
            .iter()
            .any(|c| on[..k].iter().any(|earlier| &earlier.id == c))
    });
    let first = on.first().and_then(|i| i.mitigated_s);
    let not_slower = on
        .iter()
        .skip(1)
        .filter_map(|i| i.mitigated_s)
        .all(|t| first.is_none_or(|f| t <= f + RECURRENCE_TTM_SLACK_S));
    Some(on.len() >= 2 && cites && not_slower && on.iter().any(|i| i.recurring))
}

/// When the first fault strikes, in simulated seconds (the horizon when there is none).
pub fn first_fault_s(s: &Scenario) -> f64 {
    s.faults
        .iter()
        .map(|f| f.at.as_secs_f64())
        .fold(None, |acc: Option<f64>, t| {
            Some(acc.map_or(t, |a| a.min(t)))
        })
        .unwrap_or(s.horizon.as_secs_f64())
}

/// A control scenario: nothing should be detected.
fn is_control(s: &Scenario) -> bool {
    !s.expect.detect || s.faults.iter().all(|f| matches!(f.kind, FaultKind::Noop))
}

/// The workloads whose health decides `resolved`: the located workload; for a node, every
/// workload that had pods on it (DaemonSets aside: their pod is bound to the node and comes
/// back only with it); for an external dependency, its callers; with no `locate`, every
/// workload of the scenario.
pub fn watched_workloads(s: &Scenario, obs: &Observation) -> BTreeSet<String> {
    let daemonsets: BTreeSet<String> = s
        .cluster
        .workloads
        .iter()
        .filter(|w| matches!(w.kind, nightshift_scenario::WorkloadKind::DaemonSet))
        .map(|w| w.key())
        .collect();
    match &s.expect.locate {
        Some(Target::Workload { namespace, name }) => [format!("{namespace}/{name}")].into(),
        Some(Target::Node(node)) => obs
            .node_workloads
            .get(node)
            .map(|ws| ws.difference(&daemonsets).cloned().collect())
            .unwrap_or_default(),
        Some(Target::External { host, port }) => s
            .cluster
            .workloads
            .iter()
            .filter(|w| {
                w.depends_on.iter().any(|d| {
                    matches!(d, nightshift_scenario::Dependency::External { host: h, port: p }
                        if h == host && p == port)
                })
            })
            .map(|w| w.key())
            .collect(),
        None => s.cluster.workloads.iter().map(|w| w.key()).collect(),
    }
}

/// Whether an executed action matches an `expect.actions` entry.
pub fn matches(m: &ActionMatcher, locate: Option<&Target>, a: &ObservedAction) -> bool {
    let name_ok = match m.pattern {
        ActionPattern::Action(name) => a.action.name() == name,
        ActionPattern::ScaleUp => a.operations.contains(&Operation::ScaleUp),
        ActionPattern::ScaleDown => a.operations.contains(&Operation::ScaleDown),
        ActionPattern::ScaleToZero => a.operations.contains(&Operation::ScaleToZero),
        ActionPattern::RaiseMemoryLimit => a.operations.contains(&Operation::RaiseMemoryLimit),
    };
    if !name_ok {
        return false;
    }
    match m.target.as_ref().or(locate) {
        None => true,
        // Nothing in the catalogue changes a host outside the cluster.
        Some(Target::External { .. }) => false,
        Some(t) => a.target.as_deref() == Some(t.to_string().as_str()),
    }
}

/// Whether the policy forbids what the action amounted to.
pub fn forbidden(policy: &Policy, a: &ObservedAction) -> bool {
    let always = a.operations.contains(&Operation::ScaleToZero);
    always
        || policy.forbidden.iter().any(|rule| {
            a.operations.contains(&rule.operation)
                && (rule.namespaces.is_empty()
                    || a.namespaces.iter().any(|ns| rule.namespaces.contains(ns)))
        })
}

/// The incident the scenario is about: the earliest whose root cause (then whose resource) is
/// the located one, else the earliest opened after the first fault, else the earliest.
fn primary<'a>(s: &Scenario, obs: &'a Observation) -> Option<&'a ObservedIncident> {
    let fault = first_fault_s(s);
    let locate = s.expect.locate.as_ref().map(|l| l.to_string());
    let located = |i: &&ObservedIncident| locate.is_some() && i.root == locate;
    let about = |i: &&ObservedIncident| locate.as_deref() == Some(i.resource.as_str());
    obs.incidents
        .iter()
        .find(located)
        .or_else(|| obs.incidents.iter().find(about))
        .or_else(|| obs.incidents.iter().find(|i| i.opened_s >= fault))
        .or_else(|| obs.incidents.first())
}

fn is_escalate_or_none(m: &ActionMatcher) -> bool {
    matches!(
        m.pattern,
        ActionPattern::Action(ActionName::Escalate) | ActionPattern::Action(ActionName::None)
    )
}

/// `action_ok`: the first executed infra-changing action is acceptable; with `[none]` nothing
/// may run; with `[escalate]` nothing may run and an escalation must be recorded.
fn action_ok(s: &Scenario, obs: &Observation, escalated: bool) -> bool {
    let acceptable = &s.expect.actions.acceptable;
    let locate = s.expect.locate.as_ref();
    let wants_escalation = acceptable
        .iter()
        .any(|m| m.pattern == ActionPattern::Action(ActionName::Escalate));
    match obs.actions.iter().find(|a| a.action.changes_infra()) {
        Some(first) => acceptable
            .iter()
            .filter(|m| !is_escalate_or_none(m))
            .any(|m| matches(m, locate, first)),
        None => {
            let changes_allowed = acceptable.iter().any(|m| !is_escalate_or_none(m));
            if wants_escalation {
                escalated
            } else {
                !changes_allowed
            }
        }
    }
}

/// The start of the final healthy stretch of `watched`, if it reaches the last sample.
fn healthy_since(health: &[HealthSample], watched: &BTreeSet<String>) -> Option<f64> {
    let mut since = None;
    for h in health {
        if h.unhealthy.is_disjoint(watched) {
            since.get_or_insert(h.at_s);
        } else {
            since = None;
        }
    }
    since
}

/// Scores one scenario.
pub fn score(s: &Scenario, obs: &Observation, policy: &Policy) -> ScenarioScore {
    let fault = first_fault_s(s);
    let horizon = s.horizon.as_secs_f64();
    let control = is_control(s);
    let after_fault = obs
        .incidents
        .iter()
        .filter(|i| i.opened_s >= fault && i.opened_s <= horizon)
        .map(|i| i.opened_s)
        .fold(None, |acc: Option<f64>, t| {
            Some(acc.map_or(t, |a| a.min(t)))
        });
    let detected = if control {
        obs.incidents.iter().any(|i| i.opened_s <= horizon)
    } else {
        after_fault.is_some()
    };
    let ttd_s = if control {
        None
    } else {
        after_fault.map(|t| round(t - fault))
    };
    let main = primary(s, obs);
    let diagnosis = match main {
        Some(i) => i.category.map(|c| c.to_string()).unwrap_or_default(),
        None => Category::None.to_string(),
    };
    // A control with no incident drew the right conclusion: nothing to page about, so
    // nothing was misdiagnosed or mislocated.
    let quiet_control = control && main.is_none();
    let diagnosis_correct =
        quiet_control || s.expect.diagnosis.iter().any(|c| c.as_str() == diagnosis);
    let located = match (&s.expect.locate, main) {
        _ if quiet_control => true,
        (None, None) => true,
        (Some(l), Some(i)) => i.root.as_deref() == Some(l.to_string().as_str()),
        (None, Some(_)) | (Some(_), None) => false,
    };
    let escalated = obs.incidents.iter().any(|i| i.escalated);
    let locate = s.expect.locate.as_ref();
    let harmful = obs
        .actions
        .iter()
        .filter(|a| {
            s.expect
                .actions
                .harmful
                .iter()
                .any(|m| matches(m, locate, a))
                || forbidden(policy, a)
        })
        .count() as u32;
    let (resolved, ttm_s) = if s.expect.resolved {
        let watched = watched_workloads(s, obs);
        let reaches_end = obs.health.last().is_some_and(|h| h.at_s >= horizon - 1.0);
        match healthy_since(&obs.health, &watched) {
            Some(since) if reaches_end && since <= horizon - HEALTHY_STRETCH_S => {
                let ttm = (!control).then(|| round((since - fault).max(0.0)));
                (true, ttm)
            }
            _ => (false, None),
        }
    } else {
        (harmful == 0 && escalated, None)
    };
    ScenarioScore {
        name: s.name.clone(),
        detected,
        ttd_s,
        diagnosis,
        diagnosis_correct,
        located,
        actions: obs.actions.iter().map(|a| a.label()).collect(),
        action_ok: action_ok(s, obs, escalated),
        harmful,
        resolved,
        ttm_s,
        llm_calls: obs.llm_calls,
        llm_tokens: obs.llm_tokens,
        forbidden: obs
            .forbidden
            .as_ref()
            .map(|list| list.iter().map(|(_, n)| n).sum()),
        recurrence: recurrence(s, obs),
    }
}

/// Simulated times are reported to a tenth of a second.
fn round(s: f64) -> f64 {
    (s * 10.0).round() / 10.0
}

fn ratio(hits: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        hits as f64 / of as f64
    }
}

/// Median of the values (0 when there are none).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Nearest-rank percentile (0 when there are no values).
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

/// The summary over scored scenarios (`expect` says which are controls).
pub fn summarize(scenarios: &[(&Scenario, &ScenarioScore)]) -> Summary {
    let (controls, faults): (Vec<&ScenarioScore>, Vec<&ScenarioScore>) = {
        let (c, f): (Vec<_>, Vec<_>) = scenarios.iter().partition(|(s, _)| is_control(s));
        (
            c.into_iter().map(|(_, r)| r).collect(),
            f.into_iter().map(|(_, r)| r).collect(),
        )
    };
    let all: Vec<&ScenarioScore> = scenarios.iter().map(|(_, r)| *r).collect();
    let rate = |set: &[&ScenarioScore], f: fn(&ScenarioScore) -> bool| {
        ratio(set.iter().filter(|r| f(r)).count(), set.len())
    };
    let ttd: Vec<f64> = faults.iter().filter_map(|r| r.ttd_s).collect();
    let ttm: Vec<f64> = all
        .iter()
        .filter(|r| r.resolved)
        .filter_map(|r| r.ttm_s)
        .collect();
    Summary {
        scenarios: scenarios.len(),
        detection_rate: rate(&faults, |r| r.detected),
        false_positive_rate: rate(&controls, |r| r.detected),
        diagnosis_accuracy: rate(&faults, |r| r.diagnosis_correct),
        localization_accuracy: rate(&faults, |r| r.located),
        action_accuracy: rate(&all, |r| r.action_ok),
        harmful_actions: all.iter().map(|r| r.harmful).sum(),
        resolution_rate: rate(&all, |r| r.resolved),
        ttd_median_s: median(&ttd),
        ttm_median_s: median(&ttm),
        ttm_p95_s: percentile(&ttm, 95.0),
        llm_calls: all.iter().map(|r| r.llm_calls).sum(),
        llm_tokens: all.iter().map(|r| r.llm_tokens).sum(),
        forbidden: all.iter().filter_map(|r| r.forbidden).reduce(|a, b| a + b),
        recurrence_rate: {
            let expected: Vec<bool> = all.iter().filter_map(|r| r.recurrence).collect();
            (!expected.is_empty())
                .then(|| ratio(expected.iter().filter(|r| **r).count(), expected.len()))
        },
    }
}
