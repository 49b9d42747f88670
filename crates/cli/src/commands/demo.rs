//! `nightshift demo`: a scenario on the simulated cluster with the agent in `auto` mode,
//! printing the incident timeline as it unfolds.

use std::path::Path;
use std::process::ExitCode;

use nightshift::lab::{Lab, LabOptions};
use nightshift_core::TimelineKind;
use nightshift_scenario::Scenario;

use crate::cli::DemoArgs;

/// The scenario the demo runs by default: a memory limit set below the working set.
const DEFAULT_SCENARIO: &str =
    include_str!("../../../../scenarios/memory-limit-checkout-oom-undersized.yaml");

fn load(name: Option<&str>) -> Result<Scenario, String> {
    let Some(name) = name else {
        return nightshift_scenario::parse_str(
            DEFAULT_SCENARIO,
            "built-in memory-limit-checkout-oom-undersized.yaml",
        )
        .map_err(|e| e.to_string());
    };
    let path = Path::new(name);
    let candidates = [
        path.to_path_buf(),
        Path::new("scenarios").join(format!("{name}.yaml")),
    ];
    for c in &candidates {
        if c.is_file() {
            return nightshift_scenario::load_file(c).map_err(|e| e.to_string());
        }
    }
    Err(format!(
        "scenario {name:?}: no file {} or {}",
        candidates[0].display(),
        candidates[1].display()
    ))
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let scenario = match load(args.scenario.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
        }
    };
    if args.db.exists() {
        std::fs::remove_file(&args.db)?;
    }
    super::runtime()?.block_on(async move {
        let mut opts = LabOptions::new(args.db.clone());
        opts.speed = args.speed;
        let start_ms = opts.start_ms;
        println!(
            "nightshift demo: scenario {} ({}), {}x simulated time, policy auto",
            scenario.name, scenario.summary, args.speed
        );
        for f in &scenario.faults {
            println!(
                "  fault at +{}: {} on {}",
                nightshift_scenario::units::format_duration(f.at),
                f.kind.type_name(),
                f.target
            );
        }
        let mut lab = Lab::start(&scenario, opts).await?;
        println!(
            "  cluster API http://{}  agent API http://{}",
            lab.cluster.addr, lab.agent.addr
        );
        let console = format!("http://{}/console/", lab.agent.addr);
        println!("  web console {console} (watch the incidents live)");
        if args.open {
            open_browser(&console);
        }
        let mut live = lab.agent.engine.subscribe();
        let printer = tokio::spawn(async move {
            while let Ok(ev) = live.recv().await {
                let t = (ev.entry.at.timestamp_millis() - start_ms).max(0) / 1000;
                let tag = match ev.entry.kind {
                    TimelineKind::Transition => "state",
                    TimelineKind::Signal => "signal",
                    TimelineKind::Evidence => "evidence",
                    TimelineKind::Diagnosis => "diagnosis",
                    TimelineKind::Plan => "plan",
                    TimelineKind::Decision => "decision",
                    TimelineKind::Approval => "approval",
                    TimelineKind::Intent => "intent",
                    TimelineKind::DryRun => "dry-run",
                    TimelineKind::Action => "action",
                    TimelineKind::Verification => "verify",
                    TimelineKind::Notification => "notify",
                    TimelineKind::Note => "note",
                };
                println!(
                    "[+{:02}:{:02}] {} {:<10} {}",
                    t / 60,
                    t % 60,
                    ev.incident,
                    tag,
                    nightshift_core::text::printable(&ev.entry.message)
                );
            }
        });
        lab.run_to_horizon().await;
        printer.abort();
        let list = lab.agent.engine.store().list(&Default::default()).await?;
        println!("\nincidents:");
        for s in &list {
            let i = &s.incident;
            println!(
                "  {}  {:?}  {}  category {}  root cause {}",
                i.id,
                i.state,
                i.resource,
                i.category
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
                i.root_cause
                    .as_ref()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "-".into())
            );
        }
        println!(
            "\nthe record is in {} (nightshift incidents list --store {})",
            args.db.display(),
            args.db.display()
        );
        if args.stay {
            println!("\nthe console stays at {console}; Ctrl-C stops it");
            tokio::signal::ctrl_c().await?;
        }
        lab.stop();
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Asks the desktop to open `url`; says so when it cannot (a server without a desktop).
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    match std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => println!("  opened the console with {opener}"),
        Err(e) => println!("  could not run {opener} ({e}); open {url} yourself"),
    }
}
