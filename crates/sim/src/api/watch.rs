//! Watches: newline-delimited JSON events streamed from the store's change feed.
//!
//! A client that asks for protobuf gets length-prefixed `WatchEvent` frames instead
//! ([`protobuf::watch_frame`]).
//!
//! A watch without a resource version (or `0`, or with `sendInitialEvents=true`) starts with
//! the current objects as synthetic `ADDED` events; one with a version `N` replays the changes
//! after `N`, or answers a 410 `ERROR` event if they have left the change log. Selectors apply
//! to every event, and an object that stops matching is sent as `DELETED`, as the real watch
//! cache does. A watcher that falls too far behind the broadcast gets a 410 and must re-list.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, Interval};

use super::handlers::{Selectors, streaming};
use super::request::{Format, ObjectPath, Query};
use super::status::ApiError;
use super::{ApiState, protobuf, tables};
use crate::resources::ResourceType;
use crate::store::{Change, ChangeType, Entry, StoreError};

/// How long a watch lasts when the client gives no `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Roughly how many bytes one chunk of the response carries.
const CHUNK_BYTES: usize = 256 * 1024;

/// Starts a watch.
pub fn serve(
    state: &Arc<ApiState>,
    p: &ObjectPath,
    query: &Query,
    format: Format,
    encoding: protobuf::Encoding,
) -> Result<Response, ApiError> {
    let selectors = Selectors::from_query(query, p.rt)?;
    let timeout = query
        .number("timeoutSeconds")?
        .filter(|t| *t > 0)
        .map_or(DEFAULT_TIMEOUT, |t| Duration::from_secs(t as u64));
    let since = match query.get("resourceVersion").filter(|v| !v.is_empty() && *v != "0") {
        None => None,
        Some(v) => Some(v.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion {v:?} is not valid: it must be a resource version the server returned"
            ))
        })?),
    };
    let send_initial = query.flag("sendInitialEvents");
    let bookmarks = query.flag("allowWatchBookmarks");
    let filter = (!selectors.is_empty() || p.name.is_some()).then(|| Filter {
        selectors,
        name: p.name.clone(),
        seen: HashSet::new(),
        decided: Some(HashSet::new()),
    });
    let mut watch = Watch {
        state: state.clone(),
        rt: p.rt,
        namespace: p.namespace.clone(),
        filter,
        format,
        proto: encoding == protobuf::Encoding::Protobuf && format != Format::Table,
        rx: None,
        last_rv: 0,
        pending: VecDeque::new(),
        bookmarks: bookmarks.then(|| {
            let mut i = tokio::time::interval(state.bookmark_interval);
            i.reset();
            i
        }),
        deadline: Instant::now() + timeout,
        done: false,
    };
    let initial = since.is_none() || send_initial;
    match state.store.watch(p.rt, if initial { None } else { since }) {
        Err(StoreError::Gone { requested, oldest }) => {
            watch.error(
                410,
                "Expired",
                &format!("too old resource version: {requested} ({oldest})"),
            );
            watch.done = true;
        }
        Err(e) => return Err(ApiError::from_store(p.rt, e)),
        Ok((backlog, rx)) => {
            watch.rx = Some(rx);
            if initial {
                watch.send_initial(send_initial && bookmarks);
            } else {
                watch.last_rv = since.unwrap_or(0);
                for change in backlog {
                    watch.process(&change);
                }
            }
        }
    }
    let content_type = if watch.proto {
        protobuf::WATCH_MEDIA_TYPE
    } else {
        "application/json"
    };
    let stream = futures::stream::unfold(watch, Watch::next);
    Ok(streaming(content_type, Body::from_stream(stream)))
}

/// Selector state of one watch: which objects the client currently holds as matching.
struct Filter {
    selectors: Selectors,
    name: Option<String>,
    seen: HashSet<(String, String)>,
    /// Objects whose match state this watch has established; `None` once every object's state
    /// is known (after synthetic initial events). A watch resumed from a version does not know
    /// which objects matched before it, so it treats unknown ones as possibly held.
    decided: Option<HashSet<(String, String)>>,
}

