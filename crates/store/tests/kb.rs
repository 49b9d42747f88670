//! The knowledge base against real databases: entries written whole and replaced by id,
//! full-text search ranked the same way on SQLite (FTS5, bm25) and PostgreSQL (ts_rank_cd),
//! earlier incidents of the same workload found without shared words, notes searchable at once,
//! and a batch written whole or not at all.

mod common;

use common::*;
use nightshift_core::knowledge::{ActionTaken, Entry, EntrySource, Note, Outcome, Signature};
use nightshift_core::{ActionName, Category, ResourceRef};
use nightshift_store::KbQuery;

on_both!(
    search_ranks_the_same_fault_on_the_same_workload_first,
    the_same_workload_is_found_without_shared_words,
    entries_are_replaced_by_id_and_notes_are_searchable,
    a_batch_is_written_whole_or_not_at_all,
    hostile_query_text_is_only_words,
);

fn entry(id: &str, resource: &ResourceRef, category: Category, words: &str, minutes: i64) -> Entry {
    let mut signature = Signature::for_resource(resource);
    signature.category = Some(category);
    signature.log_templates = vec![words.to_string()];
    Entry {
        id: id.into(),
        source: EntrySource::Incident,
        title: format!("{category} on {resource}"),
        summary: words.into(),
        signature,
        actions: vec![ActionTaken {
            action: ActionName::RolloutRestart,
            target: Some(resource.locate_key()),
            fixed: Some(true),
        }],
        outcome: Outcome::Resolved,
        occurred_at: at(minutes),
        mitigated_after_s: Some(90),
        approved_by: vec![],
        services: vec![],
        notes: vec![],
        file: None,
    }
}

fn corpus() -> Vec<Entry> {
    let cart = ResourceRef::deployment("shop", "cart");
    let web = ResourceRef::deployment("front", "web");
    let db = ResourceRef::Workload {
        kind: nightshift_core::WorkloadKind::StatefulSet,
        namespace: "data".into(),
        name: "postgres".into(),
    };
    vec![
        entry(
            "inc-000001",
            &cart,
            Category::MemoryLeak,
            "heap grows until OOMKilled",
            0,
        ),
        entry(
            "inc-000002",
            &web,
            Category::BadRelease,
            "panic: nil pointer in handler",
            10,
        ),
        entry(
            "inc-000003",
            &db,
            Category::Probe,
            "readiness probe timed out",
            20,
        ),
        entry(
            "inc-000004",
            &web,
            Category::ImagePull,
            "ErrImagePull manifest unknown",
            30,
        ),
    ]
}

async fn search_ranks_the_same_fault_on_the_same_workload_first(db: &TestDb) {
    let store = db.open().await;
    store.kb_put(&corpus()).await.unwrap();
    assert_eq!(store.kb_count().await.unwrap(), 4);
    let mut probe = Signature::for_resource(&ResourceRef::deployment("shop", "cart"));
    probe.log_templates = vec!["java heap grows OOMKilled again".into()];
    let q = KbQuery {
        text: "cart OOMKilled".into(),
        signature: probe,
        exclude: None,
        before: Some(at(60)),
    };
    let hits = store.kb_search(&q, 3).await.unwrap();
    assert_eq!(hits[0].entry.id, "inc-000001", "{hits:#?}");
    assert!(hits[0].similarity >= 0.5, "{}", hits[0].similarity);
    assert!(hits.iter().skip(1).all(|h| h.similarity < 0.5), "{hits:#?}");
    // Free text alone finds by words.
    let q = KbQuery {
        text: "ErrImagePull".into(),
        ..KbQuery::default()
    };
    let hits = store.kb_search(&q, 3).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].entry.id, "inc-000004");
    // The asking incident is left out, and so is what came after it.
    let q = KbQuery {
        text: "ErrImagePull".into(),
        exclude: Some("inc-000004".into()),
        ..KbQuery::default()
    };
    assert!(store.kb_search(&q, 3).await.unwrap().is_empty());
    let q = KbQuery {
        text: "ErrImagePull".into(),
        before: Some(at(25)),
        ..KbQuery::default()
    };
    assert!(store.kb_search(&q, 3).await.unwrap().is_empty());
}

