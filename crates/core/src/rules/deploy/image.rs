//! Images that cannot be pulled, and whether a new revision brought them.

use crate::Category;
use crate::action::Action;
use crate::evidence::RevisionSummary;
use crate::resource::ResourceRef;
use crate::rules::facts::{ContainerFact, Facts, Rollout, short_image};
use crate::rules::finding::{Cites, Finding};
use crate::rules::patterns::PullFailure;

use super::*;

/// ErrImagePull / ImagePullBackOff: roll back when a new revision brought the image.
pub(super) fn image_pull(facts: &Facts<'_>, w: &ResourceRef) -> Option<Finding> {
    let pulling: Vec<&ContainerFact<'_>> = facts
        .containers_of(w)
        .into_iter()
        .filter(|c| c.pull_failing())
        .collect();
    let events: Vec<_> = facts
        .events_of(w)
        .into_iter()
        .filter(|e| {
            e.event_type.eq_ignore_ascii_case("warning")
                && (e.message.contains("pull image")
                    || e.message.contains("ErrImagePull")
                    || e.message.contains("ImagePullBackOff")
                    || e.message.contains("pulling image"))
        })
        .collect();
    if pulling.is_empty() && events.is_empty() {
        return None;
    }
    let texts: Vec<&str> = pulling
        .iter()
        .filter_map(|c| c.message)
        .chain(events.iter().map(|e| e.message))
        .collect();
    let failure = texts
        .iter()
        .map(|t| PullFailure::of(t))
        .min()
        .unwrap_or(PullFailure::Unknown);
    let image = pulling
        .first()
        .map(|c| c.image.to_string())
        .or_else(|| texts.iter().find_map(|t| quoted_image(t)))
        .unwrap_or_default();
    let mut cites = Cites::default();
    cites.extend(pulling.iter().map(|c| c.id));
    cites.extend(events.iter().map(|e| e.id));

    let rollout = facts.rollout_of(w);
    if let Some(r) = rollout {
        cites.add(r.id);
    }
    let introduced = rollout.and_then(|r| introduced_image(r, &image));
    let mut confidence = 0.6;
    if failure != PullFailure::Unknown {
        confidence += 0.15;
    }
    if introduced.is_some() {
        confidence += 0.1;
    }
    if pods_count(&pulling) >= 2 || events.iter().any(|e| e.times() >= 2) {
        confidence += 0.05;
    }
    let image_short = short_image(&image);
    match (introduced, failure) {
        (Some((newest, previous)), f) if f != PullFailure::Network => {
            let summary = format!(
                "{w}: image {image_short} of revision {} {}; revision {} runs {}",
                newest.revision,
                f.describe(),
                previous.revision,
                previous
                    .images
                    .first()
                    .map(|i| short_image(i))
                    .unwrap_or("an older image")
            );
            let plan_confidence = if f == PullFailure::NotFound { 0.9 } else { 0.8 };
            Some(
                Finding::new(Category::ImagePull, w.clone(), confidence, summary, cites)
                    .plan(
                        rollback(w, previous),
                        plan_confidence,
                        &format!(
                            "revision {} changed the image to one that cannot be pulled; revision {} runs an image that exists",
                            newest.revision, previous.revision
                        ),
                        "the rollout returns to the previous image; no pod waits in ImagePullBackOff",
                    )
                    .escalate(0.4, "someone must publish the intended image or fix the tag"),
            )
        }
        (introduced, PullFailure::Network) => {
            let summary =
                format!("{w}: image {image_short} cannot be pulled: the registry is unreachable");
            let mut finding = Finding::new(
                Category::ImagePull,
                w.clone(),
                confidence - 0.1,
                summary,
                cites,
            )
            .escalate(
                0.5,
                "the registry cannot be reached from the nodes; pulls succeed again once it answers",
            );
            if let Some((_, previous)) = introduced {
                finding = finding.plan(
                    rollback(w, previous),
                    0.45,
                    "the previous image is probably cached on the nodes",
                    "pods start from the cached previous image",
                );
            }
            Some(finding)
        }
        (_, f) => {
            let summary = format!(
                "{w}: image {image_short} {}; no recent revision introduced it",
                f.describe()
            );
            let reason = match f {
                PullFailure::Denied => {
                    "the registry refuses the pull credentials; a person must fix the image pull secret"
                }
                _ => {
                    "the image the workload has been running can no longer be pulled; a person must restore it in the registry"
                }
            };
            let mut finding =
                Finding::new(Category::ImagePull, w.clone(), confidence, summary, cites)
                    .escalate(0.7, reason);
            if rollout.is_none() {
                finding = finding
                    .plan(
                        Action::Rollback {
                            target: w.clone(),
                            revision: None,
                        },
                        0.35,
                        "no rollout history was collected; if a rollout brought this image, rolling back restores the old one",
                        "pods return to the previous image",
                    )
                    .note("no rollout history in the evidence: cannot tell whether a rollout brought the image".into());
            }
            Some(finding)
        }
    }
}

/// `(newest, previous)` when the newest revision brought `image` and the previous did not run it.
pub(super) fn introduced_image<'r>(
    rollout: &'r Rollout<'_>,
    image: &str,
) -> Option<(&'r RevisionSummary, &'r RevisionSummary)> {
    let newest = rollout.newest()?;
    let previous = rollout.previous()?;
    let in_new = newest
        .images
        .iter()
        .any(|i| crate::rules::facts::same_image(i, image));
    let in_old = previous
        .images
        .iter()
        .any(|i| crate::rules::facts::same_image(i, image));
    (in_new && !in_old).then_some((newest, previous))
}

pub(super) fn quoted_image(text: &str) -> Option<String> {
    let start = text.find("image \"")? + "image \"".len();
    let rest = &text[start..];
    let end = rest.find('"')?;
    Some(rest[..end].to_string())
}
