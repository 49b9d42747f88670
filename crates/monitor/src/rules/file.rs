//! Prometheus rule files (`groups:` → `rules:`), validated as strictly as Prometheus 2.42's
//! `promtool check rules`: unknown keys, bad expressions, durations, label names and templates
//! are errors that name the file, the group and the rule.

use std::collections::BTreeMap;
use std::time::Duration;

use promql_parser::parser::Expr;
use serde_json::Value as Yaml;

use super::template::Template;
use crate::duration::parse_duration;
use crate::labels::{METRIC_NAME, is_valid_label_name};

/// A rule file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The text is not YAML.
    #[error("unable to parse rule file {origin} as YAML")]
    Yaml {
        /// Where the text came from.
        origin: String,
        /// The YAML parser's error, with line and column.
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// A problem with the file as a whole.
    #[error("rule file {origin}: {problem}")]
    File {
        /// Where the text came from.
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// A problem with a group's own fields.
    #[error("rule file {origin}, group {group:?}: {problem}")]
    Group {
        /// Where the text came from.
        origin: String,
        /// The group's name (or its position when it has none).
        group: String,
        /// What is wrong.
        problem: String,
    },
    /// A problem with one rule.
    #[error("rule file {origin}, group {group:?}, {rule}: {problem}")]
    Rule {
        /// Where the text came from.
        origin: String,
        /// The group's name.
        group: String,
        /// The rule: `alert "Name" (line N)` or its position.
        rule: String,
        /// What is wrong.
        problem: String,
    },
}

/// A parsed rule file.
#[derive(Debug, Clone)]
pub struct RuleFile {
    /// Where the text came from (a path or a description), used in messages.
    pub origin: String,
    /// The rule groups in file order.
    pub groups: Vec<RuleGroup>,
}

/// A group of rules evaluated together at one interval.
#[derive(Debug, Clone)]
pub struct RuleGroup {
    /// The group name, unique in the file.
    pub name: String,
    /// The group's evaluation interval; `None` uses the global one.
    pub interval: Option<Duration>,
    /// Maximum number of alerts a rule may produce; 0 means no limit.
    pub limit: usize,
    /// The alerting rules in file order.
    pub rules: Vec<AlertingRule>,
}

/// An alerting rule.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    /// The alert name (`alertname` label).
    pub name: String,
    /// The PromQL expression as written.
    pub expr: String,
    /// The parsed expression.
    pub parsed: Expr,
    /// How long the expression must hold before the alert fires.
    pub for_duration: Duration,
    /// Labels added to every alert, as templates.
    pub labels: BTreeMap<String, Template>,
    /// Annotations, as templates.
    pub annotations: BTreeMap<String, Template>,
    /// The rule's line in the file, when known.
    pub line: Option<u64>,
}

const GROUP_KEYS: &[&str] = &["name", "interval", "limit", "rules"];
const RULE_KEYS: &[&str] = &["record", "alert", "expr", "for", "labels", "annotations"];

/// Only used to find the line of each rule after the structure has been validated.
#[derive(serde::Deserialize)]
struct SpanFile {
    groups: Option<Vec<SpanGroup>>,
}

#[derive(serde::Deserialize)]
struct SpanGroup {
    rules: Option<Vec<serde_saphyr::Spanned<serde::de::IgnoredAny>>>,
}

