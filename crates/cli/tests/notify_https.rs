//! Notifications over https against a local TLS server whose certificate a test CA signed
//! (the simulated cluster's fixed test material: `localhost` and `127.0.0.1`): with the CA in
//! `tls.ca_file` they are delivered; without it, or reached by a name the certificate does not
//! carry, nothing is delivered and the incident's record says why.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::StatusCode;
use axum::routing::post;
use nightshift::lab::{Lab, LabOptions};
use nightshift_sim::api::tls::{CA_PEM, TlsListener};
use nightshift_store::{IncidentFilter, NoticeRecord, NoticeStatus};
use serde_json::Value;

fn scenario(name: &str) -> nightshift_scenario::Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(format!("{name}.yaml"));
    nightshift_scenario::load_file(&path).unwrap()
}

/// An https webhook receiver on `ip`, keeping what it gets in `got`; returns its port.
async fn tls_receiver(ip: &str, got: &Arc<Mutex<Vec<Value>>>) -> u16 {
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |Json(body): Json<Value>| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(body);
                StatusCode::OK
            }
        }),
    );
    let tcp = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(TlsListener::new(tcp), app).await.unwrap() });
    port
}

/// Runs the lab with notifications to `url` trusting `ca_file`, until the first incident has
/// a notification record that `done` accepts; returns that record.
async fn notify(
    url: String,
    ca_file: Option<PathBuf>,
    done: impl Fn(&[NoticeRecord]) -> bool,
) -> Vec<NoticeRecord> {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.speed = 60.0;
    opts.notify_webhook = Some(url);
    opts.tls = nightshift_net::TlsSettings { ca_file };
    let lab = Lab::start(&scenario("bad-rollout-catalog-crash"), opts)
        .await
        .unwrap();
    let store = lab.agent.engine.store().clone();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list = store.list(&IncidentFilter::default()).await.unwrap();
        if let Some(i) = list.first() {
            let record = store.notices(&i.incident.id).await.unwrap();
            if done(&record) {
                lab.stop();
                return record;
            }
        }
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_ca_file_is_delivered_and_without_it_is_refused_with_the_reason() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let port = tls_receiver("127.0.0.1", &got).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, CA_PEM).unwrap();

    // Trusted through tls.ca_file: delivered over https.
    let record = notify(
        format!("https://localhost:{port}/hook"),
        Some(ca.clone()),
        |r| r.iter().any(|n| n.status == NoticeStatus::Delivered),
    )
    .await;
    assert_eq!(record[0].status, NoticeStatus::Delivered, "{record:?}");
    assert_eq!(got.lock().unwrap()[0]["kind"], "incident_opened");

    // The system's roots alone do not know the test CA: the try fails with TLS's reason, the
    // notification stays pending (the server may get a certificate people trust).
    let before = got.lock().unwrap().len();
    let record = notify(format!("https://localhost:{port}/hook"), None, |r| {
        r.iter().any(|n| n.error.is_some())
    })
    .await;
    let error = record[0].error.clone().unwrap();
    assert_eq!(record[0].status, NoticeStatus::Pending);
    assert!(error.contains("UnknownIssuer"), "{error}");

    // A name the certificate does not carry (127.0.0.2 is loopback too): refused, naming it.
    let other = tls_receiver("127.0.0.2", &got).await;
    let record = notify(format!("https://127.0.0.2:{other}/hook"), Some(ca), |r| {
        r.iter().any(|n| n.error.is_some())
    })
    .await;
    let error = record[0].error.clone().unwrap();
    assert!(
        error.contains("not valid for name") && error.contains("127.0.0.2"),
        "{error}"
    );
    assert_eq!(got.lock().unwrap().len(), before, "nothing was delivered");
}
