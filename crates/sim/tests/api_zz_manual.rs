mod common;
use common::*;
use nightshift_sim::resources;
use nightshift_sim::store::Part;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn lag_experiment() {
    let server = start().await;
    server.put("", "v1", "pods", pod("web-1", json!({}), ""));
    let rv = server.store.resource_version();
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    sock.write_all(format!("GET /api/v1/namespaces/default/pods?watch=true&resourceVersion={rv} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let rt = resources::find("", "v1", "pods").unwrap();
    let mut value = server
        .store
        .get(rt, "default", "web-1")
        .unwrap()
        .value()
        .clone();
    value["metadata"]["annotations"] = json!({"padding": "x".repeat(8000)});
    let t = std::time::Instant::now();
    for i in 0..23_000 {
        value["metadata"]["labels"] = json!({"i": i.to_string()});
        value["metadata"]["resourceVersion"] = json!("");
        server
            .store
            .update(rt, "default", "web-1", value.clone(), Part::Main, false)
            .unwrap();
    }
    eprintln!("flood took {:?}", t.elapsed());
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    let mut tail = Vec::new();
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(3), sock.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => {
                total += n;
                tail = buf[n.saturating_sub(300)..n].to_vec();
            }
            Ok(Err(e)) => panic!("{e}"),
        }
    }
    eprintln!(
        "read {total} bytes; tail {}",
        String::from_utf8_lossy(&tail)
    );
}
