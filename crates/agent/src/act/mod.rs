//! Carrying out typed actions through the Kubernetes API.
//!
//! Every action is first turned into a plan: the exact requests to send, built from one read
//! of the cluster. [`Actuator::dry_run`] sends them with `dryRun=All` and reports what the
//! server says would change (the object each dry-run patch returns, diffed against the object
//! as read); [`Actuator::execute`] sends the same requests, stamp included, as a dry run first
//! (and stops, having changed nothing, if the server rejects any of them), then for real. The
//! public dry run leaves the idempotency stamp out, having no key; nothing else differs.
//!
//! | action | requests |
//! | --- | --- |
//! | restart-pod | (stamp the owner) eviction of the pod |
//! | rollout-restart | strategic merge patch of `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]`, as kubectl |
//! | scale | merge patch of the `/scale` subresource, then (stamp) |
//! | rollback | JSON patch replacing `spec.template` with the chosen revision's (see the rollback notes below) |
//! | set-resources | strategic merge patch of one container's `resources` |
//! | (StatefulSet template changes) | then one eviction per pod of the StatefulSet that is not Ready, which `OrderedReady` would otherwise never replace |
//! | cordon-node / uncordon-node | strategic merge patch of `spec.unschedulable` (`true` / removed) |
//! | drain-node | the cordon patch, then one eviction per pod except DaemonSet pods, mirror pods, bare pods (reported, left for a person, as kubectl without `--force`) and terminating ones |
//! | run-runbook | what the registered [`Runbook`] does: its catalogue actions, each as above, or its Job (created, waited for, its log read); "no runbook registered named X" without one |
//! | escalate, none | nothing |
//!
//! A drain's dry run asks about each eviction on its own, so a budget that would let only one
//! of two pods go reports both as evictable; a refusal (429) in a dry run is reported as
//! [`Disruption::Blocked`], not as a failure, because the real drain retries it.
//!
//! # Rollback
//!
//! `kubectl rollout undo` semantics: a Deployment's history is its ReplicaSets
//! (`deployment.kubernetes.io/revision`), a StatefulSet's or DaemonSet's its
//! ControllerRevisions. Without a revision the target is the newest revision whose template
//! differs from the running one (kubectl's "second highest"); its template minus
//! `pod-template-hash` replaces `spec.template`. No such revision: [`ActError::NoPreviousRevision`].
//! Already running the requested revision's template: [`OutcomeStatus::NoChange`]. Paused
//! Deployments are refused, as kubectl refuses them.
//!
//! # Idempotency
//!
//! Every real change stamps the caller's idempotency key as the annotation
//! [`ACTION_ID_ANNOTATION`] on the object it changes, in the same request as the change where
//! the API allows it, so that after a crash between the write-ahead intent and the action
//! [`Actuator::already_applied`] can tell whether the change happened:
//!
//! | action | object stamped | already applied when |
//! | --- | --- | --- |
//! | rollout-restart, rollback, set-resources | the workload, in the same patch | the key is on the workload |
//! | scale | the workload, in a metadata patch right after the `/scale` patch (the subresource carries no annotations) | the key is on the workload; a crash between the two requests re-sends an absolute replica count, which changes nothing |
//! | restart-pod | the owning workload (a Deployment, not its ReplicaSet), before the eviction, with the pod's uid in [`RESTARTED_POD_ANNOTATION`] | the key is on a workload of the namespace and the pod with that uid is gone or terminating |
//! | cordon-node, uncordon-node | the node, in the same patch | the key is on the node |
//! | drain-node | the node, in the cordon patch | the key is on the node and no evictable pod is left on it: re-running an interrupted drain finishes it, it never repeats one |
//!
//! The annotation holds the latest key only: the agent acts on one target at a time, so the
//! key of an interrupted action is still there when it recovers.
//!
//! A change to the pod template (rollout-restart, set-resources, rollback) also stamps the key
//! in the template's annotations, in the same patch, so the revision it creates (a
//! ReplicaSet or ControllerRevision copies the template) says which action made it: the
//! rollout history reads it as `made_by`, and the rules never take the agent's own revision
//! for a release. A rollback therefore makes a new revision rather than reviving the old
//! ReplicaSet, as `kubectl rollout undo` would; templates are compared without the stamp.
//!
//! # restart-pod and disruption budgets
//!
//! restart-pod always uses the eviction API rather than a plain delete. For a pod no
//! PodDisruptionBudget selects, an eviction *is* a delete; for one a budget covers, the server
//! refuses (429) when the restart would take the service below its budget, and the action
//! fails with [`ActError::EvictionRefused`] instead of causing an outage. There is no fallback
//! to delete: a budget that refuses is the answer.

