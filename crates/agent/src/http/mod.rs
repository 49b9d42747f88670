//! The agent's HTTP API: the Alertmanager receiver, incidents, approvals, health and metrics.
//! `router()` returns the axum `Router`, so tests drive it without binding a port; `serve` runs
//! it behind the connection limits and timeouts of [`HttpLimits`].
//!
//! Every route but health and metrics authenticates from the headers before its body is read
//! (a route layer runs before the handler's extractors), so an unauthenticated caller cannot
//! make the agent buffer anything. Work a request starts (recording alerts, answering an
//! approval) runs in its own task: a client that goes away does not cancel it half-way.
//! Every error of the API is a JSON `{"error": ...}` with its status (401, 403, 404, 408, 409,
//! 413, 429, 503). The web console's pages under `/console` (see `crate::console`) answer theirs
//! as HTML pages.

mod admission;
pub(crate) mod knowledge;
mod metrics;
mod serve;
pub mod slack;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, Query, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nightshift_core::{Analyzer, IncidentId, State};
use nightshift_store::IncidentFilter;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde_json::json;

pub use self::admission::Admission;
pub use self::serve::{HttpLimits, Peer, ServerStats, serve};
pub use crate::auth::{Auth, AuthError, Credential, Identity, Role, Scope};
use crate::engine::Engine;
use crate::perceive::alertmanager;

/// The longest approval reason kept, in characters.
const MAX_REASON_CHARS: usize = 1000;

/// Shared state of the handlers.
pub struct ApiState<A: Analyzer> {
    /// The loop.
    pub engine: Arc<Engine<A>>,
    /// Credentials.
    pub auth: Auth,
    /// Sizes, timeouts and rates.
    pub limits: HttpLimits,
    /// Alerts admitted per client.
    pub admission: Admission,
    /// Ready once caches synced and incidents resumed.
    pub ready: AtomicBool,
    /// What an operator should know on `/readyz` (e.g. an API served without authentication).
    pub warnings: Vec<String>,
    /// More metrics for `/metrics` (the model analyzer's calls, tokens and cost), registered
    /// on every scrape.
    pub extra_metrics: std::sync::OnceLock<MetricsHook>,
    /// The server's connection counters.
    pub server: Arc<ServerStats>,
    /// Notification delivery, when destinations are configured (its counts go to
    /// `/metrics`; chat integrations answer their interactions through it).
    pub outbox: Option<Arc<crate::notify::Outbox>>,
    /// Sessions of the web console (`/console`).
    pub console: crate::console::session::Sessions,
    /// Signing in to the console through an OpenID Connect provider, when configured (set
    /// once, as the agent starts).
    pub oidc: std::sync::OnceLock<crate::console::oidc::Oidc>,
    /// Requests being handled, for the cap of [`HttpLimits::max_requests`].
    in_flight: tokio::sync::Semaphore,
}

impl<A: Analyzer + 'static> ApiState<A> {
    /// The state of an API over `engine`.
    pub fn new(engine: Arc<Engine<A>>, auth: Auth, limits: HttpLimits) -> Self {
        let console = crate::console::session::Sessions::new(
            engine.store().clone(),
            crate::console::session::DEFAULT_LIFETIME,
        );
        ApiState {
            engine,
            auth,
            admission: Admission::new(limits.alerts_per_second, limits.alert_burst),
            in_flight: tokio::sync::Semaphore::new(limits.max_requests.max(1)),
            limits,
            ready: AtomicBool::new(false),
            warnings: vec![],
            server: Arc::default(),
            extra_metrics: std::sync::OnceLock::new(),
            outbox: None,
            console,
            oidc: std::sync::OnceLock::new(),
        }
    }
}

impl<A: Analyzer> ApiState<A> {
    /// A place among the requests handled at once, held until the permit drops; 503 when
    /// [`HttpLimits::max_requests`] are handled already.
    pub(crate) fn admit_request(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        self.in_flight.try_acquire().map_err(|_| {
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the agent is handling {} requests already; try again shortly",
                    self.limits.max_requests
                ),
            )
        })
    }
}

/// Registers metrics of another component into the agent's `/metrics` registry.
pub type MetricsHook = Arc<dyn Fn(&mut Registry) + Send + Sync>;

/// An API failure: a status and a sentence, answered as `{"error": ...}`.
#[derive(Debug)]
pub struct ApiError(pub(crate) StatusCode, pub(crate) String);

impl ApiError {
    fn internal(e: impl std::fmt::Display) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.0, axum::Json(json!({"error": self.1}))).into_response();
        if matches!(
            self.0,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = match e {
            AuthError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AuthError::Forbidden { .. } => StatusCode::FORBIDDEN,
        };
        ApiError(status, e.to_string())
    }
}

