//! Reading scenario files: YAML into raw structs that refuse unknown keys, then validation
//! into the typed [`Scenario`] with every documented default applied.
//!
//! Line numbers: errors raised by the YAML reader carry their own position; errors found by
//! the validation are placed with a source map of the same text, which records
//! where every key and value starts.

mod cluster;
mod error;
mod expect;
mod faults;
mod humans;
mod index;
pub mod limits;
mod params;
mod raw;
mod refs;
mod source_map;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use cluster::{
    DEFAULT_CPU_MILLIS, DEFAULT_ERROR_RATIO, DEFAULT_LATENCY_MS, DEFAULT_LOG_EVERY,
    DEFAULT_MEMORY_BYTES, DEFAULT_NODE_CPU_MILLIS, DEFAULT_NODE_MEMORY_BYTES, DEFAULT_NODE_NAME,
    DEFAULT_RPS, DEFAULT_STARTUP,
};
pub use error::{Problem, ScenarioError};
pub use faults::{
    DEFAULT_CRASH_AFTER, DEFAULT_CRASH_EXIT_CODE, DEFAULT_LEAK_BYTES_PER_MINUTE,
    DEFAULT_PROBE_TIMEOUT, DEFAULT_ROLLOUT_ERROR_RATIO, DEFAULT_TRANSIENT_DURATION,
    DEFAULT_TRANSIENT_ERROR_RATIO,
};

use error::{Doc, Result, invalid};
use index::Index;
use raw::RawScenario;
use source_map::{KeyPath, Position, SourceMap};

use crate::model::Scenario;
use crate::units;

/// Seed of a scenario that does not say.
pub const DEFAULT_SEED: u64 = 1;
/// Horizon of a scenario that does not say (20 minutes).
pub const DEFAULT_HORIZON: Duration = Duration::from_secs(20 * 60);

/// Reads and validates one scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    load_with_position(path).map(|(scenario, _)| scenario)
}

/// Validates scenario text; `origin` names it in errors (usually the file name).
pub fn parse_str(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
    parse_with_position(text, origin).map(|(scenario, _)| scenario)
}

/// Loads scenario files and folders of them, in the order given; a folder contributes every
/// `*.yaml` and `*.yml` file directly inside it (not in subfolders), sorted by name.
///
/// Scenario names must be unique across everything loaded.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Scenario)>, ScenarioError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| ScenarioError::ListFolder {
                path: path.clone(),
                source,
            })?;
            let mut found = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|source| ScenarioError::ListFolder {
                    path: path.clone(),
                    source,
                })?;
                let file = entry.path();
                let is_yaml = file
                    .extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml");
                if is_yaml && file.is_file() {
                    found.push(file);
                }
            }
            if found.is_empty() {
                return Err(ScenarioError::EmptyFolder { path: path.clone() });
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }

    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let (scenario, name_position) = load_with_position(&file)?;
        if let Some(first) = seen.get(&scenario.name) {
            return Err(invalid(
                &file.display().to_string(),
                &KeyPath::root().key("name"),
                name_position,
                format!(
                    "scenario name `{}` is already used by {}",
                    scenario.name,
                    first.display()
                ),
            ));
        }
        seen.insert(scenario.name.clone(), file.clone());
        out.push((file, scenario));
    }
    Ok(out)
}

fn load_with_position(path: &Path) -> Result<(Scenario, Option<Position>)> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_with_position(&text, &path.display().to_string())
}

/// Parses and validates; also returns where `name` is written, for errors across files.
fn parse_with_position(text: &str, origin: &str) -> Result<(Scenario, Option<Position>)> {
    if text.len() > limits::MAX_FILE_BYTES {
        return Err(invalid(
            origin,
            &KeyPath::root(),
            None,
            format!(
                "the file is {} bytes, more than the limit of {} bytes for a scenario",
                text.len(),
                limits::MAX_FILE_BYTES
            ),
        ));
    }
    let has_content = text.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with('#') && line != "---" && line != "..."
    });
    if !has_content {
        return Err(invalid(
            origin,
            &KeyPath::root(),
            None,
            "the file is empty; a scenario needs at least `name` and `expect`",
        ));
    }
    let map = SourceMap::parse(text).map_err(|e| yaml_error(origin, text, &e, None))?;
    if !map.root_is_mapping() {
        return Err(invalid(
            origin,
            &KeyPath::root(),
            Some(Position { line: 1, column: 1 }),
            "a scenario is a mapping with keys such as `name`, `cluster`, `faults` and `expect`",
        ));
    }
    let options = serde_saphyr::options! { budget: Some(limits::yaml_budget()) };
    let raw: RawScenario = serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| yaml_error(origin, text, &e, Some(&map)))?;
    let doc = Doc { origin, map: &map };
    let scenario = convert(raw, &doc)?;
    Ok((scenario, map.key_position(&KeyPath::root().key("name"))))
}

fn convert(raw: RawScenario, doc: &Doc) -> Result<Scenario> {
    let root = KeyPath::root();
    let name = doc.required(raw.name, &root, "name")?;
    refs::check_kebab_case(&name).map_err(|e| doc.invalid(&root.key("name"), e))?;
    let raw_expect = doc.required(raw.expect, &root, "expect")?;
    let horizon = match raw.horizon {
        Some(text) => cluster::duration(doc, &root.key("horizon"), &text)?,
        None => DEFAULT_HORIZON,
    };
    if horizon.is_zero() {
        return Err(doc.invalid(&root.key("horizon"), "the horizon must be longer than zero"));
    }
    if horizon > limits::MAX_HORIZON {
        return Err(doc.invalid(
            &root.key("horizon"),
            format!(
                "a horizon of {} is longer than the limit of {} (7 days of simulated time)",
                units::format_duration(horizon),
                units::format_duration(limits::MAX_HORIZON)
            ),
        ));
    }
    let cluster = cluster::convert(raw.cluster, doc)?;
    let index = Index::new(&cluster);
    let faults = faults::convert(raw.faults.unwrap_or_default(), &index, horizon, doc)?;
    let humans = humans::convert(raw.humans.unwrap_or_default(), &index, horizon, doc)?;
    let expect = expect::convert(raw_expect, &index, doc)?;
    Ok(Scenario {
        name,
        summary: raw.summary.unwrap_or_default(),
        seed: raw.seed.unwrap_or(DEFAULT_SEED),
        horizon,
        cluster,
        faults,
        humans,
        expect,
    })
}

