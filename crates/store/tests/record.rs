//! The incident record against real databases: every test runs on SQLite (a temporary file)
//! and on PostgreSQL (a fresh schema).

mod common;

use std::sync::Arc;

use common::{TestDb, alert, analysis, at, checkout, evidence, needs_approval, rollback_plan};
use nightshift_core::{
    Action, ActionName, IncidentId, ResourceRef, SignalSource, SignalStatus, State, TimelineEntry,
    TimelineKind,
};
use nightshift_store::{
    ActionStatus, ApprovalAnswer, ApprovalStatus, IncidentFilter, NewIncident, SignalKey,
    SignalOutcome, Store, StoreError, StoredIncident,
};
use serde_json::json;

on_both!(
    migrations_apply_twice,
    repeated_fingerprints_are_duplicates,
    large_batches_keep_their_order,
    resolved_signals_reach_their_incident,
    stale_updates_are_refused,
    timeline_keeps_append_order,
    intents_survive_a_crash,
    a_restart_loses_nothing,
    approvals_pending_answered_and_expired,
    actions_for_target_respect_the_window,
    correlation_opens_one_incident_per_resource,
    listing_and_stats,
    bad_references_are_named,
);

fn new_incident(resource: &ResourceRef, fingerprint: Option<&str>) -> NewIncident {
    NewIncident {
        resource: resource.clone(),
        title: format!("{resource} is crash looping"),
        opened_at: at(0),
        signal: fingerprint.map(|f| SignalKey {
            source: SignalSource::Alertmanager,
            fingerprint: f.to_owned(),
        }),
    }
}

/// Moves an incident along the happy path to `planned`, one update per step.
async fn to_planned(store: &Store, stored: &mut StoredIncident) {
    for (i, to) in [State::Collecting, State::Analyzing, State::Planned]
        .into_iter()
        .enumerate()
    {
        let entry = stored.transition(to, at(i as i64 + 1), "next").unwrap();
        store.update_incident(stored, &[entry]).await.unwrap();
    }
}

fn note(minute: i64, message: &str) -> TimelineEntry {
    TimelineEntry {
        at: at(minute),
        kind: TimelineKind::Note,
        message: message.to_owned(),
        data: json!({ "n": message }),
    }
}

async fn migrations_apply_twice(db: &TestDb) {
    let first = db.open().await;
    first.migrate().await.unwrap();
    let incident = first
        .create_incident(&new_incident(&checkout(), None))
        .await
        .unwrap();
    let second = db.open().await;
    second.migrate().await.unwrap();
    assert_eq!(db.applied_migrations().await, 1);
    assert_eq!(second.get(&incident.id).await.unwrap(), Some(incident));
    first.close().await;
    second.close().await;
}

async fn repeated_fingerprints_are_duplicates(db: &TestDb) {
    let store = db.open().await;
    let firing = alert("fp-1", SignalStatus::Firing, &checkout());
    let mut watcher = firing.clone();
    watcher.source = SignalSource::Watcher;
    let other = alert("fp-2", SignalStatus::Firing, &checkout());
    let outcomes = store
        .record_signals(&[
            firing.clone(),
            firing.clone(),
            watcher.clone(),
            other,
            firing.clone(),
        ])
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        [
            SignalOutcome::New,
            SignalOutcome::Duplicate { incident: None },
            SignalOutcome::New,
            SignalOutcome::New,
            SignalOutcome::Duplicate { incident: None },
        ]
    );

    // Once correlated, repeats name the incident they belong to.
    let incident = store
        .create_incident(&new_incident(&checkout(), Some("fp-1")))
        .await
        .unwrap();
    assert_eq!(
        store.record_signal(&firing).await.unwrap(),
        SignalOutcome::Duplicate {
            incident: Some(incident.id.clone())
        }
    );
    assert_eq!(store.stats().await.unwrap().signals, 3);
    assert!(store.record_signals(&[]).await.unwrap().is_empty());
    store.close().await;
}

