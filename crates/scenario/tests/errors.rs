//! Every kind of mistake is reported with the file, the key path and the line.

mod common;

use common::{CLUSTER, ORIGIN, assert_error, error, with_faults};
use nightshift_scenario::{ScenarioError, parse_str};

/// The line (from 1) of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> u64 {
    let index = text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in text"));
    index as u64 + 1
}

const VALID_FAULT: &str = "  - at: 3m\n    type: memory-limit\n    target: shop/checkout\n    params:\n      memory: 300Mi\n";

/// The shared cluster with one fault written in block style, so that keys have their own lines.
fn scenario() -> String {
    with_faults(VALID_FAULT)
}

#[test]
fn the_valid_base_loads() {
    assert!(parse_str(&scenario(), ORIGIN).is_ok());
}

#[test]
fn unknown_key_in_params() {
    let text = scenario().replace("      memory: 300Mi", "      memroy: 300Mi");
    let message = error(&text);
    let line = line_of(&text, "memroy");
    assert_eq!(
        message,
        format!(
            "{ORIGIN}: faults[0].params: unknown key `memroy` for fault type memory-limit; expected: memory at line {line} column 7"
        )
    );
}

#[test]
fn unknown_keys_anywhere() {
    let text = scenario().replace("name: test-scenario", "name: test-scenario\nsede: 4");
    assert_error(
        &text,
        "",
        2,
        "unknown key `sede`; expected one of: name, summary, seed",
    );
    let text = scenario().replace("      replicas: 3", "      replicas: 3\n      replica: 3");
    assert_error(
        &text,
        "cluster.workloads[0]",
        line_of(&text, "replica:"),
        "unknown key `replica`",
    );
    let text = scenario().replace(
        "limits: {cpu: 500m, memory: 256Mi}",
        "limits: {cpu: 500m, mem: 256Mi}",
    );
    assert_error(
        &text,
        "cluster.workloads[0].resources.limits",
        line_of(&text, "mem:"),
        "unknown key `mem`",
    );
    let text = scenario().replace(
        "    type: memory-limit",
        "    type: memory-limit\n    when: later",
    );
    assert_error(
        &text,
        "faults[0]",
        line_of(&text, "when:"),
        "unknown key `when`",
    );
    let text = scenario().replace(
        "  diagnosis: [none]",
        "  diagnosis: [none]\n  detected: true",
    );
    assert_error(
        &text,
        "expect",
        line_of(&text, "detected"),
        "unknown key `detected`",
    );
}

#[test]
fn params_of_another_fault_type() {
    let text = scenario().replace(
        "      memory: 300Mi",
        "      memory: 300Mi\n      factor: 2",
    );
    assert_error(
        &text,
        "faults[0].params",
        line_of(&text, "factor"),
        "unknown key `factor` for fault type memory-limit",
    );
    let text = with_faults(
        "  - at: 3m\n    type: scale-to-zero\n    target: shop/checkout\n    params:\n      replicas: 0\n",
    );
    assert_error(
        &text,
        "faults[0].params",
        line_of(&text, "replicas: 0"),
        "it takes no params",
    );
}

#[test]
fn wrong_types() {
    let text = scenario().replace("name: test-scenario", "name: test-scenario\nseed: seven");
    assert_error(
        &text,
        "seed",
        2,
        "expected a whole number, 0 or more, found `seven`",
    );
    let text = scenario().replace("      replicas: 3", "      replicas: [3]");
    assert_error(
        &text,
        "cluster.workloads[0].replicas",
        line_of(&text, "replicas: [3]"),
        "expected a single value",
    );
    let text = scenario().replace("  diagnosis: [none]", "  diagnosis: none");
    assert_error(
        &text,
        "expect.diagnosis",
        line_of(&text, "diagnosis: none"),
        "expected a list",
    );
    let text = scenario().replace("      memory: 300Mi", "      memory: [300Mi]");
    assert_error(
        &text,
        "faults[0].params.memory",
        line_of(&text, "[300Mi]"),
        "expected a string or a number, found a list",
    );
    let text = scenario().replace(
        "      image: registry.local/platform/agent:1",
        "      image: registry.local/platform/agent:1\n      probes: {readiness: sometimes}",
    );
    assert_error(
        &text,
        "cluster.workloads[2].probes.readiness",
        line_of(&text, "sometimes"),
        "expected true or false",
    );
}

