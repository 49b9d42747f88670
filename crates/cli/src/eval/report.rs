//! The evaluation's reports: the table on the terminal, the JSON document of the scenario
//! contract, and a self-contained HTML page with a timeline per scenario.

use std::fmt::Write as _;

use askama::Template;
use serde::Serialize;

use super::run::ScenarioRun;
use super::score::{ScenarioScore, Summary, first_fault_s, summarize};

/// The JSON report: exactly `summary` and `scenarios`, as SCENARIOS.md documents.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// The summary.
    pub summary: Summary,
    /// One score per scenario, in the order they were given.
    pub scenarios: Vec<&'a ScenarioScore>,
}

/// The summary of a set of runs.
pub fn summary(runs: &[ScenarioRun]) -> Summary {
    let pairs: Vec<_> = runs.iter().map(|r| (&r.scenario, &r.score)).collect();
    summarize(&pairs)
}

/// The JSON report as text (pretty-printed, newline-terminated).
pub fn json(runs: &[ScenarioRun]) -> String {
    let report = JsonReport {
        summary: summary(runs),
        scenarios: runs.iter().map(|r| &r.score).collect(),
    };
    let mut text = serde_json::to_string_pretty(&report).expect("the report serializes");
    text.push('\n');
    text
}

/// The knowledge-base entries of every run, in the order of the runs, as one JSON array
/// (pretty-printed, newline-terminated): the input of the retrieval benchmark
/// (`crates/store/benches/kb.rs`).
pub fn kb_entries(runs: &[ScenarioRun]) -> String {
    let entries: Vec<_> = runs.iter().flat_map(|r| &r.kb).collect();
    let mut text = serde_json::to_string_pretty(&entries).expect("the entries serialize");
    text.push('\n');
    text
}

/// What the strict gate refuses: harmful actions anywhere, incidents in control scenarios,
/// and, when the agent ran with least privilege, any request of it answered 403.
pub fn gate(runs: &[ScenarioRun]) -> Vec<String> {
    let mut out = Vec::new();
    for r in runs {
        for (message, count) in r.observation.forbidden.iter().flatten() {
            out.push(format!(
                "{}: the agent was refused {count} time(s): {message}",
                r.score.name
            ));
        }
        if r.score.harmful > 0 {
            out.push(format!(
                "{}: {} harmful action(s) among {}",
                r.score.name,
                r.score.harmful,
                r.score.actions.join(", ")
            ));
        }
        if !r.scenario.expect.detect && r.score.detected {
            out.push(format!(
                "{}: a control scenario opened an incident ({})",
                r.score.name, r.score.diagnosis
            ));
        }
    }
    out
}

/// The first infra-changing action, `name@target`, or `-`.
fn first_action(r: &ScenarioRun) -> String {
    r.observation
        .actions
        .iter()
        .find(|a| a.action.changes_infra())
        .map(|a| a.label())
        .unwrap_or_else(|| "-".to_string())
}

fn mark(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |s| format!("{s:.0}s"))
}

