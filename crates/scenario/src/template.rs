//! Log line templates with placeholders.
//!
//! A template is plain text with placeholders that are filled in each time a line is printed:
//!
//! | placeholder | renders as |
//! | --- | --- |
//! | `{int:A..B}` | a whole number from A to B, both included (A and B may be negative) |
//! | `{float:A..B}` | a number from A to B, with as many decimals as the widest of A and B (2 if neither has any) |
//! | `{choice:a\|b\|c}` | one of the options |
//! | `{hex:N}` | N lowercase hex digits (1 to 64) |
//! | `{uuid}` | a version 4 UUID |
//! | `{ip}` | a private address in 10.0.0.0/8 |
//! | `{dep}` | one of the workload's dependencies as `host:port`; [`NO_DEPENDENCY`] if it has none |
//!
//! `{{` writes a literal `{`. A `{` that is not followed by a letter is literal as well, so JSON
//! log lines need no escaping; `}` is always literal. Rendering draws from the random number
//! generator in a fixed order, so the same generator state always gives the same line.

use std::fmt;
use std::fmt::Write as _;

use rand::Rng;

/// What `{dep}` renders as when the workload has no dependencies. The loader refuses `{dep}` in
/// lines of a workload without `depends_on`, so this only shows up with hand-built models.
pub const NO_DEPENDENCY: &str = "unknown:0";

/// The placeholders a template may use, as listed in error messages.
const PLACEHOLDERS: &str = "{int:A..B}, {float:A..B}, {choice:a|b|c}, {hex:N}, {uuid}, {ip}, {dep}";

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Int {
        low: i64,
        high: i64,
    },
    Float {
        low: f64,
        high: f64,
        decimals: usize,
    },
    Choice(Vec<String>),
    Hex(usize),
    Uuid,
    Ip,
    Dep,
}

/// A parsed log line template.
#[derive(Debug, Clone, PartialEq)]
pub struct LogTemplate {
    /// The text as written.
    pub source: String,
    parts: Vec<Part>,
}

impl LogTemplate {
    /// Parses a template. Unknown or malformed placeholders are an error that names them.
    pub fn parse(source: &str) -> Result<LogTemplate, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        while let Some(open) = rest.find('{') {
            text.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            if let Some(stripped) = after.strip_prefix('{') {
                text.push('{');
                rest = stripped;
                continue;
            }
            if !after.starts_with(|c: char| c.is_ascii_alphabetic()) {
                text.push('{');
                rest = after;
                continue;
            }
            let close = after.find('}').ok_or_else(|| {
                format!("unclosed placeholder `{{{after}`; expected one of {PLACEHOLDERS}")
            })?;
            let body = &after[..close];
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(parse_placeholder(body)?);
            rest = &after[close + 1..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(LogTemplate {
            source: source.to_string(),
            parts,
        })
    }

    /// Renders one line. `deps` are the workload's dependencies as `host:port`.
    ///
    /// Deterministic: the same generator state and dependencies give the same line.
    pub fn render<R: Rng + ?Sized>(&self, rng: &mut R, deps: &[String]) -> String {
        let mut out = String::with_capacity(self.source.len() + 16);
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Int { low, high } => {
                    let _ = write!(out, "{}", rng.random_range(*low..=*high));
                }
                Part::Float {
                    low,
                    high,
                    decimals,
                } => {
                    let value = low + (high - low) * rng.random::<f64>();
                    let _ = write!(out, "{value:.decimals$}");
                }
                Part::Choice(options) => out.push_str(&options[rng.random_range(0..options.len())]),
                Part::Hex(digits) => {
                    for _ in 0..*digits {
                        let digit = rng.random_range(0..16u32);
                        out.push(char::from_digit(digit, 16).unwrap_or('0'));
                    }
                }
                Part::Uuid => {
                    let mut bytes: [u8; 16] = rng.random();
                    bytes[6] = (bytes[6] & 0x0f) | 0x40;
                    bytes[8] = (bytes[8] & 0x3f) | 0x80;
                    for (i, byte) in bytes.iter().enumerate() {
                        if matches!(i, 4 | 6 | 8 | 10) {
                            out.push('-');
                        }
                        let _ = write!(out, "{byte:02x}");
                    }
                }
                Part::Ip => {
                    let (b, c, d) = (
                        rng.random_range(0..=255u8),
                        rng.random_range(0..=255u8),
                        rng.random_range(1..=254u8),
                    );
                    let _ = write!(out, "10.{b}.{c}.{d}");
                }
                Part::Dep => match deps.len() {
                    0 => out.push_str(NO_DEPENDENCY),
                    n => out.push_str(&deps[rng.random_range(0..n)]),
                },
            }
        }
        out
    }

    /// Whether the template uses `{dep}`.
    pub fn uses_dep(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Dep))
    }
}

