//! Slack interactions: the Approve and Reject buttons of an incident's message and the
//! rejection modal's submission. Slack posts them to `POST /api/v1/slack/interactions`,
//! signed with the app's signing secret (this route does not take the API's tokens), or
//! sends them over Socket Mode; both end in [`handle`].
//!
//! A request is accepted only if its `X-Slack-Signature` is the HMAC-SHA256 of
//! `v0:{X-Slack-Request-Timestamp}:{body}` under a configured Slack destination's signing
//! secret and its timestamp is within five minutes of the wall clock (the real time Slack
//! signs with, not the cluster's); anything else is 401 and changes nothing.
//!
//! The clicking user answers as `slack:{user id}`: the identity is always Slack's own id, so
//! it cannot collide with a token's name or another workspace's display name. The policy's
//! `approvers` rules decide who that may be (list `slack:U024BE7LH`, or put it in an
//! `approver_groups` group); where no rule covers the incident's namespace, Slack users may
//! not answer at all, since a Slack user has no role of the API to fall back on.
//!
//! Slack wants an answer within 3 seconds: the request is answered 200 at once and the vote
//! is recorded in its own task. What the user alone needs to know (not an approver, expired,
//! already decided, waiting for another approver) goes back through the click's
//! `response_url` as an ephemeral message; the incident's message itself is updated by the
//! outbox as the incident moves.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nightshift_core::{Analyzer, IncidentId, State};
use nightshift_store::{ApprovalStatus, VoteOutcome};
use serde_json::Value;

use super::{ApiError, ApiState, read_body};
use crate::engine::{Engine, EngineError};
use crate::notify::slack::{APPROVE_ACTION, REASON_INPUT, REJECT_ACTION, REJECT_VIEW};
use crate::notify::{Destination, Slack};

/// The largest interaction accepted: a click carries the whole message it was on.
const MAX_BODY: usize = 1024 * 1024;

/// The Slack destinations that take interactions over HTTP (those with a signing secret).
fn signed_destinations<A: Analyzer>(st: &ApiState<A>) -> Vec<Arc<Destination>> {
    st.outbox
        .iter()
        .flat_map(|o| o.destinations().iter())
        .filter(|d| matches!(d.as_ref(), Destination::Slack(s) if s.takes_requests()))
        .cloned()
        .collect()
}

/// The Slack destinations that take interactions over Socket Mode.
fn socket_destinations<A: Analyzer>(st: &ApiState<A>) -> Vec<Arc<Destination>> {
    st.outbox
        .iter()
        .flat_map(|o| o.destinations().iter())
        .filter(|d| matches!(d.as_ref(), Destination::Slack(s) if s.socket_mode()))
        .cloned()
        .collect()
}

fn slack_of(d: &Destination) -> Option<&Slack> {
    match d {
        Destination::Slack(s) => Some(s),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// `POST /api/v1/slack/interactions`.
pub(super) async fn interactions<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let candidates = signed_destinations(&st);
    if candidates.is_empty() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "no Slack destination with a signing secret is configured".into(),
        ));
    }
    let Ok(_permit) = st.in_flight.try_acquire() else {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the agent is handling {} requests already; try again shortly",
                st.limits.max_requests
            ),
        ));
    };
    let body = read_body(&headers, body, MAX_BODY, st.limits.body_read_timeout).await?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let timestamp = header("x-slack-request-timestamp");
    let signature = header("x-slack-signature");
    let now = chrono::Utc::now().timestamp();
    let mut refusal = None;
    let mut signed_by = None;
    for d in &candidates {
        let Some(slack) = slack_of(d) else { continue };
        match slack.verify(timestamp, signature, &body, now) {
            Ok(()) => {
                signed_by = Some(d.clone());
                break;
            }
            Err(e) => refusal = Some(e),
        }
    }
    let Some(destination) = signed_by else {
        let reason = refusal.map(|e| e.to_string()).unwrap_or_default();
        tracing::warn!(%reason, "slack interaction refused");
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            format!("slack interaction refused: {reason}"),
        ));
    };
    let payload = parse_form(&body).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    Ok(handle(st.engine.clone(), destination, payload).into_response())
}

