//! Alert state over time (pending → firing → resolved) and what Prometheus sends, plus one
//! run from scrapes to webhook payloads through the shipped rules.

use nightshift_monitor::labels::labels;
use nightshift_monitor::{
    AlertState, Alertmanager, RouteConfig, RuleEvalError, RuleEvaluator, RuleFile, RuleOptions,
    Sample, Tsdb, WebhookPayload,
};

/// Simulated time starts here (2023-11-14T22:13:20Z).
const T0: i64 = 1_700_000_000_000;
const S: i64 = 1000;

const RULES: &str = r#"
groups:
  - name: test
    interval: 15s
    rules:
      - alert: High
        expr: max by (ns) (m) > 5
        for: 1m
        labels:
          severity: page
          team: "{{ $labels.ns }}-team"
        annotations:
          summary: "{{ $labels.ns }} at {{ $value }}"
"#;

fn evaluator(text: &str) -> RuleEvaluator {
    RuleEvaluator::new(
        RuleFile::parse(text, "test.yaml").unwrap(),
        RuleOptions::default(),
    )
}

/// m{ns="a"} is 10 until 150s, 1 until 300s, then 10 again; m{ns="b"} is 10 only until 30s.
fn m_at(t_s: i64) -> Vec<Sample> {
    let a = if (150..300).contains(&t_s) { 1.0 } else { 10.0 };
    let b = if t_s <= 30 { 10.0 } else { 1.0 };
    vec![
        Sample::new("m", [("ns", "a"), ("pod", "1")], a),
        Sample::new("m", [("ns", "b"), ("pod", "2")], b),
    ]
}

#[test]
fn pending_firing_resolved_and_resent_like_prometheus() {
    let mut db = Tsdb::default();
    let mut ev = evaluator(RULES);
    let mut sent: Vec<(i64, Option<i64>, Option<i64>)> = Vec::new();
    for step in 0..=80 {
        let t_s = step * 15;
        db.ingest(T0 + t_s * S, m_at(t_s)).unwrap();
        let out = ev.evaluate(&db, T0 + t_s * S);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert_eq!(out.groups_evaluated, 1);
        for alert in &out.to_send {
            assert_eq!(alert.labels.get("ns").map(String::as_str), Some("a"));
            sent.push((
                t_s,
                alert.starts_at_ms.map(|t| (t - T0) / S),
                alert.ends_at_ms.map(|t| (t - T0) / S),
            ));
        }
        let a = ev
            .alerts()
            .into_iter()
            .find(|a| a.labels.get("ns").map(String::as_str) == Some("a"));
        match t_s {
            0..=45 => assert_eq!(a.unwrap().state, AlertState::Pending, "at {t_s}s"),
            60..=135 => assert_eq!(a.unwrap().state, AlertState::Firing, "at {t_s}s"),
            150..=285 => {
                let a = a.unwrap();
                assert_eq!(a.state, AlertState::Inactive, "at {t_s}s");
                assert_eq!(a.resolved_at_ms, Some(T0 + 150 * S));
            }
            // The series came back at 300s: a new alert, pending again.
            300..=345 => assert_eq!(a.unwrap().state, AlertState::Pending, "at {t_s}s"),
            _ => {
                let a = a.unwrap();
                assert_eq!(a.state, AlertState::Firing, "at {t_s}s");
                assert_eq!(a.active_at_ms, T0 + 300 * S);
                assert_eq!(a.fired_at_ms, Some(T0 + 360 * S));
            }
        }
        // ns="b" was pending for 30s only: removed without ever being sent.
        let b = ev
            .alerts()
            .into_iter()
            .any(|a| a.labels.get("ns").map(String::as_str) == Some("b"));
        assert_eq!(b, t_s <= 30, "at {t_s}s");
    }
    // Firing: sent at once, then when more than the 1m resend delay has passed; valid for
    // 4 * max(resend delay, interval). Resolved: sent at once with the resolve time, resent.
    assert_eq!(
        &sent[..6],
        &[
            (60, Some(60), Some(300)),
            (135, Some(60), Some(375)),
            (150, Some(60), Some(150)),
            (225, Some(60), Some(150)),
            (360, Some(360), Some(600)),
            (435, Some(360), Some(675)),
        ]
    );

    let firing = ev
        .alerts()
        .into_iter()
        .find(|a| a.state == AlertState::Firing)
        .unwrap();
    assert_eq!(
        firing.labels,
        labels([
            ("alertname", "High"),
            ("ns", "a"),
            ("severity", "page"),
            ("team", "a-team")
        ])
    );
    assert_eq!(firing.annotations, labels([("summary", "a at 10")]));
}

#[test]
fn resolved_alerts_are_forgotten_after_fifteen_minutes() {
    let mut db = Tsdb::default();
    let mut ev = evaluator(RULES);
    for step in 0..=80 {
        let t_s = step * 15;
        // m{ns="a"} is high until 150s, then low for good.
        let v = if t_s < 150 { 10.0 } else { 1.0 };
        db.ingest(T0 + t_s * S, [Sample::new("m", [("ns", "a")], v)])
            .unwrap();
        ev.evaluate(&db, T0 + t_s * S);
        let present = !ev.alerts().is_empty();
        // Resolved at 150s, kept while less than 15 minutes have passed (strictly more
        // removes it: at 1065s).
        assert_eq!(present, t_s < 1065, "at {t_s}s");
    }
}

