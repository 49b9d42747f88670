//! The providers over real TLS: a CA made in the test signs a certificate for `localhost`, a
//! TLS front on a loopback port forwards to the replay server, and the model is reached at
//! `https://localhost:PORT` through `ca_file`; without it the server is refused as an unknown
//! issuer and the rules answer.

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use nightshift_core::{ActionName, Category};
use nightshift_llm::LlmAnalyzer;
use nightshift_llm::config::LlmConfig;
use nightshift_llm::replay::{ReplayServer, Reply};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use support::*;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA written to a PEM file, and a TLS front for `localhost` signed by it, forwarding each
/// connection to the replay server in plain http.
struct Front {
    port: u16,
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Front {
    async fn start(backend: &ReplayServer) -> Front {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let backend = backend.addr;
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Front {
            port,
            ca_file,
            _dir: dir,
            task,
        }
    }

    fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn the_openai_compatible_provider_answers_over_https_with_the_ca_file() {
    let server = serve([Reply::fixture("openai/catalog-bad-release.json")]).await;
    let front = Front::start(&server).await;
    let mut cfg = openai(&server);
    cfg.base_url = format!("{}/v1", front.url());
    cfg.ca_file = Some(front.ca_file.clone());
    cfg.api_key_env = Some("CARGO_PKG_NAME".into());
    let analyzer = LlmAnalyzer::from_config(&cfg).unwrap();
    let a = analyzer
        .run(&Bundle::load("bad-rollout-catalog-crash").input())
        .await;
    assert_eq!(a.analyzer, "llm:gpt-4o-mini", "{:?}", a.notes);
    assert_eq!(a.diagnosis.category, Category::BadRelease, "{:?}", a.notes);
    assert_eq!(a.plans[0].action.name(), ActionName::Rollback);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[0].headers["authorization"], "Bearer nightshift-llm");
}

#[tokio::test]
async fn the_anthropic_provider_answers_over_https_with_the_ca_file() {
    let server = serve([Reply::fixture("anthropic/catalog-bad-release.json")]).await;
    let front = Front::start(&server).await;
    let mut cfg = anthropic(&server);
    cfg.base_url = front.url();
    cfg.ca_file = Some(front.ca_file.clone());
    cfg.api_key_env = Some("CARGO_PKG_NAME".into());
    let analyzer = LlmAnalyzer::from_config(&cfg).unwrap();
    let a = analyzer
        .run(&Bundle::load("bad-rollout-catalog-crash").input())
        .await;
    assert_eq!(a.analyzer, "llm:claude-sonnet-4-5", "{:?}", a.notes);
    assert_eq!(a.diagnosis.category, Category::BadRelease, "{:?}", a.notes);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/v1/messages");
    assert_eq!(reqs[0].headers["x-api-key"], "nightshift-llm");
}

#[tokio::test]
async fn without_the_ca_file_the_model_is_refused_as_an_unknown_issuer() {
    let server = serve([Reply::fixture("openai/catalog-bad-release.json")]).await;
    let front = Front::start(&server).await;
    let cfg = LlmConfig {
        base_url: format!("{}/v1", front.url()),
        max_retries: 0,
        ..openai(&server)
    };
    let a = LlmAnalyzer::from_config(&cfg)
        .unwrap()
        .run(&Bundle::load("bad-rollout-catalog-crash").input())
        .await;
    assert!(server.requests().is_empty(), "nothing went past TLS");
    let notes = a.notes.join("\n");
    assert!(
        notes.contains("UnknownIssuer") && notes.contains(&front.url()),
        "{notes}"
    );
}

#[test]
fn a_ca_file_that_does_not_exist_is_a_config_error_naming_it() {
    let mut cfg = LlmConfig::openai("https://localhost:9/v1", "m", None);
    cfg.ca_file = Some("/nonexistent/model-ca.pem".into());
    let e = LlmAnalyzer::from_config(&cfg).unwrap_err().to_string();
    assert!(
        e.contains("llm.ca_file") && e.contains("/nonexistent/model-ca.pem"),
        "{e}"
    );
}
