//! Log folding: log lines become templates. Variable fields (numbers, ids, addresses,
//! timestamps) become slots; a slot with few distinct values stays literal (so `status=200`
//! and `status=500` stay apart) and the others show their range. Each template carries its
//! count and its first and last time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDateTime, Utc};
use regex::Regex;

use super::fence::untrusted;

/// A variable field of a log line.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Time,
    Number(f64, String),
    Word(String),
}

impl Slot {
    fn text(&self) -> &str {
        match self {
            Slot::Time => "<ts>",
            Slot::Number(_, s) | Slot::Word(s) => s,
        }
    }
}

fn field_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)",
            r"|(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)",
            r"|(?P<ip>\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b)",
            r"|(?P<hex>\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]*\d[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b|\b[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\d[0-9a-fA-F]*\b)",
            r"|(?P<num>-?\b\d+(?:\.\d+)?)",
        ))
        .expect("field pattern is valid")
    })
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&s.replace(' ', "T").replace(',', "."))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(
                &s.replace('T', " ").replace(',', "."),
                "%Y-%m-%d %H:%M:%S%.f",
            )
            .ok()
            .map(|n| n.and_utc())
        })
}

/// A line with its variable fields (numbers, ids, addresses, times) taken out.
pub fn skeleton(line: &str) -> String {
    split_line(line).0
}

/// A line split into its constant text (with `\u{1}` where a slot was) and its slots.
fn split_line(line: &str) -> (String, Vec<Slot>, Option<DateTime<Utc>>) {
    let mut skeleton = String::with_capacity(line.len());
    let mut slots = Vec::new();
    let mut time = None;
    let mut last = 0;
    for caps in field_regex().captures_iter(line) {
        let m = caps.get(0).expect("group 0");
        // A hex-looking run that is really a word (`checkout`, `deadbeef` in a name) only
        // counts when it is long enough to be an id.
        if caps.name("hex").is_some() && m.as_str().len() < 6 {
            continue;
        }
        skeleton.push_str(&line[last..m.start()]);
        skeleton.push('\u{1}');
        last = m.end();
        let text = m.as_str().to_string();
        slots.push(if caps.name("ts").is_some() {
            if time.is_none() {
                time = parse_time(&text);
            }
            Slot::Time
        } else if caps.name("num").is_some() {
            Slot::Number(text.parse().unwrap_or(0.0), text)
        } else {
            Slot::Word(text)
        });
    }
    skeleton.push_str(&line[last..]);
    (skeleton, slots, time)
}

/// One template of a folded log.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The line with variable fields as slots: literal where few values occur, otherwise
    /// `<min..max>` for numbers, `<ts>`, or `<*>`.
    pub text: String,
    /// Lines it stands for.
    pub count: usize,
    /// Time of the first line, when lines carry one.
    pub first: Option<DateTime<Utc>>,
    /// Time of the last line.
    pub last: Option<DateTime<Utc>>,
    /// Position of its first line, for ordering.
    pub first_index: usize,
}

/// Slots with at most this many distinct values stay literal.
const LITERAL_VALUES: usize = 4;

/// A line's slots, time and position.
type Line = (Vec<Slot>, Option<DateTime<Utc>>, usize);

/// Folds log lines into templates, in order of first appearance.
pub fn fold_lines<S: AsRef<str>>(lines: &[S]) -> Vec<Template> {
    struct Group {
        first_index: usize,
        lines: Vec<Line>,
    }
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let (skeleton, slots, time) = split_line(line.as_ref().trim_end());
        groups
            .entry(skeleton)
            .or_insert_with(|| Group {
                first_index: i,
                lines: Vec::new(),
            })
            .lines
            .push((slots, time, i));
    }
    let mut out = Vec::new();
    for (skeleton, group) in groups {
        let n_slots = group.lines.first().map(|l| l.0.len()).unwrap_or(0);
        let literal: Vec<bool> = (0..n_slots)
            .map(|s| {
                let distinct: BTreeSet<&str> = group.lines.iter().map(|l| l.0[s].text()).collect();
                let (d, n) = (distinct.len(), group.lines.len());
                // A value that repeats (a status code) says something; one that never
                // repeats (an id, a duration) is noise to the model.
                match group.lines[0].0[s] {
                    Slot::Time => false,
                    Slot::Word(_) => d == 1,
                    Slot::Number(..) => d == 1 || (d <= LITERAL_VALUES && d * 2 <= n),
                }
            })
            .collect();
        // Lines that agree on every literal slot fold together.
        let mut sub: BTreeMap<Vec<String>, Vec<&Line>> = BTreeMap::new();
        for l in &group.lines {
            let key = (0..n_slots)
                .filter(|s| literal[*s])
                .map(|s| l.0[s].text().to_string())
                .collect();
            sub.entry(key).or_default().push(l);
        }
        for members in sub.values() {
            let mut text = String::new();
            let mut parts = skeleton.split('\u{1}');
            text.push_str(parts.next().unwrap_or(""));
            for (s, part) in parts.enumerate() {
                if literal[s] {
                    text.push_str(members[0].0[s].text());
                } else {
                    text.push_str(&slot_range(members.iter().map(|m| &m.0[s])));
                }
                text.push_str(part);
            }
            let times: Vec<DateTime<Utc>> = members.iter().filter_map(|m| m.1).collect();
            out.push(Template {
                text,
                count: members.len(),
                first: times.iter().min().copied(),
                last: times.iter().max().copied(),
                first_index: members
                    .iter()
                    .map(|m| m.2)
                    .min()
                    .unwrap_or(group.first_index),
            });
        }
    }
    out.sort_by_key(|t| t.first_index);
    out
}

