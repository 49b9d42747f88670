//! Watches through kube-rs: the runtime watcher, selectors, bookmarks, streaming lists and
//! recovery from expired resource versions.

mod common;

use std::time::Duration;

use common::{pod, start, start_with, store};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, WatchEvent, WatchParams};
use kube::runtime::watcher::{self, Event};
use nightshift_sim::resources;
use nightshift_sim::store::{DeleteOptions, Part};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

fn pods_rt() -> &'static resources::ResourceType {
    resources::find("", "v1", "pods").unwrap()
}

/// Next watcher event, skipping nothing; fails the test after [`WAIT`].
async fn next<S>(stream: &mut S) -> Result<Event<Pod>, watcher::Error>
where
    S: futures::Stream<Item = Result<Event<Pod>, watcher::Error>> + Unpin,
{
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("watch event in time")
        .expect("stream continues")
}

#[tokio::test]
async fn watcher_sees_added_modified_and_deleted() {
    let server = start().await;
    server.put("", "v1", "pods", pod("web-1", json!({"app": "web"}), ""));
    let pods: Api<Pod> = Api::default_namespaced(server.client());
    let mut events = watcher::watcher(pods, watcher::Config::default()).boxed();

    assert!(matches!(next(&mut events).await.unwrap(), Event::Init));
    match next(&mut events).await.unwrap() {
        Event::InitApply(p) => assert_eq!(p.name_any(), "web-1"),
        other => panic!("expected the existing pod, got {other:?}"),
    }
    assert!(matches!(next(&mut events).await.unwrap(), Event::InitDone));

    server.put("", "v1", "pods", pod("web-2", json!({"app": "web"}), ""));
    match next(&mut events).await.unwrap() {
        Event::Apply(p) => assert_eq!(p.name_any(), "web-2"),
        other => panic!("expected web-2 added, got {other:?}"),
    }
    let mut changed = server
        .store
        .get(pods_rt(), "default", "web-2")
        .unwrap()
        .value()
        .clone();
    changed["metadata"]["labels"]["tier"] = json!("front");
    server
        .store
        .update(pods_rt(), "default", "web-2", changed, Part::Main, false)
        .unwrap();
    match next(&mut events).await.unwrap() {
        Event::Apply(p) => assert_eq!(p.labels().get("tier").map(String::as_str), Some("front")),
        other => panic!("expected web-2 modified, got {other:?}"),
    }
    server
        .store
        .delete(pods_rt(), "default", "web-1", &DeleteOptions::default())
        .unwrap();
    match next(&mut events).await.unwrap() {
        Event::Delete(p) => assert_eq!(p.name_any(), "web-1"),
        other => panic!("expected web-1 deleted, got {other:?}"),
    }
}

#[tokio::test]
async fn selector_watch_sends_deleted_when_an_object_stops_matching() {
    let server = start().await;
    server.put("", "v1", "pods", pod("web-1", json!({"app": "web"}), ""));
    let pods: Api<Pod> = Api::default_namespaced(server.client());
    let mut stream = pods
        .watch(&WatchParams::default().labels("app=web"), "0")
        .await
        .unwrap()
        .boxed();
    let mut next_event = async || {
        tokio::time::timeout(WAIT, stream.try_next())
            .await
            .expect("in time")
            .unwrap()
            .expect("event")
    };
    assert!(matches!(next_event().await, WatchEvent::Added(p) if p.name_any() == "web-1"));

    // Not matching: nothing. Then it starts matching: ADDED. Then it stops: DELETED.
    server.put("", "v1", "pods", pod("db-1", json!({"app": "db"}), ""));
    let mut db = server
        .store
        .get(pods_rt(), "default", "db-1")
        .unwrap()
        .value()
        .clone();
    db["metadata"]["labels"]["app"] = json!("web");
    server
        .store
        .update(pods_rt(), "default", "db-1", db.clone(), Part::Main, false)
        .unwrap();
    assert!(matches!(next_event().await, WatchEvent::Added(p) if p.name_any() == "db-1"));
    db["metadata"]["labels"]["app"] = json!("db");
    db["metadata"]["resourceVersion"] = json!("");
    server
        .store
        .update(pods_rt(), "default", "db-1", db, Part::Main, false)
        .unwrap();
    match next_event().await {
        WatchEvent::Deleted(p) => assert_eq!(p.labels()["app"], "db"),
        other => panic!("expected db-1 deleted from the selection, got {other:?}"),
    }
}

