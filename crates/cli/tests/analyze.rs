//! `nightshift analyze` against the simulated cluster: the agent's collector gathers the
//! evidence through a kubeconfig, the model (a replay server) or the rules answer.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nightshift_llm::replay::{Replay, Reply};
use nightshift_sim::Simulation;
use nightshift_sim::server::{self, ServeOptions};

/// Runs the binary off the runtime's threads (the cluster serves on them meanwhile).
async fn nightshift(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_nightshift"))
            .args(args)
            .env("NIGHTSHIFT_LOG", "error")
            .output()
            .expect("the binary runs")
    })
    .await
    .expect("the command finished")
}

#[tokio::test(flavor = "multi_thread")]
async fn analyzes_a_crashing_workload_with_the_model_and_with_the_rules() {
    let scenario = nightshift_scenario::load_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/crash-checkout-bug.yaml"),
    )
    .unwrap();
    let start = chrono::Utc::now().timestamp_millis() / 1000 * 1000 - 3_600_000;
    let sim = Simulation::new(&scenario, start);
    // Past the fault at 3m: the pods crash-loop by now.
    for _ in 0..330 {
        sim.step();
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let cluster = server::start(
        sim.clone(),
        &ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            speed: 1.0,
            alert_webhook: None,
            kubeconfig_out: Some(kubeconfig.clone()),
            stop_at_horizon: false,
            field_validation: Default::default(),
        },
    )
    .await
    .unwrap();
    let model = Replay::new()
        .when(
            "deployment/shop/checkout",
            [Reply::fixture("openai/checkout-crash-markdown.json")],
        )
        .start()
        .await
        .unwrap();
    let config = dir.path().join("nightshift.yaml");
    std::fs::write(
        &config,
        format!(
            "llm:\n  mode: llm\n  base_url: {}\n  model: gpt-4o-mini\n  timeout: 10s\n",
            model.openai_url()
        ),
    )
    .unwrap();
    let kc = kubeconfig.display().to_string();
    let cfg = config.display().to_string();
    let out = nightshift(&[
        "analyze",
        "--workload",
        "shop/checkout",
        "--kubeconfig",
        &kc,
        "--config",
        &cfg,
        "-o",
        "json",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["analysis"]["analyzer"], "llm:gpt-4o-mini", "{v:#}");
    assert_eq!(v["analysis"]["diagnosis"]["category"], "app/crash");
    assert_eq!(v["analysis"]["plans"][0]["action"]["action"], "escalate");
    assert_eq!(v["usage"]["calls"], 1);
    assert!(v["evidence"]["items"].as_array().unwrap().len() > 3);
    let reqs = model.requests();
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0].body.contains("CrashLoopBackOff") || reqs[0].body.contains("restarts"));

    // Without an llm section the rules answer, in a table.
    let out = nightshift(&[
        "analyze",
        "--workload",
        "shop/checkout",
        "--kubeconfig",
        &kc,
    ])
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("analyzer   rules"), "{text}");
    assert!(
        text.contains("diagnosis  app/crash at shop/checkout"),
        "{text}"
    );
    assert!(text.contains("plans\n  1. "), "{text}");

    // Bad input is named.
    let out = nightshift(&["analyze", "--pod", "checkout"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected NAMESPACE/NAME"));
    cluster.server.abort();
    cluster.clock.abort();
    tokio::time::sleep(Duration::from_millis(10)).await;
}
