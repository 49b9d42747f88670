//! A runbook that runs a Kubernetes Job from its template.
//!
//! Each phase is one Job: the dry run with the template's `dry_run_args`, the real run with its
//! `args`. The Job carries `activeDeadlineSeconds` equal to the runbook's timeout, so the
//! cluster stops it there (`DeadlineExceeded`); the agent waits for the Job to end, on the
//! cluster's clock, up to the timeout and a grace, and deletes a Job still running after that.
//!
//! A run under an idempotency key is named `rb-<runbook>-<hash of key and phase>` and
//! labelled with the key and the incident (the key is `<incident>-a<attempt>`), so a second
//! call under the same key finds the Job and waits for it instead of creating another. The
//! container's environment is the template's, values from Secrets by `secretKeyRef` (the
//! agent never reads them), plus `NIGHTSHIFT_TARGET_KIND`, `NIGHTSHIFT_TARGET_NAMESPACE`,
//! `NIGHTSHIFT_TARGET_NAME`, `NIGHTSHIFT_INCIDENT` and `NIGHTSHIFT_DRY_RUN` (`true` or
//! `false`), so that nothing about the target is spliced into the command line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, LogParams, PostParams, PropagationPolicy};
use kube::{Api, Client};
use nightshift_core::ResourceRef;
use nightshift_core::runbook::{EnvSource, JobTemplate, RunbookKind, RunbookSpec};
use serde_json::{Value, json};

use super::record::{JobCondition, JobPhase, JobResult, JobRun, RunbookFailure};
use super::{Runbook, RunbookError, RunbookReport};
use crate::act::Actuator;
use crate::act::error::{api_code, api_message};
use crate::clock::Clock;

/// Label with the runbook's name.
pub const RUNBOOK_LABEL: &str = "nightshift.io/runbook";
/// Label with the phase: `dry-run` or `run`.
pub const PHASE_LABEL: &str = "nightshift.io/runbook-phase";
/// Label with the incident a run belongs to.
pub const INCIDENT_LABEL: &str = "nightshift.io/incident";
/// Label (and annotation) with the idempotency key of a run.
pub const KEY_LABEL: &str = "nightshift.io/action-id";

/// How long past the timeout the agent waits for the cluster to stop the Job itself.
const GRACE: Duration = Duration::from_secs(15);
/// How often the Job's status is read (cluster time).
const POLL: Duration = Duration::from_secs(1);
/// The log is read every this many polls while the Job runs.
const LOG_EVERY: u32 = 5;
/// Lines of the pod's log kept.
const LOG_LINES: i64 = 40;
/// Bytes of the pod's log kept.
const LOG_BYTES: i64 = 8 * 1024;

pub(super) struct JobRunbook {
    spec: RunbookSpec,
    clock: Arc<dyn Clock>,
}

impl JobRunbook {
    pub(super) fn new(spec: RunbookSpec, clock: Arc<dyn Clock>) -> Self {
        JobRunbook { spec, clock }
    }

    fn template(&self) -> &JobTemplate {
        match &self.spec.kind {
            RunbookKind::Job(t) => t,
            RunbookKind::Actions(_) => unreachable!("built for job runbooks only"),
        }
    }

    fn namespace(&self, target: &ResourceRef) -> String {
        self.template()
            .namespace
            .clone()
            .or_else(|| target.namespace().map(str::to_string))
            .unwrap_or_else(|| "default".to_string())
    }

