//! Input tokens per incident, with and without compression, for the evidence bundles
//! captured from the scenarios in `scenarios/` (`tests/fixtures/evidence/*.json`).
//!
//! `cargo bench -p nightshift-llm --bench tokens` prints one row per bundle; `-- --show NAME`
//! prints the prompt of one. Tokens are estimated at four characters each
//! (`nightshift_llm::tokens::estimate`). "raw" is the bundle as JSON, what a prompt without
//! compression would carry; "digest" is the compressed evidence; "prompt" is everything sent
//! (system message, answer schema, incident and digest); "+past" is the prompt when the
//! knowledge base retrieved three similar past incidents for it (what the agent adds before
//! analysis), bounded by `Limits::past_chars`. Without `--bench` (as `cargo test` runs it) it
//! does nothing.

use nightshift_core::{
    AnalysisInput, Evidence, EvidenceData, EvidenceId, EvidenceItem, EvidenceKind, Incident,
};
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
        "{:<48} {:>5} {:>7} {:>7} {:>6} {:>8} {:>8} {:>6} {:>7} {:>6}",
        "bundle",
        "items",
        "raw",
        "digest",
        "ratio",
        "logs raw",
        "logs dig",
        "ratio",
        "prompt",
        "+past"
    );
    let (mut sum_raw, mut sum_prompt, mut sum_past) = (0u64, 0u64, 0u64);
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
        let with_past = with_past_incidents(&b);
        let past_input = AnalysisInput {
            incident: &b.incident,
            evidence: &with_past,
            history: &[],
        };
        let (system_p, user_p) = analyzer.prompt(&past_input);
        let prompt_past = estimate(&system_p) + estimate(&user_p) + schema_tokens;
        sum_raw += raw + estimate(&system) + schema_tokens;
        sum_prompt += prompt;
        sum_past += prompt_past;
        println!(
            "{:<48} {:>5} {:>7} {:>7} {:>5.1}x {:>8} {:>8} {:>5.1}x {:>7} {:>6}",
            b.scenario,
            b.evidence.items.len(),
            raw,
            dig,
            raw as f64 / dig.max(1) as f64,
            logs_raw,
            logs_dig,
            logs_raw as f64 / logs_dig.max(1) as f64,
            prompt,
            prompt_past
        );
        if show.as_deref() == Some(b.scenario.as_str()) {
            println!("--- system ---\n{system}\n--- user ---\n{user}");
        }
    }
    if !paths.is_empty() {
        println!(
            "mean prompt tokens: {} compressed, {} uncompressed (system and schema included in both), \
             {} with three retrieved past incidents",
            sum_prompt / paths.len() as u64,
            sum_raw / paths.len() as u64,
            sum_past / paths.len() as u64
        );
    }
}

/// The bundle with three similar past incidents of its own kind, as the knowledge base adds
/// them (one resolved by a rollback, one where a restart did not help, one document).
fn with_past_incidents(b: &Bundle) -> Evidence {
    let mut e = b.evidence.clone();
    let first = e.items.len() + 1;
    let past = [
        ("inc-000412", Some("rollback"), "resolved", 0.86),
        ("inc-000398", Some("rollout-restart"), "unresolved", 0.81),
        (
            "doc/checkout-oom-postmortem",
            Some("rollback"),
            "resolved",
            0.62,
        ),
    ];
    for (i, (id, action, outcome, similarity)) in past.into_iter().enumerate() {
        e.items.push(EvidenceItem {
            id: EvidenceId(format!("E{}", first + i)),
            kind: EvidenceKind::PastIncident,
            resource: b.incident.resource.clone(),
            summary: format!("incident {id}"),
            data: EvidenceData::PastIncident {
                incident: id.to_string(),
                category: "deploy/bad-release".to_string(),
                action: action.map(str::to_string),
                outcome: outcome.to_string(),
                similarity,
            },
            observed_at: b.incident.opened_at,
        });
    }
    e
}
