//! Summaries of Kubernetes objects as the evidence contract carries them: container specs
//! and what changed between two templates, conditions, probes, quantities, readiness.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Container, Pod, PodTemplateSpec};
use nightshift_core::evidence::{ConditionSummary, ContainerSpecSummary, ProbeSummary};
use regex::Regex;

use crate::redact::redact;

pub(super) fn t(x: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(x.0.as_millisecond()).unwrap_or_default()
}

pub(super) fn probe(p: Option<&k8s_openapi::api::core::v1::Probe>) -> Option<ProbeSummary> {
    p.map(|p| ProbeSummary {
        timeout_seconds: p.timeout_seconds.unwrap_or(1),
        period_seconds: p.period_seconds.unwrap_or(10),
        failure_threshold: p.failure_threshold.unwrap_or(3),
        initial_delay_seconds: p.initial_delay_seconds.unwrap_or(0),
    })
}

/// A template's container as evidence.
pub fn container_summary(c: &Container) -> ContainerSpecSummary {
    let q =
        |m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
            m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
                .unwrap_or_default()
        };
    let mut refs = Vec::new();
    for ef in c.env_from.iter().flatten() {
        if let Some(r) = &ef.config_map_ref {
            refs.push(format!("configmap/{}", r.name));
        }
        if let Some(r) = &ef.secret_ref {
            refs.push(format!("secret/{}", r.name));
        }
    }
    for e in c.env.iter().flatten() {
        if let Some(vf) = &e.value_from {
            if let Some(r) = &vf.secret_key_ref {
                refs.push(format!("secret/{}", r.name));
            }
            if let Some(r) = &vf.config_map_key_ref {
                refs.push(format!("configmap/{}", r.name));
            }
        }
    }
    ContainerSpecSummary {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        requests: q(c.resources.as_ref().and_then(|r| r.requests.as_ref())),
        limits: q(c.resources.as_ref().and_then(|r| r.limits.as_ref())),
        readiness: probe(c.readiness_probe.as_ref()),
        liveness: probe(c.liveness_probe.as_ref()),
        config_refs: refs,
    }
}

pub(super) fn template_containers(t: Option<&PodTemplateSpec>) -> Vec<ContainerSpecSummary> {
    t.and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.iter().map(container_summary).collect())
        .unwrap_or_default()
}

/// The pod-level fields of a template (everything of its spec but the containers), as JSON,
/// for [`pod_change`].
pub(super) fn pod_fields(t: Option<&PodTemplateSpec>) -> BTreeMap<String, serde_json::Value> {
    let Some(serde_json::Value::Object(spec)) = t
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
    else {
        return BTreeMap::new();
    };
    spec.into_iter()
        .filter(|(k, v)| k != "containers" && !v.is_null())
        .collect()
}

/// What changed between two templates' pod-level fields, in words: `nodeSelector none ->
/// accelerator=nvidia`, `tolerations changed`. Scheduling and the pod's environment change
/// here as surely as in a container, and a release that changes only them is still a release.
pub fn pod_change(
    old: &BTreeMap<String, serde_json::Value>,
    new: &BTreeMap<String, serde_json::Value>,
) -> Vec<String> {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| match k.as_str() {
            "nodeSelector" => {
                let words = |v: Option<&serde_json::Value>| {
                    let pairs: Vec<String> = v
                        .and_then(|v| v.as_object())
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect();
                    if pairs.is_empty() {
                        "none".to_string()
                    } else {
                        pairs.join(",")
                    }
                };
                format!(
                    "nodeSelector {} -> {}",
                    words(old.get(k)),
                    words(new.get(k))
                )
            }
            other => format!("{other} changed"),
        })
        .collect()
}