#[test]
fn missing_required_keys() {
    let text = scenario().replace("name: test-scenario\n", "");
    assert_error(&text, "", 1, "missing required key `name`");
    let text = scenario().replace("expect:\n  diagnosis: [none]\n", "");
    assert_error(&text, "", 1, "missing required key `expect`");
    let text = scenario().replace("      image: registry.local/shop/postgres:16\n", "");
    assert_error(
        &text,
        "cluster.workloads[1]",
        line_of(&text, "kind: StatefulSet"),
        "missing required key `image`",
    );
    let text = scenario().replace("    - namespace: shop\n", "    - kind: Deployment\n");
    assert_error(
        &text,
        "cluster.workloads[0]",
        line_of(&text, "kind: Deployment"),
        "missing required key `namespace`",
    );
    let text = scenario().replace("    type: memory-limit\n", "");
    assert_error(
        &text,
        "faults[0]",
        line_of(&text, "- at: 3m"),
        "missing required key `type`",
    );
    let text = scenario().replace("  - at: 3m\n    type", "  - type");
    assert_error(
        &text,
        "faults[0]",
        line_of(&text, "- type"),
        "missing required key `at`",
    );
    let text = scenario().replace("    target: shop/checkout\n", "");
    assert_error(
        &text,
        "faults[0]",
        line_of(&text, "- at: 3m"),
        "missing required key `target`",
    );
    let text = scenario().replace(
        "  diagnosis: [none]",
        "  detect: true\n  locate: shop/checkout",
    );
    assert_error(
        &text,
        "expect",
        line_of(&text, "detect: true"),
        "missing required key `diagnosis`",
    );
}

#[test]
fn missing_required_params() {
    let text = scenario().replace("    params:\n      memory: 300Mi\n", "");
    assert_error(
        &text,
        "faults[0].params",
        line_of(&text, "- at: 3m"),
        "fault type memory-limit needs `memory`",
    );
    for (kind, param) in [
        ("bad-rollout", "image"),
        ("image-pull", "image"),
        ("missing-config", "ref"),
        ("traffic-surge", "factor"),
    ] {
        let text = with_faults(&format!(
            "  - at: 3m\n    type: {kind}\n    target: shop/checkout\n"
        ));
        assert_error(
            &text,
            "faults[0].params",
            line_of(&text, "- at: 3m"),
            &format!("fault type {kind} needs `{param}`"),
        );
    }
    let text = with_faults(
        "  - at: 3m\n    type: unschedulable\n    target: shop/checkout\n    params: {}\n",
    );
    assert_error(
        &text,
        "faults[0].params",
        line_of(&text, "params: {}"),
        "at least one of `cpu`, `memory`",
    );
}

#[test]
fn bad_durations_and_quantities() {
    let text = scenario().replace("  - at: 3m", "  - at: 3 minutes");
    assert_error(
        &text,
        "faults[0].at",
        line_of(&text, "3 minutes"),
        "invalid duration `3 minutes`",
    );
    let text = scenario().replace("name: test-scenario", "name: test-scenario\nhorizon: 20");
    assert_error(
        &text,
        "horizon",
        2,
        "invalid duration `20`: `20` has no unit",
    );
    let text = scenario().replace("      memory: 300Mi", "      memory: 300MB");
    assert_error(
        &text,
        "faults[0].params.memory",
        line_of(&text, "300MB"),
        "invalid memory quantity `300MB`",
    );
    let text = scenario().replace("limits: {cpu: 500m", "limits: {cpu: half");
    assert_error(
        &text,
        "cluster.workloads[0].resources.limits.cpu",
        line_of(&text, "half"),
        "invalid cpu quantity `half`",
    );
    let text = scenario().replace("      memory: 16Gi", "      memory: 16gb");
    assert_error(
        &text,
        "cluster.nodes[1].memory",
        line_of(&text, "16gb"),
        "invalid memory quantity",
    );
    let text = with_faults(
        "  - at: 3m\n    type: memory-leak\n    target: shop/checkout\n    params:\n      rate: 20Mi\n",
    );
    assert_error(
        &text,
        "faults[0].params.rate",
        line_of(&text, "rate:"),
        "invalid memory rate `20Mi`",
    );
    let text = with_faults(
        "  - at: 3m\n    type: crash\n    target: shop/checkout\n    params:\n      after: soon\n",
    );
    assert_error(
        &text,
        "faults[0].params.after",
        line_of(&text, "after:"),
        "invalid duration `soon`",
    );
}

