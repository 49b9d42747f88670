//! An incident's signature: what an SRE compares when they say "we have seen this before".

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::words::words;
use crate::catalogue::Category;
use crate::evidence::{Evidence, EvidenceData};
use crate::resource::ResourceRef;
use crate::signal::Signal;

/// Log templates a signature keeps at most (the most frequent first).
const MAX_TEMPLATES: usize = 8;
/// Event reasons, container reasons and rollout changes kept at most, each.
const MAX_REASONS: usize = 12;

/// What makes two incidents alike.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Signature {
    /// Alert names and detection reasons, sorted, distinct.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
    /// The diagnosis' category, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// The resource, as `deployment/shop/checkout` or `node/n1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Its kind in lower case (`deployment`, `pod`, `node`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Its namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Its name (the workload's for a pod whose owner is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Log lines with their variable parts (numbers, ids, addresses) replaced by `<*>`,
    /// most frequent first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_templates: Vec<String>,
    /// Reasons of Warning events (`BackOff`, `FailedScheduling`), distinct.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_reasons: Vec<String>,
    /// Container states' reasons (`OOMKilled`, `CrashLoopBackOff`, `ImagePullBackOff`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container_reasons: Vec<String>,
    /// What the last rollout changed (`image a -> b`, `memory limit 256Mi -> 128Mi`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollout_change: Vec<String>,
}

impl Signature {
    /// The signature of an incident about `resource`, from its signals and evidence. The
    /// evidence is already redacted; the category comes later, from the diagnosis.
    pub fn of(resource: &ResourceRef, signals: &[Signal], evidence: &Evidence) -> Signature {
        let mut sig = Signature::for_resource(resource);
        for s in signals {
            push_distinct(&mut sig.alerts, &s.name);
        }
        let mut templates: Vec<(String, usize)> = Vec::new();
        for item in &evidence.items {
            match &item.data {
                EvidenceData::Signal { name, .. } => push_distinct(&mut sig.alerts, name),
                EvidenceData::Event {
                    event_type, reason, ..
                } if event_type == "Warning" => push_distinct(&mut sig.event_reasons, reason),
                EvidenceData::ContainerStatus {
                    reason,
                    last_reason,
                    ..
                } => {
                    for r in [reason, last_reason].into_iter().flatten() {
                        push_distinct(&mut sig.container_reasons, r);
                    }
                }
                EvidenceData::Logs { lines, .. } => {
                    for line in lines {
                        let t = log_template(line);
                        if t.is_empty() {
                            continue;
                        }
                        match templates.iter_mut().find(|(x, _)| *x == t) {
                            Some((_, n)) => *n += 1,
                            None => templates.push((t, 1)),
                        }
                    }
                }
                EvidenceData::RolloutHistory { revisions, current } => {
                    if let Some(r) = revisions.iter().find(|r| r.revision == *current)
                        && r.made_by.is_none()
                    {
                        for c in &r.change {
                            push_distinct(&mut sig.rollout_change, c);
                        }
                    }
                }
                _ => {}
            }
        }
        // Most frequent first; a stable sort keeps first-seen order among equals.
        templates.sort_by_key(|t| std::cmp::Reverse(t.1));
        sig.log_templates = templates
            .into_iter()
            .take(MAX_TEMPLATES)
            .map(|(t, _)| t)
            .collect();
        sig.alerts.sort();
        for list in [
            &mut sig.event_reasons,
            &mut sig.container_reasons,
            &mut sig.rollout_change,
        ] {
            list.truncate(MAX_REASONS);
        }
        sig
    }

