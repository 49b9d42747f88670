//! Actions against real databases (SQLite file and PostgreSQL schema): write-ahead intents
//! across a crash, budget windows, references to nothing, leadership terms (fencing).

mod common;

use common::*;
use nightshift_core::{Action, ActionName, IncidentId, ResourceRef, TimelineKind};
use nightshift_store::{ActionStatus, IncidentFilter, StoreError};
use serde_json::json;

on_both!(
    intents_survive_a_crash,
    actions_for_target_respect_the_window,
    bad_references_are_named,
    a_deposed_leader_records_no_intent,
);

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

async fn a_deposed_leader_records_no_intent(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.current_term().await.unwrap(), None);
    let incident = store
        .create_incident(&new_incident(&checkout(), None))
        .await
        .unwrap();
    let id = incident.id.clone();
    let restart = Action::RolloutRestart { target: checkout() };
    let first = store.claim_term("replica-a", at(1)).await.unwrap();
    assert_eq!(first, 1);
    store
        .record_intent_in_term(&id, 1, &restart, "k-a1", at(2), first)
        .await
        .unwrap();
    // Replica b takes the lead; a, paused through it, wakes up and tries to act.
    let second = store.claim_term("replica-b", at(3)).await.unwrap();
    assert_eq!(second, 2);
    assert_eq!(
        store.current_term().await.unwrap(),
        Some((2, "replica-b".to_string()))
    );
    let err = store
        .record_intent_in_term(&id, 2, &restart, "k-a2", at(4), first)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Fenced {
                term: 1,
                current: 2
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("another replica leads now"),
        "{err}"
    );
    // Nothing was recorded for the fenced attempt: neither the intent nor its timeline entry.
    let actions = store.actions(&id).await.unwrap();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0].idempotency_key, "k-a1");
    let intents = store
        .timeline(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == TimelineKind::Intent)
        .count();
    assert_eq!(intents, 1);
    // The leader of the current term records.
    store
        .record_intent_in_term(&id, 2, &restart, "k-b2", at(5), second)
        .await
        .unwrap();
    store.close().await;
}
