//! The web console in a real browser: headless Chromium driven through chromedriver
//! (Debian's `chromium` and `chromium-driver`, which scripts/test installs), against the agent
//! on a simulated cluster.
//!
//! - Sign in with a token; watch the demo scenario's incident appear in the list and move to
//!   closed without a reload (the page's own live updates); open it and find the diagnosis,
//!   the dry run's diff and the verification's measured values.
//! - Approve a plan waiting in an approve-mode namespace from the page and see the action run;
//!   a viewer sees no approve button and a forged answer is refused (403); a form posted
//!   without its CSRF token is refused.
//! - Add a note to the approved incident through its form and find it on the page; open the
//!   knowledge and trust pages.
//! - Every page is saved at 1280×800 under `target/console-screenshots/`.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use nightshift::lab::{Lab, LabOptions};
use nightshift_agent::http::{Auth, Credential, Role};
use nightshift_core::{IncidentId, State};
use nightshift_store::{IncidentFilter, Store};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver, stopped on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether chromedriver answers its status (it speaks HTTP/1.1 only).
fn driver_ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req =
        format!("GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut buf = [0u8; 16];
    s.write_all(req.as_bytes()).is_ok()
        && matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"200")
}

/// Starts chromedriver and a headless Chromium session with a 1280×800 window.
async fn browser() -> (Driver, Client) {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            std::path::Path::new(path).exists(),
            "{path} is missing: install the Debian package {package} (scripts/test does)"
        );
    }
    let port = common::free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    common::wait_for("chromedriver", Duration::from_secs(20), || {
        driver_ready(port).then_some(())
    });
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,800", "--hide-scrollbars", "--lang=en-US"],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver");
    // The window's frame takes some of its size: make the page itself 1280×800.
    client.set_window_size(1280, 800).await.unwrap();
    let frame = client
        .execute(
            "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];",
            vec![],
        )
        .await
        .unwrap();
    let extra = |i: usize| frame[i].as_u64().unwrap_or(0) as u32;
    client
        .set_window_size(1280 + extra(0), 800 + extra(1))
        .await
        .unwrap();
    (driver, client)
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn body(c: &Client) -> String {
    text(c, "body").await
}

