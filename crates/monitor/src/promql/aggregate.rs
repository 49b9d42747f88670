//! Aggregation operators (`sum`, `min`, `max`, `avg`, `count`, `group`, `stddev`, `stdvar`,
//! `topk`, `bottomk`, `quantile`, `count_values`) with `by`/`without`, as in Prometheus 2.42.

use std::cmp::Ordering;

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_MAX, T_MIN, T_QUANTILE, T_STDDEV,
    T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::{Ctx, EvalError, InstantSample, Value};
use crate::labels::{Labels, METRIC_NAME, is_valid_label_name};

struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    count: u64,
    members: Vec<InstantSample>,
}

pub(super) fn eval(ctx: &Ctx, a: &AggregateExpr, t: i64) -> Result<Value, EvalError> {
    let op = a.op.id();
    let name = a.op.to_string();
    let input = ctx.eval_vector(&a.expr, t, &format!("{name} aggregation"))?;
    let (without, mut grouping): (bool, Vec<String>) = match &a.modifier {
        Some(LabelModifier::Include(ls)) => (false, ls.labels.clone()),
        Some(LabelModifier::Exclude(ls)) => (true, ls.labels.clone()),
        None => (false, Vec::new()),
    };

    let mut k = 0usize;
    let mut q = 0.0;
    let mut value_label = String::new();
    match op {
        T_TOPK | T_BOTTOMK => {
            let param = param_scalar(ctx, a, t, &name)?;
            if !(param.is_finite() && param.abs() < 9.2e18) {
                return Err(EvalError::InvalidArgument {
                    function: name,
                    problem: format!("scalar value {param} overflows int64"),
                });
            }
            if param < 1.0 {
                return Ok(Value::Vector(Vec::new()));
            }
            k = param as usize;
        }
        T_QUANTILE => q = param_scalar(ctx, a, t, &name)?,
        T_COUNT_VALUES => {
            let param = a.param.as_deref().ok_or_else(|| missing_param(&name))?;
            value_label = ctx.eval_string(param, t, "count_values parameter")?;
            if !is_valid_label_name(&value_label) {
                return Err(EvalError::InvalidArgument {
                    function: name,
                    problem: format!("invalid label name {value_label:?}"),
                });
            }
            if !without {
                grouping.push(value_label.clone());
            }
        }
        T_SUM | T_AVG | T_COUNT | T_MIN | T_MAX | T_GROUP | T_STDDEV | T_STDVAR => {}
        _ => {
            return Err(EvalError::Unsupported {
                what: format!("the {name} aggregation"),
            });
        }
    }

    let mut groups: Vec<Group> = Vec::new();
    let mut index: std::collections::BTreeMap<Labels, usize> = Default::default();
    for mut sample in input {
        if op == T_COUNT_VALUES {
            sample
                .labels
                .insert(value_label.clone(), format_value_label(sample.value));
        }
        let key = group_labels(&sample.labels, &grouping, without);
        let Some(&i) = index.get(&key) else {
            index.insert(key.clone(), groups.len());
            groups.push(Group {
                labels: key,
                value: match op {
                    T_STDDEV | T_STDVAR => 0.0,
                    T_GROUP => 1.0,
                    _ => sample.value,
                },
                mean: sample.value,
                count: 1,
                members: vec![sample],
            });
            continue;
        };
        let group = &mut groups[i];
        let v = sample.value;
        match op {
            T_SUM => group.value += v,
            T_AVG => {
                group.count += 1;
                let n = group.count as f64;
                if group.mean.is_infinite() {
                    if v.is_infinite() && (group.mean > 0.0) == (v > 0.0) {
                        continue;
                    }
                    if !v.is_infinite() && !v.is_nan() {
                        continue;
                    }
                }
                group.mean += v / n - group.mean / n;
            }
            T_MAX if group.value < v || group.value.is_nan() => group.value = v,
            T_MIN if group.value > v || group.value.is_nan() => group.value = v,
            T_COUNT | T_COUNT_VALUES => group.count += 1,
            T_STDDEV | T_STDVAR => {
                group.count += 1;
                let delta = v - group.mean;
                group.mean += delta / group.count as f64;
                group.value += delta * (v - group.mean);
            }
            T_TOPK | T_BOTTOMK | T_QUANTILE => group.members.push(sample),
            _ => {}
        }
    }

    let mut out = Vec::new();
    for group in groups {
        let value = match op {
            T_AVG => group.mean,
            T_COUNT | T_COUNT_VALUES => group.count as f64,
            T_STDVAR => group.value / group.count as f64,
            T_STDDEV => (group.value / group.count as f64).sqrt(),
            T_QUANTILE => {
                let values: Vec<f64> = group.members.iter().map(|s| s.value).collect();
                quantile(q, values)
            }
            T_TOPK | T_BOTTOMK => {
                let mut members = group.members;
                // Stable sort: ties keep input order. NaN sorts below every number for topk
                // and above every number for bottomk, as in Prometheus' heaps.
                members.sort_by(|a, b| {
                    let ord = cmp_nan_low(a.value, b.value);
                    if op == T_TOPK {
                        ord.reverse()
                    } else {
                        ord_nan_high(a.value, b.value)
                    }
                });
                out.extend(members.into_iter().take(k));
                continue;
            }
            _ => group.value,
        };
        out.push(InstantSample {
            labels: group.labels,
            value,
        });
    }
    Ok(Value::Vector(out))
}

fn missing_param(name: &str) -> EvalError {
    EvalError::ArgumentCount {
        function: name.to_string(),
        expected: "2".into(),
        got: 1,
    }
}

fn param_scalar(ctx: &Ctx, a: &AggregateExpr, t: i64, name: &str) -> Result<f64, EvalError> {
    let param = a.param.as_deref().ok_or_else(|| missing_param(name))?;
    ctx.eval_scalar(param, t, &format!("{name} parameter"))
}

/// The labels an element contributes to its group's identity and output.
fn group_labels(labels: &Labels, grouping: &[String], without: bool) -> Labels {
    labels
        .iter()
        .filter(|(n, _)| {
            if without {
                n.as_str() != METRIC_NAME && !grouping.contains(n)
            } else {
                grouping.contains(n)
            }
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
fn format_value_label(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn cmp_nan_low(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

fn ord_nan_high(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Prometheus' `quantile`: linear interpolation between the closest ranks.
pub(super) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| cmp_nan_low(*a, *b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}
