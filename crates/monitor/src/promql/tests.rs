//! Evaluator tests against hand-computed values. Times are in seconds for readability.

use super::*;
use crate::tsdb::Sample;

const S: i64 = 1000;

/// `(name, labels, value)`.
type Line<'a> = (&'a str, Vec<(&'a str, &'a str)>, f64);

/// A store fed one scrape per entry: `(seconds, [(name, labels, value)])`.
fn store(scrapes: &[(i64, Vec<Line<'_>>)]) -> Tsdb {
    let mut db = Tsdb::default();
    for (t, samples) in scrapes {
        db.ingest(
            t * S,
            samples
                .iter()
                .map(|(name, labels, v)| Sample::new(*name, labels.clone(), *v)),
        )
        .expect("valid scrape");
    }
    db
}

/// A counter `name{labels}` with `values` scraped every 15s starting at `start` seconds.
fn series(
    name: &'static str,
    labels: Vec<(&'static str, &'static str)>,
    start: i64,
    values: &[f64],
) -> Tsdb {
    let scrapes: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (start + 15 * i as i64, vec![(name, labels.clone(), *v)]))
        .collect();
    store(&scrapes)
}

fn query(db: &Tsdb, q: &str, t_s: f64) -> Result<Value, EvalError> {
    Engine::default().query(db, q, (t_s * 1000.0) as i64)
}

/// The result as sorted `({labels}, value)` pairs.
fn vector(db: &Tsdb, q: &str, t_s: f64) -> Vec<(String, f64)> {
    match query(db, q, t_s) {
        Ok(Value::Vector(v)) => {
            let mut out: Vec<(String, f64)> = v
                .into_iter()
                .map(|s| (label_set_string(&s.labels), s.value))
                .collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        other => panic!("{q}: expected a vector, got {other:?}"),
    }
}

fn single(db: &Tsdb, q: &str, t_s: f64) -> f64 {
    let v = vector(db, q, t_s);
    assert_eq!(v.len(), 1, "{q}: {v:?}");
    v[0].1
}

fn scalar(db: &Tsdb, q: &str, t_s: f64) -> f64 {
    match query(db, q, t_s) {
        Ok(Value::Scalar(v)) => v,
        other => panic!("{q}: expected a scalar, got {other:?}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn rate_extrapolates_like_prometheus() {
    // Points at 30s, 45s, 60s with values 2, 7, 12; window [15s, 75s].
    let db = series("c", vec![("job", "a")], 30, &[2.0, 7.0, 12.0]);
    // Counter: the zero point is 6s before the first sample (30 * 2/10), closer than the
    // 15s to the window start, so the interval is 30 + 6 + 15 = 51s: 10 * 51/30 = 17.
    assert!(close(single(&db, "increase(c[1m])", 75.0), 17.0));
    assert!(close(single(&db, "rate(c[1m])", 75.0), 17.0 / 60.0));
    // delta does not clamp at zero: 30 + 15 + 15 = 60s, 10 * 2 = 20.
    assert!(close(single(&db, "delta(c[1m])", 75.0), 20.0));
    // Window [0s, 100s]: the end is 40s away, beyond 1.1 * 15s, so only half an interval
    // (7.5s) is added there: 30 + 6 + 7.5 = 43.5s -> 14.5; delta: 30 + 7.5 + 7.5 -> 15.
    assert!(close(single(&db, "increase(c[100s])", 100.0), 14.5));
    assert!(close(single(&db, "delta(c[100s])", 100.0), 15.0));
    // One sample in range: no result.
    assert!(vector(&db, "rate(c[10s])", 60.0).is_empty());
    // The metric name is dropped.
    assert_eq!(vector(&db, "rate(c[1m])", 75.0)[0].0, r#"{job="a"}"#);
}

#[test]
fn counter_resets() {
    // 10, 20, 5 at 0s, 15s, 30s: the reset adds the 20 before it.
    let db = series("c", vec![], 0, &[10.0, 20.0, 5.0]);
    assert!(close(single(&db, "increase(c[30s])", 30.0), 15.0));
    assert!(close(single(&db, "rate(c[30s])", 30.0), 0.5));
    assert!(close(single(&db, "irate(c[30s])", 30.0), 5.0 / 15.0));
    assert!(close(single(&db, "idelta(c[30s])", 30.0), -15.0));
    assert_eq!(single(&db, "resets(c[30s])", 30.0), 1.0);
    assert_eq!(single(&db, "changes(c[30s])", 30.0), 2.0);
}

#[test]
fn staleness_and_lookback() {
    let db = store(&[
        (
            0,
            vec![
                ("up", vec![("job", "a")], 1.0),
                ("up", vec![("job", "b")], 1.0),
            ],
        ),
        (15, vec![("up", vec![("job", "a")], 1.0)]),
        (30, vec![("up", vec![("job", "a")], 1.0)]),
    ]);
    // job="b" vanished from the 15s scrape: stale from then on.
    assert_eq!(vector(&db, "up", 14.0).len(), 2);
    assert_eq!(
        vector(&db, "up", 15.0),
        vec![(r#"{__name__="up", job="a"}"#.into(), 1.0)]
    );
    // Range selectors skip the stale marker but keep earlier samples.
    assert_eq!(
        single(&db, r#"count_over_time(up{job="b"}[1m])"#, 30.0),
        1.0
    );

    // Without a later scrape, a sample is visible for the 5 minute lookback (inclusive).
    let db = store(&[(0, vec![("up", vec![], 1.0)]), (400, vec![])]);
    assert_eq!(vector(&db, "up", 300.0).len(), 1);
    assert!(vector(&db, "up", 300.001).is_empty());
    assert!(vector(&db, "up", 400.0).is_empty());
}

#[test]
fn selectors_matchers_and_offset() {
    let db = store(&[
        (
            0,
            vec![
                ("m", vec![("a", "x1"), ("b", "1")], 1.0),
                ("m", vec![("a", "x2")], 2.0),
                ("m", vec![("a", "y")], 3.0),
            ],
        ),
        (
            15,
            vec![
                ("m", vec![("a", "x1"), ("b", "1")], 10.0),
                ("m", vec![("a", "x2")], 20.0),
                ("m", vec![("a", "y")], 30.0),
            ],
        ),
    ]);
    assert_eq!(single(&db, r#"m{a="y"}"#, 15.0), 30.0);
    assert_eq!(vector(&db, r#"m{a!="y"}"#, 15.0).len(), 2);
    assert_eq!(vector(&db, r#"m{a=~"x.*"}"#, 15.0).len(), 2);
    assert_eq!(vector(&db, r#"m{a!~"x.*"}"#, 15.0).len(), 1);
    // A missing label matches the empty string.
    assert_eq!(vector(&db, r#"m{b=""}"#, 15.0).len(), 2);
    // Regexes are anchored.
    assert!(vector(&db, r#"m{a=~"x"}"#, 15.0).is_empty());
    assert_eq!(single(&db, r#"{__name__="m", a="y"}"#, 15.0), 30.0);
    assert_eq!(single(&db, r#"m{a="y"} offset 15s"#, 15.0), 3.0);
    assert_eq!(single(&db, r#"sum_over_time(m{a="y"}[15s])"#, 15.0), 33.0);
    assert_eq!(
        single(&db, r#"sum_over_time(m{a="y"}[15s] offset 15s)"#, 15.0),
        3.0
    );
}

#[test]
fn over_time_functions() {
    let db = series("g", vec![("k", "v")], 0, &[3.0, 1.0, 4.0, 1.0, 5.0]);
    let at = 60.0;
    assert_eq!(single(&db, "max_over_time(g[1m])", at), 5.0);
    assert_eq!(single(&db, "min_over_time(g[1m])", at), 1.0);
    assert_eq!(single(&db, "sum_over_time(g[1m])", at), 14.0);
    assert!(close(single(&db, "avg_over_time(g[1m])", at), 2.8));
    assert_eq!(single(&db, "count_over_time(g[1m])", at), 5.0);
    assert_eq!(single(&db, "quantile_over_time(0.5, g[1m])", at), 3.0);
    assert!(close(single(&db, "stdvar_over_time(g[1m])", at), 2.56));
    assert!(close(single(&db, "stddev_over_time(g[1m])", at), 1.6));
    assert_eq!(single(&db, "present_over_time(g[1m])", at), 1.0);
    // last_over_time keeps the metric name; the others drop it.
    assert_eq!(
        vector(&db, "last_over_time(g[1m])", at),
        vec![(r#"{__name__="g", k="v"}"#.into(), 5.0)]
    );
    assert_eq!(vector(&db, "max_over_time(g[1m])", at)[0].0, r#"{k="v"}"#);
    // A line through (0,0), (15,15), (30,30): slope 1 per second.
    let db = series("l", vec![], 0, &[0.0, 15.0, 30.0]);
    assert!(close(single(&db, "deriv(l[30s])", 30.0), 1.0));
    assert!(close(single(&db, "predict_linear(l[30s], 60)", 30.0), 90.0));
}

#[test]
fn absent_and_absent_over_time() {
    let db = series("up", vec![("job", "a")], 0, &[1.0]);
    assert!(vector(&db, r#"absent(up{job="a"})"#, 0.0).is_empty());
    assert_eq!(
        vector(&db, r#"absent(nope{job="a", env=~"p.*", zone="z"})"#, 0.0),
        vec![(r#"{job="a", zone="z"}"#.into(), 1.0)]
    );
    assert_eq!(
        vector(&db, r#"absent_over_time(nope{job="x"}[1m])"#, 0.0),
        vec![(r#"{job="x"}"#.into(), 1.0)]
    );
    assert!(vector(&db, r#"absent_over_time(up[1m])"#, 30.0).is_empty());
}

#[test]
fn math_clamp_time_vector_scalar() {
    let db = store(&[(
        0,
        vec![("v", vec![("i", "1")], -1.5), ("v", vec![("i", "2")], 2.5)],
    )]);
    assert_eq!(
        vector(&db, "abs(v)", 0.0),
        vec![(r#"{i="1"}"#.into(), 1.5), (r#"{i="2"}"#.into(), 2.5)]
    );
    assert_eq!(vector(&db, "ceil(v)", 0.0)[0].1, -1.0);
    assert_eq!(vector(&db, "floor(v)", 0.0)[1].1, 2.0);
    assert_eq!(vector(&db, "clamp_min(v, 0)", 0.0)[0].1, 0.0);
    assert_eq!(vector(&db, "clamp_max(v, 1)", 0.0)[1].1, 1.0);
    assert_eq!(vector(&db, "clamp(v, -1, 1)", 0.0)[0].1, -1.0);
    assert!(vector(&db, "clamp(v, 1, -1)", 0.0).is_empty());
    assert_eq!(vector(&db, "round(v)", 0.0)[0].1, -1.0);
    assert_eq!(scalar(&db, "time()", 42.5), 42.5);
    assert_eq!(vector(&db, "vector(3)", 0.0), vec![("{}".into(), 3.0)]);
    assert_eq!(scalar(&db, r#"scalar(v{i="2"})"#, 0.0), 2.5);
    assert!(scalar(&db, "scalar(v)", 0.0).is_nan());
    assert_eq!(scalar(&db, "-(2 * 3) + 2 ^ 3 % 5", 0.0), -3.0);
    // Unary minus drops the metric name.
    assert_eq!(
        vector(&db, r#"-v{i="1"}"#, 0.0),
        vec![(r#"{i="1"}"#.into(), 1.5)]
    );
}

#[test]
fn comparisons_filter_or_return_bool() {
    let db = store(&[(
        0,
        vec![("m", vec![("i", "1")], 1.0), ("m", vec![("i", "2")], 5.0)],
    )]);
    // Filtering keeps the name and the value.
    assert_eq!(
        vector(&db, "m > 2", 0.0),
        vec![(r#"{__name__="m", i="2"}"#.into(), 5.0)]
    );
    // With the scalar on the left the vector's value is still kept.
    assert_eq!(
        vector(&db, "2 < m", 0.0),
        vec![(r#"{__name__="m", i="2"}"#.into(), 5.0)]
    );
    // bool returns 0/1 for every element and drops the name.
    assert_eq!(
        vector(&db, "m > bool 2", 0.0),
        vec![(r#"{i="1"}"#.into(), 0.0), (r#"{i="2"}"#.into(), 1.0)]
    );
    assert_eq!(scalar(&db, "1 == bool 1", 0.0), 1.0);
    assert_eq!(scalar(&db, "1 > bool 2", 0.0), 0.0);
    // Arithmetic drops the name.
    assert_eq!(vector(&db, "m * 2", 0.0)[1], (r#"{i="2"}"#.into(), 10.0));
    assert!(vector(&db, "m == 3", 0.0).is_empty());
}

#[test]
fn vector_matching() {
    let db = store(&[(
        0,
        vec![
            ("req", vec![("svc", "a"), ("code", "500")], 2.0),
            ("req", vec![("svc", "a"), ("code", "200")], 8.0),
            ("req", vec![("svc", "b"), ("code", "200")], 4.0),
            ("total", vec![("svc", "a")], 10.0),
            ("total", vec![("svc", "b")], 4.0),
            ("info", vec![("svc", "a"), ("team", "t1")], 1.0),
        ],
    )]);
    // One-to-one after aggregation, matching on all labels.
    assert_eq!(
        vector(&db, "sum by (svc) (req) / sum by (svc) (total)", 0.0),
        vec![(r#"{svc="a"}"#.into(), 1.0), (r#"{svc="b"}"#.into(), 1.0)]
    );
    // ignoring(code): each req matches the one total of its svc; for one-to-one this must be
    // unique on the left, so group_left is needed for svc a.
    assert!(matches!(
        query(&db, "req / ignoring(code) total", 0.0),
        Err(EvalError::ImplicitManyToOne)
    ));
    assert_eq!(
        vector(&db, "req / ignoring(code) group_left total", 0.0),
        vec![
            (r#"{code="200", svc="a"}"#.into(), 0.8),
            (r#"{code="200", svc="b"}"#.into(), 1.0),
            (r#"{code="500", svc="a"}"#.into(), 0.2),
        ]
    );
    // group_left(team) copies the label from the one side; unmatched elements vanish.
    assert_eq!(
        vector(&db, "req * on(svc) group_left(team) info", 0.0),
        vec![
            (r#"{code="200", svc="a", team="t1"}"#.into(), 8.0),
            (r#"{code="500", svc="a", team="t1"}"#.into(), 2.0),
        ]
    );
    // group_right mirrors it, values stay in operand order.
    assert_eq!(
        vector(&db, "info * on(svc) group_right(team) req", 0.0),
        vec![
            (r#"{code="200", svc="a", team="t1"}"#.into(), 8.0),
            (r#"{code="500", svc="a", team="t1"}"#.into(), 2.0),
        ]
    );
    // on() with one-to-one keeps only the on labels.
    assert_eq!(
        vector(
            &db,
            r#"total / on(svc) sum by (svc) (req{code="200"})"#,
            0.0
        ),
        vec![(r#"{svc="a"}"#.into(), 1.25), (r#"{svc="b"}"#.into(), 1.0)]
    );
    // Duplicates on the "one" side are refused.
    assert!(matches!(
        query(&db, "total * on(svc) group_left req", 0.0),
        Err(EvalError::ManyToManyMatch { side: "right", .. })
    ));
}

#[test]
fn set_operators() {
    let db = store(&[(
        0,
        vec![
            ("a", vec![("x", "1")], 1.0),
            ("a", vec![("x", "2")], 2.0),
            ("b", vec![("x", "2"), ("y", "z")], 20.0),
            ("b", vec![("x", "3"), ("y", "z")], 30.0),
        ],
    )]);
    assert!(vector(&db, "a and b", 0.0).is_empty());
    assert_eq!(
        vector(&db, "a and on(x) b", 0.0),
        vec![(r#"{__name__="a", x="2"}"#.into(), 2.0)]
    );
    assert_eq!(
        vector(&db, "a unless on(x) b", 0.0),
        vec![(r#"{__name__="a", x="1"}"#.into(), 1.0)]
    );
    assert_eq!(
        vector(&db, "a or ignoring(y) b", 0.0),
        vec![
            (r#"{__name__="a", x="1"}"#.into(), 1.0),
            (r#"{__name__="a", x="2"}"#.into(), 2.0),
            (r#"{__name__="b", x="3", y="z"}"#.into(), 30.0),
        ]
    );
    assert_eq!(vector(&db, "a or b", 0.0).len(), 4);
    assert_eq!(vector(&db, "nothing or a", 0.0).len(), 2);
}

#[test]
fn aggregations() {
    let db = store(&[(
        0,
        vec![
            ("m", vec![("ns", "a"), ("pod", "1")], 1.0),
            ("m", vec![("ns", "a"), ("pod", "2")], 3.0),
            ("m", vec![("ns", "b"), ("pod", "3")], 10.0),
            ("m", vec![("ns", "b"), ("pod", "4")], 10.0),
        ],
    )]);
    assert_eq!(
        vector(&db, "sum by (ns) (m)", 0.0),
        vec![(r#"{ns="a"}"#.into(), 4.0), (r#"{ns="b"}"#.into(), 20.0)]
    );
    assert_eq!(
        vector(&db, "max without (pod) (m)", 0.0),
        vec![(r#"{ns="a"}"#.into(), 3.0), (r#"{ns="b"}"#.into(), 10.0)]
    );
    assert_eq!(vector(&db, "sum(m)", 0.0), vec![("{}".into(), 24.0)]);
    assert_eq!(single(&db, "min(m)", 0.0), 1.0);
    assert_eq!(single(&db, "avg(m)", 0.0), 6.0);
    assert_eq!(single(&db, "count(m)", 0.0), 4.0);
    assert_eq!(single(&db, "group(m)", 0.0), 1.0);
    assert_eq!(single(&db, r#"stddev(m{ns="a"})"#, 0.0), 1.0);
    assert_eq!(single(&db, "quantile(0.5, m)", 0.0), 6.5);
    assert_eq!(vector(&db, "topk(1, m)", 0.0)[0].1, 10.0,);
    assert_eq!(
        vector(&db, "bottomk by (ns) (1, m)", 0.0),
        vec![
            (r#"{__name__="m", ns="a", pod="1"}"#.into(), 1.0),
            (r#"{__name__="m", ns="b", pod="3"}"#.into(), 10.0),
        ]
    );
    assert!(vector(&db, "topk(0, m)", 0.0).is_empty());
    assert_eq!(
        vector(&db, r#"count_values("v", m)"#, 0.0),
        vec![
            (r#"{v="1"}"#.into(), 1.0),
            (r#"{v="10"}"#.into(), 2.0),
            (r#"{v="3"}"#.into(), 1.0),
        ]
    );
    assert!(vector(&db, "sum(nothing)", 0.0).is_empty());
}

#[test]
fn histogram_quantile_interpolates_within_buckets() {
    let bucket = |le: &'static str, v: f64| ("lat_bucket", vec![("svc", "a"), ("le", le)], v);
    let db = store(&[(
        0,
        vec![
            bucket("0.1", 10.0),
            bucket("0.5", 30.0),
            bucket("1", 40.0),
            bucket("+Inf", 40.0),
            ("lat_bucket", vec![("svc", "b"), ("le", "1")], 0.0),
            ("lat_bucket", vec![("svc", "b"), ("le", "+Inf")], 10.0),
            ("lat_bucket", vec![("svc", "c"), ("le", "1")], 5.0),
        ],
    )]);
    let hq = |q: &str| vector(&db, &format!("histogram_quantile({q}, lat_bucket)"), 0.0);
    // Rank 20 falls in (0.1, 0.5] holding 20 observations, 10 of them below rank.
    assert!(close(hq("0.5")[0].1, 0.3));
    assert_eq!(hq("0.5")[0].0, r#"{svc="a"}"#);
    assert!(close(hq("0.99")[0].1, 0.98));
    assert!(close(hq("1")[0].1, 1.0));
    // Everything in +Inf: the highest finite bound.
    assert_eq!(hq("0.5")[1], (r#"{svc="b"}"#.into(), 1.0));
    // No +Inf bucket: NaN.
    assert!(hq("0.5")[2].1.is_nan());
    assert_eq!(hq("-1")[0].1, f64::NEG_INFINITY);
    assert_eq!(hq("2")[0].1, f64::INFINITY);
}

#[test]
fn label_replace_and_label_join() {
    let db = store(&[(
        0,
        vec![("up", vec![("job", "api-server"), ("zone", "z1")], 1.0)],
    )]);
    assert_eq!(
        vector(
            &db,
            r#"label_replace(up, "svc", "$1", "job", "(.*)-server")"#,
            0.0
        ),
        vec![(
            r#"{__name__="up", job="api-server", svc="api", zone="z1"}"#.into(),
            1.0
        )]
    );
    // No match: unchanged. An empty replacement removes the label.
    assert_eq!(
        vector(
            &db,
            r#"label_replace(up, "svc", "$1", "job", "db-(.*)")"#,
            0.0
        )[0]
        .0,
        r#"{__name__="up", job="api-server", zone="z1"}"#
    );
    assert_eq!(
        vector(&db, r#"label_replace(up, "zone", "", "job", ".*")"#, 0.0)[0].0,
        r#"{__name__="up", job="api-server"}"#
    );
    assert_eq!(
        vector(
            &db,
            r#"label_replace(up, "x", "${1}_$2", "job", "(\\w+)-(\\w+)")"#,
            0.0
        )[0]
        .0,
        r#"{__name__="up", job="api-server", x="api_server", zone="z1"}"#
    );
    assert!(matches!(
        query(&db, r#"label_replace(up, "x", "$1", "job", "(")"#, 0.0),
        Err(EvalError::InvalidRegex { .. })
    ));
    assert!(matches!(
        query(&db, r#"label_replace(up, "1x", "$1", "job", "(.*)")"#, 0.0),
        Err(EvalError::InvalidArgument { .. })
    ));
    assert_eq!(
        vector(&db, r#"label_join(up, "id", "/", "zone", "job")"#, 0.0)[0].0,
        r#"{__name__="up", id="z1/api-server", job="api-server", zone="z1"}"#
    );
}

#[test]
fn subqueries() {
    let db = series("c", vec![], 0, &[0.0, 15.0, 30.0, 60.0, 90.0]);
    // Steps at 0s, 15s, 30s, 45s and 60s. rate(c[30s]) has no value at 0s (one sample),
    // 0.5 at 15s (15 over a window extrapolated only to the counter's zero, divided by 30s),
    // then 30/30, 45/30 and 60/30.
    assert!(close(
        single(&db, "max_over_time(rate(c[30s])[1m:15s])", 60.0),
        2.0
    ));
    assert_eq!(
        single(&db, "count_over_time(rate(c[30s])[1m:15s])", 60.0),
        4.0
    );
    assert!(close(
        single(&db, "min_over_time(rate(c[30s])[1m:15s])", 60.0),
        0.5
    ));
    assert!(close(
        single(&db, "sum_over_time(rate(c[30s])[1m:15s])", 60.0),
        5.0
    ));
}

#[test]
fn refuses_results_with_duplicate_labelsets() {
    let db = store(&[(
        0,
        vec![("a", vec![("x", "1")], 1.0), ("b", vec![("x", "1")], 2.0)],
    )]);
    assert!(matches!(
        query(&db, r#"abs({__name__=~"a|b"})"#, 0.0),
        Err(EvalError::DuplicateLabelset { .. })
    ));
    assert_eq!(vector(&db, r#"{__name__=~"a|b"}"#, 0.0).len(), 2);
}

#[test]
fn odd_input_is_an_error_not_a_panic() {
    let db = series("m", vec![("a", "b")], 0, &[1.0, 2.0]);
    for q in [
        "m{",
        "sum(",
        "rate(m)",
        "unknown_function(m)",
        "holt_winters(m[1m], 0.5, 0.5)",
        "m[1m] + 1",
        r#""a" + 1"#,
        "m and 1",
        "max_over_time(m[1y:1ms])",
    ] {
        assert!(query(&db, q, 15.0).is_err(), "{q} should fail");
    }
    // Odd but valid queries evaluate.
    for q in [
        "topk(-1, m)",
        "topk(1e300, m)",
        "histogram_quantile(NaN, m)",
        "quantile(NaN, m)",
        "m / 0",
        "m % 0",
        "rate(m[1ms])",
        "m offset -1h",
        "m @ 0",
        "round(m, 0)",
    ] {
        let _ = query(&db, q, 15.0);
    }
}
