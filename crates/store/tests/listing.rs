//! The incident list against real databases (SQLite file and PostgreSQL schema): filters by
//! state, namespace and text, the awaiting-first order, pages and counts, the namespaces on
//! offer, and rows written before the list's columns existed.

mod common;

use common::*;
use nightshift_core::{ResourceRef, State};
use nightshift_store::{IncidentFilter, NewIncident, Store};

on_both!(
    awaiting_approvals_come_first_then_the_newest,
    text_is_found_in_the_title_or_the_resource_in_any_case,
    pages_and_counts,
    namespaces_are_listed_once_in_order,
    rows_from_before_the_list_columns_are_filled_in,
);

/// Opens an incident about `resource` titled `title` and puts it in `state`.
async fn incident(store: &Store, resource: &ResourceRef, title: &str, state: State) -> String {
    let mut stored = store
        .create_incident(&NewIncident {
            resource: resource.clone(),
            title: title.to_owned(),
            opened_at: at(0),
            signal: None,
        })
        .await
        .unwrap();
    if state != State::Open {
        stored.incident.state = state;
        store.update_incident(&mut stored, &[]).await.unwrap();
    }
    stored.id.0.clone()
}

async fn ids(store: &Store, filter: IncidentFilter) -> Vec<String> {
    let listed = store.list(&filter).await.unwrap();
    let count = store
        .count(&IncidentFilter {
            offset: None,
            limit: None,
            ..filter.clone()
        })
        .await
        .unwrap();
    if filter.offset.is_none() && filter.limit.is_none() {
        assert_eq!(count, listed.len() as u64, "count of {filter:?}");
    }
    listed.into_iter().map(|s| s.id.0.clone()).collect()
}

fn awaiting_first() -> IncidentFilter {
    IncidentFilter {
        awaiting_first: true,
        ..IncidentFilter::default()
    }
}

/// Four incidents in two namespaces, two of them awaiting approval.
async fn four(store: &Store) {
    let shop = |n: &str| ResourceRef::deployment("shop", n);
    let pay = |n: &str| ResourceRef::deployment("pay", n);
    incident(store, &shop("web"), "web is not ready", State::Resolved).await;
    incident(
        store,
        &shop("orders"),
        "orders is not ready",
        State::AwaitingApproval,
    )
    .await;
    incident(store, &pay("api"), "api is not ready", State::Verifying).await;
    incident(
        store,
        &pay("ledger"),
        "ledger is not ready",
        State::AwaitingApproval,
    )
    .await;
}

async fn awaiting_approvals_come_first_then_the_newest(db: &TestDb) {
    let store = db.open().await;
    four(&store).await;
    assert_eq!(
        ids(&store, awaiting_first()).await,
        ["inc-000004", "inc-000002", "inc-000003", "inc-000001"]
    );
    // Without the option: newest first, as always.
    assert_eq!(
        ids(&store, IncidentFilter::default()).await,
        ["inc-000004", "inc-000003", "inc-000002", "inc-000001"]
    );
    let pay = IncidentFilter {
        namespace: Some("pay".into()),
        ..awaiting_first()
    };
    assert_eq!(ids(&store, pay).await, ["inc-000004", "inc-000003"]);
    let nowhere = IncidentFilter {
        namespace: Some("nowhere".into()),
        ..awaiting_first()
    };
    assert!(ids(&store, nowhere).await.is_empty());
    let verifying = IncidentFilter {
        state: Some(State::Verifying),
        ..awaiting_first()
    };
    assert_eq!(ids(&store, verifying).await, ["inc-000003"]);
    // A page across the two sides of the order.
    let across = IncidentFilter {
        offset: Some(1),
        limit: Some(2),
        ..awaiting_first()
    };
    assert_eq!(ids(&store, across).await, ["inc-000002", "inc-000003"]);
    let past = IncidentFilter {
        offset: Some(3),
        limit: Some(2),
        ..awaiting_first()
    };
    assert_eq!(ids(&store, past).await, ["inc-000001"]);
    store.close().await;
}

