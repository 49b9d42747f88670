//! Votes on approval requests against real databases (SQLite file and PostgreSQL schema): a
//! request that needs two distinct approvers waits after the first, ignores a second vote by
//! the same identity and closes at the second; a rejection closes it at once; concurrent
//! votes are each counted once; every vote is kept with who, verdict, reason and time.

mod common;

use common::*;
use nightshift_core::{IncidentId, ResourceRef, State, TimelineKind};
use nightshift_store::{ApprovalAnswer, ApprovalStatus, StoreError, StoredIncident, VoteOutcome};
use serde_json::json;

on_both!(
    two_approvers_are_needed_and_one_identity_counts_once,
    a_rejection_closes_the_request_at_once,
    concurrent_votes_are_each_counted_once,
    votes_stay_with_an_expired_request,
);

fn vote(by: &str, approve: bool, reason: Option<&str>, minute: i64) -> ApprovalAnswer {
    ApprovalAnswer {
        approve,
        by: by.into(),
        reason: reason.map(str::to_owned),
        at: at(minute),
    }
}

/// An incident awaiting approval of a recorded decision, its deadline at minute 60.
async fn awaiting(store: &nightshift_store::Store, name: &str) -> StoredIncident {
    let resource = ResourceRef::deployment("shop", name);
    let mut incident = store
        .create_incident(&new_incident(&resource, None))
        .await
        .unwrap();
    to_planned(store, &mut incident).await;
    let decision = store
        .record_decision(&incident.id, 0, &rollback_plan(), &needs_approval(), at(4))
        .await
        .unwrap();
    store
        .request_approval(&mut incident, Some(decision), at(5), at(60))
        .await
        .unwrap();
    incident
}

async fn last_entry(
    store: &nightshift_store::Store,
    id: &IncidentId,
) -> (String, serde_json::Value) {
    let e = store.timeline(id).await.unwrap().pop().unwrap();
    (e.message, e.data)
}

async fn two_approvers_are_needed_and_one_identity_counts_once(db: &TestDb) {
    let store = db.open().await;
    let incident = awaiting(&store, "checkout").await;
    let id = incident.id.clone();

    // The first approval: recorded, the incident still waits, the timeline says for whom.
    let first = store
        .vote_approval(
            &id,
            &vote("alice", true, Some("rollback looks right"), 6),
            2,
        )
        .await
        .unwrap();
    let VoteOutcome::Waiting {
        incident: after,
        approval,
        approvers,
        required,
    } = first
    else {
        panic!("expected to wait, got {first:?}")
    };
    assert_eq!(after.state, State::AwaitingApproval);
    assert_eq!(
        after.version, incident.version,
        "the incident row is unchanged"
    );
    assert_eq!(approvers, ["alice"]);
    assert_eq!(required, 2);
    let timeline = store.timeline(&id).await.unwrap();
    let entry = timeline.last().unwrap();
    assert_eq!(entry.kind, TimelineKind::Approval);
    assert_eq!(
        entry.message,
        "approved by alice (1 of 2): rollback looks right; waiting for another approver"
    );
    assert_eq!(entry.data["approval_id"], json!(approval.0));
    assert_eq!(entry.data["by"], json!("alice"));
    assert_eq!(entry.data["votes"], json!(1));
    assert_eq!(entry.data["required"], json!(2));
    let entries = timeline.len();

    // The same identity again: nothing recorded, still one vote.
    let again = store
        .vote_approval(&id, &vote("alice", true, Some("really"), 7), 2)
        .await
        .unwrap();
    assert!(
        matches!(&again, VoteOutcome::AlreadyApproved { approvers, required: 2, .. } if approvers == &["alice"]),
        "{again:?}"
    );
    assert_eq!(again.incident().state, State::AwaitingApproval);
    assert_eq!(store.timeline(&id).await.unwrap().len(), entries);
    let pending = store.pending_approvals().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].votes.len(), 1);
    assert_eq!(pending[0].status, ApprovalStatus::Pending);

    // A second, distinct approver: approved, both named.
    let second = store
        .vote_approval(&id, &vote("slack:U024BE7LH", true, None, 8), 2)
        .await
        .unwrap();
    let VoteOutcome::Decided {
        incident: decided,
        approvers,
        ..
    } = second
    else {
        panic!("expected a decision, got {second:?}")
    };
    assert_eq!(decided.state, State::Approved);
    assert_eq!(decided.version, incident.version + 1);
    assert_eq!(approvers, ["alice", "slack:U024BE7LH"]);
    let tail: Vec<String> = store
        .timeline(&id)
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
            "AwaitingApproval -> Approved: approved by alice and slack:U024BE7LH",
            "approved by alice and slack:U024BE7LH (2 of 2)",
        ]
    );
    let (_, data) = last_entry(&store, &id).await;
    assert_eq!(data["to"], json!("approved"), "{data}");

    let history = store.approvals(&id).await.unwrap();
    assert_eq!(history.len(), 1);
    let a = &history[0];
    assert_eq!(a.status, ApprovalStatus::Approved);
    assert_eq!(a.decided_by.as_deref(), Some("alice, slack:U024BE7LH"));
    assert_eq!(a.decided_at, Some(at(8)));
    let votes: Vec<(&str, ApprovalStatus, Option<&str>)> = a
        .votes
        .iter()
        .map(|v| (v.by.as_str(), v.verdict, v.reason.as_deref()))
        .collect();
    assert_eq!(
        votes,
        [
            (
                "alice",
                ApprovalStatus::Approved,
                Some("rollback looks right")
            ),
            ("slack:U024BE7LH", ApprovalStatus::Approved, None),
        ]
    );
    assert_eq!(a.votes[0].at, at(6));
    assert_eq!(a.votes[1].at, at(8));
    assert!(a.votes.iter().all(|v| v.required == 2));

    // Decided: nobody votes any more.
    let err = store
        .vote_approval(&id, &vote("carol", false, None, 9), 2)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NoPendingApproval { .. }), "{err}");
    assert!(store.pending_approvals().await.unwrap().is_empty());

    // Three needed: the count of those still missing is said.
    let other = awaiting(&store, "cart").await;
    store
        .vote_approval(&other.id, &vote("alice", true, None, 6), 3)
        .await
        .unwrap();
    assert_eq!(
        last_entry(&store, &other.id).await.0,
        "approved by alice (1 of 3); waiting for 2 more approvers"
    );
    // One needed (the default): the answer reads as it always did.
    let single = awaiting(&store, "search").await;
    let out = store
        .vote_approval(&single.id, &vote("alice", true, Some("ok"), 6), 1)
        .await
        .unwrap();
    assert_eq!(out.incident().state, State::Approved);
    let messages: Vec<String> = store
        .timeline(&single.id)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .take(2)
        .map(|e| e.message)
        .collect();
    assert_eq!(
        messages,
        [
            "AwaitingApproval -> Approved: approved by alice",
            "approved by alice: ok"
        ]
    );
    store.close().await;
}