impl RuleFile {
    /// Parses and validates a rule file; `origin` names it in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<RuleFile, RuleError> {
        let doc: Yaml = serde_saphyr::from_str(text).map_err(|source| RuleError::Yaml {
            origin: origin.to_string(),
            source: Box::new(source),
        })?;
        let lines: Vec<Vec<u64>> = serde_saphyr::from_str::<SpanFile>(text)
            .ok()
            .and_then(|f| f.groups)
            .map(|groups| {
                groups
                    .into_iter()
                    .map(|g| {
                        g.rules
                            .unwrap_or_default()
                            .iter()
                            .map(|r| r.referenced.line())
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let file_err = |problem: String| RuleError::File {
            origin: origin.to_string(),
            problem,
        };

        let groups_value = match doc {
            Yaml::Null => {
                return Ok(RuleFile {
                    origin: origin.to_string(),
                    groups: Vec::new(),
                });
            }
            Yaml::Object(mut top) => {
                if let Some(key) = top.keys().find(|k| k.as_str() != "groups") {
                    return Err(file_err(format!(
                        "unknown key {key:?} at the top level (allowed: groups)"
                    )));
                }
                top.remove("groups").unwrap_or(Yaml::Null)
            }
            _ => {
                return Err(file_err(
                    "the top level must be a mapping with a groups key".into(),
                ));
            }
        };
        let raw_groups = match groups_value {
            Yaml::Null => Vec::new(),
            Yaml::Array(groups) => groups,
            _ => return Err(file_err("groups must be a list".into())),
        };

        let mut groups = Vec::new();
        for (gi, raw) in raw_groups.into_iter().enumerate() {
            let group = parse_group(origin, gi, raw, lines.get(gi))?;
            if groups.iter().any(|g: &RuleGroup| g.name == group.name) {
                return Err(file_err(format!("group name {:?} is repeated", group.name)));
            }
            groups.push(group);
        }
        Ok(RuleFile {
            origin: origin.to_string(),
            groups,
        })
    }

    /// The project's shipped rule file ([`crate::SHIPPED_RULES`]).
    pub fn shipped() -> Result<RuleFile, RuleError> {
        RuleFile::parse(crate::SHIPPED_RULES, crate::SHIPPED_RULES_PATH)
    }

    /// All alerting rules of all groups.
    pub fn rules(&self) -> impl Iterator<Item = &AlertingRule> {
        self.groups.iter().flat_map(|g| g.rules.iter())
    }
}

fn parse_group(
    origin: &str,
    index: usize,
    raw: Yaml,
    lines: Option<&Vec<u64>>,
) -> Result<RuleGroup, RuleError> {
    let Yaml::Object(mut map) = raw else {
        return Err(RuleError::Group {
            origin: origin.to_string(),
            group: format!("#{}", index + 1),
            problem: "a group must be a mapping".into(),
        });
    };
    let name = match map.remove("name") {
        Some(Yaml::String(s)) if !s.is_empty() => s,
        _ => format!("#{}", index + 1),
    };
    let err = |problem: String| RuleError::Group {
        origin: origin.to_string(),
        group: name.clone(),
        problem,
    };
    if name.starts_with('#') {
        return Err(err("the group name must be set and not empty".into()));
    }
    if let Some(key) = map.keys().find(|k| !GROUP_KEYS.contains(&k.as_str())) {
        return Err(err(format!(
            "unknown key {key:?} (allowed: {})",
            GROUP_KEYS.join(", ")
        )));
    }
    let interval = match map.remove("interval") {
        None | Some(Yaml::Null) => None,
        Some(v) => {
            let text = scalar_text(&v).ok_or_else(|| err("interval must be a duration".into()))?;
            let d = parse_duration(&text).map_err(|e| err(e.to_string()))?;
            if d.is_zero() {
                return Err(err("interval must be greater than zero".into()));
            }
            Some(d)
        }
    };
    let limit = match map.remove("limit") {
        None | Some(Yaml::Null) => 0,
        Some(Yaml::Number(n)) => n
            .as_u64()
            .ok_or_else(|| err("limit must be a non-negative integer".into()))?
            as usize,
        Some(_) => return Err(err("limit must be a non-negative integer".into())),
    };
    let raw_rules = match map.remove("rules") {
        None | Some(Yaml::Null) => Vec::new(),
        Some(Yaml::Array(rules)) => rules,
        Some(_) => return Err(err("rules must be a list".into())),
    };
    let mut rules = Vec::new();
    for (ri, raw) in raw_rules.into_iter().enumerate() {
        let line = lines.and_then(|l| l.get(ri)).copied();
        rules.push(parse_rule(origin, &name, ri, line, raw)?);
    }
    Ok(RuleGroup {
        name,
        interval,
        limit,
        rules,
    })
}

/// YAML scalars as the string Prometheus' YAML decoder would see.
fn scalar_text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_rule(
    origin: &str,
    group: &str,
    index: usize,
    line: Option<u64>,
    raw: Yaml,
) -> Result<AlertingRule, RuleError> {
    let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
    let mut ident = format!("rule #{}{at}", index + 1);
    let err = |ident: &str, problem: String| RuleError::Rule {
        origin: origin.to_string(),
        group: group.to_string(),
        rule: ident.to_string(),
        problem,
    };
    let Yaml::Object(mut map) = raw else {
        return Err(err(&ident, "a rule must be a mapping".into()));
    };
    let alert = map.get("alert").and_then(scalar_text).unwrap_or_default();
    let record = map.get("record").and_then(scalar_text).unwrap_or_default();
    if !alert.is_empty() {
        ident = format!("alert {alert:?}{at}");
    } else if !record.is_empty() {
        ident = format!("record {record:?}{at}");
    }
    if let Some(key) = map.keys().find(|k| !RULE_KEYS.contains(&k.as_str())) {
        let problem = format!("unknown key {key:?} (allowed: {})", RULE_KEYS.join(", "));
        return Err(err(&ident, problem));
    }
    match (alert.is_empty(), record.is_empty()) {
        (false, false) => {
            return Err(err(
                &ident,
                "only one of 'record' and 'alert' must be set".into(),
            ));
        }
        (true, true) => return Err(err(&ident, "one of 'record' or 'alert' must be set".into())),
        (true, false) => {
            return Err(err(
                &ident,
                "recording rules are not supported by the simulated monitoring; \
                 use alerting rules only"
                    .into(),
            ));
        }
        (false, true) => {}
    }
    let expr = map
        .remove("expr")
        .as_ref()
        .and_then(scalar_text)
        .unwrap_or_default();
    if expr.trim().is_empty() {
        return Err(err(&ident, "field 'expr' must be set in rule".into()));
    }
    let parsed = promql_parser::parser::parse(&expr)
        .map_err(|e| err(&ident, format!("could not parse expression: {e}")))?;
    let for_duration = match map.remove("for") {
        None | Some(Yaml::Null) => Duration::ZERO,
        Some(v) => {
            let text = scalar_text(&v)
                .ok_or_else(|| err(&ident, "for must be a duration such as 5m".into()))?;
            parse_duration(&text).map_err(|e| err(&ident, format!("invalid 'for': {e}")))?
        }
    };
    let mut labels = BTreeMap::new();
    for (name, value) in string_map(map.remove("labels"), "labels").map_err(|p| err(&ident, p))? {
        if !is_valid_label_name(&name) || name == METRIC_NAME {
            return Err(err(&ident, format!("invalid label name: {name}")));
        }
        let template =
            Template::parse(&value).map_err(|e| err(&ident, format!("label {name}: {e}")))?;
        labels.insert(name, template);
    }
    let mut annotations = BTreeMap::new();
    for (name, value) in
        string_map(map.remove("annotations"), "annotations").map_err(|p| err(&ident, p))?
    {
        if !is_valid_label_name(&name) {
            return Err(err(&ident, format!("invalid annotation name: {name}")));
        }
        let template =
            Template::parse(&value).map_err(|e| err(&ident, format!("annotation {name}: {e}")))?;
        annotations.insert(name, template);
    }
    Ok(AlertingRule {
        name: alert,
        expr,
        parsed,
        for_duration,
        labels,
        annotations,
        line,
    })
}

fn string_map(v: Option<Yaml>, what: &str) -> Result<Vec<(String, String)>, String> {
    match v {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Object(map)) => map
            .into_iter()
            .map(|(k, v)| {
                scalar_text(&v)
                    .map(|s| (k.clone(), s))
                    .ok_or_else(|| format!("the value of {what}.{k} must be a string"))
            })
            .collect(),
        Some(_) => Err(format!("{what} must be a mapping of names to strings")),
    }
}