/// The router.
pub fn router<A: Analyzer + 'static>(state: Arc<ApiState<A>>) -> Router {
    let guarded = |scope: Scope| middleware::from_fn_with_state((state.clone(), scope), guard::<A>);
    let alerts = Router::new()
        .route("/api/v1/alerts/alertmanager", post(alerts::<A>))
        .route_layer(guarded(Scope::PostAlerts));
    let read = Router::new()
        .route("/api/v1/incidents", get(list::<A>))
        .route("/api/v1/incidents/{id}", get(show::<A>))
        .route("/api/v1/kb", get(knowledge::search::<A>))
        .route("/api/v1/kb/entries/{*id}", get(knowledge::entry::<A>))
        .route_layer(guarded(Scope::Read));
    let approve = Router::new()
        .route("/api/v1/incidents/{id}/approve", post(approve::<A>))
        .route("/api/v1/incidents/{id}/reject", post(reject::<A>))
        .route("/api/v1/incidents/{id}/notes", post(knowledge::note::<A>))
        .route_layer(guarded(Scope::Approve));
    Router::new()
        .merge(alerts)
        .merge(read)
        .merge(approve)
        // Signed in through a session instead of a bearer token (see console/).
        .merge(crate::console::router(state.clone()))
        // Signed by Slack instead of carrying the API's credentials (see slack.rs).
        .route("/api/v1/slack/interactions", post(slack::interactions::<A>))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz::<A>))
        .route("/metrics", get(metrics::metrics::<A>))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such path".into()) })
        .layer(middleware::map_response(json_errors))
        .with_state(state)
}

/// Authenticates and authorizes from the headers alone, before anything reads the body, and
/// caps the requests handled at once.
async fn guard<A: Analyzer + 'static>(
    AxState((st, scope)): AxState<(Arc<ApiState<A>>, Scope)>,
    mut req: Request,
    next: Next,
) -> Response {
    let id = match st.auth.authorize(req.headers(), scope) {
        Ok(id) => id,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let _permit = match st.admit_request() {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(id);
    next.run(req).await
}

/// Errors made below the handlers (a method not allowed, a path parameter that does not
/// parse) answered as JSON like the handlers' own.
async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let answered = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    // The console's pages answer their errors as HTML pages, and keep them.
    if !(status.is_client_error() || status.is_server_error()) || answered {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let text = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut out = ApiError(status, text).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// Reads a body of at most `limit` bytes within `timeout`: 413 past the limit (at once when
/// the declared length says so), 408 when the client is too slow.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the {limit}-byte limit of this route"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(ApiError(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {}s", timeout.as_secs_f64()),
        )),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            let limit_hit = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if limit_hit {
                Err(too_large())
            } else {
                Err(ApiError(
                    StatusCode::BAD_REQUEST,
                    format!("the body could not be read: {e}"),
                ))
            }
        }
    }
}

async fn alerts<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    Extension(id): Extension<Identity>,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(
        &headers,
        body,
        st.limits.max_alert_body,
        st.limits.body_read_timeout,
    )
    .await?;
    // Times are judged against the agent's clock (the cluster's, against the simulated one).
    let signals = alertmanager::parse_at(&body, st.engine.now())
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
    let count = signals.len();
    // Clients are told apart by credential; without authentication, by address.
    let client = match (&peer, st.auth.required()) {
        (Some(Extension(Peer(addr))), false) => addr.ip().to_string(),
        _ => id.name.clone(),
    };
    if let Err(wait) = st.admission.admit(&client, count) {
        return Err(ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{client} sent more than {} alerts/s (burst {}); retry in {:.1}s",
                st.limits.alerts_per_second,
                st.limits.alert_burst,
                wait.as_secs_f64()
            ),
        ));
    }
    // The recording runs in its own task: if the client goes away, the alerts it sent are
    // still recorded and their incidents opened and started.
    let engine = st.engine.clone();
    let report = tokio::spawn(async move { engine.ingest(signals).await })
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
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

/// `GET /api/v1/incidents`'s parameters: the console's filters (`namespace`, `q`, and with
/// `awaiting_first` its order) over the same store call, and a page (`offset`, `limit`).
#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
    #[serde(default)]
    open: bool,
    namespace: Option<String>,
    q: Option<String>,
    #[serde(default)]
    awaiting_first: bool,
    offset: Option<u32>,
    limit: Option<u32>,
}

async fn list<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<State>(json!(s))
                .map_err(|_| ApiError(StatusCode::BAD_REQUEST, format!("unknown state {s:?}")))?,
        ),
    };
    if let Some(text) = &q.q {
        let chars = text.chars().count();
        if chars > IncidentFilter::MAX_TEXT_CHARS {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!(
                    "the parameter q is {chars} characters long; search for at most {}",
                    IncidentFilter::MAX_TEXT_CHARS
                ),
            ));
        }
    }
    let filter = IncidentFilter {
        state,
        open_only: q.open,
        resource: None,
        namespace: q.namespace.filter(|n| !n.is_empty()),
        text: q.q,
        awaiting_first: q.awaiting_first,
        offset: q.offset,
        limit: Some(q.limit.unwrap_or(200).min(10_000)),
    };
    let list = st
        .engine
        .store()
        .list(&filter)
        .await
        .map_err(ApiError::internal)?;
    Ok(axum::Json(list.iter().map(|s| &s.incident).collect::<Vec<_>>()).into_response())
}