#[test]
fn invalid_enum_values_list_the_valid_ones() {
    let text = scenario().replace("    type: memory-limit", "    type: oom");
    assert_error(
        &text,
        "faults[0].type",
        line_of(&text, "type: oom"),
        "unknown fault type `oom`; expected one of: crash, bad-rollout, image-pull, missing-config, memory-limit, \
         memory-leak, hang, traffic-surge, dependency-down, node-failure, disk-pressure, unschedulable, \
         probe-misconfig, scale-to-zero, transient, noop",
    );
    let text = scenario().replace("    - kind: StatefulSet", "    - kind: Statefulset");
    assert_error(
        &text,
        "cluster.workloads[1].kind",
        line_of(&text, "Statefulset"),
        "expected one of: Deployment, StatefulSet, DaemonSet",
    );
    let text = with_faults(
        "  - at: 3m\n    type: bad-rollout\n    target: shop/checkout\n    params:\n      image: c:2\n      effect: slow\n",
    );
    assert_error(
        &text,
        "faults[0].params.effect",
        line_of(&text, "slow"),
        "expected one of: crash, errors, oom, hang",
    );
    let text = with_faults(
        "  - at: 3m\n    type: missing-config\n    target: shop/checkout\n    params:\n      ref: secret/tls\n      via: magic\n",
    );
    assert_error(
        &text,
        "faults[0].params.via",
        line_of(&text, "magic"),
        "expected one of: rollout, restart",
    );
}

#[test]
fn malformed_targets() {
    for bad in [
        "checkout",
        "shop/checkout/v2",
        "node/",
        "external/pay.example.com",
        "Shop/checkout",
    ] {
        let text = scenario().replace("    target: shop/checkout", &format!("    target: {bad}"));
        let line = line_of(&text, "    target: ");
        let message = error(&text);
        assert!(
            message.starts_with(&format!("{ORIGIN}: faults[0].target: ")),
            "{message}"
        );
        assert!(message.contains(&format!("at line {line} ")), "{message}");
    }
    let text = scenario().replace("    target: shop/checkout", "    target: checkout");
    assert_error(
        &text,
        "faults[0].target",
        line_of(&text, "target: checkout"),
        "expected `<namespace>/<workload>`, `node/<name>` or `external/<host:port>`",
    );
}

#[test]
fn targets_that_do_not_exist() {
    let text = scenario().replace("    target: shop/checkout", "    target: shop/cart");
    assert_error(
        &text,
        "faults[0].target",
        line_of(&text, "shop/cart"),
        "`shop/cart` is not a workload in cluster.workloads (declared: shop/checkout, shop/db, platform/agent)",
    );
    let text = with_faults("  - at: 3m\n    type: node-failure\n    target: node/node-z\n");
    assert_error(
        &text,
        "faults[0].target",
        line_of(&text, "node-z"),
        "`node/node-z` is not a node in cluster.nodes (declared: node/node-a, node/node-b)",
    );
    let text = with_faults(
        "  - at: 3m\n    type: dependency-down\n    target: external/other.example.com:443\n",
    );
    assert_error(
        &text,
        "faults[0].target",
        line_of(&text, "other.example.com"),
        "is not in any workload's depends_on (declared: external/pay.example.com:443)",
    );
    let text = with_faults("  - at: 3m\n    type: dependency-down\n    target: shop/checkout\n");
    assert_error(
        &text,
        "faults[0].target",
        line_of(&text, "target:"),
        "no workload lists `shop/checkout` in depends_on",
    );
    let text = scenario().replace("depends_on: [shop/db,", "depends_on: [shop/dbx,");
    assert_error(
        &text,
        "cluster.workloads[0].depends_on[0]",
        line_of(&text, "shop/dbx"),
        "`shop/dbx` is not a workload",
    );
}

#[test]
fn targets_of_the_wrong_kind() {
    let text = with_faults("  - at: 3m\n    type: node-failure\n    target: shop/checkout\n");
    assert_error(
        &text,
        "faults[0].target",
        line_of(&text, "target:"),
        "fault type node-failure targets a node `node/<name>`, not `shop/checkout`",
    );
    let text = with_faults("  - at: 3m\n    type: crash\n    target: node/node-a\n");
    assert_error(
        &text,
        "faults[0].target",
        line_of(&text, "target:"),
        "fault type crash targets a workload",
    );
    let text = with_faults("  - at: 3m\n    type: scale-to-zero\n    target: platform/agent\n");
    assert_error(
        &text,
        "faults[0].target",
        line_of(&text, "target:"),
        "is a DaemonSet, which cannot be scaled",
    );
}

