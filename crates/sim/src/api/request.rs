//! What a request asks for: the target parsed from its path, its query parameters, the output
//! format it accepts, and its JSON body.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use super::status::ApiError;
use crate::resources::{self, ResourceType};

/// What a path under `/api` or `/apis` names.
#[derive(Debug)]
pub enum Target {
    /// `/api`.
    CoreVersions,
    /// `/apis`.
    Groups,
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`.
    Resources(String, String),
    /// A collection, an object or a subresource.
    Object(ObjectPath),
}

/// A path to a collection, an object or one of its subresources.
#[derive(Debug)]
pub struct ObjectPath {
    /// The resource type.
    pub rt: &'static ResourceType,
    /// Namespace from the path; `None` for cluster-scoped types and all-namespace requests.
    pub namespace: Option<String>,
    /// Object name, if the path names one.
    pub name: Option<String>,
    /// Subresource (`status`, `scale`, `log`, `eviction`).
    pub sub: Option<String>,
    /// Whether the path used the legacy `/watch/` prefix.
    pub legacy_watch: bool,
}

impl ObjectPath {
    /// The namespace for writes: the path's, or empty for cluster-scoped types.
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    /// The object name (callers check that the path names one).
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

/// Parses a request path; `None` for paths the server does not serve.
pub fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["api"] => return Some(Target::CoreVersions),
        ["apis"] => return Some(Target::Groups),
        ["apis", group] => return Some(Target::Group(group.to_string())),
        ["api", version] => return Some(Target::Resources(String::new(), version.to_string())),
        ["apis", group, version] => {
            return Some(Target::Resources(group.to_string(), version.to_string()));
        }
        ["api", version, rest @ ..] => ("", version, rest),
        ["apis", group, version, rest @ ..] => (group, version, rest),
        _ => return None,
    };
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    let namespaced =
        |plural: &str| resources::find(group, version, plural).filter(|rt| rt.namespaced);
    let (rt, namespace, tail) = match rest {
        ["namespaces", ns, plural, tail @ ..] if namespaced(plural).is_some() => {
            (namespaced(plural)?, Some(ns.to_string()), tail)
        }
        [plural, tail @ ..] => (resources::find(group, version, plural)?, None, tail),
        [] => return None,
    };
    let (name, sub) = match tail {
        [] => (None, None),
        [name] => (Some(name.to_string()), None),
        [name, sub] if rt.subresources.contains(sub) => {
            (Some(name.to_string()), Some(sub.to_string()))
        }
        _ => return None,
    };
    if rt.namespaced && namespace.is_none() && name.is_some() {
        return None;
    }
    if name.as_deref() == Some("") {
        return None;
    }
    Some(Target::Object(ObjectPath {
        rt,
        namespace,
        name,
        sub,
        legacy_watch,
    }))
}

/// The query parameters of a request.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses the query string of a URI.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let Some(raw) = raw.filter(|r| !r.is_empty()) else {
            return Ok(Query::default());
        };
        let uri: axum::http::Uri = format!("/?{raw}")
            .parse()
            .map_err(|e| ApiError::bad_request(format!("invalid query string {raw:?}: {e}")))?;
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::bad_request(format!("invalid query string {raw:?}: {e}")))
    }

    /// The first value of a parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter.
    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter: present as `true` or `1`.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "True"))
    }

    /// A numeric parameter; 400 if it is not a number.
    pub fn number(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("query parameter {key}={v:?} must be an integer"))
                })
            })
            .transpose()
    }

    /// Whether `dryRun` asks for a dry run; 400 for values other than `All`.
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        dry_run_values(self.all("dryRun"))
    }
}

/// Checks `dryRun` values: `All` is a dry run, nothing is a real write, anything else is a 400.
pub fn dry_run_values<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<bool, ApiError> {
    let mut dry = false;
    for v in values {
        match v {
            "All" => dry = true,
            "" => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "dryRun: Unsupported value: {other:?}: supported values: \"All\""
                )));
            }
        }
    }
    Ok(dry)
}

/// The representation a client asked for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The objects themselves.
    Object,
    /// A `meta.k8s.io/v1` Table (kubectl's human-readable output).
    Table,
    /// `PartialObjectMetadata`: only the metadata.
    Metadata,
}

impl Format {
    /// The first representation in `Accept` the server can produce.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        for media in accept.split(',') {
            let params: Vec<&str> = media.split(';').map(str::trim).collect();
            if params.contains(&"as=Table") {
                return Format::Table;
            }
            if params
                .iter()
                .any(|p| p.starts_with("as=PartialObjectMetadata"))
            {
                return Format::Metadata;
            }
            if matches!(params.first(), Some(&"application/json") | Some(&"*/*")) {
                return Format::Object;
            }
        }
        Format::Object
    }
}

/// Parses a request body as a JSON object of type `rt`; a missing `kind` or `apiVersion` is
/// accepted, a different one is a 400.
pub fn decode_object(rt: &ResourceType, body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "the request body must be a JSON object of kind {}, not {}",
            rt.kind,
            kind_of_json(&value)
        )));
    }
    check_type(&value, &rt.api_version(), rt.kind)?;
    Ok(value)
}

/// Checks the `apiVersion` and `kind` of a body against the ones the endpoint takes.
pub fn check_type(value: &Value, api_version: &str, kind: &str) -> Result<(), ApiError> {
    let got_kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    let got_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if (!got_kind.is_empty() && got_kind != kind)
        || (!got_version.is_empty() && got_version != api_version)
    {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized: this endpoint takes kind {kind} of apiVersion {api_version}, but the body is kind {:?} of apiVersion {:?}",
            got_kind, got_version
        )));
    }
    Ok(())
}

fn kind_of_json(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON response with `code`.
pub fn json_bytes(code: u16, body: impl Into<Bytes>) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    let mut resp = (code, body.into()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A JSON value as a response with `code`.
pub fn json_value(code: u16, value: &Value) -> Response {
    json_bytes(code, serde_json::to_vec(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(path: &str) -> ObjectPath {
        match parse_path(path) {
            Some(Target::Object(o)) => o,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths() {
        let o = object("/api/v1/namespaces/default/pods/web-1/log");
        assert_eq!(
            (o.rt.plural, o.ns(), o.name(), o.sub.as_deref()),
            ("pods", "default", "web-1", Some("log"))
        );
        let o = object("/api/v1/namespaces/default");
        assert_eq!((o.rt.plural, o.name()), ("namespaces", "default"));
        let o = object("/api/v1/namespaces/default/status");
        assert_eq!(
            (o.rt.plural, o.name(), o.sub.as_deref()),
            ("namespaces", "default", Some("status"))
        );
        let o = object("/apis/apps/v1/watch/namespaces/x/deployments");
        assert!(o.legacy_watch && o.name.is_none());
        let o = object("/api/v1/pods");
        assert!(o.namespace.is_none());
        assert!(parse_path("/api/v1/pods/x").is_none());
        assert!(parse_path("/api/v1/namespaces/x/widgets").is_none());
        assert!(parse_path("/api/v1/namespaces/x/pods/p/exec").is_none());
        assert!(parse_path("/apis/apps/v1/namespaces/x/nodes").is_none());
        assert!(matches!(
            parse_path("/apis/apps/v1"),
            Some(Target::Resources(..))
        ));
    }
}
