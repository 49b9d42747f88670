//! Admission: what the API server checks and fills in before it stores an object. Names
//! (given, or generated from `generateName`) must be RFC 1123 subdomains; uids are random
//! from the store's seed; an object must parse as its k8s-openapi type and pass the semantic
//! checks the real API server makes, or it is rejected as [`Invalid`] (422). Defaulting is
//! [`crate::defaults`].
//!
//! Nothing here knows about storage: the store wraps [`Invalid`] in its own error. The checks
//! of RBAC objects are in [`rbac`].

mod immutable;
mod rbac;

use std::any::Any;
use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::resources::ResourceType;

pub use immutable::check_immutable;

/// An object admission rejects (422), with what is wrong as the API server words it.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{kind} \"{name}\" is invalid: {message}")]
pub struct Invalid {
    /// Kind.
    pub kind: String,
    /// Object name.
    pub name: String,
    /// What is wrong, `field: reason`.
    pub message: String,
}

impl Invalid {
    /// `name` of type `rt` is invalid for `message`.
    fn new(rt: &ResourceType, name: &str, message: impl Into<String>) -> Self {
        Invalid {
            kind: rt.kind.to_string(),
            name: name.to_string(),
            message: message.into(),
        }
    }
}

/// The typed view of an object, parsed once at admission and kept with the stored version.
type Typed = Option<Arc<dyn Any + Send + Sync>>;

/// The name of a new object from its `metadata`: `name`, or `generateName` followed by a
/// random suffix; either way a valid name.
pub(super) fn object_name(
    rt: &ResourceType,
    meta: &Value,
    rng: &mut ChaCha8Rng,
) -> Result<String, Invalid> {
    if !meta.is_object() {
        return Err(Invalid::new(rt, "", "metadata: must be an object"));
    }
    let mut name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        let prefix = meta
            .get("generateName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if prefix.is_empty() {
            return Err(Invalid::new(
                rt,
                "",
                "metadata.name: Required value: name or generateName is required",
            ));
        }
        name = format!("{prefix}{}", random_suffix(rng));
    }
    validate_name(rt, &name)?;
    Ok(name)
}

fn validate_name(rt: &ResourceType, name: &str) -> Result<(), Invalid> {
    if rt.group == rbac::GROUP {
        return rbac::validate_name(name).map_err(|m| Invalid::new(rt, name, m));
    }
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            rt,
            name,
            format!(
                "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            ),
        ))
    }
}

/// Calls `$f::<T>($args)` with the k8s-openapi type `T` of the resource type `$rt`, or
/// evaluates `$none` for types without one. The one list of which Rust type each served
/// kind parses as.
macro_rules! with_type {
    ($rt:expr, $f:ident($($args:expr),*), $none:expr) => {{
        use k8s_openapi::api::{
            apps::v1 as apps, batch::v1 as batch, coordination::v1 as coord, core::v1 as core,
            events::v1 as events, networking::v1 as networking, policy::v1 as policy,
            rbac::v1 as rbac_v1,
        };
        match ($rt.group, $rt.kind) {
            ("", "Pod") => $f::<core::Pod>($($args),*),
            ("", "Node") => $f::<core::Node>($($args),*),
            ("", "Namespace") => $f::<core::Namespace>($($args),*),
            ("", "Service") => $f::<core::Service>($($args),*),
            ("", "Endpoints") => $f::<core::Endpoints>($($args),*),
            ("", "ConfigMap") => $f::<core::ConfigMap>($($args),*),
            ("", "Secret") => $f::<core::Secret>($($args),*),
            ("", "ServiceAccount") => $f::<core::ServiceAccount>($($args),*),
            ("", "ReplicationController") => $f::<core::ReplicationController>($($args),*),
            ("", "Event") => $f::<core::Event>($($args),*),
            ("events.k8s.io", "Event") => $f::<events::Event>($($args),*),
            ("apps", "Deployment") => $f::<apps::Deployment>($($args),*),
            ("apps", "ReplicaSet") => $f::<apps::ReplicaSet>($($args),*),
            ("apps", "StatefulSet") => $f::<apps::StatefulSet>($($args),*),
            ("apps", "DaemonSet") => $f::<apps::DaemonSet>($($args),*),
            ("apps", "ControllerRevision") => $f::<apps::ControllerRevision>($($args),*),
            ("batch", "Job") => $f::<batch::Job>($($args),*),
            ("policy", "PodDisruptionBudget") => $f::<policy::PodDisruptionBudget>($($args),*),
            ("coordination.k8s.io", "Lease") => $f::<coord::Lease>($($args),*),
            ("networking.k8s.io", "NetworkPolicy") => {
                $f::<networking::NetworkPolicy>($($args),*)
            }
            (rbac::GROUP, "Role") => $f::<rbac_v1::Role>($($args),*),
            (rbac::GROUP, "ClusterRole") => $f::<rbac_v1::ClusterRole>($($args),*),
            (rbac::GROUP, "RoleBinding") => $f::<rbac_v1::RoleBinding>($($args),*),
            (rbac::GROUP, "ClusterRoleBinding") => $f::<rbac_v1::ClusterRoleBinding>($($args),*),
            _ => $none,
        }
    }};
}

