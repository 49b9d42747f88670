//! Reading the policy file: a spanned YAML tree walked key by key, so every mistake is
//! reported with the file, the key path and the line.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::ActionName;
use crate::units::parse_duration;
use chrono::{DateTime, Utc};

use super::error::PolicyError;
use super::freeze::{FreezeSchedule, FreezeWindow, TimeOfDay, UtcOffset, parse_weekday};
use super::operation::Operation;
use super::tree::{self, Key, KeyPath, Node, Position, Value};
use super::{ActionRule, Criticality, ForbiddenRule, LabelSelector, Mode, Policy, default_actions};
use crate::decision::Risk;

type Result<T> = std::result::Result<T, PolicyError>;

const TOP_KEYS: &[&str] = &[
    "mode",
    "namespaces",
    "min_confidence",
    "approval_timeout",
    "criticality",
    "actions",
    "forbidden",
    "exclude_label",
    "budgets",
    "blast_radius",
    "freeze",
];

pub(super) fn parse(text: &str, origin: &str) -> Result<Policy> {
    let reader = Reader { origin };
    let root = tree::parse(text).map_err(|e| reader.yaml(&e))?;
    let mut policy = Policy {
        origin: origin.to_string(),
        ..Policy::default()
    };
    let path = KeyPath::root();
    if let Value::Null = root.value {
        return Ok(policy);
    }
    if !matches!(root.value, Value::Map(_)) {
        return Err(reader.invalid(
            &path,
            root.at,
            format!(
                "a policy is a mapping with keys such as mode, namespaces and actions; found {}",
                root.value.describe()
            ),
        ));
    }
    for (key, node, path) in reader.entries(&root, &path, TOP_KEYS)? {
        match key {
            "mode" => policy.mode = reader.mode(node, &path)?,
            "namespaces" => {
                for (ns, node, path) in reader.free_entries(node, &path)? {
                    reader.namespace_name(ns, &path)?;
                    if let Value::Str(text) = &node.value {
                        return Err(reader.invalid(
                            &path,
                            node.at,
                            format!("expected a mapping such as {{mode: {text}}}, found {text:?}"),
                        ));
                    }
                    for (key, node, path) in reader.entries(node, &path, &["mode"])? {
                        if key == "mode" {
                            policy
                                .namespace_modes
                                .insert(ns.text.clone(), reader.mode(node, &path)?);
                        }
                    }
                }
            }
            "min_confidence" => policy.min_confidence = reader.fraction(node, &path)?,
            "approval_timeout" => {
                policy.approval_timeout = reader.duration(node, &path)?;
                if policy.approval_timeout.is_zero() {
                    return Err(reader.invalid(
                        &path,
                        node.at,
                        "the approval timeout must be longer than zero, e.g. 15m",
                    ));
                }
            }
            "criticality" => reader.criticality(node, &path, &mut policy)?,
            "actions" => reader.actions(node, &path, &mut policy)?,
            "forbidden" => policy.forbidden = reader.forbidden(node, &path)?,
            "exclude_label" => {
                let label = reader.string(node, &path, "a label key")?;
                reader.label_key(label, &path, node.at)?;
                policy.exclude_label = label.to_string();
            }
            "budgets" => {
                const KEYS: &[&str] = &[
                    "actions_per_target_per_hour",
                    "concurrent_actions",
                    "cooldown_after_failure",
                ];
                for (key, node, path) in reader.entries(node, &path, KEYS)? {
                    match key {
                        "actions_per_target_per_hour" => {
                            policy.budgets.actions_per_target_per_hour =
                                reader.count(node, &path)?
                        }
                        "concurrent_actions" => {
                            policy.budgets.concurrent_actions = reader.count(node, &path)?
                        }
                        _ => {
                            policy.budgets.cooldown_after_failure = reader.duration(node, &path)?
                        }
                    }
                }
            }
            "blast_radius" => {
                for (_, node, path) in reader.entries(node, &path, &["max_replica_share"])? {
                    let share = reader.fraction(node, &path)?;
                    if share <= 0.0 {
                        return Err(reader.invalid(
                            &path,
                            node.at,
                            "the share must be above 0 (no action could ever run), e.g. 0.5",
                        ));
                    }
                    policy.blast_radius.max_replica_share = share;
                }
            }
            _ => policy.freeze = reader.freeze(node, &path)?,
        }
    }
    Ok(policy)
}

struct Reader<'a> {
    origin: &'a str,
}