/// The `payload` field of an interaction's form body, as JSON.
fn parse_form(body: &[u8]) -> Result<Value, String> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| format!("invalid interaction body: {e}; expected a form with `payload`"))?;
    let payload = fields
        .into_iter()
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v)
        .ok_or("invalid interaction body: no `payload` field")?;
    serde_json::from_str(&payload)
        .map_err(|e| format!("invalid interaction body: `payload` is not JSON: {e}"))
}

/// What to answer Slack: an empty 200 (it also closes a submitted modal).
#[derive(Debug)]
pub struct Ack;

impl IntoResponse for Ack {
    fn into_response(self) -> Response {
        StatusCode::OK.into_response()
    }
}

/// Handles one interaction's payload, from HTTP or Socket Mode alike: returns at once, the
/// work (opening the modal, recording the vote, answering the user) going on in its own task.
pub fn handle<A: Analyzer + 'static>(
    engine: Arc<Engine<A>>,
    destination: Arc<Destination>,
    payload: Value,
) -> Ack {
    let user = payload["user"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if user.is_empty() {
        tracing::warn!("slack interaction without a user: ignored");
        return Ack;
    }
    let who = format!("slack:{user}");
    match payload["type"].as_str() {
        Some("block_actions") => {
            let Some(action) = payload["actions"].as_array().and_then(|a| a.first()) else {
                return Ack;
            };
            let incident = action["value"].as_str().unwrap_or_default().to_string();
            let response_url = payload["response_url"].as_str().map(str::to_string);
            match action["action_id"].as_str() {
                Some(APPROVE_ACTION) => {
                    tokio::spawn(async move {
                        let Some(slack) = slack_of(&destination) else {
                            return;
                        };
                        let text = answer(&engine, &incident, true, &who, None).await;
                        tell(slack, response_url.as_deref(), text).await;
                    });
                }
                Some(REJECT_ACTION) => {
                    let trigger = payload["trigger_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    tokio::spawn(async move {
                        let Some(slack) = slack_of(&destination) else {
                            return;
                        };
                        if let Err(e) = slack
                            .open_reject_view(&trigger, &incident, response_url.as_deref())
                            .await
                        {
                            tracing::warn!(destination = slack.name(), error = %e, "unable to open the rejection dialog");
                            let text = format!("could not open the rejection dialog: {e}");
                            tell(slack, response_url.as_deref(), Some(text)).await;
                        }
                    });
                }
                _ => {}
            }
        }
        Some("view_submission") if payload["view"]["callback_id"] == REJECT_VIEW => {
            let meta: Value = payload["view"]["private_metadata"]
                .as_str()
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or_default();
            let incident = meta["incident"].as_str().unwrap_or_default().to_string();
            let response_url = meta["response_url"].as_str().map(str::to_string);
            let reason = payload["view"]["state"]["values"][REASON_INPUT][REASON_INPUT]["value"]
                .as_str()
                .map(|r| nightshift_core::text::one_line(r, super::MAX_REASON_CHARS))
                .filter(|r| !r.is_empty());
            tokio::spawn(async move {
                let Some(slack) = slack_of(&destination) else {
                    return;
                };
                let text = answer(&engine, &incident, false, &who, reason).await;
                tell(slack, response_url.as_deref(), text).await;
            });
        }
        _ => {}
    }
    Ack
}

async fn tell(slack: &Slack, response_url: Option<&str>, text: Option<String>) {
    let (Some(url), Some(text)) = (response_url, text) else {
        return;
    };
    if let Err(e) = slack.respond(url, &text).await {
        tracing::warn!(destination = slack.name(), error = %e, "unable to answer a slack user");
    }
}

