//! Alertmanager emulation: grouping, group_wait, group_interval, repeat_interval, resolved
//! notifications and the exact webhook body.

use nightshift_monitor::alertmanager::AlertStatus;
use nightshift_monitor::labels::labels;
use nightshift_monitor::{Alertmanager, Notification, PostableAlert, RouteConfig};

const T0: i64 = 1_700_000_000_000;
const S: i64 = 1000;

fn alert(name: &str, pairs: &[(&str, &str)], starts_s: i64, ends_s: i64) -> PostableAlert {
    let mut ls = labels(pairs.iter().copied());
    ls.insert("alertname".into(), name.into());
    PostableAlert {
        labels: ls,
        annotations: labels([("summary", format!("{name} happened"))]),
        starts_at_ms: Some(T0 + starts_s * S),
        ends_at_ms: Some(T0 + ends_s * S),
        generator_url: "http://localhost:9090/graph?g0.expr=up&g0.tab=1".into(),
    }
}

/// Feeds `alerts(t)` every 15s from `from` to `to` seconds and collects what is posted, as
/// (seconds after T0, payload).
fn run(
    am: &mut Alertmanager,
    from: i64,
    to: i64,
    alerts: impl Fn(i64) -> Vec<PostableAlert>,
) -> Vec<(i64, Notification)> {
    let mut out = Vec::new();
    let mut t = from;
    while t <= to {
        assert!(am.receive(T0 + t * S, &alerts(t)).is_empty());
        out.extend(
            am.flush_due(T0 + t * S)
                .into_iter()
                .map(|n| ((n.at_ms - T0) / S, n)),
        );
        t += 5;
    }
    out
}

/// Prometheus re-sends a firing alert each minute with an end 4 minutes ahead.
fn resend(t: i64, every: i64) -> bool {
    t % every == 0
}

#[test]
fn group_wait_then_group_interval_then_repeat_interval() {
    let mut am = Alertmanager::new(RouteConfig::default());
    let posted = run(&mut am, 0, 4000, |t| {
        let mut v = Vec::new();
        if resend(t, 60) {
            v.push(alert(
                "A",
                &[("namespace", "shop"), ("pod", "p1")],
                0,
                t + 240,
            ));
        }
        if t >= 20 && (t == 20 || resend(t, 60)) {
            v.push(alert(
                "A",
                &[("namespace", "shop"), ("pod", "p2")],
                20,
                t + 240,
            ));
        }
        v
    });
    let times: Vec<i64> = posted.iter().map(|(t, _)| *t).collect();
    // First after group_wait (10s); p2 joined at 20s and goes out at the next group_interval
    // tick (70s); nothing changes afterwards, so the next is the first tick more than
    // repeat_interval (1h) after 70s: 10 + 62 * 60 = 3730s.
    assert_eq!(times, vec![10, 70, 3730]);
    assert_eq!(posted[0].1.payload.alerts.len(), 1);
    assert_eq!(posted[1].1.payload.alerts.len(), 2);
    assert_eq!(posted[2].1.payload.alerts.len(), 2);
    let p = &posted[1].1.payload;
    assert_eq!(p.status, AlertStatus::Firing);
    assert_eq!(
        p.group_labels,
        labels([("alertname", "A"), ("namespace", "shop")])
    );
    assert_eq!(
        p.common_labels,
        labels([("alertname", "A"), ("namespace", "shop")])
    );
    assert_eq!(p.common_annotations, labels([("summary", "A happened")]));
    assert_eq!(p.alerts[0].labels.get("pod").unwrap(), "p1");
    assert_eq!(p.alerts[1].labels.get("pod").unwrap(), "p2");
}

