//! Runs promtool unit-test files (`promtool test rules FILE`) through the simulated
//! Prometheus and expects the same results promtool expects from the real one.
//!
//! Supported input: series scraped every `interval`, values in promtool's notation, where `_`
//! may only lead (the series does not exist yet) and a series ends with `stale`; both
//! Prometheus and the simulation then see the same samples and stale markers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nightshift_monitor::duration::parse_duration;
use nightshift_monitor::labels::{Labels, label_set_string};
use nightshift_monitor::promql::Value;
use nightshift_monitor::{AlertState, Engine, RuleEvaluator, RuleFile, RuleOptions, Sample, Tsdb};
use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;
use serde::Deserialize;

#[derive(Deserialize)]
struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: Option<String>,
    tests: Vec<TestGroup>,
}

#[derive(Deserialize)]
struct TestGroup {
    name: Option<String>,
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
}

#[derive(Deserialize)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Deserialize)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Deserialize)]
struct ExpectedAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ExprTest {
    expr: String,
    eval_time: String,
    #[serde(default)]
    exp_samples: Vec<ExpectedSample>,
}

#[derive(Deserialize)]
struct ExpectedSample {
    labels: String,
    value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Item {
    Missing,
    Num(f64),
    Stale,
}

fn ms(text: &str) -> i64 {
    parse_duration(text).expect("duration").as_millis() as i64
}

/// promtool's series value notation: `1 2 _ stale`, `_x3`, `5x3` and `0+10x3`.
fn parse_values(text: &str) -> Vec<Item> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        if token == "stale" {
            out.push(Item::Stale);
            continue;
        }
        if let Some(rest) = token.strip_prefix('_') {
            let n = rest
                .strip_prefix('x')
                .map_or(1, |n| n.parse().expect("count"));
            out.extend(std::iter::repeat_n(Item::Missing, n));
            continue;
        }
        let (head, times) = match token.rsplit_once('x') {
            Some((head, n)) => (head, Some(n.parse::<usize>().expect("count"))),
            None => (token, None),
        };
        let split = head
            .char_indices()
            .skip(1)
            .find(|(i, c)| (*c == '+' || *c == '-') && !head[..*i].ends_with(['e', 'E']))
            .map(|(i, _)| i);
        let (start, step) = match split {
            Some(i) => (
                head[..i].parse::<f64>().expect("number"),
                head[i..]
                    .trim_start_matches('+')
                    .parse::<f64>()
                    .expect("number"),
            ),
            None => (head.parse::<f64>().expect("number"), 0.0),
        };
        match times {
            None => out.push(Item::Num(start)),
            Some(n) => {
                let mut v = start;
                out.push(Item::Num(v));
                for _ in 0..n {
                    v += step;
                    out.push(Item::Num(v));
                }
            }
        }
    }
    out
}

/// `name{a="b"}` (or `{a="b"}`, or `{}`) as a label set.
fn parse_labels(text: &str) -> Labels {
    if text.trim() == "{}" {
        return Labels::new();
    }
    let Ok(Expr::VectorSelector(vs)) = promql_parser::parser::parse(text) else {
        panic!("not a series description: {text}");
    };
    let mut labels: Labels = vs
        .matchers
        .matchers
        .iter()
        .filter(|m| matches!(m.op, MatchOp::Equal) && !m.value.is_empty())
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect();
    if let Some(name) = vs.name {
        labels.insert("__name__".into(), name);
    }
    labels
}

struct Input {
    labels: Labels,
    items: Vec<Item>,
}

fn load_inputs(group: &TestGroup, strip_target_labels: bool, last_index: usize) -> Vec<Input> {
    let scrapes = group
        .input_series
        .iter()
        .map(|s| parse_values(&s.values).len())
        .max()
        .unwrap_or(0);
    let needed = scrapes.min(last_index + 1);
    group
        .input_series
        .iter()
        .map(|s| {
            let mut labels = parse_labels(&s.series);
            if strip_target_labels {
                labels.remove("job");
                labels.remove("instance");
            }
            let items = parse_values(&s.values);
            let first = items.iter().position(|i| *i != Item::Missing);
            if let Some(first) = first {
                assert!(
                    !items[first..].contains(&Item::Missing),
                    "{}: `_` after the first value cannot be reproduced by scrapes",
                    s.series
                );
                // A series that stops before the others (and before the last evaluation) would
                // be marked stale by the next scrape in the simulation but not in promtool.
                assert!(
                    items.len() >= needed || items.last() == Some(&Item::Stale),
                    "{}: the series must last as long as the others or end with stale",
                    s.series
                );
            }
            Input { labels, items }
        })
        .collect()
}

/// Ingests every scrape up to and including `until_ms`.
fn ingest_until(db: &mut Tsdb, inputs: &[Input], interval: i64, next: &mut usize, until_ms: i64) {
    let len = inputs.iter().map(|i| i.items.len()).max().unwrap_or(0);
    while *next < len && (*next as i64) * interval <= until_ms {
        let samples = inputs
            .iter()
            .filter_map(|input| match input.items.get(*next) {
                Some(Item::Num(v)) => {
                    let mut labels = input.labels.clone();
                    let name = labels.remove("__name__").expect("series has a name");
                    Some(Sample {
                        name,
                        labels,
                        value: *v,
                    })
                }
                _ => None,
            });
        db.ingest(*next as i64 * interval, samples).expect("scrape");
        *next += 1;
    }
}