#[tokio::test]
async fn bookmarks_and_streaming_lists() {
    let server = start_with(store(), |s| {
        s.bookmark_interval = Duration::from_millis(100)
    })
    .await;
    server.put("", "v1", "pods", pod("web-1", json!({}), ""));
    let pods: Api<Pod> = Api::default_namespaced(server.client());

    let rv = server.store.resource_version().to_string();
    let mut stream = pods
        .watch(
            &WatchParams {
                bookmarks: true,
                ..WatchParams::default()
            },
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    let event = tokio::time::timeout(WAIT, stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match event {
        WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, rv),
        other => panic!("expected a bookmark, got {other:?}"),
    }

    let mut events = watcher::watcher(pods, watcher::Config::default().streaming_lists()).boxed();
    assert!(matches!(next(&mut events).await.unwrap(), Event::Init));
    assert!(
        matches!(next(&mut events).await.unwrap(), Event::InitApply(p) if p.name_any() == "web-1")
    );
    assert!(matches!(next(&mut events).await.unwrap(), Event::InitDone));
}

/// Enough changes to push every earlier version out of the store's change log.
fn flood(server: &common::TestServer) {
    let cms = resources::find("", "v1", "configmaps").unwrap();
    server
        .store
        .create(
            cms,
            "default",
            json!({"metadata": {"name": "flood"}}),
            false,
        )
        .unwrap();
    for i in 0..20_001 {
        let v = json!({"metadata": {"name": "flood"}, "data": {"i": i.to_string()}});
        server
            .store
            .update(cms, "default", "flood", v, Part::Main, false)
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_versions_answer_410_and_the_watcher_relists() {
    let server = start().await;
    server.put("", "v1", "pods", pod("web-1", json!({}), ""));
    let pods: Api<Pod> = Api::default_namespaced(server.client());
    let old = server.store.resource_version().to_string();

    // A watcher with short watches and no bookmarks resumes from the version of its last
    // event, which the flood below expires.
    let config = watcher::Config::default().timeout(1).disable_bookmarks();
    let mut events = watcher::watcher(pods.clone(), config).boxed();
    assert!(matches!(next(&mut events).await.unwrap(), Event::Init));
    assert!(matches!(
        next(&mut events).await.unwrap(),
        Event::InitApply(_)
    ));
    assert!(matches!(next(&mut events).await.unwrap(), Event::InitDone));

    flood(&server);
    server.put("", "v1", "pods", pod("web-2", json!({}), ""));

    let mut stream = pods
        .watch(&WatchParams::default(), &old)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(WAIT, stream.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Error(e)) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message.starts_with("too old resource version"),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 410 error event, got {other:?}"),
    }

    // The watcher either saw web-2 live or hit the 410 and re-listed; either way it must end
    // up with web-2, and a 410 must be followed by a fresh list.
    let mut saw_410 = false;
    loop {
        match next(&mut events).await {
            Err(watcher::Error::WatchError(e)) if e.code == 410 => saw_410 = true,
            Err(other) => panic!("unexpected watcher error {other:?}"),
            Ok(Event::Apply(p) | Event::InitApply(p)) if p.name_any() == "web-2" => {
                if !saw_410 {
                    // Seen live before the re-watch: wait for the expiry and the re-list.
                    continue;
                }
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(
        saw_410,
        "the watcher never re-listed after its version expired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_falls_behind_gets_410() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = start().await;
    server.put("", "v1", "pods", pod("web-1", json!({}), ""));
    let rv = server.store.resource_version();
    // A client that opens a watch and does not read, with a small receive window so the
    // socket fills up early: the server stops draining its receiver, which then overflows
    // (the broadcast keeps 32768 changes: the store's 20000 rounded up to a power of two).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut conn = socket.connect(server.addr).await.unwrap();
    let request = format!(
        "GET /api/v1/namespaces/default/pods?watch=true&timeoutSeconds=30&resourceVersion={rv} HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut value = server
        .store
        .get(pods_rt(), "default", "web-1")
        .unwrap()
        .value()
        .clone();
    value["metadata"]["annotations"] = json!({"padding": "x".repeat(2000)});
    for i in 0..36_000 {
        value["metadata"]["labels"] = json!({"i": i.to_string()});
        value["metadata"]["resourceVersion"] = json!("");
        server
            .store
            .update(
                pods_rt(),
                "default",
                "web-1",
                value.clone(),
                Part::Main,
                false,
            )
            .unwrap();
    }
    let mut received = Vec::new();
    let read_all = conn.read_to_end(&mut received);
    tokio::time::timeout(Duration::from_secs(60), read_all)
        .await
        .expect("the watch ends")
        .unwrap();
    let text = String::from_utf8_lossy(&received);
    let events = text.matches(r#"{"type":"MODIFIED""#).count();
    assert!(
        events < 36_000,
        "the watch delivered all {events} events without falling behind"
    );
    let last = text.rsplit(r#"{"type":"#).next().unwrap();
    assert!(
        last.starts_with(r#""ERROR""#) && last.contains(r#""code":410"#),
        "last event: {last}"
    );
}