#[test]
fn params_that_contradict_the_cluster() {
    let text = scenario().replace("      memory: 300Mi", "      memory: 200Mi");
    assert_error(
        &text,
        "faults[0].params.memory",
        line_of(&text, "200Mi"),
        "fits in the workload's memory limit 256Mi",
    );
    let text = with_faults(
        "  - at: 3m\n    type: memory-limit\n    target: shop/db\n    params: {memory: 1Gi}\n",
    );
    assert_error(
        &text,
        "faults[0].target",
        line_of(&text, "target:"),
        "has none",
    );
    let text = with_faults(
        "  - at: 3m\n    type: bad-rollout\n    target: shop/checkout\n    params: {image: 'registry.local/shop/checkout:1.0.0'}\n",
    );
    assert_error(
        &text,
        "faults[0].params.image",
        line_of(&text, "params:"),
        "a rollout needs a new one",
    );
    let text = with_faults(
        "  - at: 3m\n    type: missing-config\n    target: shop/checkout\n    params: {ref: secret/checkout-db}\n",
    );
    assert_error(
        &text,
        "faults[0].params.ref",
        line_of(&text, "params:"),
        "exists in cluster.configs",
    );
    let text = with_faults(
        "  - at: 3m\n    type: hang\n    target: shop/checkout\n    params: {replicas: 5}\n",
    );
    assert_error(
        &text,
        "faults[0].params.replicas",
        line_of(&text, "params:"),
        "has 3 replicas, fewer than 5",
    );
    let text = with_faults(
        "  - at: 3m\n    type: bad-rollout\n    target: shop/checkout\n    params: {image: 'c:2', error_ratio: 0.2}\n",
    );
    assert_error(
        &text,
        "faults[0].params.error_ratio",
        line_of(&text, "params:"),
        "applies only to `effect: errors`",
    );
    let text = with_faults(
        "  - at: 3m\n    type: traffic-surge\n    target: shop/checkout\n    params: {factor: 0.5}\n",
    );
    assert_error(
        &text,
        "faults[0].params.factor",
        line_of(&text, "params:"),
        "more than 1",
    );
}

#[test]
fn duplicate_names() {
    let text = scenario().replace("      name: db\n", "      name: checkout\n");
    assert_error(
        &text,
        "cluster.workloads[1].name",
        line_of(&text, "kind: StatefulSet") + 2,
        "workload `shop/checkout` is declared twice",
    );
    let text = scenario().replace("    - name: node-b", "    - name: node-a");
    assert_error(
        &text,
        "cluster.nodes[1].name",
        5,
        "node `node-a` is declared twice",
    );
    let text = scenario().replace("name: test-scenario", "name: test-scenario\nname: again");
    assert_error(&text, "", 2, "the key `name` is written twice");
    let text = scenario().replace(
        "      service: false\n",
        "      service: false\n      service: true\n",
    );
    assert_error(
        &text,
        "cluster.workloads[2]",
        line_of(&text, "service: true"),
        "the key `service` is written twice",
    );
}

#[test]
fn names_must_be_kebab_case() {
    let text = scenario().replace("name: test-scenario", "name: Test_Scenario");
    assert_error(&text, "name", 1, "`Test_Scenario` is not kebab-case");
    let text = scenario().replace("      name: db\n", "      name: DB\n");
    assert_error(
        &text,
        "cluster.workloads[1].name",
        line_of(&text, "name: DB"),
        "invalid workload name `DB`",
    );
}

#[test]
fn faults_must_happen_before_the_horizon() {
    let text = scenario().replace("name: test-scenario", "name: test-scenario\nhorizon: 2m");
    assert_error(
        &text,
        "faults[0].at",
        line_of(&text, "- at: 3m"),
        "the fault at 3m is not before the horizon (2m)",
    );
    let text = scenario().replace("  - at: 3m", "  - at: 25m");
    assert_error(
        &text,
        "faults[0].at",
        line_of(&text, "- at: 25m"),
        "not before the horizon (20m)",
    );
}