/// Runs one test group; returns the failures.
fn run_group(
    rules: &RuleFile,
    group: &TestGroup,
    eval_interval: i64,
    strip_target_labels: bool,
) -> Vec<String> {
    let mut failures = Vec::new();
    let name = group.name.clone().unwrap_or_default();
    let mode = if strip_target_labels {
        "without job/instance"
    } else {
        "as scraped"
    };
    let interval = group.interval.as_deref().map_or(eval_interval, ms);
    let max_eval = group
        .alert_rule_test
        .iter()
        .map(|t| ms(&t.eval_time))
        .chain(group.promql_expr_test.iter().map(|t| ms(&t.eval_time)))
        .max()
        .unwrap_or(0);
    let inputs = load_inputs(group, strip_target_labels, (max_eval / interval) as usize);

    let mut db = Tsdb::new(Duration::from_secs(24 * 3600));
    let options = RuleOptions {
        evaluation_interval: Duration::from_millis(eval_interval as u64),
        ..RuleOptions::default()
    };
    let mut evaluator = RuleEvaluator::new(rules.clone(), options);
    let mut next = 0;
    let mut ts = 0;
    while ts <= max_eval {
        ingest_until(&mut db, &inputs, interval, &mut next, ts);
        let evaluation = evaluator.evaluate(&db, ts);
        for e in &evaluation.errors {
            failures.push(format!("{name} ({mode}) at {ts}ms: {e}"));
        }
        for test in &group.alert_rule_test {
            let at = ms(&test.eval_time);
            if !(ts <= at && at < ts + eval_interval) {
                continue;
            }
            let mut got: Vec<(Labels, Labels)> = evaluator
                .alerts()
                .into_iter()
                .filter(|a| a.state == AlertState::Firing)
                .filter(|a| a.labels.get("alertname") == Some(&test.alertname))
                .map(|a| (a.labels.clone(), a.annotations.clone()))
                .collect();
            let mut expected: Vec<(Labels, Labels)> = test
                .exp_alerts
                .iter()
                .map(|e| {
                    let mut labels = e.exp_labels.clone();
                    labels.insert("alertname".into(), test.alertname.clone());
                    (labels, e.exp_annotations.clone())
                })
                .collect();
            got.sort();
            expected.sort();
            if got != expected {
                failures.push(format!(
                    "{name} ({mode}): {} at {}:\n  expected {expected:?}\n  got      {got:?}",
                    test.alertname, test.eval_time
                ));
            }
        }
        ts += eval_interval;
    }

    ingest_until(&mut db, &inputs, interval, &mut next, max_eval);
    for test in &group.promql_expr_test {
        let at = ms(&test.eval_time);
        let got = match Engine::default().query(&db, &test.expr, at) {
            Ok(Value::Vector(v)) => v.into_iter().map(|s| (s.labels, s.value)).collect(),
            Ok(Value::Scalar(v)) => vec![(Labels::new(), v)],
            other => {
                failures.push(format!(
                    "{name}: {} at {}: {other:?}",
                    test.expr, test.eval_time
                ));
                continue;
            }
        };
        let mut got: Vec<(String, f64)> = got
            .into_iter()
            .map(|(l, v)| (label_set_string(&l), v))
            .collect();
        let mut expected: Vec<(String, f64)> = test
            .exp_samples
            .iter()
            .map(|s| (label_set_string(&parse_labels(&s.labels)), s.value))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        let same = got.len() == expected.len()
            && got
                .iter()
                .zip(&expected)
                .all(|(g, e)| g.0 == e.0 && (g.1 == e.1 || (g.1.is_nan() && e.1.is_nan())));
        if !same {
            failures.push(format!(
                "{name}: {} at {}:\n  expected {expected:?}\n  got      {got:?}",
                test.expr, test.eval_time
            ));
        }
    }
    failures
}

fn run_file(path: &Path, strip_modes: &[bool]) {
    let text = std::fs::read_to_string(path).expect("test file");
    let file: TestFile = serde_saphyr::from_str(&text).expect("test file YAML");
    let dir = path.parent().expect("directory");
    let mut rules = RuleFile {
        origin: String::new(),
        groups: Vec::new(),
    };
    for rule_file in &file.rule_files {
        let rule_path = dir.join(rule_file);
        let text = std::fs::read_to_string(&rule_path).expect("rule file");
        let parsed = RuleFile::parse(&text, &rule_path.display().to_string()).expect("rules");
        rules.groups.extend(parsed.groups);
    }
    let eval_interval = file.evaluation_interval.as_deref().map_or(60_000, ms);
    let mut failures = Vec::new();
    for group in &file.tests {
        for &strip in strip_modes {
            failures.extend(run_group(&rules, group, eval_interval, strip));
        }
    }
    assert!(
        failures.is_empty(),
        "{}:\n{}",
        path.display(),
        failures.join("\n")
    );
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn shipped_rules_pass_their_promtool_tests_with_and_without_target_labels() {
    run_file(
        &repo_root().join("deploy/prometheus/nightshift-rules.test.yaml"),
        &[false, true],
    );
}

#[test]
fn promql_matches_promtool_expectations() {
    run_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/promql.test.yaml"),
        &[false],
    );
}

#[test]
fn series_notation() {
    use Item::*;
    assert_eq!(
        parse_values("_x2 1 0+5x2 stale"),
        vec![
            Missing,
            Missing,
            Num(1.0),
            Num(0.0),
            Num(5.0),
            Num(10.0),
            Stale
        ]
    );
    assert_eq!(
        parse_values("3x1 10-2x2"),
        vec![Num(3.0), Num(3.0), Num(10.0), Num(8.0), Num(6.0)]
    );
}