async fn large_batches_keep_their_order(db: &TestDb) {
    let store = db.open().await;
    let node = ResourceRef::node("worker-9");
    let firing: Vec<_> = (0..450)
        .map(|i| alert(&format!("storm-{i}"), SignalStatus::Firing, &node))
        .collect();
    // Every signal twice, then some resolutions: the batch is split into statements where a
    // fingerprint repeats, and outcomes come back in input order.
    let mut batch = firing.clone();
    batch.extend(firing.iter().cloned());
    batch.extend(
        (0..450)
            .step_by(3)
            .map(|i| alert(&format!("storm-{i}"), SignalStatus::Resolved, &node)),
    );
    let outcomes = store.record_signals(&batch).await.unwrap();
    assert_eq!(outcomes.len(), batch.len());
    assert!(outcomes[..450].iter().all(|o| *o == SignalOutcome::New));
    assert!(
        outcomes[450..900]
            .iter()
            .all(|o| *o == SignalOutcome::Duplicate { incident: None })
    );
    assert!(
        outcomes[900..]
            .iter()
            .all(|o| *o == SignalOutcome::Resolved { incident: None })
    );
    assert_eq!(store.stats().await.unwrap().signals, 450);
    // Resolved ones fire again as news; the others are still repeats.
    let again = store.record_signals(&firing[..6]).await.unwrap();
    assert_eq!(
        again,
        [
            SignalOutcome::New,
            SignalOutcome::Duplicate { incident: None },
            SignalOutcome::Duplicate { incident: None },
            SignalOutcome::New,
            SignalOutcome::Duplicate { incident: None },
            SignalOutcome::Duplicate { incident: None },
        ]
    );
    store.close().await;
}

async fn resolved_signals_reach_their_incident(db: &TestDb) {
    let store = db.open().await;
    let firing = alert("fp-r", SignalStatus::Firing, &checkout());
    let resolved = alert("fp-r", SignalStatus::Resolved, &checkout());
    let key = SignalKey::of(&firing);
    assert_eq!(
        store.record_signal(&firing).await.unwrap(),
        SignalOutcome::New
    );
    let incident = store
        .create_incident(&new_incident(&checkout(), Some("fp-r")))
        .await
        .unwrap();
    let id = incident.id.clone();
    assert_eq!(
        store.record_signal(&resolved).await.unwrap(),
        SignalOutcome::Resolved {
            incident: Some(id.clone())
        }
    );
    assert_eq!(
        store.record_signal(&resolved).await.unwrap(),
        SignalOutcome::Duplicate {
            incident: Some(id.clone())
        }
    );
    let timeline = store.timeline(&id).await.unwrap();
    let signal_lines: Vec<&str> = timeline
        .iter()
        .filter(|e| e.kind == TimelineKind::Signal)
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(
        signal_lines,
        [
            "signal KubePodCrashLooping (firing) joined",
            "signal KubePodCrashLooping resolved"
        ]
    );
    assert_eq!(timeline.last().unwrap().at, at(30));

    // Firing again after resolving is news, detached from the old incident.
    assert_eq!(
        store.record_signal(&firing).await.unwrap(),
        SignalOutcome::New
    );
    assert_eq!(store.signal_incident(&key).await.unwrap(), None);

    // A resolution for a fingerprint never seen firing joins nothing.
    assert_eq!(
        store
            .record_signal(&alert("fp-unknown", SignalStatus::Resolved, &checkout()))
            .await
            .unwrap(),
        SignalOutcome::Resolved { incident: None }
    );
    store.close().await;
}

