//! Slack against the simulated cluster and a local stand-in for Slack
//! (tests/common/slack_api.rs): an incident waiting for approval is one message in the channel,
//! updated in place to the end, with every step also in its thread; signed clicks by the
//! policy's approvers answer it (two of them where `min_approvers` says so), while a bad
//! signature, a stale timestamp, a user the policy does not list, a click on a decided and one
//! on an expired approval change nothing and are answered as Slack expects. The message
//! survives an agent restart, a change of leader between two replicas on PostgreSQL, and Slack
//! being rate-limiting and then down for a while. Rejecting over Socket Mode asks for a reason
//! in a modal; a refused bot token is given up on and recorded.

mod common;

#[path = "common/slack_api.rs"]
mod slack_api;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nightshift::lab::{LAB_POLICY, Lab, LabOptions};
use nightshift::notifications::NotifySettings;
use nightshift_agent::clock::{Clock, ExternalClock};
use nightshift_agent::engine::EngineConfig;
use nightshift_agent::notify::slack::blocks::state_name;
use nightshift_agent::notify::slack::sign;
use nightshift_agent::runtime::{StartOptions, start};
use nightshift_agent::verify::ClusterClock;
use nightshift_core::notice::{NotifyEvent, event_of};
use nightshift_core::policy::Policy;
use nightshift_core::{IncidentId, RuleAnalyzer, State, TimelineEntry, TimelineKind};
use nightshift_store::{ActionStatus, ApprovalStatus, IncidentFilter, NoticeStatus, Store};
use serde_json::{Value, json};
use slack_api::{CHANNEL_ID, FakeSlack, Mode};

const BOT_TOKEN: &str = "xoxb-1111-2222-test";
const APP_TOKEN: &str = "xapp-1-A0NIGHTSHIFT-test";
const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const WAIT: Duration = Duration::from_secs(240);

/// The lab's policy in approve mode with every action high risk; in namespace shop only the
/// Slack users listed answer, and `extra` adds to it.
fn policy(approvers: &[&str], extra: &str) -> Policy {
    let lab = LAB_POLICY
        .replace("\nmode: auto\n", "\nmode: approve\n")
        .replace("{risk: low", "{risk: high");
    let users: Vec<String> = approvers.iter().map(|u| format!("\"{u}\"")).collect();
    let text = format!(
        "{lab}\napprovers:\n  - namespaces: [shop]\n    users: [{}]\n{extra}",
        users.join(", ")
    );
    Policy::parse(&text, "policy.yaml").unwrap()
}

fn write(dir: &Path, name: &str, value: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path
}

/// A `notify:` section with one Slack destination named `chat` against `slack`.
fn notify(dir: &Path, slack: &FakeSlack, socket_mode: bool, more: &str) -> NotifySettings {
    let bot = write(dir, "bot-token", BOT_TOKEN);
    let secret = if socket_mode {
        format!(
            "    socket_mode: true\n    app_token_file: {}\n",
            write(dir, "app-token", APP_TOKEN).display()
        )
    } else {
        format!(
            "    signing_secret_file: {}\n",
            write(dir, "signing-secret", SIGNING_SECRET).display()
        )
    };
    let text = format!(
        "console_url: https://nightshift.example.com\ndestinations:\n  - type: slack\n    name: chat\n    channel: \"#ops\"\n    api_url: {}\n    bot_token_file: {}\n{secret}{more}",
        slack.api_url,
        bot.display()
    );
    serde_saphyr::from_str(&text).unwrap()
}

fn options(dir: &Path, policy: Policy, notify: NotifySettings) -> LabOptions {
    let mut opts = LabOptions::new(dir.join("record.db"));
    opts.speed = 60.0;
    opts.policy = policy;
    opts.engine = EngineConfig {
        settle: Duration::from_secs(5),
        ..EngineConfig::default()
    };
    opts.notify = notify;
    opts
}

fn scenario() -> nightshift_scenario::Scenario {
    nightshift_scenario::load_file(&common::scenario_path("hang-orders-worker-deadlock")).unwrap()
}

