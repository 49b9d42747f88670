//! The `runbooks:` section of the agent's configuration file, as written, and its checks:
//! every mistake is an error naming its key (`runbooks[1].job.image`), what was wrong and
//! what would be right. Unknown keys are refused by the YAML reader with their line.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::{
    AllowedTargets, EnvSource, Hidden, JobEnv, JobTemplate, RunbookKind, RunbookMatch,
    RunbookRegistry, RunbookSpec, RunbookStep, STEP_ACTIONS,
};
use crate::action::ResourceChange;
use crate::catalogue::{ActionName, Category};
use crate::decision::Risk;
use crate::units::{parse_cpu, parse_duration, parse_memory};

/// Default time a runbook may take.
pub const DEFAULT_TIMEOUT: &str = "10m";
/// Default time a finished Job stays.
pub const DEFAULT_TTL: &str = "1h";
/// Longest runbook name: it goes into Job names and label values.
pub const MAX_NAME: usize = 40;

/// A runbook that cannot be used: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct RunbookConfigError {
    /// The key, e.g. `runbooks[0].job.image`.
    pub key: String,
    /// What is wrong and what would be right.
    pub message: String,
}

/// One entry of `runbooks:` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookSettings {
    /// Name (lowercase letters, digits and `-`).
    #[serde(default)]
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// The diagnoses it is written for.
    #[serde(rename = "match", default)]
    pub matches: MatchSettings,
    /// `low`, `medium` or `high`.
    #[serde(default)]
    pub risk: Option<String>,
    /// Where it may run.
    #[serde(default)]
    pub targets: TargetSettings,
    /// How long a run may take, e.g. `5m`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Catalogue actions, in order (one of `actions` and `job`).
    #[serde(default)]
    pub actions: Option<Vec<StepSettings>>,
    /// A Kubernetes Job (one of `actions` and `job`).
    #[serde(default)]
    pub job: Option<JobSettings>,
}

/// `match:` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSettings {
    /// Diagnosis categories.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Labels the target must carry.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `targets:` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    /// Namespaces.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Label selector (`matchLabels`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One entry of `actions:` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSettings {
    /// Catalogue action name.
    #[serde(default)]
    pub action: String,
    /// `scale`: replicas.
    #[serde(default)]
    pub replicas: Option<i32>,
    /// `rollback`: revision.
    #[serde(default)]
    pub revision: Option<i64>,
    /// `set-resources`: container.
    #[serde(default)]
    pub container: Option<String>,
    /// `set-resources`: requests.
    #[serde(default)]
    pub requests: BTreeMap<String, String>,
    /// `set-resources`: limits.
    #[serde(default)]
    pub limits: BTreeMap<String, String>,
}

/// `job:` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    /// Image.
    #[serde(default)]
    pub image: String,
    /// Entrypoint.
    #[serde(default)]
    pub command: Vec<String>,
    /// Arguments of the real run.
    #[serde(default)]
    pub args: Vec<String>,
    /// Arguments of the dry run (required; `[]` to run without arguments).
    #[serde(default)]
    pub dry_run_args: Option<Vec<String>>,
    /// Environment.
    #[serde(default)]
    pub env: Vec<EnvSettings>,
    /// Service account.
    #[serde(default)]
    pub service_account: Option<String>,
    /// Time a finished Job stays, e.g. `1h`.
    #[serde(default)]
    pub ttl: Option<String>,
    /// Namespace to run in.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Pods that may fail before the Job does (default 0).
    #[serde(default)]
    pub backoff_limit: Option<i32>,
    /// The user id the container runs as (`runAsUser`); absent: the image's, which must not
    /// be root unless `run_as_root`.
    #[serde(default)]
    pub run_as_user: Option<i64>,
    /// Lets the container run as root (`runAsNonRoot: false`). Off by default: the Job runs
    /// under the restricted Pod Security Standard.
    #[serde(default)]
    pub run_as_root: bool,
}

