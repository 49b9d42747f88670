//! Signatures tied to what a workload runs: a broken release, an image that cannot be
//! pulled, a ConfigMap or Secret that does not exist, pods that fit on no node.
//!
//! One signature per file: `release`, `image`, `reference`, `scheduling`.

mod image;
mod reference;
mod release;
mod scheduling;

use image::*;
use reference::*;
use release::*;
use scheduling::*;

use chrono::Duration;

use super::facts::{Facts, ROLLOUT_WINDOW_MINUTES};
use super::finding::Finding;
use crate::action::Action;
use crate::evidence::RevisionSummary;
use crate::resource::ResourceRef;

/// Every deploy signature over the workloads under examination.
pub(crate) fn findings(facts: &Facts<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in facts.subjects() {
        out.extend(bad_release(facts, &w));
        out.extend(image_pull(facts, &w));
        out.extend(missing_reference(facts, &w));
        out.extend(scheduling(facts, &w));
    }
    out
}

fn rollback(w: &ResourceRef, to: &RevisionSummary) -> Action {
    Action::Rollback {
        target: w.clone(),
        revision: Some(to.revision),
    }
}

fn window() -> Duration {
    Duration::minutes(ROLLOUT_WINDOW_MINUTES)
}

/// At most `n` characters of a log line.
pub(crate) fn clip(line: &str, n: usize) -> String {
    if line.chars().count() <= n {
        line.to_string()
    } else {
        let mut s: String = line.chars().take(n).collect();
        s.push('…');
        s
    }
}
