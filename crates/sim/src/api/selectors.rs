//! Label and field selectors, as the `labelSelector` and `fieldSelector` query parameters and
//! the `LabelSelector` objects of workloads and disruption budgets express them.

use std::fmt;

use serde_json::{Map, Value};

/// How a label requirement compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    NotEq,
    In,
    NotIn,
    Exists,
    NotExists,
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let value = labels
            .and_then(|l| l.get(&self.key))
            .and_then(Value::as_str);
        match self.op {
            Op::Eq | Op::In => value.is_some_and(|v| self.values.iter().any(|w| w == v)),
            Op::NotEq | Op::NotIn => value.is_none_or(|v| !self.values.iter().any(|w| w == v)),
            Op::Exists => value.is_some(),
            Op::NotExists => value.is_none(),
        }
    }
}

/// A label selector: every requirement must hold. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the query syntax: `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part).map_err(|e| {
                format!("unable to parse requirement {part:?} of label selector {text:?}: {e}")
            })?);
        }
        Ok(LabelSelector { requirements })
    }

    /// Builds a selector from a `LabelSelector` object (`matchLabels` and
    /// `matchExpressions`). A missing or null object selects everything.
    pub fn from_object(selector: Option<&Value>) -> Result<Self, String> {
        let mut requirements = Vec::new();
        let Some(selector) = selector.filter(|s| !s.is_null()) else {
            return Ok(LabelSelector::default());
        };
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                let v = v
                    .as_str()
                    .ok_or_else(|| format!("matchLabels[{k}] must be a string"))?;
                requirements.push(Requirement {
                    key: k.clone(),
                    op: Op::Eq,
                    values: vec![v.into()],
                });
            }
        }
        for expr in selector
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = expr
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let values: Vec<String> = expr
                .get("values")
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let op = match expr.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::NotExists,
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            };
            requirements.push(Requirement { key, op, values });
        }
        Ok(LabelSelector { requirements })
    }

    /// Whether the selector has no requirements (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether a label map satisfies every requirement.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches_object(&self, obj: &Value) -> bool {
        self.is_empty() || self.matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
    }
}

impl fmt::Display for LabelSelector {
    /// The query syntax, as `Scale.status.selector` and kubectl show it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match r.op {
                Op::Eq => write!(f, "{}={}", r.key, r.values.join(""))?,
                Op::NotEq => write!(f, "{}!={}", r.key, r.values.join(""))?,
                Op::In => write!(f, "{} in ({})", r.key, r.values.join(","))?,
                Op::NotIn => write!(f, "{} notin ({})", r.key, r.values.join(","))?,
                Op::Exists => write!(f, "{}", r.key)?,
                Op::NotExists => write!(f, "!{}", r.key)?,
            }
        }
        Ok(())
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        check_key(key)?;
        return Ok(Requirement {
            key: key.into(),
            op: Op::NotExists,
            values: vec![],
        });
    }
    for (token, op) in [("!=", Op::NotEq), ("==", Op::Eq), ("=", Op::Eq)] {
        if let Some((key, value)) = part.split_once(token) {
            let (key, value) = (key.trim(), value.trim());
            check_key(key)?;
            check_value(value)?;
            return Ok(Requirement {
                key: key.into(),
                op,
                values: vec![value.into()],
            });
        }
    }
    if let Some(open) = part.find('(') {
        let head = part[..open].trim();
        let Some(body) = part[open + 1..].trim_end().strip_suffix(')') else {
            return Err("missing closing ')'".into());
        };
        let (key, op) = if let Some(key) = head.strip_suffix(" notin") {
            (key.trim(), Op::NotIn)
        } else if let Some(key) = head.strip_suffix(" in") {
            (key.trim(), Op::In)
        } else {
            return Err("expected 'in' or 'notin' before '('".into());
        };
        check_key(key)?;
        let values: Vec<String> = body.split(',').map(|v| v.trim().to_string()).collect();
        for v in &values {
            check_value(v)?;
        }
        return Ok(Requirement {
            key: key.into(),
            op,
            values,
        });
    }
    check_key(part)?;
    Ok(Requirement {
        key: part.into(),
        op: Op::Exists,
        values: vec![],
    })
}

fn check_key(key: &str) -> Result<(), String> {
    let ok = !key.is_empty()
        && key.len() <= 317
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid label key {key:?}: a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'"
        ))
    }
}

fn check_value(value: &str) -> Result<(), String> {
    let ok = value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid label value {value:?}: must be 63 characters or less and consist of alphanumeric characters, '-', '_' or '.'"
        ))
    }
}

/// A field selector: `path=value`, `path==value` or `path!=value`, comma-separated; every
/// requirement must hold. Paths are dotted JSON paths (`spec.nodeName`,
/// `involvedObject.uid`); a missing field compares as the empty string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<(Vec<String>, bool, String)>,
}