/// Turns an error of the YAML reader into a sentence with the key path and line.
fn yaml_error(
    origin: &str,
    text: &str,
    err: &serde_saphyr::Error,
    map: Option<&SourceMap>,
) -> ScenarioError {
    use serde_saphyr::Error as E;

    let err = err.without_snippet();
    let position = err.location().filter(|l| l.line() > 0).map(|l| Position {
        line: l.line(),
        column: l.column(),
    });
    let found = position
        .and_then(|p| text_at(text, p))
        .map(|t| format!(", found `{t}`"))
        .unwrap_or_default();
    // An error met through an alias (`*name`) is about the value the alias stands for.
    let mut inner = err;
    while let E::AliasError { error, .. } | E::WithSnippet { error, .. } = inner {
        inner = error;
    }
    let (message, unknown_key) = match inner {
        E::SerdeUnknownField {
            field, expected, ..
        } => (
            format!(
                "unknown key `{field}`; expected one of: {}",
                expected.join(", ")
            ),
            Some(field.as_str()),
        ),
        E::SerdeMissingField { field, .. } => (format!("missing required key `{field}`"), None),
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        }
        | E::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => (format!("expected {expected}, found {unexpected}"), None),
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => (
            format!(
                "unknown value `{variant}`; expected one of: {}",
                expected.join(", ")
            ),
            None,
        ),
        E::InvalidScalar { ty, .. } => (format!("expected {}{found}", describe_scalar(ty)), None),
        E::DuplicateMappingKey { key, .. } => match key {
            Some(key) => (
                format!("the key `{key}` is written twice"),
                Some(key.as_str()),
            ),
            None => ("a key is written twice".to_string(), None),
        },
        E::Budget { breach, .. } => (describe_breach(breach), None),
        E::Unexpected { expected, .. } => (
            format!("expected {}{found}", describe_expected(expected)),
            None,
        ),
        other => {
            let message = strip_position(&other.to_string());
            // The YAML scanner's own name for flow collections nested past the budget.
            if message.starts_with("recursion limit exceeded") {
                (
                    describe_breach(&serde_saphyr::budget::BudgetBreach::Depth { depth: 0 }),
                    None,
                )
            } else {
                (message, None)
            }
        }
    };
    let path = match (map, position) {
        (Some(map), Some(position)) => map.path_at(position, unknown_key),
        _ => KeyPath::root(),
    };
    invalid(origin, &path, position, message)
}

/// Plain words for a file past what the YAML reader may spend on it.
fn describe_breach(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    match breach {
        B::Depth { .. } => format!(
            "lists and mappings nest deeper than the limit of {} levels",
            limits::MAX_NESTING
        ),
        B::Aliases { .. } | B::AliasAnchorRatio { .. } => format!(
            "more than the limit of {} aliases (`*name`)",
            limits::MAX_ALIASES
        ),
        B::Events { .. } | B::Nodes { .. } | B::ScalarBytes { .. } | B::Documents { .. } => {
            "the document has more values than a scenario file may hold".to_string()
        }
        B::RecordedAnchorEvents { .. } | B::RecordedAnchorBytes { .. } => {
            "anchors and aliases expand to more values than a scenario file may hold".to_string()
        }
        other => {
            format!("anchors and aliases expand past what a scenario file may hold ({other:?})")
        }
    }
}

/// Plain words for the scalar types of the raw structs.
fn describe_scalar(ty: &str) -> String {
    match ty {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more".to_string(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_string(),
        "f32" | "f64" | "floating point" => "a number".to_string(),
        "bool" | "boolean" => "true or false".to_string(),
        other => format!("a value of type {other}"),
    }
}

/// Plain words for what the YAML reader expected.
fn describe_expected(expected: &str) -> &str {
    match expected {
        "sequence start" => "a list",
        "mapping start" => "a mapping",
        "string scalar" | "scalar" => "a single value, not a list or mapping",
        other => other,
    }
}

/// The text written at `position`, up to the end of the line, shortened.
fn text_at(text: &str, position: Position) -> Option<String> {
    let line = text
        .lines()
        .nth(usize::try_from(position.line).ok()?.checked_sub(1)?)?;
    let rest: String = line
        .chars()
        .skip(usize::try_from(position.column).ok()?.saturating_sub(1))
        .collect();
    let mut rest = rest.split(" #").next().unwrap_or_default().trim();
    // Inside a flow collection such as `{rps: lots}` the value ends at the next delimiter.
    if !rest.starts_with(['[', '{', '"', '\'']) {
        rest = rest
            .split([',', '}', ']'])
            .next()
            .unwrap_or_default()
            .trim_end();
    }
    if rest.is_empty() {
        return None;
    }
    let mut short: String = rest.chars().take(40).collect();
    if rest.chars().count() > 40 {
        short.push('…');
    }
    Some(short)
}

/// serde-saphyr ends its messages with ` at line L, column C`; the position is reported apart.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}
