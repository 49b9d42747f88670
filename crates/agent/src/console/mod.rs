//! The web console: server-rendered pages over the same record the API reads, served by the
//! agent under `/console`. No JavaScript is needed: filters are GET parameters, answers are
//! forms.
//!
//! Sign-in takes one of the API's named bearer tokens and starts a server-side session
//! ([`session`]); every form carries the session's CSRF token, checked in constant time, and
//! a POST without it is refused (403). Pages answer HTML, errors included.

// Helpers return the refusal page itself as their error: one per request, never stored.
#![allow(clippy::result_large_err)]

pub mod form;
pub mod session;
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
use nightshift_core::{Analyzer, Incident, IncidentId, State};
use nightshift_store::{IncidentFilter, VoteOutcome};
use serde::Deserialize;

use self::form::Form;
use self::session::{COOKIE, Flash, SIGN_IN_COOKIE, Session};
use self::view::Chrome;
use crate::auth::{Identity, Role, Scope};
use crate::engine::EngineError;
use crate::http::{ApiState, read_body};

/// The longest approval reason accepted, in characters.
const MAX_REASON_CHARS: usize = 1000;
/// Incidents per page of the list.
const PAGE_SIZE: usize = 100;
/// The most incidents the list reads from the store.
const LIST_LIMIT: u32 = 10_000;
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
        .route("/console/incidents/{id}", get(incident::<A>))
        .route("/console/incidents/{id}/approve", post(approve::<A>))
        .route("/console/incidents/{id}/reject", post(reject::<A>))
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
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
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
fn page_session<A: Analyzer>(
    st: &ApiState<A>,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(String, Session, Option<String>), Response> {
    if let Some(id) = session::cookie(headers, COOKIE)
        && let Some(s) = st.console.get(&id)
    {
        return Ok((id, s, None));
    }
    if !st.auth.required() {
        let id = st.console.start(anonymous());
        let cookie = session::set_cookie(
            COOKIE,
            &id,
            st.console.lifetime(),
            session::over_https(headers),
        );
        let s = st.console.get(&id).expect("a session just started");
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
    let Some((id, s)) =
        session::cookie(headers, COOKIE).and_then(|id| st.console.get(&id).map(|s| (id, s)))
    else {
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

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn sign_in_page(next: &str, error: Option<String>, status: StatusCode, https: bool) -> Response {
    let token = session::random_token();
    let res = html(
        status,
        view::SignInPage {
            chrome: Chrome::default(),
            csrf: token.clone(),
            next: next.to_string(),
            error,
        }
        .render(),
    );
    with_cookie(
        res,
        session::set_cookie(SIGN_IN_COOKIE, &token, SIGN_IN_FORM_LIFETIME, https),
    )
}

/// Starts a session for `identity` and goes to `next`.
fn signed_in<A: Analyzer>(
    st: &ApiState<A>,
    identity: Identity,
    next: &str,
    https: bool,
) -> Response {
    let id = st.console.start(identity);
    let res = see_other(next);
    let res = with_cookie(
        res,
        session::set_cookie(COOKIE, &id, st.console.lifetime(), https),
    );
    with_cookie(
        res,
        session::set_cookie(SIGN_IN_COOKIE, "", Duration::ZERO, https),
    )
}

async fn sign_in_form<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = session::safe_next(q.next.as_deref());
    let https = session::over_https(&headers);
    if session::cookie(&headers, COOKIE).is_some_and(|id| st.console.get(&id).is_some()) {
        return see_other(&next);
    }
    if !st.auth.required() {
        return signed_in(&st, anonymous(), &next, https);
    }
    sign_in_page(&next, None, StatusCode::OK, https)
}

async fn sign_in<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let https = session::over_https(&headers);
    let form = match read_form(&st, &headers, body, Chrome::default()).await {
        Ok(f) => f,
        Err(res) => return res,
    };
    let next = session::safe_next(form.get("next"));
    let expected = session::cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if !form
        .get("csrf")
        .is_some_and(|t| session::tokens_match(t, &expected))
    {
        return error_page(
            StatusCode::FORBIDDEN,
            Chrome::default(),
            "the sign-in form's csrf token is missing or stale; open the sign-in page again",
        );
    }
    if !st.auth.required() {
        return signed_in(&st, anonymous(), &next, https);
    }
    let token = form.get("token").unwrap_or("").trim();
    let mut as_header = HeaderMap::new();
    let identity = HeaderValue::from_str(&format!("Bearer {token}"))
        .ok()
        .and_then(|v| {
            as_header.insert(header::AUTHORIZATION, v);
            st.auth.authenticate(&as_header).ok()
        });
    match identity {
        Some(id) if id.role.allows(Scope::Read) => signed_in(&st, id, &next, https),
        Some(id) => sign_in_page(
            &next,
            Some(format!(
                "{} ({}) may not read incidents, so it cannot sign in to the console",
                id.name, id.role
            )),
            StatusCode::FORBIDDEN,
            https,
        ),
        None => sign_in_page(
            &next,
            Some("that token is not one the agent knows; check it and try again".into()),
            StatusCode::UNAUTHORIZED,
            https,
        ),
    }
}

async fn sign_out<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (id, _, _) = match post_session(&st, &headers, body).await {
        Ok(s) => s,
        Err(res) => return res,
    };
    st.console.end(&id);
    with_cookie(
        see_other("/console/sign-in"),
        session::set_cookie(COOKIE, "", Duration::ZERO, session::over_https(&headers)),
    )
}

/// The states offered by the list's filter.
const STATES: [&str; 15] = [
    "open",
    "collecting",
    "analyzing",
    "planned",
    "awaiting_approval",
    "approved",
    "rejected",
    "expired",
    "acting",
    "verifying",
    "resolved",
    "unresolved",
    "escalated",
    "observed",
    "closed",
];

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    q: String,
    page: Option<usize>,
}

