//! `pods/<name>/log`: container logs from the telemetry, with the kubelet's options
//! (`container`, `previous`, `tailLines`, `sinceSeconds`, `sinceTime`, `timestamps`,
//! `limitBytes`, `follow`).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use super::ApiState;
use super::handlers::{current, streaming};
use super::request::{ObjectPath, Query};
use super::status::ApiError;
use crate::clock::to_datetime;
use crate::telemetry::{LogError, LogLine};

/// What a log request asks for.
struct LogRequest {
    namespace: String,
    pod: String,
    container: Option<String>,
    previous: bool,
    timestamps: bool,
    since_ms: Option<i64>,
    tail: Option<usize>,
    limit_bytes: Option<usize>,
}

impl LogRequest {
    fn lines(&self, state: &ApiState) -> Result<Vec<LogLine>, LogError> {
        state.telemetry.logs(
            &self.namespace,
            &self.pod,
            self.container.as_deref(),
            self.previous,
        )
    }

    fn render(&self, line: &LogLine, out: &mut String) {
        if self.timestamps {
            out.push_str(
                &to_datetime(line.ts_ms)
                    .format("%Y-%m-%dT%H:%M:%S%.9fZ")
                    .to_string(),
            );
            out.push(' ');
        }
        out.push_str(&line.text);
        out.push('\n');
    }
}

fn log_error(err: LogError) -> ApiError {
    match &err {
        LogError::PodNotFound(name) => ApiError::new(404, "NotFound", err.to_string())
            .with_details(json!({"name": name, "kind": "pods"})),
        LogError::BadContainer(_) | LogError::Waiting { .. } | LogError::NoPrevious { .. } => {
            ApiError::bad_request(err.to_string())
        }
    }
}

fn positive(query: &Query, key: &str) -> Result<Option<i64>, ApiError> {
    match query.number(key)? {
        Some(n) if n < 0 || (n == 0 && key != "tailLines") => Err(ApiError::bad_request(format!(
            "{key}: Invalid value: {n}: must be greater than {}",
            if key == "tailLines" {
                "or equal to 0"
            } else {
                "0"
            }
        ))),
        n => Ok(n),
    }
}

/// `GET pods/<name>/log`.
pub fn serve(state: &Arc<ApiState>, p: &ObjectPath, query: &Query) -> Result<Response, ApiError> {
    let pod = current(state, p)?;
    let since_seconds = positive(query, "sinceSeconds")?;
    let since_time = match query.get("sinceTime").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "sinceTime {t:?} is not valid: it must be an RFC 3339 time such as 2026-01-01T00:00:00Z ({e})"
                    ))
                })?
                .timestamp_millis(),
        ),
    };
    if since_seconds.is_some() && since_time.is_some() {
        return Err(ApiError::bad_request(
            "at most one of sinceTime or sinceSeconds may be specified",
        ));
    }
    let now = state.store.clock().now_ms();
    let req = LogRequest {
        namespace: p.ns().to_string(),
        pod: p.name().to_string(),
        container: query
            .get("container")
            .filter(|c| !c.is_empty())
            .map(String::from),
        previous: query.flag("previous"),
        timestamps: query.flag("timestamps"),
        since_ms: since_time.or(since_seconds.map(|s| now - s * 1000)),
        tail: positive(query, "tailLines")?.map(|t| t as usize),
        limit_bytes: positive(query, "limitBytes")?.map(|l| l as usize),
    };
    let mut lines = req.lines(state).map_err(log_error)?;
    let seen = Cursor::after(&lines);
    if let Some(since) = req.since_ms {
        lines.retain(|l| l.ts_ms >= since);
    }
    if let Some(tail) = req.tail {
        lines.drain(..lines.len().saturating_sub(tail));
    }
    let mut text = String::new();
    for l in &lines {
        req.render(l, &mut text);
    }
    let mut budget = req.limit_bytes;
    let first = Bytes::from(truncate(text, &mut budget));
    if !query.flag("follow") || req.previous || budget == Some(0) {
        return Ok(streaming("text/plain", Body::from(first)));
    }
    let instance = container_instance(pod.value(), req.container.as_deref());
    let follow = Follow {
        state: state.clone(),
        req,
        seen,
        instance,
        budget,
        first: Some(first),
        interval: tokio::time::interval(state.log_poll_interval),
        done: false,
    };
    Ok(streaming(
        "text/plain",
        Body::from_stream(futures::stream::unfold(follow, Follow::next)),
    ))
}

/// Cuts `text` to the remaining byte budget (on a character boundary) and spends it.
fn truncate(mut text: String, budget: &mut Option<usize>) -> String {
    if let Some(left) = budget {
        if text.len() > *left {
            let mut cut = *left;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        *left -= text.len();
    }
    text
}

/// How far a follower has read: the newest timestamp and how many lines carried it.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    ts_ms: i64,
    count: usize,
}

impl Cursor {
    fn after(lines: &[LogLine]) -> Option<Cursor> {
        let last = lines.last()?.ts_ms;
        Some(Cursor {
            ts_ms: last,
            count: lines.iter().filter(|l| l.ts_ms == last).count(),
        })
    }

    /// Index of the first line not read yet.
    fn position(cursor: Option<Cursor>, lines: &[LogLine]) -> usize {
        match cursor {
            None => 0,
            Some(c) => (lines.partition_point(|l| l.ts_ms < c.ts_ms) + c.count).min(lines.len()),
        }
    }
}

/// Restart count and whether the followed container has terminated.
fn container_instance(pod: &Value, container: Option<&str>) -> (i64, bool) {
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array);
    let status = statuses.and_then(|ss| {
        ss.iter()
            .find(|s| container.is_none_or(|c| s.get("name").and_then(Value::as_str) == Some(c)))
    });
    match status {
        Some(s) => (
            s.get("restartCount").and_then(Value::as_i64).unwrap_or(0),
            s.pointer("/state/terminated").is_some(),
        ),
        None => (0, false),
    }
}

struct Follow {
    state: Arc<ApiState>,
    req: LogRequest,
    seen: Option<Cursor>,
    instance: (i64, bool),
    budget: Option<usize>,
    first: Option<Bytes>,
    interval: tokio::time::Interval,
    done: bool,
}

impl Follow {
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Self)> {
        if let Some(first) = self.first.take() {
            return Some((Ok(first), self));
        }
        loop {
            if self.done {
                return None;
            }
            self.interval.tick().await;
            let lines = match self.req.lines(&self.state) {
                Ok(lines) => lines,
                Err(_) => return None,
            };
            let start = Cursor::position(self.seen, &lines);
            if start < lines.len() {
                self.seen = Cursor::after(&lines);
            }
            let mut text = String::new();
            for l in &lines[start..] {
                self.req.render(l, &mut text);
            }
            let text = truncate(text, &mut self.budget);
            // The stream ends with its container instance: when the pod is gone, the container
            // restarted or terminated, or the byte budget is spent.
            let instance = self
                .state
                .store
                .get(
                    crate::resources::find("", "v1", "pods").expect("pods registered"),
                    &self.req.namespace,
                    &self.req.pod,
                )
                .map(|pod| container_instance(pod.value(), self.req.container.as_deref()));
            self.done = match instance {
                None => true,
                Some((restarts, terminated)) => restarts != self.instance.0 || terminated,
            } || self.budget == Some(0);
            if !text.is_empty() {
                return Some((Ok(Bytes::from(text)), self));
            }
        }
    }
}
