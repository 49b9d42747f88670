//! Hostile input for every parser and loader: a few thousand generated inputs each (valid
//! documents mutated, damaged text, raw bytes; see `tests/fuzz/mod.rs`). A panic or an input
//! slower than the bound fails the test, which prints the seed, the input's index and the
//! file the input was saved to. `scripts/fuzz` runs the same driver for millions of inputs.

mod fuzz;

use std::path::PathBuf;
use std::time::Duration;

/// Inputs per parser on every test run.
const INPUTS: u64 = 1_500;
/// The seed of the test runs; `scripts/fuzz` takes others.
const SEED: u64 = 20_261_127;

fn check(parser: &str) {
    let target = fuzz::targets::by_name(parser).expect("a known parser");
    let opts = fuzz::Options {
        seed: SEED,
        first: 0,
        inputs: INPUTS,
        // A debug build runs these parsers ten to thirty times slower than `scripts/fuzz`'s
        // release build (bound 1 s), on two cores shared with other tests; an input that
        // never returns is still caught.
        bound: Duration::from_secs(10),
        out: PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures"),
    };
    let report = fuzz::run(target, &opts);
    assert_eq!(report.inputs, INPUTS, "every input was fed");
    let failures: Vec<String> = report.failures.iter().map(|f| f.to_string()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} inputs failed:\n{}",
        failures.len(),
        report.inputs,
        failures.join("\n")
    );
}

#[test]
fn the_alertmanager_webhook_parser_survives_hostile_bodies() {
    check("webhook");
}

#[test]
fn the_scenario_loader_survives_hostile_files() {
    check("scenario");
}

#[test]
fn the_policy_loader_survives_hostile_files() {
    check("policy");
}

#[test]
fn the_agent_config_loader_survives_hostile_files() {
    check("config");
}

#[test]
fn the_model_answer_parser_survives_hostile_answers() {
    check("answer");
}