async fn incidents<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<ListQuery>,
) -> Response {
    let (_, s, cookie) = match page_session(&st, &headers, &uri) {
        Ok(x) => x,
        Err(res) => return res,
    };
    let chrome = chrome(&s);
    let state = if q.state.is_empty() {
        None
    } else {
        match serde_json::from_value::<State>(serde_json::Value::String(q.state.clone())) {
            Ok(s) => Some(s),
            Err(_) => {
                return finish(
                    error_page(
                        StatusCode::BAD_REQUEST,
                        chrome,
                        format!(
                            "the field state is {:?}, which is not a state; use one of {}",
                            nightshift_core::text::one_line(&q.state, 40),
                            STATES.join(", ")
                        ),
                    ),
                    cookie,
                );
            }
        }
    };
    let filter = IncidentFilter {
        state,
        open_only: false,
        resource: None,
        limit: Some(LIST_LIMIT),
    };
    let list = match st.engine.store().list(&filter).await {
        Ok(l) => l,
        Err(e) => {
            return finish(
                error_page(StatusCode::INTERNAL_SERVER_ERROR, chrome, e.to_string()),
                cookie,
            );
        }
    };
    let mut namespaces: Vec<String> = list
        .iter()
        .filter_map(|i| i.incident.resource.namespace().map(str::to_string))
        .collect();
    namespaces.sort();
    namespaces.dedup();
    let incidents: Vec<&Incident> = list.iter().map(|s| &s.incident).collect();
    let (matching, shown) = select(&incidents, &q.namespace, &q.q, q.page.unwrap_or(1));
    let pages = matching.div_ceil(PAGE_SIZE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let now = st.engine.now();
    let rows = shown.iter().map(|i| view::row(i, now)).collect();
    let link = |p: usize| {
        let query = serde_urlencoded::to_string([
            ("state", q.state.as_str()),
            ("namespace", q.namespace.as_str()),
            ("q", q.q.as_str()),
            ("page", &p.to_string()),
        ])
        .unwrap_or_default();
        format!("/console/?{query}")
    };
    let page_view = view::IncidentsPage {
        chrome,
        rows,
        matching,
        states: STATES.to_vec(),
        namespaces,
        state: q.state.clone(),
        namespace: q.namespace.clone(),
        q: q.q.clone(),
        page,
        pages,
        prev: (page > 1).then(|| link(page - 1)),
        next: (page < pages).then(|| link(page + 1)),
    };
    finish(html(StatusCode::OK, page_view.render()), cookie)
}

/// The incidents of the list in `namespace` (`""`: any) whose title or resource contains
/// `text` (case-insensitive), those waiting for an approval first and otherwise in the store's
/// order (newest first): how many match, and those of page `page` (from 1, clamped).
fn select<'a>(
    incidents: &[&'a Incident],
    namespace: &str,
    text: &str,
    page: usize,
) -> (usize, Vec<&'a Incident>) {
    let needle = text.trim().to_lowercase();
    let mut matching: Vec<&Incident> = incidents
        .iter()
        .copied()
        .filter(|i| namespace.is_empty() || i.resource.namespace() == Some(namespace))
        .filter(|i| {
            needle.is_empty()
                || i.title.to_lowercase().contains(&needle)
                || i.resource.to_string().to_lowercase().contains(&needle)
        })
        .collect();
    // A stable sort keeps the store's order within each group.
    matching.sort_by_key(|i| i.state != State::AwaitingApproval);
    let pages = matching.len().div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let shown = matching
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .copied()
        .collect();
    (matching.len(), shown)
}

async fn incident<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let (sid, s, cookie) = match page_session(&st, &headers, &uri) {
        Ok(x) => x,
        Err(res) => return res,
    };
    let res = match incident_page(&st, &sid, &s, IncidentId(id)).await {
        Ok(res) | Err(res) => res,
    };
    finish(res, cookie)
}

