//! The URL forms `Store::open` accepts, and what it sets up on SQLite.

mod common;

use common::{alert, at, chain, checkout};
use nightshift_core::SignalStatus;
use nightshift_store::{Dialect, IncidentFilter, NewIncident, SignalOutcome, Store};

fn incident() -> NewIncident {
    NewIncident {
        resource: checkout(),
        title: "checkout is down".into(),
        opened_at: at(0),
        signal: None,
    }
}

#[tokio::test]
async fn memory_databases_work_and_vanish() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    assert_eq!(store.dialect(), Dialect::Sqlite);
    let created = store.create_incident(&incident()).await.unwrap();
    assert_eq!(
        store
            .record_signal(&alert("m", SignalStatus::Firing, &checkout()))
            .await
            .unwrap(),
        SignalOutcome::New
    );
    assert_eq!(store.get(&created.id).await.unwrap(), Some(created));
    store.close().await;
    let fresh = Store::open("sqlite::memory:").await.unwrap();
    assert!(
        fresh
            .list(&IncidentFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn url_forms_reach_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nightshift.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = Store::open(&url).await.unwrap();
    let created = store.create_incident(&incident()).await.unwrap();
    store.close().await;

    for url in [
        path.display().to_string(),
        format!("sqlite:{}", path.display()),
        format!("sqlite://{}", path.display()),
    ] {
        let store = Store::open(&url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {}", chain(&e)));
        assert_eq!(
            store.get(&created.id).await.unwrap().as_ref(),
            Some(&created),
            "{url}"
        );
        store.close().await;
    }

    // WAL, foreign keys and a busy timeout are on for every connection.
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&raw)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    raw.close().await;
}

#[tokio::test]
async fn a_missing_file_with_mode_rw_is_an_error_naming_it() {
    // Without a mode the file is created (see `open.rs`); `mode=rw` asks for an existing one.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.db");
    let err = Store::open(&format!("sqlite://{}?mode=rw", path.display()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("unable to open sqlite database {}", path.display())
    );
}

#[tokio::test]
async fn an_unreachable_postgres_names_its_address() {
    // Port 9 (discard) has no PostgreSQL behind it.
    let err = Store::open("postgres://postgres@127.0.0.1:9/test")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to connect to postgresql at 127.0.0.1:9/test"
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("refused"), "{cause}");
}
