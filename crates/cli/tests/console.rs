//! The web console on a simulated cluster, through plain HTTP as a browser without JavaScript
//! would speak it: sign-in with the API's tokens, sessions in a cookie, CSRF tokens on every
//! form, the incident list and page, and answering an approval through the page's form.

mod common;

use std::time::{Duration, Instant};

use common::browser::{Browser, awaiting, deadlock_lab, send};
use nightshift::lab::{LAB_POLICY, Lab, LabOptions};
use nightshift_agent::engine::EngineConfig;
use nightshift_agent::http::{Auth, Credential, Role};
use nightshift_core::knowledge::{ActionTaken, Entry, EntrySource, Outcome, Signature};
use nightshift_core::policy::{Mode, Policy};
use nightshift_core::trust::{Event, Fate, RowKey};
use nightshift_core::{ActionName, Category, ResourceRef, State, TimelineEntry, TimelineKind};

fn credentials() -> Auth {
    Auth::with(vec![
        Credential::bearer("alice", Role::Approver, "alice-token"),
        Credential::bearer("grafana", Role::Viewer, "viewer-token"),
        Credential::bearer("am", Role::Receiver, "receiver-token"),
        Credential::basic("alertmanager", "pw"),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_shows_incidents_and_answers_approvals() {
    let dir = tempfile::tempdir().unwrap();
    let lab = deadlock_lab(dir.path().join("record.db"), credentials(), true).await;
    let addr = lab.agent.addr;
    let store = lab.agent.engine.store().clone();

    // No session: to the sign-in page, with the page asked for as `next`.
    let mut alice = Browser::new(addr);
    let r = alice.get("/console/?state=awaiting_approval").await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some("/console/sign-in?next=%2Fconsole%2F%3Fstate%3Dawaiting_approval")
    );

    // A wrong token stays on the sign-in page with an error and no session.
    let r = alice
        .sign_in("not-a-token", "/console/?state=awaiting_approval")
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("<h1>Sign in</h1>"), "{}", r.body);
    assert!(r.body.contains("not one the agent knows"), "{}", r.body);
    assert!(r.set_cookie("nightshift_session").is_none());
    // A receiver's token cannot sign in either, nor can a sign-in form without its token.
    let r = alice.sign_in("receiver-token", "/console/").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("cannot sign in"), "{}", r.body);
    let r = alice
        .post("/console/sign-in", &[("token", "alice-token")])
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.set_cookie("nightshift_session").is_none());
    // An open redirect through `next` is not followed.
    let mut other = Browser::new(addr);
    let r = other.sign_in("alice-token", "//evil.example/").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/console/"));

    // The right token: a session cookie, strict and HttpOnly, and back to the page asked for.
    let r = alice
        .sign_in("alice-token", "/console/?state=awaiting_approval")
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some("/console/?state=awaiting_approval")
    );
    let cookie = r.set_cookie("nightshift_session").unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert_eq!(r.cookie_value("nightshift_session").unwrap().len(), 64);
    // Behind a TLS-terminating proxy the cookies are Secure.
    let r = send(
        addr,
        "GET",
        "/console/sign-in",
        &[("X-Forwarded-Proto", "https")],
        b"",
    )
    .await;
    assert!(
        r.set_cookie("nightshift_sign_in")
            .unwrap()
            .contains("; Secure")
    );

    let id = awaiting(&store).await;
    let list = alice.get("/console/").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.header("content-type")
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        list.headers
    );
    assert!(list.body.contains("Signed in as <strong>alice</strong>"));
    assert!(
        list.body
            .contains(&format!("href=\"/console/incidents/{}\"", id.0))
    );
    assert!(list.body.contains("awaiting_approval"));
    assert!(
        list.body
            .contains("<th scope=\"col\">time to mitigate</th>")
    );
    assert!(list.body.contains("<th scope=\"col\">severity</th>"));
    // The filters narrow the list.
    let none = alice.get("/console/?namespace=nowhere").await;
    assert!(none.body.contains("No incidents match."), "{}", none.body);
    let found = alice
        .get("/console/?state=awaiting_approval&namespace=shop&q=orders")
        .await;
    assert!(found.body.contains(&id.0), "{}", found.body);
    let r = alice.get("/console/?state=sleeping").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("the field state"), "{}", r.body);
    let r = alice.get(&format!("/console/?q={}", "x".repeat(201))).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("the field q is 201 characters"),
        "{}",
        r.body
    );
    // The API takes the same filters, answered by the same store call.
    let api = send(
        addr,
        "GET",
        "/api/v1/incidents?state=awaiting_approval&namespace=shop&q=ORDERS&awaiting_first=true",
        &[("Authorization", "Bearer viewer-token")],
        b"",
    )
    .await;
    assert_eq!(api.status, 200, "{}", api.body);
    assert!(api.body.contains(&id.0), "{}", api.body);
    let api = send(
        addr,
        "GET",
        "/api/v1/incidents?namespace=nowhere&offset=0",
        &[("Authorization", "Bearer viewer-token")],
        b"",
    )
    .await;
    assert_eq!(api.body, "[]");

    // The incident page: the diagnosis, the decision, and the approval form.
    let page_path = format!("/console/incidents/{}", id.0);
    let page = alice.get(&page_path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for part in [
        "<h2>Diagnosis</h2>",
        "root cause",
        "confidence",
        "<h2>Policy decision</h2>",
        "rule",
        "risk",
    ] {
        assert!(page.body.contains(part), "{part}: {}", page.body);
    }
    let approve = format!("{page_path}/approve");
    assert!(
        page.body.contains(&format!("action=\"{approve}\"")),
        "{}",
        page.body
    );
    let csrf = page.hidden("csrf").unwrap();

    // A viewer sees the page without the form, and a forged answer is refused.
    let mut viewer = Browser::new(addr);
    assert_eq!(
        viewer.sign_in("viewer-token", "/console/").await.status,
        303
    );
    let vpage = viewer.get(&page_path).await;
    assert_eq!(vpage.status, 200);
    assert!(!vpage.body.contains(&approve), "{}", vpage.body);
    assert!(vpage.body.contains("may not answer it"), "{}", vpage.body);
    let vcsrf = vpage.hidden("csrf").unwrap();
    let r = viewer
        .post(&approve, &[("csrf", &vcsrf), ("reason", "forged")])
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("grafana (viewer) may not answer approvals"),
        "{}",
        r.body
    );

    // No CSRF token, or another session's: 403. A reason too long or not UTF-8: 400 naming it.
    let r = alice.post(&approve, &[("reason", "lgtm")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("csrf"), "{}", r.body);
    let r = alice
        .post(&approve, &[("csrf", &vcsrf), ("reason", "lgtm")])
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let long = "x".repeat(1001);
    let r = alice
        .post(&approve, &[("csrf", &csrf), ("reason", &long)])
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("the field reason is longer than 1000"),
        "{}",
        r.body
    );
    let r = alice
        .post_raw(&approve, format!("csrf={csrf}&reason=%FF%FE").as_bytes())
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("the field reason is not valid UTF-8"),
        "{}",
        r.body
    );
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().incident.state,
        State::AwaitingApproval
    );

    // Unknown incident: an HTML 404 page.
    let r = alice.get("/console/incidents/inc-999999").await;
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(
        r.body.contains("incident inc-999999 not found"),
        "{}",
        r.body
    );

    // The approver approves through the form: back to the page, which says so, and the plan
    // runs.
    let r = alice
        .post(
            &approve,
            &[("csrf", &csrf), ("reason", "restart looks right")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some(page_path.as_str()));
    let page = alice.get(&page_path).await;
    assert!(page.body.contains("Approved by alice"), "{}", page.body);
    assert!(
        page.body.contains("restart looks right"),
        "the vote's reason: {}",
        page.body
    );
    assert!(!page.body.contains(&approve), "no form once answered");
    let approvals = store.approvals(&id).await.unwrap();
    assert_eq!(approvals.last().unwrap().votes[0].by, "alice");
    let deadline = Instant::now() + Duration::from_secs(120);
    let page = loop {
        let page = alice.get(&page_path).await;
        let state = store.get(&id).await.unwrap().unwrap().incident.state;
        // Past approval, the dry run shown, and the action's outcome recorded.
        if !matches!(
            state,
            State::AwaitingApproval | State::Approved | State::Acting
        ) && page.body.contains("<p id=\"dry-run\">")
            && page.body.contains("<td>applied: ")
        {
            break page;
        }
        assert!(Instant::now() < deadline, "the plan did not run: {state:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(!store.actions(&id).await.unwrap().is_empty());
    assert!(
        page.body.contains("<h2>Actions</h2>\n\n<table>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<td>applied: evict pod"),
        "{}",
        page.body
    );
    // The flash shows once.
    assert!(!page.body.contains("Approved by alice;"), "{}", page.body);

    // Signing out ends the session: the old cookie leads to the sign-in page again.
    let old = alice.cookies.get("nightshift_session").unwrap().clone();
    let csrf = alice.csrf("/console/").await;
    let r = alice.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/console/sign-in"));
    assert!(!alice.cookies.contains_key("nightshift_session"));
    let r = send(
        addr,
        "GET",
        "/console/",
        &[("Cookie", &format!("nightshift_session={old}"))],
        b"",
    )
    .await;
    assert_eq!(r.status, 303);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/console/sign-in?next=")
    );

    // The API is untouched by the console: still bearer tokens and JSON.
    let r = send(addr, "GET", "/api/v1/incidents", &[], b"").await;
    assert_eq!(r.status, 401);
    assert!(r.body.starts_with("{\"error\""), "{}", r.body);
    lab.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_api_signs_the_console_in_as_anonymous() {
    let dir = tempfile::tempdir().unwrap();
    // The lab's default: no credentials, as on loopback in development.
    let opts = LabOptions::new(dir.path().join("record.db"));
    let scenario =
        nightshift_scenario::load_file(&common::scenario_path("hang-orders-worker-deadlock"))
            .unwrap();
    let lab = Lab::start(&scenario, opts).await.unwrap();
    let mut browser = Browser::new(lab.agent.addr);
    let r = browser.get("/console/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.set_cookie("nightshift_session").is_some());
    assert!(
        r.body
            .contains("Signed in as <strong>anonymous</strong> (admin)"),
        "{}",
        r.body
    );
    // The sign-in page has nothing to ask: straight to where it was going.
    let r = send(
        lab.agent.addr,
        "GET",
        "/console/sign-in?next=%2Fconsole%2F%3Fq%3Dorders",
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/console/?q=orders"));
    // Forms still need the session's CSRF token.
    let r = browser.post("/console/sign-out", &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    lab.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_says_what_an_answer_did() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.speed = 60.0;
    // Two approvers for high risk, every action high risk; shop is answered by alice and bob.
    let policy = format!(
        "{}
approvers:
  - namespaces: [shop]
    users: [alice, bob]
min_approvers:
  high: 2
",
        LAB_POLICY
            .replace("\nmode: auto\n", "\nmode: approve\n")
            .replace("{risk: low", "{risk: high")
    );
    opts.policy = Policy::parse(&policy, "policy.yaml").unwrap();
    opts.engine = EngineConfig {
        settle: Duration::from_secs(5),
        ..EngineConfig::default()
    };
    opts.auth = Auth::with(vec![
        Credential::bearer("alice", Role::Approver, "alice-token"),
        Credential::bearer("bob", Role::Approver, "bob-token"),
        // An approver by role whom the policy does not list for shop.
        Credential::bearer("mallory", Role::Approver, "mallory-token"),
    ]);
    let scenario =
        nightshift_scenario::load_file(&common::scenario_path("hang-orders-worker-deadlock"))
            .unwrap();
    let lab = Lab::start(&scenario, opts).await.unwrap();
    let addr = lab.agent.addr;
    let store = lab.agent.engine.store().clone();
    let id = awaiting(&store).await;
    let page_path = format!("/console/incidents/{}", id.0);
    let approve = format!("{page_path}/approve");

    async fn answer(who: &mut Browser, page: &str, action: &str, reason: &str) -> String {
        let csrf = who.csrf(page).await;
        let r = who
            .post(action, &[("csrf", &csrf), ("reason", reason)])
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(r.header("location"), Some(page));
        let shown = who.get(page).await;
        let at = shown
            .body
            .find("<p id=\"flash\" class=\"flash")
            .unwrap_or_else(|| panic!("no outcome shown: {}", shown.body));
        let end = shown.body[at..].find("</p>").unwrap();
        shown.body[at..at + end].to_string()
    }

    // The engine's refusal is shown, and nothing is recorded.
    let mut mallory = Browser::new(addr);
    assert_eq!(
        mallory.sign_in("mallory-token", "/console/").await.status,
        303
    );
    let flash = answer(&mut mallory, &page_path, &approve, "let me").await;
    assert!(
        flash.contains("refused") && flash.contains("Refused:"),
        "{flash}"
    );
    assert!(
        flash.contains("may not answer approvals in namespace shop"),
        "{flash}"
    );
    assert!(
        store
            .approvals(&id)
            .await
            .unwrap()
            .last()
            .unwrap()
            .votes
            .is_empty()
    );

    // The first approval waits for another approver; the same one again does not count.
    let mut alice = Browser::new(addr);
    assert_eq!(alice.sign_in("alice-token", "/console/").await.status, 303);
    let flash = answer(&mut alice, &page_path, &approve, "first").await;
    assert!(flash.contains("ok"), "{flash}");
    assert!(
        flash.contains("Approved by alice (1 of 2); waiting for another approver."),
        "{flash}"
    );
    let flash = answer(&mut alice, &page_path, &approve, "again").await;
    assert!(
        flash.contains("refused") && flash.contains("alice already approved"),
        "{flash}"
    );
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().incident.state,
        State::AwaitingApproval
    );

    // The second, distinct approver decides it.
    let mut bob = Browser::new(addr);
    assert_eq!(bob.sign_in("bob-token", "/console/").await.status, 303);
    let flash = answer(&mut bob, &page_path, &approve, "second").await;
    assert!(
        flash.contains("Approved by bob; the incident is now"),
        "{flash}"
    );
    let approvals = store.approvals(&id).await.unwrap();
    let by: Vec<&str> = approvals
        .last()
        .unwrap()
        .votes
        .iter()
        .map(|v| v.by.as_str())
        .collect();
    assert_eq!(by, ["alice", "bob"]);
    lab.stop();
}

/// A knowledge-base entry about `resource`, for the knowledge page.
fn kb_entry(
    id: &str,
    title: &str,
    category: Category,
    action: ActionName,
    source: EntrySource,
    resource: &ResourceRef,
    at: chrono::DateTime<chrono::Utc>,
) -> Entry {
    let mut signature = Signature::for_resource(resource);
    signature.category = Some(category);
    Entry {
        id: id.into(),
        source,
        title: title.into(),
        summary: title.into(),
        signature,
        actions: vec![ActionTaken {
            action,
            target: Some(resource.locate_key()),
            fixed: Some(true),
        }],
        outcome: Outcome::Resolved,
        occurred_at: at,
        mitigated_after_s: Some(90),
        approved_by: vec![],
        services: vec![],
        notes: vec![],
        file: None,
    }
}

/// The rows of the first table after `id="{table}"`, each as its HTML.
fn table_rows<'a>(body: &'a str, table: &str) -> Vec<&'a str> {
    let start = body
        .find(&format!("id=\"{table}\""))
        .unwrap_or_else(|| panic!("no table {table}: {body}"));
    let end = start + body[start..].find("</table>").unwrap();
    body[start..end]
        .split("<tr>")
        .skip(2) // before the header, and the header
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_what_was_learned_and_takes_notes() {
    let dir = tempfile::tempdir().unwrap();
    let lab = deadlock_lab(dir.path().join("record.db"), credentials(), true).await;
    let addr = lab.agent.addr;
    let engine = lab.agent.engine.clone();
    let store = engine.store().clone();
    let id = awaiting(&store).await;
    let now = engine.now();

    // The knowledge base: this incident's entry, a past one like a search, and a document
    // whose title is markup.
    let worker = ResourceRef::deployment("shop", "orders-worker");
    let checkout = ResourceRef::deployment("shop", "checkout");
    store
        .kb_put(&[
            kb_entry(
                &id.0,
                "orders-worker stopped taking jobs from the queue",
                Category::Hang,
                ActionName::RolloutRestart,
                EntrySource::Incident,
                &worker,
                now - chrono::Duration::hours(1),
            ),
            kb_entry(
                "inc-000101",
                "checkout pods OOMKilled after the price cache grew",
                Category::Crash,
                ActionName::RolloutRestart,
                EntrySource::Incident,
                &checkout,
                now - chrono::Duration::days(3),
            ),
            kb_entry(
                "doc/xss",
                "<script>alert('kb')</script> cache runbook",
                Category::Crash,
                ActionName::RolloutRestart,
                EntrySource::Runbook,
                &checkout,
                now - chrono::Duration::days(9),
            ),
        ])
        .await
        .unwrap();
    // What the knowledge base said when the incident was analyzed, and a runbook Job it ran.
    for (message, data) in [
        (
            "seen 2 times in 30 days; rollout-restart fixed it 2 of 2 times",
            serde_json::json!({"recall": {"seen": 2}, "similar": ["inc-000101", "doc/xss"]}),
        ),
        (
            "runbook drain-stuck-jobs failed",
            serde_json::json!({"jobs": [{
                "runbook": "drain-stuck-jobs", "namespace": "shop", "job": "drain-stuck-jobs-1",
                "phase": "run", "result": "failed", "succeeded": 0, "failed": 1,
                "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
                "logs": "PLAY [release stuck jobs] failed=1",
            }]}),
        ),
    ] {
        let entry = TimelineEntry {
            at: now,
            kind: TimelineKind::Note,
            message: message.into(),
            data,
        };
        store.append(&id, &entry).await.unwrap();
    }
    // The trust ladder: three approvals and a rejection on one row, which alice pinned.
    let row = RowKey {
        namespace: "shop".into(),
        action: ActionName::RolloutRestart,
        category: Category::Hang,
    };
    for (n, fate) in [
        Fate::Approved,
        Fate::Approved,
        Fate::Rejected,
        Fate::Approved,
    ]
    .into_iter()
    .enumerate()
    {
        let event = Event {
            row: row.clone(),
            incident: format!("inc-00020{n}"),
            fate,
            at: now - chrono::Duration::minutes(10 - n as i64),
            by: "alice".into(),
            detail: fate.as_str().into(),
        };
        assert!(store.trust_record(&event).await.unwrap());
    }
    nightshift_agent::trust::pin(
        &store,
        &engine.policy(),
        &row,
        Some(Mode::Approve),
        "alice",
        now,
    )
    .await
    .unwrap();

    let mut alice = Browser::new(addr);
    assert_eq!(alice.sign_in("alice-token", "/console/").await.status, 303);
    let list = alice.get("/console/").await;
    for link in ["href=\"/console/knowledge\"", "href=\"/console/trust\""] {
        assert!(list.body.contains(link), "{link}: {}", list.body);
    }

    // A search: the entry most like the words first, linked to its incident page; markup in
    // a title is text.
    let kb = alice
        .get("/console/knowledge?q=OOMKilled+price+cache")
        .await;
    assert_eq!(kb.status, 200, "{}", kb.body);
    let rows = table_rows(&kb.body, "entries");
    assert!(
        rows[0].contains("<a href=\"/console/incidents/inc-000101\">inc-000101</a>"),
        "{rows:#?}"
    );
    assert!(rows[0].contains("rollout-restart (fixed)"), "{}", rows[0]);
    assert!(!kb.body.contains("<script>alert"), "{}", kb.body);
    assert!(kb.body.contains("&#60;script&#62;alert("), "{}", kb.body);
    // Without a search, the newest entries; too long a search is refused.
    let newest = alice.get("/console/knowledge").await;
    let rows = table_rows(&newest.body, "entries");
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert!(rows[0].contains(&id.0), "{}", rows[0]);
    let r = alice
        .get(&format!("/console/knowledge?q={}", "x".repeat(201)))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // The ladder: the row with its counts, pinned, and the change that pinned it.
    let trust = alice.get("/console/trust").await;
    assert_eq!(trust.status, 200, "{}", trust.body);
    let rows = table_rows(&trust.body, "ladder");
    let shop = rows
        .iter()
        .find(|r| r.contains("<td>shop</td>") && r.contains("rollout-restart"))
        .unwrap_or_else(|| panic!("{rows:#?}"));
    for part in [
        "<td>app/hang</td>",
        "<td class=\"num\">3/4</td>",
        "<td class=\"num\">0.75</td>",
        "approve <span class=\"tag\">pinned</span>",
    ] {
        assert!(shop.contains(part), "{part}: {shop}");
    }
    let changes = table_rows(&trust.body, "changes");
    assert!(
        changes[0].contains("pinned in approve by alice"),
        "{changes:#?}"
    );

    // The incident page: what the knowledge base said, linked; the Job; the note form.
    let page_path = format!("/console/incidents/{}", id.0);
    let notes = format!("{page_path}/notes");
    let page = alice.get(&page_path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for part in [
        "<h2 id=\"seen-h\">Seen before</h2>",
        "seen 2 times in 30 days",
        "<a href=\"/console/incidents/inc-000101\">inc-000101</a>: checkout pods OOMKilled",
        "<strong>doc/xss</strong>: &#60;script&#62;",
        "<h2 id=\"jobs-h\">Runbook Jobs</h2>",
        "shop/drain-stuck-jobs-1",
        "succeeded 0, failed 1; BackoffLimitExceeded",
        "PLAY [release stuck jobs] failed=1",
        "No notes yet.",
    ] {
        assert!(page.body.contains(part), "{part}: {}", page.body);
    }
    assert!(page.body.contains(&format!("action=\"{notes}\"")));
    let csrf = page.hidden("csrf").unwrap();
    let written = |store: nightshift_store::Store, id: nightshift_core::IncidentId| async move {
        store
            .timeline(&id)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.data.get("note").is_some())
            .count()
    };

    // A viewer has no form, and a forged note is refused and writes nothing.
    let mut viewer = Browser::new(addr);
    assert_eq!(
        viewer.sign_in("viewer-token", "/console/").await.status,
        303
    );
    let vpage = viewer.get(&page_path).await;
    assert!(!vpage.body.contains(&notes), "{}", vpage.body);
    let vcsrf = vpage.hidden("csrf").unwrap();
    let r = viewer
        .post(&notes, &[("csrf", &vcsrf), ("text", "forged")])
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("grafana (viewer) may not add notes"),
        "{}",
        r.body
    );
    // Without the session's CSRF token: refused too.
    let r = alice.post(&notes, &[("text", "no token")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // An empty note says so and writes nothing.
    let r = alice.post(&notes, &[("csrf", &csrf), ("text", "  ")]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some(page_path.as_str()));
    let shown = alice.get(&page_path).await;
    assert!(
        shown
            .body
            .contains("The note is empty; nothing was written."),
        "{}",
        shown.body
    );
    assert_eq!(written(store.clone(), id.clone()).await, 0);
    assert!(store.kb_get(&id.0).await.unwrap().unwrap().notes.is_empty());

    // The approver's note: on the page as a note, in the record, and on the entry, where a
    // search finds it.
    let text = "the queue lock was held by a stuck migration; <b>check</b> it first";
    let r = alice.post(&notes, &[("csrf", &csrf), ("text", text)]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some(page_path.as_str()));
    let shown = alice.get(&page_path).await;
    assert!(
        shown.body.contains("Note added by alice."),
        "{}",
        shown.body
    );
    assert!(
        shown.body.contains("<strong>alice</strong>")
            && shown
                .body
                .contains("stuck migration; &#60;b&#62;check&#60;/b&#62; it first"),
        "{}",
        shown.body
    );
    assert_eq!(written(store.clone(), id.clone()).await, 1);
    let entry = store.kb_get(&id.0).await.unwrap().unwrap();
    assert_eq!(entry.notes.len(), 1);
    assert_eq!(entry.notes[0].by, "alice");
    assert!(entry.notes[0].text.contains("stuck migration"));
    let found = alice.get("/console/knowledge?q=stuck+migration").await;
    let rows = table_rows(&found.body, "entries");
    assert!(rows[0].contains(&id.0), "{rows:#?}");
    // An unknown incident: 404, nothing written.
    let r = alice
        .post(
            "/console/incidents/inc-999999/notes",
            &[("csrf", &csrf), ("text", "lost")],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    lab.stop();
}
