//! Slack: one message per incident in a channel, in Block Kit, updated in place as the
//! incident moves, with each step also as a reply in the message's thread. A plan awaiting
//! approval carries Approve and Reject buttons; the clicks come back to the agent as signed
//! interactions (`POST /api/v1/slack/interactions`, see `crate::http`) or, with Socket Mode,
//! over a WebSocket the agent opens ([`socket`]).
//!
//! The first delivery about an incident posts the message (`chat.postMessage`) and keeps its
//! channel and `ts` in the outbox; every later one updates that message (`chat.update`) and
//! replies in its thread, so a restart or a new leader carries on with the same message.
//!
//! Slack's Web API answers HTTP 200 with `{"ok": false, "error": ...}` when it refuses a
//! call: rate limits and Slack's own failures are retried, everything else (a bad token, an
//! unknown channel, a message too long) is a refusal, named by Slack's error string. The bot
//! token is only ever sent as a bearer header and never logged.

pub mod blocks;
pub mod socket;

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Delivered, DeliveryError, Subject};

/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// How far a request's timestamp may be from now before it is refused as a replay (Slack's
/// recommendation).
pub const MAX_REQUEST_AGE_SECS: i64 = 5 * 60;

/// The `action_id` of the Approve button.
pub const APPROVE_ACTION: &str = "nightshift_approve";
/// The `action_id` of the Reject button (it opens a modal asking for a reason).
pub const REJECT_ACTION: &str = "nightshift_reject";
/// The `callback_id` of the rejection modal.
pub const REJECT_VIEW: &str = "nightshift_reject";
/// The `block_id` and `action_id` of the modal's reason input.
pub const REASON_INPUT: &str = "reason";

/// Web API errors worth retrying: rate limits and Slack's own failures. Every other error
/// string is a refusal of the request.
const RETRYABLE: &[&str] = &[
    "ratelimited",
    "rate_limited",
    "service_unavailable",
    "fatal_error",
    "internal_error",
    "request_timeout",
];

/// A secret kept out of `Debug` and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// How a Slack destination is set up.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    /// The destination's name.
    pub name: String,
    /// The channel messages go to (an id such as `C024BE91L`, or `#name`).
    pub channel: String,
    /// The Web API's base URL (`https://slack.com/api`).
    pub api_url: String,
    /// The bot token (`xoxb-...`).
    pub bot_token: Secret,
    /// The app's signing secret, which interactions posted to the agent are checked against;
    /// `None` when clicks come over Socket Mode only.
    pub signing_secret: Option<Secret>,
    /// The app-level token (`xapp-...`) for Socket Mode; `None`: clicks come over HTTP.
    pub app_token: Option<Secret>,
    /// What the Socket Mode connection trusts (the agent's `tls:`).
    pub tls: nightshift_net::TlsSettings,
}

/// Why an interaction request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header is missing or unreadable.
    #[error("missing or unreadable {0} header")]
    Missing(&'static str),
    /// The timestamp is too far from now.
    #[error(
        "request timestamp {timestamp} is {age}s away from now (at most {MAX_REQUEST_AGE_SECS}s): refused as a possible replay"
    )]
    Stale {
        /// The request's timestamp (seconds since the epoch).
        timestamp: i64,
        /// How far from now.
        age: i64,
    },
    /// The signature does not match the body.
    #[error("the signature does not match the request")]
    Mismatch,
    /// This destination has no signing secret.
    #[error("no signing secret is configured for this Slack destination")]
    NoSecret,
}

/// Checks a request as Slack signs it: `signature` is `v0=` and the hex HMAC-SHA256, keyed
/// by the signing secret, of `v0:{timestamp}:{body}`; a timestamp more than
/// [`MAX_REQUEST_AGE_SECS`] from `now` (seconds since the epoch) is refused. The comparison
/// takes the same time whatever the signature.
pub fn verify_signature(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let ts_text = timestamp
        .map(str::trim)
        .ok_or(SignatureError::Missing("X-Slack-Request-Timestamp"))?;
    let ts: i64 = ts_text
        .parse()
        .map_err(|_| SignatureError::Missing("X-Slack-Request-Timestamp"))?;
    let age = (now - ts).abs();
    if age > MAX_REQUEST_AGE_SECS {
        return Err(SignatureError::Stale { timestamp: ts, age });
    }
    let given = signature
        .and_then(|s| s.trim().strip_prefix("v0="))
        .and_then(decode_hex)
        .ok_or(SignatureError::Missing("X-Slack-Signature"))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::NoSecret)?;
    mac.update(b"v0:");
    mac.update(ts_text.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

/// The signature Slack sends with a request: `v0=` and the hex HMAC-SHA256 of
/// `v0:{timestamp}:{body}` keyed by the signing secret.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Where an incident's message is: what the outbox keeps between deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    /// The channel's id.
    pub channel: String,
    /// The message's timestamp, Slack's id for it.
    pub ts: String,
}

