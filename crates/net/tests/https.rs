//! Real TLS on a loopback port with a CA made here: the CA file is trusted, a server the
//! system's roots do not know is refused as an unknown issuer, a certificate for another name
//! is refused naming the name, and a bad CA file is named.

mod support;

use nightshift_net::{NetError, TlsSettings, client, explain};
use support::{TestCa, TlsServer};

/// A client that reaches `localhost` at the server's address.
fn http(settings: &TlsSettings, server: &TlsServer) -> reqwest::Client {
    client(settings)
        .unwrap()
        .resolve("localhost", server.addr)
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_ca_file_is_trusted() {
    let ca = TestCa::new();
    let server = TlsServer::start(ca.server_config(&["localhost"]), "hello over tls").await;
    let settings = TlsSettings::with_ca_file(&ca.ca_file);
    let response = http(&settings, &server)
        .get(server.url("localhost"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}", explain(&e)));
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "hello over tls");
}

#[tokio::test]
async fn without_the_ca_file_the_issuer_is_unknown() {
    let ca = TestCa::new();
    let server = TlsServer::start(ca.server_config(&["localhost"]), "secret").await;
    let e = http(&TlsSettings::default(), &server)
        .get(server.url("localhost"))
        .send()
        .await
        .expect_err("a CA the system does not know is refused");
    let message = explain(&e);
    assert!(
        message.contains("UnknownIssuer") && message.contains("neither among the system's roots"),
        "{message}"
    );
    assert!(message.contains(&server.url("localhost")), "{message}");
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_naming_the_names() {
    let ca = TestCa::new();
    let server = TlsServer::start(ca.server_config(&["other.example"]), "secret").await;
    let settings = TlsSettings::with_ca_file(&ca.ca_file);
    let e = http(&settings, &server)
        .get(server.url("localhost"))
        .send()
        .await
        .expect_err("a certificate for other.example does not serve localhost");
    let message = explain(&e);
    assert!(
        message.contains("certificate not valid for name \"localhost\"")
            && message.contains("other.example")
            && message.contains("issued for another name"),
        "{message}"
    );
}

#[tokio::test]
async fn https_to_a_plain_http_port_says_so() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let e = client(&TlsSettings::default())
        .unwrap()
        .build()
        .unwrap()
        .get(format!("https://{addr}/"))
        .send()
        .await
        .expect_err("plain http is not TLS");
    let message = explain(&e);
    assert!(message.contains("does not speak TLS"), "{message}");
}

#[test]
fn a_missing_ca_file_is_named() {
    let settings = TlsSettings::with_ca_file("/nonexistent/ca.pem");
    for e in [
        settings.check().unwrap_err(),
        client(&settings).unwrap_err(),
    ] {
        assert!(matches!(e, NetError::ReadCaFile { .. }), "{e:?}");
        let message = e.to_string();
        assert!(
            message.contains("/nonexistent/ca.pem") && message.contains("unable to read"),
            "{message}"
        );
    }
    assert!(TlsSettings::default().check().is_ok());
}

#[test]
fn a_ca_file_without_a_certificate_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let key_only = dir.path().join("key.pem");
    std::fs::write(
        &key_only,
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    for path in [key_only, empty] {
        let e = TlsSettings::with_ca_file(&path).check().unwrap_err();
        let message = e.to_string();
        assert!(
            message.contains(&path.display().to_string()) && message.contains("no certificate"),
            "{message}"
        );
    }
}

#[test]
fn a_broken_certificate_is_named_by_its_position() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.pem");
    let good = std::fs::read_to_string(&ca.ca_file).unwrap();
    // A well-formed PEM block whose content is not a certificate.
    let bad = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    std::fs::write(&path, format!("{good}{bad}")).unwrap();
    let e = client(&TlsSettings::with_ca_file(&path)).unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains("certificate 2") && message.contains(&path.display().to_string()),
        "{message}"
    );
}

#[test]
fn settings_read_from_yaml_refuse_unknown_keys() {
    let s: TlsSettings = serde_json::from_str(r#"{"ca_file": "/etc/ca.pem"}"#).unwrap();
    assert_eq!(s, TlsSettings::with_ca_file("/etc/ca.pem"));
    let e = serde_json::from_str::<TlsSettings>(r#"{"ca": "/etc/ca.pem"}"#).unwrap_err();
    assert!(e.to_string().contains("unknown field `ca`"), "{e}");
}