    /// A signature that names only the resource.
    pub fn for_resource(resource: &ResourceRef) -> Signature {
        let (kind, name) = match resource {
            ResourceRef::Workload { kind, name, .. } => {
                (kind.as_str().to_lowercase(), Some(name.clone()))
            }
            ResourceRef::Pod { name, .. } => ("pod".to_string(), Some(name.clone())),
            ResourceRef::Node { name } => ("node".to_string(), Some(name.clone())),
            ResourceRef::Service { name, .. } => ("service".to_string(), Some(name.clone())),
            ResourceRef::Object { kind, name, .. } => (kind.to_lowercase(), Some(name.clone())),
            ResourceRef::External { host_port } => {
                ("external".to_string(), Some(host_port.clone()))
            }
            ResourceRef::Storm { .. } => ("storm".to_string(), None),
        };
        Signature {
            resource: Some(resource.to_string()),
            kind: Some(kind),
            namespace: resource.namespace().map(str::to_string),
            name,
            ..Signature::default()
        }
    }

    /// The signature as text for the index and for queries.
    pub fn text(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        parts.extend(self.alerts.iter().map(String::as_str));
        if let Some(c) = &self.category {
            parts.push(c.as_str());
        }
        parts.extend(
            [&self.kind, &self.namespace, &self.name]
                .into_iter()
                .flatten()
                .map(String::as_str),
        );
        for list in [
            &self.event_reasons,
            &self.container_reasons,
            &self.rollout_change,
            &self.log_templates,
        ] {
            parts.extend(list.iter().map(String::as_str));
        }
        parts.join("\n")
    }

    /// What was seen, as names: alerts, event and container reasons, and `rollout` when the
    /// last rollout changed something. Two incidents of one kind of fault show the same
    /// symptoms on whatever workload; the words of log lines vary far more.
    pub fn symptoms(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self
            .alerts
            .iter()
            .chain(&self.event_reasons)
            .chain(&self.container_reasons)
        {
            push_distinct(&mut out, s);
        }
        if !self.rollout_change.is_empty() {
            push_distinct(&mut out, "rollout");
        }
        out
    }

    /// The signature's distinct words, for overlap.
    pub fn words(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for w in words(&self.text()) {
            if !out.contains(&w) {
                out.push(w);
            }
        }
        out
    }
}

fn push_distinct(list: &mut Vec<String>, value: &str) {
    if !value.is_empty() && !list.iter().any(|v| v == value) {
        list.push(value.to_string());
    }
}

/// A log line with what varies between occurrences replaced by `<*>`: timestamps, UUIDs,
/// addresses, hexadecimal ids, numbers and quoted values; runs of spaces folded. Lines that
/// say the same thing about different requests fold into one template.
pub fn log_template(line: &str) -> String {
    static VARIABLE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(concat!(
            r#"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"#,
            r#"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"#,
            r#"|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"#,
            r#"|\b0x[0-9a-fA-F]+\b"#,
            r#"|\b[0-9a-f]*\d[0-9a-f]*[a-f][0-9a-f]*\b"#,
            r#"|\b[0-9a-f]*[a-f][0-9a-f]*\d[0-9a-f]*\b"#,
            r#"|"[^"]*"|'[^']*'"#,
            r#"|\b\d+(?:\.\d+)?(?:ms|s|m|h|Mi|Gi|Ki|MB|GB|KB|%)?\b"#,
        ))
        .expect("the template pattern compiles")
    });
    let replaced = VARIABLE.replace_all(line.trim(), "<*>");
    let mut out = String::with_capacity(replaced.len());
    for w in replaced.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    // A line that is nothing but variables says nothing.
    if out.split(' ').all(|w| w == "<*>") {
        return String::new();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_templates_fold_what_varies() {
        assert_eq!(
            log_template(
                "2026-12-01T03:04:05.123Z ERROR request 5f0c2a1e-8b7d-4c3e-9a2f-1b2c3d4e5f60 \
                 to 10.0.3.7:5432 failed after 1500ms: \"connection refused\""
            ),
            "<*> ERROR request <*> to <*> failed after <*>: <*>"
        );
        assert_eq!(
            log_template("java.lang.OutOfMemoryError: Java heap space (used 512Mi of 512Mi)"),
            "java.lang.OutOfMemoryError: Java heap space (used <*> of <*>)"
        );
        assert_eq!(
            log_template("pod checkout-7d9f8c-x2b4k ready"),
            "pod checkout-<*>-x2b4k ready"
        );
        assert_eq!(log_template("12345 67"), "");
    }
}
