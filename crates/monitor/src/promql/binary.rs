//! Binary operators: arithmetic, comparisons (filtering or `bool`), set operators and vector
//! matching, as in Prometheus 2.42's `VectorBinop`, `VectorscalarBinop`, `VectorAnd/Or/Unless`.

use std::collections::{BTreeMap, BTreeSet};

use promql_parser::label::Labels as ParserLabels;
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB, TokenId,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::{Ctx, EvalError, InstantSample, Value, check_unique};
use crate::labels::{Labels, METRIC_NAME, label_set_string};

pub(super) fn eval(ctx: &Ctx, b: &BinaryExpr, t: i64) -> Result<Value, EvalError> {
    let op = b.op.id();
    let modifier = b.modifier.clone().unwrap_or_default();
    if modifier.fill_values.lhs.is_some() || modifier.fill_values.rhs.is_some() {
        return Err(EvalError::Unsupported {
            what: "fill() in vector matching".into(),
        });
    }
    let return_bool = modifier.return_bool;
    let lhs = ctx.eval(&b.lhs, t)?;
    let rhs = ctx.eval(&b.rhs, t)?;
    let out = match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (value, keep) = elem_op(op, l, r)?;
            return Ok(Value::Scalar(if is_comparison(op) {
                if !return_bool {
                    return Err(EvalError::Unsupported {
                        what: "a comparison between scalars without bool".into(),
                    });
                }
                bool_value(keep)
            } else {
                value
            }));
        }
        (Value::Vector(v), Value::Scalar(s)) => vector_scalar(op, v, s, false, return_bool)?,
        (Value::Scalar(s), Value::Vector(v)) => vector_scalar(op, v, s, true, return_bool)?,
        (Value::Vector(l), Value::Vector(r)) => {
            let matching = Matching::from(&modifier.matching);
            match op {
                T_LAND => vector_and(l, r, &matching),
                T_LOR => vector_or(l, r, &matching),
                T_LUNLESS => vector_unless(l, r, &matching),
                _ => vector_vector(op, l, r, &matching, &modifier.card, return_bool)?,
            }
        }
        (l, r) => {
            return Err(EvalError::TypeMismatch {
                context: format!("binary expression {}", b.op),
                expected: "scalar or instant vector operands",
                got: if matches!(l, Value::Scalar(_) | Value::Vector(_)) {
                    r.type_name()
                } else {
                    l.type_name()
                },
            });
        }
    };
    check_unique(&out)?;
    Ok(Value::Vector(out))
}

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Arithmetic operators drop the metric name; comparisons keep it unless `bool` is used.
fn drops_metric_name(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2)
}

fn bool_value(keep: bool) -> f64 {
    if keep { 1.0 } else { 0.0 }
}

/// Prometheus' `vectorElemBinop`: the value and, for comparisons, whether to keep the element.
fn elem_op(op: TokenId, l: f64, r: f64) -> Result<(f64, bool), EvalError> {
    Ok(match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (l % r, true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => {
            return Err(EvalError::Unsupported {
                what: format!(
                    "operator {} between these operands",
                    promql_parser::parser::token::TokenType::new(op)
                ),
            });
        }
    })
}

fn vector_scalar(
    op: TokenId,
    vector: Vec<InstantSample>,
    scalar: f64,
    scalar_on_left: bool,
    return_bool: bool,
) -> Result<Vec<InstantSample>, EvalError> {
    if matches!(op, T_LAND | T_LOR | T_LUNLESS) {
        return Err(EvalError::TypeMismatch {
            context: "set operator".into(),
            expected: "instant vectors on both sides",
            got: "scalar",
        });
    }
    let mut out = Vec::with_capacity(vector.len());
    for mut sample in vector {
        let (l, r) = if scalar_on_left {
            (scalar, sample.value)
        } else {
            (sample.value, scalar)
        };
        let (mut value, mut keep) = elem_op(op, l, r)?;
        // A comparison always keeps the vector element's value, whichever side it is on.
        if is_comparison(op) && scalar_on_left {
            value = r;
        }
        if return_bool {
            value = bool_value(keep);
            keep = true;
        }
        if keep {
            sample.value = value;
            if drops_metric_name(op) || return_bool {
                sample.labels.remove(METRIC_NAME);
            }
            out.push(sample);
        }
    }
    Ok(out)
}

/// `on(...)` / `ignoring(...)` as a signature function.
pub(super) struct Matching {
    on: bool,
    names: Vec<String>,
}

impl Matching {
    fn from(modifier: &Option<LabelModifier>) -> Self {
        match modifier {
            Some(LabelModifier::Include(ls)) => Matching {
                on: true,
                names: ls.labels.clone(),
            },
            Some(LabelModifier::Exclude(ls)) => Matching {
                on: false,
                names: ls.labels.clone(),
            },
            None => Matching {
                on: false,
                names: Vec::new(),
            },
        }
    }

