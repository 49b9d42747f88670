//! The web console: server-rendered pages over the same record the API reads, served by the
//! agent under `/console`. No JavaScript is needed: filters are GET parameters, answers are
//! forms; one small vendored script ([`live`]) refreshes a page when the record changes.
//!
//! Sign-in takes one of the API's named bearer tokens, or goes through an OpenID Connect
//! provider when one is configured ([`oidc`]), and starts a server-side session
//! ([`session`]); every form carries the session's CSRF token, checked in constant time, and
//! a POST without it is refused (403). Pages answer HTML, errors included.

// Helpers return the refusal page itself as their error: one per request, never stored.
#![allow(clippy::result_large_err)]

mod answer;
mod axis;
pub mod form;
mod incident_view;
mod learned;
mod live;
pub mod oidc;
mod pages;
mod recorded;
pub mod session;
mod sign_in;
mod status;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nightshift_core::{Analyzer, IncidentId, State};
use nightshift_store::{IncidentFilter, VoteOutcome};
use serde::Deserialize;

use self::answer::{approve, note, reject};
use self::form::Form;
use self::pages::{incident, incidents};
use self::session::{COOKIE, Flash, SIGN_IN_COOKIE, Session};
use self::sign_in::{sign_in, sign_in_form, sign_out};
use self::view::Chrome;
use crate::auth::{Identity, Role, Scope};
use crate::engine::EngineError;
use crate::http::{ApiState, read_body};

/// The longest approval reason accepted, in characters.
const MAX_REASON_CHARS: usize = 1000;
/// Incidents per page of the list.
const PAGE_SIZE: usize = 100;
/// The largest form body accepted.
const MAX_FORM_BYTES: usize = 16 * 1024;
/// How long the sign-in form's token lasts.
const SIGN_IN_FORM_LIFETIME: Duration = Duration::from_secs(3600);

/// The console's routes, to merge into the agent's router. They count towards the API's cap
/// on requests handled at once.
pub fn router<A: Analyzer + 'static>(state: Arc<ApiState<A>>) -> Router<Arc<ApiState<A>>> {
    Router::new()
        .route("/console", get(|| async { see_other("/console/") }))
        .route("/console/", get(incidents::<A>))
        .route(
            "/console/sign-in",
            get(sign_in_form::<A>).post(sign_in::<A>),
        )
        .route("/console/sign-out", post(sign_out::<A>))
        .route("/console/oidc/start", get(oidc::start::<A>))
        .route(oidc::CALLBACK_PATH, get(oidc::callback::<A>))
        .route("/console/incidents/{id}", get(incident::<A>))
        .route("/console/incidents/{id}/approve", post(approve::<A>))
        .route("/console/incidents/{id}/reject", post(reject::<A>))
        .route("/console/incidents/{id}/notes", post(note::<A>))
        .route("/console/knowledge", get(learned::knowledge::<A>))
        .route("/console/trust", get(learned::trust::<A>))
        .route("/console/status", get(status::status::<A>))
        .route("/console/events", get(live::events::<A>))
        .route("/console/assets/live.js", get(live::script))
        .route_layer(middleware::from_fn_with_state(state, capped::<A>))
}

/// Caps the requests handled at once, as the API's routes are; a 503 page past the cap.
async fn capped<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    req: Request,
    next: Next,
) -> Response {
    match st.admit_request() {
        Ok(_permit) => next.run(req).await,
        Err(e) => {
            let mut res = error_page(e.0, Chrome::default(), e.1);
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            res
        }
    }
}

/// An HTML answer with the headers every console page carries.
fn html(status: StatusCode, body: Result<String, askama::Error>) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the page could not be rendered: {e}"),
            )
                .into_response();
        }
    };
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; \
             img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

fn error_page(status: StatusCode, chrome: Chrome, message: impl Into<String>) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    html(
        status,
        view::ErrorPage {
            chrome,
            title,
            message: message.into(),
        }
        .render(),
    )
}

/// The 404 page of an incident the record does not hold.
fn incident_not_found(chrome: Chrome, id: &IncidentId) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        chrome,
        format!(
            "incident {} not found",
            nightshift_core::text::one_line(&id.0, 80)
        ),
    )
}

fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

fn with_cookie(mut res: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

fn chrome(s: &Session) -> Chrome {
    Chrome {
        who: Some(s.identity.name.clone()),
        role: s.identity.role.to_string(),
        csrf: s.csrf.clone(),
    }
}

fn anonymous() -> Identity {
    Identity {
        name: "anonymous".into(),
        role: Role::Admin,
        namespaces: None,
    }
}

/// The session of a page request: the cookie's, or (API open) a new anonymous one with the
/// cookie to set; otherwise a redirect to the sign-in page that comes back to `uri`.
async fn page_session<A: Analyzer>(
    st: &ApiState<A>,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(String, Session, Option<String>), Response> {
    if let Some(id) = session::cookie(headers, COOKIE)
        && let Some(s) = st.console.get(&id).await
    {
        return Ok((id, s, None));
    }
    if !st.auth.required() {
        let unavailable = |e: String| {
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                Chrome::default(),
                format!("the session could not be kept: {e}"),
            )
        };
        let id = st
            .console
            .start(anonymous())
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let cookie = session::set_cookie(
            COOKIE,
            &id,
            st.console.lifetime(),
            session::over_https(headers),
        );
        let s = st
            .console
            .get(&id)
            .await
            .ok_or_else(|| unavailable("it was not found again".into()))?;
        return Ok((id, s, Some(cookie)));
    }
    let next = uri
        .path_and_query()
        .map_or("/console/", |p| p.as_str())
        .to_string();
    let target: String = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    Err(see_other(&format!("/console/sign-in?{target}")))
}

fn finish(res: Response, cookie: Option<String>) -> Response {
    match cookie {
        Some(c) => with_cookie(res, c),
        None => res,
    }
}

/// The session and form of a POST, the form's CSRF token checked; a refusal page otherwise.
async fn post_session<A: Analyzer>(
    st: &ApiState<A>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(String, Session, Form), Response> {
    let session = match session::cookie(headers, COOKIE) {
        Some(id) => st.console.get(&id).await.map(|s| (id, s)),
        None => None,
    };
    let Some((id, s)) = session else {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            Chrome::default(),
            "this form needs a signed-in session; sign in and try again",
        ));
    };
    let form = read_form(st, headers, body, chrome(&s)).await?;
    if !form
        .get("csrf")
        .is_some_and(|t| session::tokens_match(t, &s.csrf))
    {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            chrome(&s),
            "the form's csrf token is missing or does not belong to this session; reload the page and try again",
        ));
    }
    Ok((id, s, form))
}

async fn read_form<A: Analyzer>(
    st: &ApiState<A>,
    headers: &HeaderMap,
    body: Body,
    chrome: Chrome,
) -> Result<Form, Response> {
    let bytes = read_body(headers, body, MAX_FORM_BYTES, st.limits.body_read_timeout)
        .await
        .map_err(|e| error_page(e.0, chrome.clone(), e.1))?;
    Form::parse(&bytes).map_err(|e| error_page(StatusCode::BAD_REQUEST, chrome, e.to_string()))
}