async fn stale_updates_are_refused(db: &TestDb) {
    let store = db.open().await;
    let created = store
        .create_incident(&new_incident(&checkout(), None))
        .await
        .unwrap();
    assert_eq!(created.id.0, "inc-000001");
    assert_eq!(created.version, 1);
    let mut first = store.get(&created.id).await.unwrap().unwrap();
    let mut second = first.clone();

    let entry = first
        .transition(State::Collecting, at(1), "collect")
        .unwrap();
    store.update_incident(&mut first, &[entry]).await.unwrap();
    assert_eq!(first.version, 2);

    let entry = second.transition(State::Collecting, at(2), "late").unwrap();
    second.title = "lost update".into();
    let err = store
        .update_incident(&mut second, &[entry])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Concurrent {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "incident inc-000001 was modified concurrently (expected version 1, found 2)"
    );
    assert_eq!(
        second.version, 1,
        "a refused update leaves the version alone"
    );

    let now = store.get(&created.id).await.unwrap().unwrap();
    assert_eq!(now, first);
    let timeline = store.timeline(&created.id).await.unwrap();
    assert!(timeline.iter().all(|e| !e.message.contains("late")));

    // The reader who lost refreshes and goes on.
    let mut fresh = store.get(&created.id).await.unwrap().unwrap();
    let entry = fresh
        .transition(State::Analyzing, at(3), "analyze")
        .unwrap();
    store.update_incident(&mut fresh, &[entry]).await.unwrap();
    assert_eq!(fresh.version, 3);

    let mut ghost = fresh.clone();
    ghost.incident.id = IncidentId("inc-999999".into());
    let err = store.update_incident(&mut ghost, &[]).await.unwrap_err();
    assert_eq!(err.to_string(), "incident inc-999999 does not exist");
    store.close().await;
}

