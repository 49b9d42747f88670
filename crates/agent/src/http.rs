//! The agent's HTTP API: the Alertmanager receiver, incidents, approvals, health and metrics.
//! `router()` returns the axum `Router`, so tests drive it without binding a port.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nightshift_core::{Analyzer, IncidentId, State};
use nightshift_store::IncidentFilter;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde_json::json;

use crate::engine::Engine;
use crate::perceive::alertmanager::{self, MAX_BODY_BYTES};

/// Who may call the API.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// `Authorization: Bearer <token>` accepted when set.
    pub bearer_token: Option<String>,
    /// `Authorization: Basic` user and password accepted when set.
    pub basic: Option<(String, String)>,
}

impl Auth {
    fn required(&self) -> bool {
        self.bearer_token.is_some() || self.basic.is_some()
    }

    fn allows(&self, headers: &HeaderMap) -> bool {
        if !self.required() {
            return true;
        }
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        if let (Some(token), Some(given)) = (&self.bearer_token, value.strip_prefix("Bearer ")) {
            return constant_time_eq(token.as_bytes(), given.trim().as_bytes());
        }
        if let (Some((user, password)), Some(given)) = (&self.basic, value.strip_prefix("Basic ")) {
            let expected = base64_encode(format!("{user}:{password}").as_bytes());
            return constant_time_eq(expected.as_bytes(), given.trim().as_bytes());
        }
        false
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Standard base64, for comparing Basic credentials; written here because it is a dozen lines
/// and only ever encodes a short credential.
fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Shared state of the handlers.
pub struct ApiState<A: Analyzer> {
    /// The loop.
    pub engine: Arc<Engine<A>>,
    /// Credentials.
    pub auth: Auth,
    /// Ready once caches synced and incidents resumed.
    pub ready: std::sync::atomic::AtomicBool,
    /// More metrics for `/metrics` (the model analyzer's calls, tokens and cost), registered
    /// on every scrape.
    pub extra_metrics: std::sync::OnceLock<MetricsHook>,
}

/// Registers metrics of another component into the agent's `/metrics` registry.
pub type MetricsHook = Arc<dyn Fn(&mut Registry) + Send + Sync>;

/// An API failure: a status and a sentence.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"error": self.1}))).into_response()
    }
}

fn unauthorized() -> ApiError {
    ApiError(
        StatusCode::UNAUTHORIZED,
        "missing or invalid credentials: send Authorization: Bearer <token> (or Basic)".into(),
    )
}

/// The router.
pub fn router<A: Analyzer + 'static>(state: Arc<ApiState<A>>) -> Router {
    Router::new()
        .route("/api/v1/alerts/alertmanager", post(alerts::<A>))
        .route("/api/v1/incidents", get(list::<A>))
        .route("/api/v1/incidents/{id}", get(show::<A>))
        .route("/api/v1/incidents/{id}/approve", post(approve::<A>))
        .route("/api/v1/incidents/{id}/reject", post(reject::<A>))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz::<A>))
        .route("/metrics", get(metrics::<A>))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn alerts<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !st.auth.allows(&headers) {
        return Err(unauthorized());
    }
    let signals =
        alertmanager::parse(&body).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let count = signals.len();
    let report = st.engine.ingest(signals).await.map_err(|e| {
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("alerts not recorded: {e}"),
        )
    })?;
    Ok(axum::Json(json!({
        "received": count,
        "new": report.new,
        "duplicates": report.duplicates,
        "resolved": report.resolved,
        "opened": report.opened.iter().map(|i| &i.0).collect::<Vec<_>>(),
        "joined": report.joined.iter().map(|i| &i.0).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
    #[serde(default)]
    open: bool,
    limit: Option<u32>,
}

async fn list<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    if !st.auth.allows(&headers) {
        return Err(unauthorized());
    }
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<State>(json!(s))
                .map_err(|_| ApiError(StatusCode::BAD_REQUEST, format!("unknown state {s:?}")))?,
        ),
    };
    let filter = IncidentFilter {
        state,
        open_only: q.open,
        resource: None,
        limit: q.limit.or(Some(200)),
    };
    let list = st
        .engine
        .store()
        .list(&filter)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(axum::Json(list.iter().map(|s| &s.incident).collect::<Vec<_>>()).into_response())
}

