//! Signals against real databases (SQLite file and PostgreSQL schema): dedup, resolution,
//! batches, correlation.

mod common;

use common::*;
use std::sync::Arc;

use nightshift_core::{ResourceRef, SignalSource, SignalStatus, State, TimelineKind};
use nightshift_store::{SignalKey, SignalOutcome};

on_both!(
    repeated_fingerprints_are_duplicates,
    large_batches_keep_their_order,
    resolved_signals_reach_their_incident,
    correlation_opens_one_incident_per_resource,
    a_storm_joins_in_one_transaction_with_one_timeline_entry,
    a_batch_opens_and_joins_in_one_go,
    a_recurrence_after_its_incident_closed_opens_a_new_one,
    firing_signals_are_read_back_by_source,
);

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
    // The list's severity column: the incident's alerts' labels, for a page of ids at once.
    assert_eq!(
        store
            .incident_severities(&[id.clone(), nightshift_core::IncidentId("inc-none".into())])
            .await
            .unwrap(),
        vec![(id.clone(), "critical".to_string())]
    );
    assert!(store.incident_severities(&[]).await.unwrap().is_empty());
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

async fn a_storm_joins_in_one_transaction_with_one_timeline_entry(db: &TestDb) {
    let store = db.open().await;
    let node = ResourceRef::node("worker-7");
    // More than one statement's worth, so the batch crosses a chunk boundary.
    let signals: Vec<_> = (0..450)
        .map(|i| alert(&format!("storm-{i}"), SignalStatus::Firing, &node))
        .collect();
    let roots = vec![Some(node.clone()); signals.len()];
    let summarize = |group: &[&nightshift_core::Signal]| nightshift_core::TimelineEntry {
        at: at(1),
        kind: TimelineKind::Signal,
        message: format!(
            "{} signal(s): KubePodCrashLooping x{}",
            group.len(),
            group.len()
        ),
        data: serde_json::json!({"count": group.len()}),
    };
    let ingested = store
        .ingest_batch(&signals, &roots, at(1), &summarize)
        .await
        .unwrap();
    assert_eq!(ingested.correlated.len(), 1);
    let id = ingested.correlated[0].0.incident.id.clone();
    for signal in &signals {
        assert_eq!(
            store.signal_incident(&SignalKey::of(signal)).await.unwrap(),
            Some(id.clone())
        );
    }
    let signal_entries: Vec<_> = store
        .timeline(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == TimelineKind::Signal)
        .collect();
    assert_eq!(
        signal_entries.len(),
        2,
        "the opening signal's entry and one for the rest of the storm"
    );
    assert_eq!(
        signal_entries[1].message,
        "450 signal(s): KubePodCrashLooping x450"
    );
    store.close().await;
}

async fn a_batch_opens_and_joins_in_one_go(db: &TestDb) {
    let store = db.open().await;
    let node = ResourceRef::node("worker-9");
    // checkout already has an open incident; the node has none.
    let existing = store
        .open_or_join(&new_incident(&checkout(), None))
        .await
        .unwrap()
        .incident
        .id
        .clone();
    let mut signals: Vec<_> = (0..6)
        .map(|i| {
            let r = if i < 3 { checkout() } else { node.clone() };
            alert(&format!("b-{i}"), SignalStatus::Firing, &r)
        })
        .collect();
    // A resolution of something never seen, and a signal not to correlate.
    signals.push(alert("gone", SignalStatus::Resolved, &checkout()));
    signals.push(alert("loose", SignalStatus::Firing, &checkout()));
    let roots: Vec<Option<ResourceRef>> = signals
        .iter()
        .map(|s| {
            (s.fingerprint != "loose" && s.status == SignalStatus::Firing)
                .then(|| s.resource.clone().unwrap())
        })
        .collect();
    let summarize = |group: &[&nightshift_core::Signal]| nightshift_core::TimelineEntry {
        at: at(2),
        kind: TimelineKind::Signal,
        message: format!("{} signal(s)", group.len()),
        data: serde_json::json!({}),
    };
    let first = store
        .ingest_batch(&signals, &roots, at(2), &summarize)
        .await
        .unwrap();
    assert!(first.outcomes[..6].iter().all(|o| *o == SignalOutcome::New));
    assert_eq!(
        first.outcomes[6],
        SignalOutcome::Resolved { incident: None }
    );
    assert_eq!(first.correlated.len(), 2);
    let (checkout_c, members) = &first.correlated[0];
    assert!(!checkout_c.opened);
    assert_eq!(checkout_c.incident.id, existing);
    assert_eq!(members, &[0, 1, 2]);
    let (node_c, members) = &first.correlated[1];
    assert!(node_c.opened);
    assert_eq!(members, &[3, 4, 5]);
    for (i, signal) in signals.iter().enumerate().take(6) {
        let want = if i < 3 { checkout_c } else { node_c };
        assert_eq!(
            store.signal_incident(&SignalKey::of(signal)).await.unwrap(),
            Some(want.incident.id.clone())
        );
    }
    assert_eq!(
        store
            .signal_incident(&SignalKey::of(&signals[7]))
            .await
            .unwrap(),
        None,
        "a signal without a root is recorded, not correlated"
    );
    // What analysis reads: every linked signal, whole, in the order they arrived.
    let linked = store
        .incident_signals(&node_c.incident.id, 100)
        .await
        .unwrap();
    assert_eq!(linked, signals[3..6].to_vec());
    let linked = store
        .incident_signals(&checkout_c.incident.id, 2)
        .await
        .unwrap();
    assert_eq!(linked, signals[0..2].to_vec(), "at most the limit");
    for c in [checkout_c, node_c] {
        let notes = store
            .timeline(&c.incident.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.message == "3 signal(s)")
            .count();
        assert_eq!(notes, 1);
    }
    // The same batch again: all repeats, nothing correlated, nothing opened.
    let again = store
        .ingest_batch(&signals[..6], &roots[..6], at(3), &summarize)
        .await
        .unwrap();
    assert!(again.correlated.is_empty());
    assert!(
        again
            .outcomes
            .iter()
            .all(|o| matches!(o, SignalOutcome::Duplicate { .. }))
    );
    store.close().await;
}