/// One entry of `env:` as written: `name` and exactly one of `value`, `secret`, `from_env`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSettings {
    /// Variable name.
    #[serde(default)]
    pub name: String,
    /// A literal value.
    #[serde(default)]
    pub value: Option<String>,
    /// A Secret's key.
    #[serde(default)]
    pub secret: Option<SecretKeySettings>,
    /// A variable of the agent's environment.
    #[serde(default)]
    pub from_env: Option<String>,
}

/// `secret:` of an env entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretKeySettings {
    /// Secret name.
    #[serde(default)]
    pub name: String,
    /// Key in it.
    #[serde(default)]
    pub key: String,
}

/// Checks every entry (names unique) and builds the registry; variables named by `from_env`
/// are looked up with `env`, and one unset or empty is an error naming it.
pub fn registry(
    settings: &[RunbookSettings],
    env: impl Fn(&str) -> Option<String>,
) -> Result<RunbookRegistry, RunbookConfigError> {
    let mut seen = BTreeSet::new();
    let mut specs = Vec::new();
    for (i, s) in settings.iter().enumerate() {
        let mut spec = s.check(&format!("runbooks[{i}]"))?;
        if !seen.insert(spec.name.clone()) {
            return Err(err(
                format!("runbooks[{i}].name"),
                format!("{:?} is registered twice; names must be unique", spec.name),
            ));
        }
        if let RunbookKind::Job(job) = &mut spec.kind {
            for (j, e) in job.env.iter_mut().enumerate() {
                if let EnvSource::FromEnv { var, value } = &mut e.source {
                    match env(var).filter(|v| !v.is_empty()) {
                        Some(v) => value.0 = Some(v),
                        None => {
                            return Err(err(
                                format!("runbooks[{i}].job.env[{j}].from_env"),
                                format!("the environment variable {var} is not set"),
                            ));
                        }
                    }
                }
            }
        }
        specs.push(spec);
    }
    Ok(RunbookRegistry::new(specs))
}

fn err(key: impl Into<String>, message: impl Into<String>) -> RunbookConfigError {
    RunbookConfigError {
        key: key.into(),
        message: message.into(),
    }
}

