//! Input tokens per incident, with and without compression, for the evidence bundles
//! captured from the scenarios in `scenarios/` (`tests/fixtures/evidence/*.json`).
//!
//! `cargo bench -p nightshift-llm --bench tokens` prints one row per bundle; `-- --show NAME`
//! prints the prompt of one. Tokens are estimated at four characters each
//! (`nightshift_llm::tokens::estimate`). "raw" is the bundle as JSON, what a prompt without
//! compression would carry; "digest" is the compressed evidence; "prompt" is everything sent
//! (system message, answer schema, incident and digest). Without `--bench` (as `cargo test`
//! runs it) it does nothing.

use nightshift_core::{AnalysisInput, Evidence, EvidenceKind, Incident};
use nightshift_llm::compress::{Limits, digest};
use nightshift_llm::tokens::estimate;
use nightshift_llm::{LlmAnalyzer, LlmConfig};

#[derive(serde::Deserialize)]
struct Bundle {
    scenario: String,
    incident: Incident,
    evidence: Evidence,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let show = args
        .iter()
        .position(|a| a == "--show")
        .and_then(|i| args.get(i + 1).cloned());
    let dir = nightshift_llm::replay::fixtures_dir().join("evidence");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("the evidence fixtures exist")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let analyzer =
        LlmAnalyzer::from_config(&LlmConfig::openai("http://127.0.0.1:9/v1", "bench", None))
            .expect("a valid config");
    let schema = nightshift_llm::answer::schema(nightshift_core::ActionName::ALL);
    let schema_tokens = estimate(&schema.to_string());
    println!(
        "{:<48} {:>5} {:>7} {:>7} {:>6} {:>8} {:>8} {:>6} {:>7}",
        "bundle", "items", "raw", "digest", "ratio", "logs raw", "logs dig", "ratio", "prompt"
    );
    let (mut sum_raw, mut sum_prompt) = (0u64, 0u64);
    for p in &paths {
        let b: Bundle = serde_json::from_str(&std::fs::read_to_string(p).expect("readable"))
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let input = AnalysisInput {
            incident: &b.incident,
            evidence: &b.evidence,
            history: &[],
        };
        let raw = estimate(&serde_json::to_string(&b.evidence).expect("serializable"));
        let limits = Limits::default();
        let dig = estimate(&digest(&b.evidence, limits).text);
        let logs = Evidence {
            items: b.evidence.of_kind(EvidenceKind::Logs).cloned().collect(),
            ..Evidence::default()
        };
        let logs_raw = estimate(&serde_json::to_string(&logs).expect("serializable"));
        let logs_dig = estimate(&digest(&logs, limits).text);
        let (system, user) = analyzer.prompt(&input);
        let prompt = estimate(&system) + estimate(&user) + schema_tokens;
        sum_raw += raw + estimate(&system) + schema_tokens;
        sum_prompt += prompt;
        println!(
            "{:<48} {:>5} {:>7} {:>7} {:>5.1}x {:>8} {:>8} {:>5.1}x {:>7}",
            b.scenario,
            b.evidence.items.len(),
            raw,
            dig,
            raw as f64 / dig.max(1) as f64,
            logs_raw,
            logs_dig,
            logs_raw as f64 / logs_dig.max(1) as f64,
            prompt
        );
        if show.as_deref() == Some(b.scenario.as_str()) {
            println!("--- system ---\n{system}\n--- user ---\n{user}");
        }
    }
    if !paths.is_empty() {
        println!(
            "mean prompt tokens: {} compressed, {} uncompressed (system and schema included in both)",
            sum_prompt / paths.len() as u64,
            sum_raw / paths.len() as u64
        );
    }
}
