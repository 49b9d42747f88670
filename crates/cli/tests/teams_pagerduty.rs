//! Microsoft Teams and PagerDuty end to end, against local servers that speak their protocols
//! and the agent on the simulated cluster (a deadlocked `shop/orders-worker` whose plan waits
//! for approval):
//!
//! - a plan waiting past `approval_waiting_after` pages PagerDuty (dedup key = incident id,
//!   severity from the namespace's criticality); the approval acknowledges that page and the
//!   recovery resolves it; a Teams workflow that fails for a while gets every card once it is
//!   back, in order;
//! - an approval nobody gives escalates, and the escalation pages; a page PagerDuty refuses
//!   is given up after the configured tries, shown on the incident's record, and holds up
//!   nothing after it;
//! - an incident approved in time is never paged, and PagerDuty hears nothing of it; Teams
//!   gets one card per step, whose button reviews the plan while it waits and opens the
//!   incident otherwise.

#[path = "common/api_client.rs"]
mod api_client;
#[path = "common/receivers.rs"]
mod receivers;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use api_client::request;
use nightshift::lab::{LAB_POLICY, Lab, LabOptions};
use nightshift::notifications::{
    DestinationSettings, NotifySettings, PagerDutySettings, TeamsSettings,
};
use nightshift_agent::engine::EngineConfig;
use nightshift_agent::notify::teams::headline;
use nightshift_core::notice::NotifyEvent;
use nightshift_core::policy::Policy;
use nightshift_core::{IncidentId, State};
use nightshift_store::{IncidentFilter, NoticeStatus, Store};
use serde_json::{Value, json};

const CONSOLE: &str = "https://nightshift.example";
const ROUTING_KEY: &str = "R0ut1ngKeyOfAnEventsV2Integr4t1n";

fn scenario() -> nightshift_scenario::Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/hang-orders-worker-deadlock.yaml");
    nightshift_scenario::load_file(&path).unwrap()
}

/// The lab policy in approve mode, with `extra` keys.
fn policy(extra: &str) -> Policy {
    let lab = LAB_POLICY.replace("\nmode: auto\n", "\nmode: approve\n");
    Policy::parse(&format!("{lab}\n{extra}"), "test policy").unwrap()
}

/// Writes a secret to a file of `dir`, as a mounted Kubernetes secret would be.
fn secret_file(dir: &tempfile::TempDir, name: &str, value: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, format!("{value}\n")).unwrap();
    p
}

fn teams(dir: &tempfile::TempDir, name: &str, w: &receivers::Workflow) -> DestinationSettings {
    DestinationSettings::Teams(TeamsSettings {
        name: name.into(),
        url_env: None,
        url_file: Some(secret_file(dir, name, &w.url)),
    })
}

fn pagerduty(dir: &tempfile::TempDir, name: &str, p: &receivers::PagerDuty) -> DestinationSettings {
    DestinationSettings::PagerDuty(PagerDutySettings {
        name: name.into(),
        routing_key_env: None,
        routing_key_file: Some(secret_file(dir, name, ROUTING_KEY)),
        url: Some(p.url.clone()),
    })
}

async fn start(
    dir: &tempfile::TempDir,
    policy: Policy,
    approval_waiting_after: Option<Duration>,
    destinations: Vec<DestinationSettings>,
) -> Lab {
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.speed = 30.0;
    opts.policy = policy;
    opts.engine = EngineConfig {
        settle: Duration::from_secs(5),
        stabilization: Duration::from_secs(90),
        approval_waiting_after,
        ..EngineConfig::default()
    };
    opts.notify = NotifySettings {
        destinations,
        console_url: Some(CONSOLE.into()),
        ..NotifySettings::default()
    };
    Lab::start(&scenario(), opts).await.unwrap()
}