#[test]
fn bad_expect_entries() {
    let expect = |body: &str| {
        scenario().replace(
            "expect:\n  diagnosis: [none]\n",
            &format!("expect:\n{body}"),
        )
    };
    let text = expect("  diagnosis:\n    - app/crash\n    - memory/oom\n");
    assert_error(
        &text,
        "expect.diagnosis[1]",
        line_of(&text, "memory/oom"),
        "unknown diagnosis category `memory/oom`; expected one of: resource/memory-limit",
    );
    let text = expect("  diagnosis: [app/crash]\n  locate: shop/nowhere\n");
    assert_error(
        &text,
        "expect.locate",
        line_of(&text, "nowhere"),
        "is not a workload in cluster.workloads",
    );
    let text = expect(
        "  diagnosis: [app/crash]\n  locate: shop/checkout\n  actions:\n    acceptable:\n      - reboot\n",
    );
    assert_error(
        &text,
        "expect.actions.acceptable[0]",
        line_of(&text, "reboot"),
        "unknown action `reboot`",
    );
    let text = expect(
        "  diagnosis: [app/crash]\n  locate: shop/checkout\n  actions:\n    harmful:\n      - rollback@shop/cart\n",
    );
    assert_error(
        &text,
        "expect.actions.harmful[0]",
        line_of(&text, "shop/cart"),
        "`shop/cart` is not a workload",
    );
    let text = expect(
        "  diagnosis: [app/crash]\n  locate: shop/checkout\n  actions:\n    acceptable:\n      - drain-node\n",
    );
    assert_error(
        &text,
        "expect.actions.acceptable[0]",
        line_of(&text, "- drain-node"),
        "`drain-node` acts on a node, but expect.locate is `shop/checkout`",
    );
    let text = expect("  diagnosis: [app/crash]\n  actions:\n    acceptable:\n      - rollback\n");
    assert_error(
        &text,
        "expect.actions.acceptable[0]",
        line_of(&text, "- rollback"),
        "has no target and expect.locate is not set",
    );
    let text = expect(
        "  diagnosis: [app/crash]\n  locate: shop/checkout\n  actions:\n    acceptable:\n      - rollback@external/pay.example.com:443\n",
    );
    assert_error(
        &text,
        "expect.actions.acceptable[0]",
        line_of(&text, "rollback@"),
        "not on external hosts",
    );
    let text = expect(
        "  diagnosis: [app/crash]\n  locate: shop/checkout\n  actions:\n    acceptable: [rollback]\n    harmful:\n      - rollback\n",
    );
    assert_error(
        &text,
        "expect.actions.harmful[0]",
        line_of(&text, "      - rollback"),
        "listed both as acceptable and as harmful",
    );
}

#[test]
fn bad_log_templates() {
    let text = scenario().replace("      service: false\n", "      service: false\n      logs:\n        lines:\n          - 'shipped {count:1..5} records'\n");
    assert_error(
        &text,
        "cluster.workloads[2].logs.lines[0]",
        line_of(&text, "shipped"),
        "unknown placeholder `{count:1..5}`",
    );
    let text = scenario().replace(
        "      service: false\n",
        "      service: false\n      logs:\n        lines:\n          - 'calling {dep}'\n",
    );
    assert_error(
        &text,
        "cluster.workloads[2].logs.lines[0]",
        line_of(&text, "calling"),
        "it has no `depends_on`",
    );
}

#[test]
fn broken_yaml_names_the_file_and_line() {
    let text = format!("{CLUSTER}faults: [\n");
    let message = error(&text);
    assert!(message.starts_with(&format!("{ORIGIN}: ")), "{message}");
    assert!(message.contains(" at line "), "{message}");
    let message = error("");
    assert_eq!(
        message,
        format!("{ORIGIN}: the file is empty; a scenario needs at least `name` and `expect`")
    );
    let message = error("- name: a\n");
    assert!(message.contains("a scenario is a mapping"), "{message}");
}

#[test]
fn errors_expose_their_parts() {
    let text = scenario().replace("      memory: 300Mi", "      memroy: 300Mi");
    let Err(err) = parse_str(&text, ORIGIN) else {
        panic!("loaded")
    };
    let line = line_of(&text, "memroy");
    assert_eq!(err.line(), Some(line));
    let problem = err
        .problem()
        .cloned()
        .unwrap_or_else(|| panic!("no problem in {err}"));
    assert_eq!(problem.key_path, "faults[0].params");
    assert_eq!(problem.column, Some(7));
    assert!(matches!(err, ScenarioError::Invalid { ref origin, .. } if origin == ORIGIN));
}
