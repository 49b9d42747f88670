//! Alerting rule evaluation with Prometheus 2.42's alert state machine and its rules for what
//! to send to Alertmanager.

use std::collections::BTreeMap;
use std::time::Duration;

use super::file::{AlertingRule, RuleFile};
use super::template::TemplateData;
use crate::alertmanager::PostableAlert;
use crate::duration::millis;
use crate::gofmt::query_escape;
use crate::labels::{ALERT_NAME, Labels, METRIC_NAME, label_set_string};
use crate::promql::{Engine, EvalError, InstantSample, Value};
use crate::tsdb::Tsdb;

/// How long Prometheus keeps reporting a resolved alert to Alertmanager.
const RESOLVED_RETENTION_MS: i64 = 15 * 60_000;

/// Settings Prometheus takes from its configuration and command line.
#[derive(Debug, Clone)]
pub struct RuleOptions {
    /// Interval for groups that do not set one (Prometheus' `global.evaluation_interval`).
    pub evaluation_interval: Duration,
    /// Minimum time between two sends of the same firing alert (`--rules.alert.resend-delay`).
    pub resend_delay: Duration,
    /// Prometheus' external URL, used in `generatorURL` and templates.
    pub external_url: String,
    /// Prometheus' external labels, available to templates.
    pub external_labels: Labels,
    /// The query engine.
    pub engine: Engine,
}

impl Default for RuleOptions {
    fn default() -> Self {
        RuleOptions {
            evaluation_interval: Duration::from_secs(60),
            resend_delay: Duration::from_secs(60),
            external_url: "http://localhost:9090".into(),
            external_labels: Labels::new(),
            engine: Engine::default(),
        }
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    /// The expression stopped returning it; kept for a while to report the resolution.
    Inactive,
    /// The expression returns it, for less than the rule's `for`.
    Pending,
    /// The expression has returned it for at least `for`.
    Firing,
}

/// One alert of one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// The group the rule belongs to.
    pub group: String,
    /// Labels: the result's labels without `__name__`, plus the rule's labels and `alertname`.
    pub labels: Labels,
    /// Rendered annotations.
    pub annotations: Labels,
    /// The state.
    pub state: AlertState,
    /// The latest value of the expression for this alert.
    pub value: f64,
    /// When the expression first returned it (ms since the epoch).
    pub active_at_ms: i64,
    /// When it became firing.
    pub fired_at_ms: Option<i64>,
    /// When it stopped being returned.
    pub resolved_at_ms: Option<i64>,
    last_sent_at_ms: Option<i64>,
}

/// A rule evaluation that failed; the rule's alerts keep their previous state.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RuleEvalError {
    /// The query failed.
    #[error("unable to evaluate alert {rule:?} of group {group:?}")]
    Query {
        /// The group.
        group: String,
        /// The alert name.
        rule: String,
        /// The evaluation error.
        #[source]
        source: Box<EvalError>,
    },
    /// The query returned something other than a vector or scalar.
    #[error("alert {rule:?} of group {group:?} returned a {got}, not a vector or scalar")]
    ResultType {
        /// The group.
        group: String,
        /// The alert name.
        rule: String,
        /// What it returned.
        got: &'static str,
    },
    /// Two results map to the same alert labels.
    #[error(
        "alert {rule:?} of group {group:?}: vector contains metrics with the same labelset \
         after applying alert labels: {labels}"
    )]
    DuplicateAlert {
        /// The group.
        group: String,
        /// The alert name.
        rule: String,
        /// The colliding labels.
        labels: String,
    },
    /// More alerts than the group's `limit`; all of the rule's alerts were dropped.
    #[error("alert {rule:?} of group {group:?} exceeded the limit of {limit} with {count} alerts")]
    Limit {
        /// The group.
        group: String,
        /// The alert name.
        rule: String,
        /// The group's limit.
        limit: usize,
        /// How many alerts the rule had.
        count: usize,
    },
}

