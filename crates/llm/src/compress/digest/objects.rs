//! Kubernetes objects as short text: conditions (the healthy ones by name only), container
//! specs (image, requests, limits, probes) and rollout revisions.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use nightshift_core::evidence::{ConditionSummary, ContainerSpecSummary, RevisionSummary};

use super::names;
use crate::compress::fence::{quoted, untrusted};

/// Whether a condition reads as healthy: pressure-like conditions when `False`, the others
/// when `True`.
fn normal(c: &ConditionSummary) -> bool {
    let inverted = c.kind.ends_with("Pressure") || c.kind == "NetworkUnavailable";
    c.status == if inverted { "False" } else { "True" }
}

/// Conditions, the healthy ones by name only and the others with reason and message.
pub(super) fn conditions(list: &[ConditionSummary], text_chars: usize) -> String {
    let healthy: Vec<&str> = list
        .iter()
        .filter(|c| normal(c))
        .map(|c| c.kind.as_str())
        .collect();
    let mut parts: Vec<String> = list
        .iter()
        .filter(|c| !normal(c))
        .map(|c| {
            let mut s = format!("{}={}", c.kind, c.status);
            if let Some(r) = &c.reason {
                let _ = write!(s, "({})", untrusted(r, 60));
            }
            if let Some(m) = c.message.as_deref().filter(|m| !m.is_empty()) {
                let _ = write!(s, " {}", quoted(m, text_chars));
            }
            s
        })
        .collect();
    if !healthy.is_empty() {
        parts.push(format!("healthy: {}", healthy.join(", ")));
    }
    parts.join(", ")
}

pub(super) fn container_spec(c: &ContainerSpecSummary) -> String {
    let map = |m: &BTreeMap<String, String>| {
        if m.is_empty() {
            "-".to_string()
        } else {
            m.iter()
                .map(|(k, v)| format!("{k}={}", untrusted(v, 20)))
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    let probe = |p: &Option<nightshift_core::evidence::ProbeSummary>| match p {
        Some(p) => format!(
            "timeout {}s period {}s failures {} delay {}s",
            p.timeout_seconds, p.period_seconds, p.failure_threshold, p.initial_delay_seconds
        ),
        None => "none".into(),
    };
    let mut s = format!(
        "container {} image {} requests {} limits {}; readiness {}; liveness {}",
        untrusted(&c.name, 60),
        untrusted(&c.image, 120),
        map(&c.requests),
        map(&c.limits),
        probe(&c.readiness),
        probe(&c.liveness)
    );
    if !c.config_refs.is_empty() {
        let _ = write!(s, "; refs {}", names(&c.config_refs, 6));
    }
    s
}

pub(super) fn revision(r: &RevisionSummary) -> String {
    let mut s = format!(
        "rev {} {} ready {}/{}",
        r.revision,
        names(&r.images, 3),
        r.ready,
        r.replicas
    );
    if let Some(t) = r.created_at {
        let _ = write!(s, " created {}", t.format("%m-%d %H:%M:%S"));
    }
    if !r.change.is_empty() {
        let _ = write!(s, " change [{}]", names(&r.change, 6));
    }
    if let Some(key) = &r.made_by {
        // The agent's own remedy, which a model must not take for a release to roll back. The
        // key comes from an annotation anyone can write: fenced like any cluster text.
        let _ = write!(
            s,
            " (made by nightshift action {}, a remedy, not a release)",
            untrusted(key, 80)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_the_agent_made_says_so() {
        let mut r = RevisionSummary {
            revision: 3,
            images: vec!["registry.local/shop/checkout:2.4.0".into()],
            change: vec!["memory limit 256Mi -> 512Mi".into()],
            ..RevisionSummary::default()
        };
        assert!(!revision(&r).contains("made by"), "{}", revision(&r));
        r.made_by = Some("inc-7-a1".into());
        let text = revision(&r);
        assert!(
            text.contains("(made by nightshift action inc-7-a1, a remedy, not a release)"),
            "{text}"
        );
    }
}
