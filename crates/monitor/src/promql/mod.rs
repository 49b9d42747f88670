//! Instant-query PromQL evaluation over [`promql_parser`] ASTs, following Prometheus 2.42.
//!
//! What matters for alerting is reproduced exactly: lookback and staleness, range selection
//! (both ends inclusive, as in 2.x), `rate` extrapolation, metric-name dropping, vector
//! matching with `on`/`ignoring`/`group_left`/`group_right`, `bool`, set operators, the
//! aggregation operators and `histogram_quantile`.

mod aggregate;
mod binary;
mod functions;
mod range;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};

use crate::duration::millis;
use crate::labels::{Labels, METRIC_NAME, label_set_string};
use crate::tsdb::Tsdb;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// The series' labels, including `__name__` unless an operation dropped it.
    pub labels: Labels,
    /// The value at the evaluation time.
    pub value: f64,
}

/// A timestamped value inside a range vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Milliseconds since the Unix epoch.
    pub t_ms: i64,
    /// The value.
    pub value: f64,
}

/// One series of a range vector.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Its samples in the range, oldest first.
    pub points: Vec<Point>,
}

/// The result of evaluating an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A single number.
    Scalar(f64),
    /// A string literal.
    String(String),
    /// An instant vector.
    Vector(Vec<InstantSample>),
    /// A range vector.
    Matrix(Vec<RangeSeries>),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "instant vector",
            Value::Matrix(_) => "range vector",
        }
    }
}

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EvalError {
    /// The query text is not PromQL.
    #[error("unable to parse PromQL query {query:?}: {message}")]
    Parse {
        /// The query text.
        query: String,
        /// The parser's message.
        message: String,
    },
    /// A function outside the supported set.
    #[error("function {name}() is not supported by the simulated Prometheus")]
    UnsupportedFunction {
        /// The function name.
        name: String,
    },
    /// Syntax the simulated Prometheus does not evaluate.
    #[error("{what} is not supported by the simulated Prometheus")]
    Unsupported {
        /// What was found.
        what: String,
    },
    /// An operand of the wrong type.
    #[error("expected {expected} in {context}, got {got}")]
    TypeMismatch {
        /// Where it happened.
        context: String,
        /// The type needed.
        expected: &'static str,
        /// The type found.
        got: &'static str,
    },
    /// A function called with the wrong number of arguments.
    #[error("wrong number of arguments for {function}(): expected {expected}, got {got}")]
    ArgumentCount {
        /// The function name.
        function: String,
        /// The accepted count(s).
        expected: String,
        /// The count found.
        got: usize,
    },
    /// An argument value a function cannot use.
    #[error("invalid argument to {function}(): {problem}")]
    InvalidArgument {
        /// The function name.
        function: String,
        /// What is wrong with the argument.
        problem: String,
    },
    /// A regular expression that does not compile.
    #[error("invalid regular expression {regex:?} in {function}()")]
    InvalidRegex {
        /// The function name.
        function: String,
        /// The expression.
        regex: String,
        /// The compiler's complaint.
        #[source]
        source: regex::Error,
    },
    /// Two results with the same labels, which Prometheus refuses.
    #[error("vector cannot contain metrics with the same labelset: {labels}")]
    DuplicateLabelset {
        /// The duplicated label set.
        labels: String,
    },
    /// The "one" side of a vector match has several series with the same matching labels.
    #[error(
        "found duplicate series for the match group {group} on the {side} hand-side of the \
         operation: [{first}, {second}]; many-to-many matching not allowed: matching labels \
         must be unique on one side"
    )]
    ManyToManyMatch {
        /// The matching labels.
        group: String,
        /// `left` or `right`.
        side: &'static str,
        /// One of the duplicates.
        first: String,
        /// The other.
        second: String,
    },
    /// A one-to-one match that found several partners.
    #[error(
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    )]
    ImplicitManyToOne,
    /// A many-to-one match whose results collide.
    #[error("multiple matches for labels: grouping labels must ensure unique matches")]
    AmbiguousGrouping,
    /// A subquery with too many steps.
    #[error("subquery would evaluate {steps} steps, more than the limit of 11000")]
    TooManySteps {
        /// The steps it needed.
        steps: i64,
    },
}

/// Evaluates instant queries against a [`Tsdb`].
#[derive(Debug, Clone)]
pub struct Engine {
    /// How far back an instant selector looks for a sample (Prometheus default 5m).
    pub lookback_delta: Duration,
    /// Step of subqueries without an explicit one (Prometheus uses the global evaluation
    /// interval, 1m by default).
    pub default_subquery_step: Duration,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            lookback_delta: Duration::from_secs(300),
            default_subquery_step: Duration::from_secs(60),
        }
    }
}

