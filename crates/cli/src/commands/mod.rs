//! One module per subcommand.

mod scenario;
mod sim;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Exit code for input that does not load (a scenario or policy file).
pub const EXIT_BAD_INPUT: u8 = 2;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Sim(args) => sim::run(args),
        Command::Scenario(cmd) => scenario::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