#[test]
fn resolution_is_notified_once_then_the_group_starts_over() {
    let mut am = Alertmanager::new(RouteConfig::default());
    let posted = run(&mut am, 0, 600, |t| match t {
        // Firing from 0s, resolved at 100s; Prometheus re-sends the resolution for a while.
        0..=99 if resend(t, 60) => vec![alert("A", &[("namespace", "shop")], 0, t + 240)],
        100 | 175 | 250 => vec![alert("A", &[("namespace", "shop")], 0, 100)],
        // Fires again at 400s.
        400.. if resend(t - 400, 60) => vec![alert("A", &[("namespace", "shop")], 400, t + 240)],
        _ => vec![],
    });
    let times: Vec<i64> = posted.iter().map(|(t, _)| *t).collect();
    // 10s: firing; 130s (next tick after the resolution at 100s): resolved; the empty group
    // is then dropped, so the new firing at 400s waits group_wait again: 410s.
    assert_eq!(times, vec![10, 130, 410]);
    let resolved = &posted[1].1.payload;
    assert_eq!(resolved.status, AlertStatus::Resolved);
    assert_eq!(resolved.alerts[0].status, AlertStatus::Resolved);
    assert_eq!(resolved.alerts[0].starts_at, "2023-11-14T22:13:20Z");
    assert_eq!(resolved.alerts[0].ends_at, "2023-11-14T22:15:00Z");
    let again = &posted[2].1.payload;
    assert_eq!(again.status, AlertStatus::Firing);
    assert_eq!(again.alerts[0].starts_at, "2023-11-14T22:20:00Z");
    assert_eq!(again.alerts[0].ends_at, "0001-01-01T00:00:00Z");
}

#[test]
fn partial_resolution_is_sent_with_the_remaining_firing_alerts() {
    let mut am = Alertmanager::new(RouteConfig::default());
    let posted = run(&mut am, 0, 300, |t| {
        let mut v = Vec::new();
        if resend(t, 60) {
            v.push(alert(
                "A",
                &[("namespace", "shop"), ("pod", "p1")],
                0,
                t + 240,
            ));
        }
        if t < 80 && resend(t, 60) {
            v.push(alert(
                "A",
                &[("namespace", "shop"), ("pod", "p2")],
                0,
                t + 240,
            ));
        }
        if t == 80 {
            v.push(alert("A", &[("namespace", "shop"), ("pod", "p2")], 0, 80));
        }
        v
    });
    let times: Vec<i64> = posted.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, vec![10, 130]);
    let p = &posted[1].1.payload;
    assert_eq!(p.status, AlertStatus::Firing);
    let statuses: Vec<AlertStatus> = p.alerts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![AlertStatus::Firing, AlertStatus::Resolved]);
    // Once notified, the resolved alert is dropped from the group: it is not in later
    // notifications, and no further notification is needed.
    let later = run(&mut am, 305, 3800, |t| {
        if resend(t, 60) {
            vec![alert(
                "A",
                &[("namespace", "shop"), ("pod", "p1")],
                0,
                t + 240,
            )]
        } else {
            vec![]
        }
    });
    assert_eq!(later.len(), 1, "only the hourly repeat");
    assert_eq!(later[0].1.payload.alerts.len(), 1);
}

#[test]
fn groups_are_per_alertname_and_namespace() {
    let mut am = Alertmanager::new(RouteConfig::default());
    let posted = run(&mut am, 0, 30, |t| {
        if t == 0 {
            vec![
                alert("A", &[("namespace", "shop")], 0, 240),
                alert("A", &[("namespace", "web")], 0, 240),
                alert("B", &[("namespace", "shop")], 0, 240),
                alert("KubeNodeNotReady", &[("node", "node-a")], 0, 240),
            ]
        } else {
            vec![]
        }
    });
    let mut keys: Vec<&str> = posted
        .iter()
        .map(|(_, n)| n.payload.group_key.as_str())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            r#"{}:{alertname="A", namespace="shop"}"#,
            r#"{}:{alertname="A", namespace="web"}"#,
            r#"{}:{alertname="B", namespace="shop"}"#,
            r#"{}:{alertname="KubeNodeNotReady"}"#,
        ]
    );
    assert!(posted.iter().all(|(t, _)| *t == 10));
}

