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
//! | run-runbook | whatever the registered [`Runbook`] does; "no runbook registered named X" without one |
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
mod pod;
mod report;
mod rollback;
mod runbook;
mod target;
mod workload;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::api::{Api, DynamicObject, EvictParams, Patch, PatchParams, PostParams};
use nightshift_core::{Action, ResourceRef};
use serde_json::{Value, json};

pub use error::ActError;
pub use report::{ActionOutcome, Change, Disruption, DryRunReport, OutcomeStatus, PodDisruption};
pub use runbook::{Runbook, RunbookError, RunbookReport, Runbooks};

pub(crate) use node::evictable;
pub(crate) use target::label_selector;

use error::{api_code, api_message};
use report::diff;

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

/// A request body: strategic merge patch or JSON patch.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Strategic(Value),
    Json(Value),
}

/// A pod a step evicts.
#[derive(Debug, Clone)]
pub(crate) struct PodTarget {
    pub namespace: String,
    pub name: String,
    pub owner: Option<ResourceRef>,
}

/// One request of a plan.
pub(crate) enum Step {
    /// Patch a namespaced object (a workload or a pod's owner).
    Patch {
        api: Api<DynamicObject>,
        name: String,
        /// `deployment/shop/checkout`, for reports.
        object: String,
        /// `deployment shop/checkout`, for errors.
        describe: String,
        before: Value,
        body: Body,
    },
    /// Patch a node (strategic merge).
    PatchNode {
        node: String,
        before: Value,
        patch: Value,
    },
    /// Patch the `/scale` subresource.
    Scale {
        api: Api<DynamicObject>,
        name: String,
        object: String,
        describe: String,
        from: i64,
        to: i32,
    },
    /// Evict a pod: once for restart-pod (a refusal is an error), with retries for a drain
    /// (a refusal is reported).
    Evict { pod: PodTarget, drain: bool },
}

/// The requests an action sends and what it reports around them.
pub(crate) struct Plan {
    pub summary: String,
    pub target: Option<ResourceRef>,
    pub steps: Vec<Step>,
    pub affected: Vec<ResourceRef>,
    pub replaced_pod_uid: Option<String>,
    /// Pods left alone on purpose, reported as they are.
    pub skipped: Vec<PodDisruption>,
    /// Nothing needs sending (a rollback to the template already in place).
    pub nothing_to_do: bool,
}

impl Plan {
    pub(crate) fn new(summary: String, target: Option<ResourceRef>) -> Self {
        Plan {
            summary,
            target,
            steps: Vec::new(),
            affected: Vec::new(),
            replaced_pod_uid: None,
            skipped: Vec::new(),
            nothing_to_do: false,
        }
    }
}

/// What sending a plan produced.
struct Sent {
    changes: Vec<Change>,
    pods: Vec<PodDisruption>,
}

/// [`stamped`], and the key in the pod template's annotations too, for a patch that changes
/// the template: the revision the change creates (a ReplicaSet, a ControllerRevision, which
/// copy the template) then says which action made it, and the rules read it as a remedy on
/// the record rather than a release.
pub(crate) fn stamped_template(mut patch: Value, key: Option<&str>) -> Value {
    if let Some(key) = key {
        patch["spec"]["template"]["metadata"]["annotations"][ACTION_ID_ANNOTATION] = json!(key);
    }
    stamped(patch, key, &[])
}