impl fmt::Display for LogTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for LogTemplate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogTemplate::parse(s)
    }
}

/// Parses the text between `{` and `}`.
fn parse_placeholder(body: &str) -> Result<Part, String> {
    let (name, arg) = match body.split_once(':') {
        Some((name, arg)) => (name, Some(arg)),
        None => (body, None),
    };
    let no_arg = |part: Part| match arg {
        None => Ok(part),
        Some(_) => Err(format!(
            "placeholder `{{{body}}}` takes no argument; write `{{{name}}}`"
        )),
    };
    match name {
        "int" => {
            let (low, high) = range(body, arg, |s| s.parse::<i64>().ok())?;
            Ok(Part::Int { low, high })
        }
        "float" => {
            let (low, high) = range(body, arg, |s| {
                s.parse::<f64>().ok().filter(|v| v.is_finite())
            })?;
            let decimals = arg
                .unwrap_or_default()
                .split("..")
                .map(|n| n.trim().split_once('.').map_or(0, |(_, frac)| frac.len()))
                .max()
                .filter(|d| *d > 0)
                .unwrap_or(2);
            Ok(Part::Float {
                low,
                high,
                decimals,
            })
        }
        "choice" => {
            let options: Vec<String> = arg
                .unwrap_or_default()
                .split('|')
                .map(str::to_string)
                .collect();
            if arg.is_none() || options.iter().all(String::is_empty) {
                return Err(format!(
                    "placeholder `{{{body}}}` needs options; write e.g. `{{choice:GET|POST}}`"
                ));
            }
            Ok(Part::Choice(options))
        }
        "hex" => {
            let digits = arg
                .and_then(|a| a.trim().parse::<usize>().ok())
                .filter(|n| (1..=64).contains(n));
            match digits {
                Some(n) => Ok(Part::Hex(n)),
                None => Err(format!(
                    "placeholder `{{{body}}}` needs a digit count from 1 to 64, e.g. `{{hex:8}}`"
                )),
            }
        }
        "uuid" => no_arg(Part::Uuid),
        "ip" => no_arg(Part::Ip),
        "dep" => no_arg(Part::Dep),
        _ => Err(format!(
            "unknown placeholder `{{{body}}}`; expected one of {PLACEHOLDERS} (write `{{{{` for a literal brace)"
        )),
    }
}