/// Checks that an object parses as its k8s-openapi type, so malformed fields are a 422 at
/// write time rather than a surprise in a controller, and that it passes the semantic checks;
/// the parsed value becomes the entry's typed view (events excepted: nothing reads them
/// typed, and there are many).
pub(super) fn validate_typed(rt: &ResourceType, obj: &Value) -> Result<Typed, Invalid> {
    fn check<K: DeserializeOwned + Send + Sync + 'static>(
        rt: &ResourceType,
        obj: &Value,
    ) -> Result<Typed, Invalid> {
        K::deserialize(obj)
            .map(|k| Some(Arc::new(k) as Arc<dyn Any + Send + Sync>))
            .map_err(|e| {
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                Invalid::new(rt, name, e.to_string())
            })
    }
    let typed = with_type!(rt, check(rt, obj), Ok(None))?;
    let typed = if rt.kind == "Event" { None } else { typed };
    validate_semantics(rt, obj)?;
    Ok(typed)
}

/// Whether `obj` would pass admission's own checks, for callers that check more after them
/// (an update's immutable fields are judged on an object that is otherwise valid, so the
/// client hears of its first mistake first).
pub fn validate(rt: &ResourceType, obj: &Value) -> Result<(), Invalid> {
    validate_typed(rt, obj).map(|_| ())
}

/// The fields of `obj` its type does not declare, as kube-apiserver names them in a strict
/// decoding error (`spec.replicaz`, `spec.template.spec.containers[0].imagez`): the object
/// is read as its k8s-openapi type and written back, and whatever did not survive was not
/// declared. Empty for types without a Rust type and for objects that do not parse (those
/// fail validation with their own message).
pub fn unknown_fields(rt: &ResourceType, obj: &Value) -> Vec<String> {
    fn round_trip<K: DeserializeOwned + serde::Serialize>(obj: &Value) -> Option<Value> {
        K::deserialize(obj)
            .ok()
            .and_then(|k| serde_json::to_value(k).ok())
    }
    let Some(known) = with_type!(rt, round_trip(obj), None) else {
        return Vec::new();
    };
    let mut unknown = Vec::new();
    missing_from(obj, &known, &mut String::new(), &mut unknown);
    unknown
}

/// Appends the paths of `given` that `known` lacks.
fn missing_from(given: &Value, known: &Value, path: &mut String, out: &mut Vec<String>) {
    match (given, known) {
        (Value::Object(g), Value::Object(k)) => {
            for (key, value) in g {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                match k.get(key) {
                    Some(kv) => missing_from(value, kv, path, out),
                    None if !value.is_null() => out.push(path.clone()),
                    None => {}
                }
                path.truncate(len);
            }
        }
        (Value::Array(g), Value::Array(k)) if g.len() == k.len() => {
            for (i, (gv, kv)) in g.iter().zip(k).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                missing_from(gv, kv, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Semantic validation the real API server performs on write, beyond parsing.
fn validate_semantics(rt: &ResourceType, obj: &Value) -> Result<(), Invalid> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let fail = |message: String| Invalid::new(rt, name, message);
    match (rt.group, rt.kind) {
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64)
                && r < 0
            {
                return Err(fail(format!(
                    "spec.replicas: Invalid value: {r}: must be greater than or equal to 0"
                )));
            }
            let selector = obj
                .pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object);
            let labels = obj
                .pointer("/spec/template/metadata/labels")
                .and_then(Value::as_object);
            match (selector, labels) {
                (None, _) if obj.pointer("/spec/selector/matchExpressions").is_none() => {
                    return Err(fail("spec.selector: Required value".into()));
                }
                (Some(sel), labels) => {
                    for (k, v) in sel {
                        if labels.and_then(|l| l.get(k)) != Some(v) {
                            return Err(fail(
                                "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`".into(),
                            ));
                        }
                    }
                }
                _ => {}
            }
            if let Some(spec) = obj.pointer("/spec/template/spec") {
                containers(spec, "spec.template.spec").map_err(fail)?;
            } else {
                return Err(fail("spec.template.spec.containers: Required value".into()));
            }
        }
        (rbac::GROUP, _) => rbac::validate(rt.kind, obj).map_err(fail)?,
        ("", "Pod") => {
            let spec = obj
                .get("spec")
                .ok_or_else(|| fail("spec.containers: Required value".into()))?;
            containers(spec, "spec").map_err(fail)?;
        }
        _ => {}
    }
    Ok(())
}

/// Checks what may not change from `old` to `new` on an update.
pub(super) fn validate_update(rt: &ResourceType, old: &Value, new: &Value) -> Result<(), Invalid> {
    if rt.group == rbac::GROUP {
        let name = new
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        rbac::validate_update(old, new).map_err(|m| Invalid::new(rt, name, m))?;
    }
    Ok(())
}

/// Every container of a pod spec at `path` has a name and an image; the message otherwise.
fn containers(spec: &Value, path: &str) -> Result<(), String> {
    let list = spec
        .get("containers")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty());
    let Some(list) = list else {
        return Err(format!("{path}.containers: Required value"));
    };
    for (i, c) in list.iter().enumerate() {
        if c.get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(format!("{path}.containers[{i}].name: Required value"));
        }
        if c.get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(format!("{path}.containers[{i}].image: Required value"));
        }
    }
    Ok(())
}

/// Five characters from the alphabet the API server uses for `generateName`: no vowels, no
/// look-alikes.
pub(super) fn random_suffix(rng: &mut ChaCha8Rng) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A version 4 UUID from the store's random stream.
pub(super) fn uuid_from(rng: &mut ChaCha8Rng) -> String {
    let b: [u8; 16] = rng.random();
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-4{:01x}{:02x}-{:01x}{:01x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6] & 0xf,
        b[7],
        8 | (b[8] & 0x3),
        b[8] >> 4,
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}
