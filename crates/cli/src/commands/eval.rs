//! `nightshift eval`.

use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nightshift::eval::report;
use nightshift::eval::{
    AgentIdentity, AnalyzerKit, EvalOptions, Llm, RbacManifest, Rules, ScenarioRun, run_all_as,
};
use nightshift::lab::LAB_POLICY;
use nightshift_core::policy::Policy;

use crate::cli::{AnalyzerChoice, EvalArgs};

/// Runs the evaluation.
pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let scenarios = match nightshift_scenario::load_paths(&args.paths) {
        Ok(list) => list,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
        }
    };
    let policy = match &args.policy {
        Some(path) => match Policy::load(path) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
            }
        },
        None => Policy::parse(LAB_POLICY, "deploy/policy.lab.yaml")?,
    };
    let identity = match &args.rbac_manifest {
        Some(path) => match RbacManifest::load(path) {
            Ok(m) => AgentIdentity::ServiceAccount(std::sync::Arc::new(m)),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
            }
        },
        None => AgentIdentity::Admin,
    };
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let opts = EvalOptions {
        policy,
        jobs,
        speed: args.speed,
    };
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(scenarios.len() as u64), ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("the progress template is valid"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let runs = super::runtime()?.block_on(async {
        match args.analyzer {
            AnalyzerChoice::Rules => evaluate(scenarios, &opts, &identity, &Rules, &bar).await,
            AnalyzerChoice::Llm => {
                let kit = Llm {
                    config: llm_config(args.llm_config.as_deref())?,
                    policy: opts.policy.clone(),
                };
                evaluate(scenarios, &opts, &identity, &kit, &bar).await
            }
        }
    })?;
    bar.finish_and_clear();
    print!("{}", report::table(&runs));
    if let Some(path) = &args.json {
        std::fs::write(path, report::json(&runs))
            .with_context(|| format!("unable to write {}", path.display()))?;
    }
    if let Some(path) = &args.kb_out {
        std::fs::write(path, report::kb_entries(&runs))
            .with_context(|| format!("unable to write {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, report::html(&runs))
            .with_context(|| format!("unable to write {}", path.display()))?;
    }
    if args.strict {
        let failures = report::gate(&runs);
        if !failures.is_empty() {
            for f in &failures {
                eprintln!("gate: {f}");
            }
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `llm:` section of the agent configuration file `--llm-config` names.
fn llm_config(path: Option<&std::path::Path>) -> anyhow::Result<nightshift_llm::LlmConfig> {
    let Some(path) = path else {
        anyhow::bail!(
            "--analyzer llm needs --llm-config FILE: an agent configuration with an llm: section (see docs/llm.md)"
        );
    };
    let config = nightshift::config::AgentConfig::load(path)?;
    config.llm.ok_or_else(|| {
        anyhow::anyhow!(
            "{}: no llm: section; --analyzer llm needs one (see docs/llm.md)",
            path.display()
        )
    })
}

async fn evaluate<K: AnalyzerKit>(
    scenarios: Vec<(std::path::PathBuf, nightshift_scenario::Scenario)>,
    opts: &EvalOptions,
    identity: &AgentIdentity,
    kit: &K,
    bar: &ProgressBar,
) -> anyhow::Result<Vec<ScenarioRun>> {
    let done = |r: &ScenarioRun| {
        bar.inc(1);
        bar.set_message(r.score.name.clone());
    };
    run_all_as(scenarios, opts, identity, kit, &done).await
}
