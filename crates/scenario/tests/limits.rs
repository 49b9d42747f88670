//! The limits of a scenario file: each refused with the key path and the limit, and a file
//! at the largest size still loading.

mod common;

use std::fmt::Write as _;

use common::{CLUSTER, ORIGIN, error, load, with_faults};
use nightshift_scenario::load::limits;
use nightshift_scenario::parse_str;

/// Asserts that `text` is refused at `key_path` with a message that contains `what`.
#[track_caller]
fn refused(text: &str, key_path: &str, what: &str) {
    let message = error(text);
    assert!(
        message.starts_with(&format!("{ORIGIN}: {key_path}: ")) && message.contains(what),
        "expected `{key_path}: ...{what}...`, got: {message}"
    );
}

fn base() -> String {
    with_faults("  - at: 3m\n    type: noop\n    target: shop/checkout\n")
}

#[test]
fn replicas_above_the_limit_are_refused() {
    let text = base().replace("replicas: 3", "replicas: 4000000000");
    refused(
        &text,
        "cluster.workloads[0].replicas",
        "4000000000 replicas is more than the limit of 10000",
    );
    load(&base().replace("replicas: 3", "replicas: 10000"));
}

#[test]
fn a_horizon_past_a_week_is_refused() {
    let text = base().replace(
        "name: test-scenario",
        "name: test-scenario\nhorizon: 1000000h",
    );
    refused(
        &text,
        "horizon",
        "a horizon of 1000000h is longer than the limit of 168h",
    );
    load(&base().replace("name: test-scenario", "name: test-scenario\nhorizon: 168h"));
}

#[test]
fn logs_more_often_than_every_100ms_are_refused() {
    let logs = "      replicas: 3\n      logs: {every: 1ms, lines: [\"x\"]}";
    let text = base().replace("      replicas: 3", logs);
    refused(
        &text,
        "cluster.workloads[0].logs.every",
        "a log line every 1ms is more often than the limit of one every 100ms",
    );
    let text = base().replace("      replicas: 3", &logs.replace("1ms", "0s"));
    refused(&text, "cluster.workloads[0].logs.every", "every 0s");
    load(&base().replace("      replicas: 3", &logs.replace("1ms", "100ms")));
}

#[test]
fn long_log_lines_and_too_many_of_them_are_refused() {
    let long = "x".repeat(limits::MAX_LOG_LINE_BYTES + 1);
    let text = base().replace(
        "      replicas: 3",
        &format!("      replicas: 3\n      logs: {{lines: [ok, \"{long}\"]}}"),
    );
    refused(
        &text,
        "cluster.workloads[0].logs.lines[1]",
        "longer than the limit of 16384 bytes",
    );
    let many = vec!["\"x\""; limits::MAX_LOG_LINES + 1].join(", ");
    let text = base().replace(
        "      replicas: 3",
        &format!("      replicas: 3\n      logs: {{lines: [{many}]}}"),
    );
    refused(
        &text,
        "cluster.workloads[0].logs.lines",
        "1001 log lines is more than the limit of 1000",
    );
}

#[test]
fn too_many_faults_are_refused() {
    let fault = "  - {at: 3m, type: noop, target: shop/checkout}\n";
    let text = with_faults(&fault.repeat(limits::MAX_FAULTS + 1));
    refused(
        &text,
        "faults",
        "1001 faults is more than the limit of 1000",
    );
    assert_eq!(
        load(&with_faults(&fault.repeat(limits::MAX_FAULTS)))
            .faults
            .len(),
        limits::MAX_FAULTS
    );
}

#[test]
fn a_surge_factor_above_the_limit_is_refused() {
    let text = with_faults(
        "  - {at: 3m, type: traffic-surge, target: shop/checkout, params: {factor: 1e12}}\n",
    );
    refused(
        &text,
        "faults[0].params.factor",
        "more than the limit of 1000",
    );
}

#[test]
fn too_many_pods_in_all_are_refused() {
    // 16 workloads of 10,000 replicas: each is allowed, together they pass 150,000 pods.
    let mut text = String::from("name: many-pods\ncluster:\n  workloads:\n");
    for i in 0..16 {
        let _ = writeln!(
            text,
            "    - {{namespace: shop, name: app-{i}, image: app:1, replicas: 10000}}"
        );
    }
    text.push_str("expect:\n  detect: false\n");
    refused(
        &text,
        "cluster.workloads[15]",
        "160000 pods, more than the limit of 150000",
    );
}