impl Filter {
    fn matches(&self, e: &Entry) -> bool {
        self.name.as_deref().is_none_or(|n| n == e.name()) && self.selectors.matches(e.value())
    }

    /// The event type to send for a change, or `None` to send nothing.
    fn classify(&mut self, kind: ChangeType, e: &Entry) -> Option<&'static str> {
        let key = (e.namespace().to_string(), e.name().to_string());
        let matches = self.matches(e);
        let held = if self.seen.contains(&key) {
            Some(true)
        } else if self.decided.as_ref().is_none_or(|d| d.contains(&key)) {
            Some(false)
        } else {
            None
        };
        let event = match kind {
            ChangeType::Added | ChangeType::Modified if matches => {
                let ty = if kind == ChangeType::Added || held == Some(false) {
                    "ADDED"
                } else {
                    "MODIFIED"
                };
                Some(ty)
            }
            ChangeType::Modified if held != Some(false) => Some("DELETED"),
            ChangeType::Deleted if matches || held == Some(true) => Some("DELETED"),
            _ => None,
        };
        match event {
            Some("DELETED") => {
                self.seen.remove(&key);
            }
            Some(_) => {
                self.seen.insert(key.clone());
            }
            None => {}
        }
        if let Some(d) = &mut self.decided {
            d.insert(key);
        }
        event
    }
}

struct Watch {
    state: Arc<ApiState>,
    rt: &'static ResourceType,
    namespace: Option<String>,
    filter: Option<Filter>,
    format: Format,
    /// Whether events are protobuf frames rather than JSON lines.
    proto: bool,
    rx: Option<broadcast::Receiver<Arc<Change>>>,
    /// The newest change this watch has consumed (of any type): what a bookmark may promise.
    last_rv: u64,
    pending: VecDeque<Bytes>,
    bookmarks: Option<Interval>,
    deadline: Instant,
    done: bool,
}

impl Watch {
    fn send_initial(&mut self, end_bookmark: bool) {
        let (items, rv) = self.state.store.list(self.rt, self.namespace.as_deref());
        self.last_rv = rv;
        for e in &items {
            let send = match &mut self.filter {
                None => true,
                Some(f) => {
                    let m = f.matches(e);
                    if m {
                        f.seen
                            .insert((e.namespace().to_string(), e.name().to_string()));
                    }
                    m
                }
            };
            if send {
                self.event("ADDED", e);
            }
        }
        if let Some(f) = &mut self.filter {
            f.decided = None;
        }
        if end_bookmark {
            self.bookmark(true);
        }
    }

    fn process(&mut self, change: &Change) {
        let rv = change.entry.resource_version();
        if rv <= self.last_rv {
            return;
        }
        self.last_rv = rv;
        // Changes of this type, or of the type it is a view of, converted.
        let Some(change) = crate::store::seen_as(self.rt, change) else {
            return;
        };
        if self
            .namespace
            .as_deref()
            .is_some_and(|ns| ns != change.entry.namespace())
        {
            return;
        }
        let ty = match &mut self.filter {
            None => Some(change.kind.as_str()),
            Some(f) => f.classify(change.kind, &change.entry),
        };
        if let Some(ty) = ty {
            self.event(ty, &change.entry);
        }
    }