impl Reader<'_> {
    fn invalid(
        &self,
        path: &KeyPath,
        at: Option<Position>,
        message: impl Into<String>,
    ) -> PolicyError {
        PolicyError::Invalid {
            origin: self.origin.to_string(),
            key: path.to_string(),
            line: at.map(|p| p.line),
            column: at.map(|p| p.column),
            message: message.into(),
        }
    }

    /// An error of the YAML reader itself (bad indentation, an unclosed quote).
    fn yaml(&self, err: &serde_saphyr::Error) -> PolicyError {
        let err = err.without_snippet();
        let at = err.location().and_then(|l| Position::from_location(&l));
        let message = err.to_string();
        let message = match message.rfind(" at line ") {
            Some(i) => &message[..i],
            None => &message,
        };
        self.invalid(&KeyPath::root(), at, format!("not valid YAML: {message}"))
    }

    /// The entries of a mapping whose keys must be among `allowed`; nothing (`~`) counts as
    /// an empty mapping.
    fn entries<'n>(
        &self,
        node: &'n Node,
        path: &KeyPath,
        allowed: &[&str],
    ) -> Result<Vec<(&'n str, &'n Node, KeyPath)>> {
        let mut out = Vec::new();
        for (key, value, key_path) in self.free_entries(node, path)? {
            if !allowed.contains(&key.text.as_str()) {
                return Err(self.invalid(
                    &key_path,
                    key.at,
                    format!(
                        "unknown key {:?}; expected {}",
                        key.text,
                        one_of(allowed.iter().copied())
                    ),
                ));
            }
            out.push((key.text.as_str(), value, key_path));
        }
        Ok(out)
    }

    /// The entries of a mapping with keys of the user's choosing (namespaces, labels).
    fn free_entries<'n>(
        &self,
        node: &'n Node,
        path: &KeyPath,
    ) -> Result<Vec<(&'n Key, &'n Node, KeyPath)>> {
        let entries = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => return Ok(Vec::new()),
            other => {
                return Err(self.invalid(
                    path,
                    node.at,
                    format!("expected a mapping, found {}", other.describe()),
                ));
            }
        };
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (key, value) in entries {
            let key_path = path.key(&key.text);
            if !seen.insert(key.text.as_str()) {
                return Err(self.invalid(
                    &key_path,
                    key.at,
                    format!("the key {:?} is written twice", key.text),
                ));
            }
            out.push((key, value, key_path));
        }
        Ok(out)
    }

    /// The items of a list; nothing (`~`) counts as an empty list.
    fn list<'n>(&self, node: &'n Node, path: &KeyPath) -> Result<Vec<(&'n Node, KeyPath)>> {
        match &node.value {
            Value::Seq(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, item)| (item, path.index(i)))
                .collect()),
            Value::Null => Ok(Vec::new()),
            other => Err(self.invalid(
                path,
                node.at,
                format!("expected a list, found {}", other.describe()),
            )),
        }
    }

    fn string<'n>(&self, node: &'n Node, path: &KeyPath, what: &str) -> Result<&'n str> {
        match &node.value {
            Value::Str(s) => Ok(s),
            other => Err(self.invalid(
                path,
                node.at,
                format!("expected {what}, found {}", other.describe()),
            )),
        }
    }

    fn number(&self, node: &Node, path: &KeyPath, what: &str) -> Result<f64> {
        match node.value {
            Value::Int(i) => Ok(i as f64),
            Value::Float(x) if x.is_finite() => Ok(x),
            ref other => Err(self.invalid(
                path,
                node.at,
                format!("expected {what}, found {}", other.describe()),
            )),
        }
    }

    /// A number from 0 to 1.
    fn fraction(&self, node: &Node, path: &KeyPath) -> Result<f64> {
        let x = self.number(node, path, "a number from 0 to 1")?;
        if !(0.0..=1.0).contains(&x) {
            return Err(self.invalid(
                path,
                node.at,
                format!("{x} is out of range; expected a number from 0 to 1, e.g. 0.7"),
            ));
        }
        Ok(x)
    }

    /// A factor above 1.
    fn factor(&self, node: &Node, path: &KeyPath) -> Result<f64> {
        let x = self.number(node, path, "a factor above 1, e.g. 2")?;
        if x <= 1.0 {
            return Err(self.invalid(
                path,
                node.at,
                format!("{x} is too small; expected a factor above 1, e.g. 2"),
            ));
        }
        Ok(x)
    }

    /// A whole number, 0 or more.
    fn count(&self, node: &Node, path: &KeyPath) -> Result<u32> {
        match node.value {
            Value::Int(i) => u32::try_from(i).map_err(|_| {
                self.invalid(
                    path,
                    node.at,
                    format!("{i} is out of range; expected a whole number, 0 or more"),
                )
            }),
            ref other => Err(self.invalid(
                path,
                node.at,
                format!("expected a whole number, found {}", other.describe()),
            )),
        }
    }

    fn duration(&self, node: &Node, path: &KeyPath) -> Result<Duration> {
        match &node.value {
            Value::Str(s) => parse_duration(s).map_err(|e| self.invalid(path, node.at, e)),
            Value::Int(0) => Ok(Duration::ZERO),
            other => Err(self.invalid(
                path,
                node.at,
                format!(
                    "expected a duration with a unit (ms, s, m, h) such as 10m, found {}",
                    other.describe()
                ),
            )),
        }
    }

    fn mode(&self, node: &Node, path: &KeyPath) -> Result<Mode> {
        let text = self.string(node, path, "a mode (observe, dry-run, approve or auto)")?;
        text.parse()
            .map_err(|e: String| self.invalid(path, node.at, e))
    }

    fn risk(&self, node: &Node, path: &KeyPath) -> Result<Risk> {
        match self.string(node, path, "a risk (low, medium or high)")? {
            "low" => Ok(Risk::Low),
            "medium" => Ok(Risk::Medium),
            "high" => Ok(Risk::High),
            other => Err(self.invalid(
                path,
                node.at,
                format!("unknown risk {other:?}; expected low, medium or high"),
            )),
        }
    }

    fn criticality_level(&self, node: &Node, path: &KeyPath) -> Result<Criticality> {
        match self.string(node, path, "a criticality (low, medium or high)")? {
            "low" => Ok(Criticality::Low),
            "medium" => Ok(Criticality::Medium),
            "high" => Ok(Criticality::High),
            other => Err(self.invalid(
                path,
                node.at,
                format!("unknown criticality {other:?}; expected low, medium or high"),
            )),
        }
    }

    /// A namespace name as Kubernetes allows it (an RFC 1123 label).
    fn namespace_name(&self, key: &Key, path: &KeyPath) -> Result<()> {
        self.check_namespace(&key.text, path, key.at)
    }

    fn check_namespace(&self, name: &str, path: &KeyPath, at: Option<Position>) -> Result<()> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if valid {
            Ok(())
        } else {
            Err(self.invalid(
                path,
                at,
                format!(
                    "invalid namespace name {name:?}; expected lowercase letters, digits and '-' \
                     (at most 63), e.g. shop"
                ),
            ))
        }
    }

    fn label_key(&self, key: &str, path: &KeyPath, at: Option<Position>) -> Result<()> {
        let valid = !key.is_empty()
            && key.len() <= 316
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        if valid {
            Ok(())
        } else {
            Err(self.invalid(
                path,
                at,
                format!(
                    "invalid label key {key:?}; expected letters, digits, '-', '_', '.' and an \
                     optional prefix/, e.g. nightshift.io/exclude"
                ),
            ))
        }
    }

    fn namespace_list(&self, node: &Node, path: &KeyPath) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (item, item_path) in self.list(node, path)? {
            let name = self.string(item, &item_path, "a namespace name")?;
            self.check_namespace(name, &item_path, item.at)?;
            out.push(name.to_string());
        }
        Ok(out)
    }

    /// An infra-changing operation name.
    fn operation(&self, node: &Node, path: &KeyPath) -> Result<Operation> {
        let text = self.string(node, path, "an action name such as restart-pod")?;
        let op: Operation = text
            .parse()
            .map_err(|e: String| self.invalid(path, node.at, e))?;
        if !op.changes_infra() {
            return Err(self.invalid(
                path,
                node.at,
                format!(
                    "{op} changes nothing in the cluster, so it cannot be forbidden or allowed"
                ),
            ));
        }
        Ok(op)
    }

    fn criticality(&self, node: &Node, path: &KeyPath, policy: &mut Policy) -> Result<()> {
        for (key, node, path) in self.entries(node, path, &["namespaces", "labels"])? {
            for (entry, value, entry_path) in self.free_entries(node, &path)? {
                let level = self.criticality_level(value, &entry_path)?;
                if key == "namespaces" {
                    self.namespace_name(entry, &entry_path)?;
                    policy
                        .criticality
                        .namespaces
                        .insert(entry.text.clone(), level);
                } else {
                    let selector = match entry.text.split_once('=') {
                        Some((k, v)) => LabelSelector {
                            key: k.to_string(),
                            value: Some(v.to_string()),
                        },
                        None => LabelSelector {
                            key: entry.text.clone(),
                            value: None,
                        },
                    };
                    self.label_key(&selector.key, &entry_path, entry.at)?;
                    policy.criticality.labels.push((selector, level));
                }
            }
        }
        Ok(())
    }

    fn actions(&self, node: &Node, path: &KeyPath, policy: &mut Policy) -> Result<()> {
        let defaults = default_actions();
        for (name, value, action_path) in self.free_entries(node, path)? {
            let action = self.action_name(name, &action_path)?;
            let keys: &[&str] = match action {
                ActionName::Scale => &["risk", "max_replicas", "max_step_factor"],
                ActionName::SetResources => &["risk", "max_memory_factor"],
                _ => &["risk"],
            };
            let mut rule = defaults
                .get(&action)
                .cloned()
                .unwrap_or_else(|| ActionRule::with_risk(Risk::High));
            for (key, node, path) in self.entries(value, &action_path, keys)? {
                match key {
                    "risk" => rule.risk = self.risk(node, &path)?,
                    "max_replicas" => {
                        let max = self.count(node, &path)?;
                        if max == 0 {
                            return Err(self.invalid(
                                &path,
                                node.at,
                                "max_replicas must be 1 or more (scaling to zero is never allowed)",
                            ));
                        }
                        rule.max_replicas = Some(i32::try_from(max).unwrap_or(i32::MAX));
                    }
                    "max_step_factor" => rule.max_step_factor = Some(self.factor(node, &path)?),
                    _ => rule.max_memory_factor = Some(self.factor(node, &path)?),
                }
            }
            policy.actions.insert(action, rule);
        }
        Ok(())
    }

    fn action_name(&self, key: &Key, path: &KeyPath) -> Result<ActionName> {
        let infra = ActionName::ALL.iter().filter(|a| a.changes_infra());
        match key.text.parse::<ActionName>() {
            Ok(name) if name.changes_infra() => Ok(name),
            Ok(name) => Err(self.invalid(
                path,
                key.at,
                format!("{name} changes nothing in the cluster and has no risk to set"),
            )),
            Err(_) => Err(self.invalid(
                path,
                key.at,
                format!(
                    "unknown action {:?}; expected {}",
                    key.text,
                    one_of(infra.map(|a| a.as_str()))
                ),
            )),
        }
    }

    fn forbidden(&self, node: &Node, path: &KeyPath) -> Result<Vec<ForbiddenRule>> {
        let mut rules = Vec::new();
        for (item, item_path) in self.list(node, path)? {
            let rule = match &item.value {
                Value::Map(_) => {
                    let mut operation = None;
                    let mut namespaces = Vec::new();
                    for (key, node, path) in
                        self.entries(item, &item_path, &["action", "namespaces"])?
                    {
                        if key == "action" {
                            operation = Some(self.operation(node, &path)?);
                        } else {
                            namespaces = self.namespace_list(node, &path)?;
                        }
                    }
                    let operation = operation.ok_or_else(|| {
                        self.invalid(
                            &item_path,
                            item.at,
                            "missing key \"action\"; write e.g. {action: drain-node, namespaces: [kube-system]}",
                        )
                    })?;
                    ForbiddenRule {
                        operation,
                        namespaces,
                    }
                }
                _ => ForbiddenRule {
                    operation: self.operation(item, &item_path)?,
                    namespaces: Vec::new(),
                },
            };
            rules.push(rule);
        }
        Ok(rules)
    }

    fn freeze(&self, node: &Node, path: &KeyPath) -> Result<Vec<FreezeWindow>> {
        const KEYS: &[&str] = &[
            "name",
            "start",
            "end",
            "days",
            "from",
            "to",
            "timezone",
            "namespaces",
            "allow",
        ];
        let mut windows: Vec<FreezeWindow> = Vec::new();
        for (item, item_path) in self.list(node, path)? {
            let missing = |key: &str, hint: &str| {
                self.invalid(&item_path, item.at, format!("missing key {key:?}; {hint}"))
            };
            let mut name = None;
            let (mut start, mut end) = (None, None);
            let (mut days, mut from, mut to, mut timezone) = (None, None, None, None);
            let mut namespaces = Vec::new();
            let mut allow = Vec::new();
            let mut first_fixed_key = None;
            let mut first_weekly_key = None;
            for (key, node, path) in self.entries(item, &item_path, KEYS)? {
                match key {
                    "name" => {
                        let text = self.string(node, &path, "a name such as black-friday")?;
                        if text.trim().is_empty() {
                            return Err(self.invalid(&path, node.at, "the name is empty"));
                        }
                        if windows.iter().any(|w| w.name == text) {
                            return Err(self.invalid(
                                &path,
                                node.at,
                                format!("another freeze window is already named {text:?}"),
                            ));
                        }
                        name = Some(text.to_string());
                    }
                    "start" | "end" => {
                        first_fixed_key.get_or_insert((path.clone(), node.at));
                        let at = self.timestamp(node, &path)?;
                        if key == "start" {
                            start = Some((at, path, node.at));
                        } else {
                            end = Some(at);
                        }
                    }
                    "days" => {
                        first_weekly_key.get_or_insert((path.clone(), node.at));
                        let mut list = Vec::new();
                        for (day, day_path) in self.list(node, &path)? {
                            let text = self.string(day, &day_path, "a day such as fri")?;
                            let day = parse_weekday(text)
                                .map_err(|e| self.invalid(&day_path, day.at, e))?;
                            if !list.contains(&day) {
                                list.push(day);
                            }
                        }
                        if list.is_empty() {
                            return Err(self.invalid(
                                &path,
                                node.at,
                                "the list of days is empty; expected e.g. [fri]",
                            ));
                        }
                        days = Some(list);
                    }
                    "from" | "to" => {
                        first_weekly_key.get_or_insert((path.clone(), node.at));
                        let text = self.string(node, &path, "a time such as 16:00 (HH:MM)")?;
                        let time: TimeOfDay = text
                            .parse()
                            .map_err(|e: String| self.invalid(&path, node.at, e))?;
                        if key == "from" {
                            from = Some((time, path, node.at));
                        } else {
                            to = Some(time);
                        }
                    }
                    "timezone" => {
                        first_weekly_key.get_or_insert((path.clone(), node.at));
                        let text = self.string(node, &path, "UTC or an offset such as +01:00")?;
                        timezone = Some(
                            text.parse::<UtcOffset>()
                                .map_err(|e| self.invalid(&path, node.at, e))?,
                        );
                    }
                    "namespaces" => namespaces = self.namespace_list(node, &path)?,
                    _ => {
                        for (op, op_path) in self.list(node, &path)? {
                            allow.push(self.operation(op, &op_path)?);
                        }
                    }
                }
            }
            let name = name.ok_or_else(|| missing("name", "every freeze window has a name"))?;
            let schedule = match (first_fixed_key, first_weekly_key) {
                (Some(_), Some((path, at))) => {
                    return Err(self.invalid(
                        &path,
                        at,
                        "a freeze window is either fixed (start, end) or weekly (days, from, to, \
                         timezone), not both",
                    ));
                }
                (Some(_), None) => {
                    let hint =
                        "a fixed window has start and end, e.g. start: \"2026-11-27T00:00:00Z\"";
                    let (start, start_path, start_at) =
                        start.ok_or_else(|| missing("start", hint))?;
                    let end = end.ok_or_else(|| missing("end", hint))?;
                    if end <= start {
                        return Err(self.invalid(
                            &start_path,
                            start_at,
                            "the window ends before it starts; end must be after start",
                        ));
                    }
                    FreezeSchedule::Fixed { start, end }
                }
                (None, Some(_)) => {
                    let hint = "a weekly window has days, from and to, e.g. {days: [fri], from: \"16:00\", to: \"24:00\"}";
                    let days = days.ok_or_else(|| missing("days", hint))?;
                    let (from, from_path, from_at) = from.ok_or_else(|| missing("from", hint))?;
                    let to = to.ok_or_else(|| missing("to", hint))?;
                    if from == to {
                        return Err(self.invalid(
                            &from_path,
                            from_at,
                            "from and to are the same time; the window would be empty",
                        ));
                    }
                    FreezeSchedule::Weekly {
                        days,
                        from,
                        to,
                        timezone: timezone.unwrap_or_default(),
                    }
                }
                (None, None) => {
                    return Err(missing(
                        "start",
                        "a freeze window is either fixed (start, end) or weekly (days, from, to)",
                    ));
                }
            };
            windows.push(FreezeWindow {
                name,
                schedule,
                namespaces,
                allow,
            });
        }
        Ok(windows)
    }

    fn timestamp(&self, node: &Node, path: &KeyPath) -> Result<DateTime<Utc>> {
        let text = self.string(node, path, "a time such as \"2026-11-27T00:00:00Z\"")?;
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                self.invalid(
                    path,
                    node.at,
                    format!(
                        "invalid time {text:?} ({e}); expected RFC 3339 such as \
                         \"2026-11-27T00:00:00Z\" or \"2026-11-27T00:00:00+01:00\""
                    ),
                )
            })
    }
}

/// `one of: a, b, c` (or just `a` when there is one).
fn one_of<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    match items.as_slice() {
        [one] => one.to_string(),
        _ => format!("one of: {}", items.join(", ")),
    }
}