/// `{"metadata": {"annotations": {ACTION_ID: key}}}` merged into a strategic patch, or the
/// patch unchanged without a key.
pub(crate) fn stamped(mut patch: Value, key: Option<&str>, extra: &[(&str, &str)]) -> Value {
    if let Some(key) = key {
        patch["metadata"]["annotations"][ACTION_ID_ANNOTATION] = json!(key);
        for (k, v) in extra {
            patch["metadata"]["annotations"][*k] = json!(v);
        }
    }
    patch
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

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends the requests `execute` would send with `dryRun=All` (without the idempotency
    /// stamp) and reports what the server says would change. Changes nothing.
    pub async fn dry_run(&self, action: &Action) -> Result<DryRunReport, ActError> {
        if let Action::RunRunbook { name, target } = action {
            return runbook::dry_run(self, name, target).await;
        }
        let plan = self.plan(action, None).await?;
        let sent = self.send(&plan, true).await?;
        Ok(DryRunReport {
            action: action.name(),
            target: plan.target.clone(),
            summary: plan.summary.clone(),
            changes: sent.changes,
            pods: sent.pods,
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

    fn patch_params(&self, dry_run: bool) -> PatchParams {
        PatchParams {
            dry_run,
            field_manager: Some(self.field_manager.clone()),
            ..PatchParams::default()
        }
    }

    async fn send(&self, plan: &Plan, dry: bool) -> Result<Sent, ActError> {
        let mut sent = Sent {
            changes: Vec::new(),
            pods: Vec::new(),
        };
        let mut drain = Vec::new();
        for step in &plan.steps {
            match step {
                Step::Patch {
                    api,
                    name,
                    object,
                    describe,
                    before,
                    body,
                } => {
                    let pp = self.patch_params(dry);
                    let res = match body {
                        Body::Strategic(v) => api.patch(name, &pp, &Patch::Strategic(v)).await,
                        Body::Json(v) => match json_patch(v) {
                            Ok(p) => api.patch(name, &pp, &p).await,
                            Err(source) => {
                                return Err(ActError::Decode {
                                    what: format!("the JSON patch for {describe}"),
                                    source,
                                });
                            }
                        },
                    };
                    let after = res.map_err(|source| ActError::PatchWorkload {
                        workload: describe.clone(),
                        source,
                    })?;
                    let after = target::to_json(&after, describe)?;
                    sent.changes.extend(diff(object, before, &after));
                }
                Step::PatchNode {
                    node,
                    before,
                    patch,
                } => {
                    let api: Api<Node> = Api::all(self.client.clone());
                    let after = api
                        .patch(node, &self.patch_params(dry), &Patch::Strategic(patch))
                        .await
                        .map_err(|source| ActError::PatchNode {
                            node: node.clone(),
                            source,
                        })?;
                    let after = target::to_json(&after, &format!("node {node}"))?;
                    sent.changes
                        .extend(diff(&format!("node/{node}"), before, &after));
                }
                Step::Scale {
                    api,
                    name,
                    object,
                    describe,
                    from,
                    to,
                } => {
                    let scale = api
                        .patch_scale(
                            name,
                            &self.patch_params(dry),
                            &Patch::Merge(json!({"spec": {"replicas": to}})),
                        )
                        .await
                        .map_err(|source| ActError::ScaleWorkload {
                            workload: describe.clone(),
                            source,
                        })?;
                    let after = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
                    if i64::from(after) != *from {
                        sent.changes.push(Change {
                            object: object.clone(),
                            field: "spec.replicas".into(),
                            from: Some(from.to_string()),
                            to: Some(after.to_string()),
                        });
                    }
                }
                Step::Evict { pod, drain: false } => {
                    self.evict(pod, dry).await.map_err(|e| match e {
                        Evicted::Refused(message) => ActError::EvictionRefused {
                            namespace: pod.namespace.clone(),
                            pod: pod.name.clone(),
                            message,
                        },
                        Evicted::Gone => ActError::PodNotFound {
                            namespace: pod.namespace.clone(),
                            pod: pod.name.clone(),
                        },
                        Evicted::Error(source) => ActError::EvictPod {
                            namespace: pod.namespace.clone(),
                            pod: pod.name.clone(),
                            source,
                        },
                    })?;
                    sent.pods.push(disruption(
                        pod,
                        if dry {
                            Disruption::WouldEvict
                        } else {
                            Disruption::Evicted
                        },
                        1,
                    ));
                }
                Step::Evict { pod, drain: true } => drain.push(pod.clone()),
            }
        }
        if !drain.is_empty() {
            let results = if dry {
                let mut out = Vec::new();
                for pod in &drain {
                    out.push(disruption(pod, self.evict_once(pod, true).await, 1));
                }
                out
            } else {
                node::evict_with_retries(self, &drain).await
            };
            sent.pods.extend(results);
        }
        sent.pods.extend(plan.skipped.iter().cloned());
        Ok(sent)
    }

    async fn evict(&self, pod: &PodTarget, dry: bool) -> Result<(), Evicted> {
        let api: Api<Pod> = Api::namespaced(self.evict_client.clone(), &pod.namespace);
        let ep = EvictParams {
            delete_options: None,
            post_options: PostParams {
                dry_run: dry,
                field_manager: Some(self.field_manager.clone()),
            },
        };
        match api.evict(&pod.name, &ep).await {
            Ok(_) => Ok(()),
            Err(e) if api_code(&e) == Some(429) => Err(Evicted::Refused(api_message(&e))),
            Err(e) if api_code(&e) == Some(404) => Err(Evicted::Gone),
            Err(e) => Err(Evicted::Error(e)),
        }
    }

    /// One eviction attempt as a drain reports it.
    async fn evict_once(&self, pod: &PodTarget, dry: bool) -> Disruption {
        match self.evict(pod, dry).await {
            Ok(()) if dry => Disruption::WouldEvict,
            Ok(()) => Disruption::Evicted,
            Err(Evicted::Refused(reason)) => Disruption::Blocked { reason },
            Err(Evicted::Gone) => Disruption::Skipped {
                reason: "already gone".into(),
            },
            Err(Evicted::Error(e)) => Disruption::Failed {
                reason: api_message(&e),
            },
        }
    }
}

/// How an eviction request ended when it did not succeed.
enum Evicted {
    /// 429: a disruption budget refuses it now.
    Refused(String),
    /// 404.
    Gone,
    /// Anything else.
    Error(kube::Error),
}

pub(crate) fn disruption(pod: &PodTarget, result: Disruption, attempts: u32) -> PodDisruption {
    PodDisruption {
        namespace: pod.namespace.clone(),
        pod: pod.name.clone(),
        owner: pod.owner.clone(),
        result,
        attempts,
    }
}

/// A JSON patch body for kube-rs (whose `Patch::Json` takes the json-patch crate's type,
/// reached here through deserialization).
fn json_patch(ops: &Value) -> Result<Patch<Value>, serde_json::Error> {
    Ok(Patch::Json(serde_json::from_value(ops.clone())?))
}
