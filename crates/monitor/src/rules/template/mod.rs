//! The subset of Go's `text/template` that Prometheus alert labels and annotations use:
//! `{{ $labels.x }}`, `{{ $value }}`, pipelines into `humanize`, `humanizePercentage`,
//! `humanizeDuration`, `humanize1024`, `toUpper`, `toLower`, `title`, and `printf`.
//! Output matches Go's formatting (`%v` of a float prints `1e+06`, missing labels print
//! `<no value>`).

mod funcs;

use funcs::{Func, TValue, call};

use crate::labels::Labels;

/// A template that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid template at byte {offset}: {problem}")]
pub struct TemplateError {
    /// Byte offset in the template text.
    pub offset: usize,
    /// What is wrong.
    pub problem: String,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Pipeline(Vec<Command>),
}

#[derive(Debug, Clone, PartialEq)]
enum Command {
    Call(Func, Vec<Operand>),
    Operand(Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Label(String),
    Labels,
    Value,
    ExternalLabel(String),
    ExternalLabels,
    ExternalUrl,
    Str(String),
    Float(f64),
    Int(i64),
}

/// What a template can refer to, as in Prometheus' `AlertTemplateData`.
#[derive(Debug, Clone, Copy)]
pub struct TemplateData<'a> {
    /// The alert's labels (the query result's labels).
    pub labels: &'a Labels,
    /// The query result's value.
    pub value: f64,
    /// Prometheus' external labels.
    pub external_labels: &'a Labels,
    /// Prometheus' external URL.
    pub external_url: &'a str,
}

impl Template {
    /// Parses template text.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        let mut offset = 0;
        let mut trim_next_text = false;
        while !rest.is_empty() {
            let Some(open) = rest.find("{{") else {
                push_text(&mut parts, rest, trim_next_text, false);
                break;
            };
            let after_open = &rest[open + 2..];
            let trim_left = after_open.starts_with("- ")
                || after_open.starts_with("-\t")
                || after_open.starts_with("-\n");
            push_text(&mut parts, &rest[..open], trim_next_text, trim_left);
            let action_start = offset + open + 2;
            let Some(close) = after_open.find("}}") else {
                return Err(TemplateError {
                    offset: offset + open,
                    problem: "unclosed action".into(),
                });
            };
            let mut action = &after_open[..close];
            if trim_left {
                action = &action[1..];
            }
            trim_next_text =
                action.ends_with(" -") || action.ends_with("\t-") || action.ends_with("\n-");
            if trim_next_text {
                action = &action[..action.len() - 1];
            }
            let trimmed = action.trim();
            if !(trimmed.starts_with("/*") && trimmed.ends_with("*/")) {
                parts.push(Part::Pipeline(parse_pipeline(trimmed, action_start)?));
            }
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        Ok(Template {
            source: source.to_string(),
            parts,
        })
    }

    /// The template text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the template; failures read like Prometheus' `<error expanding template: ...>`.
    pub fn render(&self, data: &TemplateData<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Pipeline(commands) => match run_pipeline(commands, data) {
                    Ok(v) => out.push_str(&v.print()),
                    Err(e) => return format!("<error expanding template: {e}>"),
                },
            }
        }
        out
    }
}

fn push_text(parts: &mut Vec<Part>, text: &str, trim_start: bool, trim_end: bool) {
    let mut text = text;
    if trim_start {
        text = text.trim_start();
    }
    if trim_end {
        text = text.trim_end();
    }
    if !text.is_empty() {
        parts.push(Part::Text(text.to_string()));
    }
}