/// A name Kubernetes accepts in a label value and a Job name: lowercase letters, digits and
/// `-`, starting and ending with a letter or digit.
fn dns_label(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl RunbookSettings {
    /// The runbook, or the first mistake under `at` (`runbooks[0]`).
    pub fn check(&self, at: &str) -> Result<RunbookSpec, RunbookConfigError> {
        if !dns_label(&self.name, MAX_NAME) {
            return Err(err(
                format!("{at}.name"),
                format!(
                    "{:?} is not a runbook name; expected 1 to {MAX_NAME} lowercase letters, digits and '-', e.g. restart-checkout",
                    self.name
                ),
            ));
        }
        if self.matches.categories.is_empty() {
            return Err(err(
                format!("{at}.match.categories"),
                "name at least one diagnosis category the runbook is written for, e.g. [app/crash]",
            ));
        }
        let mut categories = Vec::new();
        for (i, c) in self.matches.categories.iter().enumerate() {
            let c: Category = c
                .parse()
                .map_err(|e: String| err(format!("{at}.match.categories[{i}]"), e))?;
            categories.push(c);
        }
        let risk = match self.risk.as_deref() {
            None | Some("medium") => Risk::Medium,
            Some("low") => Risk::Low,
            Some("high") => Risk::High,
            Some(other) => {
                return Err(err(
                    format!("{at}.risk"),
                    format!("unknown risk class {other:?}; expected low, medium or high"),
                ));
            }
        };
        if self.targets.namespaces.is_empty() && self.targets.labels.is_empty() {
            return Err(err(
                format!("{at}.targets"),
                "name the namespaces, a label selector, or both: a runbook runs only where it is allowed",
            ));
        }
        for (i, ns) in self.targets.namespaces.iter().enumerate() {
            if !dns_label(ns, 63) {
                return Err(err(
                    format!("{at}.targets.namespaces[{i}]"),
                    format!("{ns:?} is not a namespace name"),
                ));
            }
        }
        let timeout_text = self.timeout.as_deref().unwrap_or(DEFAULT_TIMEOUT);
        let timeout = parse_duration(timeout_text).map_err(|e| err(format!("{at}.timeout"), e))?;
        if timeout.is_zero() {
            return Err(err(format!("{at}.timeout"), "must be longer than 0s"));
        }
        let kind = match (&self.actions, &self.job) {
            (Some(steps), None) => RunbookKind::Actions(check_steps(steps, at)?),
            (None, Some(job)) => RunbookKind::Job(job.check(&format!("{at}.job"))?),
            (Some(_), Some(_)) => {
                return Err(err(at, "give either `actions` or `job`, not both"));
            }
            (None, None) => {
                return Err(err(
                    at,
                    "give what the runbook does: `actions` (catalogue actions) or `job` (a Kubernetes Job)",
                ));
            }
        };
        Ok(RunbookSpec {
            name: self.name.clone(),
            description: self.description.trim().to_string(),
            matches: RunbookMatch {
                categories,
                labels: self.matches.labels.clone(),
            },
            risk,
            targets: AllowedTargets {
                namespaces: self.targets.namespaces.clone(),
                labels: self.targets.labels.clone(),
            },
            timeout,
            kind,
        })
    }
}

fn check_steps(steps: &[StepSettings], at: &str) -> Result<Vec<RunbookStep>, RunbookConfigError> {
    if steps.is_empty() {
        return Err(err(format!("{at}.actions"), "name at least one action"));
    }
    let mut out: Vec<RunbookStep> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let key = format!("{at}.actions[{i}]");
        let action: ActionName = s
            .action
            .parse()
            .map_err(|e: String| err(format!("{key}.action"), e))?;
        if !STEP_ACTIONS.contains(&action) {
            let allowed: Vec<&str> = STEP_ACTIONS.iter().map(|a| a.as_str()).collect();
            return Err(err(
                format!("{key}.action"),
                format!(
                    "{action} cannot be a runbook step; expected one of: {}",
                    allowed.join(", ")
                ),
            ));
        }
        let unused = |field: &str, given: bool| -> Result<(), RunbookConfigError> {
            if given {
                Err(err(
                    format!("{key}.{field}"),
                    format!("{action} takes no {field}"),
                ))
            } else {
                Ok(())
            }
        };
        if action != ActionName::Scale {
            unused("replicas", s.replicas.is_some())?;
        }
        if action != ActionName::Rollback {
            unused("revision", s.revision.is_some())?;
        }
        if action != ActionName::SetResources {
            unused("container", s.container.is_some())?;
            unused("requests", !s.requests.is_empty())?;
            unused("limits", !s.limits.is_empty())?;
        }
        match action {
            ActionName::Scale => match s.replicas {
                Some(n) if n >= 1 => {}
                Some(n) => {
                    return Err(err(
                        format!("{key}.replicas"),
                        format!("{n} replicas; a runbook scales to at least 1"),
                    ));
                }
                None => {
                    return Err(err(
                        format!("{key}.replicas"),
                        "scale needs the replica count",
                    ));
                }
            },
            ActionName::SetResources => {
                if s.container.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    return Err(err(
                        format!("{key}.container"),
                        "set-resources needs the container's name",
                    ));
                }
                if s.requests.is_empty() && s.limits.is_empty() {
                    return Err(err(
                        format!("{key}.limits"),
                        "set-resources needs requests or limits to set",
                    ));
                }
                for (field, map) in [("requests", &s.requests), ("limits", &s.limits)] {
                    for (resource, q) in map {
                        let parsed = match resource.as_str() {
                            "memory" => parse_memory(q).map(|_| ()),
                            "cpu" => parse_cpu(q).map(|_| ()),
                            other => Err(format!(
                                "unknown resource {other:?}; expected cpu or memory"
                            )),
                        };
                        parsed.map_err(|e| err(format!("{key}.{field}.{resource}"), e))?;
                    }
                }
            }
            _ => {}
        }
        let step = RunbookStep {
            action,
            replicas: s.replicas,
            revision: s.revision,
            container: s.container.clone(),
            resources: ResourceChange {
                requests: s.requests.clone(),
                limits: s.limits.clone(),
            },
        };
        if let Some(first) = out.first()
            && first.on_node() != step.on_node()
        {
            return Err(err(
                format!("{key}.action"),
                format!(
                    "{action} acts on a {} and {} on a {}: one runbook's actions share one target",
                    if step.on_node() { "node" } else { "workload" },
                    first.action,
                    if first.on_node() { "node" } else { "workload" },
                ),
            ));
        }
        out.push(step);
    }
    Ok(out)
}