/// Posts and updates incident messages in a Slack channel.
#[derive(Debug)]
pub struct Slack {
    settings: SlackSettings,
    client: reqwest::Client,
}

impl Slack {
    /// A Slack destination calling the Web API through `client`.
    pub fn new(settings: SlackSettings, client: reqwest::Client) -> Self {
        Slack { settings, client }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The channel it posts to.
    pub fn channel(&self) -> &str {
        &self.settings.channel
    }

    /// Whether clicks come over Socket Mode.
    pub fn socket_mode(&self) -> bool {
        self.settings.app_token.is_some()
    }

    /// Checks an interaction posted to the agent against this app's signing secret.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let secret = self
            .settings
            .signing_secret
            .as_ref()
            .ok_or(SignatureError::NoSecret)?;
        verify_signature(secret.expose(), timestamp, signature, body, now)
    }

    /// Whether interactions posted to the agent can be checked (a signing secret is set).
    pub fn takes_requests(&self) -> bool {
        self.settings.signing_secret.is_some()
    }

    pub(in crate::notify) async fn deliver(
        &self,
        s: &Subject,
        kept: Option<&str>,
    ) -> Result<Delivered, DeliveryError> {
        let message = blocks::message(s);
        let kept: Option<MessageRef> = kept.and_then(|k| serde_json::from_str(k).ok());
        let Some(at) = kept else {
            return self.post(s, &message).await;
        };
        let update = json!({
            "channel": at.channel,
            "ts": at.ts,
            "text": blocks::fallback(s),
            "blocks": message,
        });
        match self
            .call("chat.update", &self.settings.bot_token, &update)
            .await
        {
            Ok(_) => {}
            // The message was deleted: post a new one and keep that.
            Err(e) if e.message.ends_with(": message_not_found") => {
                return self.post(s, &message).await;
            }
            Err(e) => return Err(e),
        }
        let reply = json!({
            "channel": at.channel,
            "thread_ts": at.ts,
            "text": s.text(),
        });
        self.call("chat.postMessage", &self.settings.bot_token, &reply)
            .await?;
        Ok(Delivered::default())
    }

    /// Posts a new message for the incident and keeps where it is.
    async fn post(&self, s: &Subject, message: &Value) -> Result<Delivered, DeliveryError> {
        let body = json!({
            "channel": self.settings.channel,
            "text": blocks::fallback(s),
            "blocks": message,
            "unfurl_links": false,
        });
        let answer = self
            .call("chat.postMessage", &self.settings.bot_token, &body)
            .await?;
        let at = MessageRef {
            channel: answer["channel"]
                .as_str()
                .unwrap_or(&self.settings.channel)
                .to_string(),
            ts: answer["ts"]
                .as_str()
                .ok_or_else(|| {
                    DeliveryError::permanent("slack chat.postMessage: the answer has no ts")
                })?
                .to_string(),
        };
        Ok(Delivered {
            keep: Some(serde_json::to_string(&at).unwrap_or_default()),
        })
    }

    /// Opens the rejection modal for `incident` in answer to a click (`trigger_id`), keeping
    /// the click's `response_url` to answer the user later.
    pub async fn open_reject_view(
        &self,
        trigger_id: &str,
        incident: &str,
        response_url: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let body = json!({
            "trigger_id": trigger_id,
            "view": blocks::reject_view(incident, response_url),
        });
        self.call("views.open", &self.settings.bot_token, &body)
            .await
            .map(|_| ())
    }