fn parse_pipeline(text: &str, offset: usize) -> Result<Vec<Command>, TemplateError> {
    let err = |problem: String| TemplateError { offset, problem };
    let tokens = tokenize(text).map_err(err)?;
    if tokens.is_empty() {
        return Err(err("missing value for command".into()));
    }
    let mut commands = Vec::new();
    for segment in tokens.split(|t| t == "|") {
        if segment.is_empty() {
            return Err(err("missing command in pipeline".into()));
        }
        let first = &segment[0];
        let command = match parse_func(first) {
            Some(func) => {
                let args = segment[1..]
                    .iter()
                    .map(|t| parse_operand(t))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(err)?;
                Command::Call(func, args)
            }
            None if segment.len() == 1 => Command::Operand(parse_operand(first).map_err(err)?),
            None if first.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                return Err(err(format!("function {first:?} not supported")));
            }
            None => return Err(err(format!("can't give argument to non-function {first}"))),
        };
        if commands.is_empty() || matches!(command, Command::Call(..)) {
            commands.push(command);
        } else {
            return Err(err(format!("can't give argument to non-function {first}")));
        }
    }
    Ok(commands)
}

fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '|' {
            tokens.push("|".to_string());
            i += 1;
        } else if c == '"' || c == '`' {
            let mut token = String::from(c);
            i += 1;
            let mut closed = false;
            while i < chars.len() {
                let d = chars[i];
                token.push(d);
                i += 1;
                if c == '"' && d == '\\' && i < chars.len() {
                    token.push(chars[i]);
                    i += 1;
                } else if d == c {
                    closed = true;
                    break;
                }
            }
            if !closed {
                return Err("unterminated quoted string".into());
            }
            tokens.push(token);
        } else if c == '(' || c == ')' || c == ':' || c == '=' {
            return Err(format!("{c:?} is not supported in templates here"));
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '|' {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        }
    }
    Ok(tokens)
}

fn parse_func(token: &str) -> Option<Func> {
    Some(match token {
        "printf" => Func::Printf,
        "print" => Func::Print,
        "humanize" => Func::Humanize,
        "humanize1024" => Func::Humanize1024,
        "humanizePercentage" => Func::HumanizePercentage,
        "humanizeDuration" => Func::HumanizeDuration,
        "toUpper" => Func::ToUpper,
        "toLower" => Func::ToLower,
        "title" => Func::Title,
        "index" => Func::Index,
        _ => return None,
    })
}

fn parse_operand(token: &str) -> Result<Operand, String> {
    let field = |prefix: &str| token.strip_prefix(prefix).map(str::to_string);
    if token == "$value" || token == ".Value" {
        return Ok(Operand::Value);
    }
    if token == "$labels" || token == ".Labels" {
        return Ok(Operand::Labels);
    }
    if token == "$externalLabels" || token == ".ExternalLabels" {
        return Ok(Operand::ExternalLabels);
    }
    if token == "$externalURL" || token == ".ExternalURL" {
        return Ok(Operand::ExternalUrl);
    }
    if let Some(name) = field("$labels.").or_else(|| field(".Labels.")) {
        return Ok(Operand::Label(name));
    }
    if let Some(name) = field("$externalLabels.").or_else(|| field(".ExternalLabels.")) {
        return Ok(Operand::ExternalLabel(name));
    }
    if let Some(inner) = token.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        return Ok(Operand::Str(inner.to_string()));
    }
    if token.starts_with('"') {
        return unquote(token).map(Operand::Str);
    }
    if let Ok(i) = token.parse::<i64>() {
        return Ok(Operand::Int(i));
    }
    if let Ok(f) = token.parse::<f64>()
        && token
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '.')
    {
        return Ok(Operand::Float(f));
    }
    if token.starts_with('$') {
        return Err(format!("undefined variable {token:?}"));
    }
    Err(format!("unexpected {token:?} in command"))
}

fn unquote(token: &str) -> Result<String, String> {
    let inner = token
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or_else(|| format!("malformed string {token}"))?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some(other) => return Err(format!("unsupported escape \\{other} in {token}")),
            None => return Err(format!("malformed string {token}")),
        }
    }
    Ok(out)
}