impl JobSettings {
    fn check(&self, at: &str) -> Result<JobTemplate, RunbookConfigError> {
        if self.image.trim().is_empty() {
            return Err(err(
                format!("{at}.image"),
                "missing: the Job's container image, e.g. registry.local/ops/ansible:9",
            ));
        }
        let Some(dry_run_args) = self.dry_run_args.clone() else {
            return Err(err(
                format!("{at}.dry_run_args"),
                "missing: the arguments of the dry run, which runs the Job in check mode first (e.g. [--check]); write [] to run it without arguments",
            ));
        };
        let mut env = Vec::new();
        let mut names = BTreeSet::new();
        for (i, e) in self.env.iter().enumerate() {
            let key = format!("{at}.env[{i}]");
            let valid = !e.name.is_empty()
                && !e.name.starts_with(|c: char| c.is_ascii_digit())
                && e.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
            if !valid {
                return Err(err(
                    format!("{key}.name"),
                    format!("{:?} is not an environment variable name", e.name),
                ));
            }
            if !names.insert(e.name.clone()) {
                return Err(err(
                    format!("{key}.name"),
                    format!("{} is set twice", e.name),
                ));
            }
            let source = match (&e.value, &e.secret, &e.from_env) {
                (Some(v), None, None) => EnvSource::Value(v.clone()),
                (None, Some(s), None) => {
                    if s.name.trim().is_empty() || s.key.trim().is_empty() {
                        return Err(err(
                            format!("{key}.secret"),
                            "name the Secret and its key: {name: ..., key: ...}",
                        ));
                    }
                    EnvSource::Secret {
                        name: s.name.clone(),
                        key: s.key.clone(),
                    }
                }
                (None, None, Some(var)) if !var.trim().is_empty() => EnvSource::FromEnv {
                    var: var.clone(),
                    value: Hidden(None),
                },
                _ => {
                    return Err(err(
                        key,
                        "give exactly one of value, secret ({name, key}) and from_env",
                    ));
                }
            };
            env.push(JobEnv {
                name: e.name.clone(),
                source,
            });
        }
        if let Some(sa) = &self.service_account
            && !dns_label(sa, 253)
        {
            return Err(err(
                format!("{at}.service_account"),
                format!("{sa:?} is not a service account name"),
            ));
        }
        if let Some(ns) = &self.namespace
            && !dns_label(ns, 63)
        {
            return Err(err(
                format!("{at}.namespace"),
                format!("{ns:?} is not a namespace name"),
            ));
        }
        let ttl = parse_duration(self.ttl.as_deref().unwrap_or(DEFAULT_TTL))
            .map_err(|e| err(format!("{at}.ttl"), e))?;
        let backoff_limit = self.backoff_limit.unwrap_or(0);
        if !(0..=10).contains(&backoff_limit) {
            return Err(err(
                format!("{at}.backoff_limit"),
                format!("{backoff_limit}; expected 0 to 10"),
            ));
        }
        match self.run_as_user {
            Some(uid) if uid < 0 => {
                return Err(err(
                    format!("{at}.run_as_user"),
                    format!("{uid} is not a user id"),
                ));
            }
            Some(0) if !self.run_as_root => {
                return Err(err(
                    format!("{at}.run_as_user"),
                    "0 is root; set run_as_root: true to let the runbook run as root",
                ));
            }
            _ => {}
        }
        Ok(JobTemplate {
            run_as_user: self.run_as_user,
            run_as_root: self.run_as_root,
            image: self.image.trim().to_string(),
            command: self.command.clone(),
            args: self.args.clone(),
            dry_run_args,
            env,
            service_account: self.service_account.clone(),
            ttl,
            namespace: self.namespace.clone(),
            backoff_limit,
        })
    }
}