impl Engine {
    /// Parses and evaluates `query` at `t_ms`.
    pub fn query(&self, tsdb: &Tsdb, query: &str, t_ms: i64) -> Result<Value, EvalError> {
        let expr = promql_parser::parser::parse(query).map_err(|message| EvalError::Parse {
            query: query.to_string(),
            message,
        })?;
        self.eval(tsdb, &expr, t_ms)
    }

    /// Evaluates a parsed expression at `t_ms` (milliseconds since the Unix epoch).
    pub fn eval(&self, tsdb: &Tsdb, expr: &Expr, t_ms: i64) -> Result<Value, EvalError> {
        let ctx = Ctx {
            tsdb,
            lookback_ms: millis(self.lookback_delta),
            step_ms: millis(self.default_subquery_step),
            query_t: t_ms,
        };
        ctx.eval(expr, t_ms)
    }
}

/// A range vector argument together with the window it covers, which `rate` and friends need
/// for extrapolation.
pub(crate) struct RangeArg {
    pub(crate) series: Vec<RangeSeries>,
    pub(crate) range_ms: i64,
    pub(crate) end_ms: i64,
}

pub(crate) struct Ctx<'a> {
    tsdb: &'a Tsdb,
    lookback_ms: i64,
    step_ms: i64,
    query_t: i64,
}

impl Ctx<'_> {
    pub(crate) fn eval(&self, expr: &Expr, t: i64) -> Result<Value, EvalError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.select_instant(vs, t))),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => Ok(Value::Matrix(
                self.eval_range(expr, t, "range selection")?.series,
            )),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(samples) => {
                    let out: Vec<InstantSample> = samples
                        .into_iter()
                        .map(|mut s| {
                            s.labels.remove(METRIC_NAME);
                            s.value = -s.value;
                            s
                        })
                        .collect();
                    check_unique(&out)?;
                    Ok(Value::Vector(out))
                }
                other => Err(EvalError::TypeMismatch {
                    context: "unary expression".into(),
                    expected: "scalar or instant vector",
                    got: other.type_name(),
                }),
            },
            Expr::Binary(b) => binary::eval(self, b, t),
            Expr::Aggregate(a) => aggregate::eval(self, a, t),
            Expr::Call(c) => functions::eval(self, c, t),
            Expr::Extension(_) => Err(EvalError::Unsupported {
                what: "an extension expression".into(),
            }),
        }
    }

    pub(crate) fn eval_vector(
        &self,
        expr: &Expr,
        t: i64,
        context: &str,
    ) -> Result<Vec<InstantSample>, EvalError> {
        match self.eval(expr, t)? {
            Value::Vector(v) => Ok(v),
            other => Err(EvalError::TypeMismatch {
                context: context.to_string(),
                expected: "instant vector",
                got: other.type_name(),
            }),
        }
    }

    pub(crate) fn eval_scalar(&self, expr: &Expr, t: i64, context: &str) -> Result<f64, EvalError> {
        match self.eval(expr, t)? {
            Value::Scalar(v) => Ok(v),
            other => Err(EvalError::TypeMismatch {
                context: context.to_string(),
                expected: "scalar",
                got: other.type_name(),
            }),
        }
    }

    pub(crate) fn eval_string(
        &self,
        expr: &Expr,
        t: i64,
        context: &str,
    ) -> Result<String, EvalError> {
        match self.eval(expr, t)? {
            Value::String(s) => Ok(s),
            other => Err(EvalError::TypeMismatch {
                context: context.to_string(),
                expected: "string",
                got: other.type_name(),
            }),
        }
    }

    /// Evaluates a range selector or subquery (parentheses allowed around either).
    pub(crate) fn eval_range(
        &self,
        expr: &Expr,
        t: i64,
        context: &str,
    ) -> Result<RangeArg, EvalError> {
        match expr {
            Expr::Paren(p) => self.eval_range(&p.expr, t, context),
            Expr::MatrixSelector(ms) => {
                let end = self.reference_time(&ms.vs.at, &ms.vs.offset, t);
                let range_ms = millis(ms.range);
                let start = end.saturating_sub(range_ms);
                let series = self
                    .tsdb
                    .select(selector_name(&ms.vs), |labels| matches(&ms.vs, labels))
                    .into_iter()
                    .filter_map(|(labels, points)| {
                        let from = points.partition_point(|p| p.t < start);
                        let to = points.partition_point(|p| p.t <= end);
                        let points: Vec<Point> = points[from..to]
                            .iter()
                            .filter(|p| !p.stale)
                            .map(|p| Point {
                                t_ms: p.t,
                                value: p.v,
                            })
                            .collect();
                        (!points.is_empty()).then(|| RangeSeries {
                            labels: labels.clone(),
                            points,
                        })
                    })
                    .collect();
                Ok(RangeArg {
                    series,
                    range_ms,
                    end_ms: end,
                })
            }
            Expr::Subquery(sq) => self.eval_subquery(sq, t),
            other => Err(EvalError::TypeMismatch {
                context: context.to_string(),
                expected: "range vector",
                got: self.eval(other, t)?.type_name(),
            }),
        }
    }

    fn eval_subquery(&self, sq: &SubqueryExpr, t: i64) -> Result<RangeArg, EvalError> {
        let end = self.reference_time(&sq.at, &sq.offset, t);
        let range_ms = millis(sq.range);
        let step = sq.step.map(millis).unwrap_or(self.step_ms);
        if step <= 0 {
            return Err(EvalError::Unsupported {
                what: "a subquery with a zero step".into(),
            });
        }
        let unaligned = end.saturating_sub(range_ms);
        let mut start = unaligned.div_euclid(step) * step;
        if start < unaligned {
            start += step;
        }
        let steps = (end - start) / step + 1;
        if steps > 11_000 {
            return Err(EvalError::TooManySteps { steps });
        }
        let mut by_labels: BTreeMap<Labels, Vec<Point>> = BTreeMap::new();
        let mut ts = start;
        while ts <= end {
            match self.eval(&sq.expr, ts)? {
                Value::Vector(samples) => {
                    for s in samples {
                        by_labels.entry(s.labels).or_default().push(Point {
                            t_ms: ts,
                            value: s.value,
                        });
                    }
                }
                Value::Scalar(v) => by_labels
                    .entry(Labels::new())
                    .or_default()
                    .push(Point { t_ms: ts, value: v }),
                other => {
                    return Err(EvalError::TypeMismatch {
                        context: "subquery".into(),
                        expected: "instant vector or scalar",
                        got: other.type_name(),
                    });
                }
            }
            ts += step;
        }
        let series = by_labels
            .into_iter()
            .map(|(labels, points)| RangeSeries { labels, points })
            .collect();
        Ok(RangeArg {
            series,
            range_ms,
            end_ms: end,
        })
    }

    fn select_instant(&self, vs: &VectorSelector, t: i64) -> Vec<InstantSample> {
        let at = self.reference_time(&vs.at, &vs.offset, t);
        let oldest = at.saturating_sub(self.lookback_ms);
        self.tsdb
            .select(selector_name(vs), |labels| matches(vs, labels))
            .into_iter()
            .filter_map(|(labels, points)| {
                let idx = points.partition_point(|p| p.t <= at);
                let p = points.get(idx.checked_sub(1)?)?;
                (p.t >= oldest && !p.stale).then(|| InstantSample {
                    labels: labels.clone(),
                    value: p.v,
                })
            })
            .collect()
    }

    /// The time a selector looks at: the evaluation time, or its `@`, minus its offset.
    fn reference_time(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t: i64) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) | Some(AtModifier::End) => self.query_t,
            Some(AtModifier::At(time)) => system_time_ms(*time),
        };
        match offset {
            None => base,
            Some(Offset::Pos(d)) => base.saturating_sub(millis(*d)),
            Some(Offset::Neg(d)) => base.saturating_add(millis(*d)),
        }
    }
}

