//! `nightshift sim`: a simulated cluster behind the Kubernetes API.

use std::process::ExitCode;

use anyhow::Context;
use nightshift_sim::Simulation;
use nightshift_sim::server::{AccessOptions, ServeOptions, https_url, start_with_access};

use crate::cli::SimArgs;

/// Runs the simulated cluster until interrupted (or until the horizon).
pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let scenario = match nightshift_scenario::load::load_file(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
        }
    };
    if !(args.speed > 0.0 && args.speed.is_finite()) {
        anyhow::bail!("--speed must be a positive number, got {}", args.speed);
    }
    let start_ms = match &args.start {
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .with_context(|| {
                format!("--start {s:?} is not an RFC 3339 time such as 2026-01-01T00:00:00Z")
            })?
            .timestamp_millis(),
        // Simulated time may run faster than real time; starting one horizon in the past keeps
        // every timestamp behind the wall clock, so kubectl shows sensible ages.
        None => {
            (chrono::Utc::now().timestamp_millis() - scenario.horizon.as_millis() as i64) / 1000
                * 1000
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("unable to start the async runtime")?;
    rt.block_on(async move {
        let sim = Simulation::new(&scenario, start_ms);
        sim.bind_to_wall_clock(args.wall_clock_timestamps);
        let opts = ServeOptions {
            listen: args.listen,
            speed: args.speed,
            alert_webhook: args.alert_webhook.clone(),
            kubeconfig_out: args.kubeconfig_out.clone(),
            stop_at_horizon: args.exit_at_horizon,
            field_validation: args.field_validation,
        };
        let access = AccessOptions {
            rbac: args.rbac,
            token_dir: args.service_account_tokens.clone(),
            service_accounts: args.service_account.clone(),
        };
        let running = start_with_access(sim, &opts, &access).await?;
        let url = if args.rbac {
            format!("{} (RBAC enforced)", https_url(running.addr))
        } else {
            format!("http://{}", running.addr)
        };
        eprintln!(
            "nightshift sim: scenario {} on {url} at {}x{}{}",
            scenario.name,
            args.speed,
            args.kubeconfig_out
                .as_ref()
                .map(|p| format!(", kubeconfig {}", p.display()))
                .unwrap_or_default(),
            args.service_account_tokens
                .as_ref()
                .map(|d| format!(", service account tokens under {}", d.display()))
                .unwrap_or_default()
        );
        if args.exit_at_horizon {
            let _ = running.clock.await;
        } else {
            tokio::select! {
                r = running.server => { r.context("the API server task failed")??; }
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
