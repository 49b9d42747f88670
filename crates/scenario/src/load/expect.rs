//! `expect`: what a careful engineer concludes and does.

use super::error::{Doc, Result};
use super::index::Index;
use super::limits::{self, too_many};
use super::raw::{RawActions, RawExpect};
use super::refs;
use super::source_map::KeyPath;
use crate::catalogue::{ActionMatcher, ActionName, ActionPattern, Category};
use crate::model::{Expect, ExpectedActions, Target};

/// Converts `expect`.
///
/// Defaults: `detect` true; `diagnosis` is required when `detect` is true and defaults to
/// `[none]` otherwise; `locate` none; `actions.acceptable` `[none]` when `detect` is false and
/// empty (not scored) otherwise; `actions.harmful` empty; `resolved` false.
pub(crate) fn convert(raw: RawExpect, index: &Index, doc: &Doc) -> Result<Expect> {
    let path = KeyPath::root().key("expect");
    let detect = raw.detect.unwrap_or(true);
    let actions = raw.actions.as_ref();
    for (key, len) in [
        ("diagnosis", raw.diagnosis.as_ref().map_or(0, Vec::len)),
        (
            "actions.acceptable",
            actions
                .and_then(|a| a.acceptable.as_ref())
                .map_or(0, Vec::len),
        ),
        (
            "actions.harmful",
            actions.and_then(|a| a.harmful.as_ref()).map_or(0, Vec::len),
        ),
    ] {
        if len > limits::MAX_EXPECT_ENTRIES {
            let list_path = key.split('.').fold(path.clone(), |p, k| p.key(k));
            return Err(doc.invalid(
                &list_path,
                too_many(len, "entries", limits::MAX_EXPECT_ENTRIES),
            ));
        }
    }

    let diagnosis = match raw.diagnosis {
        None if detect => {
            return Err(doc.invalid(
                &path,
                "missing required key `diagnosis` (only `detect: false` may leave it out)",
            ));
        }
        None => vec![Category::None],
        Some(list) if list.is_empty() => {
            return Err(doc.invalid(
                &path.key("diagnosis"),
                "list at least one diagnosis category",
            ));
        }
        Some(list) => {
            let mut categories = Vec::with_capacity(list.len());
            for (i, text) in list.iter().enumerate() {
                let category = text.parse::<Category>().map_err(|_| {
                    doc.invalid(
                        &path.key("diagnosis").index(i),
                        format!(
                            "unknown diagnosis category `{text}`; expected one of: {}",
                            Category::ALL
                                .iter()
                                .map(Category::as_str)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
                categories.push(category);
            }
            categories
        }
    };

    let locate = match raw.locate {
        None => None,
        Some(text) => {
            let target =
                refs::parse_target(&text).map_err(|e| doc.invalid(&path.key("locate"), e))?;
            index
                .check_target_exists(&target)
                .map_err(|e| doc.invalid(&path.key("locate"), e))?;
            Some(target)
        }
    };

    let RawActions {
        acceptable,
        harmful,
    } = raw.actions.unwrap_or_default();
    let actions_path = path.key("actions");
    let acceptable = match acceptable {
        None if !detect => vec![ActionMatcher {
            pattern: ActionPattern::Action(ActionName::None),
            target: None,
        }],
        list => matchers(
            list.unwrap_or_default(),
            &actions_path.key("acceptable"),
            locate.as_ref(),
            index,
            doc,
        )?,
    };
    let harmful = matchers(
        harmful.unwrap_or_default(),
        &actions_path.key("harmful"),
        locate.as_ref(),
        index,
        doc,
    )?;
    for (i, matcher) in harmful.iter().enumerate() {
        if acceptable.contains(matcher) {
            return Err(doc.invalid(
                &actions_path.key("harmful").index(i),
                format!("`{matcher}` is listed both as acceptable and as harmful"),
            ));
        }
    }

    if raw.recurrence == Some(true) && locate.is_none() {
        return Err(doc.invalid(
            &path.key("recurrence"),
            "`recurrence: true` needs `locate`: the resource the fault keeps coming back on",
        ));
    }
    Ok(Expect {
        detect,
        diagnosis,
        locate,
        actions: ExpectedActions {
            acceptable,
            harmful,
        },
        resolved: raw.resolved.unwrap_or(false),
        recurrence: raw.recurrence.unwrap_or(false),
    })
}

/// What an action acts on.
enum Acts {
    Node,
    Workload,
    Nothing,
}

fn matchers(
    list: Vec<String>,
    path: &KeyPath,
    locate: Option<&Target>,
    index: &Index,
    doc: &Doc,
) -> Result<Vec<ActionMatcher>> {
    let mut out: Vec<ActionMatcher> = Vec::with_capacity(list.len());
    for (i, text) in list.iter().enumerate() {
        let item = path.index(i);
        let matcher = refs::parse_action_matcher(text).map_err(|e| doc.invalid(&item, e))?;
        if let Some(target) = &matcher.target {
            index
                .check_target_exists(target)
                .map_err(|e| doc.invalid(&item, e))?;
        }
        check_acts_on(&matcher, locate).map_err(|e| doc.invalid(&item, e))?;
        if out.contains(&matcher) {
            return Err(doc.invalid(&item, format!("`{text}` is listed twice")));
        }
        out.push(matcher);
    }
    Ok(out)
}

/// Node actions need a node, the others a workload; without `@` the target is `locate`.
fn check_acts_on(matcher: &ActionMatcher, locate: Option<&Target>) -> Result<(), String> {
    let acts = match matcher.pattern {
        ActionPattern::Action(
            ActionName::CordonNode | ActionName::UncordonNode | ActionName::DrainNode,
        ) => Acts::Node,
        ActionPattern::Action(ActionName::RunRunbook | ActionName::Escalate | ActionName::None) => {
            Acts::Nothing
        }
        _ => Acts::Workload,
    };
    let (wanted, example) = match acts {
        Acts::Nothing => return Ok(()),
        Acts::Node => ("a node", "node/<name>"),
        Acts::Workload => ("a workload", "<namespace>/<name>"),
    };
    let pattern = matcher.pattern;
    match (acts, matcher.target.as_ref().or(locate)) {
        (Acts::Node, Some(Target::Node(_))) | (Acts::Workload, Some(Target::Workload { .. })) => {
            Ok(())
        }
        (_, None) => Err(format!(
            "`{pattern}` has no target and expect.locate is not set; write `{pattern}@{example}`"
        )),
        (_, Some(target)) if matcher.target.is_none() => Err(format!(
            "`{pattern}` acts on {wanted}, but expect.locate is `{target}`; write `{pattern}@{example}`"
        )),
        (_, Some(target)) => Err(format!("`{pattern}` acts on {wanted}, not on `{target}`")),
    }
}