fn operand_value(op: &Operand, data: &TemplateData<'_>) -> TValue {
    let get = |map: &Labels, name: &str| {
        map.get(name)
            .map(|v| TValue::Str(v.clone()))
            .unwrap_or(TValue::NoValue)
    };
    match op {
        Operand::Label(name) => get(data.labels, name),
        Operand::Labels => TValue::Map(data.labels.clone()),
        Operand::Value => TValue::Float(data.value),
        Operand::ExternalLabel(name) => get(data.external_labels, name),
        Operand::ExternalLabels => TValue::Map(data.external_labels.clone()),
        Operand::ExternalUrl => TValue::Str(data.external_url.to_string()),
        Operand::Str(s) => TValue::Str(s.clone()),
        Operand::Float(f) => TValue::Float(*f),
        Operand::Int(i) => TValue::Int(*i),
    }
}

fn run_pipeline(commands: &[Command], data: &TemplateData<'_>) -> Result<TValue, String> {
    let mut previous: Option<TValue> = None;
    for command in commands {
        previous = Some(match command {
            Command::Operand(op) => operand_value(op, data),
            Command::Call(func, args) => {
                let mut values: Vec<TValue> = args.iter().map(|a| operand_value(a, data)).collect();
                values.extend(previous.take());
                call(*func, values)?
            }
        });
    }
    Ok(previous.unwrap_or(TValue::NoValue))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::labels;

    fn render(text: &str, value: f64) -> String {
        let ls = labels([("namespace", "shop"), ("pod", "checkout-1")]);
        let ext = Labels::new();
        Template::parse(text).unwrap().render(&TemplateData {
            labels: &ls,
            value,
            external_labels: &ext,
            external_url: "http://prometheus:9090",
        })
    }

    #[test]
    fn renders_labels_and_values_like_go() {
        assert_eq!(
            render(
                "Pod {{ $labels.namespace }}/{{ $labels.pod }} at {{ $value }}",
                3.0
            ),
            "Pod shop/checkout-1 at 3"
        );
        assert_eq!(render("{{ $value }}", 1_000_000.0), "1e+06");
        assert_eq!(render("{{ $labels.missing }}", 0.0), "<no value>");
        assert_eq!(render("{{ $value | humanize }}", 1_234_567.0), "1.235M");
        assert_eq!(render("{{ $value | humanize }}", 0.0123), "12.3m");
        assert_eq!(render("{{ humanize $value }}", 999.0), "999");
        assert_eq!(
            render("{{ $value | humanizePercentage }}", 0.1234),
            "12.34%"
        );
        assert_eq!(
            render("{{ $value | humanizeDuration }}", 3725.0),
            "1h 2m 5s"
        );
        assert_eq!(render("{{ $value | humanizeDuration }}", 0.25), "250ms");
        assert_eq!(
            render("{{ $value | humanize1024 }}", 268_435_456.0),
            "256Mi"
        );
        assert_eq!(render(r#"{{ printf "%.2f" $value }}"#, 2.0 / 3.0), "0.67");
        assert_eq!(render(r#"{{ $value | printf "%.1f" }}"#, 0.25), "0.2");
        assert_eq!(
            render(r#"{{ printf "%d" $value }}"#, 1.5),
            "%!d(float64=1.5)"
        );
        assert_eq!(
            render(r#"{{ printf "%s=%5.1f%%" "x" $value }}"#, 2.25),
            "x=  2.2%"
        );
        assert_eq!(render("a {{- $labels.pod -}} b", 0.0), "acheckout-1b");
        assert_eq!(render("{{/* note */}}x", 0.0), "x");
        assert_eq!(
            render("{{ .Labels.pod }} {{ .Value }}", 0.5),
            "checkout-1 0.5"
        );
        assert_eq!(render("{{ $labels.pod | toUpper }}", 0.0), "CHECKOUT-1");
    }

    #[test]
    fn rejects_unsupported_templates() {
        for bad in [
            "{{ $labels.pod",
            "{{ if $value }}x{{ end }}",
            "{{ $x := 1 }}",
            "{{ query \"up\" }}",
            "{{ $nope }}",
            "{{ }}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
