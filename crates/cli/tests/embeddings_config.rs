//! The configuration's `embeddings:` section: the model analyzer's endpoint and key taken
//! when it names none, every mistake named by its key, and a key variable that is not set
//! stopping the start with its name.

use std::path::Path;
use std::process::Command;

use nightshift::config::AgentConfig;
use nightshift_llm::embed::EmbeddingProvider;

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("nightshift.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn load(text: &str) -> Result<AgentConfig, String> {
    let dir = tempfile::tempdir().unwrap();
    AgentConfig::load(&write(dir.path(), text)).map_err(|e| e.to_string())
}

#[test]
fn embeddings_take_the_analyzers_endpoint_and_key_unless_they_name_their_own() {
    let c = load(
        "llm: {provider: openai, base_url: 'http://gateway.internal:4000/v1', model: gpt-4o-mini, api_key_env: GATEWAY_KEY}\n\
         embeddings: {model: text-embedding-3-small}\n",
    )
    .unwrap();
    let e = c.embeddings.unwrap();
    assert_eq!(e.url(), "http://gateway.internal:4000/v1/embeddings");
    assert_eq!(e.api_key_env.as_deref(), Some("GATEWAY_KEY"));

    let c = load(
        "llm: {provider: anthropic, model: claude-sonnet-4-5, api_key_env: ANTHROPIC_API_KEY}\n\
         embeddings: {provider: ollama, base_url: 'http://ollama:11434', model: nomic-embed-text}\n",
    )
    .unwrap();
    let e = c.embeddings.unwrap();
    assert_eq!(e.provider, EmbeddingProvider::Ollama);
    assert_eq!(e.url(), "http://ollama:11434/api/embed");
    assert_eq!(
        e.api_key_env, None,
        "Anthropic's key is not an embeddings key"
    );
    assert!(load("listen: 127.0.0.1:0\n").unwrap().embeddings.is_none());
}

#[test]
fn mistakes_in_the_embeddings_section_name_the_file_and_the_key() {
    for (text, want) in [
        ("embeddings: {provider: openai}\n", "embeddings.model"),
        (
            "embeddings: {model: m, api_key_env: sk-live-abc}\n",
            "embeddings.api_key_env",
        ),
        (
            "embeddings: {model: m, base_url: 'ftp://x'}\n",
            "embeddings.base_url",
        ),
        (
            "embeddings: {model: m, timeout: soon}\n",
            "embeddings.timeout",
        ),
        ("embeddings: {model: m, batch: 0}\n", "embeddings.batch"),
        ("embeddings: {model: m, provider: cohere}\n", "cohere"),
        ("embeddings: {model: m, modle: x}\n", "modle"),
    ] {
        let e = load(text).unwrap_err();
        assert!(
            e.contains("nightshift.yaml") && e.contains(want),
            "{text}: {e}"
        );
        assert!(!e.contains("sk-live-abc"), "a key was repeated: {e}");
    }
}

#[test]
fn an_unset_key_variable_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "listen: 127.0.0.1:0\nembeddings: {model: text-embedding-3-small, base_url: 'http://127.0.0.1:9/v1', api_key_env: NIGHTSHIFT_TEST_EMBEDDINGS_KEY_UNSET}\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .args(["run", "--config"])
        .arg(&path)
        .env_remove("NIGHTSHIFT_TEST_EMBEDDINGS_KEY_UNSET")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nightshift.yaml")
            && stderr.contains("embeddings.api_key_env")
            && stderr.contains("NIGHTSHIFT_TEST_EMBEDDINGS_KEY_UNSET is not set"),
        "{stderr}"
    );
}