async fn timeline_keeps_append_order(db: &TestDb) {
    let store = db.open().await;
    let a = store
        .create_incident(&new_incident(&checkout(), None))
        .await
        .unwrap();
    let b = store
        .create_incident(&new_incident(&ResourceRef::node("worker-2"), None))
        .await
        .unwrap();
    // Append order wins over timestamps, which may come from different clocks.
    let mut seqs = Vec::new();
    for (minute, text) in [
        (9, "third-by-clock"),
        (1, "first-by-clock"),
        (5, "second-by-clock"),
    ] {
        seqs.push(store.append(&a.id, &note(minute, text)).await.unwrap());
        store.append(&b.id, &note(minute, "other")).await.unwrap();
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let messages: Vec<String> = store
        .timeline(&a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(
        messages,
        [
            "opened on deployment/shop/checkout: deployment/shop/checkout is crash looping",
            "third-by-clock",
            "first-by-clock",
            "second-by-clock"
        ]
    );

    // A state change written without its entry still gets one.
    let mut stored = store.get(&a.id).await.unwrap().unwrap();
    stored.state = State::Collecting;
    store.update_incident(&mut stored, &[]).await.unwrap();
    let last = store.timeline(&a.id).await.unwrap().pop().unwrap();
    assert_eq!(last.kind, TimelineKind::Transition);
    assert_eq!(last.message, "Open -> Collecting: recorded by update");

    // The feed across incidents.
    let feed = store.timeline_after(0, 100).await.unwrap();
    assert_eq!(feed.len(), 2 + 6 + 1);
    assert!(feed.windows(2).all(|w| w[0].seq < w[1].seq));
    let tail = store.timeline_after(seqs[1], 100).await.unwrap();
    assert_eq!(tail.first().unwrap().incident, b.id);
    assert_eq!(tail.len(), 4);
    assert_eq!(store.timeline_after(0, 3).await.unwrap().len(), 3);

    let err = store
        .append(&IncidentId("inc-424242".into()), &note(0, "x"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "incident inc-424242 does not exist");
    store.close().await;
}

async fn intents_survive_a_crash(db: &TestDb) {
    let store = db.open().await;
    let incident = store
        .create_incident(&new_incident(&checkout(), None))
        .await
        .unwrap();
    let id = incident.id.clone();
    let restart = Action::RolloutRestart { target: checkout() };
    let first = store
        .record_intent(&id, 1, &restart, "inc-000001/1/rollout-restart", at(5))
        .await
        .unwrap();
    assert_eq!(store.unfinished_intents().await.unwrap().len(), 1);
    store
        .mark_action_done(
            first,
            &json!({ "restartedAt": "2026-03-01T03:05:00Z" }),
            at(6),
        )
        .await
        .unwrap();
    assert!(store.unfinished_intents().await.unwrap().is_empty());
    let err = store
        .mark_action_failed(first, "late", at(7))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::IntentFinished {
            status: ActionStatus::Done,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!("action intent {first} is already done")
    );

    let err = store
        .record_intent(&id, 1, &restart, "inc-000001/1/rollout-restart", at(8))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "an action intent with idempotency key inc-000001/1/rollout-restart is already recorded"
    );

    // The crash: an intent is committed, then the process dies before marking it.
    let rollback = Action::Rollback {
        target: checkout(),
        revision: Some(6),
    };
    let pending = store
        .record_intent(&id, 2, &rollback, "inc-000001/2/rollback", at(20))
        .await
        .unwrap();
    drop(store);

    let store = db.open().await;
    let unfinished = store.unfinished_intents().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    let left = &unfinished[0];
    assert_eq!(left.id, pending);
    assert_eq!(left.incident, id);
    assert_eq!(left.attempt, 2);
    assert_eq!(left.action, rollback);
    assert_eq!(left.idempotency_key, "inc-000001/2/rollback");
    assert_eq!(left.status, ActionStatus::Intended);
    assert_eq!(left.intended_at, at(20));
    assert_eq!(
        store
            .action_by_key("inc-000001/2/rollback")
            .await
            .unwrap()
            .as_ref(),
        Some(left)
    );

    // Resumed: the cluster showed the annotation missing and the change failed.
    store
        .mark_action_failed(pending, "admission webhook denied the patch", at(21))
        .await
        .unwrap();
    assert!(store.unfinished_intents().await.unwrap().is_empty());
    let actions = store.actions(&id).await.unwrap();
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0].status, ActionStatus::Done);
    assert_eq!(
        actions[0].outcome,
        Some(json!({ "restartedAt": "2026-03-01T03:05:00Z" }))
    );
    assert_eq!(actions[1].status, ActionStatus::Failed);
    assert_eq!(
        actions[1].error.as_deref(),
        Some("admission webhook denied the patch")
    );
    assert_eq!(actions[1].finished_at, Some(at(21)));
    let story: Vec<(TimelineKind, String)> = store
        .timeline(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.kind, TimelineKind::Intent | TimelineKind::Action))
        .map(|e| (e.kind, e.message))
        .collect();
    assert_eq!(
        story,
        [
            (
                TimelineKind::Intent,
                "intent: rollout-restart on deployment/shop/checkout (key inc-000001/1/rollout-restart)".to_owned()
            ),
            (TimelineKind::Action, "rollout-restart done".to_owned()),
            (
                TimelineKind::Intent,
                "intent: rollback on deployment/shop/checkout (key inc-000001/2/rollback)".to_owned()
            ),
            (
                TimelineKind::Action,
                "rollback failed: admission webhook denied the patch".to_owned()
            ),
        ]
    );
    let err = store
        .mark_action_done(nightshift_store::IntentId(9999), &json!({}), at(30))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "action intent #9999 does not exist");
    store.close().await;
}