async fn wait_until<T, F, Fut>(what: &str, mut ready: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = ready().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn awaiting_approval(store: &Store) -> IncidentId {
    wait_until("an incident awaiting approval", || async {
        store
            .list(&IncidentFilter::default())
            .await
            .unwrap()
            .into_iter()
            .find(|i| i.incident.state == State::AwaitingApproval)
            .map(|i| i.incident.id)
    })
    .await
}

async fn state(store: &Store, id: &IncidentId) -> State {
    store.get(id).await.unwrap().unwrap().incident.state
}

/// What a test compares to see that an answer changed nothing: the state, the votes, and
/// the timeline entries an answer writes (transitions, approvals, actions). Signals that go
/// on joining the incident and the outbox's notes about deliveries are not about the answer.
async fn record(store: &Store, id: &IncidentId) -> (State, Vec<TimelineEntry>, String) {
    let timeline = store
        .timeline(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| {
            matches!(
                e.kind,
                TimelineKind::Transition | TimelineKind::Approval | TimelineKind::Action
            )
        })
        .collect();
    (
        state(store, id).await,
        timeline,
        format!("{:?}", store.approvals(id).await.unwrap()),
    )
}

/// The incident's message: the one top-level post whose text names it.
fn posts_about(slack: &FakeSlack, id: &IncidentId) -> Vec<slack_api::Call> {
    slack
        .top_level_posts()
        .into_iter()
        .filter(|c| {
            c.body["text"]
                .as_str()
                .is_some_and(|t| t.starts_with(&format!("Incident {} ", id.0)))
        })
        .collect()
}

fn header(blocks: &Value) -> String {
    blocks[0]["text"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn buttons(blocks: &Value) -> Vec<Value> {
    blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn block_text(blocks: &Value) -> String {
    blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["text"]["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A click on `button` of the message at `ts`, by `user`, as Slack sends it.
fn click(slack: &FakeSlack, ts: &str, user: &str, button: &Value, n: usize) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase(), "team_id": "T0NIGHTSHIFT"},
        "api_app_id": "A0NIGHTSHIFT",
        "token": "deprecated-verification-token",
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL_ID, "is_ephemeral": false},
        "trigger_id": format!("{n}.98765.abcdef"),
        "team": {"id": "T0NIGHTSHIFT", "domain": "acme"},
        "channel": {"id": CHANNEL_ID, "name": "ops"},
        "response_url": format!("{}/{n}", slack.response_base),
        "actions": [{
            "type": "button",
            "action_id": button["action_id"],
            "block_id": "nightshift_approval",
            "text": button["text"],
            "value": button["value"],
            "action_ts": "1700000000.000001",
        }],
    })
}

fn form(payload: &Value) -> String {
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}

/// Posts an interaction to the agent signed with `secret` at `timestamp`; the status.
async fn post_interaction(
    addr: std::net::SocketAddr,
    body: &str,
    secret: &str,
    timestamp: i64,
) -> u16 {
    let ts = timestamp.to_string();
    nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap()
        .post(format!("http://{addr}/api/v1/slack/interactions"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Slack-Request-Timestamp", &ts)
        .header("X-Slack-Signature", sign(secret, &ts, body.as_bytes()))
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn response_containing(slack: &FakeSlack, text: &str) -> Value {
    wait_until(&format!("an ephemeral answer saying {text:?}"), || async {
        slack
            .responses()
            .into_iter()
            .find(|r| r["text"].as_str().is_some_and(|t| t.contains(text)))
    })
    .await
}

/// Stops the lab's agent and starts another on the same store, port and cluster, as a
/// restarted process would be.
async fn restart_agent(lab: &mut Lab, opts: LabOptions) {
    lab.agent.stop();
    let addr = lab.agent.addr;
    wait_until("the old agent's port to be free", || async {
        std::net::TcpListener::bind(addr).ok().map(drop)
    })
    .await;
    let mut config = kube::Config::new(format!("http://{}", lab.cluster.addr).parse().unwrap());
    config.read_timeout = Some(Duration::from_secs(30));
    let sim_clock = lab.sim.clock().clone();
    let clock: Arc<dyn Clock> = Arc::new(ExternalClock::new(
        move || sim_clock.now_ms(),
        Duration::from_millis(20),
    ));
    let sim_clock = lab.sim.clock().clone();
    lab.agent = start(
        config,
        clock,
        RuleAnalyzer::new(),
        opts.policy,
        Store::open(&opts.store).await.unwrap(),
        StartOptions {
            listen: addr,
            auth: opts.auth,
            limits: opts.limits,
            notify: opts.notify.setup(None, &Default::default()).unwrap(),
            engine: opts.engine,
            watchers: opts.watchers,
            watch_interval: Duration::from_secs(15),
            election: None,
            policy_file: None,
            cluster_clock: ClusterClock::Custom(Arc::new(move || sim_clock.now())),
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_is_one_message_answered_by_two_slack_approvers() {
    let dir = tempfile::tempdir().unwrap();
    let slack = FakeSlack::start(BOT_TOKEN, APP_TOKEN).await;
    let policy = || {
        policy(
            &["slack:UALICE", "slack:UBOB"],
            "min_approvers:\n  high: 2\napproval_timeout: 4h\n",
        )
    };
    let settings = notify(dir.path(), &slack, false, "");
    let mut lab = Lab::start(&scenario(), options(dir.path(), policy(), settings.clone()))
        .await
        .unwrap();
    let store = lab.agent.engine.store().clone();
    let id = awaiting_approval(&store).await;

    // One message, with the buttons once the approval is asked for.
    let ts = wait_until("the message with approval buttons", || async {
        let posts = posts_about(&slack, &id);
        let ts = posts.first()?.answer["ts"].as_str()?.to_string();
        (buttons(&slack.message(&ts)?).len() == 2).then_some(ts)
    })
    .await;
    let post = &posts_about(&slack, &id)[0];
    assert_eq!(post.body["channel"], "#ops");
    let blocks = slack.message(&ts).unwrap();
    assert!(
        header(&blocks).contains(&id.0) && header(&blocks).contains("awaiting approval"),
        "{blocks}"
    );
    let text = block_text(&blocks);
    for part in [
        "*Diagnosis*",
        "*Plan:*",
        "*Policy:*",
        "high risk",
        "*Approval:*",
    ] {
        assert!(text.contains(part), "{part} missing from {text}");
    }
    let context = blocks.as_array().unwrap().last().unwrap().to_string();
    assert!(
        context.contains(&format!(
            "https://nightshift.example.com/incidents/{}",
            id.0
        )),
        "{context}"
    );
    let [approve, reject] = <[Value; 2]>::try_from(buttons(&blocks)).unwrap();
    assert_eq!(approve["action_id"], "nightshift_approve");
    assert_eq!(reject["action_id"], "nightshift_reject");
    assert_eq!(approve["value"], id.0.as_str());
    let addr = lab.agent.addr;

    // A bad signature, and a correctly signed request five minutes old: 401, nothing changes.
    let before = record(&store, &id).await;
    let body = form(&click(&slack, &ts, "UALICE", &approve, 1));
    assert_eq!(
        post_interaction(addr, &body, "not-the-secret", now()).await,
        401
    );
    assert_eq!(
        post_interaction(addr, &body, SIGNING_SECRET, now() - 301).await,
        401
    );
    let unsigned = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap()
        .post(format!("http://{addr}/api/v1/slack/interactions"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    // A user the policy does not list for shop: 200, told so privately, nothing changes.
    let body = form(&click(&slack, &ts, "UMALLORY", &approve, 2));
    assert_eq!(
        post_interaction(addr, &body, SIGNING_SECRET, now()).await,
        200
    );
    let answer = response_containing(&slack, "not an approver for namespace shop").await;
    assert_eq!(answer["response_type"], "ephemeral");
    assert_eq!(answer["replace_original"], false);
    assert_eq!(record(&store, &id).await, before);
    assert!(store.actions(&id).await.unwrap().is_empty());

    // The first approver: recorded, the plan waits for a second.
    let body = form(&click(&slack, &ts, "UALICE", &approve, 3));
    assert_eq!(
        post_interaction(addr, &body, SIGNING_SECRET, now()).await,
        200
    );
    response_containing(&slack, "waiting for a second approver").await;
    assert_eq!(state(&store, &id).await, State::AwaitingApproval);
    let votes = &store.approvals(&id).await.unwrap()[0].votes;
    assert_eq!(votes.len(), 1);
    assert_eq!(votes[0].by, "slack:UALICE");
    wait_until("the message to show the first approval", || async {
        block_text(&slack.message(&ts)?)
            .contains("approved by slack:UALICE (1 of 2)")
            .then_some(())
    })
    .await;

    // The agent restarts on the same record.
    restart_agent(&mut lab, options(dir.path(), policy(), settings.clone())).await;
    let addr = lab.agent.addr;
    let store = lab.agent.engine.store().clone();

    // Slack rate-limits, then is down, while the second approver answers and the plan runs.
    slack.set_mode(Mode::RateLimited);
    let body = form(&click(&slack, &ts, "UBOB", &approve, 4));
    assert_eq!(
        post_interaction(addr, &body, SIGNING_SECRET, now()).await,
        200
    );
    wait_until("the approved action to run", || async {
        store
            .actions(&id)
            .await
            .unwrap()
            .iter()
            .any(|a| a.status == ActionStatus::Done)
            .then_some(())
    })
    .await;
    let refused = slack.refused();
    wait_until("deliveries refused while rate-limited", || async {
        (slack.refused() >= refused.max(3)).then_some(())
    })
    .await;
    slack.set_mode(Mode::Unavailable);
    let refused = slack.refused();
    wait_until("deliveries refused while down", || async {
        (slack.refused() >= refused + 2).then_some(())
    })
    .await;
    slack.set_mode(Mode::Up);

    // Resolved, and the message says so; nothing left to deliver.
    let end = wait_until("the incident to resolve", || async {
        let s = state(&store, &id).await;
        matches!(s, State::Resolved | State::Closed).then_some(s)
    })
    .await;
    assert!(matches!(end, State::Resolved | State::Closed));
    wait_until("every step to reach Slack", || async {
        let notices = store.notices(&id).await.unwrap();
        let pending = notices
            .iter()
            .any(|n| n.destination == "chat" && n.status != NoticeStatus::Delivered);
        let now = state_name(state(&store, &id).await);
        let shown = header(&slack.message(&ts)?);
        (!pending && shown.ends_with(&now)).then_some(())
    })
    .await;

    // One message in all, across the restart and the outage; every update is of it.
    assert_eq!(posts_about(&slack, &id).len(), 1);
    for update in slack.accepted("chat.update") {
        if update.body["text"]
            .as_str()
            .is_some_and(|t| t.starts_with(&format!("Incident {} ", id.0)))
        {
            assert_eq!(update.body["ts"], ts.as_str());
            assert_eq!(update.body["channel"], CHANNEL_ID);
        }
    }
    let blocks = slack.message(&ts).unwrap();
    assert!(buttons(&blocks).is_empty(), "buttons left on {blocks}");
    let text = block_text(&blocks);
    assert!(
        text.contains("approved by slack:UALICE, slack:UBOB")
            && text.contains("*Action*")
            && text.contains("*Verification:*"),
        "{text}"
    );
    // The dry run made before the change, in a code block.
    assert!(text.contains("*Dry run*\n```\n"), "{text}");
    // The evidence the diagnosis rests on, by id and what was seen.
    let evidence = text
        .split("_Evidence:_")
        .nth(1)
        .unwrap_or_else(|| panic!("no evidence in {text}"));
    assert!(evidence.starts_with("\n• `E"), "{text}");

    // Every step after the first is one reply in the thread, in the order of the timeline:
    // none lost, none twice.
    let replies: Vec<String> = slack
        .thread_replies()
        .into_iter()
        .filter(|c| c.body["thread_ts"] == ts.as_str())
        .map(|c| c.body["text"].as_str().unwrap_or_default().to_string())
        .collect();
    let steps: Vec<(NotifyEvent, TimelineEntry)> = store
        .timeline(&id)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| event_of(&e).map(|ev| (ev, e)))
        .collect();
    let delivered = store
        .notices(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.destination == "chat")
        .count();
    assert_eq!(steps.len(), delivered);
    assert_eq!(replies.len(), steps.len() - 1, "{replies:#?}");
    for (reply, (event, entry)) in replies.iter().zip(&steps[1..]) {
        if *event == NotifyEvent::ApprovalNeeded {
            assert!(
                reply.starts_with(&format!("Incident {} needs approval", id.0)),
                "{reply}"
            );
        } else {
            assert_eq!(reply, &format!("Incident {}: {}", id.0, entry.message));
        }
    }
    let approvals = store.approvals(&id).await.unwrap();
    assert_eq!(approvals[0].status, ApprovalStatus::Approved);
    assert_eq!(
        approvals[0].decided_by.as_deref(),
        Some("slack:UALICE, slack:UBOB")
    );

    // A click on the old buttons once it is decided: told so, nothing changes.
    let before = record(&store, &id).await;
    let body = form(&click(&slack, &ts, "UALICE", &approve, 5));
    assert_eq!(
        post_interaction(addr, &body, SIGNING_SECRET, now()).await,
        200
    );
    response_containing(
        &slack,
        "already decided: approved by slack:UALICE, slack:UBOB",
    )
    .await;
    assert_eq!(record(&store, &id).await, before);
    lab.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejecting_over_socket_mode_asks_for_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let slack = FakeSlack::start(BOT_TOKEN, APP_TOKEN).await;
    let settings = notify(dir.path(), &slack, true, "");
    let lab = Lab::start(
        &scenario(),
        options(
            dir.path(),
            policy(&["slack:UBOB"], "approval_timeout: 4h\n"),
            settings,
        ),
    )
    .await
    .unwrap();
    let store = lab.agent.engine.store().clone();
    let id = awaiting_approval(&store).await;
    let ts = wait_until("the message with approval buttons", || async {
        let ts = posts_about(&slack, &id).first()?.answer["ts"]
            .as_str()?
            .to_string();
        (buttons(&slack.message(&ts)?).len() == 2).then_some(ts)
    })
    .await;
    let reject = buttons(&slack.message(&ts).unwrap())[1].clone();
    // With Socket Mode only, nothing is taken over HTTP.
    let body = form(&click(&slack, &ts, "UBOB", &reject, 1));
    assert_eq!(
        post_interaction(lab.agent.addr, &body, SIGNING_SECRET, now()).await,
        404
    );
    wait_until("the agent's Socket Mode connection", || async {
        (slack.push_envelope(&json!({"type": "ping"})) > 0).then_some(())
    })
    .await;

    // The Reject click: acknowledged by envelope id, and a modal asks why.
    slack.push_envelope(&json!({
        "envelope_id": "env-click",
        "type": "interactive",
        "accepts_response_payload": false,
        "payload": click(&slack, &ts, "UBOB", &reject, 7),
    }));
    let opened = wait_until("views.open", || async {
        slack.accepted("views.open").into_iter().next()
    })
    .await;
    wait_until("the envelope's acknowledgement", || async {
        slack
            .acks()
            .iter()
            .any(|a| a == &json!({"envelope_id": "env-click"}))
            .then_some(())
    })
    .await;
    assert_eq!(opened.body["trigger_id"], "7.98765.abcdef");
    let view = &opened.body["view"];
    assert_eq!(view["type"], "modal");
    assert_eq!(view["callback_id"], "nightshift_reject");
    assert_eq!(state(&store, &id).await, State::AwaitingApproval);

    // The modal submitted with a reason: rejected by that user, for that reason.
    let mut submitted = opened.answer["view"].clone();
    submitted["state"] = json!({"values": {"reason": {"reason": {"type": "plain_text_input", "value": "not during the sale"}}}});
    slack.push_envelope(&json!({
        "envelope_id": "env-submit",
        "type": "interactive",
        "accepts_response_payload": true,
        "payload": {
            "type": "view_submission",
            "team": {"id": "T0NIGHTSHIFT", "domain": "acme"},
            "user": {"id": "UBOB", "username": "bob", "team_id": "T0NIGHTSHIFT"},
            "api_app_id": "A0NIGHTSHIFT",
            "trigger_id": "8.98765.abcdef",
            "view": submitted,
        },
    }));
    wait_until("the rejection", || async {
        matches!(state(&store, &id).await, State::Rejected | State::Escalated).then_some(())
    })
    .await;
    let approval = &store.approvals(&id).await.unwrap()[0];
    assert_eq!(approval.status, ApprovalStatus::Rejected);
    assert_eq!(approval.decided_by.as_deref(), Some("slack:UBOB"));
    assert_eq!(approval.reason.as_deref(), Some("not during the sale"));
    assert!(store.actions(&id).await.unwrap().is_empty());
    wait_until("the envelope's acknowledgement", || async {
        slack
            .acks()
            .iter()
            .any(|a| a == &json!({"envelope_id": "env-submit"}))
            .then_some(())
    })
    .await;
    wait_until("the message to show the rejection", || async {
        let blocks = slack.message(&ts)?;
        (block_text(&blocks).contains("rejected by slack:UBOB: not during the sale")
            && buttons(&blocks).is_empty())
        .then_some(())
    })
    .await;
    assert_eq!(posts_about(&slack, &id).len(), 1);
    lab.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_approval_and_a_refused_token_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let slack = FakeSlack::start(BOT_TOKEN, APP_TOKEN).await;
    let wrong = write(dir.path(), "wrong-token", "xoxb-revoked");
    let settings = notify(
        dir.path(),
        &slack,
        false,
        &format!(
            "  - type: slack\n    name: wrong\n    channel: \"#ops\"\n    api_url: {}\n    bot_token_file: {}\n    signing_secret_file: {}\n",
            slack.api_url,
            wrong.display(),
            write(dir.path(), "other-secret", "another-app-secret").display()
        ),
    );
    let lab = Lab::start(
        &scenario(),
        options(
            dir.path(),
            policy(&["slack:UBOB"], "approval_timeout: 2m\n"),
            settings,
        ),
    )
    .await
    .unwrap();
    let store = lab.agent.engine.store().clone();
    let id = awaiting_approval(&store).await;
    let ts = wait_until("the message", || async {
        posts_about(&slack, &id).first()?.answer["ts"]
            .as_str()
            .map(str::to_string)
    })
    .await;

    // Nobody answers: the approval expires and the incident goes to a human.
    wait_until("the approval to expire", || async {
        let approvals = store.approvals(&id).await.unwrap();
        (approvals[0].status == ApprovalStatus::Expired
            && state(&store, &id).await == State::Escalated)
            .then_some(())
    })
    .await;
    let approve = json!({
        "action_id": "nightshift_approve",
        "text": {"type": "plain_text", "text": "Approve"},
        "value": id.0,
    });
    let before = record(&store, &id).await;
    let body = form(&click(&slack, &ts, "UBOB", &approve, 1));
    assert_eq!(
        post_interaction(lab.agent.addr, &body, SIGNING_SECRET, now()).await,
        200
    );
    let answer = response_containing(&slack, "this approval expired at").await;
    assert_eq!(answer["response_type"], "ephemeral");
    assert_eq!(record(&store, &id).await, before);
    assert!(store.actions(&id).await.unwrap().is_empty());
    wait_until("the message to lose its buttons", || async {
        let blocks = slack.message(&ts)?;
        (buttons(&blocks).is_empty() && header(&blocks).ends_with("escalated")).then_some(())
    })
    .await;

    // The destination whose token Slack refuses: tried three times, given up, on the record.
    let given_up = wait_until("the refused destination to be given up on", || async {
        store
            .notices(&id)
            .await
            .unwrap()
            .into_iter()
            .find(|n| n.destination == "wrong" && n.status == NoticeStatus::Failed)
    })
    .await;
    assert_eq!(given_up.attempts, 3);
    assert_eq!(
        given_up.error.as_deref(),
        Some("slack chat.postMessage: invalid_auth")
    );
    assert!(
        store.timeline(&id).await.unwrap().iter().any(|e| e
            .message
            .contains("to wrong given up after 3 tries: slack chat.postMessage: invalid_auth")),
        "the refusal is on the incident's timeline"
    );
    assert!(
        slack
            .calls()
            .iter()
            .all(|c| !c.body.to_string().contains("xoxb-")),
        "a token leaked into a request body"
    );
    lab.stop();
}

/// Two replicas of the real binary on one PostgreSQL record: the leader posts the message and
/// is killed; the new leader takes the click, runs the plan and updates the same message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_updates_the_same_message() {
    let Some(store_url) = common::fresh_pg_schema("slack") else {
        return;
    };
    let bin = Path::new(env!("CARGO_BIN_EXE_nightshift"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let slack = FakeSlack::start(BOT_TOKEN, APP_TOKEN).await;
    let alert_port = common::free_port();
    let sim = common::start_sim(
        bin,
        path,
        &common::scenario_path("hang-orders-worker-deadlock"),
        30.0,
        Some(&format!(
            "http://127.0.0.1:{alert_port}/api/v1/alerts/alertmanager"
        )),
    );
    let policy_file = write(
        path,
        "policy.yaml",
        &(LAB_POLICY
            .replace("\nmode: auto\n", "\nmode: approve\n")
            .replace("{risk: low", "{risk: high")
            + "\napprovers:\n  - namespaces: [shop]\n    users: [\"slack:UBOB\"]\napproval_timeout: 4h\n"),
    );
    let bot = write(path, "bot-token", BOT_TOKEN);
    let secret = write(path, "signing-secret", SIGNING_SECRET);
    let replica = |name: &str, port: u16| {
        let config = write(
            path,
            &format!("{name}.yaml"),
            &format!(
                "listen: 127.0.0.1:{port}\nstore: {store_url}\nkubeconfig: {}\npolicy: {}\n\
                 watchers: false\nsettle: 1s\npoll: 200ms\nstabilization: 60s\n\
                 leader_election:\n  lease: nightshift\n  namespace: shop\n  identity: {name}\n  \
                 duration: 5s\n  grace: 1s\nnotify:\n  destinations:\n    - type: slack\n      \
                 name: chat\n      channel: \"#ops\"\n      api_url: {}\n      bot_token_file: {}\n      \
                 signing_secret_file: {}\n",
                sim.kubeconfig.display(),
                policy_file.display(),
                slack.api_url,
                bot.display(),
                secret.display(),
            ),
        );
        common::start_agent(bin, path, name, &config, port, &[])
    };
    let mut a = replica("a", alert_port);
    let store = Store::open(&store_url).await.unwrap();
    let id = awaiting_approval(&store).await;
    let ts = wait_until("the message with approval buttons", || async {
        let ts = posts_about(&slack, &id).first()?.answer["ts"]
            .as_str()?
            .to_string();
        (buttons(&slack.message(&ts)?).len() == 2).then_some(ts)
    })
    .await;
    let approve = buttons(&slack.message(&ts).unwrap())[0].clone();

    // b joins; a dies; b comes to lead and takes the click.
    let b_port = common::free_port();
    let _b = replica("b", b_port);
    a.kill();
    wait_until("b to lead", || async {
        matches!(store.current_term().await, Ok(Some((_, holder))) if holder == "b").then_some(())
    })
    .await;
    let b_addr: std::net::SocketAddr = format!("127.0.0.1:{b_port}").parse().unwrap();
    let body = form(&click(&slack, &ts, "UBOB", &approve, 1));
    assert_eq!(
        post_interaction(b_addr, &body, SIGNING_SECRET, now()).await,
        200
    );
    wait_until("the incident to be done", || async {
        matches!(state(&store, &id).await, State::Resolved | State::Closed).then_some(())
    })
    .await;
    wait_until("the message to show the end", || async {
        let shown = header(&slack.message(&ts)?);
        let now = state_name(state(&store, &id).await);
        let pending = store
            .notices(&id)
            .await
            .unwrap()
            .iter()
            .any(|n| n.status != NoticeStatus::Delivered);
        (!pending && shown.ends_with(&now)).then_some(())
    })
    .await;
    assert_eq!(
        posts_about(&slack, &id).len(),
        1,
        "one message across the change of leader"
    );
    let approval = &store.approvals(&id).await.unwrap()[0];
    assert_eq!(approval.decided_by.as_deref(), Some("slack:UBOB"));
    assert!(buttons(&slack.message(&ts).unwrap()).is_empty());
}