async fn show<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
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
            "id": a.id.0,
            "decision_id": a.decision.map(|d| d.0),
            "status": format!("{:?}", a.status).to_lowercase(),
            "requested_at": a.requested_at,
            "deadline": a.deadline,
            "decided_by": a.decided_by,
            "reason": a.reason,
            "decided_at": a.decided_at,
            "votes": a.votes.iter().map(|v| json!({
                "by": v.by,
                "verdict": format!("{:?}", v.verdict).to_lowercase(),
                "reason": v.reason,
                "at": v.at,
                "required": v.required,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "notifications": store.notices(&id).await.map_err(err)?,
    }))
    .into_response())
}

/// The body of `approve` and `reject`. The approver is the authenticated identity; a `by` that
/// names someone else is refused rather than recorded.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

async fn answer<A: Analyzer + 'static>(
    st: Arc<ApiState<A>>,
    who: Identity,
    headers: HeaderMap,
    id: String,
    body: Body,
    approve: bool,
) -> Result<Response, ApiError> {
    let body = read_body(&headers, body, 16 * 1024, st.limits.body_read_timeout).await?;
    let a: Answer = if body.iter().all(u8::is_ascii_whitespace) {
        Answer {
            by: None,
            reason: None,
        }
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("invalid approval body: {e}; expected {{\"reason\": TEXT}}"),
            )
        })?
    };
    if let Some(by) = &a.by
        && by.trim() != who.name
    {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid approval body: `by` names {:?}, but this request is authenticated as {:?}; the approver recorded is always the authenticated identity, so leave `by` out",
                nightshift_core::text::one_line(by, 80),
                who.name
            ),
        ));
    }
    let id = IncidentId(id);
    let incident = st
        .engine
        .store()
        .get(&id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!("incident {} not found", id.0),
            )
        })?;
    let namespace = incident.incident.resource.namespace();
    if !who.may_approve_in(namespace) {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "{} may not answer approvals in {}",
                who.name,
                namespace.map_or("cluster-scoped resources".to_string(), |n| format!(
                    "namespace {n}"
                ))
            ),
        ));
    }
    let reason = a
        .reason
        .map(|r| nightshift_core::text::one_line(&r, MAX_REASON_CHARS))
        .filter(|r| !r.is_empty());
    // Answered in its own task, so a client that goes away cannot cut the answer in half.
    // The engine checks the policy's approvers and counts the vote towards min_approvers.
    let engine = st.engine.clone();
    let vote = tokio::spawn(async move { engine.vote(&id, approve, &who.name, reason).await })
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            use crate::engine::EngineError;
            match e {
                EngineError::NotFound(m) => {
                    ApiError(StatusCode::NOT_FOUND, format!("incident {m} not found"))
                }
                EngineError::NotAnApprover { .. } => ApiError(StatusCode::FORBIDDEN, e.to_string()),
                EngineError::NotAwaiting { .. } | EngineError::AlreadyApproved { .. } => {
                    ApiError(StatusCode::CONFLICT, e.to_string())
                }
                other => ApiError::internal(other),
            }
        })?;
    let (approvers, required) = match &vote {
        nightshift_store::VoteOutcome::Waiting {
            approvers,
            required,
            ..
        }
        | nightshift_store::VoteOutcome::AlreadyApproved {
            approvers,
            required,
            ..
        } => (approvers.clone(), Some(*required)),
        nightshift_store::VoteOutcome::Decided { approvers, .. } => (approvers.clone(), None),
    };
    Ok(axum::Json(json!({
        "state": vote.incident().incident.state,
        "approvers": approvers,
        // Present while more approvals are needed: how many in all.
        "required": required,
    }))
    .into_response())
}

async fn approve<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    Extension(who): Extension<Identity>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    answer(st, who, headers, id, body, true).await
}

async fn reject<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    Extension(who): Extension<Identity>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    answer(st, who, headers, id, body, false).await
}

async fn readyz<A: Analyzer + 'static>(AxState(st): AxState<Arc<ApiState<A>>>) -> Response {
    if !st.ready.load(std::sync::atomic::Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response();
    }
    let mut text = String::from("ok");
    for w in &st.warnings {
        text.push_str("\nwarning: ");
        text.push_str(w);
    }
    if let Some(problem) = st.engine.policy_problem() {
        text.push_str("\nwarning: ");
        text.push_str(&problem);
    }
    text.into_response()
}

/// Whether `addr` is reachable only from this host.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}