/// What changed between two templates, in words.
pub fn template_change(old: &[ContainerSpecSummary], new: &[ContainerSpecSummary]) -> Vec<String> {
    let mut out = Vec::new();
    for n in new {
        let Some(o) = old.iter().find(|o| o.name == n.name) else {
            out.push(format!("+container {}", n.name));
            continue;
        };
        if o.image != n.image {
            out.push(format!("image {} -> {}", o.image, n.image));
        }
        for (kind, om, nm) in [
            ("request", &o.requests, &n.requests),
            ("limit", &o.limits, &n.limits),
        ] {
            for k in om.keys().chain(nm.keys()).collect::<BTreeSet<_>>() {
                if om.get(k) != nm.get(k) {
                    out.push(format!(
                        "{k} {kind} {} -> {}",
                        om.get(k).map_or("none", String::as_str),
                        nm.get(k).map_or("none", String::as_str)
                    ));
                }
            }
        }
        for r in &n.config_refs {
            if !o.config_refs.contains(r) {
                out.push(format!("+envFrom {r}"));
            }
        }
        for r in &o.config_refs {
            if !n.config_refs.contains(r) {
                out.push(format!("-envFrom {r}"));
            }
        }
        if o.liveness != n.liveness {
            out.push(format!(
                "liveness probe {:?} -> {:?}",
                o.liveness, n.liveness
            ));
        }
        if o.readiness != n.readiness {
            out.push("readiness probe changed".into());
        }
    }
    out
}

pub(super) fn conditions(
    list: impl Iterator<
        Item = (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<DateTime<Utc>>,
        ),
    >,
) -> Vec<ConditionSummary> {
    list.map(|(kind, status, reason, message, since)| ConditionSummary {
        kind,
        status,
        reason,
        message: message.map(|m| redact(&m)),
        since,
    })
    .collect()
}

/// Ready condition True.
pub fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub(super) fn restarts(p: &Pod) -> i32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |c| c.iter().map(|c| c.restart_count).sum())
}

/// Replaces pod-specific tokens (names with hashes, IPs, numbers) so the same message from
/// many replicas deduplicates.
pub(super) fn generalize(message: &str) -> String {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"[0-9a-f]{8}-[0-9a-f-]{27}|[a-z0-9]+-[a-z0-9]{5,10}-[a-z0-9]{5}|\d+(\.\d+)*")
            .expect("valid")
    });
    re.replace_all(message, "#").into_owned()
}

/// CPU quantity in millicores.
pub fn parse_cpu(q: &str) -> Option<f64> {
    nightshift_core::units::parse_cpu(q)
        .ok()
        .map(|m| m as f64)
        .or_else(|| {
            // metrics-server reports nanocores (`12345678n`) and microcores (`123u`).
            if let Some(n) = q.strip_suffix('n') {
                return n.parse::<f64>().ok().map(|n| n / 1e6);
            }
            q.strip_suffix('u')
                .and_then(|u| u.parse::<f64>().ok())
                .map(|u| u / 1e3)
        })
}

/// Memory quantity in bytes.
pub fn parse_memory(q: &str) -> Option<f64> {
    nightshift_core::units::parse_memory(q)
        .ok()
        .map(|b| b as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_template_changes() {
        let a = ContainerSpecSummary {
            name: "c".into(),
            image: "x:1".into(),
            ..Default::default()
        };
        let mut b = a.clone();
        b.image = "x:2".into();
        b.config_refs.push("secret/tls".into());
        b.limits.insert("memory".into(), "128Mi".into());
        let ch = template_change(&[a], &[b]);
        assert!(ch.contains(&"image x:1 -> x:2".to_string()), "{ch:?}");
        assert!(ch.contains(&"+envFrom secret/tls".to_string()), "{ch:?}");
        assert!(
            ch.contains(&"memory limit none -> 128Mi".to_string()),
            "{ch:?}"
        );
    }

    #[test]
    fn describes_pod_level_changes() {
        let template = |spec: serde_json::Value| -> PodTemplateSpec {
            serde_json::from_value(serde_json::json!({"spec": spec})).unwrap()
        };
        let old = pod_fields(Some(&template(serde_json::json!({
            "containers": [{"name": "c", "image": "x:1"}],
            "tolerations": [{"key": "a", "operator": "Exists"}]
        }))));
        let new = pod_fields(Some(&template(serde_json::json!({
            "containers": [{"name": "c", "image": "x:2"}],
            "nodeSelector": {"accelerator": "nvidia"}
        }))));
        assert_eq!(
            pod_change(&old, &new),
            [
                "nodeSelector none -> accelerator=nvidia",
                "tolerations changed"
            ]
        );
        assert!(
            pod_change(&new, &new).is_empty(),
            "containers are not pod-level"
        );
    }

    #[test]
    fn generalizes_replica_names() {
        assert_eq!(
            generalize(
                "Back-off restarting failed container checkout in pod checkout-7d4b9c6f5-x2x9z_shop"
            ),
            generalize(
                "Back-off restarting failed container checkout in pod checkout-7d4b9c6f5-abcde_shop"
            )
        );
    }
}
