//! Two-person approval through the agent's API on a simulated cluster: a high-risk plan in an
//! approve-mode namespace whose policy asks two approvers waits after the first approval, does
//! not count the same identity twice, and runs after a second, distinct allowed approver. An
//! identity the policy's approvers do not list is refused (403) and changes nothing, through
//! the API and through `nightshift approve --as` on the record alike; so are a request with no
//! token (401), a viewer (403) and an approver whose token is limited to another namespace
//! (403). Every vote recorded names the authenticated approver.

mod common;

#[path = "common/api_client.rs"]
mod api_client;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use api_client::request;
use nightshift::lab::{LAB_POLICY, Lab, LabOptions};
use nightshift_agent::engine::EngineConfig;
use nightshift_agent::http::{Auth, Credential, Role};
use nightshift_core::policy::Policy;
use nightshift_core::{IncidentId, Risk, State, TimelineKind};
use nightshift_store::{ActionStatus, ApprovalStatus, IncidentFilter, Store};
use serde_json::json;

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nightshift"))
}

/// The lab's policy in approve mode with every action high risk, two approvers for high risk,
/// and the namespace shop answered only by alice and the shop-oncall group.
fn policy_text() -> String {
    let lab = LAB_POLICY
        .replace("\nmode: auto\n", "\nmode: approve\n")
        .replace("{risk: low", "{risk: high");
    format!(
        "{lab}
approver_groups:
  shop-oncall: [bob, dave]
approvers:
  - namespaces: [shop]
    users: [alice]
    groups: [shop-oncall]
min_approvers:
  high: 2
"
    )
}

fn credentials() -> Auth {
    Auth::with(vec![
        // An administrator the policy does not list: the role alone is not enough.
        Credential::bearer("ops", Role::Admin, "ops-token"),
        Credential::bearer("alice", Role::Approver, "alice-token"),
        Credential::bearer("bob", Role::Approver, "bob-token").in_namespaces(vec!["shop".into()]),
        // Listed by the policy, but the token answers only for payments.
        Credential::bearer("dave", Role::Approver, "dave-token")
            .in_namespaces(vec!["payments".into()]),
        Credential::bearer("mallory", Role::Approver, "mallory-token"),
        Credential::bearer("grafana", Role::Viewer, "viewer-token"),
    ])
}

async fn state(store: &Store, id: &IncidentId) -> State {
    store.get(id).await.unwrap().unwrap().incident.state
}

