//! The web console's sessions and OIDC sign-ins in progress, against real databases: kept
//! until they expire, taken once, replaced, and capped.

mod common;

use common::*;
use serde_json::json;

on_both!(
    entries_live_until_they_expire,
    an_entry_is_taken_once,
    past_the_cap_the_entry_closest_to_expiry_goes,
);

const NOW: i64 = 1_700_000_000_000;

async fn entries_live_until_they_expire(db: &TestDb) {
    let store = db.open().await;
    let body = json!({"identity": {"name": "alice"}, "csrf": "c"});
    store
        .keep_console_entry("h1", "session", &body, NOW + 1_000, NOW, 100)
        .await
        .unwrap();
    assert_eq!(
        store.console_entry("h1", "session", NOW).await.unwrap(),
        Some((body.clone(), NOW + 1_000))
    );
    // Another kind, another key, or past the expiry: nothing.
    assert_eq!(store.console_entry("h1", "oidc", NOW).await.unwrap(), None);
    assert_eq!(
        store.console_entry("h2", "session", NOW).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .console_entry("h1", "session", NOW + 1_000)
            .await
            .unwrap(),
        None
    );
    // Keeping it again replaces the body (a message to show once) and the expiry.
    let flashed = json!({"identity": {"name": "alice"}, "csrf": "c", "flash": "approved"});
    store
        .keep_console_entry("h1", "session", &flashed, NOW + 5_000, NOW, 100)
        .await
        .unwrap();
    assert_eq!(
        store
            .console_entry("h1", "session", NOW + 2_000)
            .await
            .unwrap(),
        Some((flashed, NOW + 5_000))
    );
    store.close().await;
}

async fn an_entry_is_taken_once(db: &TestDb) {
    let store = db.open().await;
    let body = json!({"nonce": "n", "verifier": "v", "next": "/console/"});
    store
        .keep_console_entry("state", "oidc", &body, NOW + 600_000, NOW, 100)
        .await
        .unwrap();
    assert_eq!(
        store
            .take_console_entry("state", "oidc", NOW)
            .await
            .unwrap(),
        Some(body.clone())
    );
    assert_eq!(
        store
            .take_console_entry("state", "oidc", NOW)
            .await
            .unwrap(),
        None
    );
    // An expired one is taken away but not given.
    store
        .keep_console_entry("old", "oidc", &body, NOW + 10, NOW, 100)
        .await
        .unwrap();
    assert_eq!(
        store
            .take_console_entry("old", "oidc", NOW + 10)
            .await
            .unwrap(),
        None
    );
    store.close().await;
}

async fn past_the_cap_the_entry_closest_to_expiry_goes(db: &TestDb) {
    let store = db.open().await;
    for (i, expires) in [(1, 3_000), (2, 1_000), (3, 2_000)] {
        store
            .keep_console_entry(
                &format!("s{i}"),
                "session",
                &json!({}),
                NOW + expires,
                NOW,
                3,
            )
            .await
            .unwrap();
    }
    store
        .keep_console_entry("s4", "session", &json!({}), NOW + 4_000, NOW, 3)
        .await
        .unwrap();
    let alive = |k: &'static str| {
        let store = store.clone();
        async move {
            store
                .console_entry(k, "session", NOW)
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(!alive("s2").await, "the one closest to expiry was dropped");
    for k in ["s1", "s3", "s4"] {
        assert!(alive(k).await, "{k}");
    }
    // Expired entries are deleted when another is kept.
    store
        .keep_console_entry("s5", "session", &json!({}), NOW + 9_000, NOW + 3_500, 10)
        .await
        .unwrap();
    assert!(!alive("s3").await);
    store.close().await;
}
