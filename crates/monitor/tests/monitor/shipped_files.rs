//! The shipped rule file and Alertmanager configuration load, and rule files are validated
//! the way promtool validates them.

use std::time::Duration;

use nightshift_monitor::{RouteConfig, RuleError, RuleFile};

fn parse_err(text: &str) -> String {
    match RuleFile::parse(text, "test.yaml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn shipped_rule_file_parses_and_covers_every_alert() {
    let file = RuleFile::shipped().expect("shipped rules parse");
    let mut names: Vec<&str> = file.rules().map(|r| r.name.as_str()).collect();
    names.dedup();
    for expected in [
        "KubePodCrashLooping",
        "KubeContainerOOMKilled",
        "KubeContainerWaiting",
        "KubePodNotReady",
        "KubePodUnschedulable",
        "KubeDeploymentReplicasMismatch",
        "KubeDeploymentRolloutStuck",
        "KubeStatefulSetReplicasMismatch",
        "KubeNodeNotReady",
        "KubeNodePressure",
        "HighErrorRate",
        "HighLatency",
        "ServiceNoEndpointsWithCallers",
        "ContainerCPUSaturated",
        "CPUThrottlingHigh",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for rule in file.rules() {
        // Every expression parses (the parse above would have failed) and re-prints.
        assert!(!rule.parsed.to_string().is_empty(), "{}", rule.name);
        assert!(
            rule.labels.contains_key("severity"),
            "{} needs a severity",
            rule.name
        );
        assert!(
            rule.annotations.contains_key("summary"),
            "{} needs a summary",
            rule.name
        );
        assert!(
            rule.annotations.contains_key("description"),
            "{}",
            rule.name
        );
        assert!(
            rule.for_duration >= Duration::from_secs(60)
                && rule.for_duration <= Duration::from_secs(300),
            "{}: for {:?}",
            rule.name,
            rule.for_duration
        );
        assert!(rule.line.is_some());
    }
    for group in &file.groups {
        assert_eq!(
            group.interval,
            Some(Duration::from_secs(30)),
            "{}",
            group.name
        );
    }
}

#[test]
fn shipped_alertmanager_config_matches_the_emulation_defaults() {
    let parsed = RouteConfig::shipped().expect("shipped alertmanager.yml parses");
    let defaults = RouteConfig::default();
    assert_eq!(parsed.receiver, defaults.receiver);
    assert_eq!(parsed.group_by, defaults.group_by);
    assert_eq!(parsed.group_wait, defaults.group_wait);
    assert_eq!(parsed.group_interval, defaults.group_interval);
    assert_eq!(parsed.repeat_interval, defaults.repeat_interval);
    assert_eq!(parsed.resolve_timeout, defaults.resolve_timeout);
    assert!(parsed.send_resolved);
    assert_eq!(
        parsed.webhook_url.as_deref(),
        Some("http://nightshift.invalid/api/v1/alerts")
    );
}

#[test]
fn alertmanager_config_errors_name_the_problem() {
    let minimal =
        "route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: 'http://x'}]}]\n";
    let parsed = RouteConfig::from_alertmanager_yaml(minimal, "am.yml").unwrap();
    // Alertmanager's own defaults apply to what the file leaves out.
    assert_eq!(parsed.group_wait, Duration::from_secs(30));
    assert_eq!(parsed.group_interval, Duration::from_secs(300));
    assert_eq!(parsed.repeat_interval, Duration::from_secs(4 * 3600));
    assert!(parsed.group_by.is_empty());

    for (text, needle) in [
        (
            "route: {receiver: r, group_wiat: 1m}\nreceivers: [{name: r}]",
            "unknown key \"group_wiat\" in route",
        ),
        (
            "route: {receiver: r}\nreceivers: []",
            "not defined under receivers",
        ),
        (
            "route: {receiver: r}\nreceivers: [{name: r}]",
            "has no webhook_configs",
        ),
        (
            "route: {receiver: r, group_wait: soon}\nreceivers: [{name: r}]",
            "route.group_wait",
        ),
        (
            "route: {receiver: r, routes: [{receiver: r}]}\nreceivers: [{name: r}]",
            "child routes",
        ),
        ("rout: {}", "unknown top-level key \"rout\""),
        (
            "route: [",
            "unable to parse Alertmanager config am.yml as YAML",
        ),
    ] {
        let err = RouteConfig::from_alertmanager_yaml(text, "am.yml")
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        assert!(err.contains("am.yml"), "{err:?} should name the file");
    }
}

#[test]
fn rule_errors_name_file_group_rule_and_problem() {
    let err = parse_err(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    keep_firing_for: 5m\n",
    );
    assert_eq!(
        err,
        "rule file test.yaml, group \"g\", alert \"A\" (line 4): unknown key \"keep_firing_for\" \
         (allowed: record, alert, expr, for, labels, annotations)"
    );
    let err = parse_err("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: 'sum(up'\n");
    assert!(
        err.starts_with(
            "rule file test.yaml, group \"g\", alert \"A\" (line 4): could not parse expression"
        ),
        "{err}"
    );
    let err =
        parse_err("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5 minutes\n");
    assert!(err.contains("invalid 'for'"), "{err}");
    let err = parse_err(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels: {1bad: x}\n",
    );
    assert!(err.contains("invalid label name: 1bad"), "{err}");
    let err = parse_err(
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations: {summary: '{{ $labels.x'}\n",
    );
    assert!(
        err.contains("annotation summary: invalid template"),
        "{err}"
    );
    let err = parse_err("groups:\n- name: g\n  rules:\n  - expr: up\n");
    assert!(
        err.contains("rule #1 (line 4): one of 'record' or 'alert' must be set"),
        "{err}"
    );
    let err = parse_err("groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n");
    assert!(err.contains("recording rules are not supported"), "{err}");
    let err = parse_err("groups:\n- name: g\n  rules:\n  - alert: A\n");
    assert!(err.contains("field 'expr' must be set"), "{err}");
    let err = parse_err("groups:\n- name: g\n  intervall: 1m\n  rules: []\n");
    assert_eq!(
        err,
        "rule file test.yaml, group \"g\": unknown key \"intervall\" (allowed: name, interval, limit, rules)"
    );
    let err = parse_err("groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n");
    assert_eq!(err, "rule file test.yaml: group name \"g\" is repeated");
    let err = parse_err("groups:\n- rules: []\n");
    assert!(
        err.contains("group \"#1\": the group name must be set"),
        "{err}"
    );
    let err = parse_err("group: []\n");
    assert!(
        err.contains("unknown key \"group\" at the top level"),
        "{err}"
    );
    assert!(matches!(
        RuleFile::parse("groups: [", "test.yaml"),
        Err(RuleError::Yaml { .. })
    ));
    // An empty file is a valid file with no groups, as in Prometheus.
    assert!(RuleFile::parse("", "empty.yaml").unwrap().groups.is_empty());
}

#[test]
fn duplicate_keys_are_errors() {
    let text = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    expr: down\n";
    assert!(RuleFile::parse(text, "dup.yaml").is_err());
}

#[test]
fn monitoring_types_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<nightshift_monitor::Tsdb>();
    send_sync::<nightshift_monitor::RuleEvaluator>();
    send_sync::<nightshift_monitor::Alertmanager>();
    send_sync::<nightshift_monitor::Engine>();
}

/// Runs a Prometheus/Alertmanager tool on repository files; `None` when the tool is not
/// installed (scripts/test installs Debian's prometheus and prometheus-alertmanager).
fn run_tool(tool: &str, args: &[&str]) -> Option<std::process::Output> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::process::Command::new(tool)
        .args(args)
        .current_dir(root)
        .output()
    {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // CI installs the tools; there a missing tool is a failure, not a skip.
            assert!(
                std::env::var_os("CI").is_none(),
                "{tool} is not installed but CI is set"
            );
            eprintln!("{tool} is not installed: skipping the check with the real tool");
            None
        }
        Err(e) => panic!("unable to run {tool}: {e}"),
    }
}

/// The real Prometheus 2.42 and Alertmanager 0.25 tools accept the shipped files, and the
/// promtool unit tests that the conformance test replays pass in real Prometheus too.
#[test]
fn real_promtool_and_amtool_accept_the_shipped_files() {
    let checks: [(&str, &[&str]); 5] = [
        (
            "promtool",
            &["check", "rules", "deploy/prometheus/nightshift-rules.yaml"],
        ),
        (
            "promtool",
            &["check", "config", "deploy/prometheus/prometheus.yml"],
        ),
        (
            "promtool",
            &[
                "test",
                "rules",
                "deploy/prometheus/nightshift-rules.test.yaml",
            ],
        ),
        (
            "promtool",
            &[
                "test",
                "rules",
                "crates/monitor/tests/conformance/promql.test.yaml",
            ],
        ),
        (
            "amtool",
            &["check-config", "deploy/alertmanager/alertmanager.yml"],
        ),
    ];
    for (tool, args) in checks {
        let Some(out) = run_tool(tool, args) else {
            continue;
        };
        assert!(
            out.status.success(),
            "{tool} {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