mod error;
mod node;
mod plan;
mod pod;
mod report;
mod rollback;
mod runbook;
mod send;
mod target;
mod workload;
use std::time::Duration;

use kube::Client;
use nightshift_core::Action;

pub use error::ActError;
pub use report::{ActionOutcome, Change, Disruption, DryRunReport, OutcomeStatus, PodDisruption};
pub use runbook::{
    JobCondition, JobPhase, JobResult, JobRun, Runbook, RunbookError, RunbookFailure,
    RunbookReport, Runbooks, failed_jobs,
};

pub(crate) use node::evictable;
pub(crate) use target::label_selector;

pub(crate) use plan::*;
use send::*;

/// Annotation holding the idempotency key of the last change Nightshift made to an object.
pub const ACTION_ID_ANNOTATION: &str = "nightshift.io/action-id";
/// Annotation on a workload holding the uid of the pod restart-pod evicted.
pub const RESTARTED_POD_ANNOTATION: &str = "nightshift.io/restarted-pod-uid";
/// The pod-template annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";

/// How a drain retries evictions a PodDisruptionBudget refuses (HTTP 429), in real time: the
/// budget frees up as replacements become Ready, however fast the cluster's clock runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Rounds of eviction attempts, the first included.
    pub attempts: u32,
    /// Wait after the first refused round.
    pub initial_backoff: Duration,
    /// The wait doubles up to this.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Eight rounds over about a minute (1s, 2s, 4s, 8s, then 15s).
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(15),
        }
    }
}

/// Carries out actions from the catalogue through the Kubernetes API.
///
/// Evictions go through a client of their own: kube-rs's default client (`Config::default_retry`)
/// retries every 429 up to 15 times with exponential back-off, minutes in all, before the
/// caller sees it, and a 429 is how a disruption budget refuses an eviction. Build the
/// actuator with [`Actuator::from_config`] (or give it such a client with
/// [`Actuator::with_eviction_client`]) so that refusals come back at once and the actuator's
/// own bounded [`RetryPolicy`] decides.
#[derive(Clone)]
pub struct Actuator {
    client: Client,
    evict_client: Client,
    field_manager: String,
    retry: RetryPolicy,
    runbooks: Runbooks,
}

impl std::fmt::Debug for Actuator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actuator")
            .field("field_manager", &self.field_manager)
            .field("retry", &self.retry)
            .field("runbooks", &self.runbooks)
            .finish_non_exhaustive()
    }
}

impl Actuator {
    /// An actuator whose changes are attributed to the field manager `nightshift`, sending
    /// everything, evictions included, through `client`.
    pub fn new(client: Client) -> Self {
        Actuator {
            evict_client: client.clone(),
            client,
            field_manager: "nightshift".into(),
            retry: RetryPolicy::default(),
            runbooks: Runbooks::default(),
        }
    }

    /// An actuator on `config`: one client as configured, and one without kube-rs's automatic
    /// retries of 429 for evictions.
    pub fn from_config(config: kube::Config) -> Result<Self, kube::Error> {
        let mut no_retry = config.clone();
        no_retry.default_retry = false;
        let client = Client::try_from(config)?;
        Ok(Actuator::new(client).with_eviction_client(Client::try_from(no_retry)?))
    }

