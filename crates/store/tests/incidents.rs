//! Incidents against real databases (SQLite file and PostgreSQL schema): migrations,
//! optimistic concurrency, the timeline, approvals, listing, and a restart.

mod common;

use common::*;
use nightshift_core::{IncidentId, ResourceRef, SignalStatus, State, TimelineKind};
use nightshift_store::{ApprovalAnswer, ApprovalStatus, IncidentFilter, SignalKey, StoreError};

on_both!(
    migrations_apply_twice,
    stale_updates_are_refused,
    timeline_keeps_append_order,
    approvals_pending_answered_and_expired,
    listing_and_stats,
    a_restart_loses_nothing,
);

async fn migrations_apply_twice(db: &TestDb) {
    let first = db.open().await;
    first.migrate().await.unwrap();
    let incident = first
        .create_incident(&new_incident(&checkout(), None))
        .await
        .unwrap();
    let second = db.open().await;
    second.migrate().await.unwrap();
    // Each migration once (the record, leadership terms, the outbox, approval votes, the
    // incident list's columns, console sessions, the knowledge base, the trust ladder, the
    // knowledge base's vectors), however often it is opened.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert_eq!(files, 9);
    assert_eq!(db.applied_migrations().await, files as i64);
    assert_eq!(second.get(&incident.id).await.unwrap(), Some(incident));
    first.close().await;
    second.close().await;
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
