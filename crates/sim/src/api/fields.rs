//! Field validation: what happens to fields a body sets that its type does not declare, as
//! the `fieldValidation` query parameter asks (kube-apiserver 1.27 and later): `Strict`
//! refuses the request with a 400 naming every such field, `Warn` (the default) drops them
//! and says so in a `Warning` header, `Ignore` drops them silently. Either way nothing
//! undeclared is stored: the real server decodes into its Go types, which have no place for
//! them.

use axum::http::{HeaderValue, header::HeaderName};
use axum::response::Response;
use serde_json::{Value, json};

use super::request::Query;
use super::status::ApiError;
use crate::resources::ResourceType;
use crate::store::unknown_fields;

/// The levels of `fieldValidation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop undeclared fields silently.
    Ignore,
    /// Drop them with a warning (kube-apiserver's default).
    #[default]
    Warn,
    /// Refuse the request.
    Strict,
}

impl FieldValidation {
    /// The level a request asks for, or `default` when it names none; an unknown level is a
    /// 422 as kube-apiserver validates its options.
    pub fn from_query(query: &Query, default: FieldValidation) -> Result<Self, ApiError> {
        match query.get("fieldValidation") {
            None | Some("") => Ok(default),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::new(
                422,
                "Invalid",
                format!(
                    "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
                ),
            )
            .with_details(json!({"causes": [{
                "reason": "FieldValueNotSupported",
                "message": format!("Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""),
                "field": "fieldValidation",
            }]}))),
        }
    }
}

impl std::str::FromStr for FieldValidation {
    type Err = String;

    /// `Strict`, `Warn` or `Ignore`, in any case (for command lines).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "strict" => Ok(FieldValidation::Strict),
            "warn" => Ok(FieldValidation::Warn),
            "ignore" => Ok(FieldValidation::Ignore),
            _ => Err(format!("{s:?} is not one of Strict, Warn, Ignore")),
        }
    }
}

/// How undeclared fields are reported: in a decoding error of a create, update or patch
/// (`unknown field "spec.replicaz"`), or in a server-side apply (`.spec.replicaz: field not
/// declared in schema`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wording {
    /// Create, update and non-apply patches.
    Decode,
    /// Server-side apply.
    Apply,
}

/// Finds the fields of `obj` its type does not declare and deals with them as `level`
/// says: an error for `Strict`, otherwise removes them from `obj` and returns the warnings
/// to send (none for `Ignore`).
pub fn check(
    rt: &ResourceType,
    obj: &mut Value,
    level: FieldValidation,
    wording: Wording,
) -> Result<Vec<String>, ApiError> {
    let unknown = unknown_fields(rt, obj);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let text = |path: &str| match wording {
        Wording::Decode => format!("unknown field {path:?}"),
        Wording::Apply => format!(".{path}: field not declared in schema"),
    };
    if level == FieldValidation::Strict {
        let listed: Vec<String> = unknown.iter().map(|p| text(p)).collect();
        let message = match wording {
            Wording::Decode => format!(
                "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
                listed.join(", "),
                kind = rt.kind,
                version = rt.version,
            ),
            Wording::Apply => listed.join(", "),
        };
        let causes: Vec<Value> = unknown
            .iter()
            .map(|p| json!({"reason": "FieldValueInvalid", "message": text(p), "field": p}))
            .collect();
        return Err(ApiError::bad_request(message).with_details(json!({"causes": causes})));
    }
    for path in &unknown {
        remove(obj, path);
    }
    Ok(match level {
        FieldValidation::Warn => unknown.iter().map(|p| text(p)).collect(),
        _ => Vec::new(),
    })
}

/// Removes the field at a path as [`unknown_fields`] writes them (`a.b[0].c`).
fn remove(obj: &mut Value, path: &str) {
    let mut segments: Vec<(String, Option<usize>)> = Vec::new();
    for part in path.split('.') {
        let mut name = part;
        let mut indexes = Vec::new();
        while let Some(open) = name.rfind('[') {
            if let Ok(i) = name[open + 1..name.len() - 1].parse() {
                indexes.push(i);
            }
            name = &name[..open];
        }
        segments.push((name.to_string(), None));
        for i in indexes.into_iter().rev() {
            segments.push((String::new(), Some(i)));
        }
    }
    let Some(((last, _), parents)) = segments.split_last() else {
        return;
    };
    let mut v = obj;
    for (name, index) in parents {
        let next = match index {
            Some(i) => v.get_mut(*i),
            None => v.get_mut(name.as_str()),
        };
        match next {
            Some(n) => v = n,
            None => return,
        }
    }
    if let Some(m) = v.as_object_mut() {
        m.remove(last);
    }
}

/// Adds one `Warning` header per warning, in the form kube-apiserver uses
/// (`299 - "<text>"`).
pub fn add_warnings(resp: &mut Response, warnings: &[String]) {
    for w in warnings {
        let text = format!("299 - {}", json!(w));
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut()
                .append(HeaderName::from_static("warning"), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources;

    fn deployments() -> &'static ResourceType {
        resources::find("apps", "v1", "deployments").unwrap()
    }

    fn typo() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"any": "label"}},
            "spec": {"replicaz": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "web:1", "imagez": "x"}]}}},
        })
    }

    #[test]
    fn strict_refuses_naming_every_undeclared_field() {
        let err = check(
            deployments(),
            &mut typo(),
            FieldValidation::Strict,
            Wording::Decode,
        )
        .unwrap_err();
        assert_eq!((err.code, err.reason), (400, "BadRequest"));
        assert_eq!(
            err.message,
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.replicaz\", unknown field \"spec.template.spec.containers[0].imagez\""
        );
        let causes = &err.details.unwrap()["causes"];
        assert_eq!(causes[0]["field"], "spec.replicaz");
        let err = check(
            deployments(),
            &mut typo(),
            FieldValidation::Strict,
            Wording::Apply,
        )
        .unwrap_err();
        assert!(
            err.message
                .starts_with(".spec.replicaz: field not declared in schema")
        );
    }

    #[test]
    fn warn_and_ignore_drop_the_fields() {
        let mut obj = typo();
        let warnings = check(
            deployments(),
            &mut obj,
            FieldValidation::Warn,
            Wording::Decode,
        )
        .unwrap();
        assert_eq!(
            warnings,
            vec![
                "unknown field \"spec.replicaz\"".to_string(),
                "unknown field \"spec.template.spec.containers[0].imagez\"".to_string()
            ]
        );
        assert!(obj["spec"].get("replicaz").is_none());
        assert!(
            obj["spec"]["template"]["spec"]["containers"][0]
                .get("imagez")
                .is_none()
        );
        assert_eq!(obj["metadata"]["labels"]["any"], "label");
        let mut obj = typo();
        let none = check(
            deployments(),
            &mut obj,
            FieldValidation::Ignore,
            Wording::Decode,
        )
        .unwrap();
        assert!(none.is_empty() && obj["spec"].get("replicaz").is_none());
    }

    #[test]
    fn levels_from_the_query() {
        let q = Query::parse(Some("fieldValidation=Strict")).unwrap();
        assert_eq!(
            FieldValidation::from_query(&q, FieldValidation::Warn).unwrap(),
            FieldValidation::Strict
        );
        let q = Query::parse(Some("fieldValidation=strict")).unwrap();
        assert_eq!(
            FieldValidation::from_query(&q, FieldValidation::Warn)
                .unwrap_err()
                .code,
            422
        );
        let q = Query::parse(None).unwrap();
        assert_eq!(
            FieldValidation::from_query(&q, FieldValidation::Ignore).unwrap(),
            FieldValidation::Ignore
        );
    }
}
