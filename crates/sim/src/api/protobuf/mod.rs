//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`) request and response bodies.
//!
//! kubectl's typed clients send built-in objects as protobuf, with no fallback to JSON, and
//! ask for protobuf answers. The server keeps objects as JSON, so this module converts between
//! the two forms, table-driven: `schema.txt` lists every message reachable from the served API
//! groups with each field's JSON name, number and type, generated from Kubernetes' own `.proto`
//! definitions (through the k8s-pb crate's prost bindings) by
//! `scripts/gen_k8s_protobuf_schema.py`. The prost types themselves are of no use here: they
//! have no JSON form and the server has no typed objects to hand them; prost-reflect would need
//! a descriptor set the crates do not ship, and neither knows Kubernetes' JSON exceptions
//! (times, quantities, int-or-strings, inline structs, Go's omitted zero values), which
//! [`special`] and [`decode`] handle.
//!
//! A document is the 4 bytes `k8s\0` and a `runtime.Unknown` {typeMeta=1 {apiVersion=1,
//! kind=2}, raw=2, contentEncoding=3, contentType=4} whose raw is the object's message. A watch
//! stream is a sequence of frames: a 4-byte big-endian length, then a `meta.v1.WatchEvent`
//! {type=1, object=2 RawExtension {raw=1}} whose raw is such a document.
//!
//! The response form is chosen from `Accept` as kube-apiserver does ([`Encoding::accepted`]):
//! protobuf when it is the first acceptable media type, except for Tables (JSON only) and
//! answers without a protobuf form; [`negotiate`] converts the JSON answers of every handler.

mod decode;
mod encode;
mod schema;
mod special;
mod wire;

#[cfg(test)]
mod tests;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::status::ApiError;
use wire::{Reader, Wire, put_bytes};

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The media type of a protobuf watch stream.
pub const WATCH_MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf;stream=watch";

/// The 4-byte prefix of every Kubernetes protobuf document.
const MAGIC: &[u8] = b"k8s\0";

/// Decodes a protobuf request body into the equivalent JSON object; 400 when it is malformed
/// or of a kind without a protobuf form.
pub fn to_json(body: &[u8]) -> Result<Value, ApiError> {
    document_to_json(body).map_err(|e| match e {
        Error::Malformed(m) => {
            ApiError::bad_request(format!("the protobuf body could not be decoded: {m}"))
        }
        Error::Unregistered(m) => ApiError::bad_request(m),
    })
}

/// Encodes a JSON object (with `apiVersion` and `kind`) as a protobuf document.
pub fn from_json(value: &Value) -> Result<Vec<u8>, String> {
    let obj = value
        .as_object()
        .ok_or_else(|| "only objects have a protobuf form".to_string())?;
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let id = protobuf_kind(api_version, kind)
        .ok_or_else(|| format!("kind {kind:?} of {api_version:?} has no protobuf form"))?;
    let mut raw = Vec::new();
    encode::message(schema::schema(), id, obj, &mut raw)?;
    let mut type_meta = Vec::new();
    put_bytes(&mut type_meta, 1, api_version.as_bytes());
    put_bytes(&mut type_meta, 2, kind.as_bytes());
    let mut out = MAGIC.to_vec();
    put_bytes(&mut out, 1, &type_meta);
    put_bytes(&mut out, 2, &raw);
    // contentEncoding and contentType, empty: Go writes them anyway.
    put_bytes(&mut out, 3, b"");
    put_bytes(&mut out, 4, b"");
    Ok(out)
}

/// One frame of a protobuf watch stream: the event type and the object.
pub fn watch_frame(event_type: &str, object: &Value) -> Result<Bytes, String> {
    let mut raw_ext = Vec::new();
    put_bytes(&mut raw_ext, 1, &from_json(object)?);
    let mut event = Vec::new();
    put_bytes(&mut event, 1, event_type.as_bytes());
    put_bytes(&mut event, 2, &raw_ext);
    let len = u32::try_from(event.len()).map_err(|_| "watch event too large".to_string())?;
    let mut frame = Vec::with_capacity(event.len() + 4);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&event);
    Ok(Bytes::from(frame))
}

/// The message of a kind that has a protobuf form (not Table, not a custom resource).
fn protobuf_kind(api_version: &str, kind: &str) -> Option<usize> {
    if kind.is_empty() || kind == "Table" {
        return None;
    }
    let s = schema::schema();
    // Kinds of groups the table does not carry (custom resources) have no protobuf form,
    // except the meta.k8s.io kinds every group version carries (Status, DeleteOptions...).
    if !s.knows_version(api_version) && !is_meta_kind(kind) {
        return None;
    }
    s.kind(api_version, kind)
}

fn is_meta_kind(kind: &str) -> bool {
    matches!(
        kind,
        "Status" | "DeleteOptions" | "WatchEvent" | "APIVersions" | "APIGroupList" | "APIGroup"
    ) || kind.starts_with("APIResourceList")
}

enum Error {
    Malformed(String),
    Unregistered(String),
}