/// What one call to [`RuleEvaluator::evaluate`] produced.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Alerts Prometheus would post to Alertmanager now (firing, and recently resolved).
    pub to_send: Vec<PostableAlert>,
    /// Rules that failed to evaluate.
    pub errors: Vec<RuleEvalError>,
    /// How many groups were due and evaluated.
    pub groups_evaluated: usize,
}

#[derive(Debug)]
struct RuleState {
    rule: AlertingRule,
    generator_url: String,
    active: BTreeMap<Labels, Alert>,
}

#[derive(Debug)]
struct GroupState {
    name: String,
    interval_ms: i64,
    limit: usize,
    rules: Vec<RuleState>,
    next_eval_ms: Option<i64>,
}

/// Evaluates a rule file's alerting rules in simulated time, holding each alert's state.
#[derive(Debug)]
pub struct RuleEvaluator {
    options: RuleOptions,
    groups: Vec<GroupState>,
}

impl RuleEvaluator {
    /// An evaluator with every alert inactive.
    pub fn new(file: RuleFile, options: RuleOptions) -> Self {
        let default_interval = millis(options.evaluation_interval).max(1);
        let groups = file
            .groups
            .into_iter()
            .map(|g| GroupState {
                name: g.name,
                interval_ms: g.interval.map(millis).unwrap_or(default_interval).max(1),
                limit: g.limit,
                rules: g
                    .rules
                    .into_iter()
                    .map(|rule| RuleState {
                        generator_url: format!(
                            "{}/graph?g0.expr={}&g0.tab=1",
                            options.external_url.trim_end_matches('/'),
                            query_escape(&rule.parsed.to_string())
                        ),
                        rule,
                        active: BTreeMap::new(),
                    })
                    .collect(),
                next_eval_ms: None,
            })
            .collect();
        RuleEvaluator { options, groups }
    }

    /// Evaluates every group whose interval has come round by `t_ms` (all of them on the first
    /// call), updates alert states and returns what Prometheus would send to Alertmanager.
    /// Call it at least as often as the shortest group interval.
    pub fn evaluate(&mut self, tsdb: &Tsdb, t_ms: i64) -> Evaluation {
        let mut out = Evaluation::default();
        let resend_ms = millis(self.options.resend_delay);
        for group in &mut self.groups {
            if group.next_eval_ms.is_some_and(|next| t_ms < next) {
                continue;
            }
            out.groups_evaluated += 1;
            group.next_eval_ms = Some(match group.next_eval_ms {
                None => t_ms.saturating_add(group.interval_ms),
                Some(mut next) => {
                    while next <= t_ms {
                        next = next.saturating_add(group.interval_ms);
                    }
                    next
                }
            });
            for state in &mut group.rules {
                if let Err(e) =
                    eval_rule(&self.options, &group.name, group.limit, state, tsdb, t_ms)
                {
                    out.errors.push(e);
                    continue;
                }
                let valid_for = 4 * resend_ms.max(group.interval_ms);
                for alert in state.active.values_mut() {
                    if !needs_sending(alert, t_ms, resend_ms) {
                        continue;
                    }
                    alert.last_sent_at_ms = Some(t_ms);
                    out.to_send.push(PostableAlert {
                        labels: alert.labels.clone(),
                        annotations: alert.annotations.clone(),
                        starts_at_ms: alert.fired_at_ms,
                        ends_at_ms: Some(
                            alert
                                .resolved_at_ms
                                .unwrap_or(t_ms.saturating_add(valid_for)),
                        ),
                        generator_url: state.generator_url.clone(),
                    });
                }
            }
        }
        out
    }

    /// Every pending, firing or recently resolved alert.
    pub fn alerts(&self) -> Vec<&Alert> {
        self.groups
            .iter()
            .flat_map(|g| g.rules.iter())
            .flat_map(|r| r.active.values())
            .collect()
    }
}