#[test]
fn lists_in_expect_are_capped() {
    let many = vec!["none"; limits::MAX_EXPECT_ENTRIES + 1].join(", ");
    let text = format!("{CLUSTER}expect:\n  diagnosis: [{many}]\n");
    refused(
        &text,
        "expect.diagnosis",
        "101 entries is more than the limit of 100",
    );
}

#[test]
fn twenty_thousand_workloads_load() {
    let count = limits::MAX_WORKLOADS;
    let mut text = String::from("name: many-workloads\ncluster:\n  configs:\n");
    for i in 0..count {
        let _ = writeln!(text, "    - secret/ns{}/config-{i}", i % 50);
    }
    text.push_str("  workloads:\n");
    for i in 0..count {
        let _ = writeln!(
            text,
            "    - namespace: ns{}\n      name: app-{i}\n      image: registry.local/app:{i}",
            i % 50
        );
        if i > 0 {
            // Each calls the one declared before it, and the first calls the last: forward
            // and backward references alike.
            let _ = writeln!(text, "      depends_on: [ns{}/app-{}]", (i - 1) % 50, i - 1);
        } else {
            let last = count - 1;
            let _ = writeln!(text, "      depends_on: [ns{}/app-{last}]", last % 50);
        }
    }
    let last = count - 1;
    let _ = write!(
        text,
        "faults:\n  - at: 3m\n    type: dependency-down\n    target: ns{}/app-{last}\n\
         expect:\n  diagnosis: [dependency/unavailable]\n  locate: ns{}/app-{last}\n",
        last % 50,
        last % 50
    );
    let scenario = parse_str(&text, ORIGIN).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenario.cluster.workloads.len(), count);
    assert_eq!(scenario.cluster.configs.len(), count);

    // One more is refused, at the list, with the limit.
    let extra = "    - {namespace: ns0, name: extra, image: app:1}\nfaults:";
    let text = text.replacen("faults:", extra, 1);
    refused(
        &text,
        "cluster.workloads",
        "20001 workloads is more than the limit of 20000",
    );
}

#[test]
fn a_missing_target_lists_only_a_few_of_many_workloads() {
    let mut text = String::from("name: many\ncluster:\n  workloads:\n");
    for i in 0..100 {
        let _ = writeln!(
            text,
            "    - {{namespace: shop, name: app-{i}, image: app:1}}"
        );
    }
    text.push_str("expect:\n  diagnosis: [none]\n  locate: shop/nowhere\n");
    let message = error(&text);
    assert!(
        message.contains("declared: shop/app-0, ") && message.contains("and 90 more"),
        "{message}"
    );
}

#[test]
fn deep_nesting_is_refused_before_it_costs_the_stack() {
    let deep = format!("{}x{}", "[".repeat(5_000), "]".repeat(5_000));
    let text = base().replace(
        "name: test-scenario",
        &format!("name: test-scenario\nsummary: {deep}"),
    );
    let message = error(&text);
    assert!(
        message.contains("nest deeper than the limit of 16 levels"),
        "{message}"
    );
}

#[test]
fn a_billion_laughs_is_refused() {
    let mut laughs = String::from("  - &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let _ = writeln!(
            laughs,
            "  - &l{level} [{}]",
            vec![format!("*l{}", level - 1); 10].join(", ")
        );
    }
    let text = base().replace(
        "name: test-scenario",
        &format!("name: test-scenario\nsummary:\n{laughs}"),
    );
    let message = error(&text);
    assert!(
        message.contains("anchors and aliases expand to more values"),
        "{message}"
    );
}

#[test]
fn anchors_within_reason_still_work() {
    let text = base().replace(
        "      replicas: 3",
        "      replicas: 3\n      behavior: &steady {rps: 20, memory: 100Mi}",
    );
    let text = text.replace(
        "      image: registry.local/shop/postgres:16",
        "      image: registry.local/shop/postgres:16\n      behavior: *steady",
    );
    let scenario = load(&text);
    assert_eq!(scenario.cluster.workloads[1].behavior.rps, 20.0);
}