async fn text_is_found_in_the_title_or_the_resource_in_any_case(db: &TestDb) {
    let store = db.open().await;
    four(&store).await;
    let text = |t: &str| IncidentFilter {
        text: Some(t.into()),
        ..awaiting_first()
    };
    assert_eq!(ids(&store, text("  LEDGER ")).await, ["inc-000004"]);
    assert_eq!(
        ids(&store, text("deployment/shop/")).await,
        ["inc-000002", "inc-000001"]
    );
    assert_eq!(ids(&store, text("   ")).await.len(), 4, "blank: any");
    // LIKE's wildcards and its escape character are plain characters.
    let odd = ResourceRef::deployment("lab", "odd");
    let percent = incident(&store, &odd, "disk 95% full", State::Open).await;
    let underscore = incident(&store, &odd, "queue_depth high", State::Open).await;
    let backslash = incident(&store, &odd, r"path C:\temp missing", State::Open).await;
    assert_eq!(ids(&store, text("%")).await, [percent.as_str()]);
    assert_eq!(ids(&store, text("5% f")).await, [percent]);
    assert_eq!(ids(&store, text("_")).await, [underscore]);
    assert_eq!(ids(&store, text(r"c:\t")).await, [backslash]);
    assert!(ids(&store, text("disk%full")).await.is_empty());
    // Case beyond ASCII folds the same way on both databases.
    let accented = incident(&store, &odd, "ÉCHEC de la réplique", State::Open).await;
    assert_eq!(ids(&store, text("échec")).await, [accented.as_str()]);
    assert_eq!(ids(&store, text("RÉPLIQUE")).await, [accented]);
    // A title rewritten by an update is searched as rewritten.
    let mut first = store
        .get(&nightshift_core::IncidentId("inc-000001".into()))
        .await
        .unwrap()
        .unwrap();
    first.incident.title = "Checkout rollback needed".into();
    store.update_incident(&mut first, &[]).await.unwrap();
    assert_eq!(ids(&store, text("ROLLBACK")).await, ["inc-000001"]);
    assert!(ids(&store, text("web is not")).await.is_empty());
    store.close().await;
}

async fn pages_and_counts(db: &TestDb) {
    let store = db.open().await;
    for n in 1..=250 {
        let state = if n % 50 == 0 {
            State::AwaitingApproval
        } else {
            State::Resolved
        };
        let resource = ResourceRef::deployment(if n % 2 == 0 { "even" } else { "odd" }, "web");
        incident(&store, &resource, "web is not ready", state).await;
    }
    let page = |n: u32| IncidentFilter {
        offset: Some((n - 1) * 100),
        limit: Some(100),
        ..awaiting_first()
    };
    assert_eq!(store.count(&page(1)).await.unwrap(), 250);
    let first = ids(&store, page(1)).await;
    assert_eq!(first.len(), 100);
    // The five awaiting approval (every 50th), newest first, then the rest.
    assert_eq!(
        first[..6],
        [
            "inc-000250",
            "inc-000200",
            "inc-000150",
            "inc-000100",
            "inc-000050",
            "inc-000249"
        ]
    );
    let third = ids(&store, page(3)).await;
    assert_eq!(third.len(), 50);
    assert_eq!(third[0], "inc-000051");
    assert_eq!(third[49], "inc-000001");
    assert!(ids(&store, page(4)).await.is_empty());
    // Every incident exactly once over the pages.
    let mut all: Vec<String> = [first, ids(&store, page(2)).await, third].concat();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 250);
    let even = IncidentFilter {
        namespace: Some("even".into()),
        state: Some(State::Resolved),
        ..IncidentFilter::default()
    };
    assert_eq!(store.count(&even).await.unwrap(), 120);
    let open = IncidentFilter {
        open_only: true,
        limit: Some(1),
        ..IncidentFilter::default()
    };
    assert_eq!(
        store.count(&open).await.unwrap(),
        250,
        "limit is not counted"
    );
    store.close().await;
}

async fn namespaces_are_listed_once_in_order(db: &TestDb) {
    let store = db.open().await;
    assert!(store.namespaces().await.unwrap().is_empty());
    four(&store).await;
    incident(
        &store,
        &ResourceRef::node("worker-2"),
        "node down",
        State::Open,
    )
    .await;
    let storm = ResourceRef::Storm {
        source: "alertmanager".into(),
        rule: "KubePodNotReady".into(),
    };
    incident(&store, &storm, "a storm", State::Open).await;
    let pod = ResourceRef::Pod {
        namespace: "a-b".into(),
        name: "x".into(),
    };
    incident(&store, &pod, "pod crash", State::Open).await;
    incident(
        &store,
        &ResourceRef::deployment("ab", "y"),
        "y",
        State::Open,
    )
    .await;
    // Byte order on both databases, whatever PostgreSQL's collation says of the hyphen.
    assert_eq!(
        store.namespaces().await.unwrap(),
        ["a-b", "ab", "pay", "shop"]
    );
    // A storm's key (`storm/alertmanager/..`) names no namespace.
    let alertmanager = IncidentFilter {
        namespace: Some("alertmanager".into()),
        ..IncidentFilter::default()
    };
    assert_eq!(store.count(&alertmanager).await.unwrap(), 0);
    store.close().await;
}

async fn rows_from_before_the_list_columns_are_filled_in(db: &TestDb) {
    let store = db.open().await;
    four(&store).await;
    store.close().await;
    // As a database migrated to 0005 with rows already in it leaves them.
    db.execute("UPDATE incidents SET namespace = NULL, search = NULL")
        .await;
    let store = db.open().await;
    let pay = IncidentFilter {
        namespace: Some("pay".into()),
        text: Some("LEDGER".into()),
        ..IncidentFilter::default()
    };
    assert_eq!(ids(&store, pay).await, ["inc-000004"]);
    assert_eq!(store.namespaces().await.unwrap(), ["pay", "shop"]);
    store.close().await;
}
