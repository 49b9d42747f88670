use chrono::{TimeZone, Utc};

use super::*;

fn key(ns: &str) -> RowKey {
    RowKey {
        namespace: ns.into(),
        action: ActionName::RolloutRestart,
        category: Category::MemoryLeak,
    }
}

fn event(ns: &str, fate: Fate, minute: i64) -> Event {
    Event {
        row: key(ns),
        incident: format!("inc-{minute:06}"),
        fate,
        at: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(minute),
        by: "alice".into(),
        detail: fate.as_str().into(),
    }
}

fn policy() -> Promotion {
    Promotion {
        auto: true,
        window: Duration::from_secs(30 * 86_400),
        min_samples: 5,
        min_lower_bound: 0.5,
        ceiling: Mode::Auto,
        namespace_ceilings: [("payments".to_string(), Mode::Approve)].into(),
    }
}

#[test]
fn the_lower_bound_is_cautious_with_few_samples() {
    assert_eq!(lower_bound(0, 0), 0.0);
    let four = lower_bound(4, 4);
    assert!((0.50..0.52).contains(&four), "{four}");
    let many = lower_bound(95, 100);
    assert!((0.88..0.90).contains(&many), "{many}");
    assert!(lower_bound(5, 10) < 0.5);
}

#[test]
fn agreements_earn_approve_and_hands_on_successes_earn_auto_under_the_ceiling() {
    let p = policy();
    let obs: Vec<Event> = (0..6).map(|i| event("shop", Fate::Agreed, i)).collect();
    let refs: Vec<&Event> = obs.iter().collect();
    let now = obs.last().unwrap().at;
    let (all, hands, harm) = tally(&refs, now, p.window, None);
    assert_eq!(
        (all.successes, all.samples, hands.samples, harm),
        (6, 6, 0, 0)
    );
    assert_eq!(earned(all, hands, harm, &p, "shop"), Mode::Approve);

    let mut more = obs.clone();
    more.extend((10..16).map(|i| event("shop", Fate::Verified, i)));
    let refs: Vec<&Event> = more.iter().collect();
    let (all, hands, harm) = tally(&refs, more.last().unwrap().at, p.window, None);
    assert_eq!(earned(all, hands, harm, &p, "shop"), Mode::Auto);
    // The same record in a namespace whose ceiling is approve.
    assert_eq!(earned(all, hands, harm, &p, "payments"), Mode::Approve);
    // One harmful judgment in the window: observe.
    more.push(event("shop", Fate::Harmful, 20));
    let refs: Vec<&Event> = more.iter().collect();
    let (all, hands, harm) = tally(&refs, more.last().unwrap().at, p.window, None);
    assert_eq!(earned(all, hands, harm, &p, "shop"), Mode::Observe);
}

#[test]
fn a_run_of_successes_promotes_step_by_step_and_one_failure_demotes_at_once() {
    let p = policy();
    let mut mode = Mode::Observe;
    let mut events: Vec<Event> = Vec::new();
    let mut since = None;
    let mut changes = Vec::new();
    let mut feed = |fate: Fate,
                    minute: i64,
                    mode: &mut Mode,
                    since: &mut Option<_>,
                    changes: &mut Vec<ModeChange>| {
        let e = event("shop", fate, minute);
        events.push(e.clone());
        let refs: Vec<&Event> = events.iter().collect();
        let (all, hands, harm) = tally(&refs, e.at, p.window, *since);
        if let Some(c) = next_mode(*mode, &e, all, hands, harm, &p) {
            if fate.demotes() {
                *since = Some(e.at);
            }
            *mode = c.to;
            changes.push(c);
        }
    };
    for i in 0..5 {
        feed(Fate::Agreed, i, &mut mode, &mut since, &mut changes);
    }
    assert_eq!(mode, Mode::Approve);
    for i in 5..10 {
        feed(Fate::Approved, i, &mut mode, &mut since, &mut changes);
    }
    assert_eq!(mode, Mode::Auto);
    feed(Fate::Failed, 11, &mut mode, &mut since, &mut changes);
    assert_eq!(mode, Mode::Approve);
    assert!(changes.last().unwrap().reason.contains("demoted at once"));
    // Before the demotion nothing counts: one more success does not climb back.
    feed(Fate::Verified, 12, &mut mode, &mut since, &mut changes);
    assert_eq!(mode, Mode::Approve);
    assert_eq!(
        changes.iter().map(|c| (c.from, c.to)).collect::<Vec<_>>(),
        [
            (Mode::Observe, Mode::Approve),
            (Mode::Approve, Mode::Auto),
            (Mode::Auto, Mode::Approve)
        ]
    );
}

#[test]
fn fates_read_back_from_their_names() {
    for f in [Fate::Agreed, Fate::Rejected, Fate::Harmful] {
        assert_eq!(f.as_str().parse::<Fate>(), Ok(f));
    }
    assert!("maybe".parse::<Fate>().is_err());
}