/// Polls the page (never reloading it) until `check` holds.
async fn until(c: &Client, what: &str, limit: Duration, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + limit;
    loop {
        // While a form's answer loads there is a moment with no body yet.
        let b = match c.find(Locator::Css("body")).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if check(&b) {
            return b;
        }
        assert!(Instant::now() < deadline, "{what}; the page says:\n{b}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn sign_in(c: &Client, base: &str, token: &str) {
    c.goto(&format!("{base}/console/")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/sign-in"));
    c.find(Locator::Css("input[name=token]"))
        .await
        .unwrap()
        .send_keys(token)
        .await
        .unwrap();
    click(c, "form button[type=submit]").await;
    c.wait()
        .for_element(Locator::Css("#live-status"))
        .await
        .unwrap();
}

/// A value set on the page's window, gone if the page reloads.
async fn mark_page(c: &Client) {
    c.execute("window.nightshiftMark = 42;", vec![])
        .await
        .unwrap();
}

async fn still_marked(c: &Client) -> bool {
    c.execute("return window.nightshiftMark === 42;", vec![])
        .await
        .unwrap()
        .as_bool()
        .unwrap_or(false)
}

fn credentials() -> Auth {
    Auth::with(vec![
        Credential::bearer("alice", Role::Approver, "alice-token"),
        Credential::bearer("grafana", Role::Viewer, "viewer-token"),
    ])
}

async fn first_incident(store: &Store, state: Option<State>) -> IncidentId {
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let list = store.list(&IncidentFilter::default()).await.unwrap();
        if let Some(i) = list
            .into_iter()
            .find(|i| state.is_none_or(|s| i.incident.state == s))
        {
            return i.incident.id;
        }
        assert!(Instant::now() < deadline, "no incident in state {state:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_browser_follows_an_incident_live_and_answers_approvals() {
    let (_driver, c) = browser().await;

    // 1. The demo scenario in auto mode, watched from the list without a reload.
    let dir = tempfile::tempdir().unwrap();
    let mut opts = LabOptions::new(dir.path().join("demo.db"));
    opts.speed = 60.0;
    opts.auth = credentials();
    let scenario = nightshift_scenario::load_file(&common::scenario_path(
        "memory-limit-checkout-oom-undersized",
    ))
    .unwrap();
    let lab = Lab::start(&scenario, opts).await.unwrap();
    let base = format!("http://{}", lab.agent.addr);
    let store = lab.agent.engine.store().clone();

    sign_in(&c, &base, "viewer-token").await;
    let list = body(&c).await;
    assert!(list.contains("Signed in as grafana (viewer)"), "{list}");
    mark_page(&c).await;
    until(
        &c,
        "the status says the page is live",
        Duration::from_secs(10),
        |b| b.contains("Live") || b.contains("Updated"),
    )
    .await;
    let id = first_incident(&store, None).await;
    until(
        &c,
        "the incident appears in the list",
        Duration::from_secs(60),
        |b| b.contains(&id.0),
    )
    .await;
    screenshot(&c, "incidents-open").await;
    until(
        &c,
        "the incident is closed in the list",
        Duration::from_secs(240),
        |b| b.lines().any(|l| l.contains(&id.0) && l.contains("closed")),
    )
    .await;
    assert!(still_marked(&c).await, "the list updated without a reload");
    screenshot(&c, "incidents").await;

    // The incident: diagnosis, the dry run's diff, the verification's measured values.
    c.find(Locator::LinkText(&id.0))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#diagnosis"))
        .await
        .unwrap();
    let diagnosis = text(&c, "#diagnosis").await;
    assert!(diagnosis.contains("memory-limit"), "{diagnosis}");
    let diff = text(&c, "table.diff").await;
    assert!(diff.contains("memory"), "{diff}");
    assert!(diff.contains("− 256Mi"), "{diff}");
    let measured = text(&c, "ul.measured").await;
    assert!(
        measured.contains("replicas updated and available"),
        "{measured}"
    );
    assert!(
        c.find(Locator::Css("svg circle.k-verification"))
            .await
            .is_ok(),
        "the time axis shows the verification"
    );
    assert!(
        c.find(Locator::Css("button.approve")).await.is_err(),
        "nothing waits for an answer"
    );
    screenshot(&c, "incident").await;
    for (part, name) in [
        ("#diagnosis", "incident-diagnosis"),
        ("#dry-run-h", "incident-dry-run"),
    ] {
        c.execute(
            "document.querySelector(arguments[0]).scrollIntoView();",
            vec![json!(part)],
        )
        .await
        .unwrap();
        screenshot(&c, name).await;
    }

    c.goto(&format!("{base}/console/status")).await.unwrap();
    let status = body(&c).await;
    for part in [
        "Health",
        "store",
        "SQLite",
        "cluster",
        "analyzer",
        "rules",
        "The policy in force",
        "forbidden",
    ] {
        assert!(status.contains(part), "{part}: {status}");
    }
    screenshot(&c, "status").await;
    lab.stop();

    // 2. A plan waiting for an approval in an approve-mode namespace.
    let dir = tempfile::tempdir().unwrap();
    let lab =
        common::browser::deadlock_lab(dir.path().join("approve.db"), credentials(), true).await;
    let base = format!("http://{}", lab.agent.addr);
    let store = lab.agent.engine.store().clone();
    let id = first_incident(&store, Some(State::AwaitingApproval)).await;
    let page = format!("{base}/console/incidents/{}", id.0);

    // The viewer (still signed in on the first agent's cookie path: sign in here) sees no
    // button, and a forged answer from its session is refused.
    c.delete_all_cookies().await.unwrap();
    sign_in(&c, &base, "viewer-token").await;
    c.goto(&page).await.unwrap();
    let seen = body(&c).await;
    assert!(seen.contains("awaiting_approval"), "{seen}");
    assert!(
        c.find(Locator::Css("button.approve")).await.is_err(),
        "{seen}"
    );
    assert!(seen.contains("may not answer it"), "{seen}");
    let forged = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               const csrf = document.querySelector("input[name=csrf]").value;
               fetch(arguments[0], {method: "POST", credentials: "same-origin",
                     headers: {"Content-Type": "application/x-www-form-urlencoded"},
                     body: "csrf=" + encodeURIComponent(csrf) + "&reason=forged"})
                 .then(r => done(r.status), e => done(String(e)));"#,
            vec![json!(format!("/console/incidents/{}/approve", id.0))],
        )
        .await
        .unwrap();
    assert_eq!(forged, json!(403));

    // The approver: the form without its CSRF token is refused, then the real answer runs it.
    c.delete_all_cookies().await.unwrap();
    sign_in(&c, &base, "alice-token").await;
    c.goto(&page).await.unwrap();
    c.wait()
        .for_element(Locator::Css("button.approve"))
        .await
        .unwrap();
    let answer = text(&c, "#answer").await;
    assert!(
        answer.contains("risk"),
        "the plan and its risk beside the form: {answer}"
    );
    screenshot(&c, "approval").await;
    c.execute(
        r##"document.querySelector("#answer input[name=csrf]").remove();"##,
        vec![],
    )
    .await
    .unwrap();
    click(&c, "button.approve").await;
    let refused = until(
        &c,
        "the form without its token is refused",
        Duration::from_secs(10),
        |b| b.contains("403"),
    )
    .await;
    assert!(refused.contains("csrf"), "{refused}");
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().incident.state,
        State::AwaitingApproval
    );

    c.goto(&page).await.unwrap();
    c.find(Locator::Css("#reason"))
        .await
        .unwrap()
        .send_keys("restart is the known fix for this deadlock")
        .await
        .unwrap();
    click(&c, "button.approve").await;
    let done = until(
        &c,
        "the page says it was approved",
        Duration::from_secs(10),
        |b| b.contains("Approved"),
    )
    .await;
    assert!(done.contains("alice"), "{done}");
    mark_page(&c).await;
    until(
        &c,
        "the action runs and is verified",
        Duration::from_secs(240),
        |b| b.contains("recovered at "),
    )
    .await;
    assert!(
        still_marked(&c).await,
        "the incident page updated without a reload"
    );
    let state = text(&c, "#state").await;
    assert!(["resolved", "closed"].contains(&state.as_str()), "{state}");
    screenshot(&c, "incident-approved").await;

    // A note through the form: shown on the page, recorded as alice; the incident's entry in
    // the knowledge base, and the trust ladder, have their pages.
    let note = "the deadlock came back after the release; restart first";
    c.find(Locator::Css("#note-text"))
        .await
        .unwrap()
        .send_keys(note)
        .await
        .unwrap();
    click(&c, "#note-form button[type=submit]").await;
    let noted = until(
        &c,
        "the page shows the note",
        Duration::from_secs(10),
        |b| b.contains("Note added by alice."),
    )
    .await;
    assert!(noted.contains(note), "{noted}");
    assert!(
        store
            .timeline(&id)
            .await
            .unwrap()
            .iter()
            .any(|e| e.data["by"] == "alice" && e.data["note"] == note)
    );
    screenshot(&c, "incident-noted").await;
    c.goto(&format!("{base}/console/knowledge?q=deadlock"))
        .await
        .unwrap();
    let kb = body(&c).await;
    assert!(kb.contains(&id.0), "{kb}");
    screenshot(&c, "knowledge").await;
    c.goto(&format!("{base}/console/trust")).await.unwrap();
    let trust = body(&c).await;
    assert!(trust.contains("Changes of mode"), "{trust}");
    screenshot(&c, "trust").await;

    c.close().await.unwrap();
    lab.stop();
}