/// Polls (real time) until `f` answers `Some`, or panics naming `what`.
async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn incident_in(store: &Store, state: State) -> IncidentId {
    until(&format!("an incident {state:?}"), async || {
        let list = store.list(&IncidentFilter::default()).await.unwrap();
        list.into_iter()
            .find(|i| i.incident.state == state)
            .map(|i| i.incident.id)
    })
    .await
}

async fn state_of(store: &Store, id: &IncidentId) -> State {
    store.get(id).await.unwrap().unwrap().incident.state
}

/// Waits until `id` is closed and every notification of it to `destination` is done.
async fn settled(
    store: &Store,
    id: &IncidentId,
    destination: &str,
) -> Vec<(NotifyEvent, NoticeStatus)> {
    until(
        "the incident closed and its notifications done",
        async || {
            if state_of(store, id).await != State::Closed {
                return None;
            }
            let notices = store.notices(id).await.unwrap();
            let mine: Vec<_> = notices
                .iter()
                .filter(|n| n.destination == destination)
                .map(|n| (n.event, n.status))
                .collect();
            let done = mine.iter().all(|(_, s)| *s != NoticeStatus::Pending)
                && mine.iter().any(|(e, _)| *e == NotifyEvent::Closed);
            done.then_some(mine)
        },
    )
    .await
}