    /// Sends evictions through `client` (one that does not retry 429 by itself).
    pub fn with_eviction_client(mut self, client: Client) -> Self {
        self.evict_client = client;
        self
    }

    /// Attributes changes to another field manager.
    pub fn with_field_manager(mut self, field_manager: impl Into<String>) -> Self {
        self.field_manager = field_manager.into();
        self
    }

    /// Changes how drains retry evictions that budgets refuse.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Registers the runbooks run-runbook may name.
    pub fn with_runbooks(mut self, runbooks: Runbooks) -> Self {
        self.runbooks = runbooks;
        self
    }

    /// The runbooks run-runbook may name.
    pub fn runbooks(&self) -> &Runbooks {
        &self.runbooks
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends the requests `execute` would send with `dryRun=All` (without the idempotency
    /// stamp) and reports what the server says would change. Changes nothing.
    pub async fn dry_run(&self, action: &Action) -> Result<DryRunReport, ActError> {
        self.dry_run_keyed(action, None).await
    }

    /// [`Actuator::dry_run`] on behalf of the change that will carry `idempotency_key`: a
    /// runbook's dry run is then found again by `execute` under the same key (a Job runbook
    /// runs its check once, not twice). Other actions ignore the key.
    pub async fn dry_run_for(
        &self,
        action: &Action,
        idempotency_key: &str,
    ) -> Result<DryRunReport, ActError> {
        self.dry_run_keyed(action, Some(idempotency_key)).await
    }

    async fn dry_run_keyed(
        &self,
        action: &Action,
        key: Option<&str>,
    ) -> Result<DryRunReport, ActError> {
        if let Action::RunRunbook { name, target } = action {
            return runbook::dry_run(self, name, target, key).await;
        }
        let plan = self.plan(action, None).await?;
        let sent = self.send(&plan, true).await?;
        Ok(DryRunReport {
            action: action.name(),
            target: plan.target.clone(),
            summary: plan.summary.clone(),
            changes: sent.changes,
            pods: sent.pods,
            jobs: Vec::new(),
        })
    }

    /// Carries out `action` once: returns at once if `idempotency_key` shows it already
    /// happened; otherwise dry-runs the exact requests (failing with [`ActError::DryRun`],
    /// having changed nothing, if the server rejects one), then sends them for real.
    pub async fn execute(
        &self,
        action: &Action,
        idempotency_key: &str,
    ) -> Result<ActionOutcome, ActError> {
        let name = action.name();
        match action {
            Action::Escalate { reason } | Action::None { reason } => {
                return Ok(ActionOutcome::unchanged(
                    name,
                    idempotency_key,
                    OutcomeStatus::NoChange,
                    format!("{name}: {reason}"),
                ));
            }
            Action::RunRunbook { name: rb, target } => {
                return runbook::execute(self, rb, target, idempotency_key).await;
            }
            _ => {}
        }
        if self.already_applied(action, idempotency_key).await? {
            tracing::info!(action = %name, key = idempotency_key, "already applied; not repeating it");
            let target = action.target().map(|t| t.to_string()).unwrap_or_default();
            return Ok(ActionOutcome::unchanged(
                name,
                idempotency_key,
                OutcomeStatus::AlreadyApplied,
                format!("{name} of {target} was already applied under key {idempotency_key}"),
            ));
        }
        let plan = self.plan(action, Some(idempotency_key)).await?;
        let mut outcome = ActionOutcome::unchanged(
            name,
            idempotency_key,
            OutcomeStatus::NoChange,
            plan.summary.clone(),
        );
        outcome.affected_workloads = plan.affected.clone();
        if plan.nothing_to_do {
            return Ok(outcome);
        }
        self.send(&plan, true)
            .await
            .map_err(|source| ActError::DryRun {
                action: name,
                source: Box::new(source),
            })?;
        let sent = self.send(&plan, false).await?;
        let left_behind = sent.pods.iter().any(|p| {
            matches!(
                p.result,
                Disruption::Blocked { .. } | Disruption::Failed { .. }
            )
        });
        outcome.status = if left_behind {
            OutcomeStatus::Partial
        } else {
            OutcomeStatus::Applied
        };
        outcome.changes = sent.changes;
        outcome.pods = sent.pods;
        outcome.replaced_pod_uid = plan.replaced_pod_uid.clone();
        tracing::info!(action = %name, key = idempotency_key, status = ?outcome.status, "{}", outcome.summary);
        Ok(outcome)
    }

    /// Whether the change `action` makes was already made under `idempotency_key` (see the
    /// module documentation for what each action checks). Escalate, none and runbooks without
    /// their own check answer `false`.
    pub async fn already_applied(
        &self,
        action: &Action,
        idempotency_key: &str,
    ) -> Result<bool, ActError> {
        let name = action.name();
        match action {
            Action::RestartPod { namespace, pod } => {
                pod::already_applied(self, namespace, pod, idempotency_key).await
            }
            Action::RolloutRestart { target }
            | Action::Scale { target, .. }
            | Action::Rollback { target, .. }
            | Action::SetResources { target, .. } => {
                let w = target::Workload::of(name, target)?;
                let obj = w.get(&self.client).await?;
                Ok(target::annotation(&obj, ACTION_ID_ANNOTATION) == Some(idempotency_key))
            }
            Action::CordonNode { node } | Action::UncordonNode { node } => {
                let n = node::get(self, node).await?;
                Ok(node::stamp_of(&n) == Some(idempotency_key))
            }
            Action::DrainNode { node } => node::drain_applied(self, node, idempotency_key).await,
            Action::RunRunbook { name, target } => {
                runbook::already_applied(self, name, target, idempotency_key).await
            }
            Action::Escalate { .. } | Action::None { .. } => Ok(false),
        }
    }

    async fn plan(&self, action: &Action, key: Option<&str>) -> Result<Plan, ActError> {
        let mut plan = self.plan_requests(action, key).await?;
        if let Action::RolloutRestart { target }
        | Action::SetResources { target, .. }
        | Action::Rollback { target, .. } = action
        {
            let w = target::Workload::of(action.name(), target)?;
            workload::unblock_statefulset(self, &w, &mut plan).await?;
        }
        Ok(plan)
    }

    async fn plan_requests(&self, action: &Action, key: Option<&str>) -> Result<Plan, ActError> {
        let name = action.name();
        match action {
            Action::RestartPod { namespace, pod } => pod::plan(self, namespace, pod, key).await,
            Action::RolloutRestart { target } => {
                workload::plan_restart(self, &target::Workload::of(name, target)?, key).await
            }
            Action::Scale { target, replicas } => {
                workload::plan_scale(self, &target::Workload::of(name, target)?, *replicas, key)
                    .await
            }
            Action::SetResources {
                target,
                container,
                change,
            } => {
                workload::plan_resources(
                    self,
                    &target::Workload::of(name, target)?,
                    container,
                    change,
                    key,
                )
                .await
            }
            Action::Rollback { target, revision } => {
                rollback::plan(self, &target::Workload::of(name, target)?, *revision, key).await
            }
            Action::CordonNode { node } => node::plan_cordon(self, node, true, key).await,
            Action::UncordonNode { node } => node::plan_cordon(self, node, false, key).await,
            Action::DrainNode { node } => node::plan_drain(self, node, key).await,
            Action::RunRunbook { .. } | Action::Escalate { .. } | Action::None { .. } => Ok(
                Plan::new(format!("{name}: nothing to send"), action.target()),
            ),
        }
    }
}