async fn incident_page<A: Analyzer + 'static>(
    st: &ApiState<A>,
    sid: &str,
    s: &Session,
    id: IncidentId,
) -> Result<Response, Response> {
    let store = st.engine.store();
    let fail = |e: nightshift_store::StoreError| {
        error_page(StatusCode::INTERNAL_SERVER_ERROR, chrome(s), e.to_string())
    };
    let Some(stored) = store.get(&id).await.map_err(fail)? else {
        return Err(error_page(
            StatusCode::NOT_FOUND,
            chrome(s),
            format!(
                "incident {} not found",
                nightshift_core::text::one_line(&id.0, 80)
            ),
        ));
    };
    let timeline = store.timeline(&id).await.map_err(fail)?;
    let analyses = store.analyses(&id).await.map_err(fail)?;
    let evidence = store.latest_evidence(&id).await.map_err(fail)?;
    let decisions = store.decisions(&id).await.map_err(fail)?;
    let actions = store.actions(&id).await.map_err(fail)?;
    let approvals = store.approvals(&id).await.map_err(fail)?;
    let notices = store.notices(&id).await.map_err(fail)?;
    let record = view::Record {
        incident: &stored.incident,
        timeline: &timeline,
        analyses: &analyses,
        evidence: evidence.as_ref(),
        decisions: &decisions,
        actions: &actions,
        approvals: &approvals,
        notices: &notices,
    };
    let mut page = view::incident_page(&record, chrome(s));
    page.flash = st.console.take_flash(sid);
    if stored.incident.state == State::AwaitingApproval {
        let namespace = stored.incident.resource.namespace();
        page.can_approve = s.identity.may_approve_in(namespace);
        if !page.can_approve {
            page.approve_note = Some(format!(
                "This incident waits for an approval; {} ({}) may not answer it.",
                s.identity.name, s.identity.role
            ));
        }
    }
    Ok(html(StatusCode::OK, page.render()))
}

async fn approve<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    answer(st, headers, id, body, true).await
}

async fn reject<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    answer(st, headers, id, body, false).await
}

async fn answer<A: Analyzer + 'static>(
    st: Arc<ApiState<A>>,
    headers: HeaderMap,
    id: String,
    body: Body,
    approve: bool,
) -> Response {
    let (sid, s, form) = match post_session(&st, &headers, body).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let reason = match form.text("reason", MAX_REASON_CHARS) {
        Ok(r) => r
            .map(|r| nightshift_core::text::one_line(r, MAX_REASON_CHARS))
            .filter(|r| !r.is_empty()),
        Err(e) => return error_page(StatusCode::BAD_REQUEST, chrome(&s), e.to_string()),
    };
    let id = IncidentId(id);
    let incident = match st.engine.store().get(&id).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            return error_page(
                StatusCode::NOT_FOUND,
                chrome(&s),
                format!(
                    "incident {} not found",
                    nightshift_core::text::one_line(&id.0, 80)
                ),
            );
        }
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, chrome(&s), e.to_string()),
    };
    let namespace = incident.incident.resource.namespace();
    if !s.identity.may_approve_in(namespace) {
        return error_page(
            StatusCode::FORBIDDEN,
            chrome(&s),
            format!(
                "{} ({}) may not answer approvals in {}",
                s.identity.name,
                s.identity.role,
                namespace.map_or("cluster-scoped resources".to_string(), |n| format!(
                    "namespace {n}"
                ))
            ),
        );
    }
    // Answered in its own task, so a browser that goes away cannot cut the answer in half.
    let engine = st.engine.clone();
    let by = s.identity.name.clone();
    let vote_id = id.clone();
    let vote = tokio::spawn(async move { engine.vote(&vote_id, approve, &by, reason).await }).await;
    let flash = match vote {
        Err(e) => Flash {
            ok: false,
            text: format!("the answer failed: {e}"),
        },
        Ok(Ok(VoteOutcome::Decided { incident, .. })) => Flash {
            ok: true,
            text: if approve {
                format!(
                    "Approved by {}; the incident is now {}.",
                    s.identity.name,
                    view::label(&incident.incident.state)
                )
            } else {
                format!("Rejected by {}.", s.identity.name)
            },
        },
        Ok(Ok(VoteOutcome::Waiting {
            approvers,
            required,
            ..
        })) => Flash {
            ok: true,
            text: format!(
                "Approved by {} ({} of {}); waiting for another approver.",
                s.identity.name,
                approvers.len(),
                required
            ),
        },
        Ok(Ok(VoteOutcome::AlreadyApproved {
            approvers,
            required,
            ..
        })) => Flash {
            ok: false,
            text: format!(
                "{} already approved ({} of {}); waiting for another approver.",
                s.identity.name,
                approvers.len(),
                required
            ),
        },
        Ok(Err(e @ EngineError::NotFound(_))) => {
            return error_page(StatusCode::NOT_FOUND, chrome(&s), e.to_string());
        }
        Ok(Err(e)) => Flash {
            ok: false,
            text: format!("Refused: {e}"),
        },
    };
    st.console.set_flash(&sid, flash);
    see_other(&format!("/console/incidents/{}", path_segment(&id.0)))
}