/// The per-scenario table and the summary, for the terminal.
pub fn table(runs: &[ScenarioRun]) -> String {
    let name_w = runs
        .iter()
        .map(|r| r.score.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    // The 403 column only when the agent ran with least privilege.
    let forbidden = runs.iter().any(|r| r.score.forbidden.is_some());
    let column = |v: String| {
        if forbidden {
            format!(" {v:>4}")
        } else {
            String::new()
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<name_w$}  {:<8} {:>6}  {:<26} {:<4} {:<4} {:<34} {:<4} {:>4}  {:<8} {:>6}{}",
        "SCENARIO",
        "DETECTED",
        "TTD",
        "DIAGNOSIS",
        "OK",
        "LOC",
        "FIRST ACTION",
        "OK",
        "HARM",
        "RESOLVED",
        "TTM",
        column("403".into()),
    );
    for r in runs {
        let s = &r.score;
        let first = first_action(r);
        let _ = writeln!(
            out,
            "{:<name_w$}  {:<8} {:>6}  {:<26} {:<4} {:<4} {:<34} {:<4} {:>4}  {:<8} {:>6}{}",
            s.name,
            mark(s.detected),
            secs(s.ttd_s),
            if s.diagnosis.is_empty() {
                "-"
            } else {
                &s.diagnosis
            },
            mark(s.diagnosis_correct),
            mark(s.located),
            truncate(&first, 34),
            mark(s.action_ok),
            s.harmful,
            mark(s.resolved),
            secs(s.ttm_s),
            column(s.forbidden.unwrap_or(0).to_string()),
        );
    }
    out.push('\n');
    out.push_str(&summary_text(&summary(runs)));
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('~');
        t
    }
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// The summary as aligned lines.
pub fn summary_text(s: &Summary) -> String {
    let rows = [
        ("scenarios", s.scenarios.to_string()),
        ("detection rate", pct(s.detection_rate)),
        ("false positive rate", pct(s.false_positive_rate)),
        ("diagnosis accuracy", pct(s.diagnosis_accuracy)),
        ("localization accuracy", pct(s.localization_accuracy)),
        ("action accuracy", pct(s.action_accuracy)),
        ("harmful actions", s.harmful_actions.to_string()),
        ("resolution rate", pct(s.resolution_rate)),
        ("time to detect, median", format!("{:.0}s", s.ttd_median_s)),
        (
            "time to mitigate, median",
            format!("{:.0}s", s.ttm_median_s),
        ),
        ("time to mitigate, p95", format!("{:.0}s", s.ttm_p95_s)),
        ("llm calls", s.llm_calls.to_string()),
        ("llm tokens", s.llm_tokens.to_string()),
    ];
    let mut text: String = rows.iter().map(|(k, v)| format!("{k:<26}{v}\n")).collect();
    if let Some(n) = s.forbidden {
        text.push_str(&format!("{:<26}{n}\n", "forbidden (403)"));
    }
    if let Some(r) = s.recurrence_rate {
        text.push_str(&format!("{:<26}{}\n", "recurrence recognized", pct(r)));
    }
    text
}

/// A mark on a scenario's time axis.
#[derive(Debug, Clone)]
pub struct Mark {
    /// Horizontal position in the drawing, 0..=WIDTH.
    pub x: f64,
    /// Simulated seconds from the start.
    pub at_s: f64,
    /// CSS class: fault, detected, diagnosed, acted, escalated.
    pub class: &'static str,
    /// Tooltip.
    pub label: String,
}

/// One scenario in the HTML page.
#[derive(Debug, Clone)]
pub struct HtmlScenario {
    /// The score.
    pub score: ScenarioScore,
    /// Summary line of the scenario file.
    pub summary: String,
    /// Marks on the axis.
    pub marks: Vec<Mark>,
    /// Where the final healthy stretch starts (x), when resolved by health.
    pub recovered_x: Option<f64>,
    /// Unhealthy spans of the watched workloads, as (x, width).
    pub unhealthy: Vec<(f64, f64)>,
    /// Axis ticks (x, label).
    pub ticks: Vec<(f64, String)>,
    /// First action or `-`.
    pub first_action: String,
}

/// Drawing width of a timeline, in SVG units.
pub const WIDTH: f64 = 900.0;

#[derive(Template)]
#[template(path = "eval.html")]
struct Page<'a> {
    summary: &'a Summary,
    scenarios: &'a [HtmlScenario],
    width: f64,
}

fn timeline(r: &ScenarioRun) -> HtmlScenario {
    let horizon = r.scenario.horizon.as_secs_f64().max(1.0);
    let x = |t: f64| (t.clamp(0.0, horizon) / horizon * WIDTH * 10.0).round() / 10.0;
    let mut marks = Vec::new();
    for f in &r.scenario.faults {
        let at = f.at.as_secs_f64();
        marks.push(Mark {
            x: x(at),
            at_s: at,
            class: "fault",
            label: format!("{} on {}", f.kind.type_name(), f.target),
        });
    }
    for i in &r.observation.incidents {
        marks.push(Mark {
            x: x(i.opened_s),
            at_s: i.opened_s,
            class: "detected",
            label: format!("{} opened about {}", i.id, i.resource),
        });
        if let Some(d) = i.diagnosed_s {
            marks.push(Mark {
                x: x(d),
                at_s: d,
                class: "diagnosed",
                label: format!(
                    "{} diagnosed {}",
                    i.id,
                    i.category.map(|c| c.to_string()).unwrap_or_default()
                ),
            });
        }
        if let Some(e) = i.escalated_s {
            marks.push(Mark {
                x: x(e),
                at_s: e,
                class: "escalated",
                label: format!("{} escalated", i.id),
            });
        }
    }
    for a in &r.observation.actions {
        marks.push(Mark {
            x: x(a.at_s),
            at_s: a.at_s,
            class: "acted",
            label: a.label(),
        });
    }
    marks.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    let watched = super::score::watched_workloads(&r.scenario, &r.observation);
    let mut unhealthy = Vec::new();
    let mut open: Option<f64> = None;
    for h in &r.observation.health {
        let bad = !h.unhealthy.is_disjoint(&watched);
        match (bad, open) {
            (true, None) => open = Some(h.at_s),
            (false, Some(from)) => {
                unhealthy.push((x(from), x(h.at_s) - x(from)));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(from) = open {
        unhealthy.push((x(from), WIDTH - x(from)));
    }
    let recovered_x = r.score.ttm_s.map(|ttm| x(ttm + first_fault_s(&r.scenario)));
    let step = if horizon > 1800.0 { 300.0 } else { 120.0 };
    let ticks = (0..)
        .map(|k| k as f64 * step)
        .take_while(|t| *t <= horizon)
        .map(|t| (x(t), format!("{}m", (t / 60.0).round())))
        .collect();
    HtmlScenario {
        score: r.score.clone(),
        summary: r.scenario.summary.clone(),
        marks,
        recovered_x,
        unhealthy,
        ticks,
        first_action: first_action(r),
    }
}

/// The HTML page.
pub fn html(runs: &[ScenarioRun]) -> String {
    let summary = summary(runs);
    let scenarios: Vec<HtmlScenario> = runs.iter().map(timeline).collect();
    Page {
        summary: &summary,
        scenarios: &scenarios,
        width: WIDTH,
    }
    .render()
    .expect("the report template renders")
}
