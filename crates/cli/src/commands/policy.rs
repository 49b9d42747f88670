//! `nightshift policy check`.

use std::process::ExitCode;

use nightshift_core::policy::Policy;

use crate::cli::PolicyCommand;

/// Runs a policy subcommand.
pub fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check { file } => match Policy::load(&file) {
            Ok(p) => {
                println!("{}", p.check_report());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(super::EXIT_BAD_INPUT))
            }
        },
    }
}