fn system_time_ms(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => millis(d),
        Err(e) => -millis(e.duration()),
    }
}

/// The metric name a selector is restricted to, which narrows the search.
fn selector_name(vs: &VectorSelector) -> Option<&str> {
    if let Some(name) = &vs.name {
        return Some(name);
    }
    vs.matchers
        .matchers
        .iter()
        .find(|m| m.name == METRIC_NAME && matches!(m.op, promql_parser::label::MatchOp::Equal))
        .map(|m| m.value.as_str())
}

fn matches(vs: &VectorSelector, labels: &Labels) -> bool {
    if let Some(name) = &vs.name
        && labels.get(METRIC_NAME) != Some(name)
    {
        return false;
    }
    let value = |name: &str| labels.get(name).map(String::as_str).unwrap_or("");
    let all = |ms: &[promql_parser::label::Matcher]| ms.iter().all(|m| m.is_match(value(&m.name)));
    all(&vs.matchers.matchers)
        && (vs.matchers.or_matchers.is_empty()
            || vs.matchers.or_matchers.iter().any(|group| all(group)))
}

/// Prometheus refuses results where two elements have the same labels.
pub(crate) fn check_unique(samples: &[InstantSample]) -> Result<(), EvalError> {
    let mut seen = std::collections::BTreeSet::new();
    for s in samples {
        if !seen.insert(&s.labels) {
            return Err(EvalError::DuplicateLabelset {
                labels: label_set_string(&s.labels),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
