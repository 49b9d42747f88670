//! One module per subcommand.

mod analyze;
mod demo;
mod eval;
mod incidents;
mod kb;
mod policy;
mod run;
mod scenario;
mod sim;
mod trust;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Exit code for input that does not load (a scenario or policy file).
pub const EXIT_BAD_INPUT: u8 = 2;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Sim(args) => sim::run(args),
        Command::Scenario(cmd) => scenario::run(cmd),
        Command::Demo(args) => demo::run(args),
        Command::Run(args) => run::run(args),
        Command::Incidents(cmd) => incidents::run(cmd),
        Command::Approve(args) => incidents::answer(args, true),
        Command::Reject(args) => incidents::answer(args, false),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Eval(args) => eval::run(args),
        Command::Analyze(args) => analyze::run(args),
        Command::Kb(cmd) => kb::run(cmd),
        Command::Trust(args) => trust::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A multi-threaded runtime for a command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("unable to start the async runtime")
}