/// Parses `A..B` with `A <= B`.
fn range<T: PartialOrd + Copy>(
    body: &str,
    arg: Option<&str>,
    number: impl Fn(&str) -> Option<T>,
) -> Result<(T, T), String> {
    let bounds = arg
        .and_then(|a| a.split_once(".."))
        .and_then(|(low, high)| Some((number(low.trim())?, number(high.trim())?)));
    match bounds {
        Some((low, high)) if low <= high => Ok((low, high)),
        Some(_) => Err(format!(
            "placeholder `{{{body}}}` has its bounds reversed; write `A..B` with A <= B"
        )),
        None => {
            let name = body.split(':').next().unwrap_or(body);
            Err(format!(
                "placeholder `{{{body}}}` needs a range `A..B`, e.g. `{{{name}:1..100}}`"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn render(template: &str, seed: u64) -> String {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        LogTemplate::parse(template)
            .unwrap()
            .render(&mut rng, &["db.shop.svc.cluster.local:80".to_string()])
    }

    fn renders(template: &str) -> Vec<String> {
        (0..200).map(|seed| render(template, seed)).collect()
    }

    #[test]
    fn plain_text_renders_as_written() {
        assert_eq!(render("INFO started", 1), "INFO started");
        assert_eq!(render("", 1), "");
    }

    #[test]
    fn int_stays_in_its_inclusive_range() {
        let values: Vec<i64> = renders("{int:5..8}")
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert!(values.iter().all(|v| (5..=8).contains(v)));
        assert!(values.contains(&5) && values.contains(&8));
        let negative: Vec<i64> = renders("{int:-3..-1}")
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert!(negative.iter().all(|v| (-3..=-1).contains(v)));
        assert_eq!(render("x={int:7..7}", 3), "x=7");
    }

    #[test]
    fn float_stays_in_range_with_the_written_decimals() {
        for line in renders("{float:0.5..2.25}") {
            let value: f64 = line.parse().unwrap();
            assert!((0.5..=2.25).contains(&value), "{line}");
            assert_eq!(line.split('.').nth(1).map(str::len), Some(2), "{line}");
        }
        for line in renders("{float:1..3}") {
            assert_eq!(line.split('.').nth(1).map(str::len), Some(2), "{line}");
        }
        for line in renders("{float:0.125..1}") {
            assert_eq!(line.split('.').nth(1).map(str::len), Some(3), "{line}");
        }
    }

    #[test]
    fn choice_picks_every_option() {
        let lines = renders("{choice:GET|POST|DELETE}");
        for option in ["GET", "POST", "DELETE"] {
            assert!(lines.iter().any(|l| l == option), "{option} never chosen");
        }
        assert!(
            lines
                .iter()
                .all(|l| ["GET", "POST", "DELETE"].contains(&l.as_str()))
        );
    }

    #[test]
    fn hex_has_the_requested_digits() {
        for line in renders("{hex:12}") {
            assert_eq!(line.len(), 12);
            assert!(
                line.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
    }

    #[test]
    fn uuid_is_version_4() {
        for line in renders("{uuid}") {
            let groups: Vec<&str> = line.split('-').collect();
            assert_eq!(
                groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(groups[2].starts_with('4'), "{line}");
            assert!(groups[3].starts_with(['8', '9', 'a', 'b']), "{line}");
        }
    }

    #[test]
    fn ip_is_private() {
        for line in renders("{ip}") {
            let octets: Vec<u8> = line.split('.').map(|o| o.parse().unwrap()).collect();
            assert_eq!(octets.len(), 4);
            assert_eq!(octets[0], 10);
            assert!((1..=254).contains(&octets[3]));
        }
    }

    #[test]
    fn dep_is_one_of_the_dependencies() {
        let template = LogTemplate::parse("dial tcp {dep}: connection refused").unwrap();
        assert!(template.uses_dep());
        let deps = vec!["a:1".to_string(), "b:2".to_string()];
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let lines: Vec<String> = (0..50).map(|_| template.render(&mut rng, &deps)).collect();
        assert!(lines.contains(&"dial tcp a:1: connection refused".to_string()));
        assert!(lines.contains(&"dial tcp b:2: connection refused".to_string()));
        assert_eq!(
            template.render(&mut rng, &[]),
            format!("dial tcp {NO_DEPENDENCY}: connection refused")
        );
        assert!(!LogTemplate::parse("{int:1..2}").unwrap().uses_dep());
    }

    #[test]
    fn braces_that_are_not_placeholders_are_literal() {
        assert_eq!(
            render(r#"{"level":"info","n":{int:3..3}}"#, 1),
            r#"{"level":"info","n":3}"#
        );
        assert_eq!(render("{{uuid}}", 1), "{uuid}}");
        assert_eq!(render("{ 1 }", 1), "{ 1 }");
        assert_eq!(render("a}b{", 1), "a}b{");
    }

    #[test]
    fn rendering_is_deterministic_for_a_seeded_generator() {
        let template = LogTemplate::parse(
            "{ip} {uuid} {hex:8} GET /{choice:a|b|c} {int:1..1000} {float:0.1..9.9} {dep}",
        )
        .unwrap();
        let deps = vec!["x:1".to_string(), "y:2".to_string()];
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..20)
                .map(|_| template.render(&mut rng, &deps))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn keeps_its_source() {
        let template = LogTemplate::parse("GET {int:1..2}").unwrap();
        assert_eq!(template.source, "GET {int:1..2}");
        assert_eq!(template.to_string(), "GET {int:1..2}");
    }

    #[test]
    fn bad_placeholders_are_named() {
        let cases = [
            ("{foo}", "unknown placeholder `{foo}`"),
            ("x {integer:1..2}", "unknown placeholder `{integer:1..2}`"),
            ("{int:1..}", "needs a range"),
            ("{int:5..1}", "bounds reversed"),
            ("{int}", "needs a range"),
            ("{float:a..b}", "needs a range"),
            ("{choice:}", "needs options"),
            ("{hex:0}", "digit count"),
            ("{hex:x}", "digit count"),
            ("{uuid:4}", "takes no argument"),
            ("{ip:v6}", "takes no argument"),
            ("{dep:1}", "takes no argument"),
            ("{int:1..2", "unclosed placeholder"),
        ];
        for (template, expected) in cases {
            let err = LogTemplate::parse(template).unwrap_err();
            assert!(err.contains(expected), "{template}: {err}");
        }
    }
}