    /// The Job's name: computed from the key and the phase when there is a key, unique
    /// otherwise.
    fn job_name(&self, key: Option<&str>, phase: JobPhase) -> String {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let seed = match key {
            Some(k) => format!("{k}/{}", phase.as_str()),
            None => format!(
                "{}/{}/{}",
                phase.as_str(),
                self.clock.now().timestamp_nanos_opt().unwrap_or_default(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ),
        };
        format!("rb-{}-{:08x}", self.spec.name, fnv(&seed) as u32)
    }

    fn job_object(
        &self,
        name: &str,
        namespace: &str,
        target: &ResourceRef,
        phase: JobPhase,
        key: Option<&str>,
        field_manager: &str,
    ) -> Result<Job, RunbookError> {
        let t = self.template();
        let incident = key.and_then(incident_of);
        let mut labels = json!({
            "app.kubernetes.io/managed-by": field_manager,
            RUNBOOK_LABEL: self.spec.name,
            PHASE_LABEL: phase.as_str(),
        });
        if let Some(i) = incident.filter(|i| label_value(i)) {
            labels[INCIDENT_LABEL] = json!(i);
        }
        let mut job_labels = labels.clone();
        if let Some(k) = key.filter(|k| label_value(k)) {
            job_labels[KEY_LABEL] = json!(k);
        }
        let mut env: Vec<Value> = t
            .env
            .iter()
            .map(|e| match &e.source {
                EnvSource::Value(v) => json!({"name": e.name, "value": v}),
                EnvSource::Secret { name, key } => json!({
                    "name": e.name,
                    "valueFrom": {"secretKeyRef": {"name": name, "key": key}},
                }),
                EnvSource::FromEnv { value, .. } => {
                    json!({"name": e.name, "value": value.0.clone().unwrap_or_default()})
                }
            })
            .collect();
        let (kind, ns, tname) = match target {
            ResourceRef::Workload {
                kind,
                namespace,
                name,
            } => (kind.as_str().to_string(), namespace.clone(), name.clone()),
            ResourceRef::Node { name } => ("Node".to_string(), String::new(), name.clone()),
            other => (
                "Object".to_string(),
                other.namespace().unwrap_or_default().to_string(),
                other.locate_key(),
            ),
        };
        for (k, v) in [
            ("NIGHTSHIFT_TARGET_KIND", kind),
            ("NIGHTSHIFT_TARGET_NAMESPACE", ns),
            ("NIGHTSHIFT_TARGET_NAME", tname),
            (
                "NIGHTSHIFT_INCIDENT",
                incident.unwrap_or_default().to_string(),
            ),
            (
                "NIGHTSHIFT_DRY_RUN",
                (phase == JobPhase::DryRun).to_string(),
            ),
        ] {
            env.push(json!({"name": k, "value": v}));
        }
        let args = match phase {
            JobPhase::DryRun => &t.dry_run_args,
            JobPhase::Run => &t.args,
        };
        // The restricted Pod Security Standard: no privilege escalation, no capabilities,
        // the runtime's seccomp profile, not root unless the runbook says so.
        let mut container = json!({
            "name": "runbook",
            "image": t.image,
            "env": env,
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "privileged": false,
                "capabilities": {"drop": ["ALL"]},
            },
        });
        if !t.command.is_empty() {
            container["command"] = json!(t.command);
        }
        if !args.is_empty() {
            container["args"] = json!(args);
        }
        let mut security = json!({
            "runAsNonRoot": !t.run_as_root,
            "seccompProfile": {"type": "RuntimeDefault"},
        });
        if let Some(uid) = t.run_as_user {
            security["runAsUser"] = json!(uid);
        }
        let mut pod_spec = json!({
            "restartPolicy": "Never",
            "containers": [container],
            "securityContext": security,
            // A runbook reaches the cluster's API only through a service account it names.
            "automountServiceAccountToken": t.service_account.is_some(),
        });
        if let Some(sa) = &t.service_account {
            pod_spec["serviceAccountName"] = json!(sa);
        }
        let job = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": job_labels,
                "annotations": {
                    KEY_LABEL: key.unwrap_or_default(),
                    "nightshift.io/target": target.locate_key(),
                },
            },
            "spec": {
                "backoffLimit": t.backoff_limit,
                "activeDeadlineSeconds": self.spec.timeout.as_secs().max(1),
                "ttlSecondsAfterFinished": t.ttl.as_secs(),
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
        });
        Ok(serde_json::from_value(job)?)
    }

    async fn run_phase(
        &self,
        actuator: &Actuator,
        target: &ResourceRef,
        phase: JobPhase,
        key: Option<&str>,
    ) -> Result<JobRun, RunbookError> {
        let client = actuator.client();
        let namespace = self.namespace(target);
        let name = self.job_name(key, phase);
        let api: Api<Job> = Api::namespaced(client.clone(), &namespace);
        let mut attached = key.is_some() && api.get_opt(&name).await?.is_some();
        if !attached {
            let job = self.job_object(
                &name,
                &namespace,
                target,
                phase,
                key,
                &actuator.field_manager,
            )?;
            let pp = PostParams {
                field_manager: Some(actuator.field_manager.clone()),
                ..PostParams::default()
            };
            match api.create(&pp, &job).await {
                Ok(_) => {}
                // Created meanwhile under the same key: that run is the one.
                Err(e) if api_code(&e) == Some(409) => attached = true,
                Err(e) => {
                    return Err(Box::new(RunbookFailure {
                        message: format!(
                            "unable to create job {namespace}/{name} for runbook {}: {}",
                            self.spec.name,
                            api_message(&e)
                        ),
                        jobs: Vec::new(),
                    }));
                }
            }
        }
        tracing::info!(runbook = %self.spec.name, job = %name, phase = phase.as_str(), attached, "waiting for the runbook's job");
        let mut run = self.wait(client, &api, &name, &namespace, phase).await?;
        run.attached = attached;
        Ok(run)
    }

    /// Waits for the Job to end, up to the timeout and the grace; a Job still running then is
    /// deleted with its pods.
    async fn wait(
        &self,
        client: &Client,
        api: &Api<Job>,
        name: &str,
        namespace: &str,
        phase: JobPhase,
    ) -> Result<JobRun, RunbookError> {
        let started = self.clock.now();
        let limit =
            chrono::Duration::from_std(self.spec.timeout + GRACE).unwrap_or(chrono::Duration::MAX);
        // The log is read as the Job runs too: a Job stopped at its deadline takes its pods,
        // and their logs, with it.
        let mut seen: (Option<String>, String) = (None, String::new());
        let mut polls = 0u32;
        loop {
            if polls.is_multiple_of(LOG_EVERY) {
                let (pod, logs) = self.logs(client, namespace, name).await;
                if pod.is_some() {
                    seen = (pod, logs);
                }
            }
            polls += 1;
            let job = api.get_opt(name).await?;
            let Some(job) = job else {
                return Err(Box::new(RunbookFailure {
                    message: format!(
                        "job {namespace}/{name} of runbook {} disappeared before it ended",
                        self.spec.name
                    ),
                    jobs: Vec::new(),
                }));
            };
            let mut run = self.record(&job, name, namespace, phase);
            let ended = run
                .conditions
                .iter()
                .any(|c| c.status == "True" && (c.kind == "Complete" || c.kind == "Failed"));
            if ended {
                let (pod, logs) = self.logs(client, namespace, name).await;
                if pod.is_some() {
                    seen = (pod, logs);
                }
                (run.pod, run.logs) = seen;
                return Ok(run);
            }
            if self.clock.now() - started >= limit {
                let dp = DeleteParams {
                    propagation_policy: Some(PropagationPolicy::Background),
                    ..DeleteParams::default()
                };
                if let Err(e) = api.delete(name, &dp).await {
                    tracing::warn!(job = %name, error = %e, "a runbook's job past its timeout was not deleted");
                }
                run.result = JobResult::TimedOut;
                (run.pod, run.logs) = seen;
                return Ok(run);
            }
            self.clock.sleep(POLL).await;
        }
    }

    fn record(&self, job: &Job, name: &str, namespace: &str, phase: JobPhase) -> JobRun {
        let status = job.status.clone().unwrap_or_default();
        let conditions: Vec<JobCondition> = status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .map(|c| JobCondition {
                kind: c.type_,
                status: c.status,
                reason: c.reason,
                message: c.message.map(|m| crate::redact::redact(&m)),
            })
            .collect();
        let holds = |kind: &str| {
            conditions
                .iter()
                .find(|c| c.kind == kind && c.status == "True")
        };
        let result = if holds("Complete").is_some() {
            JobResult::Succeeded
        } else if holds("Failed").is_some_and(|c| c.reason.as_deref() == Some("DeadlineExceeded")) {
            JobResult::TimedOut
        } else {
            JobResult::Failed
        };
        JobRun {
            runbook: self.spec.name.clone(),
            namespace: namespace.to_string(),
            job: name.to_string(),
            phase,
            result,
            succeeded: status.succeeded.unwrap_or(0),
            failed: status.failed.unwrap_or(0),
            conditions,
            pod: None,
            logs: String::new(),
            attached: false,
        }
    }

    /// The tail of the log of the Job's last pod, redacted (the built-in shapes, the
    /// operator's patterns, and every value the template took from the agent's environment).
    async fn logs(&self, client: &Client, namespace: &str, job: &str) -> (Option<String>, String) {
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let lp = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
        let Ok(list) = pods.list(&lp).await else {
            return (None, String::new());
        };
        let Some(pod) = list
            .items
            .into_iter()
            .max_by_key(|p| p.metadata.creation_timestamp.clone().map(|t| t.0))
        else {
            return (None, String::new());
        };
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let params = LogParams {
            tail_lines: Some(LOG_LINES),
            limit_bytes: Some(LOG_BYTES),
            ..LogParams::default()
        };
        let text = match pods.logs(&pod_name, &params).await {
            Ok(t) => t,
            Err(e) => format!("(log not read: {})", api_message(&e)),
        };
        (Some(pod_name), self.redact(&text))
    }

    fn redact(&self, text: &str) -> String {
        let mut text = text.to_string();
        for v in self.template().hidden_values() {
            text = text.replace(v, crate::redact::MASK);
        }
        crate::redact::redact(&text)
    }

    fn outcome(&self, runs: Vec<JobRun>, phase: JobPhase) -> Result<RunbookReport, RunbookError> {
        let last = runs.last().expect("one run");
        if last.result != JobResult::Succeeded {
            return Err(Box::new(RunbookFailure {
                message: last.to_string(),
                jobs: runs,
            }));
        }
        let verb = match phase {
            JobPhase::DryRun => "checked",
            JobPhase::Run => "ran",
        };
        Ok(RunbookReport {
            summary: format!("runbook {} {verb}: {}", self.spec.name, last),
            changes: Vec::new(),
            jobs: runs,
            affected: Vec::new(),
        })
    }
}

