//! The Kubernetes REST API over HTTP, as kube-rs and kubectl speak it.
//!
//! [`router`] serves discovery, every resource type of [`crate::resources::RESOURCE_TYPES`]
//! (get, list, watch, create, update, patch, delete, deletecollection, with selectors,
//! paging, dry runs and Table output for kubectl), the `status`, `scale`, `log` and
//! `eviction` subresources, `metrics.k8s.io` from the [`Telemetry`], and the Prometheus
//! exposition on `/metrics`. Every failure is answered as a Kubernetes `Status`. Before any
//! of that, [`auth`] authenticates and authorizes the request when its [`auth::Access`] says
//! so.

pub mod auth;
mod discovery;
mod eviction;
pub mod fields;
mod handlers;
mod logs;
mod managed;
mod metrics_api;
mod openapi;
mod patch;
pub mod protobuf;
mod request;
mod scale;
mod selectors;
mod status;
mod tables;
pub mod tls;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::store::{Store, StoreError};
use crate::telemetry::Telemetry;

pub use patch::{PatchKind, strategic_merge};
pub use selectors::{FieldSelector, LabelSelector};
pub use status::ApiError;

/// What the API server serves from: the object store and the running simulation.
#[derive(Clone)]
pub struct ApiState {
    /// Every object of the cluster.
    pub store: Arc<Store>,
    /// Logs, resource usage and Prometheus metrics of the running simulation.
    pub telemetry: Arc<dyn Telemetry>,
    /// How often watches that allow bookmarks get one (in real time).
    pub bookmark_interval: Duration,
    /// How often `follow=true` log streams look for new lines (in real time).
    pub log_poll_interval: Duration,
    /// Whether requests are authenticated and authorized, and the tokens accepted.
    pub access: Arc<auth::Access>,
    /// What happens to undeclared fields when a request names no `fieldValidation`.
    pub field_validation: fields::FieldValidation,
}

impl ApiState {
    /// State with the default intervals: a bookmark every 5 s, logs polled every 200 ms.
    pub fn new(store: Arc<Store>, telemetry: Arc<dyn Telemetry>) -> Self {
        ApiState {
            store,
            telemetry,
            bookmark_interval: Duration::from_secs(5),
            log_poll_interval: Duration::from_millis(200),
            access: Arc::new(auth::Access::open()),
            field_validation: fields::FieldValidation::default(),
        }
    }

    /// Serves with `access`, writing the bootstrap RBAC policy into the store when it enforces
    /// RBAC.
    pub fn set_access(&mut self, access: Arc<auth::Access>) -> Result<(), StoreError> {
        access.seed(&self.store)?;
        self.access = access;
        Ok(())
    }
}

/// The HTTP router of the simulated API server.
pub fn router(state: ApiState) -> Router {
    let state = Arc::new(state);
    Router::new()
        .route("/version", get(discovery::version))
        // kube-apiserver serves it with a trailing slash too; the Python client asks so.
        .route("/version/", get(discovery::version))
        .route("/healthz", get(ok))
        .route("/livez", get(ok))
        .route("/readyz", get(ok))
        .route("/metrics", get(prometheus))
        .fallback(handlers::dispatch)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::gate,
        ))
        .layer(axum::middleware::from_fn(protobuf::negotiate))
        .with_state(state)
}

async fn ok() -> &'static str {
    "ok"
}

async fn prometheus(axum::extract::State(state): axum::extract::State<Arc<ApiState>>) -> Response {
    let mut resp = state.telemetry.prometheus_text().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