/// A `k8s\0` document as JSON, with `apiVersion` and `kind` from its envelope.
fn document_to_json(body: &[u8]) -> Result<Value, Error> {
    let unknown = body.strip_prefix(MAGIC).ok_or_else(|| {
        Error::Malformed(format!(
            "provided data does not appear to be a protobuf message, expected prefix {:?}",
            MAGIC
        ))
    })?;
    let (mut api_version, mut kind, mut raw, mut content_type) = ("", "", &[][..], "");
    let text = |b| std::str::from_utf8(b).map_err(|_| "a string is not valid UTF-8".to_string());
    let mut r = Reader::new(unknown);
    let envelope = |e: String| Error::Malformed(format!("{e} in runtime.Unknown"));
    while let Some((tag, w)) = r.field().map_err(envelope)? {
        match (tag, w) {
            (1, Wire::Bytes(type_meta)) => {
                let mut t = Reader::new(type_meta);
                while let Some(field) = t.field().map_err(envelope)? {
                    match field {
                        (1, Wire::Bytes(v)) => api_version = text(v).map_err(envelope)?,
                        (2, Wire::Bytes(k)) => kind = text(k).map_err(envelope)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(r)) => raw = r,
            (4, Wire::Bytes(c)) => content_type = text(c).map_err(envelope)?,
            (1 | 2 | 4, w) => {
                return Err(envelope(format!(
                    "wrong wire type {} for field {tag}",
                    w.describe()
                )));
            }
            _ => {}
        }
    }
    let mut obj = if content_type.starts_with("application/json") {
        serde_json::from_slice::<Map<String, Value>>(raw)
            .map_err(|e| Error::Malformed(format!("the embedded JSON is invalid: {e}")))?
    } else {
        let id = protobuf_kind(api_version, kind).ok_or_else(|| {
            Error::Unregistered(format!(
                "no kind {kind:?} is registered for version {api_version:?} in the protobuf schema of the simulated API server"
            ))
        })?;
        let mut obj = Map::new();
        decode::message(schema::schema(), id, raw, &mut obj).map_err(Error::Malformed)?;
        obj
    };
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

/// The JSON of an embedded object (a RawExtension's raw): a protobuf document or JSON.
fn embedded_to_json(raw: &[u8]) -> Result<Value, String> {
    if raw.starts_with(MAGIC) {
        return document_to_json(raw).map_err(|e| match e {
            Error::Malformed(m) | Error::Unregistered(m) => m,
        });
    }
    serde_json::from_slice(raw).map_err(|e| format!("the embedded object is not JSON: {e}"))
}

/// The body form a client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/json`.
    Json,
    /// `application/vnd.kubernetes.protobuf`.
    Protobuf,
}

impl Encoding {
    /// The form of the first acceptable media type of `Accept`, by quality then order, as
    /// kube-apiserver negotiates: protobuf for `application/vnd.kubernetes.protobuf` (with or
    /// without `stream=watch`, or `as=PartialObjectMetadata[List]`), JSON for
    /// `application/json`, `*/*` or no `Accept`. A protobuf Table (`as=Table`) is not
    /// acceptable, so the next type is used.
    pub fn accepted(headers: &HeaderMap) -> Self {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut ranges: Vec<(f32, Option<Encoding>)> = accept
            .split(',')
            .map(|range| {
                let mut params = range.split(';').map(str::trim);
                let media = params.next().unwrap_or("").to_ascii_lowercase();
                let (mut q, mut as_kind) = (1.0f32, None);
                for p in params {
                    match p.split_once('=') {
                        Some(("q", v)) => q = v.trim().parse().unwrap_or(0.0),
                        Some(("as", v)) => as_kind = Some(v.trim()),
                        _ => {}
                    }
                }
                let encoding = match media.as_str() {
                    "application/json" | "*/*" | "application/*" => Some(Encoding::Json),
                    MEDIA_TYPE
                        if as_kind.is_none_or(|k| k.starts_with("PartialObjectMetadata")) =>
                    {
                        Some(Encoding::Protobuf)
                    }
                    _ => None,
                };
                (q, encoding)
            })
            .collect();
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranges
            .into_iter()
            .filter(|(q, _)| *q > 0.0)
            .find_map(|(_, e)| e)
            .unwrap_or(Encoding::Json)
    }
}

/// Middleware: answers in protobuf the clients that ask for it, converting the JSON answers
/// (objects, lists, Status errors) of every handler. Streams, Tables and answers without a
/// protobuf form stay as they are.
pub async fn negotiate(req: Request, next: Next) -> Response {
    let encoding = Encoding::accepted(req.headers());
    let resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if encoding == Encoding::Json || !is_json || http_body_exact(&resp).is_none() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => return ApiError::internal(format!("reading the answer: {e}")).into_response(),
    };
    let encoded = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
        let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
        protobuf_kind(api_version, kind)?;
        from_json(&v)
            .inspect_err(|e| tracing::warn!("answering in JSON: {kind} has no protobuf form: {e}"))
            .ok()
    });
    let body = match encoded {
        Some(pb) => {
            parts
                .headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
            parts.headers.remove(header::CONTENT_LENGTH);
            axum::body::Body::from(pb)
        }
        None => axum::body::Body::from(bytes),
    };
    Response::from_parts(parts, body)
}

/// The exact length of a response body known in advance; `None` for streams.
fn http_body_exact(resp: &Response) -> Option<u64> {
    use axum::body::HttpBody as _;
    resp.body().size_hint().exact()
}