#[test]
fn alerts_older_than_group_wait_flush_a_new_group_at_once() {
    let mut am = Alertmanager::new(RouteConfig::default());
    assert!(
        am.receive(T0, &[alert("A", &[("namespace", "shop")], -60, 240)])
            .is_empty()
    );
    let out = am.flush_due(T0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].at_ms, T0);
}

#[test]
fn send_resolved_false_and_max_alerts() {
    let config = RouteConfig {
        send_resolved: false,
        max_alerts: 1,
        ..RouteConfig::default()
    };
    let mut am = Alertmanager::new(config);
    let posted = run(&mut am, 0, 200, |t| match t {
        0 => vec![
            alert("A", &[("namespace", "shop"), ("pod", "p1")], 0, 240),
            alert("A", &[("namespace", "shop"), ("pod", "p2")], 0, 240),
        ],
        100 => vec![
            alert("A", &[("namespace", "shop"), ("pod", "p1")], 0, 100),
            alert("A", &[("namespace", "shop"), ("pod", "p2")], 0, 100),
        ],
        _ => vec![],
    });
    assert_eq!(posted.len(), 1, "the resolution is not sent");
    assert_eq!(posted[0].1.payload.alerts.len(), 1);
    assert_eq!(posted[0].1.payload.truncated_alerts, 1);
}

#[test]
fn alerts_without_an_end_resolve_after_resolve_timeout() {
    let mut am = Alertmanager::new(RouteConfig::default());
    let mut a = alert("A", &[("namespace", "shop")], 0, 0);
    a.ends_at_ms = None;
    let posted = run(&mut am, 0, 400, |t| {
        if t == 0 { vec![a.clone()] } else { vec![] }
    });
    let times: Vec<i64> = posted.iter().map(|(t, _)| *t).collect();
    // Ends 5m after receipt (300s); the next tick after that is 310s.
    assert_eq!(times, vec![10, 310]);
    assert_eq!(posted[1].1.payload.status, AlertStatus::Resolved);
}

#[test]
fn invalid_alerts_are_rejected_and_others_kept() {
    let mut am = Alertmanager::new(RouteConfig::default());
    let mut empty = alert("A", &[], 0, 10);
    empty.labels.clear();
    let backwards = alert("B", &[], 100, 10);
    let rejected = am.receive(T0, &[empty, backwards, alert("C", &[], 0, 240)]);
    let problems: Vec<String> = rejected.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        problems,
        vec![
            "alertmanager rejected alert {}: at least one label pair required",
            "alertmanager rejected alert {alertname=\"B\"}: start time must be before end time",
        ]
    );
    assert_eq!(am.flush_due(T0 + 10 * S).len(), 1);
}

