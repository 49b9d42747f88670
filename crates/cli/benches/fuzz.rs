//! The fuzz driver of `tests/fuzz/` at length, in release: `scripts/fuzz` runs it. Prints
//! inputs per second, panics and hangs per parser, and every failing input with its replay
//! command; exits 1 when anything failed.
//!
//! `cargo bench -p nightshift --bench fuzz -- [--parser NAME]... [--inputs N] [--seed S]
//! [--first I] [--bound-ms MS] [--out DIR] [--replay FILE]`

#[path = "../tests/fuzz/mod.rs"]
mod fuzz;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

struct Args {
    parsers: Vec<String>,
    inputs: u64,
    seed: u64,
    first: u64,
    bound: Duration,
    out: PathBuf,
    replay: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        parsers: Vec::new(),
        inputs: 1_000_000,
        seed: 1,
        first: 0,
        bound: Duration::from_secs(1),
        out: PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures"),
        replay: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        let number = |v: String| {
            v.replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("{arg}: {v:?} is not a whole number"))
        };
        match arg.as_str() {
            "--bench" => {}
            "--parser" => args.parsers.push(value()?),
            "--inputs" => args.inputs = number(value()?)?,
            "--seed" => args.seed = number(value()?)?,
            "--first" => args.first = number(value()?)?,
            "--bound-ms" => args.bound = Duration::from_millis(number(value()?)?),
            "--out" => args.out = PathBuf::from(value()?),
            "--replay" => args.replay = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.parsers.is_empty() {
        args.parsers = fuzz::targets::NAMES.iter().map(|s| s.to_string()).collect();
    }
    Ok(args)
}

fn main() -> ExitCode {
    // `cargo test --all-targets` runs benches too; only `cargo bench` passes `--bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return ExitCode::SUCCESS;
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("fuzz: {e}");
            return ExitCode::from(2);
        }
    };
    let mut targets = Vec::new();
    for name in &args.parsers {
        match fuzz::targets::by_name(name) {
            Some(t) => targets.push(t),
            None => {
                eprintln!(
                    "fuzz: unknown parser {name:?}; expected one of: {}",
                    fuzz::targets::names()
                );
                return ExitCode::from(2);
            }
        }
    }
    if let Some(file) = &args.replay {
        for target in &targets {
            match fuzz::replay_file(target.as_ref(), file) {
                Ok(took) => println!("{}: {} fed in {took:.2?}", target.name(), file.display()),
                Err(e) => {
                    eprintln!("fuzz: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        return ExitCode::SUCCESS;
    }

    println!(
        "fuzzing {} parser(s), {} inputs each from input {}, seed {}, bound {:?}",
        targets.len(),
        args.inputs,
        args.first,
        args.seed,
        args.bound
    );
    let mut reports = Vec::new();
    for target in targets {
        let opts = fuzz::Options {
            seed: args.seed,
            first: args.first,
            inputs: args.inputs,
            bound: args.bound,
            out: args.out.clone(),
        };
        let report = fuzz::run(target, &opts);
        println!(
            "  {:<9} {:>9} inputs  {:>7.1} s ({:.0}% in the parser)  {:>8.0} inputs/s  {:>7.1} MB  {} panics  {} hangs",
            report.parser,
            report.inputs,
            report.elapsed.as_secs_f64(),
            100.0 * report.feeding.as_secs_f64() / report.elapsed.as_secs_f64().max(1e-9),
            report.rate(),
            report.bytes as f64 / 1e6,
            report.panics(),
            report.hangs()
        );
        for failure in report.failures.iter().take(20) {
            println!("    {}", failure.to_string().replace('\n', "\n    "));
        }
        if report.failures.len() > 20 {
            println!("    ... and {} more", report.failures.len() - 20);
        }
        reports.push(report);
    }
    println!();
    println!(
        "{:<9} {:>10} {:>12} {:>7} {:>6}",
        "parser", "inputs", "inputs/s", "panics", "hangs"
    );
    for r in &reports {
        println!(
            "{:<9} {:>10} {:>12.0} {:>7} {:>6}",
            r.parser,
            r.inputs,
            r.rate(),
            r.panics(),
            r.hangs()
        );
    }
    if reports.iter().any(|r| !r.failures.is_empty()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
