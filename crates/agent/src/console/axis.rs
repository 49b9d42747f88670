//! The incident's timeline drawn on a time axis: one lane per part of the loop, one mark per
//! entry, in the style of the evaluation's HTML report.

use chrono::{DateTime, Utc};
use nightshift_core::{Incident, TimelineEntry, TimelineKind};

use super::view::{label, span, time};

/// Drawing width of the time axis, in SVG units, right of the lane names.
pub const AXIS_WIDTH: f64 = 900.0;
/// Width of the lane names.
pub const AXIS_GUTTER: f64 = 100.0;
/// Height of one lane.
const LANE: f64 = 22.0;

/// The lanes of the time axis and the timeline kinds each shows.
const LANES: [(&str, &[TimelineKind]); 7] = [
    ("signals", &[TimelineKind::Signal]),
    ("evidence", &[TimelineKind::Evidence]),
    ("diagnosis", &[TimelineKind::Diagnosis, TimelineKind::Plan]),
    (
        "decision",
        &[TimelineKind::Decision, TimelineKind::Approval],
    ),
    (
        "action",
        &[
            TimelineKind::Intent,
            TimelineKind::DryRun,
            TimelineKind::Action,
        ],
    ),
    ("verification", &[TimelineKind::Verification]),
    (
        "state",
        &[
            TimelineKind::Transition,
            TimelineKind::Note,
            TimelineKind::Notification,
        ],
    ),
];

/// A mark on the time axis.
#[derive(Debug, Clone)]
pub struct AxisMark {
    /// Position.
    pub x: f64,
    /// Lane position.
    pub y: f64,
    /// The entry's kind, as a class.
    pub class: String,
    /// Tooltip: time, kind, message.
    pub label: String,
}

/// The incident's timeline on a time axis.
#[derive(Debug, Clone)]
pub struct Axis {
    /// Total width.
    pub width: f64,
    /// Total height.
    pub height: f64,
    /// Where the drawing starts (right of the lane names).
    pub left: f64,
    /// Lanes: name, y.
    pub lanes: Vec<(String, f64)>,
    /// Ticks: x, label.
    pub ticks: Vec<(f64, String)>,
    /// Marks.
    pub marks: Vec<AxisMark>,
    /// One sentence for screen readers.
    pub summary: String,
}

/// A tick step for `seconds` of axis: at most about eight ticks.
fn tick_step(seconds: f64) -> f64 {
    const STEPS: [f64; 12] = [
        1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0,
    ];
    STEPS
        .into_iter()
        .find(|s| seconds / s <= 8.0)
        .unwrap_or(86400.0)
}

fn tick_label(t: f64) -> String {
    let s = t.round() as i64;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, 0) => "0".into(),
        (0, 0, sec) => format!("+{sec}s"),
        (0, m, 0) => format!("+{m}m"),
        (0, m, sec) => format!("+{m}m{sec:02}s"),
        (h, 0, _) => format!("+{h}h"),
        (h, m, _) => format!("+{h}h{m:02}m"),
    }
}

/// The timeline drawn on a time axis from the incident's opening to its last entry.
pub fn axis(incident: &Incident, timeline: &[TimelineEntry]) -> Axis {
    let start = incident.opened_at;
    let end = timeline
        .iter()
        .map(|e| e.at)
        .chain(incident.resolved_at)
        .max()
        .unwrap_or(start)
        .max(start);
    let seconds = ((end - start).num_milliseconds() as f64 / 1000.0).max(1.0);
    let x = |t: DateTime<Utc>| {
        let s = ((t - start).num_milliseconds() as f64 / 1000.0).clamp(0.0, seconds);
        AXIS_GUTTER + (s / seconds * AXIS_WIDTH * 10.0).round() / 10.0
    };
    let lane_y = |i: usize| 14.0 + i as f64 * LANE;
    let marks = timeline
        .iter()
        .map(|e| {
            let lane = LANES
                .iter()
                .position(|(_, kinds)| kinds.contains(&e.kind))
                .unwrap_or(LANES.len() - 1);
            AxisMark {
                x: x(e.at),
                y: lane_y(lane),
                class: label(&e.kind),
                label: format!("{} {}: {}", time(e.at), label(&e.kind), e.message),
            }
        })
        .collect();
    let step = tick_step(seconds);
    let ticks = (0..)
        .map(|k| k as f64 * step)
        .take_while(|t| *t <= seconds)
        .map(|t| {
            (
                AXIS_GUTTER + (t / seconds * AXIS_WIDTH * 10.0).round() / 10.0,
                tick_label(t),
            )
        })
        .collect();
    Axis {
        width: AXIS_GUTTER + AXIS_WIDTH + 10.0,
        height: lane_y(LANES.len()) + 8.0,
        left: AXIS_GUTTER,
        lanes: LANES
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.to_string(), lane_y(i)))
            .collect(),
        ticks,
        marks,
        summary: format!(
            "{} timeline entries over {} from {}",
            timeline.len(),
            span(seconds as i64),
            time(start)
        ),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use chrono::TimeZone;
    use nightshift_core::resource::ResourceRef;
    use nightshift_core::{IncidentId, State};

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    /// An entry `s` seconds after the incident opened.
    pub(in crate::console) fn e(s: i64, kind: TimelineKind, message: &str) -> TimelineEntry {
        TimelineEntry {
            at: at(s),
            kind,
            message: message.into(),
            data: serde_json::json!({}),
        }
    }

    #[test]
    fn the_axis_places_entries_in_time_and_in_their_lanes() {
        let incident = Incident {
            id: IncidentId("inc-000001".into()),
            state: State::Closed,
            resource: ResourceRef::deployment("shop", "web"),
            title: "web is not ready".into(),
            category: None,
            root_cause: None,
            attempts: 1,
            opened_at: at(0),
            updated_at: at(600),
            resolved_at: Some(at(600)),
        };
        let timeline = [
            e(0, TimelineKind::Signal, "KubePodCrashLooping"),
            e(30, TimelineKind::Diagnosis, "bad rollout"),
            e(300, TimelineKind::Action, "rolled back"),
            e(600, TimelineKind::Verification, "Recovered"),
        ];
        let a = axis(&incident, &timeline);
        let xs: Vec<f64> = a.marks.iter().map(|m| m.x).collect();
        assert_eq!(xs, [100.0, 145.0, 550.0, 1000.0]);
        let lane = |name: &str| a.lanes.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(a.marks[0].y, lane("signals"));
        assert_eq!(a.marks[1].y, lane("diagnosis"));
        assert_eq!(a.marks[2].y, lane("action"));
        assert_eq!(a.marks[3].y, lane("verification"));
        // Ten minutes: a tick every two minutes, from 0.
        let labels: Vec<&str> = a.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "+2m", "+4m", "+6m", "+8m", "+10m"]);
        assert!(a.marks[2].label.contains("action: rolled back"));
        assert_eq!(tick_label(90.0), "+1m30s");
        assert_eq!(tick_label(5400.0), "+1h30m");
        assert_eq!(tick_label(7200.0), "+2h");
        assert!(a.summary.starts_with("4 timeline entries over 10m"));
    }
}