#[test]
fn groups_run_on_their_own_interval() {
    let text = RULES.replace("interval: 15s", "interval: 30s");
    let mut ev = evaluator(&text);
    let mut db = Tsdb::default();
    let mut evaluated = Vec::new();
    for step in 0..6 {
        db.ingest(T0 + step * 15 * S, m_at(step * 15)).unwrap();
        evaluated.push(ev.evaluate(&db, T0 + step * 15 * S).groups_evaluated);
    }
    assert_eq!(evaluated, vec![1, 0, 1, 0, 1, 0]);
}

#[test]
fn rule_evaluation_errors_keep_other_rules_running() {
    let text = r#"
groups:
  - name: g
    limit: 1
    rules:
      - alert: Collide
        expr: '{__name__=~"m|n"}'
      - alert: TooMany
        expr: m
      - alert: Fine
        expr: max(m)
"#;
    let mut ev = evaluator(text);
    let mut db = Tsdb::default();
    db.ingest(
        T0,
        [
            Sample::new("m", [("x", "1")], 1.0),
            Sample::new("m", [("x", "2")], 1.0),
            Sample::new("n", [("x", "1")], 1.0),
        ],
    )
    .unwrap();
    let out = ev.evaluate(&db, T0);
    assert_eq!(out.errors.len(), 2, "{:?}", out.errors);
    assert!(matches!(
        out.errors[0],
        RuleEvalError::DuplicateAlert { .. }
    ));
    assert!(matches!(
        out.errors[1],
        RuleEvalError::Limit {
            limit: 1,
            count: 2,
            ..
        }
    ));
    assert_eq!(
        out.errors[1].to_string(),
        "alert \"TooMany\" of group \"g\" exceeded the limit of 1 with 2 alerts"
    );
    // for: 0 fires at once.
    assert_eq!(out.to_send.len(), 1);
    assert_eq!(out.to_send[0].labels, labels([("alertname", "Fine")]));
}

/// The brief's example: a pod in CrashLoopBackOff for 3 minutes fires KubePodCrashLooping,
/// and Alertmanager posts it with exactly the resource's labels.
#[test]
fn crash_loop_from_scrapes_to_webhook() {
    let mut db = Tsdb::default();
    let mut ev = RuleEvaluator::new(RuleFile::shipped().unwrap(), RuleOptions::default());
    let mut am = Alertmanager::new(RouteConfig::default());
    let mut posted: Vec<(i64, WebhookPayload)> = Vec::new();
    let pod = [
        ("namespace", "shop"),
        ("pod", "checkout-7d4b9c6f5-x2x9z"),
        ("container", "checkout"),
    ];
    for step in 0..=16 {
        let t = T0 + step * 15 * S;
        let mut samples = vec![Sample::new(
            "kube_pod_container_status_restarts_total",
            pod,
            (step / 4) as f64,
        )];
        if step >= 2 {
            let mut waiting = pod.to_vec();
            waiting.push(("reason", "CrashLoopBackOff"));
            samples.push(Sample::new(
                "kube_pod_container_status_waiting_reason",
                waiting,
                1.0,
            ));
        }
        db.ingest(t, samples).unwrap();
        let out = ev.evaluate(&db, t);
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        assert!(am.receive(t, &out.to_send).is_empty());
        posted.extend(am.flush_due(t).into_iter().map(|n| (n.at_ms, n.payload)));
    }
    // Waiting from 30s; the 30s group is evaluated at 0s, 30s, 60s...: pending at 30s,
    // firing at 90s, notified after the 10s group_wait.
    assert_eq!(posted.len(), 1, "{posted:#?}");
    let (at, payload) = &posted[0];
    assert_eq!(*at, T0 + 100 * S);
    assert_eq!(
        payload.group_key,
        r#"{}:{alertname="KubePodCrashLooping", namespace="shop"}"#
    );
    assert_eq!(payload.alerts.len(), 1);
    assert_eq!(
        payload.alerts[0].labels,
        labels([
            ("alertname", "KubePodCrashLooping"),
            ("container", "checkout"),
            ("namespace", "shop"),
            ("pod", "checkout-7d4b9c6f5-x2x9z"),
            ("severity", "warning"),
        ])
    );
    assert_eq!(payload.alerts[0].starts_at, "2023-11-14T22:14:50Z");
    assert_eq!(payload.alerts[0].ends_at, "0001-01-01T00:00:00Z");
    // Fingerprint computed independently (see labels.rs).
    assert_eq!(payload.alerts[0].fingerprint, "76b840bdb279fe2a");
    assert!(
        payload.alerts[0]
            .generator_url
            .starts_with("http://localhost:9090/graph?g0.expr=")
    );
}