fn slot_range<'a>(values: impl Iterator<Item = &'a Slot>) -> String {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let (mut lo_s, mut hi_s) = (String::new(), String::new());
    for v in values {
        match v {
            Slot::Time => return "<ts>".into(),
            Slot::Word(_) => return "<*>".into(),
            Slot::Number(x, s) => {
                if *x < lo {
                    lo = *x;
                    lo_s = s.clone();
                }
                if *x > hi {
                    hi = *x;
                    hi_s = s.clone();
                }
            }
        }
    }
    format!("<{lo_s}..{hi_s}>")
}

fn is_alarming(text: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)\b(error|err|fatal|panic|exception|fail(ed|ure)?|refused|timeout|timed out|oom|killed|denied|unavailable|warn(ing)?)\b")
            .expect("valid")
    })
    .is_match(text)
}

/// Renders folded templates, keeping at most `max`: alarming ones and the most frequent
/// first, shown in order of appearance.
pub fn render_templates(templates: &[Template], max: usize, text_chars: usize) -> String {
    let mut ranked: Vec<usize> = (0..templates.len()).collect();
    ranked.sort_by_key(|i| {
        let t = &templates[*i];
        (
            !is_alarming(&t.text),
            std::cmp::Reverse(t.count),
            t.first_index,
        )
    });
    let mut keep: Vec<usize> = ranked.into_iter().take(max).collect();
    keep.sort_by_key(|i| templates[*i].first_index);
    let mut out = String::new();
    for i in &keep {
        let t = &templates[*i];
        let when = match (t.first, t.last) {
            (Some(a), Some(b)) if a != b => format!(" [{}..{}]", hms(a), hms(b)),
            (Some(a), _) => format!(" [{}]", hms(a)),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  x{}{when} {}",
            t.count,
            untrusted(&nightshift_core::redact::redact(&t.text), text_chars)
        );
    }
    let dropped: Vec<&Template> = (0..templates.len())
        .filter(|i| !keep.contains(i))
        .map(|i| &templates[i])
        .collect();
    if !dropped.is_empty() {
        let lines: usize = dropped.iter().map(|t| t.count).sum();
        let _ = writeln!(out, "  (+{} more templates, {lines} lines)", dropped.len());
    }
    out
}

pub(super) fn hms(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_lines_keeping_few_values_literal() {
        let mut lines = Vec::new();
        for i in 0..30 {
            lines.push(format!(
                "2026-01-01T12:00:{:02}Z INFO GET /api/cart status=200 duration_ms={}",
                i,
                5 + i
            ));
        }
        lines.push("2026-01-01T12:00:40Z ERROR GET /api/cart status=500 duration_ms=900".into());
        let t = fold_lines(&lines);
        assert_eq!(t.len(), 2, "{t:?}");
        assert_eq!(t[0].count, 30);
        assert!(t[0].text.contains("status=200"), "{}", t[0].text);
        assert!(t[0].text.contains("duration_ms=<5..34>"), "{}", t[0].text);
        assert_eq!(t[0].first.unwrap().format("%S").to_string(), "00");
        assert_eq!(t[0].last.unwrap().format("%S").to_string(), "29");
        assert!(t[1].text.contains("status=500"));
    }
}