impl FieldSelector {
    /// Parses the query syntax. Values may escape `\,`, `\=` and `\\`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_escaped(text) {
            if part.trim().is_empty() {
                continue;
            }
            let (path, eq, value) = if let Some(i) = find_unescaped(&part, "!=") {
                (&part[..i], false, &part[i + 2..])
            } else if let Some(i) = find_unescaped(&part, "==") {
                (&part[..i], true, &part[i + 2..])
            } else if let Some(i) = find_unescaped(&part, "=") {
                (&part[..i], true, &part[i + 1..])
            } else {
                return Err(format!(
                    "invalid field selector {text:?}: {part:?} is not of the form field=value, field==value or field!=value"
                ));
            };
            let path = path.trim();
            if path.is_empty() || path.split('.').any(str::is_empty) {
                return Err(format!(
                    "invalid field selector {text:?}: {path:?} is not a field path"
                ));
            }
            requirements.push((
                path.split('.').map(String::from).collect(),
                eq,
                unescape(value),
            ));
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether the selector has no requirements.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object satisfies every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        self.requirements.iter().all(|(path, eq, want)| {
            let mut v = obj;
            for seg in path {
                match v.get(seg) {
                    Some(next) => v = next,
                    None => {
                        v = &Value::Null;
                        break;
                    }
                }
            }
            let found = match v {
                Value::String(s) => s == want,
                // Booleans the real server reads from Go fields default to false.
                Value::Null if BOOLEAN_LABELS.contains(&path.join(".").as_str()) => want == "false",
                Value::Null => want.is_empty(),
                Value::Bool(b) => want == if *b { "true" } else { "false" },
                Value::Number(n) => *want == n.to_string(),
                _ => false,
            };
            found == *eq
        })
    }

    /// Checks every requirement against the field labels kube-apiserver 1.34 declares for the
    /// type (`metadata.name` and `metadata.namespace` for all, a few more for pods, events,
    /// nodes and others), so `spec.replicas=3` on Deployments is refused rather than matching
    /// nothing; the message is the real server's. Labels that name another place in the
    /// object (`source` of an event is `source.component`) are rewritten here.
    pub fn for_type(mut self, group: &str, kind: &str) -> Result<Self, String> {
        let extra = supported_fields(group, kind);
        for (path, _, _) in &mut self.requirements {
            let label = path.join(".");
            let known = matches!(label.as_str(), "metadata.name" | "metadata.namespace")
                || extra.contains(&label.as_str());
            if !known {
                return Err(format!("field label not supported: {label}"));
            }
            match label.as_str() {
                "source" if kind == "Event" => *path = vec!["source".into(), "component".into()],
                "status.podIPs" => *path = vec!["status".into(), "podIP".into()],
                _ => {}
            }
        }
        Ok(self)
    }

    /// The value a requirement `path=value` pins, if the selector has one (used to pick a
    /// single object cheaply, as `metadata.name=x` does for `kubectl rollout status`).
    pub fn pinned(&self, path: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|(p, eq, _)| *eq && p.join(".") == path)
            .map(|(_, _, v)| v.as_str())
    }
}

/// Field labels that are booleans in the API types: missing means `false`.
const BOOLEAN_LABELS: &[&str] = &["spec.unschedulable", "spec.hostNetwork"];

/// The field labels a type supports beyond `metadata.name` and `metadata.namespace`, as
/// kube-apiserver 1.34 registers them (each type's `GetAttrs` / field label conversion).
fn supported_fields(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        ("", "Event") | ("events.k8s.io", "Event") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "Node") => &["spec.unschedulable"],
        ("", "Namespace") => &["status.phase"],
        ("", "Secret") => &["type"],
        ("", "Service") => &["spec.clusterIP", "spec.type"],
        ("", "ReplicationController") | ("apps", "ReplicaSet") => &["status.replicas"],
        ("batch", "Job") => &["status.successful"],
        _ => &[],
    }
}

fn split_escaped(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push(c);
                if let Some(n) = chars.next() {
                    current.push(n);
                }
            }
            ',' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
}

fn find_unescaped(text: &str, token: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if text[i..].starts_with(token) {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"name": "p", "labels": labels}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_operators() {
        let p = pod(json!({"app": "web", "tier": "front"}));
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (db, web)", true),
            ("app notin (db,web)", false),
            ("app notin (db)", true),
            ("tier", true),
            ("!tier", false),
            ("!other", true),
            ("app=web,tier=back", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches_object(&p),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("app in (web").is_err());
        assert!(LabelSelector::parse("=x").is_err());
    }

    #[test]
    fn label_selector_object_round_trips_to_text() {
        let sel = LabelSelector::from_object(Some(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]
        })))
        .unwrap();
        assert_eq!(sel.to_string(), "app=web,tier in (a,b)");
        assert_eq!(LabelSelector::parse(&sel.to_string()).unwrap(), sel);
    }

    #[test]
    fn field_paths() {
        let p = pod(json!({}));
        for (sel, want) in [
            ("metadata.name=p", true),
            ("spec.nodeName==n1", true),
            ("spec.nodeName!=n1", false),
            ("status.phase=Running,spec.nodeName=n2", false),
            ("spec.missing=", true),
            ("spec.missing!=", false),
        ] {
            assert_eq!(
                FieldSelector::parse(sel).unwrap().matches(&p),
                want,
                "{sel}"
            );
        }
        assert!(FieldSelector::parse("nonsense").is_err());
        let escaped = FieldSelector::parse(r"metadata.name=a\,b").unwrap();
        assert_eq!(escaped.pinned("metadata.name"), Some("a,b"));
    }
}
