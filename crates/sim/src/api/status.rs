//! Failures as Kubernetes `Status` objects, the only error shape kube-rs and kubectl read.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::resources::ResourceType;
use crate::store::{Invalid, StoreError};

/// A failed API request: the HTTP code, the `Status.reason`, a sentence, and optional
/// `Status.details`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `Conflict`, ...).
    pub reason: &'static str,
    /// Human-readable sentence.
    pub message: String,
    /// `Status.details` (name, group, kind, causes), if any.
    pub details: Option<Value>,
}

impl ApiError {
    /// An error with no details.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 404 for paths and resource types the server does not serve.
    pub fn unknown_resource() -> Self {
        ApiError {
            details: Some(json!({})),
            ..Self::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
        }
    }

    /// 404 for a missing object of a known type.
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", rt.qualified()),
        )
        .with_details(details(rt, name, rt.plural))
    }

    /// 405 for verbs a resource does not support.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({}))
    }

    /// 415 for patch content types the server does not know.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({content_type:?}); accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
            ),
        )
    }

    /// 500 for failures of the server itself.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// Replaces the details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Converts a store error on an object of type `rt`, filling in details the way the real
    /// API server does (`kind` is the resource plural, except for `Invalid` where it is the
    /// kind, with one cause per failed field).
    pub fn from_store(rt: &ResourceType, err: StoreError) -> Self {
        let code = err.code();
        let reason = err.reason();
        let message = err.to_string();
        let details = match &err {
            StoreError::NotFound { kind, name }
            | StoreError::AlreadyExists { kind, name }
            | StoreError::Conflict { kind, name } => Some(details(rt, name, kind)),
            StoreError::Invalid(Invalid {
                kind,
                name,
                message,
            }) => {
                let mut d = details(rt, name, kind);
                d["causes"] = json!(causes(message));
                Some(d)
            }
            StoreError::Gone { .. } | StoreError::MethodNotAllowed(_) => Some(json!({})),
            StoreError::Forbidden { name, causes, .. } => {
                let mut d = details(rt, name, rt.plural);
                if !causes.is_empty() {
                    d["causes"] = json!(causes);
                }
                Some(d)
            }
            StoreError::BadRequest(_) | StoreError::TooManyRequests(_) => None,
        };
        ApiError {
            code,
            reason,
            message,
            details,
        }
    }

    /// The `Status` object, its fields in kube-apiserver's order (clients that compare
    /// whole bodies notice).
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        });
        if let Some(d) = &self.details {
            status["details"] = d.clone();
        }
        status["code"] = json!(self.code);
        status
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        ApiError::new(err.code(), err.reason(), err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.to_status()).unwrap_or_default();
        let mut resp = (code, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

/// A `Status` of success, as answered to evictions (with a code) and to deletions that
/// removed the object at once (with details naming it, and no code).
pub fn success(code: Option<u16>, details: Option<Value>) -> Value {
    let mut status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
    });
    if let Some(d) = details {
        status["details"] = d;
    }
    if let Some(code) = code {
        status["code"] = json!(code);
    }
    status
}

/// The details of a deleted object: name, group, resource plural and uid.
pub fn deleted_details(rt: &ResourceType, obj: &Value) -> Value {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut d = details(rt, name, rt.plural);
    if let Some(uid) = obj.pointer("/metadata/uid") {
        d["uid"] = uid.clone();
    }
    d
}

/// `Status.details` naming an object: `{name, group?, kind}`. The group is the request's
/// only when the error is about an object of the request's type (not, say, its namespace).
/// Store errors name the resource as messages do (`deployments.apps`); details split it.
fn details(rt: &ResourceType, name: &str, kind: &str) -> Value {
    let kind = if kind == rt.qualified() {
        rt.plural
    } else {
        kind
    };
    // kube-apiserver's order: name, group, kind.
    let mut d = json!({ "name": name });
    if !rt.group.is_empty() && (kind == rt.plural || kind == rt.kind) {
        d["group"] = json!(rt.group);
    }
    d["kind"] = json!(kind);
    d
}

/// Splits a store validation message (`field: reason; field: reason`) into status causes.
fn causes(message: &str) -> Vec<Value> {
    message
        .split("; ")
        .map(|part| match part.split_once(": ") {
            Some((field, msg)) if !field.contains(' ') => {
                let reason = match msg.split(':').next().unwrap_or("") {
                    "Required value" => "FieldValueRequired",
                    "Forbidden" => "FieldValueForbidden",
                    "Unsupported value" => "FieldValueNotSupported",
                    "Duplicate value" => "FieldValueDuplicate",
                    "Too long" => "FieldValueTooLong",
                    _ => "FieldValueInvalid",
                };
                json!({ "reason": reason, "message": msg, "field": field })
            }
            _ => json!({ "reason": "FieldValueInvalid", "message": part }),
        })
        .collect()
}
