//! The knowledge base against real databases: entries written whole and replaced by id,
//! full-text search ranked the same way on SQLite (FTS5, bm25) and PostgreSQL (ts_rank_cd),
//! earlier incidents of the same workload found without shared words, notes searchable at once,
//! and a batch written whole or not at all.

mod common;

use common::*;
use nightshift_core::knowledge::{ActionTaken, Entry, EntrySource, Note, Outcome, Signature};
use nightshift_core::{ActionName, Category, ResourceRef};
use nightshift_store::{KbQuery, QueryVector};

on_both!(
    search_ranks_the_same_fault_on_the_same_workload_first,
    the_same_workload_is_found_without_shared_words,
    entries_are_replaced_by_id_and_notes_are_searchable,
    a_batch_is_written_whole_or_not_at_all,
    hostile_query_text_is_only_words,
    vectors_find_what_words_miss_and_follow_the_text,
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
        vector: None,
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
        vector: None,
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

/// A query vector in the test's space.
fn near(values: &[f32]) -> Option<QueryVector> {
    Some(QueryVector {
        space: "test:concepts".into(),
        values: values.to_vec(),
    })
}

async fn vectors_find_what_words_miss_and_follow_the_text(db: &TestDb) {
    let store = db.open().await;
    let mut entries = corpus();
    // The same fault as inc-000001 in other words, on another workload.
    entries.push(entry(
        "inc-000005",
        &ResourceRef::deployment("pay", "ledger"),
        Category::MemoryLeak,
        "resident set climbs until the kernel kills the process",
        40,
    ));
    store.kb_put(&entries).await.unwrap();
    let space = "test:concepts";
    let missing = store.kb_unembedded(space, 100).await.unwrap();
    assert_eq!(missing.len(), 5, "every entry lacks a vector at first");
    // Concepts: memory, crash, probe, image (what a model's vectors say, by hand).
    let concept = |id: &str| -> Vec<f32> {
        match id {
            "inc-000001" => vec![1.0, 0.0, 0.0, 0.0],
            "inc-000002" => vec![0.0, 1.0, 0.0, 0.0],
            "inc-000003" => vec![0.0, 0.0, 1.0, 0.0],
            "inc-000004" => vec![0.0, 0.0, 0.0, 1.0],
            _ => vec![0.9, 0.1, 0.0, 0.0],
        }
    };
    let pairs: Vec<(&Entry, Vec<f32>)> = missing.iter().map(|e| (e, concept(&e.id))).collect();
    store.kb_put_vectors(space, &pairs).await.unwrap();
    assert!(store.kb_unembedded(space, 100).await.unwrap().is_empty());
    assert_eq!(
        store.kb_unembedded("other:model", 100).await.unwrap().len(),
        5,
        "another space has its own vectors"
    );

    // Words that no entry holds, about memory, from a workload none of them is on.
    let mut q = KbQuery {
        text: "containers exceed their allowance".into(),
        signature: Signature::for_resource(&ResourceRef::deployment("shop", "basket")),
        ..KbQuery::default()
    };
    let words_only = store.kb_search(&q, 3).await.unwrap();
    assert!(
        words_only.iter().all(|h| h.semantic.is_none()),
        "{words_only:#?}"
    );
    assert!(
        !words_only.iter().any(|h| h.entry.id == "inc-000005"),
        "words alone cannot find it: {words_only:#?}"
    );
    q.vector = near(&[2.0, 0.0, 0.0, 0.0]);
    let hits = store.kb_search(&q, 3).await.unwrap();
    let ids: Vec<&str> = hits.iter().map(|h| h.entry.id.as_str()).collect();
    assert_eq!(&ids[..2], ["inc-000001", "inc-000005"], "{hits:#?}");
    assert!(hits[0].semantic.unwrap() > 0.99 && hits[1].semantic.unwrap() > 0.9);
    assert!(hits[0].similarity > hits[2].similarity);

    // Left out when asked, and when newer than the query.
    q.exclude = Some("inc-000005".into());
    q.before = Some(at(35));
    let hits = store.kb_search(&q, 5).await.unwrap();
    assert!(
        !hits.iter().any(|h| h.entry.id == "inc-000005"),
        "{hits:#?}"
    );
    assert_eq!(hits[0].entry.id, "inc-000001");
    q.exclude = None;
    q.before = None;

    // A vector of another space, or of another size, is never compared.
    for other in [
        Some(QueryVector {
            space: "other:model".into(),
            values: vec![1.0, 0.0, 0.0, 0.0],
        }),
        near(&[1.0, 0.0, 0.0]),
        near(&[0.0, 0.0, 0.0, 0.0]),
    ] {
        q.vector = other;
        let hits = store.kb_search(&q, 3).await.unwrap();
        assert!(hits.iter().all(|h| h.semantic.is_none()), "{hits:#?}");
    }

    // A note changes the entry's text: its vector is made again.
    let note = Note {
        at: at(50),
        by: "sre".into(),
        text: "the ledger cache had no bound".into(),
    };
    assert!(store.kb_note("inc-000005", &note).await.unwrap());
    let stale = store.kb_unembedded(space, 100).await.unwrap();
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].id, "inc-000005");
    // A broken vector is refused naming the entry, and nothing is written.
    let e = store
        .kb_put_vectors(space, &[(&stale[0], vec![f32::NAN, 1.0, 0.0, 0.0])])
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("inc-000005") && e.contains("not finite"), "{e}");
    assert_eq!(store.kb_unembedded(space, 100).await.unwrap().len(), 1);
    store
        .kb_put_vectors(space, &[(&stale[0], vec![0.8, 0.2, 0.0, 0.0])])
        .await
        .unwrap();
    assert!(store.kb_unembedded(space, 100).await.unwrap().is_empty());
    // The rewritten vector is the one searched (read again by this same store).
    q.vector = near(&[0.8, 0.2, 0.0, 0.0]);
    let hits = store.kb_search(&q, 5).await.unwrap();
    let ledger = hits.iter().find(|h| h.entry.id == "inc-000005").unwrap();
    // The old vector (0.9, 0.1) would give 0.991.
    assert!(ledger.semantic.unwrap() > 0.999, "{hits:#?}");
}