#[test]
fn webhook_body_is_byte_for_byte_alertmanager_0_25() {
    let config = RouteConfig {
        external_url: "http://alertmanager:9093".into(),
        ..RouteConfig::default()
    };
    let mut am = Alertmanager::new(config);
    let mut a = alert(
        "KubePodCrashLooping",
        &[
            ("namespace", "shop"),
            ("pod", "checkout-1"),
            ("severity", "warning"),
        ],
        0,
        240,
    );
    a.annotations = labels([("summary", "restarts > 3 & <rising>")]);
    assert!(am.receive(T0, &[a]).is_empty());
    let out = am.flush_due(T0 + 10 * S);
    let json = out[0].payload.to_go_json();
    let fingerprint = nightshift_monitor::Fingerprint::of(&out[0].payload.alerts[0].labels);
    let expected = format!(
        concat!(
            r#"{{"receiver":"nightshift","status":"firing","alerts":[{{"status":"firing","#,
            r#""labels":{{"alertname":"KubePodCrashLooping","namespace":"shop","pod":"checkout-1","severity":"warning"}},"#,
            r#""annotations":{{"summary":"restarts \u003e 3 \u0026 \u003crising\u003e"}},"#,
            r#""startsAt":"2023-11-14T22:13:20Z","endsAt":"0001-01-01T00:00:00Z","#,
            r#""generatorURL":"http://localhost:9090/graph?g0.expr=up\u0026g0.tab=1","#,
            r#""fingerprint":"{fp}"}}],"#,
            r#""groupLabels":{{"alertname":"KubePodCrashLooping","namespace":"shop"}},"#,
            r#""commonLabels":{{"alertname":"KubePodCrashLooping","namespace":"shop","pod":"checkout-1","severity":"warning"}},"#,
            r#""commonAnnotations":{{"summary":"restarts \u003e 3 \u0026 \u003crising\u003e"}},"#,
            r#""externalURL":"http://alertmanager:9093","version":"4","#,
            r#""groupKey":"{{}}:{{alertname=\"KubePodCrashLooping\", namespace=\"shop\"}}","#,
            r#""truncatedAlerts":0}}"#,
            "\n"
        ),
        fp = fingerprint
    );
    assert_eq!(json, expected);
    // Plain serde gives the same document (without Go's HTML escaping).
    let reparsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(reparsed, serde_json::to_value(&out[0].payload).unwrap());
}

#[test]
fn postable_alert_serializes_like_the_v2_api() {
    let a = alert("A", &[("namespace", "shop")], 0, 240);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        r#"{"labels":{"alertname":"A","namespace":"shop"},"annotations":{"summary":"A happened"},"startsAt":"2023-11-14T22:13:20Z","endsAt":"2023-11-14T22:17:20Z","generatorURL":"http://localhost:9090/graph?g0.expr=up&g0.tab=1"}"#
    );
}

/// Replays the posts behind the bodies in `tests/conformance/alertmanager-0.25/` (see its
/// README) and expects the same bytes a real Alertmanager 0.25 sent.
#[test]
fn replays_payloads_captured_from_alertmanager_0_25() {
    const START: i64 = 1_795_820_008_500;
    const POSTED: i64 = START + 500;
    const RESOLVED: i64 = 1_795_820_024_000;
    let url = "http://localhost:9090/graph?g0.expr=up&g0.tab=1";
    let crash = |pod: &str, container: &str, summary: &str, ends: i64| PostableAlert {
        labels: labels([
            ("alertname", "KubePodCrashLooping"),
            ("namespace", "shop"),
            ("pod", pod),
            ("container", container),
            ("severity", "warning"),
        ]),
        annotations: labels([("summary", summary), ("description", "same")]),
        starts_at_ms: Some(START),
        ends_at_ms: Some(ends),
        generator_url: url.into(),
    };
    let config = RouteConfig {
        external_url: "http://alertmanager:9093".into(),
        ..RouteConfig::shipped().unwrap()
    };
    let mut am = Alertmanager::new(config);
    let checkout = |ends| crash("checkout-1", "checkout", "restarts > 3 & <rising>", ends);
    let first = [
        checkout(START + 240_000),
        crash("cart-1", "cart", "other", START + 240_000),
    ];
    assert!(am.receive(POSTED, &first).is_empty());
    let sent = am.flush_due(POSTED + 10 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].at_ms, POSTED + 10 * S);
    assert_eq!(
        sent[0].payload.to_go_json(),
        include_str!("../conformance/alertmanager-0.25/firing.json")
    );

    assert!(am.receive(RESOLVED, &[checkout(RESOLVED)]).is_empty());
    let sent = am.flush_due(POSTED + 70 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].at_ms, POSTED + 70 * S);
    assert_eq!(
        sent[0].payload.to_go_json(),
        include_str!("../conformance/alertmanager-0.25/partly-resolved.json")
    );
}
