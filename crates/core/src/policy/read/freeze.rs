//! When: freeze windows, fixed (start, end) or weekly (days, from, to, timezone).

use chrono::{DateTime, Utc};

use super::{Reader, Result};
use crate::policy::freeze::{FreezeSchedule, FreezeWindow, TimeOfDay, UtcOffset, parse_weekday};
use crate::policy::tree::{KeyPath, Node};

impl Reader<'_> {
    pub(super) fn freeze(&self, node: &Node, path: &KeyPath) -> Result<Vec<FreezeWindow>> {
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
