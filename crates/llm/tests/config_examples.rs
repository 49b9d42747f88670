//! The example configurations in `deploy/llm/` load and pass the checks.

use std::collections::BTreeMap;
use std::path::Path;

use nightshift_llm::LlmConfig;

#[derive(serde::Deserialize)]
struct AgentFile {
    llm: LlmConfig,
    #[serde(flatten)]
    _rest: BTreeMap<String, serde_json::Value>,
}

#[test]
fn every_example_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/llm");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let file: AgentFile =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        file.llm
            .validate(&path.display().to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        seen.push(file.llm.provider.as_str().to_string() + ":" + &file.llm.endpoint());
    }
    seen.sort();
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.iter().any(|s| s.starts_with("azure:https://")));
    assert!(
        seen.iter()
            .any(|s| s == "anthropic:https://api.anthropic.com")
    );
    assert!(seen.iter().any(|s| s.contains("11434")));
}
