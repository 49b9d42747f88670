//! `nightshift trust [pin|unpin|mark]`: the trust ladder on the record directly.

use std::process::ExitCode;

use nightshift::config::AgentConfig;
use nightshift_agent::trust;
use nightshift_core::policy::{Mode, Policy};
use nightshift_core::trust::{Event, Fate, Row, RowKey};
use nightshift_core::{IncidentId, TimelineEntry, TimelineKind};

use super::incidents::open;
use crate::cli::{Output, TrustArgs, TrustCommand, TrustRowArgs, TrustShow};

/// Runs `trust`.
pub fn run(args: TrustArgs) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async move {
        match args.command {
            None => show(&args.show).await,
            Some(TrustCommand::Pin {
                row,
                mode,
                by,
                show: s,
            }) => {
                let mode: Mode = match mode.parse() {
                    Ok(m) => m,
                    Err(e) => return bad(&e),
                };
                pin(&s, &row, Some(mode), &by).await
            }
            Some(TrustCommand::Unpin { row, by, show: s }) => pin(&s, &row, None, &by).await,
            Some(TrustCommand::Mark {
                incident,
                verdict,
                by,
                show: s,
            }) => mark(&s, &incident, &verdict, &by).await,
        }
    })
}

fn bad(message: &str) -> anyhow::Result<ExitCode> {
    eprintln!("error: {message}");
    Ok(ExitCode::from(super::EXIT_BAD_INPUT))
}

fn policy(s: &TrustShow) -> anyhow::Result<Policy> {
    let file = match (&s.policy, &s.store.config) {
        (Some(f), _) => Some(f.clone()),
        (None, Some(c)) => AgentConfig::load(c)?.policy,
        (None, None) => None,
    };
    Ok(match file {
        Some(f) => Policy::load(&f)?,
        None => Policy::default(),
    })
}

fn row(r: &TrustRowArgs) -> Result<RowKey, String> {
    Ok(RowKey {
        namespace: r.namespace.clone(),
        action: r.action.parse()?,
        category: r.category.parse()?,
    })
}

async fn show(s: &TrustShow) -> anyhow::Result<ExitCode> {
    let policy = policy(s)?;
    let store = open(&s.store).await?;
    let rows = trust::ladder(&store, &policy, chrono::Utc::now()).await?;
    match s.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&json_rows(&rows))?),
        Output::Table => {
            println!(
                "{:<14} {:<16} {:<26} {:>7} {:>6} {:>6} {:>8} {:>7} {:<8} MODE",
                "NAMESPACE",
                "ACTION",
                "CATEGORY",
                "RIGHT",
                "RATE",
                "LOWER",
                "HANDS-ON",
                "HARMFUL",
                "EARNED"
            );
            for r in &rows {
                println!(
                    "{:<14} {:<16} {:<26} {:>7} {:>6.2} {:>6.2} {:>8} {:>7} {:<8} {}{}",
                    r.key.namespace,
                    r.key.action.as_str(),
                    r.key.category.as_str(),
                    format!("{}/{}", r.all.successes, r.all.samples),
                    r.all.rate(),
                    r.all.lower_bound(),
                    format!("{}/{}", r.hands_on.successes, r.hands_on.samples),
                    r.harmful,
                    r.earned.as_str(),
                    r.mode.as_str(),
                    if r.pinned { " (pinned)" } else { "" }
                );
            }
            println!(
                "\n{} rows; {}",
                rows.len(),
                trust::promotion_rule(&policy.promotion)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn json_rows(rows: &[Row]) -> serde_json::Value {
    serde_json::Value::Array(
        rows.iter()
            .map(|r| {
                serde_json::json!({
                    "namespace": r.key.namespace,
                    "action": r.key.action,
                    "category": r.key.category,
                    "successes": r.all.successes,
                    "samples": r.all.samples,
                    "success_rate": r.all.rate(),
                    "lower_bound": r.all.lower_bound(),
                    "hands_on": {"successes": r.hands_on.successes, "samples": r.hands_on.samples},
                    "harmful": r.harmful,
                    "earned": r.earned,
                    "mode": r.mode,
                    "pinned": r.pinned,
                    "last": r.last,
                })
            })
            .collect(),
    )
}

async fn pin(
    s: &TrustShow,
    r: &TrustRowArgs,
    mode: Option<Mode>,
    by: &str,
) -> anyhow::Result<ExitCode> {
    let key = match row(r) {
        Ok(k) => k,
        Err(e) => return bad(&e),
    };
    if by.trim().is_empty() {
        return bad("--as must name who changes the row");
    }
    let policy = policy(s)?;
    let store = open(&s.store).await?;
    let change = trust::pin(&store, &policy, &key, mode, by.trim(), chrono::Utc::now()).await?;
    println!("{key}: {} → {}: {}", change.from, change.to, change.reason);
    Ok(ExitCode::SUCCESS)
}

async fn mark(s: &TrustShow, incident: &str, verdict: &str, by: &str) -> anyhow::Result<ExitCode> {
    let fate = match verdict {
        "right" => Fate::Agreed,
        "wrong" => Fate::Disagreed,
        "harmful" => Fate::Harmful,
        other => {
            return bad(&format!(
                "unknown verdict {other:?}; expected right, wrong or harmful"
            ));
        }
    };
    let by = nightshift_core::text::one_line(by, 200);
    if by.is_empty() {
        return bad("--as must name who judges");
    }
    let policy = policy(s)?;
    let store = open(&s.store).await?;
    let id = IncidentId(incident.to_string());
    let Some(stored) = store.get(&id).await? else {
        return bad(&format!("incident {incident} not found"));
    };
    let Some(category) = stored.incident.category else {
        return bad(&format!("incident {incident} has no diagnosis to judge"));
    };
    let Some(d) = store.decisions(&id).await?.pop() else {
        return bad(&format!("incident {incident} has no proposal to judge"));
    };
    let Some(key) = trust::row_for(&d.plan.action, &stored.incident.resource, category) else {
        return bad(&format!(
            "incident {incident}'s proposal ({}) changes nothing; there is nothing to judge",
            d.plan.action.name()
        ));
    };
    let now = chrono::Utc::now();
    let event = Event {
        row: key.clone(),
        incident: id.0.clone(),
        fate,
        at: now,
        by: by.clone(),
        detail: format!("marked {verdict} by {by}"),
    };
    let change = trust::record(&store, &policy, &event).await?;
    let mut entry = TimelineEntry {
        at: now,
        kind: TimelineKind::Note,
        message: format!(
            "{by} marked the proposal {} {verdict}",
            d.plan.action.name()
        ),
        data: serde_json::json!({ nightshift_agent::engine::FATE_KEY: event }),
    };
    store.append(&id, &entry).await?;
    println!("{incident}: {key} marked {verdict} by {by}");
    if let Some(c) = change {
        entry.message = format!(
            "trust ladder: {} from {} to {}: {}",
            c.row, c.from, c.to, c.reason
        );
        entry.data = serde_json::json!({ nightshift_core::notice::TRUST_CHANGE_KEY: c });
        store.append(&id, &entry).await?;
        println!("{}", entry.message);
    }
    Ok(ExitCode::SUCCESS)
}