async fn a_restart_loses_nothing(db: &TestDb) {
    let store = db.open().await;
    let signal = alert("fp-keep", SignalStatus::Firing, &checkout());
    store.record_signal(&signal).await.unwrap();
    let mut incident = store
        .create_incident(&new_incident(&checkout(), Some("fp-keep")))
        .await
        .unwrap();
    let id = incident.id.clone();
    store
        .record_evidence(&id, 1, &evidence(), at(1))
        .await
        .unwrap();
    to_planned(&store, &mut incident).await;
    incident.category = Some(nightshift_core::Category::BadRelease);
    incident.root_cause = Some(checkout());
    incident.attempts = 1;
    store.update_incident(&mut incident, &[]).await.unwrap();
    let analysis_id = store
        .record_analysis(&id, 1, &analysis(), at(3))
        .await
        .unwrap();
    let decision_id = store
        .record_decision(&id, 1, &rollback_plan(), &needs_approval(), at(4))
        .await
        .unwrap();
    let approval_id = store
        .request_approval(&mut incident, Some(decision_id), at(4), at(19))
        .await
        .unwrap();
    let intent = store
        .record_intent(
            &id,
            1,
            &rollback_plan().action,
            "inc-000001/1/rollback",
            at(5),
        )
        .await
        .unwrap();
    store.append(&id, &note(6, "dry run ok")).await.unwrap();
    let timeline = store.timeline(&id).await.unwrap();
    let stats = store.stats().await.unwrap();
    store.close().await;
    drop(store);

    let store = db.open().await;
    assert_eq!(store.get(&id).await.unwrap(), Some(incident.clone()));
    assert_eq!(incident.state, State::AwaitingApproval);
    assert_eq!(store.in_flight().await.unwrap(), [incident.clone()]);
    assert_eq!(store.timeline(&id).await.unwrap(), timeline);
    assert_eq!(store.stats().await.unwrap(), stats);
    assert_eq!(
        store
            .signal_incident(&SignalKey::of(&signal))
            .await
            .unwrap(),
        Some(id.clone())
    );
    let rounds = store.evidence(&id).await.unwrap();
    assert_eq!(rounds.len(), 1);
    assert_eq!(rounds[0].round, 1);
    assert_eq!(rounds[0].collected_at, at(1));
    assert_eq!(rounds[0].evidence, evidence());
    assert_eq!(
        store.latest_evidence(&id).await.unwrap(),
        Some(rounds[0].clone())
    );
    let analyses = store.analyses(&id).await.unwrap();
    assert_eq!(analyses.len(), 1);
    assert_eq!(analyses[0].id, analysis_id);
    assert_eq!(analyses[0].analysis, analysis());
    let decisions = store.decisions(&id).await.unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].id, decision_id);
    assert_eq!(decisions[0].plan, rollback_plan());
    assert_eq!(decisions[0].decision, needs_approval());
    let pending = store.pending_approvals().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, approval_id);
    assert_eq!(pending[0].decision, Some(decision_id));
    assert_eq!(pending[0].deadline, at(19));
    assert_eq!(store.unfinished_intents().await.unwrap()[0].id, intent);

    let kinds: Vec<TimelineKind> = timeline.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            TimelineKind::Transition, // opened
            TimelineKind::Signal,
            TimelineKind::Evidence,
            TimelineKind::Transition, // collecting
            TimelineKind::Transition, // analyzing
            TimelineKind::Transition, // planned
            TimelineKind::Diagnosis,
            TimelineKind::Decision,
            TimelineKind::Transition, // awaiting approval
            TimelineKind::Approval,
            TimelineKind::Intent,
            TimelineKind::Note,
        ]
    );
    assert_eq!(
        timeline[6].message,
        "diagnosis by rules: deploy/bad-release on deployment/shop/checkout (confidence 0.90): revision 7 panics on start"
    );
    assert_eq!(
        timeline[7].message,
        "decision: needs_approval rollback deployment/shop/checkout (risk medium, confidence 0.85) by rule mode: approve (namespace shop)"
    );

    // The next incident id continues after the restart.
    let next = store
        .create_incident(&new_incident(&ResourceRef::node("worker-1"), None))
        .await
        .unwrap();
    assert_eq!(next.id.0, "inc-000002");
    store.close().await;
}