/// Prometheus' `Alert.needsSending`.
fn needs_sending(alert: &Alert, t: i64, resend_ms: i64) -> bool {
    if alert.state == AlertState::Pending {
        return false;
    }
    if let Some(resolved) = alert.resolved_at_ms
        && alert.last_sent_at_ms.is_none_or(|sent| resolved > sent)
    {
        return true;
    }
    match alert.last_sent_at_ms {
        None => true,
        Some(sent) => sent.saturating_add(resend_ms) < t,
    }
}

/// Prometheus' `AlertingRule.Eval`.
fn eval_rule(
    options: &RuleOptions,
    group: &str,
    limit: usize,
    state: &mut RuleState,
    tsdb: &Tsdb,
    t: i64,
) -> Result<(), RuleEvalError> {
    let rule = &state.rule;
    let samples = match options.engine.eval(tsdb, &rule.parsed, t) {
        Ok(Value::Vector(v)) => v,
        Ok(Value::Scalar(v)) => vec![InstantSample {
            labels: Labels::new(),
            value: v,
        }],
        Ok(other) => {
            return Err(RuleEvalError::ResultType {
                group: group.to_string(),
                rule: rule.name.clone(),
                got: match other {
                    Value::String(_) => "string",
                    _ => "range vector",
                },
            });
        }
        Err(source) => {
            return Err(RuleEvalError::Query {
                group: group.to_string(),
                rule: rule.name.clone(),
                source: Box::new(source),
            });
        }
    };

    let mut results: BTreeMap<Labels, (Labels, f64)> = BTreeMap::new();
    for sample in samples {
        let data = TemplateData {
            labels: &sample.labels,
            value: sample.value,
            external_labels: &options.external_labels,
            external_url: &options.external_url,
        };
        let mut labels = sample.labels.clone();
        labels.remove(METRIC_NAME);
        for (name, template) in &rule.labels {
            let value = template.render(&data);
            if value.is_empty() {
                labels.remove(name);
            } else {
                labels.insert(name.clone(), value);
            }
        }
        labels.insert(ALERT_NAME.to_string(), rule.name.clone());
        let annotations: Labels = rule
            .annotations
            .iter()
            .map(|(name, template)| (name.clone(), template.render(&data)))
            .collect();
        if results.contains_key(&labels) {
            return Err(RuleEvalError::DuplicateAlert {
                group: group.to_string(),
                rule: rule.name.clone(),
                labels: label_set_string(&labels),
            });
        }
        results.insert(labels, (annotations, sample.value));
    }

    for (labels, (annotations, value)) in &results {
        if let Some(alert) = state.active.get_mut(labels)
            && alert.state != AlertState::Inactive
        {
            alert.value = *value;
            alert.annotations = annotations.clone();
            continue;
        }
        state.active.insert(
            labels.clone(),
            Alert {
                group: group.to_string(),
                labels: labels.clone(),
                annotations: annotations.clone(),
                state: AlertState::Pending,
                value: *value,
                active_at_ms: t,
                fired_at_ms: None,
                resolved_at_ms: None,
                last_sent_at_ms: None,
            },
        );
    }

    let for_ms = millis(rule.for_duration);
    let mut active_count = 0;
    state.active.retain(|labels, alert| {
        if !results.contains_key(labels) {
            let expired = alert
                .resolved_at_ms
                .is_some_and(|r| t.saturating_sub(r) > RESOLVED_RETENTION_MS);
            if alert.state == AlertState::Pending || expired {
                return false;
            }
            if alert.state != AlertState::Inactive {
                alert.state = AlertState::Inactive;
                alert.resolved_at_ms = Some(t);
            }
            return true;
        }
        active_count += 1;
        if alert.state == AlertState::Pending && t.saturating_sub(alert.active_at_ms) >= for_ms {
            alert.state = AlertState::Firing;
            alert.fired_at_ms = Some(t);
        }
        true
    });
    if limit > 0 && active_count > limit {
        state.active.clear();
        return Err(RuleEvalError::Limit {
            group: group.to_string(),
            rule: rule.name.clone(),
            limit,
            count: active_count,
        });
    }
    Ok(())
}