    /// Tells the user who clicked, and only them, `text` through the interaction's
    /// `response_url`.
    pub async fn respond(&self, response_url: &str, text: &str) -> Result<(), DeliveryError> {
        let resp = self
            .client
            .post(response_url)
            .timeout(Duration::from_secs(10))
            .json(&json!({
                "response_type": "ephemeral",
                "replace_original": false,
                "text": text,
            }))
            .send()
            .await
            // The URL lets anyone answer the user for a while: it stays out of the log.
            .map_err(|e| DeliveryError::transport(&e.without_url()))?;
        if resp.status().is_success() {
            return Ok(());
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        Err(DeliveryError::status(status, &headers, &body))
    }

    /// Opens a Socket Mode connection: the WebSocket URL `apps.connections.open` gives.
    pub(crate) async fn connections_open(&self) -> Result<String, DeliveryError> {
        let token = self
            .settings
            .app_token
            .as_ref()
            .ok_or_else(|| DeliveryError::permanent("no app-level token for Socket Mode"))?;
        let answer = self
            .call("apps.connections.open", token, &json!({}))
            .await?;
        answer["url"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| DeliveryError::permanent("slack apps.connections.open: no url"))
    }

    /// Calls a Web API method with `token`; the answer when Slack says `ok`.
    async fn call(
        &self,
        method: &str,
        token: &Secret,
        body: &Value,
    ) -> Result<Value, DeliveryError> {
        let url = format!("{}/{method}", self.settings.api_url.trim_end_matches('/'));
        let resp = self
            .client
            .post(url)
            .timeout(Duration::from_secs(10))
            .bearer_auth(token.expose())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(serde_json::to_vec(body).unwrap_or_default())
            .send()
            .await
            .map_err(|e| {
                let mut e = DeliveryError::transport(&e);
                e.message = format!("slack {method}: {}", e.message);
                e
            })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let answer: Option<Value> = serde_json::from_str(&text).ok();
        let error = answer
            .as_ref()
            .and_then(|a| a["error"].as_str())
            .map(str::to_string);
        if !status.is_success() {
            let mut e = DeliveryError::status(status, &headers, &text);
            e.message = match error {
                Some(error) => format!("slack {method}: HTTP {status}: {error}"),
                None => format!("slack {method}: {}", e.message),
            };
            return Err(e);
        }
        let Some(answer) = answer else {
            return Err(DeliveryError::transient(format!(
                "slack {method}: the answer is not JSON: {}",
                nightshift_core::text::one_line(&text, 200)
            )));
        };
        if answer["ok"].as_bool() == Some(true) {
            return Ok(answer);
        }
        let error = error.unwrap_or_else(|| "unknown_error".to_string());
        let detail = answer["response_metadata"]["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .filter(|m| !m.is_empty());
        let mut message = format!("slack {method}: {error}");
        if let Some(detail) = detail {
            message.push_str(&format!(
                " ({})",
                nightshift_core::text::one_line(&detail, 300)
            ));
        }
        let retry = RETRYABLE.contains(&error.as_str());
        Err(DeliveryError {
            retry,
            message,
            retry_after: headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's own worked example of a signed request.
    #[test]
    fn a_request_signed_as_slack_documents_is_accepted() {
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let ts = "1531420618";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let now = 1531420618 + 30;
        assert_eq!(sign(secret, ts, body), sig);
        assert_eq!(
            verify_signature(secret, Some(ts), Some(sig), body, now),
            Ok(())
        );
        // One byte of the body changed, another secret, a signature cut short: refused.
        let mut other = body.to_vec();
        other[6] = b'X';
        assert_eq!(
            verify_signature(secret, Some(ts), Some(sig), &other, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature("another", Some(ts), Some(sig), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(secret, Some(ts), Some(&sig[..sig.len() - 2]), body, now),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            verify_signature(secret, Some(ts), None, body, now),
            Err(SignatureError::Missing("X-Slack-Signature"))
        ));
        assert!(matches!(
            verify_signature(secret, None, Some(sig), body, now),
            Err(SignatureError::Missing("X-Slack-Request-Timestamp"))
        ));
        // Six minutes later the same request is a replay.
        assert!(matches!(
            verify_signature(secret, Some(ts), Some(sig), body, 1531420618 + 360),
            Err(SignatureError::Stale { age: 360, .. })
        ));
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let s = SlackSettings {
            name: "chat".into(),
            channel: "C1".into(),
            api_url: DEFAULT_API_URL.into(),
            bot_token: Secret::new("xoxb-very-secret"),
            signing_secret: Some(Secret::new("shh")),
            app_token: None,
            tls: Default::default(),
        };
        let text = format!("{s:?}");
        assert!(
            !text.contains("very-secret") && !text.contains("shh"),
            "{text}"
        );
    }
}