impl Runbook for JobRunbook {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn run<'a>(
        &'a self,
        actuator: &'a Actuator,
        target: &'a ResourceRef,
        dry_run: bool,
        idempotency_key: Option<&'a str>,
    ) -> BoxFuture<'a, Result<RunbookReport, RunbookError>> {
        Box::pin(async move {
            let phase = if dry_run {
                JobPhase::DryRun
            } else {
                JobPhase::Run
            };
            let run = self
                .run_phase(actuator, target, phase, idempotency_key)
                .await?;
            self.outcome(vec![run], phase)
        })
    }

    fn already_applied<'a>(
        &'a self,
        actuator: &'a Actuator,
        target: &'a ResourceRef,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<bool, RunbookError>> {
        Box::pin(async move {
            let api: Api<Job> = Api::namespaced(actuator.client().clone(), &self.namespace(target));
            let name = self.job_name(Some(idempotency_key), JobPhase::Run);
            Ok(api.get_opt(&name).await?.is_some())
        })
    }
}

/// The incident of a key `<incident>-a<attempt>`.
fn incident_of(key: &str) -> Option<&str> {
    let (incident, attempt) = key.rsplit_once("-a")?;
    (!incident.is_empty() && !attempt.is_empty() && attempt.bytes().all(|b| b.is_ascii_digit()))
        .then_some(incident)
}

/// Whether Kubernetes accepts `v` as a label value.
fn label_value(v: &str) -> bool {
    v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && v.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && v.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// FNV-1a: a stable hash for Job names (the standard library's is not stable across builds).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_incident_and_label_values_are_checked() {
        assert_eq!(incident_of("inc-000012-a0"), Some("inc-000012"));
        assert_eq!(incident_of("inc-000012-a10"), Some("inc-000012"));
        assert_eq!(incident_of("manual"), None);
        assert_eq!(incident_of("x-abc"), None);
        assert!(label_value("inc-000012-a0"));
        assert!(!label_value("-x"));
        assert!(!label_value(&"x".repeat(64)));
        assert_eq!(fnv("a"), fnv("a"));
        assert_ne!(fnv("inc-1-a0/run"), fnv("inc-1-a0/dry-run"));
    }
}