    fn event(&mut self, ty: &str, e: &Entry) {
        if self.proto {
            let object = match self.format {
                Format::Metadata => tables::partial_metadata(e.value()),
                _ => e.value().clone(),
            };
            self.frame(ty, &object);
            return;
        }
        let mut buf = BytesMut::with_capacity(e.json().len() + 32);
        buf.put_slice(b"{\"type\":\"");
        buf.put_slice(ty.as_bytes());
        buf.put_slice(b"\",\"object\":");
        match self.format {
            Format::Object => buf.put_slice(e.json()),
            Format::Metadata => {
                buf.put_slice(tables::partial_metadata(e.value()).to_string().as_bytes())
            }
            Format::Table => {
                let now = self.state.store.clock().now_ms();
                let rv = e.resource_version().to_string();
                let t = tables::table(
                    self.rt,
                    &[e.value()],
                    now,
                    &rv,
                    None,
                    tables::RowObject::Metadata,
                );
                buf.put_slice(t.to_string().as_bytes());
            }
        }
        buf.put_slice(b"}\n");
        self.pending.push_back(buf.freeze());
    }

    fn bookmark(&mut self, initial_end: bool) {
        let mut meta = json!({"resourceVersion": self.last_rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj =
            json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": meta});
        self.line(&json!({"type": "BOOKMARK", "object": obj}));
    }

    fn error(&mut self, code: u16, reason: &str, message: &str) {
        let status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code,
        });
        self.line(&json!({"type": "ERROR", "object": status}));
    }

    fn line(&mut self, v: &Value) {
        if self.proto {
            self.frame(v["type"].as_str().unwrap_or_default(), &v["object"]);
            return;
        }
        let mut text = v.to_string();
        text.push('\n');
        self.pending.push_back(Bytes::from(text));
    }

    /// Queues a protobuf frame; an object without a protobuf form ends the watch with an
    /// `ERROR` event, as a broken stream would.
    fn frame(&mut self, ty: &str, object: &Value) {
        match protobuf::watch_frame(ty, object) {
            Ok(frame) => self.pending.push_back(frame),
            Err(e) => {
                let status = ApiError::internal(format!("encoding a {ty} event: {e}")).to_status();
                if let Ok(frame) = protobuf::watch_frame("ERROR", &status) {
                    self.pending.push_back(frame);
                }
                self.done = true;
            }
        }
    }

    /// Takes the pending events, coalesced into one chunk of bounded size.
    fn take_chunk(&mut self) -> Option<Bytes> {
        let first = self.pending.pop_front()?;
        if self.pending.is_empty() || first.len() >= CHUNK_BYTES {
            return Some(first);
        }
        let mut buf = BytesMut::from(&first[..]);
        while buf.len() < CHUNK_BYTES
            && let Some(next) = self.pending.pop_front()
        {
            buf.put_slice(&next);
        }
        Some(buf.freeze())
    }

    fn on_recv(&mut self, r: Result<Arc<Change>, RecvError>) {
        match r {
            Ok(change) => {
                self.process(&change);
                // Drain what is already queued so bursts go out as one chunk.
                for _ in 0..1024 {
                    match self.rx.as_mut().map(|rx| rx.try_recv()) {
                        Some(Ok(change)) => self.process(&change),
                        Some(Err(broadcast::error::TryRecvError::Lagged(n))) => {
                            self.on_recv(Err(RecvError::Lagged(n)));
                            return;
                        }
                        _ => break,
                    }
                }
            }
            Err(RecvError::Lagged(n)) => {
                self.error(
                    410,
                    "Expired",
                    &format!(
                        "the watch fell behind the change stream and missed {n} changes after resource version {}; list again and start a new watch",
                        self.last_rv
                    ),
                );
                self.done = true;
            }
            Err(RecvError::Closed) => self.done = true,
        }
    }

    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Self)> {
        loop {
            if let Some(chunk) = self.take_chunk() {
                return Some((Ok(chunk), self));
            }
            if self.done {
                return None;
            }
            let rx = self.rx.as_mut()?;
            tokio::select! {
                r = rx.recv() => self.on_recv(r),
                _ = tick(&mut self.bookmarks) => self.bookmark(false),
                _ = tokio::time::sleep_until(self.deadline) => self.done = true,
            }
        }
    }
}

async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}
