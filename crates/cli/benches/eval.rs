//! Benchmark of the evaluation: the whole suite under `scenarios/` with the rule analyzer, as
//! `nightshift eval scenarios` runs it. Prints the wall time, the simulated time covered and
//! the simulated-to-real speed; asserts nothing. Run with
//! `cargo bench -p nightshift --bench eval` (options: `EVAL_SPEED`, `EVAL_JOBS`).

use std::path::PathBuf;
use std::time::Instant;

use nightshift::eval::report;
use nightshift::eval::{EvalOptions, Rules, ScenarioRun, run_all};
use nightshift::lab::LAB_POLICY;
use nightshift_core::policy::Policy;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo test --all-targets` builds and runs benches too; only `cargo bench` passes
    // `--bench`, and only then is this worth minutes of a machine.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let scenarios = nightshift_scenario::load_paths(&[dir]).expect("the suite loads");
    let simulated: f64 = scenarios.iter().map(|(_, s)| s.horizon.as_secs_f64()).sum();
    let count = scenarios.len();
    let opts = EvalOptions {
        policy: Policy::parse(LAB_POLICY, "lab").expect("lab policy"),
        jobs: env_or(
            "EVAL_JOBS",
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        ),
        speed: env_or("EVAL_SPEED", 180.0),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let t = Instant::now();
    let runs: Vec<ScenarioRun> = rt
        .block_on(run_all(scenarios, &opts, &Rules, &|_| {}))
        .expect("the suite runs");
    let wall = t.elapsed().as_secs_f64();
    print!("{}", report::table(&runs));
    println!();
    println!("evaluation benchmark (rule analyzer)");
    println!("  scenarios                {count}");
    println!("  jobs / lab speed         {} / {}x", opts.jobs, opts.speed);
    println!("  simulated time           {:.0} s", simulated);
    println!("  wall time                {wall:.1} s   (goal: under 300 s)");
    println!("  simulated-to-real speed  {:.1}x", simulated / wall);
}
