//! The policy in force, as `nightshift policy check` explains it, and the agent's health: its
//! standing among replicas, the store, the cluster connection, the analyzer and the
//! notification destinations.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::lead::Standing;

use super::*;

/// How long the page waits for the store or the cluster to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// One line of the health list.
#[derive(Debug, Clone)]
pub struct HealthView {
    /// What.
    pub name: String,
    /// Its state, in a sentence.
    pub value: String,
    /// Whether it is a problem.
    pub bad: bool,
}

/// A line of the policy's explanation with the lines indented under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLine {
    /// The line.
    pub text: String,
    /// Lines under it.
    pub items: Vec<String>,
}

/// A notification destination.
#[derive(Debug, Clone)]
pub struct DestinationView {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Delivered since start.
    pub delivered: u64,
    /// Waiting in the outbox.
    pub pending: u64,
    /// Failed tries since start.
    pub failed_tries: u64,
    /// Given up since start.
    pub given_up: u64,
    /// The last failure, or `-`.
    pub last_error: String,
}

/// The page.
#[derive(Template)]
#[template(path = "console/status.html")]
pub struct StatusPage {
    /// Header.
    pub chrome: Chrome,
    /// Health lines.
    pub health: Vec<HealthView>,
    /// Destinations.
    pub destinations: Vec<DestinationView>,
    /// The policy's explanation.
    pub policy: Vec<PolicyLine>,
    /// Where the policy came from.
    pub origin: String,
}

/// The report's lines, each with the indented lines that follow it.
pub fn outline(report: &str) -> Vec<PolicyLine> {
    let mut out: Vec<PolicyLine> = Vec::new();
    for line in report.lines().filter(|l| !l.trim().is_empty()) {
        match (line.starts_with(' '), out.last_mut()) {
            (true, Some(last)) => last.items.push(line.trim().to_string()),
            _ => out.push(PolicyLine {
                text: line.trim().to_string(),
                items: vec![],
            }),
        }
    }
    out
}

fn line(name: &str, value: impl Into<String>, bad: bool) -> HealthView {
    HealthView {
        name: name.into(),
        value: value.into(),
        bad,
    }
}

async fn health<A: Analyzer + 'static>(st: &ApiState<A>) -> Vec<HealthView> {
    let engine = &st.engine;
    let mut out = vec![line(
        "agent",
        format!(
            "nightshift {}, {}",
            env!("CARGO_PKG_VERSION"),
            if st.ready.load(std::sync::atomic::Ordering::Acquire) {
                "ready"
            } else {
                "starting"
            }
        ),
        !st.ready.load(std::sync::atomic::Ordering::Acquire),
    )];
    out.push(match engine.lead().standing() {
        Standing::Leads(Some(term)) => line(
            "leader",
            format!("this replica leads (term {term}) and runs the loop"),
            false,
        ),
        Standing::Leads(None) => line("leader", "one replica: this one runs the loop", false),
        Standing::Follows => line(
            "leader",
            "another replica leads; this one serves the API and the console from the shared store",
            false,
        ),
    });
    let started = Instant::now();
    let store = tokio::time::timeout(PROBE_TIMEOUT, engine.store().newest_timeline_seq(None)).await;
    let dialect = match engine.store().dialect() {
        nightshift_store::Dialect::Sqlite => "SQLite",
        nightshift_store::Dialect::Postgres => "PostgreSQL",
    };
    out.push(match store {
        Ok(Ok(_)) => line(
            "store",
            format!(
                "{dialect}, answered in {} ms",
                started.elapsed().as_millis()
            ),
            false,
        ),
        Ok(Err(e)) => line("store", format!("{dialect}: {e}"), true),
        Err(_) => line(
            "store",
            format!("{dialect}: no answer within {}s", PROBE_TIMEOUT.as_secs()),
            true,
        ),
    });
    let started = Instant::now();
    let version = tokio::time::timeout(PROBE_TIMEOUT, engine.cluster().apiserver_version()).await;
    out.push(match version {
        Ok(Ok(v)) => line(
            "cluster",
            format!(
                "API server {} answered in {} ms",
                v.git_version,
                started.elapsed().as_millis()
            ),
            false,
        ),
        Ok(Err(e)) => line("cluster", format!("unreachable: {e}"), true),
        Err(_) => line(
            "cluster",
            format!("no answer within {}s", PROBE_TIMEOUT.as_secs()),
            true,
        ),
    });
    out.push(line("analyzer", engine.analyzer_name(), false));
    let backlog = engine.backlog();
    out.push(line(
        "work",
        format!(
            "{} incidents in flight: {} waiting for a worker, {} on a worker, {} waiting for a time",
            backlog.total(),
            backlog.ready,
            backlog.running,
            backlog.waiting
        ),
        false,
    ));
    for w in &st.warnings {
        out.push(line("warning", w.clone(), true));
    }
    if let Some(problem) = engine.policy_problem() {
        out.push(line("policy file", problem, true));
    }
    out
}

async fn destinations<A: Analyzer + 'static>(st: &ApiState<A>) -> Vec<DestinationView> {
    let Some(outbox) = &st.outbox else {
        return vec![];
    };
    let pending: BTreeMap<String, u64> = st
        .engine
        .store()
        .outbox_backlog()
        .await
        .unwrap_or_default()
        .into_iter()
        .collect();
    let counts = outbox.counts();
    outbox
        .destinations()
        .iter()
        .map(|d| {
            let c = counts.get(d.name()).cloned().unwrap_or_default();
            DestinationView {
                name: d.name().to_string(),
                kind: d.kind().to_string(),
                delivered: c.delivered,
                pending: pending.get(d.name()).copied().unwrap_or(0),
                failed_tries: c.failed_tries,
                given_up: c.given_up,
                last_error: c.last_error.unwrap_or_else(|| "-".into()),
            }
        })
        .collect()
}

/// `GET /console/status`.
pub(super) async fn status<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (_, s, cookie) = match page_session(&st, &headers, &uri).await {
        Ok(x) => x,
        Err(res) => return res,
    };
    let policy = st.engine.policy();
    let page = StatusPage {
        chrome: chrome(&s),
        health: health(&st).await,
        destinations: destinations(&st).await,
        policy: outline(&policy.check_report()),
        origin: policy.origin.clone(),
    };
    finish(html(StatusCode::OK, page.render()), cookie)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_report_keeps_its_indented_lines_under_their_heading() {
        let report = "policy p.yaml: valid\nmode: approve (everywhere)\n  namespace shop: auto\n  namespace pay: observe\n\nforbidden:\n  delete-namespace\n";
        let o = outline(report);
        assert_eq!(o.len(), 3);
        assert_eq!(o[1].text, "mode: approve (everywhere)");
        assert_eq!(
            o[1].items,
            ["namespace shop: auto", "namespace pay: observe"]
        );
        assert_eq!(o[2].items, ["delete-namespace"]);
        assert!(o[0].items.is_empty());
    }

    #[test]
    fn the_lab_policy_is_explained_in_full() {
        let policy = nightshift_core::policy::Policy::default();
        let report = policy.check_report();
        let o = outline(&report);
        let lines: usize = o.iter().map(|l| 1 + l.items.len()).sum();
        assert_eq!(
            lines,
            report.lines().filter(|l| !l.trim().is_empty()).count()
        );
        assert!(o.iter().any(|l| l.text.starts_with("forbidden")));
    }
}
