//! Learning from incidents, end to end on the simulated cluster and through the binary:
//! a fault that comes back is recognized (the second incident cites the first and is not
//! slower to mitigate), a leak masked by one remedy after another is escalated as recurring
//! once the policy's limit is reached, and postmortems are imported whole or not at all.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use nightshift::lab::{Lab, LabOptions};
use nightshift_core::knowledge::Outcome;
use nightshift_core::{Action, EvidenceData, State, TimelineKind};
use nightshift_store::{IncidentFilter, Store, StoredIncident};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/learning")
        .join(name)
}

/// The lab policy, raising memory limits forbidden so that restarts are the remedy, and a
/// fault back after two remedies in a day is recurring.
const POLICY: &str = "
mode: auto
min_confidence: 0.55
actions:
  restart-pod: {risk: low}
  rollout-restart: {risk: low}
  set-resources: {risk: low, max_memory_factor: 2}
forbidden: [scale-to-zero, raise-memory-limit]
blast_radius: {max_replica_share: 1.0}
budgets: {actions_per_target_per_hour: 10}
learning:
  recurrence: {limit: 2, window: 24h}
";

async fn incidents(store: &Store) -> Vec<StoredIncident> {
    let mut list = store.list(&IncidentFilter::default()).await.unwrap();
    list.sort_by_key(|i| i.incident.opened_at);
    list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leak_that_comes_back_is_recognized_and_then_escalated_as_recurring() {
    let scenario = nightshift_scenario::load_file(&fixture("leak-comes-back.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.speed = 60.0;
    opts.policy = nightshift_core::policy::Policy::parse(POLICY, "test policy").unwrap();
    let lab = Lab::start(&scenario, opts).await.unwrap();
    let store = lab.agent.engine.store().clone();
    let deadline = Instant::now() + Duration::from_secs(300);
    let list = loop {
        let list = incidents(&store).await;
        // An early escalation for low confidence is revisited on new evidence: wait for a
        // third incident's.
        let escalated = list
            .get(2)
            .is_some_and(|i| i.incident.state == State::Escalated);
        if escalated || lab.cluster.clock.is_finished() || Instant::now() > deadline {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    lab.stop();
    for i in &list {
        for e in store.timeline(&i.incident.id).await.unwrap() {
            eprintln!("{} {:?} {}", i.incident.id, e.kind, e.message);
        }
    }
    let states: Vec<_> = list
        .iter()
        .map(|i| (i.incident.id.0.clone(), i.incident.state))
        .collect();
    assert!(list.len() >= 3, "three incidents expected: {states:?}");
    let (first, second, third) = (&list[0].incident, &list[1].incident, &list[2].incident);
    assert_eq!(first.state, State::Closed, "{states:?}");
    assert_eq!(second.state, State::Closed, "{states:?}");
    assert_eq!(third.state, State::Escalated, "{states:?}");

    // The second incident cites the first: on its record and in its evidence.
    let timeline = store.timeline(&second.id).await.unwrap();
    let recall = timeline
        .iter()
        .find(|e| e.kind == TimelineKind::Note && e.data.get("recall").is_some())
        .expect("a recall note on the second incident");
    assert!(
        recall
            .message
            .starts_with("seen once in 30 days; rollout-restart fixed it 1 of 1 time")
            && recall.message.contains(&first.id.0),
        "{}",
        recall.message
    );
    let evidence = store.latest_evidence(&second.id).await.unwrap().unwrap();
    assert!(
        evidence.evidence.items.iter().any(|i| matches!(
            &i.data,
            EvidenceData::PastIncident { incident, outcome, .. }
                if *incident == first.id.0 && outcome == "resolved"
        )),
        "no past incident in {:#?}",
        evidence
            .evidence
            .items
            .iter()
            .map(|i| &i.summary)
            .collect::<Vec<_>>()
    );

    // Mitigating it again took no longer (the agent polls every few seconds).
    let kb = |id: &str| {
        let store = store.clone();
        let id = id.to_string();
        async move { store.kb_get(&id).await.unwrap().expect("an entry") }
    };
    let (e1, e2) = (kb(&first.id.0).await, kb(&second.id.0).await);
    assert_eq!(
        (e1.outcome, e2.outcome),
        (Outcome::Resolved, Outcome::Resolved)
    );
    let (t1, t2) = (e1.mitigated_after_s.unwrap(), e2.mitigated_after_s.unwrap());
    assert!(t2 <= t1 + 10, "second took {t2}s, first {t1}s");

    // The third is handed over naming the recurrence and both earlier incidents; nothing ran.
    let decisions = store.decisions(&third.id).await.unwrap();
    let d = decisions.last().expect("a decision");
    let Action::Escalate { reason } = &d.plan.action else {
        panic!("the third incident's plan is {:?}", d.plan.action);
    };
    assert!(
        reason.starts_with(
            "recurring: resource/memory-leak on deployment/pricing/pricing-engine came back 2 \
             times in 24h after rollout-restart"
        ) && reason.contains(&first.id.0)
            && reason.contains(&second.id.0),
        "{reason}"
    );
    assert!(store.actions(&third.id).await.unwrap().is_empty());
    assert_eq!(kb(&third.id.0).await.outcome, Outcome::Escalated);
}

/// With an embeddings endpoint (a local server speaking OpenAI's protocol), every entry the
/// agent remembers and every document imported before it started gets a vector, each
/// incident's search sends its text, and a search in other words finds the leak.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_embeddings_every_entry_gets_a_vector_and_searches_send_theirs() {
    use nightshift_llm::embed::local::LocalEmbeddings;
    use nightshift_llm::embed::{EmbeddingClient, EmbeddingConfig};

    let server = LocalEmbeddings::incidents()
        .key("sk-embed-test")
        .start()
        .await
        .unwrap();
    let cfg = EmbeddingConfig {
        base_url: server.openai_url(),
        model: "text-embedding-3-small".into(),
        api_key_env: Some("EMBEDDINGS_KEY".into()),
        ..EmbeddingConfig::default()
    };
    let client = EmbeddingClient::with_env(&cfg, "test", |v| {
        (v == "EMBEDDINGS_KEY").then(|| "sk-embed-test".to_string())
    })
    .unwrap();
    let space = cfg.space();
    let scenario = nightshift_scenario::load_file(&fixture("leak-comes-back.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = LabOptions::new(dir.path().join("record.db"));
    opts.speed = 60.0;
    opts.policy = nightshift_core::policy::Policy::parse(POLICY, "test policy").unwrap();
    opts.engine.embeddings = Some(nightshift_agent::learn::Embeddings(std::sync::Arc::new(
        client,
    )));
    // A postmortem already in the knowledge base, written before the agent ran.
    let store = Store::open(&opts.store).await.unwrap();
    let doc = nightshift_core::knowledge::parse_document(
        "checkout-oom.md",
        "checkout-oom",
        GOOD,
        chrono::Utc::now(),
    )
    .unwrap();
    store.kb_put(&[doc]).await.unwrap();
    let lab = Lab::start(&scenario, opts).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    let list = loop {
        let list = incidents(&store).await;
        let second_closed = list
            .get(1)
            .is_some_and(|i| i.incident.state == State::Closed);
        if second_closed || lab.cluster.clock.is_finished() || Instant::now() > deadline {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    lab.stop();
    let states: Vec<_> = list
        .iter()
        .map(|i| (i.incident.id.0.clone(), i.incident.state))
        .collect();
    assert!(
        list.len() >= 2 && list[1].incident.state == State::Closed,
        "two closed incidents expected: {states:?}"
    );
    // Every entry has its vector: the document (caught up at start) and both incidents.
    let missing: Vec<String> = store
        .kb_unembedded(&space, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert!(missing.is_empty(), "entries without a vector: {missing:?}");
    assert!(
        store
            .kb_get(&list[1].incident.id.0)
            .await
            .unwrap()
            .is_some()
    );

    let requests = server.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer sk-embed-test")),
        "every request carries the key"
    );
    let sent: Vec<String> = requests.iter().flat_map(|r| r.texts()).collect();
    assert!(
        sent.iter()
            .any(|t| t.starts_with(&format!("{}\n", list[1].incident.title))),
        "the second incident's search sent no text: {sent:#?}"
    );
    assert!(
        !sent.iter().any(|t| t.contains("hunter2hunter2")),
        "a secret was sent"
    );

    // Other words about the same thing find the leak by its vector.
    let text = "the process exhausted its allowance";
    let q = nightshift_store::KbQuery {
        text: text.into(),
        vector: Some(nightshift_store::QueryVector {
            space: space.clone(),
            values: LocalEmbeddings::incidents().vector(text),
        }),
        ..Default::default()
    };
    let hits = store.kb_search(&q, 3).await.unwrap();
    assert!(
        hits.iter()
            .any(|h| h.entry.id == list[0].incident.id.0 && h.semantic.is_some_and(|c| c > 0.3)),
        "{:#?}",
        hits.iter()
            .map(|h| (&h.entry.id, h.similarity, h.lexical, h.semantic))
            .collect::<Vec<_>>()
    );
}

fn nightshift(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .args(args)
        .output()
        .expect("nightshift runs")
}

/// `nightshift trust -o json` on a record with a policy file.
fn ladder_json(url: &str, policy: &Path) -> Output {
    nightshift(&[
        "trust",
        "--store",
        url,
        "--policy",
        policy.to_str().unwrap(),
        "-o",
        "json",
    ])
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

const GOOD: &str = "---
title: Checkout ran out of memory after 2.3
date: 2026-03-14
services: [checkout]
categories: [resource/memory-leak]
alerts: [KubePodCrashLooping]
actions: [rollback]
outcome: resolved
---
The 2.3 release cached every session; rolling back freed it. password=hunter2hunter2
";

const RUNBOOK: &str = "---
kind: runbook
services: [search-api]
categories: [config/probe]
actions: [set-resources]
---
# Search API liveness probe too tight

Raise timeoutSeconds before anything else.
";

#[test]
fn postmortems_import_whole_or_not_at_all_and_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    let db = dir.path().join("record.db");
    let store = format!("sqlite://{}", db.display());
    write(&docs, "postmortems/checkout-oom.md", GOOD);
    write(&docs, "runbooks/search-probe.md", RUNBOOK);
    write(
        &docs,
        "postmortems/zz-broken.md",
        &GOOD.replace("categories: [resource/memory-leak]", "categories: [memory]"),
    );
    let out = nightshift(&["kb", "import", docs.to_str().unwrap(), "--store", &store]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("zz-broken.md: categories[0]: unknown Category `memory`")
            && err.contains("at line 5")
            && err.contains("nothing was imported"),
        "{err}"
    );
    let out = nightshift(&["kb", "search", "memory", "--store", &store, "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");

    std::fs::remove_file(docs.join("postmortems/zz-broken.md")).unwrap();
    let out = nightshift(&["kb", "import", docs.to_str().unwrap(), "--store", &store]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("imported 2 documents (1 postmortems, 1 runbooks)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = nightshift(&["kb", "search", "liveness", "probe", "--store", &store]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap_or("")
            .starts_with("doc/search-probe "),
        "{table}"
    );
    let out = nightshift(&["kb", "show", "doc/checkout-oom", "--store", &store]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("Checkout ran out of memory after 2.3"),
        "{shown}"
    );
    assert!(shown.contains("rollback (fixed it)"), "{shown}");
    assert!(
        !shown.contains("hunter2hunter2"),
        "a secret was stored: {shown}"
    );
    // Importing again replaces the documents rather than adding copies.
    let out = nightshift(&["kb", "import", docs.to_str().unwrap(), "--store", &store]);
    assert!(out.status.success());
    let out = nightshift(&["kb", "search", "memory", "--store", &store, "-o", "json"]);
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits.as_array().map(Vec::len), Some(1), "{hits}");
}

/// With `--config` naming an embeddings endpoint, `kb import` makes the documents' vectors
/// at once and `kb search` finds by meaning what shares no word with the query; a key
/// variable that is not set stops either, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_uses_the_configurations_embeddings() {
    use nightshift_llm::embed::local::LocalEmbeddings;
    let server = LocalEmbeddings::incidents().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    write(&docs, "postmortems/checkout-oom.md", GOOD);
    write(&docs, "runbooks/search-probe.md", RUNBOOK);
    let store = format!("sqlite://{}", dir.path().join("record.db").display());
    let config = dir.path().join("nightshift.yaml");
    std::fs::write(
        &config,
        format!(
            "store: {store}\nembeddings: {{model: text-embedding-3-small, base_url: '{}'}}\n",
            server.openai_url()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let out = nightshift(&["kb", "import", docs.to_str().unwrap(), "--config", cfg]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("embedded 2 entries (openai:text-embedding-3-small)"),
        "{stdout}"
    );
    // No word of the postmortem ("ran out of memory", "cached every session"); the same
    // concept for the embeddings server.
    let out = nightshift(&[
        "kb",
        "search",
        "heap",
        "exhausted",
        "--config",
        cfg,
        "-o",
        "json",
    ]);
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &hits[0];
    assert_eq!(first["entry"]["id"], "doc/checkout-oom", "{hits:#}");
    assert!(first["semantic"].as_f64().unwrap() > 0.3, "{hits:#}");
    let out = nightshift(&[
        "kb",
        "search",
        "heap",
        "exhausted",
        "--store",
        &store,
        "-o",
        "json",
    ]);
    let words_only: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !words_only
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["entry"]["id"] == "doc/checkout-oom"),
        "words alone find it: {words_only:#}"
    );

    std::fs::write(
        &config,
        format!(
            "store: {store}\nembeddings: {{model: m, base_url: '{}', api_key_env: NIGHTSHIFT_TEST_KB_EMBED_KEY_UNSET}}\n",
            server.openai_url()
        ),
    )
    .unwrap();
    let out = nightshift(&["kb", "search", "heap", "--config", cfg]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("embeddings.api_key_env")
            && err.contains("NIGHTSHIFT_TEST_KB_EMBED_KEY_UNSET is not set"),
        "{err}"
    );
}

#[tokio::test]
async fn a_note_on_an_incident_is_on_its_record_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("record.db").display());
    let store = Store::open(&url).await.unwrap();
    let opened = store
        .create_incident(&nightshift_store::NewIncident {
            resource: nightshift_core::ResourceRef::deployment("shop", "cart"),
            title: "cart is OOMKilled".into(),
            opened_at: chrono::Utc::now(),
            signal: None,
        })
        .await
        .unwrap();
    let id = opened.incident.id.0.clone();
    let out = nightshift(&[
        "incidents",
        "note",
        &id,
        "the",
        "session",
        "cache",
        "leaks;",
        "token=s3cr3tvalue99",
        "--as",
        "alice",
        "--store",
        &url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let timeline = store.timeline(&opened.incident.id).await.unwrap();
    let note = timeline.last().unwrap();
    assert_eq!(note.kind, TimelineKind::Note);
    assert_eq!(note.data["by"], "alice");
    let text = note.data["note"].as_str().unwrap();
    assert!(text.starts_with("the session cache leaks;"), "{text}");
    assert!(!text.contains("s3cr3tvalue99"), "{text}");

    // No such incident, or no words: refused, nothing recorded.
    let out = nightshift(&[
        "incidents",
        "note",
        "inc-000404",
        "x",
        "--as",
        "alice",
        "--store",
        &url,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("inc-000404"), "{err}");
    let out = nightshift(&[
        "incidents",
        "note",
        &id,
        " ",
        "--as",
        "alice",
        "--store",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        store.timeline(&opened.incident.id).await.unwrap().len(),
        timeline.len()
    );
}

/// Observe mode, raising memory limits forbidden (so the proposal is a restart), and a ladder
/// that recommends approve after three right proposals out of three.
const OBSERVE_POLICY: &str = "
mode: observe
min_confidence: 0.55
forbidden: [scale-to-zero, raise-memory-limit]
budgets: {concurrent_actions: 10}
promotion:
  apply: recommend
  min_samples: 3
  min_lower_bound: 0.4
  ceiling: auto
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_making_the_proposed_change_earn_the_row_its_recommended_mode() {
    let scenario =
        nightshift_scenario::load_file(&fixture("observed-leaks-and-people.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("record.db");
    let mut opts = LabOptions::new(db.clone());
    opts.speed = 60.0;
    opts.policy = nightshift_core::policy::Policy::parse(OBSERVE_POLICY, "test policy").unwrap();
    let lab = Lab::start(&scenario, opts).await.unwrap();
    let store = lab.agent.engine.store().clone();
    let deadline = Instant::now() + Duration::from_secs(240);
    // Four fates: three people agreed with a restart, one scaled instead.
    let judged = loop {
        let events = store
            .trust_events(chrono::DateTime::<chrono::Utc>::MIN_UTC)
            .await
            .unwrap();
        if events.len() >= 4 || lab.cluster.clock.is_finished() || Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    lab.stop();
    for i in incidents(&store).await {
        for e in store.timeline(&i.incident.id).await.unwrap() {
            if e.kind != TimelineKind::Signal {
                eprintln!(
                    "{} {} {:?} {}",
                    i.incident.id,
                    e.at.format("%H:%M:%S"),
                    e.kind,
                    e.message
                );
            }
        }
    }
    let mut fates: Vec<(String, String, String)> = judged
        .iter()
        .map(|e| {
            (
                e.row.namespace.clone(),
                e.fate.as_str().to_string(),
                e.by.clone(),
            )
        })
        .collect();
    fates.sort();
    assert_eq!(
        fates,
        [
            ("billing".into(), "disagreed".into(), "kubectl-scale".into()),
            ("pricing".into(), "agreed".into(), "kubectl-rollout".into()),
            ("pricing".into(), "agreed".into(), "kubectl-rollout".into()),
            ("pricing".into(), "agreed".into(), "kubectl-rollout".into()),
        ],
        "{judged:#?}"
    );
    // Nothing ran: every incident was only observed.
    for i in incidents(&store).await {
        assert!(store.actions(&i.incident.id).await.unwrap().is_empty());
    }
    store.close().await;

    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, OBSERVE_POLICY).unwrap();
    let url = format!("sqlite://{}", db.display());
    let out = ladder_json(&url, &policy);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |ns: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["namespace"] == ns)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {ns} in {rows:#}"))
    };
    let pricing = row("pricing");
    assert_eq!(pricing["action"], "rollout-restart");
    assert_eq!(pricing["category"], "resource/memory-leak");
    assert_eq!(
        (pricing["successes"].as_u64(), pricing["samples"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(pricing["earned"], "approve", "{pricing:#}");
    // A recommendation only: the row stays in the policy's mode.
    assert_eq!(pricing["mode"], "observe");
    let billing = row("billing");
    assert_eq!(
        (billing["successes"].as_u64(), billing["samples"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(billing["earned"], "observe");

    // A person pins the pricing row in approve; a pinned row is what decisions use.
    let out = nightshift(&[
        "trust",
        "pin",
        "--namespace",
        "pricing",
        "--action",
        "rollout-restart",
        "--category",
        "resource/memory-leak",
        "--mode",
        "approve",
        "--as",
        "alice",
        "--store",
        &url,
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ladder_json(&url, &policy);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pricing = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["namespace"] == "pricing")
        .unwrap();
    assert_eq!(
        (&pricing["mode"], &pricing["pinned"]),
        (&serde_json::json!("approve"), &serde_json::json!(true))
    );
}

/// With `promotion.apply: auto`, fates recorded one by one: a run of successes promotes the
/// row a step at a time up to the ceiling, a single failure demotes it at once (and what came
/// before no longer counts), every change is on the record, and a pinned row never moves.
async fn promotion_moves_rows_and_pins_hold(url: &str) {
    use nightshift_agent::trust;
    use nightshift_core::policy::Mode;
    use nightshift_core::trust::{Event, Fate, RowKey};
    let store = Store::open(url).await.unwrap();
    let policy = nightshift_core::policy::Policy::parse(
        "mode: observe
promotion: {apply: auto, min_samples: 3, min_lower_bound: 0.4, ceiling: auto, namespaces: {payments: approve}}
",
        "policy.yaml",
    )
    .unwrap();
    let policy = &policy;
    let t0 = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let row = |ns: &str| RowKey {
        namespace: ns.into(),
        action: nightshift_core::ActionName::RolloutRestart,
        category: nightshift_core::Category::MemoryLeak,
    };
    let mut n = 0;
    let mut feed = |ns: &str, fate: Fate| {
        n += 1;
        Event {
            row: row(ns),
            incident: format!("inc-{n:06}"),
            fate,
            at: t0 + chrono::Duration::minutes(n),
            by: "someone".into(),
            detail: fate.as_str().into(),
        }
    };
    let mode = |store: Store, ns: &'static str| async move {
        trust::mode_for(&store, policy, &row(ns))
            .await
            .unwrap()
            .map(|m| m.0)
    };
    let mut changes = Vec::new();
    for fate in [Fate::Agreed, Fate::Agreed, Fate::Agreed] {
        changes.extend(
            trust::record(&store, policy, &feed("shop", fate))
                .await
                .unwrap(),
        );
    }
    assert_eq!(mode(store.clone(), "shop").await, Some(Mode::Approve));
    for fate in [Fate::Approved, Fate::Approved, Fate::Approved] {
        changes.extend(
            trust::record(&store, policy, &feed("shop", fate))
                .await
                .unwrap(),
        );
    }
    assert_eq!(mode(store.clone(), "shop").await, Some(Mode::Auto));
    // The same fate of the same incident twice counts once.
    let again = feed("shop", Fate::Verified);
    changes.extend(trust::record(&store, policy, &again).await.unwrap());
    assert!(
        trust::record(&store, policy, &again)
            .await
            .unwrap()
            .is_none()
    );
    changes.extend(
        trust::record(&store, policy, &feed("shop", Fate::Failed))
            .await
            .unwrap(),
    );
    assert_eq!(mode(store.clone(), "shop").await, Some(Mode::Approve));
    changes.extend(
        trust::record(&store, policy, &feed("shop", Fate::Verified))
            .await
            .unwrap(),
    );
    assert_eq!(
        mode(store.clone(), "shop").await,
        Some(Mode::Approve),
        "climbed back on stale fates"
    );
    assert_eq!(
        changes.iter().map(|c| (c.from, c.to)).collect::<Vec<_>>(),
        [
            (Mode::Observe, Mode::Approve),
            (Mode::Approve, Mode::Auto),
            (Mode::Auto, Mode::Approve)
        ]
    );
    let recorded = store.trust_changes(10).await.unwrap();
    assert_eq!(recorded.len(), 3);
    assert!(
        recorded[0].1.reason.contains("demoted at once"),
        "{:?}",
        recorded[0]
    );

    // The payments ceiling is approve however good the record.
    for fate in [
        Fate::Agreed,
        Fate::Agreed,
        Fate::Agreed,
        Fate::Approved,
        Fate::Approved,
        Fate::Approved,
        Fate::Approved,
    ] {
        trust::record(&store, policy, &feed("payments", fate))
            .await
            .unwrap();
    }
    assert_eq!(mode(store.clone(), "payments").await, Some(Mode::Approve));

    // Pinned in observe: successes and failures alike leave it there; unpinned, it moves.
    let at = t0 + chrono::Duration::hours(1);
    trust::pin(
        &store,
        policy,
        &row("shop"),
        Some(Mode::Observe),
        "alice",
        at,
    )
    .await
    .unwrap();
    for fate in [Fate::Verified, Fate::Verified, Fate::Verified, Fate::Failed] {
        assert!(
            trust::record(&store, policy, &feed("shop", fate))
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(mode(store.clone(), "shop").await, Some(Mode::Observe));
    let ladder = trust::ladder(&store, policy, at).await.unwrap();
    let shop = ladder.iter().find(|r| r.key.namespace == "shop").unwrap();
    assert!(shop.pinned);
    assert_eq!(shop.mode, Mode::Observe);
    trust::pin(&store, policy, &row("shop"), None, "alice", at)
        .await
        .unwrap();
    trust::record(&store, policy, &feed("shop", Fate::Verified))
        .await
        .unwrap();
    assert_eq!(mode(store.clone(), "shop").await, Some(Mode::Approve));
    store.close().await;
}

#[tokio::test]
async fn promotion_moves_rows_and_pins_hold_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    promotion_moves_rows_and_pins_hold(&format!("sqlite://{}", dir.path().join("r.db").display()))
        .await;
}

#[tokio::test]
async fn promotion_moves_rows_and_pins_hold_on_postgres() {
    let Some(url) = common::fresh_pg_schema("trust") else {
        return;
    };
    promotion_moves_rows_and_pins_hold(&url).await;
}

#[test]
fn bad_trust_commands_name_the_input_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let cases: [(&[&str], &str); 4] = [
        (
            &["mark", "inc-000001", "maybe", "--as", "alice"],
            "unknown verdict \"maybe\"",
        ),
        (
            &["mark", "inc-000404", "right", "--as", "alice"],
            "incident inc-000404 not found",
        ),
        (
            &[
                "pin",
                "--namespace",
                "shop",
                "--action",
                "rollout-restart",
                "--category",
                "resource/memory-leak",
                "--mode",
                "yolo",
                "--as",
                "alice",
            ],
            "unknown mode \"yolo\"",
        ),
        (
            &[
                "pin",
                "--namespace",
                "shop",
                "--action",
                "reboot",
                "--category",
                "resource/memory-leak",
                "--mode",
                "auto",
                "--as",
                "alice",
            ],
            "reboot",
        ),
    ];
    for (args, what) in cases {
        let mut all = vec!["trust"];
        all.extend_from_slice(args);
        all.extend(["--store", url.as_str()]);
        let out = nightshift(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(what), "{args:?}: {err}");
    }
    let out = nightshift(&["trust", "--store", &url, "-o", "json"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}
