//! Local servers that speak the notification services' protocols, keeping what they accepted:
//! a Teams Workflows webhook ("Post to a channel when a webhook request is received") and
//! PagerDuty's Events API v2 (`/v2/enqueue`), each checking requests as the service does and
//! answering in its documented shapes.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Takes one from `n` if it is above zero.
fn take_one(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
        .is_ok()
}

/// A Teams Workflows webhook: 202 for a message with one Adaptive Card attachment, 400 for
/// anything else, 401 without the workflow's signature; 500 for the first `down_for` posts.
#[derive(Clone)]
pub struct Workflow {
    /// The workflow's URL, signature included.
    pub url: String,
    /// The signature in the URL.
    pub signature: String,
    cards: Arc<Mutex<Vec<Value>>>,
    down_for: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    rejected: Arc<Mutex<Vec<String>>>,
}

impl Workflow {
    /// Starts one that answers 500 to its first `down_for` posts.
    pub async fn start(down_for: usize) -> Workflow {
        let signature = "wFh3kS1gN4tUr3-0nLy-1n-Th3-URL".to_string();
        let cards = Arc::new(Mutex::new(vec![]));
        let down = Arc::new(AtomicUsize::new(down_for));
        let failed = Arc::new(AtomicUsize::new(0));
        let rejected = Arc::new(Mutex::new(vec![]));
        let (c, d, f, r, sig) = (
            cards.clone(),
            down.clone(),
            failed.clone(),
            rejected.clone(),
            signature.clone(),
        );
        let app = Router::new().route(
            "/workflows/{workflow}/triggers/manual/paths/invoke",
            post(
                move |Query(q): Query<HashMap<String, String>>, body: String| async move {
                    if q.get("sig") != Some(&sig) || !q.contains_key("api-version") {
                        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"code": "DirectApiAuthorizationRequired", "message": "The request must be authenticated"}}))).into_response();
                    }
                    if take_one(&d) {
                        f.fetch_add(1, Ordering::SeqCst);
                        return (StatusCode::INTERNAL_SERVER_ERROR, "flow run failed").into_response();
                    }
                    match card_of(&body) {
                        Ok(card) => {
                            c.lock().unwrap().push(card);
                            StatusCode::ACCEPTED.into_response()
                        }
                        Err(why) => {
                            r.lock().unwrap().push(why.clone());
                            (StatusCode::BAD_REQUEST, Json(json!({"error": {"code": "InvalidRequestContent", "message": why}}))).into_response()
                        }
                    }
                },
            ),
        );
        let addr = serve(app).await;
        Workflow {
            url: format!(
                "http://{addr}/workflows/8d2c0f/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={signature}"
            ),
            signature,
            cards,
            down_for: down,
            failed,
            rejected,
        }
    }

    /// The cards accepted, in the order they came.
    pub fn cards(&self) -> Vec<Value> {
        self.cards.lock().unwrap().clone()
    }

    /// Posts answered 500.
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }

    /// Why posts were refused (400).
    pub fn rejected(&self) -> Vec<String> {
        self.rejected.lock().unwrap().clone()
    }
}

/// The Adaptive Card a workflow would post, or why the request is not one.
fn card_of(body: &str) -> Result<Value, String> {
    let m: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    if m["type"] != "message" {
        return Err("type is not \"message\"".into());
    }
    let attachments = m["attachments"]
        .as_array()
        .ok_or("attachments is not an array")?;
    let [a] = attachments.as_slice() else {
        return Err(format!("{} attachments; expected one", attachments.len()));
    };
    if a["contentType"] != "application/vnd.microsoft.card.adaptive" {
        return Err(format!("contentType {}", a["contentType"]));
    }
    let card = &a["content"];
    if card["type"] != "AdaptiveCard" {
        return Err(format!("content.type {}", card["type"]));
    }
    if !card["version"].is_string() {
        return Err("content.version missing".into());
    }
    if !card["body"].is_array() {
        return Err("content.body is not an array".into());
    }
    Ok(card.clone())
}

/// PagerDuty's Events API v2: 202 `{"status": "success", ...}` for a valid event, 400
/// `{"status": "invalid event", ...}` naming what is wrong otherwise; the first `refuse`
/// events are refused as invalid whatever they hold.
#[derive(Clone)]
pub struct PagerDuty {
    /// The endpoint (`.../v2/enqueue`).
    pub url: String,
    events: Arc<Mutex<Vec<Value>>>,
    refuse: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl PagerDuty {
    /// Starts one that refuses its first `refuse` events.
    pub async fn start(refuse: usize) -> PagerDuty {
        let events = Arc::new(Mutex::new(vec![]));
        let refuse = Arc::new(AtomicUsize::new(refuse));
        let refused = Arc::new(AtomicUsize::new(0));
        let (e, r, n) = (events.clone(), refuse.clone(), refused.clone());
        let app = Router::new().route(
            "/v2/enqueue",
            post(move |body: String| async move {
                if take_one(&r) {
                    n.fetch_add(1, Ordering::SeqCst);
                    return invalid(vec!["'payload.summary' is missing or blank".into()]);
                }
                match check_event(&body) {
                    Ok(event) => {
                        let dedup_key = event["dedup_key"].clone();
                        e.lock().unwrap().push(event);
                        (
                            StatusCode::ACCEPTED,
                            Json(json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key})),
                        )
                            .into_response()
                    }
                    Err(errors) => {
                        n.fetch_add(1, Ordering::SeqCst);
                        invalid(errors)
                    }
                }
            }),
        );
        let addr = serve(app).await;
        PagerDuty {
            url: format!("http://{addr}/v2/enqueue"),
            events,
            refuse,
            refused,
        }
    }

    /// The events accepted, in the order they came.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// Events answered 400.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

fn invalid(errors: Vec<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors})),
    )
        .into_response()
}

/// The event, or what PagerDuty would say is wrong with it.
fn check_event(body: &str) -> Result<Value, Vec<String>> {
    let e: Value = serde_json::from_str(body).map_err(|_| vec!["Malformed JSON".to_string()])?;
    let mut errors = vec![];
    let text = |v: &Value| v.as_str().map(str::to_string);
    match text(&e["routing_key"]) {
        Some(k) if k.chars().count() == 32 => {}
        _ => errors.push("Length of 'routing_key' is incorrect (should be 32 characters)".into()),
    }
    let action = text(&e["event_action"]).unwrap_or_default();
    if !matches!(action.as_str(), "trigger" | "acknowledge" | "resolve") {
        errors.push("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')".into());
    }
    match text(&e["dedup_key"]) {
        Some(k) if k.len() > 255 => errors.push("'dedup_key' is too long (max 255)".into()),
        None if action != "trigger" => errors.push("'dedup_key' is missing or blank".into()),
        _ => {}
    }
    if action == "trigger" {
        let p = &e["payload"];
        for field in ["summary", "source", "severity"] {
            if text(&p[field]).is_none_or(|v| v.trim().is_empty()) {
                errors.push(format!("'payload.{field}' is missing or blank"));
            }
        }
        if let Some(s) = text(&p["summary"])
            && s.chars().count() > 1024
        {
            errors.push("'payload.summary' is too long (max 1024)".into());
        }
        if let Some(s) = text(&p["severity"])
            && !matches!(s.as_str(), "critical" | "error" | "warning" | "info")
        {
            errors.push("'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')".into());
        }
    }
    if errors.is_empty() {
        Ok(e)
    } else {
        Err(errors)
    }
}