async fn a_rejection_closes_the_request_at_once(db: &TestDb) {
    let store = db.open().await;
    let incident = awaiting(&store, "checkout").await;
    let id = incident.id.clone();
    store
        .vote_approval(&id, &vote("alice", true, None, 6), 3)
        .await
        .unwrap();
    let out = store
        .vote_approval(
            &id,
            &vote("carol", false, Some("not during the sale"), 7),
            3,
        )
        .await
        .unwrap();
    assert!(
        matches!(&out, VoteOutcome::Decided { approvers, .. } if approvers == &["alice"]),
        "{out:?}"
    );
    assert_eq!(out.incident().state, State::Rejected);
    let tail: Vec<String> = store
        .timeline(&id)
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
            "AwaitingApproval -> Rejected: rejected by carol",
            "rejected by carol: not during the sale",
        ]
    );
    let a = &store.approvals(&id).await.unwrap()[0];
    assert_eq!(a.status, ApprovalStatus::Rejected);
    assert_eq!(a.decided_by.as_deref(), Some("carol"));
    assert_eq!(a.reason.as_deref(), Some("not during the sale"));
    let verdicts: Vec<ApprovalStatus> = a.votes.iter().map(|v| v.verdict).collect();
    assert_eq!(
        verdicts,
        [ApprovalStatus::Approved, ApprovalStatus::Rejected]
    );

    // Who approved may still reject: the safe direction is always open.
    let other = awaiting(&store, "cart").await;
    store
        .vote_approval(&other.id, &vote("alice", true, None, 6), 2)
        .await
        .unwrap();
    let out = store
        .vote_approval(
            &other.id,
            &vote("alice", false, Some("second thoughts"), 7),
            2,
        )
        .await
        .unwrap();
    assert_eq!(out.incident().state, State::Rejected);
    assert_eq!(store.approvals(&other.id).await.unwrap()[0].votes.len(), 2);
    store.close().await;
}

async fn concurrent_votes_are_each_counted_once(db: &TestDb) {
    let store = db.open().await;
    // Two distinct last approvals at once: both count, exactly one closes the request.
    for round in 0..4 {
        let incident = awaiting(&store, &format!("app-{round}")).await;
        let id = incident.id.clone();
        let (alice, bob) = (vote("alice", true, None, 6), vote("bob", true, None, 6));
        let (a, b) = tokio::join!(
            store.vote_approval(&id, &alice, 2),
            store.vote_approval(&id, &bob, 2),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let decided = [&a, &b]
            .iter()
            .filter(|o| matches!(o, VoteOutcome::Decided { .. }))
            .count();
        assert_eq!(decided, 1, "{a:?}\n{b:?}");
        let now = store.get(&id).await.unwrap().unwrap();
        assert_eq!(now.state, State::Approved);
        let votes = &store.approvals(&id).await.unwrap()[0].votes;
        assert_eq!(votes.len(), 2);
    }
    // The same identity twice at once: one vote.
    let incident = awaiting(&store, "twice").await;
    let id = incident.id.clone();
    let alice = vote("alice", true, None, 6);
    let (a, b) = tokio::join!(
        store.vote_approval(&id, &alice, 2),
        store.vote_approval(&id, &alice, 2),
    );
    let mut kinds = [a.unwrap(), b.unwrap()]
        .iter()
        .map(|o| match o {
            VoteOutcome::Waiting { .. } => "waiting",
            VoteOutcome::AlreadyApproved { .. } => "already",
            VoteOutcome::Decided { .. } => "decided",
        })
        .collect::<Vec<_>>();
    kinds.sort();
    assert_eq!(kinds, ["already", "waiting"]);
    assert_eq!(store.approvals(&id).await.unwrap()[0].votes.len(), 1);
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().state,
        State::AwaitingApproval
    );
    store.close().await;
}

async fn votes_stay_with_an_expired_request(db: &TestDb) {
    let store = db.open().await;
    let incident = awaiting(&store, "checkout").await;
    store
        .vote_approval(&incident.id, &vote("alice", true, None, 6), 2)
        .await
        .unwrap();
    let expired = store.expire_approvals(at(60)).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].status, ApprovalStatus::Expired);
    assert_eq!(expired[0].votes.len(), 1);
    assert_eq!(expired[0].votes[0].by, "alice");
    assert_eq!(
        store.get(&incident.id).await.unwrap().unwrap().state,
        State::Expired
    );
    let err = store
        .vote_approval(&incident.id, &vote("bob", true, None, 61), 2)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NoPendingApproval { .. }), "{err}");
    store.close().await;
}
