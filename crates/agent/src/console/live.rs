//! Live updates: a server-sent event stream of the engine's timeline broadcast, and the small
//! script that refreshes the page it is on when something changed.
//!
//! The stream carries only that something changed (`event: change`, the incident's id, the
//! entry's kind and time); the script then fetches the page it is on again and swaps in its
//! live part, so what it shows is exactly what a reload would show, from the same store reads.
//! Without JavaScript the pages stay as they are, and a reload shows the news.
//!
//! The broadcast is the one of the agent this stream is served by: on a replica that does not
//! run the loop (not the leader) nothing changes locally, so the stream also sends a `change`
//! every [`POLL`] when the store's newest timeline entry moved, which covers the leader's
//! steps through the shared store.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::*;
use crate::engine::LiveEvent;

/// How often a stream compares the store's newest timeline entry (see the module's note).
const POLL: Duration = Duration::from_secs(5);
/// How often an idle stream sends a comment so that proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Streams served at once; past this a new one is refused (503) and the page stays static.
pub const MAX_STREAMS: usize = 256;

/// The script, vendored into the binary: no build step, served from the agent itself so the
/// Content-Security-Policy can stay `script-src 'self'`.
const SCRIPT: &str = include_str!("../../templates/console/live.js");

#[derive(Debug, Deserialize)]
pub(super) struct EventsQuery {
    incident: Option<String>,
}

/// `GET /console/assets/live.js`.
pub(super) async fn script() -> Response {
    let mut res = SCRIPT.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// What woke a stream.
enum Woke {
    Live(Result<LiveEvent, RecvError>),
    Tick,
}

/// `GET /console/events[?incident=ID]`: the changes, as server-sent events, for as long as the
/// session lasts. 401 without a session, 503 past [`MAX_STREAMS`].
pub(super) async fn events<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    let session = match session::cookie(&headers, COOKIE) {
        Some(id) => st.console.get(&id).await.map(|s| (id, s)),
        None => None,
    };
    let Some((sid, session)) = session else {
        return error_page(
            StatusCode::UNAUTHORIZED,
            Chrome::default(),
            "live updates need a signed-in session",
        );
    };
    let Ok(permit) = st.console.streams().try_acquire_owned() else {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            Chrome::default(),
            format!("{MAX_STREAMS} live streams are open already; reload to see news"),
        );
    };
    let rx = st.engine.subscribe();
    let newest = newest_entry(&st, q.incident.as_deref()).await;
    let stream = changes(st, sid, session.expires, q.incident, rx, newest, permit);
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Tells nginx-style proxies not to buffer the stream.
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// The sequence number of the store's newest timeline entry (of incident `only`, if given),
/// if it can be read.
async fn newest_entry<A: Analyzer + 'static>(st: &ApiState<A>, only: Option<&str>) -> Option<i64> {
    let id = only.map(|i| IncidentId(i.to_string()));
    st.engine
        .store()
        .newest_timeline_seq(id.as_ref())
        .await
        .ok()
        .flatten()
}

fn change(incident: &str, kind: &str, at: DateTime<Utc>) -> Event {
    Event::default().event("change").data(
        serde_json::json!({"incident": incident, "kind": kind, "at": at.to_rfc3339()}).to_string(),
    )
}

fn changes<A: Analyzer + 'static>(
    st: Arc<ApiState<A>>,
    sid: String,
    expires: DateTime<Utc>,
    only: Option<String>,
    rx: tokio::sync::broadcast::Receiver<LiveEvent>,
    newest: Option<i64>,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let state = (st, sid, expires, only, rx, newest, permit);
    futures::stream::unfold(state, |mut s| async move {
        let (st, sid, expires, only, rx, newest, _) = &mut s;
        loop {
            // A session that expired ends its stream; one that was ended (signed out, on any
            // replica) is noticed at the next poll.
            if Utc::now() >= *expires {
                return None;
            }
            let next = tokio::select! {
                r = rx.recv() => Woke::Live(r),
                _ = tokio::time::sleep(POLL) => Woke::Tick,
            };
            let event = match next {
                Woke::Live(Ok(e)) => {
                    if only.as_ref().is_some_and(|id| *id != e.incident.0) {
                        continue;
                    }
                    change(&e.incident.0, &view::label(&e.entry.kind), e.entry.at)
                }
                // Missed some: say something changed, the page reads it all again anyway.
                Woke::Live(Err(RecvError::Lagged(_))) => change("", "lagged", Utc::now()),
                Woke::Live(Err(RecvError::Closed)) => return None,
                Woke::Tick => {
                    st.console.get(sid).await?;
                    let now = newest_entry(st, only.as_deref()).await;
                    if now == *newest {
                        continue;
                    }
                    *newest = now;
                    change(only.as_deref().unwrap_or(""), "stored", Utc::now())
                }
            };
            return Some((Ok(event), s));
        }
    })
}