async fn approve(lab: &Lab, id: &IncidentId) {
    let r = request(
        lab.agent.addr,
        "POST",
        &format!("/api/v1/incidents/{id}/approve"),
        None,
        Some(&json!({"reason": "restart it"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// The step a card is about (its headline) and its button.
fn read_card(card: &Value) -> (String, String, String, String) {
    let title = card["body"][0]["items"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let step = card["body"][1]["text"].as_str().unwrap().to_string();
    let button = &card["actions"][0];
    assert_eq!(button["type"], "Action.OpenUrl", "{card}");
    (
        title,
        step,
        button["title"].as_str().unwrap().to_string(),
        button["url"].as_str().unwrap().to_string(),
    )
}

/// The cards of `id` are one per recorded step to Teams, in order, each with a button to
/// the incident that reviews the plan while it waits and opens the incident otherwise.
fn one_card_per_step(cards: &[Value], id: &IncidentId, steps: &[(NotifyEvent, NoticeStatus)]) {
    let delivered: Vec<NotifyEvent> = steps
        .iter()
        .filter(|(_, s)| *s == NoticeStatus::Delivered)
        .map(|(e, _)| *e)
        .collect();
    assert_eq!(
        delivered.len(),
        steps.len(),
        "every card delivered: {steps:?}"
    );
    let read: Vec<_> = cards.iter().map(read_card).collect();
    assert_eq!(
        read.len(),
        delivered.len(),
        "one card per step: {delivered:?} vs {:?}",
        read.iter().map(|r| &r.1).collect::<Vec<_>>()
    );
    for ((title, step, button, url), event) in read.iter().zip(&delivered) {
        assert!(title.starts_with(&format!("{id} · ")), "{title}");
        assert!(step.starts_with(headline(*event)), "{event}: {step}");
        assert_eq!(url, &format!("{CONSOLE}/incidents/{id}"));
        let waiting = title.ends_with("· awaiting approval");
        let expected = if waiting {
            "Review and approve"
        } else {
            "Open incident"
        };
        assert_eq!(button, expected, "{title}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_wait_pages_the_approval_acknowledges_and_the_recovery_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let pager = receivers::PagerDuty::start(0).await;
    // Down for its first six posts: the cards wait for it, in order.
    let workflow = receivers::Workflow::start(6).await;
    let lab = start(
        &dir,
        policy("criticality:\n  namespaces: {shop: high}\n"),
        Some(Duration::from_secs(60)),
        vec![
            pagerduty(&dir, "pager", &pager),
            teams(&dir, "teams", &workflow),
        ],
    )
    .await;
    let store = lab.agent.engine.store().clone();
    let id = incident_in(&store, State::AwaitingApproval).await;

    let page = until("the page", async || pager.events().first().cloned()).await;
    assert_eq!(page["event_action"], "trigger");
    assert_eq!(page["dedup_key"], id.0);
    assert_eq!(page["routing_key"], ROUTING_KEY);
    let p = &page["payload"];
    assert_eq!(p["severity"], "critical", "shop is high: {page}");
    assert_eq!(p["group"], "shop");
    assert_eq!(p["source"], "deployment/shop/orders-worker");
    assert_eq!(p["custom_details"]["step"], "approval_waiting");
    assert!(
        p["summary"]
            .as_str()
            .unwrap()
            .contains("waits for approval"),
        "{page}"
    );
    assert_eq!(
        page["links"][0]["href"],
        format!("{CONSOLE}/incidents/{id}")
    );
    assert_eq!(page["client"], "Nightshift");

    approve(&lab, &id).await;
    let steps = settled(&store, &id, "pager").await;
    let events = pager.events();
    let actions: Vec<_> = events.iter().map(|e| e["event_action"].clone()).collect();
    assert_eq!(
        actions,
        ["trigger", "acknowledge", "resolve"],
        "{events:#?}"
    );
    assert!(events.iter().all(|e| e["dedup_key"] == id.0));
    assert!(
        events[1].get("payload").is_none(),
        "a follow-up names the alert only"
    );
    assert!(
        steps
            .iter()
            .all(|(_, s)| matches!(s, NoticeStatus::Delivered | NoticeStatus::Skipped)),
        "{steps:?}"
    );

    // The workflow failed six posts; once it was back it got every card, in order, once.
    let steps = settled(&store, &id, "teams").await;
    assert_eq!(workflow.failed(), 6);
    assert!(workflow.rejected().is_empty(), "{:?}", workflow.rejected());
    one_card_per_step(&workflow.cards(), &id, &steps);
    lab.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_pages_and_a_refused_page_is_recorded_without_holding_up_the_next() {
    let dir = tempfile::tempdir().unwrap();
    // Refuses the first three events: the long-wait page, on each of its three tries.
    let pager = receivers::PagerDuty::start(3).await;
    let lab = start(
        &dir,
        policy("approval_timeout: 2m\ncriticality:\n  namespaces: {shop: medium}\n"),
        Some(Duration::from_secs(60)),
        vec![pagerduty(&dir, "pager", &pager)],
    )
    .await;
    let store = lab.agent.engine.store().clone();
    let id = incident_in(&store, State::AwaitingApproval).await;
    let page = until("the escalation's page", async || {
        pager.events().first().cloned()
    })
    .await;
    assert_eq!(pager.refused(), 3);
    assert_eq!(page["event_action"], "trigger");
    assert_eq!(page["dedup_key"], id.0);
    assert_eq!(
        page["payload"]["severity"], "error",
        "shop is medium: {page}"
    );
    assert_eq!(page["payload"]["custom_details"]["step"], "escalated");
    assert!(
        page["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("escalated")
    );

    // The record says which page was given up, after how many tries, and why.
    let record = until("the record of the refused page", async || {
        let r = request(
            lab.agent.addr,
            "GET",
            &format!("/api/v1/incidents/{id}"),
            None,
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let escalated_delivered = r.json["notifications"]
            .as_array()?
            .iter()
            .any(|n| n["event"] == "escalated" && n["status"] == "delivered");
        escalated_delivered.then_some(r.json)
    })
    .await;
    let notes = record["notifications"].as_array().unwrap();
    let refused = notes
        .iter()
        .find(|n| n["event"] == "approval_waiting")
        .unwrap_or_else(|| panic!("{notes:#?}"));
    assert_eq!(refused["destination"], "pager");
    assert_eq!(refused["status"], "failed");
    assert_eq!(refused["attempts"], 3);
    let error = refused["error"].as_str().unwrap();
    assert!(
        error.contains("invalid event") && error.contains("payload.summary"),
        "{error}"
    );
    assert!(
        !record.to_string().contains(ROUTING_KEY),
        "the routing key is never recorded"
    );
    assert!(
        notes
            .iter()
            .any(|n| n["event"] == "expired" && n["status"] == "skipped"),
        "PagerDuty hears nothing of the expiry itself: {notes:#?}"
    );
    assert!(
        record["timeline"]
            .to_string()
            .contains("given up after 3 tries"),
        "the timeline says a page was given up"
    );
    let metrics = request(lab.agent.addr, "GET", "/metrics", None, None)
        .await
        .text;
    assert!(
        metrics.lines().any(|l| l.starts_with(
            "nightshift_notifications_total{destination=\"pager\",kind=\"pagerduty\",outcome=\"given_up\"} 1"
        )),
        "{metrics}"
    );
    lab.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_approved_in_time_is_never_paged_and_teams_gets_a_card_per_step() {
    let dir = tempfile::tempdir().unwrap();
    let pager = receivers::PagerDuty::start(0).await;
    let workflow = receivers::Workflow::start(0).await;
    let lab = start(
        &dir,
        policy(""),
        Some(Duration::from_secs(600)),
        vec![
            pagerduty(&dir, "pager", &pager),
            teams(&dir, "teams", &workflow),
        ],
    )
    .await;
    let store = lab.agent.engine.store().clone();
    let id = incident_in(&store, State::AwaitingApproval).await;
    // The card that asks for approval reviews the plan.
    let asking = until("the card asking for approval", async || {
        workflow.cards().into_iter().find(|c| {
            read_card(c)
                .1
                .starts_with(headline(NotifyEvent::ApprovalNeeded))
        })
    })
    .await;
    let (title, _, button, url) = read_card(&asking);
    assert_eq!(title, format!("{id} · awaiting approval"));
    assert_eq!(button, "Review and approve");
    assert_eq!(url, format!("{CONSOLE}/incidents/{id}"));
    let text = asking.to_string();
    for shown in ["Diagnosis", "app/hang", "Rule", "Risk", "orders-worker"] {
        assert!(text.contains(shown), "{shown} missing from {text}");
    }

    approve(&lab, &id).await;
    let steps = settled(&store, &id, "teams").await;
    one_card_per_step(&workflow.cards(), &id, &steps);
    let after: Vec<_> = workflow
        .cards()
        .iter()
        .map(read_card)
        .skip_while(|c| !c.1.starts_with(headline(NotifyEvent::Approved)))
        .collect();
    assert!(!after.is_empty());
    assert!(after.iter().all(|c| c.2 == "Open incident"), "{after:?}");

    let paged = settled(&store, &id, "pager").await;
    assert!(pager.events().is_empty(), "{:#?}", pager.events());
    assert_eq!(pager.refused(), 0);
    assert!(
        paged.iter().any(|(e, _)| *e == NotifyEvent::Approved),
        "the approval reached PagerDuty's queue and sent nothing: {paged:?}"
    );
    assert!(
        paged.iter().all(|(_, s)| *s == NoticeStatus::Skipped),
        "nothing sent is recorded as skipped, not delivered: {paged:?}"
    );
    lab.stop();
}

/// PagerDuty's answer to a malformed event, as the local server gives it.
#[tokio::test]
async fn the_local_pagerduty_refuses_a_malformed_event_as_pagerduty_does() {
    let pager = receivers::PagerDuty::start(0).await;
    let http = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();
    let r = http
        .post(&pager.url)
        .json(&json!({"routing_key": "short", "event_action": "trigger", "payload": {"summary": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "invalid event");
    let errors = body["errors"].to_string();
    for named in ["routing_key", "payload.source", "payload.severity"] {
        assert!(errors.contains(named), "{errors}");
    }
    let r = http
        .post(&pager.url)
        .json(&json!({"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "inc-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "success", "message": "Event processed", "dedup_key": "inc-1"})
    );
    assert_eq!(ROUTING_KEY.len(), 32);
}