/// Nothing about the approval changed: still waiting, the same votes, no action.
async fn unchanged(store: &Store, id: &IncidentId, votes: usize) {
    assert_eq!(state(store, id).await, State::AwaitingApproval);
    let approvals = store.approvals(id).await.unwrap();
    let pending = approvals.last().unwrap();
    assert_eq!(pending.status, ApprovalStatus::Pending);
    assert_eq!(pending.votes.len(), votes, "{pending:?}");
    assert!(store.actions(id).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_risk_plan_runs_after_two_distinct_allowed_approvers() {
    let dir = tempfile::tempdir().unwrap();
    let policy_file = dir.path().join("policy.yaml");
    std::fs::write(&policy_file, policy_text()).unwrap();
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.speed = 60.0;
    opts.policy = Policy::load(&policy_file).unwrap();
    opts.engine = EngineConfig {
        settle: Duration::from_secs(5),
        ..EngineConfig::default()
    };
    opts.auth = credentials();
    let store_url = opts.store.clone();
    let scenario =
        nightshift_scenario::load_file(&common::scenario_path("hang-orders-worker-deadlock"))
            .unwrap();
    let lab = Lab::start(&scenario, opts).await.unwrap();
    let addr = lab.agent.addr;
    let store = lab.agent.engine.store().clone();

    let deadline = Instant::now() + Duration::from_secs(150);
    let id = loop {
        let list = store.list(&IncidentFilter::default()).await.unwrap();
        if let Some(i) = list
            .into_iter()
            .find(|i| i.incident.state == State::AwaitingApproval)
        {
            break i.incident.id;
        }
        assert!(Instant::now() < deadline, "no approval was asked for");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        store
            .get(&id)
            .await
            .unwrap()
            .unwrap()
            .incident
            .resource
            .namespace(),
        Some("shop")
    );
    let decisions = store.decisions(&id).await.unwrap();
    assert_eq!(decisions.last().unwrap().decision.risk, Risk::High);
    let approve = format!("/api/v1/incidents/{}/approve", id.0);
    let reject = format!("/api/v1/incidents/{}/reject", id.0);
    let lgtm = json!({"reason": "lgtm"});

    // No token: 401. A viewer: 403. An approver whose token answers for another namespace:
    // 403, though the policy lists it. Nothing changes.
    let r = request(addr, "POST", &approve, None, Some(&lgtm)).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = request(addr, "POST", &approve, Some("viewer-token"), Some(&lgtm)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = request(addr, "POST", &approve, Some("dave-token"), Some(&lgtm)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("dave"), "{}", r.text);
    unchanged(&store, &id, 0).await;

    // Identities the policy does not list for shop, an administrator included: 403 naming
    // who and where, for an approval and a rejection alike; nothing changes.
    for token in ["mallory-token", "ops-token"] {
        for path in [&approve, &reject] {
            let r = request(addr, "POST", path, Some(token), Some(&lgtm)).await;
            assert_eq!(r.status, 403, "{token} {path}: {}", r.text);
            let error = r.json["error"].as_str().unwrap();
            assert!(
                error.contains("may not answer approvals in namespace shop")
                    && error.contains("approvers[0]"),
                "{error}"
            );
        }
    }
    unchanged(&store, &id, 0).await;

    // The first allowed approver: recorded, the incident still waits and says for whom.
    let r = request(
        addr,
        "POST",
        &approve,
        Some("alice-token"),
        Some(&json!({"reason": "restart looks right"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["state"], "awaiting_approval", "{}", r.text);
    assert_eq!(r.json["approvers"], json!(["alice"]));
    assert_eq!(r.json["required"], 2);
    unchanged(&store, &id, 1).await;
    let timeline = store.timeline(&id).await.unwrap();
    let waiting = timeline
        .iter()
        .rev()
        .find(|e| e.kind == TimelineKind::Approval && e.message.contains("waiting"))
        .expect("a timeline entry for the first approval");
    assert_eq!(
        waiting.message,
        "approved by alice (1 of 2): restart looks right; waiting for another approver"
    );
    assert_eq!(waiting.data["by"], "alice");
    assert_eq!(waiting.data["votes"], 1);
    assert_eq!(waiting.data["required"], 2);
    assert!(waiting.data["approval_id"].is_i64(), "{}", waiting.data);

    // The same identity again: refused (409), still one vote.
    let r = request(addr, "POST", &approve, Some("alice-token"), Some(&lgtm)).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(
        r.json["error"]
            .as_str()
            .unwrap()
            .contains("alice already approved"),
        "{}",
        r.text
    );
    unchanged(&store, &id, 1).await;

    // On the record directly the same checks hold: an identity the policy does not list is
    // refused, alice's second approval does not count, and without the policy nothing is
    // written.
    let cli = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || Command::new(bin()).args(args).output().unwrap())
    };
    let direct = |who: &str, policy: bool| {
        let mut args = vec![
            "approve".to_string(),
            id.0.clone(),
            "--store".to_string(),
            store_url.clone(),
            "--as".to_string(),
            who.to_string(),
        ];
        if policy {
            args.push("--policy".to_string());
            args.push(policy_file.display().to_string());
        }
        args
    };
    let out = cli(direct("mallory", true)).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("mallory may not answer approvals in namespace shop"),
        "{err}"
    );
    let out = cli(direct("alice", true)).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("alice already approved"), "{err}");
    let out = cli(direct("bob", false)).await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--policy"), "{err}");
    unchanged(&store, &id, 1).await;

    // A second, distinct allowed approver: approved, both named, and the action runs.
    let r = request(addr, "POST", &approve, Some("bob-token"), Some(&lgtm)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["state"], "approved", "{}", r.text);
    assert_eq!(r.json["approvers"], json!(["alice", "bob"]));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let actions = store.actions(&id).await.unwrap();
        if actions.iter().any(|a| a.status == ActionStatus::Done) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the approved action did not run: {actions:?}, state {:?}",
            state(&store, &id).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The record names every approver as authenticated.
    let approvals = store.approvals(&id).await.unwrap();
    assert_eq!(approvals.len(), 1);
    let a = &approvals[0];
    assert_eq!(a.status, ApprovalStatus::Approved);
    assert_eq!(a.decided_by.as_deref(), Some("alice, bob"));
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
                Some("restart looks right")
            ),
            ("bob", ApprovalStatus::Approved, Some("lgtm")),
        ]
    );
    assert!(
        store
            .timeline(&id)
            .await
            .unwrap()
            .iter()
            .any(|e| e.message == "AwaitingApproval -> Approved: approved by alice and bob"),
        "the transition names both approvers"
    );

    // The incident API shows each vote.
    let r = request(
        addr,
        "GET",
        &format!("/api/v1/incidents/{}", id.0),
        Some("viewer-token"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let shown = &r.json["approvals"][0];
    assert_eq!(shown["status"], "approved");
    assert_eq!(shown["decided_by"], "alice, bob");
    let shown_votes = shown["votes"].as_array().unwrap();
    assert_eq!(shown_votes.len(), 2);
    for (vote, (by, reason)) in shown_votes
        .iter()
        .zip([("alice", "restart looks right"), ("bob", "lgtm")])
    {
        assert_eq!(vote["by"], by);
        assert_eq!(vote["verdict"], "approved");
        assert_eq!(vote["reason"], reason);
        assert_eq!(vote["required"], 2);
        assert!(vote["at"].is_string(), "{vote}");
    }
    lab.stop();
}
