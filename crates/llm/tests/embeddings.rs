//! The embeddings client against a local server speaking OpenAI's `/v1/embeddings` and
//! Ollama's `/api/embed`: what is sent (the key, the model, redacted texts, batches), and
//! what is done with answers that are wrong, slow or refused.

use std::time::Duration;

use nightshift_core::knowledge::vector::{Embedder, cosine, normalized};
use nightshift_llm::embed::local::{LocalEmbeddingServer, LocalEmbeddings, Trouble};
use nightshift_llm::embed::{EmbeddingClient, EmbeddingConfig, EmbeddingProvider};

fn config(base_url: &str, provider: EmbeddingProvider) -> EmbeddingConfig {
    EmbeddingConfig {
        provider,
        base_url: base_url.into(),
        model: "text-embedding-3-small".into(),
        timeout: "2s".into(),
        ..EmbeddingConfig::default()
    }
}

/// A server of the incident concepts that misbehaves as `trouble` says first, and a client
/// of it with the default settings.
async fn troubled(
    trouble: Vec<Trouble>,
    key: Option<&str>,
) -> (LocalEmbeddingServer, EmbeddingClient) {
    let mut local = LocalEmbeddings::incidents();
    for t in trouble {
        local = local.trouble(t);
    }
    if let Some(k) = key {
        local = local.key(k);
    }
    let server = local.start().await.unwrap();
    let client = EmbeddingClient::new(
        &config(&server.openai_url(), EmbeddingProvider::Openai),
        "test",
    )
    .unwrap();
    (server, client)
}

fn texts(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn vectors_come_back_in_order_in_batches_with_the_key_and_without_secrets() {
    let server = LocalEmbeddings::incidents()
        .key("sk-test-embed-0001")
        .start()
        .await
        .unwrap();
    let mut cfg = config(&server.openai_url(), EmbeddingProvider::Openai);
    cfg.api_key_env = Some("NIGHTSHIFT_TEST_EMBED_KEY".into());
    cfg.batch = 2;
    cfg.dimensions = Some(38);
    let client = EmbeddingClient::with_env(&cfg, "test", |v| {
        (v == "NIGHTSHIFT_TEST_EMBED_KEY").then(|| "sk-test-embed-0001".to_string())
    })
    .unwrap();
    assert_eq!(client.space(), "openai:text-embedding-3-small@38");
    let input = texts(&[
        "pods OOMKilled, heap grows",
        "memory leak in the cart service",
        "x509: certificate has expired",
        "connection refused by postgres password=hunter2",
        "panic: runtime error",
    ]);
    let vectors = client.embed(&input).await.unwrap();
    assert_eq!(vectors.len(), 5);
    let unit: Vec<Vec<f32>> = vectors.iter().map(|v| normalized(v).unwrap()).collect();
    // The two texts about memory are nearer each other than either is to the certificate.
    assert!(
        cosine(&unit[0], &unit[1]) > 0.5,
        "{}",
        cosine(&unit[0], &unit[1])
    );
    assert!(cosine(&unit[0], &unit[2]) < 0.2);

    let requests = server.requests();
    assert_eq!(requests.len(), 3, "5 texts in batches of 2");
    for r in &requests {
        assert_eq!(r.path, "/v1/embeddings");
        assert_eq!(
            r.authorization.as_deref(),
            Some("Bearer sk-test-embed-0001")
        );
        assert_eq!(r.body["model"], "text-embedding-3-small");
        assert_eq!(r.body["encoding_format"], "float");
        assert_eq!(r.body["dimensions"], 38);
    }
    let sent: Vec<String> = requests.iter().flat_map(|r| r.texts()).collect();
    assert_eq!(sent.len(), 5);
    assert!(
        sent[3].contains("connection refused") && !sent[3].contains("hunter2"),
        "the secret left the process: {}",
        sent[3]
    );
}

#[tokio::test]
async fn ollama_speaks_its_own_protocol() {
    let server = LocalEmbeddings::incidents().start().await.unwrap();
    let mut cfg = config(&server.ollama_url(), EmbeddingProvider::Ollama);
    cfg.model = "nomic-embed-text".into();
    let client = EmbeddingClient::new(&cfg, "test").unwrap();
    let v = client
        .embed(&texts(&["disk full", "volume full"]))
        .await
        .unwrap();
    assert_eq!(v.len(), 2);
    let r = &server.requests()[0];
    assert_eq!(r.path, "/api/embed");
    assert_eq!(r.body["model"], "nomic-embed-text");
    assert!(r.authorization.is_none(), "no key configured, none sent");
}

#[tokio::test]
async fn errors_are_retried_when_worth_it_and_bad_answers_are_refused() {
    // A 503 is retried and the answer after it used.
    let server = LocalEmbeddings::incidents()
        .trouble(Trouble::Status(503))
        .start()
        .await
        .unwrap();
    let mut cfg = config(&server.openai_url(), EmbeddingProvider::Openai);
    cfg.max_retries = 1;
    let client = EmbeddingClient::new(&cfg, "test").unwrap();
    assert_eq!(client.embed(&texts(&["oom"])).await.unwrap().len(), 1);
    assert_eq!(server.requests().len(), 2);

    // A wrong key is a 401: not retried, and the error says so.
    let (server, client) = troubled(vec![], Some("right")).await;
    let e = client.embed(&texts(&["oom"])).await.unwrap_err();
    assert!(e.contains("HTTP 401"), "{e}");
    assert_eq!(server.requests().len(), 1, "a 401 is not retried");

    // One vector short, or a page that is not JSON: refused, naming the problem.
    for (trouble, want) in [
        (Trouble::WrongCount, "1 vectors for 2 texts"),
        (Trouble::Garbage, "not JSON"),
    ] {
        let (_server, client) = troubled(vec![trouble], None).await;
        let e = client.embed(&texts(&["oom", "tls"])).await.unwrap_err();
        assert!(e.contains(want), "{e}");
    }

    // Slower than the timeout: a timeout after the retries.
    let server = LocalEmbeddings::incidents()
        .trouble(Trouble::Slow(Duration::from_secs(3)))
        .start()
        .await
        .unwrap();
    let mut cfg = config(&server.openai_url(), EmbeddingProvider::Openai);
    cfg.timeout = "300ms".into();
    cfg.max_retries = 0;
    let client = EmbeddingClient::new(&cfg, "test").unwrap();
    let e = client.embed(&texts(&["oom"])).await.unwrap_err();
    assert!(e.contains("did not answer within"), "{e}");
}

#[test]
fn a_key_variable_that_is_not_set_is_named() {
    let mut cfg = config("http://127.0.0.1:9/v1", EmbeddingProvider::Openai);
    cfg.api_key_env = Some("NIGHTSHIFT_TEST_EMBED_KEY_UNSET".into());
    let e = EmbeddingClient::new(&cfg, "nightshift.yaml")
        .err()
        .expect("refused");
    assert_eq!(e.key, "embeddings.api_key_env");
    assert!(
        e.message
            .contains("NIGHTSHIFT_TEST_EMBED_KEY_UNSET is not set"),
        "{e}"
    );
}
