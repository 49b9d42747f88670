//! The values and functions of the template language, printing and formatting exactly as
//! Go's `text/template`, `fmt` and Prometheus' template functions do.

use crate::gofmt::{format_e, format_f, format_g, quote};
use crate::labels::Labels;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Func {
    Printf,
    Print,
    Humanize,
    Humanize1024,
    HumanizePercentage,
    HumanizeDuration,
    ToUpper,
    ToLower,
    Title,
    Index,
}

#[derive(Debug, Clone)]
pub(super) enum TValue {
    Str(String),
    Float(f64),
    Int(i64),
    Map(Labels),
    NoValue,
}

impl TValue {
    pub(super) fn print(&self) -> String {
        match self {
            TValue::Str(s) => s.clone(),
            TValue::Float(f) => format_g(*f, None),
            TValue::Int(i) => i.to_string(),
            TValue::NoValue => "<no value>".into(),
            TValue::Map(m) => {
                let entries: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", entries.join(" "))
            }
        }
    }

    fn go_type(&self) -> &'static str {
        match self {
            TValue::Str(_) => "string",
            TValue::Float(_) => "float64",
            TValue::Int(_) => "int",
            TValue::Map(_) => "map[string]string",
            TValue::NoValue => "<nil>",
        }
    }

    fn to_float(&self, func: &str) -> Result<f64, String> {
        match self {
            TValue::Float(f) => Ok(*f),
            TValue::Int(i) => Ok(*i as f64),
            TValue::Str(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("error calling {func}: can't convert {s:?} to float")),
            other => Err(format!(
                "error calling {func}: can't convert {} to float",
                other.go_type()
            )),
        }
    }
}

fn one_arg(name: &str, mut args: Vec<TValue>) -> Result<TValue, String> {
    if args.len() != 1 {
        return Err(format!(
            "wrong number of args for {name}: want 1 got {}",
            args.len()
        ));
    }
    Ok(args.remove(0))
}

pub(super) fn call(func: Func, args: Vec<TValue>) -> Result<TValue, String> {
    Ok(match func {
        Func::Printf => {
            let mut args = args.into_iter();
            let format = match args.next() {
                Some(TValue::Str(s)) => s,
                Some(other) => {
                    return Err(format!(
                        "printf format must be a string, got {}",
                        other.go_type()
                    ));
                }
                None => return Err("wrong number of args for printf: want at least 1 got 0".into()),
            };
            TValue::Str(sprintf(&format, &args.collect::<Vec<_>>()))
        }
        Func::Print => {
            // fmt.Sprint adds spaces between operands when neither is a string.
            let mut out = String::new();
            for (i, a) in args.iter().enumerate() {
                let is_str = |v: &TValue| matches!(v, TValue::Str(_));
                if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
                    out.push(' ');
                }
                out.push_str(&a.print());
            }
            TValue::Str(out)
        }
        Func::Humanize => {
            let v = one_arg("humanize", args)?.to_float("humanize")?;
            TValue::Str(humanize(v))
        }
        Func::Humanize1024 => {
            let mut v = one_arg("humanize1024", args)?.to_float("humanize1024")?;
            if v.abs() <= 1.0 || !v.is_finite() {
                return Ok(TValue::Str(format_g(v, Some(4))));
            }
            let mut prefix = "";
            for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
                if v.abs() < 1024.0 {
                    break;
                }
                prefix = p;
                v /= 1024.0;
            }
            TValue::Str(format!("{}{prefix}", format_g(v, Some(4))))
        }
        Func::HumanizePercentage => {
            let v = one_arg("humanizePercentage", args)?.to_float("humanizePercentage")?;
            TValue::Str(format!("{}%", format_g(v * 100.0, Some(4))))
        }
        Func::HumanizeDuration => {
            let v = one_arg("humanizeDuration", args)?.to_float("humanizeDuration")?;
            TValue::Str(humanize_duration(v))
        }
        Func::ToUpper => TValue::Str(one_arg("toUpper", args)?.print().to_uppercase()),
        Func::ToLower => TValue::Str(one_arg("toLower", args)?.print().to_lowercase()),
        Func::Title => {
            let s = one_arg("title", args)?.print();
            let mut out = String::new();
            let mut at_word_start = true;
            for c in s.chars() {
                if at_word_start && c.is_alphabetic() {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                at_word_start = !c.is_alphanumeric() && c != '_' && c != '\'';
            }
            TValue::Str(out)
        }
        Func::Index => match args.as_slice() {
            [TValue::Map(m), TValue::Str(k)] => m
                .get(k)
                .map(|v| TValue::Str(v.clone()))
                .unwrap_or(TValue::Str(String::new())),
            _ => return Err("index of this value is not supported".into()),
        },
    })
}

/// Prometheus' `humanize`: SI prefixes, four significant digits.
fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format_g(v, Some(4));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", format_g(v, Some(4)))
}

/// Prometheus' `humanizeDuration` for a number of seconds.
fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return format_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", format_g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let total = v as i64;
        let (seconds, minutes) = (total % 60, (total / 60) % 60);
        let (hours, days) = ((total / 3600) % 24, total / 86_400);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", format_g(v, Some(4)))
        };
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", format_g(v, Some(4)))
}

/// The part of Go's `fmt.Sprintf` that alert templates use.
fn sprintf(format: &str, args: &[TValue]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        i += 1;
        let (mut minus, mut plus, mut zero, mut space) = (false, false, false, false);
        while i < chars.len() && "-+0 #".contains(chars[i]) {
            match chars[i] {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                _ => {}
            }
            i += 1;
        }
        let mut width = None;
        while i < chars.len() && chars[i].is_ascii_digit() {
            width = Some(width.unwrap_or(0) * 10 + chars[i].to_digit(10).unwrap_or(0) as usize);
            i += 1;
        }
        let mut prec = None;
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            let mut p = 0;
            while i < chars.len() && chars[i].is_ascii_digit() {
                p = p * 10 + chars[i].to_digit(10).unwrap_or(0) as usize;
                i += 1;
            }
            prec = Some(p);
        }
        let Some(&verb) = chars.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let bad = || format!("%!{verb}({}={})", arg.go_type(), arg.print());
        let mut s = match (verb, arg) {
            ('v', _) => match (arg, prec) {
                (TValue::Float(f), Some(p)) => format_g(*f, Some(p)),
                _ => arg.print(),
            },
            ('s', TValue::Str(s)) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            ('q', TValue::Str(s)) => quote(s),
            ('d', TValue::Int(n)) => n.to_string(),
            ('f' | 'F', TValue::Float(f)) => format_f(*f, prec.unwrap_or(6)),
            ('e', TValue::Float(f)) => format_e(*f, prec.unwrap_or(6)),
            ('g', TValue::Float(f)) => format_g(*f, prec),
            _ => bad(),
        };
        let numeric = matches!(arg, TValue::Float(_) | TValue::Int(_));
        if numeric && !s.starts_with('-') && !s.starts_with('%') {
            if plus {
                s.insert(0, '+');
            } else if space {
                s.insert(0, ' ');
            }
        }
        if let Some(w) = width {
            let len = s.chars().count();
            if len < w {
                let pad = w - len;
                if minus {
                    s.push_str(&" ".repeat(pad));
                } else if zero && numeric {
                    let sign_len = usize::from(s.starts_with(['-', '+', ' ']));
                    s.insert_str(sign_len, &"0".repeat(pad));
                } else {
                    s.insert_str(0, &" ".repeat(pad));
                }
            }
        }
        out.push_str(&s);
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={}", a.go_type(), a.print()))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}
