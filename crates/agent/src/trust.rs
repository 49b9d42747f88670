//! The trust ladder on the record: fates recorded as they happen (approvals, verifications,
//! failures, a person's judgment, a person making the proposed change), rows moved by the
//! policy's `promotion:` when it says `apply: auto`, pinned by people, and the mode each row
//! puts decisions in.

use chrono::{DateTime, Utc};
use nightshift_core::policy::{Mode, Policy};
use nightshift_core::trust::{self, Event, ModeChange, Row, RowKey, Tally};
use nightshift_core::{Action, Category, ResourceRef};
use nightshift_store::{Store, StoreError, TrustChange, TrustState};

/// Who the agent's own promotions and demotions are recorded as.
pub const AGENT: &str = "nightshift";

/// The row a plan belongs to: its target's namespace (else the incident's; `-` for none),
/// its action, the diagnosis' category. `None` for escalations and doing nothing.
pub fn row_for(action: &Action, incident: &ResourceRef, category: Category) -> Option<RowKey> {
    if !action.changes_infra() {
        return None;
    }
    let namespace = action
        .target()
        .and_then(|t| t.namespace().map(str::to_string))
        .or_else(|| incident.namespace().map(str::to_string))
        .unwrap_or_else(|| "-".to_string());
    Some(RowKey {
        namespace,
        action: action.name(),
        category,
    })
}

/// The mode a row starts from: the policy's for its namespace.
fn baseline(policy: &Policy, row: &RowKey) -> Mode {
    let ns = (row.namespace != "-").then_some(row.namespace.as_str());
    policy.mode_for(ns).0
}

/// The mode the ladder sets for decisions on a row, with where it comes from: a pinned
/// row's mode always; with `promotion.apply: auto` the row's mode once it has moved. `None`:
/// the policy's own mode decides.
pub async fn mode_for(
    store: &Store,
    policy: &Policy,
    row: &RowKey,
) -> Result<Option<(Mode, String)>, StoreError> {
    let Some(state) = store.trust_state(row).await? else {
        return Ok(None);
    };
    if state.pinned {
        return Ok(Some((state.mode, format!("trust ladder: {row} pinned"))));
    }
    Ok(policy
        .promotion
        .auto
        .then(|| (state.mode, format!("trust ladder: {row}"))))
}

/// Records a fate and, with `promotion.apply: auto`, moves its row one step when the record
/// says so (a demoting fate at once). Returns the change of mode, if any. A fate already on
/// record for the incident and row changes nothing.
pub async fn record(
    store: &Store,
    policy: &Policy,
    event: &Event,
) -> Result<Option<ModeChange>, StoreError> {
    if !store.trust_record(event).await? || !policy.promotion.auto {
        return Ok(None);
    }
    let state = store.trust_state(&event.row).await?;
    if state.as_ref().is_some_and(|s| s.pinned) {
        return Ok(None);
    }
    let current = state
        .as_ref()
        .map_or_else(|| baseline(policy, &event.row), |s| s.mode);
    let since = state.as_ref().and_then(|s| s.since);
    let p = &policy.promotion;
    let (all, hands, harmful) = row_tally(store, &event.row, event.at, p, since).await?;
    let Some(change) = trust::next_mode(current, event, all, hands, harmful, p) else {
        return Ok(None);
    };
    let state = TrustState {
        row: event.row.clone(),
        mode: change.to,
        pinned: false,
        since: if event.fate.demotes() {
            Some(event.at)
        } else {
            since
        },
        changed_at: event.at,
    };
    let recorded = TrustChange {
        from: change.from,
        to: change.to,
        reason: change.reason.clone(),
        by: AGENT.to_string(),
        at: event.at,
    };
    store.trust_set(&state, &recorded).await?;
    Ok(Some(change))
}

async fn row_tally(
    store: &Store,
    row: &RowKey,
    now: DateTime<Utc>,
    p: &trust::Promotion,
    since: Option<DateTime<Utc>>,
) -> Result<(Tally, Tally, u32), StoreError> {
    let from = now - chrono::Duration::from_std(p.window).unwrap_or(chrono::Duration::MAX);
    let events = store.trust_row_events(row, from).await?;
    let refs: Vec<&Event> = events.iter().collect();
    Ok(trust::tally(&refs, now, p.window, since))
}

/// Pins a row in `mode` (a person's decision: the row never moves until unpinned), or with
/// `None` unpins it, leaving it where it is.
pub async fn pin(
    store: &Store,
    policy: &Policy,
    row: &RowKey,
    mode: Option<Mode>,
    by: &str,
    at: DateTime<Utc>,
) -> Result<TrustChange, StoreError> {
    let state = store.trust_state(row).await?;
    let from = state
        .as_ref()
        .map_or_else(|| baseline(policy, row), |s| s.mode);
    let to = mode.unwrap_or(from);
    let change = TrustChange {
        from,
        to,
        reason: match mode {
            Some(m) => format!("pinned in {m} by {by}"),
            None => format!("unpinned by {by}"),
        },
        by: by.to_string(),
        at,
    };
    let next = TrustState {
        row: row.clone(),
        mode: to,
        pinned: mode.is_some(),
        since: state.and_then(|s| s.since),
        changed_at: at,
    };
    store.trust_set(&next, &change).await?;
    Ok(change)
}

/// The ladder: every row with a fate in the window or a stored state, with its tallies, what
/// it earned under the policy and the mode it is in.
pub async fn ladder(
    store: &Store,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Vec<Row>, StoreError> {
    let p = &policy.promotion;
    let from = now - chrono::Duration::from_std(p.window).unwrap_or(chrono::Duration::MAX);
    let events = store.trust_events(from).await?;
    // A record made on a simulated cluster (whose clock runs fast) may be ahead of `now`.
    let now = events.iter().map(|e| e.at).fold(now, DateTime::max);
    let states = store.trust_states().await?;
    let mut keys: Vec<RowKey> = events.iter().map(|e| e.row.clone()).collect();
    keys.extend(states.iter().map(|s| s.row.clone()));
    keys.sort();
    keys.dedup();
    let mut rows = Vec::new();
    for key in keys {
        let state = states.iter().find(|s| s.row == key);
        let mine: Vec<&Event> = events.iter().filter(|e| e.row == key).collect();
        let since = state.and_then(|s| s.since);
        let (all, hands_on, harmful) = trust::tally(&mine, now, p.window, since);
        let earned = trust::earned(all, hands_on, harmful, p, &key.namespace);
        let mode = match state {
            Some(s) if s.pinned || p.auto => s.mode,
            _ => baseline(policy, &key),
        };
        rows.push(Row {
            all,
            hands_on,
            harmful,
            earned,
            mode,
            pinned: state.is_some_and(|s| s.pinned),
            last: mine.last().map(|e| e.at),
            key,
        });
    }
    Ok(rows)
}

/// What moves a row under the policy's `promotion:`, in a sentence, as `nightshift trust` and
/// the console's trust page say it.
pub fn promotion_rule(p: &trust::Promotion) -> String {
    format!(
        "a row earns approve with {} fates and a lower bound of {} or more \
         (auto: as many approvals and verified actions), ceiling {}; {}",
        p.min_samples,
        p.min_lower_bound,
        p.ceiling,
        if p.auto {
            "rows move themselves (promotion.apply: auto)"
        } else {
            "modes are recommendations (promotion.apply: recommend)"
        }
    )
}
