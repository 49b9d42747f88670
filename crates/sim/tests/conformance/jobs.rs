//! Jobs as kube-controller-manager runs them: pods that run to completion, succeed or fail,
//! back off, pass their deadline, are suspended and resumed, and expire after their TTL.
//! Each assertion says what kube-apiserver 1.34 answers.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use nightshift_sim::Simulation;

use crate::cluster::{Cluster, SCENARIO, step, stepped};

pub(crate) fn job_condition(sim: &Simulation, name: &str, t: &str) -> Option<String> {
    let job = sim.store().get_typed::<Job>("shop", name)?;
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t && c.status == "True")
        .and_then(|c| c.reason.clone())
}

const JOBS: &str = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: reindex, namespace: shop}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
        - {name: reindex, image: registry.local/shop/reindex:2.0.0,
           command: [sh, -c, "echo 'ERROR index catalog is locked'; exit 1"]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: export, namespace: shop}
spec:
  activeDeadlineSeconds: 20
  template:
    spec:
      restartPolicy: Never
      containers:
        - {name: export, image: registry.local/shop/export:1.0.0, command: [sleep, "3600"]}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_succeed_fail_and_run_past_their_deadline() {
    let Some(c) = Cluster::start(20.0).await else {
        return;
    };
    // kubectl create job: `job.batch/migrate created`.
    let (ok, out) = c.create_cmd(
        &[
            "create",
            "job",
            "migrate",
            "-n",
            "shop",
            "--image=busybox:1.36",
            "--",
            "sh",
            "-c",
            "echo applying migration 0042; sleep 3; echo done: 1284 rows",
        ],
        &[],
    );
    assert!(ok, "{out}");
    assert!(out.contains("job.batch/migrate created"), "{out}");
    let path = c.file("jobs.yaml", JOBS);
    let out = c.ok(&["apply", "-f", &path]);
    assert!(
        out.contains("job.batch/reindex created") && out.contains("job.batch/export created"),
        "{out}"
    );

    c.until("migrate complete", |s| {
        job_condition(s, "migrate", "Complete").is_some()
    })
    .await;
    // Complete and SuccessCriteriaMet, reason CompletionsReached, as the 1.34 Job controller sets.
    assert_eq!(
        job_condition(&c.sim, "migrate", "SuccessCriteriaMet").as_deref(),
        Some("CompletionsReached")
    );
    assert_eq!(
        job_condition(&c.sim, "migrate", "Complete").as_deref(),
        Some("CompletionsReached")
    );
    let job = c.json(&["get", "job", "migrate", "-n", "shop"]);
    assert_eq!(job["status"]["succeeded"], 1);
    assert!(job["status"]["completionTime"].is_string() && job["status"]["startTime"].is_string());
    let uid = job["metadata"]["uid"].as_str().unwrap();
    // The selector and labels the API server defaults.
    assert_eq!(
        job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        uid
    );
    assert_eq!(
        job["spec"]["template"]["metadata"]["labels"]["job-name"],
        "migrate"
    );
    assert_eq!(job["spec"]["backoffLimit"], 6);
    // kubectl logs job/migrate: the lines the command echoed.
    let logs = c.ok(&["logs", "job/migrate", "-n", "shop"]);
    assert_eq!(
        logs.trim(),
        "applying migration 0042\ndone: 1284 rows",
        "{logs}"
    );
    // The pod ended Succeeded, its container Completed with exit code 0.
    let pods = c.json(&["get", "pods", "-n", "shop", "-l", "job-name=migrate"]);
    let pod = &pods["items"][0];
    assert_eq!(pod["status"]["phase"], "Succeeded");
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
        "Completed"
    );
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Job");

    c.until("reindex failed", |s| {
        job_condition(s, "reindex", "Failed").is_some()
    })
    .await;
    // backoffLimit 1: two failed pods, then FailureTarget and Failed with BackoffLimitExceeded.
    assert_eq!(
        job_condition(&c.sim, "reindex", "FailureTarget").as_deref(),
        Some("BackoffLimitExceeded")
    );
    assert_eq!(
        job_condition(&c.sim, "reindex", "Failed").as_deref(),
        Some("BackoffLimitExceeded")
    );
    let reindex = c.json(&["get", "job", "reindex", "-n", "shop"]);
    assert_eq!(reindex["status"]["failed"], 2, "{reindex}");

    c.until("export past its deadline", |s| {
        job_condition(s, "export", "Failed").is_some()
    })
    .await;
    assert_eq!(
        job_condition(&c.sim, "export", "Failed").as_deref(),
        Some("DeadlineExceeded")
    );
    // Its pod is stopped and removed.
    c.until("export pod gone", |s| {
        !s.store().list_typed::<Pod>(Some("shop")).iter().any(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("job-name"))
                .map(String::as_str)
                == Some("export")
                && p.metadata.deletion_timestamp.is_none()
        })
    })
    .await;

    // kubectl get jobs: the 1.34 columns.
    let table = c.ok(&["get", "jobs", "-n", "shop"]);
    let header = table.lines().next().unwrap();
    assert!(
        header
            .split_whitespace()
            .eq(["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]),
        "{table}"
    );
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_string()
    };
    assert!(
        row("migrate")
            .split_whitespace()
            .take(3)
            .eq(["migrate", "Complete", "1/1"]),
        "{table}"
    );
    assert!(
        row("reindex")
            .split_whitespace()
            .take(3)
            .eq(["reindex", "Failed", "0/1"]),
        "{table}"
    );
    assert!(
        row("export")
            .split_whitespace()
            .take(3)
            .eq(["export", "Failed", "0/1"]),
        "{table}"
    );
    // The events of the Job controller.
    let events = c.ok(&[
        "get",
        "events",
        "-n",
        "shop",
        "--field-selector",
        "involvedObject.kind=Job",
    ]);
    for reason in [
        "SuccessfulCreate",
        "Completed",
        "BackoffLimitExceeded",
        "DeadlineExceeded",
    ] {
        assert!(events.contains(reason), "{reason} missing:\n{events}");
    }
    // A template that restarts always is refused: 422 `Job.batch "bad" is invalid:
    // spec.template.spec.restartPolicy: Unsupported value: "Always": supported values:
    // "OnFailure", "Never"`.
    let bad = c.file(
        "bad-job.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: bad, namespace: shop}\nspec:\n  template:\n    spec:\n      containers: [{name: x, image: busybox}]\n",
    );
    let err = c.fails(&["create", "-f", &bad]);
    assert!(err.contains("spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""), "{err}");
}

#[test]
fn job_restarts_count_against_the_backoff_limit_and_finished_jobs_expire() {
    let sim = stepped(SCENARIO, 5);
    let rt = nightshift_sim::resources::find("batch", "v1", "jobs").unwrap();
    let job = |name: &str, extra: serde_json::Value, policy: &str, script: &str| {
        let mut v = serde_json::json!({"metadata": {"name": name, "namespace": "shop"}, "spec": {
            "template": {"spec": {"restartPolicy": policy, "containers": [
                {"name": "c", "image": "busybox", "command": ["sh", "-c", script]}]}}}});
        for (k, val) in extra.as_object().unwrap() {
            v["spec"][k] = val.clone();
        }
        sim.store().create(rt, "shop", v, false).unwrap();
    };
    // OnFailure: the container restarts in its pod; its restarts count (backoffLimit 2).
    job(
        "flaky",
        serde_json::json!({"backoffLimit": 2}),
        "OnFailure",
        "echo try; exit 2",
    );
    // A finished Job with ttlSecondsAfterFinished is deleted that long after it finished.
    job(
        "short",
        serde_json::json!({"ttlSecondsAfterFinished": 20}),
        "Never",
        "echo ok",
    );
    step(&sim, 10);
    assert!(job_condition(&sim, "short", "Complete").is_some());
    step(&sim, 25);
    assert!(sim.store().get_typed::<Job>("shop", "short").is_none());
    // Its pods go with it.
    step(&sim, 10);
    assert!(
        !sim.store().list_typed::<Pod>(Some("shop")).iter().any(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("job-name"))
                .map(String::as_str)
                == Some("short")
        })
    );
    // Restarts after 0s, 10s, 20s: the third exceeds the limit of two.
    step(&sim, 60);
    assert_eq!(
        job_condition(&sim, "flaky", "Failed").as_deref(),
        Some("BackoffLimitExceeded")
    );

    // A command that ends in a Deployment's pod is restarted and backs off, as on a real node.
    let deploy = nightshift_sim::resources::find("apps", "v1", "deployments").unwrap();
    sim.store()
        .create(
            deploy,
            "shop",
            serde_json::json!({"metadata": {"name": "oneshot"}, "spec": {
            "selector": {"matchLabels": {"app": "oneshot"}},
            "template": {"metadata": {"labels": {"app": "oneshot"}}, "spec": {"containers": [
                {"name": "c", "image": "busybox", "command": ["echo", "bye"]}]}}}}),
            false,
        )
        .unwrap();
    step(&sim, 40);
    let crashing = sim
        .store()
        .list_typed::<Pod>(Some("shop"))
        .into_iter()
        .find(|p| p.metadata.name.as_deref().unwrap().starts_with("oneshot-"));
    let status = crashing.unwrap().status.clone().unwrap();
    let c = &status.container_statuses.unwrap()[0];
    assert!(c.restart_count >= 2, "{c:?}");
    assert_eq!(
        c.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );
}

