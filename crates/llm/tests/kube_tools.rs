//! The investigation tools through kube-rs against the simulated cluster's Kubernetes API.

use std::path::Path;

use nightshift_llm::tools::kube::KubeInvestigator;
use nightshift_llm::tools::{Investigator, ObjectRef, PodLogs, PromRange, Tool};
use nightshift_sim::Simulation;
use nightshift_sim::server::{self, ServeOptions};

#[tokio::test(flavor = "multi_thread")]
async fn the_tools_read_a_crash_looping_workload() {
    let scenario = nightshift_scenario::load_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/crash-checkout-bug.yaml"),
    )
    .unwrap();
    let sim = Simulation::new(&scenario, 1_764_288_000_000);
    for _ in 0..330 {
        sim.step();
    }
    let cluster = server::start(
        sim.clone(),
        &ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            speed: 1.0,
            alert_webhook: None,
            kubeconfig_out: None,
            stop_at_horizon: false,
            field_validation: Default::default(),
        },
    )
    .await
    .unwrap();
    let config = kube::Config::new(format!("http://{}", cluster.addr).parse().unwrap());
    let tools = KubeInvestigator::new(
        kube::Client::try_from(config).unwrap(),
        None,
        &Default::default(),
    )
    .unwrap();
    let deployment = ObjectRef {
        kind: "deployment".into(),
        namespace: Some("shop".into()),
        name: "checkout".into(),
    };

    let pods = tools
        .run(&Tool::WorkloadPods(deployment.clone()))
        .await
        .unwrap();
    assert_eq!(pods.lines().count(), 3, "{pods}");
    assert!(
        pods.contains("restarts") && pods.contains("last Error exit 2"),
        "{pods}"
    );
    let pod = pods.split_whitespace().next().unwrap().to_string();

    let logs = tools
        .run(&Tool::PodLogs(PodLogs {
            namespace: "shop".into(),
            pod: pod.clone(),
            container: None,
            previous: Some(true),
            pattern: Some("panic|SIGSEGV".into()),
        }))
        .await
        .unwrap();
    assert!(logs.contains("panic: runtime error"), "{logs}");
    assert!(!logs.contains("INFO"), "the pattern filters: {logs}");

    let events = tools
        .run(&Tool::Events(ObjectRef {
            kind: "Pod".into(),
            namespace: Some("shop".into()),
            name: pod.clone(),
        }))
        .await
        .unwrap();
    assert!(events.contains("BackOff"), "{events}");

    let object = tools.run(&Tool::Object(deployment)).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&object).unwrap();
    assert_eq!(v["metadata"]["name"], "checkout");
    assert!(v["status"].is_object());

    let e = tools
        .run(&Tool::Object(ObjectRef {
            kind: "Secret".into(),
            namespace: Some("shop".into()),
            name: "checkout-db".into(),
        }))
        .await
        .unwrap_err();
    assert!(e.contains("not readable here"), "{e}");
    let e = tools
        .run(&Tool::PromRange(PromRange {
            query: "up".into(),
            minutes: None,
            step_seconds: None,
        }))
        .await
        .unwrap_err();
    assert!(e.contains("no Prometheus"), "{e}");
    cluster.server.abort();
    cluster.clock.abort();
}
