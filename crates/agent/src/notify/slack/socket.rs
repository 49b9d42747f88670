//! Socket Mode: instead of Slack posting interactions to the agent, the agent opens a
//! WebSocket to Slack (`apps.connections.open` with the app-level `xapp-` token gives its
//! URL) and receives them there, so the agent needs no address reachable from the internet.
//! Each envelope is acknowledged with its `envelope_id` at once, then its payload is handled
//! exactly as a signed HTTP interaction is; the socket is authenticated by the app token, so
//! there is no signature to check. Slack asks clients to reconnect now and then
//! (`disconnect`); a connection that fails is opened again with back-off.
//!
//! TLS is the agent's own (`nightshift_net`): the system's roots plus `tls.ca_file`.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::Slack;

/// The longest wait before opening a connection again.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Keeps a Socket Mode connection open for as long as the task runs, handing every
/// interaction's payload to `handle` (which must return at once: Slack wants the
/// acknowledgement within 3 seconds, and it is sent before).
pub async fn run<H>(slack: &Slack, handle: H)
where
    H: Fn(Value) + Send + Sync,
{
    let mut backoff = Duration::from_secs(1);
    loop {
        match session(slack, &handle).await {
            Ok(true) => backoff = Duration::from_secs(1),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(destination = slack.name(), error = %e, retry_in = ?backoff, "slack socket mode connection failed");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection, until Slack asks to reconnect or it drops; whether it ever got going.
async fn session<H>(slack: &Slack, handle: &H) -> Result<bool, String>
where
    H: Fn(Value) + Send + Sync,
{
    let url = slack.connections_open().await.map_err(|e| e.message)?;
    let connector = tokio_tungstenite::Connector::Rustls(Arc::new(
        nightshift_net::rustls_config(&slack.settings.tls).map_err(|e| e.to_string())?,
    ));
    // The URL carries a connection ticket: it is not logged.
    let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        None,
        false,
        Some(connector),
    )
    .await
    .map_err(|e| format!("unable to open the socket: {e}"))?;
    let mut started = false;
    while let Some(message) = ws.next().await {
        let message = message.map_err(|e| format!("the socket failed: {e}"))?;
        let text = match message {
            Message::Text(t) => t.as_str().to_string(),
            Message::Ping(p) => {
                ws.send(Message::Pong(p))
                    .await
                    .map_err(|e| format!("the socket failed: {e}"))?;
                continue;
            }
            Message::Close(_) => break,
            _ => continue,
        };
        let Ok(envelope) = serde_json::from_str::<Value>(&text) else {
            tracing::warn!(
                destination = slack.name(),
                "slack socket mode sent something that is not JSON"
            );
            continue;
        };
        match envelope["type"].as_str() {
            Some("hello") => {
                started = true;
                tracing::info!(destination = slack.name(), "slack socket mode connected");
            }
            Some("disconnect") => break,
            kind => {
                if let Some(id) = envelope["envelope_id"].as_str() {
                    ws.send(Message::text(json!({ "envelope_id": id }).to_string()))
                        .await
                        .map_err(|e| format!("the socket failed: {e}"))?;
                }
                if kind == Some("interactive") {
                    started = true;
                    handle(envelope["payload"].clone());
                }
            }
        }
    }
    Ok(started)
}