/// Records `who`'s answer; what to tell them, if anything (a decided vote shows in the
/// message itself).
async fn answer<A: Analyzer + 'static>(
    engine: &Arc<Engine<A>>,
    incident: &str,
    approve: bool,
    who: &str,
    reason: Option<String>,
) -> Option<String> {
    let id = IncidentId(incident.to_string());
    let store = engine.store();
    let stored = match store.get(&id).await {
        Ok(Some(s)) => s,
        Ok(None) => return Some(format!("incident {incident} not found")),
        Err(e) => return Some(format!("your answer was not recorded: {e}")),
    };
    let namespace = stored.incident.resource.namespace().map(str::to_string);
    let place = namespace
        .as_deref()
        .map_or("incidents with no namespace".to_string(), |n| {
            format!("namespace {n}")
        });
    // A Slack user has no API role: only the policy's approvers rules can let one answer.
    if engine
        .policy()
        .approvers_for(namespace.as_deref())
        .is_none()
    {
        return Some(format!(
            "you are not an approver for {place}: the policy has no approvers rule there, and Slack users ({who}) answer only where one lists them"
        ));
    }
    let outcome = engine.vote(&id, approve, who, reason).await;
    tracing::info!(incident, who, approve, ok = outcome.is_ok(), "slack answer");
    match outcome {
        Ok(VoteOutcome::Decided { .. }) => None,
        Ok(VoteOutcome::Waiting {
            approvers,
            required,
            ..
        }) => Some(waiting(approvers.len(), required)),
        Ok(VoteOutcome::AlreadyApproved {
            approvers,
            required,
            ..
        }) => Some(format!(
            "you already approved; {}",
            waiting(approvers.len(), required)
        )),
        Err(EngineError::NotAnApprover { .. }) => {
            Some(format!("you are not an approver for {place} ({who})"))
        }
        Err(EngineError::AlreadyApproved {
            votes, required, ..
        }) => Some(format!(
            "you already approved; {}",
            waiting(votes as usize, required)
        )),
        Err(EngineError::NotAwaiting { state, .. }) => Some(not_awaiting(engine, &id, state).await),
        Err(EngineError::NotFound(_)) => Some(format!("incident {incident} not found")),
        Err(e) => Some(format!("your answer was not recorded: {e}")),
    }
}

fn waiting(votes: usize, required: u32) -> String {
    let left = (required as usize).saturating_sub(votes);
    let whom = if left == 1 {
        "a second approver".to_string()
    } else {
        format!("{left} more approvers")
    };
    format!("approved ({votes} of {required}); waiting for {whom}")
}

/// Why an incident no longer takes answers, from its last approval request.
async fn not_awaiting<A: Analyzer + 'static>(
    engine: &Arc<Engine<A>>,
    id: &IncidentId,
    state: State,
) -> String {
    let last = engine
        .store()
        .approvals(id)
        .await
        .ok()
        .and_then(|mut a| a.pop());
    match last {
        Some(a) if a.status == ApprovalStatus::Expired => format!(
            "this approval expired at {}",
            a.deadline.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        Some(a)
            if matches!(
                a.status,
                ApprovalStatus::Approved | ApprovalStatus::Rejected
            ) =>
        {
            format!(
                "already decided: {} by {}",
                if a.status == ApprovalStatus::Approved {
                    "approved"
                } else {
                    "rejected"
                },
                a.decided_by.as_deref().unwrap_or("someone")
            )
        }
        _ => format!(
            "incident {id} is {}, not awaiting approval",
            crate::notify::slack::blocks::state_name(state)
        ),
    }
}

/// Starts a Socket Mode connection for each Slack destination that has an app-level token;
/// their interactions are handled as the HTTP endpoint handles signed ones.
pub fn socket_mode<A: Analyzer + 'static>(
    st: &Arc<ApiState<A>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    socket_destinations(st)
        .into_iter()
        .map(|d| {
            let engine = st.engine.clone();
            tokio::spawn(async move {
                let Some(slack) = slack_of(&d) else { return };
                let handler = |payload: Value| {
                    handle(engine.clone(), d.clone(), payload);
                };
                crate::notify::slack::socket::run(slack, handler).await;
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_read_from_the_form() {
        let body = serde_urlencoded::to_string([(
            "payload",
            r#"{"type":"block_actions","user":{"id":"U1"}}"#,
        )])
        .unwrap();
        let v = parse_form(body.as_bytes()).unwrap();
        assert_eq!(v["user"]["id"], "U1");
        assert!(parse_form(b"token=x").unwrap_err().contains("payload"));
        assert!(
            parse_form(b"payload=%7Bnot")
                .unwrap_err()
                .contains("not JSON")
        );
    }

    #[test]
    fn waiting_says_for_whom() {
        assert_eq!(
            waiting(1, 2),
            "approved (1 of 2); waiting for a second approver"
        );
        assert_eq!(
            waiting(1, 3),
            "approved (1 of 3); waiting for 2 more approvers"
        );
    }
}