async fn the_same_workload_is_found_without_shared_words(db: &TestDb) {
    let store = db.open().await;
    store.kb_put(&corpus()).await.unwrap();
    let probe = Signature::for_resource(&ResourceRef::Workload {
        kind: nightshift_core::WorkloadKind::StatefulSet,
        namespace: "data".into(),
        name: "postgres".into(),
    });
    let q = KbQuery {
        text: "zzz".into(),
        signature: probe,
        exclude: None,
        before: Some(at(60)),
    };
    let hits = store.kb_search(&q, 5).await.unwrap();
    assert_eq!(hits[0].entry.id, "inc-000003", "{hits:#?}");
}

async fn entries_are_replaced_by_id_and_notes_are_searchable(db: &TestDb) {
    let store = db.open().await;
    store.kb_put(&corpus()).await.unwrap();
    let mut changed = corpus().remove(1);
    changed.outcome = Outcome::Unresolved;
    changed.actions[0].fixed = Some(false);
    store.kb_put(std::slice::from_ref(&changed)).await.unwrap();
    assert_eq!(store.kb_count().await.unwrap(), 4);
    assert_eq!(store.kb_get("inc-000002").await.unwrap(), Some(changed));

    let note = Note {
        at: at(40),
        by: "alice".into(),
        text: "the feature flag checkoutv2 leaks sessions".into(),
    };
    assert!(store.kb_note("inc-000001", &note).await.unwrap());
    assert!(!store.kb_note("inc-999999", &note).await.unwrap());
    let q = KbQuery {
        text: "checkoutv2".into(),
        ..KbQuery::default()
    };
    let hits = store.kb_search(&q, 3).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].entry.notes, [note]);
}

async fn a_batch_is_written_whole_or_not_at_all(db: &TestDb) {
    let store = db.open().await;
    let mut batch = corpus();
    // Two entries with one id in one batch: the second replaces the first, no error.
    batch.push(batch[0].clone());
    store.kb_put(&batch).await.unwrap();
    assert_eq!(store.kb_count().await.unwrap(), 4);
    // PostgreSQL's text cannot hold a NUL byte: a batch with one such entry fails whole,
    // the entries before it included. SQLite stores it.
    let mut more: Vec<Entry> = (5..8)
        .map(|i| {
            let r = ResourceRef::deployment("x", &format!("w{i}"));
            entry(&format!("inc-00000{i}"), &r, Category::Crash, "exit 1", i)
        })
        .collect();
    more[2].summary = "bad\0summary".into();
    let result = store.kb_put(&more).await;
    match store.dialect() {
        nightshift_store::Dialect::Postgres => {
            assert!(result.is_err());
            assert_eq!(store.kb_count().await.unwrap(), 4);
            assert_eq!(store.kb_get("inc-000005").await.unwrap(), None);
        }
        nightshift_store::Dialect::Sqlite => {
            result.unwrap();
            assert_eq!(store.kb_count().await.unwrap(), 7);
        }
    }
}

async fn hostile_query_text_is_only_words(db: &TestDb) {
    let store = db.open().await;
    store.kb_put(&corpus()).await.unwrap();
    for text in [
        "\"unterminated",
        "NEAR(a b) OR * AND ^",
        "a & b | !c <-> d:*",
        "'; DROP TABLE kb_entries; --",
        "",
    ] {
        let q = KbQuery {
            text: text.into(),
            ..KbQuery::default()
        };
        store
            .kb_search(&q, 3)
            .await
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
    }
    assert_eq!(store.kb_count().await.unwrap(), 4);
}
