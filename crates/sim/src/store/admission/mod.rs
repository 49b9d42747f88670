//! Admission: what the API server checks and fills in before it stores an object. Names
//! (given, or generated from `generateName`) must be RFC 1123 subdomains; uids are random
//! from the store's seed; an object must parse as its k8s-openapi type and pass the semantic
//! checks the real API server makes, or it is rejected as [`Invalid`] (422). Defaulting is
//! [`crate::defaults`].
//!
//! Nothing here knows about storage: the store wraps [`Invalid`] in its own error. The checks
//! of RBAC objects are in [`rbac`].

mod rbac;

use std::any::Any;
use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::resources::ResourceType;

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

/// Checks that an object parses as its k8s-openapi type, so malformed fields are a 422 at
/// write time rather than a surprise in a controller, and that it passes the semantic checks;
/// the parsed value becomes the entry's typed view (events excepted: nothing reads them
/// typed, and there are many).
pub(super) fn validate_typed(rt: &ResourceType, obj: &Value) -> Result<Typed, Invalid> {
    use k8s_openapi::api::{
        apps::v1 as apps, coordination::v1 as coord, core::v1 as core,
        networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac_v1,
    };
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
    let typed = match (rt.group, rt.kind) {
        ("", "Pod") => check::<core::Pod>(rt, obj)?,
        ("", "Node") => check::<core::Node>(rt, obj)?,
        ("", "Namespace") => check::<core::Namespace>(rt, obj)?,
        ("", "Service") => check::<core::Service>(rt, obj)?,
        ("", "Endpoints") => check::<core::Endpoints>(rt, obj)?,
        ("", "ConfigMap") => check::<core::ConfigMap>(rt, obj)?,
        ("", "Secret") => check::<core::Secret>(rt, obj)?,
        ("", "Event") => check::<core::Event>(rt, obj).map(|_| None)?,
        ("apps", "Deployment") => check::<apps::Deployment>(rt, obj)?,
        ("apps", "ReplicaSet") => check::<apps::ReplicaSet>(rt, obj)?,
        ("apps", "StatefulSet") => check::<apps::StatefulSet>(rt, obj)?,
        ("apps", "DaemonSet") => check::<apps::DaemonSet>(rt, obj)?,
        ("apps", "ControllerRevision") => check::<apps::ControllerRevision>(rt, obj)?,
        ("policy", "PodDisruptionBudget") => check::<policy::PodDisruptionBudget>(rt, obj)?,
        ("coordination.k8s.io", "Lease") => check::<coord::Lease>(rt, obj)?,
        ("networking.k8s.io", "NetworkPolicy") => check::<networking::NetworkPolicy>(rt, obj)?,
        (rbac::GROUP, "Role") => check::<rbac_v1::Role>(rt, obj)?,
        (rbac::GROUP, "ClusterRole") => check::<rbac_v1::ClusterRole>(rt, obj)?,
        (rbac::GROUP, "RoleBinding") => check::<rbac_v1::RoleBinding>(rt, obj)?,
        (rbac::GROUP, "ClusterRoleBinding") => check::<rbac_v1::ClusterRoleBinding>(rt, obj)?,
        _ => None,
    };
    validate_semantics(rt, obj)?;
    Ok(typed)
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
