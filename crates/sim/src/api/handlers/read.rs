//! Reading: get, and list with label and field selectors, `limit` and `continue`, as
//! objects, metadata only or a kubectl Table.

use std::sync::Arc;

use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};

use super::current;
use crate::api::request::{Format, ObjectPath, Query, json_bytes, json_value};
use crate::api::selectors::{FieldSelector, LabelSelector};
use crate::api::status::ApiError;
use crate::api::{ApiState, tables};
use crate::resources::ResourceType;
use crate::store::Entry;

pub(super) fn get(state: &ApiState, p: &ObjectPath, format: Format) -> Result<Response, ApiError> {
    let entry = current(state, p)?;
    Ok(match format {
        Format::Object => json_bytes(200, entry.json().clone()),
        Format::Metadata => json_value(200, &tables::partial_metadata(entry.value())),
        Format::Table => {
            let now = state.store.clock().now_ms();
            let rv = entry.resource_version().to_string();
            json_value(
                200,
                &tables::table(
                    p.rt,
                    &[entry.value()],
                    now,
                    &rv,
                    None,
                    tables::RowObject::Metadata,
                ),
            )
        }
    })
}

/// Label and field selectors of a request.
pub struct Selectors {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
}

impl Selectors {
    /// Parses `labelSelector` and `fieldSelector` of a request on `rt`; 400 on bad syntax
    /// and on field labels the type does not support.
    pub fn from_query(query: &Query, rt: &ResourceType) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or(""))
            .and_then(|f| f.for_type(rt.group, rt.kind))
            .map_err(ApiError::bad_request)?;
        Ok(Selectors { labels, fields })
    }

    /// Whether neither selector has requirements.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// Whether an object matches both.
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches_object(obj) && (self.fields.is_empty() || self.fields.matches(obj))
    }
}

/// Position of a paged list: where the next page starts and the version of the first page.
struct ContinueToken {
    rv: u64,
    namespace: String,
    name: String,
}

impl ContinueToken {
    fn encode(&self) -> String {
        let raw = format!("{}/{}/{}", self.rv, self.namespace, self.name);
        raw.bytes().map(|b| format!("{b:02x}")).collect()
    }

    fn decode(token: &str) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::bad_request(format!(
                "continue key {token:?} is not valid: pass the continue value of the previous page unchanged"
            ))
        };
        if !token.len().is_multiple_of(2) {
            return Err(bad());
        }
        let bytes: Vec<u8> = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(token.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let raw = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = raw.splitn(3, '/');
        let rv = parts.next().and_then(|r| r.parse().ok()).ok_or_else(bad)?;
        let namespace = parts.next().ok_or_else(bad)?.to_string();
        let name = parts.next().ok_or_else(bad)?.to_string();
        Ok(ContinueToken {
            rv,
            namespace,
            name,
        })
    }
}

/// One page of a list.
pub struct Page {
    /// The selected objects.
    pub items: Vec<Arc<Entry>>,
    /// `metadata.resourceVersion` of the list.
    pub rv: u64,
    /// Token for the next page.
    pub continue_token: Option<String>,
    /// Objects after this page (only for lists without selectors, as the real server).
    pub remaining: Option<usize>,
}

/// Selects the objects of a list request: namespace, selectors, `limit` and `continue`.
pub fn select(state: &ApiState, p: &ObjectPath, query: &Query) -> Result<Page, ApiError> {
    let selectors = Selectors::from_query(query, p.rt)?;
    let limit = query
        .number("limit")?
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let token = query
        .get("continue")
        .filter(|c| !c.is_empty())
        .map(ContinueToken::decode)
        .transpose()?;
    let (all, store_rv) = state.store.list(p.rt, p.namespace.as_deref());
    let start = match &token {
        Some(t) => all.partition_point(|e| {
            (e.namespace(), e.name()) <= (t.namespace.as_str(), t.name.as_str())
        }),
        None => 0,
    };
    let rv = token.as_ref().map_or(store_rv, |t| t.rv);
    let mut items = Vec::new();
    let mut next = None;
    for (i, e) in all.iter().enumerate().skip(start) {
        if !selectors.matches(e.value()) {
            continue;
        }
        if limit.is_some_and(|l| items.len() == l) {
            next = Some(i);
            break;
        }
        items.push(e.clone());
    }
    let continue_token = next.and_then(|_| items.last()).map(|last| {
        ContinueToken {
            rv,
            namespace: last.namespace().to_string(),
            name: last.name().to_string(),
        }
        .encode()
    });
    let remaining = match next {
        Some(i) if selectors.is_empty() => Some(all.len() - i),
        _ => None,
    };
    Ok(Page {
        items,
        rv,
        continue_token,
        remaining,
    })
}

fn list_metadata(page: &Page) -> Value {
    let mut meta = json!({"resourceVersion": page.rv.to_string()});
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(r) = page.remaining {
        meta["remainingItemCount"] = json!(r);
    }
    meta
}

/// A list body built from the objects' cached JSON, without serializing them again.
pub fn list_body(rt: &ResourceType, metadata: &Value, items: &[Arc<Entry>]) -> Bytes {
    let size: usize = items.iter().map(|e| e.json().len() + 1).sum();
    let mut buf = BytesMut::with_capacity(size + 256);
    buf.put_slice(b"{\"kind\":");
    buf.put_slice(json!(rt.list_kind).to_string().as_bytes());
    buf.put_slice(b",\"apiVersion\":");
    buf.put_slice(json!(rt.api_version()).to_string().as_bytes());
    buf.put_slice(b",\"metadata\":");
    buf.put_slice(metadata.to_string().as_bytes());
    buf.put_slice(b",\"items\":[");
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b',');
        }
        buf.put_slice(e.json());
    }
    buf.put_slice(b"]}");
    buf.freeze()
}

pub(super) fn list(
    state: &ApiState,
    p: &ObjectPath,
    query: &Query,
    format: Format,
) -> Result<Response, ApiError> {
    let page = select(state, p, query)?;
    let meta = list_metadata(&page);
    Ok(match format {
        Format::Object => json_bytes(200, list_body(p.rt, &meta, &page.items)),
        Format::Metadata => {
            let items: Vec<Value> = page
                .items
                .iter()
                .map(|e| tables::partial_metadata(e.value()))
                .collect();
            json_value(
                200,
                &json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items}),
            )
        }
        Format::Table => {
            let now = state.store.clock().now_ms();
            let row_object = tables::RowObject::from_query(query.get("includeObject"));
            let values: Vec<&Value> = page.items.iter().map(|e| e.value()).collect();
            let mut table = tables::table(
                p.rt,
                &values,
                now,
                &page.rv.to_string(),
                page.continue_token.as_deref(),
                row_object,
            );
            if let Some(r) = page.remaining {
                table["metadata"]["remainingItemCount"] = json!(r);
            }
            json_value(200, &table)
        }
    })
}
