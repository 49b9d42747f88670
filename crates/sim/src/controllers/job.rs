//! The Job controller: runs a Job's pods until enough succeed (`completions`, `parallelism` at
//! a time), counts failures against `backoffLimit` with an exponential delay between
//! replacements, stops at `activeDeadlineSeconds`, and reports it as kube-controller-manager
//! 1.34 does: `active`, `ready`, `succeeded`, `failed`, `terminating`, `startTime`,
//! `completionTime`, and the conditions `SuccessCriteriaMet` then `Complete`, or
//! `FailureTarget` then `Failed` (reasons `BackoffLimitExceeded`, `DeadlineExceeded`).
//! A finished Job with `ttlSecondsAfterFinished` is deleted that long after it finished.

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::{new_pod_of, pod_ready, pods_by_owner};
use crate::clock::rfc3339;
use crate::events::{EventType, ObjectRef, Source};
use crate::resources;
use crate::store::{DeleteOptions, Part, Store, name_suffix};
use crate::world::World;

const COMPONENT: &str = "job-controller";
/// First delay before a failed pod is replaced; doubles per failure.
const BACKOFF_MS: i64 = 10_000;
/// Longest delay between replacements.
const MAX_BACKOFF_MS: i64 = 360_000;

/// Runs one pass over every Job.
pub fn sync(world: &mut World, store: &Store, now: i64) {
    let by_owner = pods_by_owner(store);
    for job in store.list_typed::<Job>(None) {
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let pods = by_owner.get(&uid).cloned().unwrap_or_default();
        sync_one(world, store, &job, &pods, now);
    }
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

fn ms(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> Option<i64> {
    t.map(|t| t.0.as_millisecond())
}

/// The condition of `type_` if it is True.
fn condition<'a>(job: &'a Value, type_: &str) -> Option<&'a Value> {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == type_ && c["status"] == "True")
}

/// When the newest failed pod ended: the replacement waits its back-off from there.
fn last_failure_ms(pods: &[Arc<Pod>]) -> Option<i64> {
    pods.iter()
        .filter(|p| phase(p) == "Failed")
        .filter_map(|p| {
            let s = p.status.as_ref()?;
            s.container_statuses
                .iter()
                .flatten()
                .filter_map(|c| c.state.as_ref()?.terminated.as_ref())
                .filter_map(|t| ms(t.finished_at.as_ref()))
                .max()
        })
        .max()
}