async fn show<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !st.auth.allows(&headers) {
        return Err(unauthorized());
    }
    let id = IncidentId(id);
    let store = st.engine.store();
    let err = |e: nightshift_store::StoreError| {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    };
    let incident = store.get(&id).await.map_err(err)?.ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("incident {} not found", id.0),
        )
    })?;
    Ok(axum::Json(json!({
        "incident": incident.incident,
        "timeline": store.timeline(&id).await.map_err(err)?,
        "analyses": store.analyses(&id).await.map_err(err)?.iter().map(|a| &a.analysis).collect::<Vec<_>>(),
        "decisions": store.decisions(&id).await.map_err(err)?.iter().map(|d| json!({"plan": d.plan, "decision": d.decision})).collect::<Vec<_>>(),
        "actions": store.actions(&id).await.map_err(err)?.iter().map(|a| json!({
            "attempt": a.attempt,
            "action": a.action,
            "idempotency_key": a.idempotency_key,
            "status": format!("{:?}", a.status).to_lowercase(),
            "intended_at": a.intended_at,
            "finished_at": a.finished_at,
            "outcome": a.outcome,
            "error": a.error,
        })).collect::<Vec<_>>(),
        "approvals": store.approvals(&id).await.map_err(err)?.iter().map(|a| json!({
            "status": format!("{:?}", a.status).to_lowercase(),
            "requested_at": a.requested_at,
            "deadline": a.deadline,
            "decided_by": a.decided_by,
            "reason": a.reason,
            "decided_at": a.decided_at,
        })).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct Answer {
    by: String,
    reason: Option<String>,
}

async fn answer<A: Analyzer + 'static>(
    st: Arc<ApiState<A>>,
    headers: HeaderMap,
    id: String,
    body: Bytes,
    approve: bool,
) -> Result<Response, ApiError> {
    if !st.auth.allows(&headers) {
        return Err(unauthorized());
    }
    let a: Answer = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("invalid approval body: {e}; expected {{\"by\": NAME, \"reason\": TEXT}}"),
        )
    })?;
    if a.by.trim().is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "invalid approval body: `by` must name the approver".into(),
        ));
    }
    let state = st
        .engine
        .answer(&IncidentId(id), approve, &a.by, a.reason)
        .await
        .map_err(|e| match e {
            crate::engine::EngineError::NotFound(m) => {
                ApiError(StatusCode::NOT_FOUND, format!("incident {m} not found"))
            }
            crate::engine::EngineError::NotAwaiting { .. } => {
                ApiError(StatusCode::CONFLICT, e.to_string())
            }
            other => ApiError(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        })?;
    Ok(axum::Json(json!({"state": state})).into_response())
}

async fn approve<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    answer(st, headers, id, body, true).await
}

async fn reject<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    answer(st, headers, id, body, false).await
}

async fn readyz<A: Analyzer + 'static>(AxState(st): AxState<Arc<ApiState<A>>>) -> Response {
    if st.ready.load(std::sync::atomic::Ordering::Acquire) {
        "ok".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response()
    }
}

async fn metrics<A: Analyzer + 'static>(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(
            base64_encode(b"alertmanager:s3cret"),
            "YWxlcnRtYW5hZ2VyOnMzY3JldA=="
        );
    }

    #[test]
    fn credentials() {
        let a = Auth {
            bearer_token: Some("t0ken".into()),
            basic: Some(("am".into(), "pw".into())),
        };
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::AUTHORIZATION, v.parse().unwrap());
            m
        };
        assert!(a.allows(&h("Bearer t0ken")));
        assert!(!a.allows(&h("Bearer nope")));
        assert!(a.allows(&h(&format!("Basic {}", base64_encode(b"am:pw")))));
        assert!(!a.allows(&HeaderMap::new()));
        assert!(Auth::default().allows(&HeaderMap::new()));
    }
}
