//! The agent's own metrics in the OpenMetrics text format (`GET /metrics`).

use std::sync::Arc;

use axum::extract::State as AxState;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use nightshift_core::Analyzer;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{ApiError, ApiState};

pub(super) async fn metrics<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
) -> Result<Response, ApiError> {
    let stats = st
        .engine
        .store()
        .stats()
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let mut reg = Registry::default();
    let by_state = Family::<Vec<(String, String)>, Gauge>::default();
    reg.register(
        "nightshift_incidents",
        "Incidents by state",
        by_state.clone(),
    );
    for (s, n) in &stats.incidents_by_state {
        let state = serde_json::to_value(s)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        by_state
            .get_or_create(&vec![("state".into(), state)])
            .set(*n as i64);
    }
    let actions = Family::<Vec<(String, String)>, Counter>::default();
    reg.register(
        "nightshift_actions",
        "Actions by type and outcome",
        actions.clone(),
    );
    for a in &stats.actions {
        let status = serde_json::to_value(a.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        actions
            .get_or_create(&vec![
                ("action".into(), a.action.to_string()),
                ("outcome".into(), status),
            ])
            .inc_by(a.count);
    }
    let signals = Counter::<u64>::default();
    signals.inc_by(stats.signals);
    reg.register("nightshift_signals", "Signals received", signals);
    let pending = Gauge::<i64>::default();
    pending.set(stats.pending_approvals as i64);
    reg.register(
        "nightshift_pending_approvals",
        "Plans waiting for a human",
        pending,
    );
    let buckets = [
        1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0,
    ];
    let ttd = Histogram::new(buckets);
    let ttm = Histogram::new(buckets);
    let ratio = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    if let Ok(c) = st.engine.counters.lock() {
        c.detect_seconds.iter().for_each(|v| ttd.observe(*v));
        c.mitigate_seconds.iter().for_each(|v| ttm.observe(*v));
        let total = c.auto_resolved + c.human;
        ratio.set(if total == 0 {
            0.0
        } else {
            c.auto_resolved as f64 / total as f64
        });
    }
    reg.register(
        "nightshift_time_to_detect_seconds",
        "From the first signal to the incident opened",
        ttd,
    );
    reg.register(
        "nightshift_time_to_mitigate_seconds",
        "From the incident opened to recovery verified",
        ttm,
    );
    reg.register(
        "nightshift_auto_resolution_ratio",
        "Incidents resolved without a human, of those finished",
        ratio,
    );
    let backlog = Family::<Vec<(String, String)>, Gauge>::default();
    reg.register(
        "nightshift_backlog",
        "Incidents in flight by where they are: ready for a worker, running, waiting for a time",
        backlog.clone(),
    );
    let b = st.engine.backlog();
    for (place, n) in [
        ("ready", b.ready),
        ("running", b.running),
        ("waiting", b.waiting),
    ] {
        backlog
            .get_or_create(&vec![("where".into(), place.into())])
            .set(n as i64);
    }
    let policy = Family::<Vec<(String, String)>, Gauge>::default();
    reg.register(
        "nightshift_policy",
        "The policy in force (its mode), and 1 in `refused` while a change of its file does not load",
        policy.clone(),
    );
    let mode = st.engine.policy().mode.as_str().to_string();
    policy.get_or_create(&vec![("mode".into(), mode)]).set(1);
    policy
        .get_or_create(&vec![("mode".into(), "refused".into())])
        .set(i64::from(st.engine.policy_problem().is_some()));
    let leads = Gauge::<i64>::default();
    leads.set(i64::from(matches!(
        st.engine.lead().standing(),
        crate::lead::Standing::Leads(_)
    )));
    reg.register(
        "nightshift_leader",
        "1 while this replica runs the engine (it holds the Lease, or runs alone)",
        leads,
    );
    let open = Gauge::<i64>::default();
    open.set(st.server.open.load(std::sync::atomic::Ordering::Relaxed) as i64);
    reg.register("nightshift_http_connections", "HTTP connections open", open);
    let closed = Family::<Vec<(String, String)>, Counter>::default();
    reg.register(
        "nightshift_http_connections_shed",
        "HTTP connections closed to make room (evicted) or refused because all were busy",
        closed.clone(),
    );
    for (why, n) in [
        (
            "evicted",
            st.server.evicted.load(std::sync::atomic::Ordering::Relaxed),
        ),
        (
            "refused",
            st.server.refused.load(std::sync::atomic::Ordering::Relaxed),
        ),
    ] {
        closed
            .get_or_create(&vec![("why".into(), why.into())])
            .inc_by(n);
    }
    if let Some(outbox) = &st.outbox {
        notification_metrics(&mut reg, outbox, st.engine.store()).await;
    }
    if let Some(hook) = st.extra_metrics.get() {
        hook(&mut reg);
    }
    let mut text = String::new();
    encode(&mut text, &reg)
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Deliveries per destination and outcome, failed tries, and what is still pending.
async fn notification_metrics(
    reg: &mut Registry,
    outbox: &crate::notify::Outbox,
    store: &nightshift_store::Store,
) {
    let delivered = Family::<Vec<(String, String)>, Counter>::default();
    reg.register(
        "nightshift_notifications",
        "Notifications per destination and outcome (delivered, given_up, skipped by routing)",
        delivered.clone(),
    );
    let failed = Family::<Vec<(String, String)>, Counter>::default();
    reg.register(
        "nightshift_notification_failed_tries",
        "Delivery tries that failed and will be repeated",
        failed.clone(),
    );
    let pending = Family::<Vec<(String, String)>, Gauge>::default();
    reg.register(
        "nightshift_notifications_pending",
        "Notifications waiting for delivery, per destination",
        pending.clone(),
    );
    for (name, c) in outbox.counts() {
        let labels = |outcome: &str| {
            vec![
                ("destination".to_string(), name.clone()),
                ("kind".to_string(), c.kind.to_string()),
                ("outcome".to_string(), outcome.to_string()),
            ]
        };
        delivered
            .get_or_create(&labels("delivered"))
            .inc_by(c.delivered);
        delivered
            .get_or_create(&labels("given_up"))
            .inc_by(c.given_up);
        delivered
            .get_or_create(&labels("skipped"))
            .inc_by(c.skipped);
        failed
            .get_or_create(&vec![
                ("destination".to_string(), name.clone()),
                ("kind".to_string(), c.kind.to_string()),
            ])
            .inc_by(c.failed_tries);
        pending
            .get_or_create(&vec![("destination".to_string(), name.clone())])
            .set(0);
    }
    if let Ok(backlog) = store.outbox_backlog().await {
        for (name, n) in backlog {
            pending
                .get_or_create(&vec![("destination".to_string(), name)])
                .set(n as i64);
        }
    }
}