fn sync_one(world: &mut World, store: &Store, job: &Job, pods: &[Arc<Pod>], now: i64) {
    let rt = resources::of::<Job>();
    let ns = job.metadata.namespace.clone().unwrap_or_default();
    let name = job.metadata.name.clone().unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    if job.metadata.deletion_timestamp.is_some() {
        return;
    }
    let Some(spec) = job.spec.as_ref() else {
        return;
    };
    let value = serde_json::to_value(job).unwrap_or_default();
    let jref = ObjectRef::of(
        &json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": ns, "uid": uid}}),
    );
    let record = |world: &mut World, kind: EventType, reason: &str, message: &str| {
        world.recorder.record(
            store,
            &jref,
            kind,
            reason,
            message,
            Source::controller(COMPONENT),
        );
    };
    let mut status = value.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut conditions: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let done = condition(&value, "Complete")
        .or_else(|| condition(&value, "Failed"))
        .cloned();
    if let Some(done) = done {
        if let Some(ttl) = spec.ttl_seconds_after_finished {
            let finished = done["lastTransitionTime"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_millis())
                .unwrap_or(now);
            if now >= finished + i64::from(ttl) * 1000 {
                let _ = store.delete(rt, &ns, &name, &DeleteOptions::default());
            }
        }
        return;
    }
    let suspended = spec.suspend == Some(true);
    let completions = spec.completions;
    let parallelism = i64::from(spec.parallelism.unwrap_or(1).max(0));
    let backoff_limit = i64::from(spec.backoff_limit.unwrap_or(6));
    let on_failure = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        == Some("OnFailure");
    let terminating: Vec<&Arc<Pod>> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
        .collect();
    let active: Vec<&Arc<Pod>> = pods
        .iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none() && !matches!(phase(p), "Succeeded" | "Failed")
        })
        .collect();
    let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
    let failed_pods = pods.iter().filter(|p| phase(p) == "Failed").count() as i64;
    let succeeded = succeeded.max(status["succeeded"].as_i64().unwrap_or(0));
    let failed = failed_pods.max(status["failed"].as_i64().unwrap_or(0));
    // With `OnFailure` the kubelet restarts the containers in place: their restarts count.
    let restarts: i64 = if on_failure {
        active
            .iter()
            .filter_map(|p| p.status.as_ref()?.container_statuses.as_ref())
            .flatten()
            .map(|c| i64::from(c.restart_count))
            .sum()
    } else {
        0
    };
    let now_s = rfc3339(now);
    let set_condition = |conditions: &mut Vec<Value>, t: &str, reason: &str, message: &str| {
        if !conditions.iter().any(|c| c["type"] == t) {
            conditions.push(
                json!({"type": t, "status": "True", "reason": reason, "message": message,
                "lastProbeTime": now_s, "lastTransitionTime": now_s}),
            );
        }
    };
    // Suspending stops the pods and the clock of the deadline; resuming starts them again.
    let was_suspended = conditions
        .iter()
        .any(|c| c["type"] == "Suspended" && c["status"] == "True");
    if suspended != was_suspended {
        let (st, reason, message, event) = if suspended {
            ("True", "JobSuspended", "Job suspended", "Suspended")
        } else {
            ("False", "JobResumed", "Job resumed", "Resumed")
        };
        conditions.retain(|c| c["type"] != "Suspended");
        conditions.push(
            json!({"type": "Suspended", "status": st, "reason": reason, "message": message,
            "lastProbeTime": now_s, "lastTransitionTime": now_s}),
        );
        record(world, EventType::Normal, event, message);
        if let Some(m) = status.as_object_mut() {
            m.remove("startTime");
        }
    }
    if status.get("startTime").is_none_or(Value::is_null) && !suspended {
        status["startTime"] = json!(now_s);
    }
    let start = status["startTime"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis());
    // Has the Job failed or succeeded? The target condition first, the final one once no pod
    // is left running or terminating.
    let mut target = conditions
        .iter()
        .find(|c| c["type"] == "FailureTarget" && c["status"] == "True")
        .map(|c| {
            (
                c["reason"].as_str().unwrap_or("").to_string(),
                c["message"].as_str().unwrap_or("").to_string(),
            )
        });
    let success = conditions
        .iter()
        .any(|c| c["type"] == "SuccessCriteriaMet" && c["status"] == "True")
        || completions.is_some_and(|c| succeeded >= i64::from(c))
        || (completions.is_none() && succeeded > 0 && active.is_empty());
    if target.is_none() && !success {
        let deadline = spec
            .active_deadline_seconds
            .zip(start)
            .is_some_and(|(d, s)| now - s >= d * 1000);
        if failed + restarts > backoff_limit {
            target = Some((
                "BackoffLimitExceeded".into(),
                "Job has reached the specified backoff limit".into(),
            ));
        } else if deadline {
            target = Some((
                "DeadlineExceeded".into(),
                "Job was active longer than specified deadline".into(),
            ));
        }
        if let Some((reason, message)) = &target {
            set_condition(&mut conditions, "FailureTarget", reason, message);
            record(world, EventType::Warning, reason, message);
        }
    }
    let mut terminating_count = terminating.len();
    // Stops every pod still running, as the controller does when a Job ends or is suspended.
    let stop_active = |world: &mut World, terminating_count: &mut usize| {
        for p in &active {
            let pname = p.metadata.name.clone().unwrap_or_default();
            if store
                .delete(
                    resources::of::<Pod>(),
                    &ns,
                    &pname,
                    &DeleteOptions::default(),
                )
                .is_ok()
            {
                *terminating_count += 1;
                record(
                    world,
                    EventType::Normal,
                    "SuccessfulDelete",
                    &format!("Deleted pod: {pname}"),
                );
            }
        }
    };
    if target.is_some() || success {
        // Whatever still runs is stopped.
        stop_active(world, &mut terminating_count);
    }
    let mut active_count = if target.is_some() || success {
        0
    } else {
        active.len() as i64
    };
    if let Some((reason, message)) = &target {
        if terminating_count == 0 {
            set_condition(&mut conditions, "Failed", reason, message);
        }
    } else if success {
        let message = "Reached expected number of succeeded pods";
        set_condition(
            &mut conditions,
            "SuccessCriteriaMet",
            "CompletionsReached",
            message,
        );
        if terminating_count == 0 {
            set_condition(&mut conditions, "Complete", "CompletionsReached", message);
            status["completionTime"] = json!(now_s);
            record(world, EventType::Normal, "Completed", "Job completed");
        }
    } else if suspended {
        stop_active(world, &mut terminating_count);
        active_count = 0;
    } else {
        // Pods to run now: no more than `parallelism`, nor than the completions still wanted,
        // and after a failure not before its back-off has passed.
        let remaining = completions.map_or(parallelism, |c| i64::from(c) - succeeded);
        let want = parallelism.min(remaining).max(0);
        let backoff_over = match last_failure_ms(pods) {
            Some(at) if failed > 0 => {
                let delay = (BACKOFF_MS << (failed - 1).min(10)).min(MAX_BACKOFF_MS);
                now >= at + delay
            }
            _ => true,
        };
        if backoff_over && active_count < want {
            let template = &spec.template;
            for _ in 0..(want - active_count) {
                let pod_name = format!("{name}-{}", name_suffix(store));
                let pod = new_pod_of(template, &ns, &pod_name, ("batch/v1", "Job"), &name, &uid);
                if store
                    .create(resources::of::<Pod>(), &ns, pod, false)
                    .is_ok()
                {
                    active_count += 1;
                    record(
                        world,
                        EventType::Normal,
                        "SuccessfulCreate",
                        &format!("Created pod: {pod_name}"),
                    );
                }
            }
        }
    }
    let ready = if active_count == 0 {
        0
    } else {
        active.iter().filter(|p| pod_ready(p)).count()
    };
    status["active"] = json!(active_count);
    status["ready"] = json!(ready);
    status["terminating"] = json!(terminating_count);
    status["uncountedTerminatedPods"] = json!({});
    if succeeded > 0 {
        status["succeeded"] = json!(succeeded);
    }
    if failed > 0 {
        status["failed"] = json!(failed);
    }
    if !conditions.is_empty() {
        status["conditions"] = json!(conditions);
    }
    // Zero counts are omitted, as the API server's JSON omits them.
    if let Some(m) = status.as_object_mut() {
        m.retain(|k, v| !(v == &json!(0) && k != "ready" && k != "terminating"));
    }
    if value.get("status") != Some(&status) {
        let v = json!({"metadata": {"name": name, "namespace": ns, "resourceVersion": ""}, "status": status});
        let _ = store.update(rt, &ns, &name, v, Part::Status, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    #[test]
    fn a_new_job_gets_its_defaults_and_a_pod() {
        let store = Store::new(Clock::new(0), 1);
        let scenario = nightshift_scenario::parse_str(MINIMAL, "jobs.yaml").unwrap();
        let mut world = crate::bootstrap::build(&store, &scenario);
        let job = json!({"metadata": {"name": "migrate"}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox", "command": ["echo", "hi"]}]}}}});
        let e = store
            .create(resources::of::<Job>(), "default", job, false)
            .unwrap();
        let v = e.value();
        let uid = v["metadata"]["uid"].as_str().unwrap();
        assert_eq!(v["spec"]["backoffLimit"], 6);
        assert_eq!(v["spec"]["completions"], 1);
        assert_eq!(v["spec"]["parallelism"], 1);
        assert_eq!(
            v["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            uid
        );
        let labels = &v["spec"]["template"]["metadata"]["labels"];
        assert_eq!(labels["job-name"], "migrate");
        assert_eq!(labels["controller-uid"], uid);
        assert_eq!(labels["batch.kubernetes.io/job-name"], "migrate");
        // The Job itself carries its pods' labels.
        assert_eq!(v["metadata"]["labels"]["job-name"], "migrate");
        sync(&mut world, &store, 1_000);
        let pods = store.list_typed::<Pod>(Some("default"));
        assert_eq!(pods.len(), 1);
        let p = &pods[0];
        assert_eq!(p.metadata.labels.as_ref().unwrap()["job-name"], "migrate");
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.api_version.as_str(), owner.kind.as_str()),
            ("batch/v1", "Job")
        );
        let job = store.get_typed::<Job>("default", "migrate").unwrap();
        assert_eq!(job.status.as_ref().unwrap().active, Some(1));
        assert!(job.status.as_ref().unwrap().start_time.is_some());
        // A Job whose template restarts always is refused, as the API server refuses it.
        let bad = json!({"metadata": {"name": "bad"}, "spec": {"template": {"spec": {
            "containers": [{"name": "m", "image": "busybox"}]}}}});
        let err = store
            .create(resources::of::<Job>(), "default", bad, false)
            .unwrap_err();
        assert_eq!(err.code(), 422);
        assert!(err.to_string().contains("spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""));
    }

    const MINIMAL: &str = r#"
name: jobs
cluster:
  workloads:
    - {kind: Deployment, namespace: shop, name: web, image: registry.local/web:1}
faults:
  - {at: 1m, type: noop, target: shop/web}
expect: {detect: false, diagnosis: [none], locate: shop/web, actions: {acceptable: [none]}, resolved: false}
"#;
}