#[test]
fn a_suspended_job_runs_no_pods_until_resumed() {
    let sim = stepped(SCENARIO, 5);
    let rt = nightshift_sim::resources::find("batch", "v1", "jobs").unwrap();
    let spec = serde_json::json!({"metadata": {"name": "later", "namespace": "shop"}, "spec": {
        "suspend": true,
        "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "c", "image": "busybox", "command": ["sleep", "5"]}]}}}});
    sim.store().create(rt, "shop", spec, false).unwrap();
    step(&sim, 5);
    let job_pods = |sim: &Simulation| {
        sim.store()
            .list_typed::<Pod>(Some("shop"))
            .iter()
            .filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("job-name"))
                    .map(String::as_str)
                    == Some("later")
            })
            .count()
    };
    // Suspended: condition Suspended True (reason JobSuspended), no pods, no startTime.
    assert_eq!(
        job_condition(&sim, "later", "Suspended").as_deref(),
        Some("JobSuspended")
    );
    assert_eq!(job_pods(&sim), 0);
    let job = sim.store().get_typed::<Job>("shop", "later").unwrap();
    assert!(job.status.as_ref().unwrap().start_time.is_none());
    let mut v = sim
        .store()
        .get(rt, "shop", "later")
        .unwrap()
        .value()
        .clone();
    v["spec"]["suspend"] = serde_json::json!(false);
    sim.store()
        .update(
            rt,
            "shop",
            "later",
            v,
            nightshift_sim::store::Part::Main,
            false,
        )
        .unwrap();
    step(&sim, 15);
    assert_eq!(
        job_condition(&sim, "later", "Complete").as_deref(),
        Some("CompletionsReached")
    );
    assert_eq!(job_pods(&sim), 1);
}
