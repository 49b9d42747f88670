//! The agent's API as an attacker and a careless operator would try it: credentials that are
//! named but missing, an open API beyond loopback, the receiver's credential used to approve,
//! an approver's name forged in the body, bodies sent before authentication, half-sent
//! headers, idle connections by the hundred, a client over its alert rate, and a client that
//! goes away while its alerts are recorded.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use nightshift::lab::{LAB_POLICY, Lab, LabOptions};
use nightshift_agent::engine::EngineConfig;
use nightshift_agent::http::{Auth, Credential, HttpLimits, Role};
use nightshift_core::State;
use nightshift_core::policy::Policy;
use nightshift_store::{ApprovalStatus, IncidentFilter};
use serde_json::{Value, json};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nightshift"))
}

fn scenario(name: &str) -> nightshift_scenario::Scenario {
    nightshift_scenario::load_file(&common::scenario_path(name)).unwrap()
}

fn basic(user: &str, password: &str) -> String {
    // The header value a client sends; the agent never decodes it.
    let raw = format!("{user}:{password}");
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in raw.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                table[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    format!("Basic {out}")
}

fn credentials() -> Auth {
    Auth::with(vec![
        Credential::bearer("ops", Role::Admin, "ops-token"),
        Credential::bearer("alice", Role::Approver, "alice-token")
            .in_namespaces(vec!["shop".into()]),
        Credential::bearer("bob", Role::Approver, "bob-token")
            .in_namespaces(vec!["payments".into()]),
        Credential::bearer("grafana", Role::Viewer, "viewer-token"),
        Credential::basic("alertmanager", "am-password"),
    ])
}

async fn quiet_lab(dir: &tempfile::TempDir, auth: Auth, limits: HttpLimits) -> Lab {
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.auth = auth;
    opts.limits = limits;
    opts.watchers = false;
    opts.monitoring = false;
    Lab::start(&scenario("noop-quiet-shop"), opts)
        .await
        .unwrap()
}

fn alert(name: &str, pod: &str) -> Value {
    json!({
        "status": "firing",
        "labels": {"alertname": name, "namespace": "shop", "pod": pod, "severity": "warning"},
        "annotations": {"summary": "x"},
        "startsAt": chrono::Utc::now().to_rfc3339(),
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": format!("{name}-{pod}"),
    })
}

fn webhook(alerts: Vec<Value>) -> String {
    json!({"version": "4", "status": "firing", "groupKey": "{}:{}", "alerts": alerts}).to_string()
}

/// A raw exchange: writes `request`, then reads what comes back within `wait` (the status
/// line's code, or `None` when the server closed without answering).
fn raw(port: u16, request: &[u8], wait: Duration) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(request).unwrap();
    let mut buf = [0u8; 64];
    let code = match s.read(&mut buf) {
        Ok(n) if n >= 12 => std::str::from_utf8(&buf[9..12])
            .ok()
            .and_then(|c| c.parse().ok()),
        _ => None,
    };
    (code, started.elapsed())
}

#[test]
fn a_credential_variable_that_is_named_but_unset_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    for (config, var) in [
        (
            "token_env: NIGHTSHIFT_TEST_UNSET_TOKEN\n",
            "NIGHTSHIFT_TEST_UNSET_TOKEN",
        ),
        (
            "tokens:\n  - {name: alice, role: approver, token_env: NIGHTSHIFT_TEST_EMPTY}\n",
            "NIGHTSHIFT_TEST_EMPTY",
        ),
        (
            "basic_user: am\nbasic_password_env: NIGHTSHIFT_TEST_UNSET_PW\n",
            "NIGHTSHIFT_TEST_UNSET_PW",
        ),
    ] {
        let path = dir.path().join("nightshift.yaml");
        std::fs::write(&path, format!("listen: 127.0.0.1:0\n{config}")).unwrap();
        let out = Command::new(bin())
            .args(["run", "--config"])
            .arg(&path)
            .env_remove("NIGHTSHIFT_TEST_UNSET_TOKEN")
            .env_remove("NIGHTSHIFT_TEST_UNSET_PW")
            .env("NIGHTSHIFT_TEST_EMPTY", "")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{config}: {err}");
        assert!(err.contains(var), "the error names {var}: {err}");
    }
}