/// `s` as one path segment (ids are `inc-000001`, but a Location header must not be forged).
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use nightshift_core::resource::ResourceRef;

    fn incident(n: usize, namespace: &str, name: &str, state: State) -> Incident {
        let at = chrono::Utc
            .timestamp_opt(1_700_000_000 - n as i64, 0)
            .unwrap();
        Incident {
            id: IncidentId(format!("inc-{n:06}")),
            state,
            resource: ResourceRef::deployment(namespace, name),
            title: format!("{name} is not ready"),
            category: None,
            root_cause: None,
            attempts: 0,
            opened_at: at,
            updated_at: at,
            resolved_at: None,
        }
    }

    fn ids(list: &[&Incident]) -> Vec<String> {
        list.iter().map(|i| i.id.0.clone()).collect()
    }

    #[test]
    fn waiting_approvals_come_first_then_the_stores_order() {
        let all = [
            incident(1, "shop", "web", State::Resolved),
            incident(2, "shop", "orders", State::AwaitingApproval),
            incident(3, "pay", "api", State::Verifying),
            incident(4, "pay", "ledger", State::AwaitingApproval),
        ];
        let refs: Vec<&Incident> = all.iter().collect();
        let (n, shown) = select(&refs, "", "", 1);
        assert_eq!(n, 4);
        assert_eq!(
            ids(&shown),
            ["inc-000002", "inc-000004", "inc-000001", "inc-000003"]
        );
        let (n, shown) = select(&refs, "pay", "", 1);
        assert_eq!(
            (n, ids(&shown)),
            (2, vec!["inc-000004".into(), "inc-000003".into()])
        );
        // The text is looked for in the title and the resource, in any case.
        let (_, shown) = select(&refs, "", "  LEDGER ", 1);
        assert_eq!(ids(&shown), ["inc-000004"]);
        let (_, shown) = select(&refs, "", "deployment/shop/", 1);
        assert_eq!(ids(&shown), ["inc-000002", "inc-000001"]);
        let (n, shown) = select(&refs, "nowhere", "", 1);
        assert_eq!((n, shown.len()), (0, 0));
    }

    #[test]
    fn pages_hold_a_hundred_and_out_of_range_pages_are_clamped() {
        let all: Vec<Incident> = (1..=250)
            .map(|n| incident(n, "shop", "web", State::Resolved))
            .collect();
        let refs: Vec<&Incident> = all.iter().collect();
        let (n, first) = select(&refs, "", "", 1);
        assert_eq!((n, first.len()), (250, 100));
        assert_eq!(first[0].id.0, "inc-000001");
        let (_, third) = select(&refs, "", "", 3);
        assert_eq!(third.len(), 50);
        assert_eq!(third[0].id.0, "inc-000201");
        assert_eq!(ids(&select(&refs, "", "", 99).1), ids(&third));
        assert_eq!(ids(&select(&refs, "", "", 0).1), ids(&first));
    }
}
