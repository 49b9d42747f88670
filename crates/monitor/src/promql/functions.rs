//! PromQL functions, following Prometheus 2.42's `functions.go`.

use promql_parser::label::MatchOp;
use promql_parser::parser::{Call, Expr};
use regex::Regex;

use super::aggregate::quantile;
use super::range::{extrapolated_rate, instant_value, linear_regression, over_range, over_time};
use super::{Ctx, EvalError, InstantSample, Value, check_unique};
use crate::labels::{Labels, METRIC_NAME, is_valid_label_name};

pub(super) fn eval(ctx: &Ctx, call: &Call, t: i64) -> Result<Value, EvalError> {
    let name = call.func.name;
    let args: Vec<&Expr> = call.args.args.iter().map(|a| a.as_ref()).collect();
    let out = match name {
        "time" => {
            arity(name, &args, 0, 0)?;
            return Ok(Value::Scalar(t as f64 / 1000.0));
        }
        "vector" => {
            arity(name, &args, 1, 1)?;
            let v = ctx.eval_scalar(args[0], t, "vector()")?;
            return Ok(Value::Vector(vec![InstantSample {
                labels: Labels::new(),
                value: v,
            }]));
        }
        "scalar" => {
            arity(name, &args, 1, 1)?;
            let v = ctx.eval_vector(args[0], t, "scalar()")?;
            return Ok(Value::Scalar(if v.len() == 1 {
                v[0].value
            } else {
                f64::NAN
            }));
        }
        "absent" => {
            arity(name, &args, 1, 1)?;
            let v = ctx.eval_vector(args[0], t, "absent()")?;
            absent(v.is_empty(), args[0])
        }
        "absent_over_time" => {
            arity(name, &args, 1, 1)?;
            let m = ctx.eval_range(args[0], t, "absent_over_time()")?;
            absent(m.series.is_empty(), args[0])
        }
        "abs" | "ceil" | "floor" | "exp" | "sqrt" | "ln" | "log2" | "log10" | "sgn" => {
            arity(name, &args, 1, 1)?;
            let f: fn(f64) -> f64 = match name {
                "abs" => f64::abs,
                "ceil" => f64::ceil,
                "floor" => f64::floor,
                "exp" => f64::exp,
                "sqrt" => f64::sqrt,
                "ln" => f64::ln,
                "log2" => f64::log2,
                "log10" => f64::log10,
                _ => sgn,
            };
            map_values(ctx.eval_vector(args[0], t, name)?, f)
        }
        "round" => {
            arity(name, &args, 1, 2)?;
            let to_nearest = match args.get(1) {
                Some(e) => ctx.eval_scalar(e, t, "round()")?,
                None => 1.0,
            };
            let inverse = 1.0 / to_nearest;
            map_values(ctx.eval_vector(args[0], t, name)?, |v| {
                (v * inverse + 0.5).floor() / inverse
            })
        }
        "clamp_min" | "clamp_max" => {
            arity(name, &args, 2, 2)?;
            let v = ctx.eval_vector(args[0], t, name)?;
            let bound = ctx.eval_scalar(args[1], t, name)?;
            if name == "clamp_min" {
                map_values(v, |x| go_max(x, bound))
            } else {
                map_values(v, |x| go_min(x, bound))
            }
        }
        "clamp" => {
            arity(name, &args, 3, 3)?;
            let v = ctx.eval_vector(args[0], t, name)?;
            let min = ctx.eval_scalar(args[1], t, name)?;
            let max = ctx.eval_scalar(args[2], t, name)?;
            if max < min {
                Vec::new()
            } else {
                map_values(v, |x| go_max(min, go_min(max, x)))
            }
        }
        "sort" | "sort_desc" => {
            arity(name, &args, 1, 1)?;
            let mut v = ctx.eval_vector(args[0], t, name)?;
            v.sort_by(|a, b| {
                a.value
                    .partial_cmp(&b.value)
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            if name == "sort_desc" {
                v.reverse();
            }
            v
        }
        "label_replace" => {
            arity(name, &args, 5, 5)?;
            let v = ctx.eval_vector(args[0], t, name)?;
            let dst = ctx.eval_string(args[1], t, name)?;
            let repl = ctx.eval_string(args[2], t, name)?;
            let src = ctx.eval_string(args[3], t, name)?;
            let regex = ctx.eval_string(args[4], t, name)?;
            label_replace(v, &dst, &repl, &src, &regex)?
        }
        "label_join" => {
            if args.len() < 3 {
                return Err(EvalError::ArgumentCount {
                    function: name.into(),
                    expected: "at least 3".into(),
                    got: args.len(),
                });
            }
            let v = ctx.eval_vector(args[0], t, name)?;
            let dst = ctx.eval_string(args[1], t, name)?;
            let sep = ctx.eval_string(args[2], t, name)?;
            let mut src = Vec::new();
            for arg in &args[3..] {
                let label = ctx.eval_string(arg, t, name)?;
                if !is_valid_label_name(&label) {
                    return Err(invalid_label(name, &label));
                }
                src.push(label);
            }
            if !is_valid_label_name(&dst) {
                return Err(invalid_label(name, &dst));
            }
            v.into_iter()
                .map(|mut s| {
                    let joined = src
                        .iter()
                        .map(|l| s.labels.get(l).map(String::as_str).unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join(&sep);
                    set_label(&mut s.labels, &dst, joined);
                    s
                })
                .collect()
        }
        "histogram_quantile" => {
            arity(name, &args, 2, 2)?;
            let q = ctx.eval_scalar(args[0], t, name)?;
            let v = ctx.eval_vector(args[1], t, name)?;
            histogram_quantile(q, v)
        }
        "rate" | "increase" | "delta" => {
            arity(name, &args, 1, 1)?;
            let m = ctx.eval_range(args[0], t, name)?;
            let (counter, rate) = match name {
                "rate" => (true, true),
                "increase" => (true, false),
                _ => (false, false),
            };
            over_range(&m, false, |points| {
                extrapolated_rate(points, m.range_ms, m.end_ms, counter, rate)
            })
        }
        "irate" | "idelta" => {
            arity(name, &args, 1, 1)?;
            let m = ctx.eval_range(args[0], t, name)?;
            over_range(&m, false, |points| instant_value(points, name == "irate"))
        }
        "deriv" => {
            arity(name, &args, 1, 1)?;
            let m = ctx.eval_range(args[0], t, name)?;
            over_range(&m, false, |points| {
                (points.len() >= 2).then(|| linear_regression(points, points[0].t_ms).0)
            })
        }
        "predict_linear" => {
            arity(name, &args, 2, 2)?;
            let m = ctx.eval_range(args[0], t, name)?;
            let duration = ctx.eval_scalar(args[1], t, name)?;
            over_range(&m, false, |points| {
                (points.len() >= 2).then(|| {
                    let (slope, intercept) = linear_regression(points, t);
                    slope * duration + intercept
                })
            })
        }
        "quantile_over_time" => {
            arity(name, &args, 2, 2)?;
            let q = ctx.eval_scalar(args[0], t, name)?;
            let m = ctx.eval_range(args[1], t, name)?;
            over_range(&m, false, |points| {
                Some(quantile(q, points.iter().map(|p| p.value).collect()))
            })
        }
        "changes" | "resets" | "max_over_time" | "min_over_time" | "avg_over_time"
        | "sum_over_time" | "count_over_time" | "last_over_time" | "present_over_time"
        | "stddev_over_time" | "stdvar_over_time" => {
            arity(name, &args, 1, 1)?;
            let m = ctx.eval_range(args[0], t, name)?;
            over_range(&m, name == "last_over_time", |points| {
                over_time(name, points)
            })
        }
        _ => {
            return Err(EvalError::UnsupportedFunction {
                name: name.to_string(),
            });
        }
    };
    check_unique(&out)?;
    Ok(Value::Vector(out))
}

fn arity(name: &str, args: &[&Expr], min: usize, max: usize) -> Result<(), EvalError> {
    if args.len() < min || args.len() > max {
        return Err(EvalError::ArgumentCount {
            function: name.to_string(),
            expected: if min == max {
                min.to_string()
            } else {
                format!("{min} to {max}")
            },
            got: args.len(),
        });
    }
    Ok(())
}

fn invalid_label(function: &str, label: &str) -> EvalError {
    EvalError::InvalidArgument {
        function: function.to_string(),
        problem: format!("invalid label name {label:?}"),
    }
}

fn sgn(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        v
    }
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Applies `f` to each value and drops the metric name, like Prometheus' `simpleFunc`.
fn map_values(v: Vec<InstantSample>, f: impl Fn(f64) -> f64) -> Vec<InstantSample> {
    v.into_iter()
        .map(|mut s| {
            s.labels.remove(METRIC_NAME);
            s.value = f(s.value);
            s
        })
        .collect()
}

fn set_label(labels: &mut Labels, name: &str, value: String) {
    if value.is_empty() {
        labels.remove(name);
    } else {
        labels.insert(name.to_string(), value);
    }
}

/// `absent()`: one element labelled from the argument's equality matchers when it is empty.
fn absent(empty: bool, arg: &Expr) -> Vec<InstantSample> {
    if !empty {
        return Vec::new();
    }
    let selector = match arg {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::MatrixSelector(ms) => Some(&ms.vs),
        _ => None,
    };
    let mut labels = Labels::new();
    if let Some(vs) = selector {
        let mut seen = std::collections::BTreeSet::new();
        for m in &vs.matchers.matchers {
            if m.name == METRIC_NAME {
                continue;
            }
            if matches!(m.op, MatchOp::Equal) && !seen.contains(&m.name) {
                set_label(&mut labels, &m.name, m.value.clone());
                seen.insert(m.name.clone());
            } else {
                labels.remove(&m.name);
            }
        }
    }
    vec![InstantSample { labels, value: 1.0 }]
}

fn label_replace(
    v: Vec<InstantSample>,
    dst: &str,
    repl: &str,
    src: &str,
    regex: &str,
) -> Result<Vec<InstantSample>, EvalError> {
    let re = Regex::new(&format!("^(?:{regex})$")).map_err(|source| EvalError::InvalidRegex {
        function: "label_replace".into(),
        regex: regex.to_string(),
        source,
    })?;
    if !is_valid_label_name(dst) {
        return Err(invalid_label("label_replace", dst));
    }
    Ok(v.into_iter()
        .map(|mut s| {
            let value = s.labels.get(src).cloned().unwrap_or_default();
            if let Some(caps) = re.captures(&value) {
                let mut expanded = String::new();
                caps.expand(repl, &mut expanded);
                set_label(&mut s.labels, dst, expanded);
            }
            s
        })
        .collect())
}

struct Bucket {
    upper: f64,
    count: f64,
}

fn histogram_quantile(q: f64, v: Vec<InstantSample>) -> Vec<InstantSample> {
    // Buckets are grouped by all labels but `le` (the metric name included, as in Prometheus);
    // the output drops both.
    let mut groups: std::collections::BTreeMap<Labels, (Labels, Vec<Bucket>)> = Default::default();
    for s in v {
        let Some(upper) = s.labels.get("le").and_then(|le| parse_go_float(le)) else {
            continue;
        };
        let mut key = s.labels.clone();
        key.remove("le");
        let entry = groups.entry(key).or_insert_with(|| {
            let mut out = s.labels.clone();
            out.remove("le");
            out.remove(METRIC_NAME);
            (out, Vec::new())
        });
        entry.1.push(Bucket {
            upper,
            count: s.value,
        });
    }
    groups
        .into_values()
        .map(|(labels, buckets)| InstantSample {
            labels,
            value: bucket_quantile(q, buckets),
        })
        .collect()
}

/// Go's `strconv.ParseFloat` for bucket bounds, which accepts `+Inf`, `Inf` and `inf`.
fn parse_go_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "+inf" | "inf" | "+infinity" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

fn bucket_quantile(q: f64, mut buckets: Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| {
        a.upper
            .partial_cmp(&b.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return f64::NAN;
    }
    // Merge buckets with the same bound, then force counts to be monotonic.
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets {
        match merged.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => merged.push(b),
        }
    }
    let mut max = f64::NEG_INFINITY;
    for b in &mut merged {
        if b.count > max {
            max = b.count;
        } else if b.count < max {
            b.count = max;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let last = merged.len() - 1;
    let b = merged[..last].partition_point(|b| b.count < rank);
    if b == last {
        return merged[last - 1].upper;
    }
    if b == 0 && merged[0].upper <= 0.0 {
        return merged[0].upper;
    }
    let mut start = 0.0;
    let end = merged[b].upper;
    let mut count = merged[b].count;
    if b > 0 {
        start = merged[b - 1].upper;
        count -= merged[b - 1].count;
        rank -= merged[b - 1].count;
    }
    start + (end - start) * (rank / count)
}