    /// The labels that identify a match group.
    fn signature(&self, labels: &Labels) -> Labels {
        if self.on {
            self.names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect()
        } else {
            labels
                .iter()
                .filter(|(n, _)| n.as_str() != METRIC_NAME && !self.names.contains(n))
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect()
        }
    }
}

fn vector_and(l: Vec<InstantSample>, r: Vec<InstantSample>, m: &Matching) -> Vec<InstantSample> {
    if l.is_empty() || r.is_empty() {
        return Vec::new();
    }
    let right: BTreeSet<Labels> = r.iter().map(|s| m.signature(&s.labels)).collect();
    l.into_iter()
        .filter(|s| right.contains(&m.signature(&s.labels)))
        .collect()
}

fn vector_or(l: Vec<InstantSample>, r: Vec<InstantSample>, m: &Matching) -> Vec<InstantSample> {
    if l.is_empty() {
        return r;
    }
    if r.is_empty() {
        return l;
    }
    let left: BTreeSet<Labels> = l.iter().map(|s| m.signature(&s.labels)).collect();
    let mut out = l;
    out.extend(
        r.into_iter()
            .filter(|s| !left.contains(&m.signature(&s.labels))),
    );
    out
}

fn vector_unless(l: Vec<InstantSample>, r: Vec<InstantSample>, m: &Matching) -> Vec<InstantSample> {
    if l.is_empty() || r.is_empty() {
        return l;
    }
    let right: BTreeSet<Labels> = r.iter().map(|s| m.signature(&s.labels)).collect();
    l.into_iter()
        .filter(|s| !right.contains(&m.signature(&s.labels)))
        .collect()
}

fn vector_vector(
    op: TokenId,
    lhs: Vec<InstantSample>,
    rhs: Vec<InstantSample>,
    m: &Matching,
    card: &VectorMatchCardinality,
    return_bool: bool,
) -> Result<Vec<InstantSample>, EvalError> {
    let (one_to_many, include): (bool, &[String]) = match card {
        VectorMatchCardinality::OneToOne => (false, &[]),
        VectorMatchCardinality::ManyToOne(ls) => (false, labels_of(ls)),
        VectorMatchCardinality::OneToMany(ls) => (true, labels_of(ls)),
        VectorMatchCardinality::ManyToMany => {
            return Err(EvalError::Unsupported {
                what: "many-to-many matching for a non-set operator".into(),
            });
        }
    };
    // Treat group_right as group_left with the sides swapped, then swap the values back.
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };

    let mut one_side: BTreeMap<Labels, InstantSample> = BTreeMap::new();
    for sample in one {
        let sig = m.signature(&sample.labels);
        if let Some(previous) = one_side.get(&sig) {
            return Err(EvalError::ManyToManyMatch {
                group: label_set_string(&sig),
                side: if one_to_many { "left" } else { "right" },
                first: label_set_string(&sample.labels),
                second: label_set_string(&previous.labels),
            });
        }
        one_side.insert(sig, sample);
    }

    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
    let mut matched: BTreeMap<Labels, BTreeSet<Labels>> = BTreeMap::new();
    let mut out = Vec::new();
    for sample in many {
        let sig = m.signature(&sample.labels);
        let Some(partner) = one_side.get(&sig) else {
            continue;
        };
        let (l, r) = if one_to_many {
            (partner.value, sample.value)
        } else {
            (sample.value, partner.value)
        };
        let (mut value, keep) = elem_op(op, l, r)?;
        if return_bool {
            value = bool_value(keep);
        } else if !keep {
            continue;
        }
        let mut labels = result_labels(&sample.labels, &partner.labels, op, m, one_to_one, include);
        if return_bool {
            labels.remove(METRIC_NAME);
        }
        let inserted = matched.entry(sig).or_default();
        if one_to_one {
            if !inserted.is_empty() {
                return Err(EvalError::ImplicitManyToOne);
            }
        } else if inserted.contains(&labels) {
            return Err(EvalError::AmbiguousGrouping);
        }
        inserted.insert(labels.clone());
        out.push(InstantSample { labels, value });
    }
    Ok(out)
}

fn labels_of(ls: &ParserLabels) -> &[String] {
    &ls.labels
}

/// Prometheus' `resultMetric`: the "many" side's labels, reduced for one-to-one matching and
/// extended with the `group_x(...)` labels copied from the "one" side.
fn result_labels(
    many: &Labels,
    one: &Labels,
    op: TokenId,
    m: &Matching,
    one_to_one: bool,
    include: &[String],
) -> Labels {
    let mut labels = many.clone();
    if drops_metric_name(op) {
        labels.remove(METRIC_NAME);
    }
    if one_to_one {
        if m.on {
            labels.retain(|n, _| m.names.contains(n));
        } else {
            labels.retain(|n, _| !m.names.contains(n));
        }
    }
    for name in include {
        match one.get(name) {
            Some(v) if !v.is_empty() => {
                labels.insert(name.clone(), v.clone());
            }
            _ => {
                labels.remove(name);
            }
        }
    }
    labels
}
