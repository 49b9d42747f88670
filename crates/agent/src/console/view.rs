//! What the pages show: the records of the store turned into plain strings for the templates,
//! and the templates themselves.

use askama::Template;
use chrono::{DateTime, Utc};
use nightshift_core::{Incident, State};

pub use super::incident_view::{IncidentPage, Record, incident_page};

/// The header every page carries: who is signed in, and the token of the sign-out form.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    /// The identity's name (`None` on the sign-in page).
    pub who: Option<String>,
    /// Its role.
    pub role: String,
    /// The session's CSRF token.
    pub csrf: String,
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "console/sign_in.html")]
pub struct SignInPage {
    /// Header.
    pub chrome: Chrome,
    /// The double-submitted token of the form.
    pub csrf: String,
    /// Where to go after signing in.
    pub next: String,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// The identity provider's name and the link that starts signing in there, when
    /// `console.oidc` is configured.
    pub oidc: Option<(String, String)>,
}

/// A page that reports a refusal or a failure.
#[derive(Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage {
    /// Header.
    pub chrome: Chrome,
    /// The status, e.g. `403 Forbidden`.
    pub title: String,
    /// The sentence.
    pub message: String,
}

/// One row of the incident list.
#[derive(Debug, Clone)]
pub struct IncidentRow {
    /// Id.
    pub id: String,
    /// State.
    pub state: String,
    /// Whether it waits for an approval.
    pub awaiting: bool,
    /// The highest `severity` label of its alerts, or `-`.
    pub severity: String,
    /// Namespace, or `-`.
    pub namespace: String,
    /// Resource.
    pub resource: String,
    /// Title.
    pub title: String,
    /// Category, or `-`.
    pub category: String,
    /// When it was opened.
    pub opened: String,
    /// How long ago.
    pub age: String,
    /// Time from opening to resolution, or `-`.
    pub ttm: String,
}

/// The incident list.
#[derive(Template)]
#[template(path = "console/incidents.html")]
pub struct IncidentsPage {
    /// Header.
    pub chrome: Chrome,
    /// The rows of this page.
    pub rows: Vec<IncidentRow>,
    /// Incidents matching the filters.
    pub matching: usize,
    /// The states offered in the filter.
    pub states: Vec<&'static str>,
    /// The namespaces offered in the filter.
    pub namespaces: Vec<String>,
    /// The state filter (`""`: any).
    pub state: String,
    /// The namespace filter (`""`: any).
    pub namespace: String,
    /// The search text.
    pub q: String,
    /// The page shown, from 1.
    pub page: usize,
    /// Pages in all.
    pub pages: usize,
    /// The previous page's link.
    pub prev: Option<String>,
    /// The next page's link.
    pub next: Option<String>,
}

/// A value's name as the API spells it (`awaiting_approval`, `high`, ...).
pub fn label<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

/// A time as the pages show it.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A duration, coarsely: `45s`, `12m`, `3h 5m`, `2d 4h`.
pub fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

/// The rank of a `severity` label as Alertmanager rules and paging tools spell them; unknown
/// words rank lowest.
fn severity_rank(label: &str) -> u8 {
    match label.to_ascii_lowercase().as_str() {
        "critical" | "page" | "fatal" | "emergency" | "p1" => 4,
        "error" | "high" | "major" | "p2" => 3,
        "warning" | "warn" | "medium" | "minor" | "p3" => 2,
        "info" | "low" | "notice" | "p4" | "p5" => 1,
        _ => 0,
    }
}

/// The highest of an incident's alerts' `severity` labels, or `-` when none has one.
pub fn highest_severity<'a>(labels: impl Iterator<Item = &'a str>) -> String {
    labels
        .max_by_key(|l| (severity_rank(l), std::cmp::Reverse(l.to_string())))
        .map_or("-".into(), str::to_string)
}

/// A row of the list.
pub fn row(i: &Incident, now: DateTime<Utc>) -> IncidentRow {
    IncidentRow {
        id: i.id.0.clone(),
        state: label(&i.state),
        awaiting: i.state == State::AwaitingApproval,
        severity: "-".into(),
        namespace: i.resource.namespace().unwrap_or("-").to_string(),
        resource: i.resource.to_string(),
        title: i.title.clone(),
        category: i.category.map_or("-".into(), |c| c.to_string()),
        opened: time(i.opened_at),
        age: span((now - i.opened_at).num_seconds()),
        ttm: i
            .resolved_at
            .map_or("-".into(), |r| span((r - i.opened_at).num_seconds())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_record_is_escaped() {
        let page = ErrorPage {
            chrome: Chrome {
                who: Some("<b>eve</b>".into()),
                role: "viewer".into(),
                csrf: "\"><script>".into(),
            },
            title: "404 Not Found".into(),
            message: "incident <script>alert(1)</script> not found".into(),
        }
        .render()
        .unwrap();
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("<b>eve"), "{page}");
        assert!(page.contains("&#60;script&#62;alert(1)"), "{page}");
    }

    #[test]
    fn the_highest_severity_is_shown() {
        let h = |l: &[&str]| highest_severity(l.iter().copied());
        assert_eq!(h(&["warning", "critical", "info"]), "critical");
        assert_eq!(h(&["info", "Warning"]), "Warning");
        assert_eq!(h(&["whatever", "low"]), "low");
        assert_eq!(h(&[]), "-");
    }

    #[test]
    fn spans_are_coarse() {
        assert_eq!(span(-3), "0s");
        assert_eq!(span(45), "45s");
        assert_eq!(span(12 * 60 + 5), "12m");
        assert_eq!(span(3 * 3600 + 5 * 60), "3h 5m");
        assert_eq!(span(2 * 86400 + 4 * 3600), "2d 4h");
    }
}
