//! `nightshift scenario check`.

use std::process::ExitCode;

use crate::cli::ScenarioCommand;

/// Runs a scenario subcommand.
pub fn run(cmd: ScenarioCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ScenarioCommand::Check { paths } => match nightshift_scenario::load::load_paths(&paths) {
            Ok(list) => {
                for (path, s) in &list {
                    println!(
                        "ok  {}  {} ({} faults, horizon {})",
                        path.display(),
                        s.name,
                        s.faults.len(),
                        nightshift_scenario::units::format_duration(s.horizon)
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(super::EXIT_BAD_INPUT))
            }
        },
    }
}