/// A firing alert whose stored row still says firing (the resolution never arrived) but whose
/// incident is closed is a recurrence: news again, and a new incident rather than the closed
/// one.
async fn a_recurrence_after_its_incident_closed_opens_a_new_one(db: &TestDb) {
    let store = db.open().await;
    let summarize = |group: &[&nightshift_core::Signal]| nightshift_core::TimelineEntry {
        at: at(2),
        kind: TimelineKind::Signal,
        message: format!("{} signal(s)", group.len()),
        data: serde_json::json!({}),
    };
    let firing = alert("fp-again", SignalStatus::Firing, &checkout());
    let roots = [Some(checkout())];
    let first = store
        .ingest_batch(std::slice::from_ref(&firing), &roots, at(1), &summarize)
        .await
        .unwrap();
    let mut stored = first.correlated[0].0.incident.clone();
    // While it is open, a repeat joins it as a duplicate.
    let again = store
        .ingest_batch(std::slice::from_ref(&firing), &roots, at(2), &summarize)
        .await
        .unwrap();
    assert_eq!(
        again.outcomes[0],
        SignalOutcome::Duplicate {
            incident: Some(stored.incident.id.clone())
        }
    );
    stored.incident.state = State::Closed;
    store.update_incident(&mut stored, &[]).await.unwrap();
    let later = store
        .ingest_batch(std::slice::from_ref(&firing), &roots, at(60), &summarize)
        .await
        .unwrap();
    assert_eq!(later.outcomes[0], SignalOutcome::New);
    assert_eq!(later.correlated.len(), 1);
    let (c, _) = &later.correlated[0];
    assert!(c.opened, "a new incident, not the closed one");
    assert_ne!(c.incident.incident.id, stored.incident.id);
    assert_eq!(
        store
            .signal_incident(&SignalKey::of(&firing))
            .await
            .unwrap(),
        Some(c.incident.incident.id.clone())
    );
    store.close().await;
}

async fn firing_signals_are_read_back_by_source(db: &TestDb) {
    let store = db.open().await;
    let mut watched = alert("w-1", SignalStatus::Firing, &checkout());
    watched.source = SignalSource::Watcher;
    let mut ended = alert("w-2", SignalStatus::Firing, &checkout());
    ended.source = SignalSource::Watcher;
    let mut ended_resolution = ended.clone();
    ended_resolution.status = SignalStatus::Resolved;
    let am = alert("a-1", SignalStatus::Firing, &checkout());
    store
        .record_signals(&[watched.clone(), ended, am])
        .await
        .unwrap();
    store.record_signals(&[ended_resolution]).await.unwrap();
    let firing = store
        .firing_signals(SignalSource::Watcher, 100)
        .await
        .unwrap();
    assert_eq!(firing, vec![watched]);
    store.close().await;
}