async fn approvals_pending_answered_and_expired(db: &TestDb) {
    let store = db.open().await;
    let mut planned = Vec::new();
    for name in ["a", "b", "c"] {
        let resource = ResourceRef::deployment("shop", name);
        let mut incident = store
            .create_incident(&new_incident(&resource, None))
            .await
            .unwrap();
        to_planned(&store, &mut incident).await;
        planned.push(incident);
    }
    let [mut a, mut b, mut c] = planned.try_into().unwrap();
    store
        .request_approval(&mut a, None, at(5), at(10))
        .await
        .unwrap();
    store
        .request_approval(&mut b, None, at(5), at(20))
        .await
        .unwrap();
    store
        .request_approval(&mut c, None, at(5), at(15))
        .await
        .unwrap();
    assert_eq!(a.state, State::AwaitingApproval);
    let pending: Vec<IncidentId> = store
        .pending_approvals()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.incident)
        .collect();
    assert_eq!(pending, [a.id.clone(), c.id.clone(), b.id.clone()]);

    // A human answers a.
    let answered = store
        .decide_approval(
            &a.id,
            &ApprovalAnswer {
                approve: true,
                by: "alice".into(),
                reason: Some("rollback is safe".into()),
                at: at(7),
            },
        )
        .await
        .unwrap();
    assert_eq!(answered.state, State::Approved);
    assert_eq!(answered.version, a.version + 1);
    let tail: Vec<String> = store
        .timeline(&a.id)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .take(2)
        .map(|e| e.message)
        .collect();
    assert_eq!(
        tail,
        [
            "AwaitingApproval -> Approved: approved by alice",
            "approved by alice: rollback is safe"
        ]
    );
    let err = store
        .decide_approval(
            &a.id,
            &ApprovalAnswer {
                approve: false,
                by: "bob".into(),
                reason: None,
                at: at(8),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("incident {} has no pending approval", a.id)
    );

    // The clock passes c's deadline (inclusive) but not b's.
    let expired = store.expire_approvals(at(15)).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].incident, c.id);
    assert_eq!(expired[0].status, ApprovalStatus::Expired);
    assert_eq!(expired[0].decided_at, Some(at(15)));
    assert!(store.expire_approvals(at(15)).await.unwrap().is_empty());
    let c_now = store.get(&c.id).await.unwrap().unwrap();
    assert_eq!(c_now.state, State::Expired);
    assert_eq!(c_now.version, c.version + 1);
    let pending = store.pending_approvals().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].incident, b.id);

    let history = store.approvals(&a.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status, ApprovalStatus::Approved);
    assert_eq!(history[0].decided_by.as_deref(), Some("alice"));
    assert_eq!(history[0].reason.as_deref(), Some("rollback is safe"));
    assert_eq!(
        store.approvals(&c.id).await.unwrap()[0].status,
        ApprovalStatus::Expired
    );

    // b was escalated by hand before its deadline: expiry closes the request only.
    let entry = b.transition(State::Rejected, at(16), "by hand").unwrap();
    store.update_incident(&mut b, &[entry]).await.unwrap();
    let expired = store.expire_approvals(at(30)).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(
        store.get(&b.id).await.unwrap().unwrap().state,
        State::Rejected
    );
    assert!(store.pending_approvals().await.unwrap().is_empty());
    assert_eq!(store.stats().await.unwrap().pending_approvals, 0);

    // Asking twice from a state that cannot ask is the state machine's error.
    let err = store
        .request_approval(&mut c, None, at(31), at(40))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Transition(_)), "{err:?}");
    store.close().await;
}