#[test]
fn an_open_api_beyond_loopback_needs_auth_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nightshift.yaml");
    std::fs::write(&path, "listen: 0.0.0.0:0\n").unwrap();
    let out = Command::new(bin())
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("without authentication") && err.contains("auth: none"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receivers_credential_posts_alerts_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let lab = quiet_lab(&dir, credentials(), HttpLimits::default()).await;
    let base = format!("http://{}", lab.agent.addr);
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();
    let am = basic("alertmanager", "am-password");
    let r = http
        .post(format!("{base}/api/v1/alerts/alertmanager"))
        .header("authorization", &am)
        .body(webhook(vec![alert("KubePodCrashLooping", "checkout-1")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (method, path) in [
        ("GET", "/api/v1/incidents".to_string()),
        ("POST", "/api/v1/incidents/inc-000001/approve".to_string()),
        ("POST", "/api/v1/incidents/inc-000001/reject".to_string()),
    ] {
        let r = http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .header("authorization", &am)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{method} {path}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("receiver"),
            "{body}"
        );
    }
    // A viewer reads but cannot post alerts or approve; lower-case `bearer` is the same scheme.
    let r = http
        .get(format!("{base}/api/v1/incidents"))
        .header("authorization", "bearer viewer-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{base}/api/v1/alerts/alertmanager"))
        .bearer_auth("viewer-token")
        .body(webhook(vec![]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    lab.stop();
}

/// Approve mode: the approver recorded is the token's name; a `by` naming someone else and a
/// reason with a forged timeline line are refused or flattened; an approver of another
/// namespace is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_is_recorded_as_the_authenticated_identity() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.speed = 60.0;
    let lab_policy = LAB_POLICY.replace("\nmode: auto\n", "\nmode: approve\n");
    opts.policy = Policy::parse(&lab_policy, "test policy").unwrap();
    opts.engine = EngineConfig {
        settle: Duration::from_secs(5),
        ..EngineConfig::default()
    };
    opts.auth = Auth::with(vec![
        Credential::bearer("ops", Role::Admin, "ops-token"),
        Credential::bearer("carol", Role::Approver, "carol-token"),
        Credential::bearer("bob", Role::Approver, "bob-token")
            .in_namespaces(vec!["elsewhere".into()]),
        Credential::basic("alertmanager", "am-password"),
    ]);
    let lab = Lab::start(&scenario("hang-orders-worker-deadlock"), opts)
        .await
        .unwrap();
    let store = lab.agent.engine.store().clone();
    let deadline = Instant::now() + Duration::from_secs(150);
    let id = loop {
        let list = store.list(&IncidentFilter::default()).await.unwrap();
        if let Some(i) = list
            .into_iter()
            .find(|i| i.incident.state == State::AwaitingApproval)
        {
            break i.incident.id;
        }
        assert!(Instant::now() < deadline, "no approval was asked for");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let base = format!("http://{}/api/v1/incidents/{}", lab.agent.addr, id.0);
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();
    let post = |token: &'static str, body: Value| {
        let http = http.clone();
        let url = format!("{base}/approve");
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // Someone else's name in the body: refused, nothing decided.
    let r = post("carol-token", json!({"by": "the-cto\n[+00:00] approved"})).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("authenticated"));
    // An approver limited to another namespace: refused.
    let r = post("bob-token", json!({"reason": "lgtm"})).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().incident.state,
        State::AwaitingApproval
    );
    // `nightshift approve --agent` without its token: refused, naming the variable.
    let (incident, agent) = (id.0.clone(), format!("http://{}", lab.agent.addr));
    let cli = move |token: Option<&'static str>| {
        let mut cmd = Command::new(bin());
        cmd.args([
            "approve",
            &incident,
            "--agent",
            &agent,
            "--token-env",
            "NIGHTSHIFT_TEST_APPROVER_TOKEN",
            "--reason",
            "checked\n[2026-01-01T00:00:00Z] approved by the-cto\u{1b}[2J",
        ]);
        match token {
            Some(t) => cmd.env("NIGHTSHIFT_TEST_APPROVER_TOKEN", t),
            None => cmd.env_remove("NIGHTSHIFT_TEST_APPROVER_TOKEN"),
        };
        cmd.output().unwrap()
    };
    let c = cli.clone();
    let out = tokio::task::spawn_blocking(move || c(None)).await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NIGHTSHIFT_TEST_APPROVER_TOKEN"));
    // The approver, through the CLI against the agent: recorded as its token's name, the
    // reason on one line.
    let out = tokio::task::spawn_blocking(move || cli(Some("carol-token")))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let approvals = store.approvals(&id).await.unwrap();
    let a = approvals.last().unwrap();
    assert_eq!(a.status, ApprovalStatus::Approved);
    assert_eq!(a.decided_by.as_deref(), Some("carol"));
    let reason = a.reason.clone().unwrap();
    assert!(!reason.chars().any(char::is_control), "{reason:?}");
    assert!(reason.starts_with("checked [2026"), "{reason:?}");
    for e in store.timeline(&id).await.unwrap() {
        assert!(
            !e.message.chars().any(char::is_control),
            "a timeline line with a control character: {:?}",
            e.message
        );
    }
    lab.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_is_not_read_before_its_sender_is_authenticated() {
    let dir = tempfile::tempdir().unwrap();
    let lab = quiet_lab(&dir, credentials(), HttpLimits::default()).await;
    let port = lab.agent.addr.port();
    // Headers announcing 31 MB, then nothing: the answer comes without the body.
    let head = b"POST /api/v1/alerts/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 31000000\r\n\r\n";
    let (code, _) = raw(port, head, Duration::from_secs(10));
    assert_eq!(code, Some(401), "refused before any of the body was read");
    // An authenticated sender announcing more than the limit: 413 at once.
    let head = format!(
        "POST /api/v1/alerts/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ops-token\r\nContent-Length: {}\r\n\r\n",
        64 * 1024 * 1024
    );
    let (code, _) = raw(port, head.as_bytes(), Duration::from_secs(10));
    assert_eq!(code, Some(413));
    lab.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_off_and_the_api_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let limits = HttpLimits {
        max_connections: 64,
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        ..HttpLimits::default()
    };
    let lab = quiet_lab(&dir, credentials(), limits).await;
    let port = lab.agent.addr.port();
    // Half-sent headers: the connection is closed after the header timeout.
    let (code, took) = raw(
        port,
        b"GET /healthz HTTP/1.1\r\nHost:",
        Duration::from_secs(15),
    );
    assert_eq!(code, None);
    assert!(took < Duration::from_secs(15), "the server closed it");
    // A body that never finishes: 408.
    let head = b"POST /api/v1/alerts/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ops-token\r\nContent-Length: 100\r\n\r\n{\"vers";
    let (code, _) = raw(port, head, Duration::from_secs(15));
    assert_eq!(code, Some(408));
    // Ten times the connection cap held open and idle: health still answers.
    let idle: Vec<TcpStream> = (0..640)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert!(idle.len() > 64);
    assert!(
        common::http_ok(port, "/healthz"),
        "healthz answers past the idle connections"
    );
    let r = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{port}/api/v1/incidents"))
        .bearer_auth("viewer-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(idle);
    lab.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_alert_rate_is_told_to_wait_and_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let limits = HttpLimits {
        alerts_per_second: 5.0,
        alert_burst: 10.0,
        ..HttpLimits::default()
    };
    let lab = quiet_lab(&dir, credentials(), limits).await;
    let url = format!("http://{}/api/v1/alerts/alertmanager", lab.agent.addr);
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();
    let batch = |prefix: &str| {
        webhook(
            (0..12)
                .map(|i| alert("KubePodCrashLooping", &format!("{prefix}-{i}")))
                .collect(),
        )
    };
    let am = basic("alertmanager", "am-password");
    let send = |auth: String, body: String| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.post(url)
                .header("authorization", auth)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(send(am.clone(), batch("a")).await.status(), 200);
    let r = send(am.clone(), batch("b")).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("alertmanager"),
        "{body}"
    );
    // Another client is not held back by the first one's flood.
    assert_eq!(
        send("Bearer ops-token".into(), batch("c")).await.status(),
        200
    );
    let stats = lab.agent.engine.store().stats().await.unwrap();
    assert_eq!(stats.signals, 24, "the refused batch recorded nothing");
    lab.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_from_a_client_that_goes_away_are_recorded_and_worked_on() {
    let dir = tempfile::tempdir().unwrap();
    let lab = quiet_lab(&dir, Auth::open(false), HttpLimits::default()).await;
    let port = lab.agent.addr.port();
    let body = webhook(
        (0..300)
            .map(|i| alert("KubePodCrashLooping", &format!("checkout-{i}")))
            .collect(),
    );
    let request = format!(
        "POST /api/v1/alerts/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        // Gone before the answer: both directions shut, the socket dropped unread.
        s.shutdown(std::net::Shutdown::Both).unwrap();
    }
    let store = lab.agent.engine.store().clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stats = store.stats().await.unwrap();
        let list = store.list(&IncidentFilter::default()).await.unwrap();
        if stats.signals == 300
            && !list.is_empty()
            && list.iter().all(|i| i.incident.state != State::Open)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the alerts were not all recorded and worked on: {} signals, states {:?}",
            stats.signals,
            list.iter().map(|i| i.incident.state).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    lab.stop();
}

#[tokio::test]
async fn notes_are_recorded_as_the_authenticated_identity_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lab = quiet_lab(&dir, credentials(), HttpLimits::default()).await;
    let store = lab.agent.engine.store().clone();
    let opened = store
        .create_incident(&nightshift_store::NewIncident {
            resource: nightshift_core::ResourceRef::deployment("shop", "checkout"),
            title: "checkout is OOMKilled".into(),
            opened_at: chrono::Utc::now(),
            signal: None,
        })
        .await
        .unwrap();
    let id = opened.incident.id.clone();
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();
    let base = format!("http://{}", lab.agent.addr);
    let post = |token: Option<&'static str>, incident: &str, body: &'static str| {
        let mut req = http
            .post(format!("{base}/api/v1/incidents/{incident}/notes"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let entries = || async { store.timeline(&id).await.unwrap().len() };
    let before = entries().await;
    let good = r#"{"text": "the memo never evicts; token=abcdefabcdef123456"}"#;
    assert_eq!(post(None, &id.0, good).await.0, 401);
    assert_eq!(post(Some("viewer-token"), &id.0, good).await.0, 403);
    let (status, body) = post(Some("alice-token"), &id.0, r#"{"txt": "x"}"#).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid note body"), "{body}");
    let (status, body) = post(Some("alice-token"), &id.0, r#"{"text": "  "}"#).await;
    assert_eq!((status, body.contains("empty")), (400, true), "{body}");
    let (status, body) = post(Some("alice-token"), "inc-000404", good).await;
    assert_eq!((status, body.contains("inc-000404")), (404, true), "{body}");
    assert_eq!(entries().await, before, "a refused note wrote something");

    let (status, body) = post(Some("alice-token"), &id.0, good).await;
    assert_eq!(status, 201, "{body}");
    let note: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(note["by"], "alice");
    assert!(
        !body.contains("abcdefabcdef123456"),
        "a secret was kept: {body}"
    );
    assert_eq!(entries().await, before + 1);
    // The knowledge base answers viewers.
    let r = http
        .get(format!("{base}/api/v1/kb?q=OOMKilled"))
        .bearer_auth("viewer-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    lab.stop();
}
