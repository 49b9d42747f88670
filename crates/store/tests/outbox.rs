//! The outbox against real databases (SQLite file and PostgreSQL schema): notifications are
//! queued with the entry that causes them, per destination, in order; outcomes are kept;
//! a destination that is dropped leaves nothing waiting.

mod common;

use common::*;
use nightshift_core::notice::NotifyEvent;
use nightshift_core::{State, TimelineEntry, TimelineKind};
use nightshift_store::NoticeStatus;
use serde_json::json;

on_both!(
    notifiable_entries_are_queued_per_destination,
    outcomes_are_kept_once,
    dropped_destinations_leave_nothing_pending,
    refs_are_kept_per_destination,
);

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn notifiable_entries_are_queued_per_destination(db: &TestDb) {
    let store = db.open().await;
    // Nothing is queued before a destination is configured.
    let early = store
        .create_incident(&new_incident(&checkout(), None))
        .await
        .unwrap();
    store
        .set_notice_destinations(&names(&["slack", "webhook"]), at(1))
        .await
        .unwrap();
    assert!(store.pending_notices("slack", 10).await.unwrap().is_empty());
    assert!(store.notices(&early.id).await.unwrap().is_empty());

    let mut s = store
        .create_incident(&new_incident(
            &nightshift_core::ResourceRef::deployment("payments", "api"),
            None,
        ))
        .await
        .unwrap();
    let id = s.id.clone();
    // A note is not news; an escalation is.
    store
        .append(
            &id,
            &TimelineEntry {
                at: at(2),
                kind: TimelineKind::Note,
                message: "just a note".into(),
                data: json!({}),
            },
        )
        .await
        .unwrap();
    // Collecting is not news; an escalation is.
    for to in [State::Collecting, State::Analyzing, State::Escalated] {
        let t = s.incident.transition(to, at(3), "on its way").unwrap();
        store.update_incident(&mut s, &[t]).await.unwrap();
    }

    let pending = store.pending_notices("slack", 10).await.unwrap();
    let events: Vec<_> = pending.iter().map(|p| p.event).collect();
    assert_eq!(
        events,
        [NotifyEvent::IncidentOpened, NotifyEvent::Escalated]
    );
    assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(pending.iter().all(|p| p.incident == id && p.attempts == 0));
    assert_eq!(pending[1].entry.kind, TimelineKind::Transition);
    assert_eq!(store.pending_notices("webhook", 10).await.unwrap(), pending);
    assert_eq!(store.pending_notices("slack", 1).await.unwrap().len(), 1);
    let backlog = store.outbox_backlog().await.unwrap();
    assert_eq!(backlog, [("slack".into(), 2), ("webhook".into(), 2)]);
}

async fn outcomes_are_kept_once(db: &TestDb) {
    let store = db.open().await;
    store
        .set_notice_destinations(&names(&["pager"]), at(0))
        .await
        .unwrap();
    let s = store
        .create_incident(&new_incident(&checkout(), None))
        .await
        .unwrap();
    let p = store.pending_notices("pager", 10).await.unwrap().remove(0);
    // A failed try keeps it pending and counts the attempt.
    assert!(
        store
            .finish_notice("pager", p.seq, NoticeStatus::Pending, Some("503"), at(1))
            .await
            .unwrap()
    );
    let again = store.pending_notices("pager", 10).await.unwrap();
    assert_eq!(again[0].attempts, 1);
    assert!(
        store
            .finish_notice("pager", p.seq, NoticeStatus::Delivered, None, at(2))
            .await
            .unwrap()
    );
    // A second finish (another replica, a retry after a crash) changes nothing.
    assert!(
        !store
            .finish_notice("pager", p.seq, NoticeStatus::Failed, Some("late"), at(3))
            .await
            .unwrap()
    );
    assert!(store.pending_notices("pager", 10).await.unwrap().is_empty());
    let record = store.notices(&s.id).await.unwrap();
    assert_eq!(record.len(), 1);
    assert_eq!(record[0].status, NoticeStatus::Delivered);
    assert_eq!(record[0].attempts, 2);
    assert_eq!(record[0].error, None);
    assert_eq!(record[0].done_at, Some(at(2)));
    assert_eq!(record[0].destination, "pager");
}

async fn dropped_destinations_leave_nothing_pending(db: &TestDb) {
    let store = db.open().await;
    store
        .set_notice_destinations(&names(&["a", "b"]), at(0))
        .await
        .unwrap();
    let s = store
        .create_incident(&new_incident(&checkout(), None))
        .await
        .unwrap();
    store
        .set_notice_destinations(&names(&["b"]), at(1))
        .await
        .unwrap();
    assert!(store.pending_notices("a", 10).await.unwrap().is_empty());
    assert_eq!(store.pending_notices("b", 10).await.unwrap().len(), 1);
    let record = store.notices(&s.id).await.unwrap();
    let a = record.iter().find(|r| r.destination == "a").unwrap();
    assert_eq!(a.status, NoticeStatus::Skipped);
    assert_eq!(a.error.as_deref(), Some("destination no longer configured"));
    // Configuring the same set again changes nothing.
    store
        .set_notice_destinations(&names(&["b"]), at(2))
        .await
        .unwrap();
    assert_eq!(store.pending_notices("b", 10).await.unwrap().len(), 1);
}

async fn refs_are_kept_per_destination(db: &TestDb) {
    let store = db.open().await;
    let s = store
        .create_incident(&new_incident(&checkout(), None))
        .await
        .unwrap();
    assert_eq!(store.notice_ref("slack", &s.id).await.unwrap(), None);
    store
        .set_notice_ref("slack", &s.id, r#"{"ts":"1.1"}"#)
        .await
        .unwrap();
    store
        .set_notice_ref("slack", &s.id, r#"{"ts":"1.2"}"#)
        .await
        .unwrap();
    assert_eq!(
        store.notice_ref("slack", &s.id).await.unwrap().as_deref(),
        Some(r#"{"ts":"1.2"}"#)
    );
    assert_eq!(store.notice_ref("teams", &s.id).await.unwrap(), None);
}