async fn actions_for_target_respect_the_window(db: &TestDb) {
    let store = db.open().await;
    let incident = store
        .create_incident(&new_incident(&checkout(), None))
        .await
        .unwrap();
    let id = &incident.id;
    let other = ResourceRef::deployment("shop", "cart");
    let restart = |target: &ResourceRef| Action::RolloutRestart {
        target: target.clone(),
    };
    for (minute, target, key) in [
        (-120, checkout(), "k1"),
        (-30, checkout(), "k2"),
        (-5, checkout(), "k3"),
        (-10, other.clone(), "k4"),
    ] {
        let intent = store
            .record_intent(id, 1, &restart(&target), key, at(minute))
            .await
            .unwrap();
        if key == "k2" {
            store
                .mark_action_failed(intent, "timeout", at(minute + 1))
                .await
                .unwrap();
        }
    }
    store
        .record_intent(
            id,
            1,
            &Action::Escalate {
                reason: "no plan".into(),
            },
            "k5",
            at(0),
        )
        .await
        .unwrap();
    let keys = |records: Vec<nightshift_store::ActionRecord>| -> Vec<String> {
        records.into_iter().map(|r| r.idempotency_key).collect()
    };
    let last_hour = store
        .actions_for_target(&checkout(), at(-60))
        .await
        .unwrap();
    assert_eq!(keys(last_hour), ["k2", "k3"]);
    let exact = store
        .actions_for_target(&checkout(), at(-30))
        .await
        .unwrap();
    assert_eq!(exact.len(), 2, "the window includes its start");
    assert_eq!(exact[0].status, ActionStatus::Failed);
    assert_eq!(
        keys(
            store
                .actions_for_target(&checkout(), at(-180))
                .await
                .unwrap()
        ),
        ["k1", "k2", "k3"]
    );
    assert_eq!(
        keys(store.actions_for_target(&other, at(-60)).await.unwrap()),
        ["k4"]
    );
    assert!(
        store
            .actions_for_target(&checkout(), at(1))
            .await
            .unwrap()
            .is_empty()
    );
    // A pod is not its Deployment.
    let pod = ResourceRef::Pod {
        namespace: "shop".into(),
        name: "checkout".into(),
    };
    assert!(
        store
            .actions_for_target(&pod, at(-999))
            .await
            .unwrap()
            .is_empty()
    );

    let stats = store.stats().await.unwrap();
    let count = |action, status| {
        stats
            .actions
            .iter()
            .find(|c| c.action == action && c.status == status)
            .map(|c| c.count)
    };
    assert_eq!(
        count(ActionName::RolloutRestart, ActionStatus::Intended),
        Some(3)
    );
    assert_eq!(
        count(ActionName::RolloutRestart, ActionStatus::Failed),
        Some(1)
    );
    assert_eq!(count(ActionName::Escalate, ActionStatus::Intended), Some(1));
    store.close().await;
}

async fn correlation_opens_one_incident_per_resource(db: &TestDb) {
    let store = Arc::new(db.open().await);
    let node = ResourceRef::node("worker-3");
    let signals: Vec<_> = (0..24)
        .map(|i| alert(&format!("pod-{i}"), SignalStatus::Firing, &node))
        .collect();
    store.record_signals(&signals).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = Arc::clone(&store);
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            store
                .open_or_join(&new_incident(&node, Some(&format!("pod-{i}"))))
                .await
                .unwrap()
        }));
    }
    let mut opened = 0;
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let correlated = task.await.unwrap();
        opened += usize::from(correlated.opened);
        ids.insert(correlated.incident.id.clone());
    }
    assert_eq!(opened, 1);
    assert_eq!(ids.len(), 1);
    let id = ids.pop_first().unwrap();
    assert_eq!(
        store
            .open_incident_for(&node)
            .await
            .unwrap()
            .map(|s| s.id.clone()),
        Some(id.clone())
    );
    let joined = store
        .timeline(&id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == TimelineKind::Signal)
        .count();
    assert_eq!(joined, 24);
    for signal in &signals {
        assert_eq!(
            store.signal_incident(&SignalKey::of(signal)).await.unwrap(),
            Some(id.clone())
        );
    }

    // Once resolved, the next signal opens a new incident.
    let mut incident = store.get(&id).await.unwrap().unwrap();
    for (to, minute) in [
        (State::Collecting, 1),
        (State::Analyzing, 2),
        (State::Planned, 3),
        (State::Resolved, 4),
    ] {
        let entry = incident.transition(to, at(minute), "step").unwrap();
        store
            .update_incident(&mut incident, &[entry])
            .await
            .unwrap();
    }
    assert_eq!(incident.resolved_at, Some(at(4)));
    assert_eq!(store.open_incident_for(&node).await.unwrap(), None);
    store
        .record_signal(&alert("late", SignalStatus::Firing, &node))
        .await
        .unwrap();
    let again = store
        .open_or_join(&new_incident(&node, Some("late")))
        .await
        .unwrap();
    assert!(again.opened);
    assert_ne!(again.incident.id, id);
    // Another resource is another incident.
    let elsewhere = store
        .open_or_join(&new_incident(&checkout(), None))
        .await
        .unwrap();
    assert!(elsewhere.opened);
    store.close().await;
}

async fn listing_and_stats(db: &TestDb) {
    let store = db.open().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let resource = ResourceRef::deployment("shop", &format!("svc-{i}"));
        ids.push(
            store
                .create_incident(&new_incident(&resource, None))
                .await
                .unwrap(),
        );
    }
    // svc-0 goes all the way to closed; svc-1 is observed.
    let mut closed = ids[0].clone();
    for to in [
        State::Collecting,
        State::Analyzing,
        State::Planned,
        State::Resolved,
        State::Closed,
    ] {
        let entry = closed.transition(to, at(1), "step").unwrap();
        store.update_incident(&mut closed, &[entry]).await.unwrap();
    }
    let mut observed = ids[1].clone();
    for to in [State::Collecting, State::Analyzing, State::Observed] {
        let entry = observed.transition(to, at(1), "step").unwrap();
        store
            .update_incident(&mut observed, &[entry])
            .await
            .unwrap();
    }

    let all = store.list(&IncidentFilter::default()).await.unwrap();
    let names: Vec<&str> = all.iter().map(|s| s.id.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "inc-000005",
            "inc-000004",
            "inc-000003",
            "inc-000002",
            "inc-000001"
        ]
    );
    let open = store
        .list(&IncidentFilter {
            open_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 4);
    assert!(open.iter().all(|s| s.state != State::Closed));
    let limited = store
        .list(&IncidentFilter {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);
    let by_state = store
        .list(&IncidentFilter {
            state: Some(State::Observed),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_state, [observed.clone()]);
    let by_resource = store
        .list(&IncidentFilter {
            resource: Some(ResourceRef::deployment("shop", "svc-3")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_resource.len(), 1);
    assert_eq!(by_resource[0].id.0, "inc-000004");

    let in_flight: Vec<String> = store
        .in_flight()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id.0.clone())
        .collect();
    assert_eq!(
        in_flight,
        ["inc-000002", "inc-000003", "inc-000004", "inc-000005"]
    );

    let stats = store.stats().await.unwrap();
    let mut states = stats.incidents_by_state.clone();
    states.sort_by_key(|(s, _)| format!("{s:?}"));
    assert_eq!(
        states,
        [(State::Closed, 1), (State::Observed, 1), (State::Open, 3)]
    );
    assert!(stats.actions.is_empty());
    store.close().await;
}

async fn bad_references_are_named(db: &TestDb) {
    let store = db.open().await;
    let ghost = IncidentId("inc-000777".into());
    let err = store
        .record_intent(&ghost, 1, &rollback_plan().action, "k", at(0))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "incident inc-000777 does not exist");
    let err = store
        .record_evidence(&ghost, 1, &evidence(), at(0))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "incident inc-000777 does not exist");
    let err = store
        .create_incident(&new_incident(&checkout(), Some("never-seen")))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "signal alertmanager/never-seen was never recorded"
    );
    // The failed open left nothing behind, not even a used id.
    assert!(
        store
            .list(&IncidentFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let created = store
        .create_incident(&new_incident(&checkout(), None))
        .await
        .unwrap();
    assert_eq!(created.id.0, "inc-000001");
    assert_eq!(store.get(&ghost).await.unwrap(), None);
    store.close().await;
}
