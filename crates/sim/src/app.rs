//! The application model: what a running container does each second given its workload's
//! behaviour, its image, its limits, its load, its dependencies and the faults that hold.
//!
//! Cause and effect rather than script: a replica serves its share of the workload's traffic,
//! CPU follows that share up to the limit, past the limit latency grows (an M/M/1-style
//! `1/(1-ρ)` queue) and the excess is shed as 503s; the working set is what the workload needs
//! (plus any leak since start) and the container is OOMKilled when it passes its limit.

use std::sync::Arc;

use nightshift_scenario::{LogTemplate, RolloutEffect};

use crate::logs::{LineSource, builtin};
use crate::world::{ImageProfile, Instance, WorkloadModel};

/// Log lines of a crashing process, printed just before it exits.
pub const CRASH_LINES: &[&str] = &[
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x{hex:6}]",
    "goroutine 1 [running]:",
    "main.(*Server).handle(0xc000{hex:6})",
];

/// Lines while requests to a dependency fail.
pub const DEPENDENCY_LINES: &[&str] = &[
    "ERROR request failed: dial tcp {dep}: connect: connection refused",
    "WARN retrying call to {dep} (attempt {int:1..5}/5): context deadline exceeded",
    "ERROR upstream {dep} unavailable: i/o timeout after {int:1000..5000}ms",
];

/// Lines of a release that serves errors.
pub const ERROR_LINES: &[&str] = &[
    "ERROR GET /api/v1/{choice:orders|items|cart} status=500 duration_ms={int:5..80} error=\"unexpected nil value in response mapper\"",
    "INFO GET /api/v1/{choice:orders|items|cart} status=200 duration_ms={int:5..60}",
];

/// Lines of an error burst.
pub const TRANSIENT_LINES: &[&str] = &[
    "WARN GET /api/v1/{choice:orders|items} status=503 duration_ms={int:100..900} error=\"connection pool exhausted\"",
    "INFO GET /api/v1/{choice:orders|items} status=200 duration_ms={int:5..60}",
];

/// Lines under memory pressure.
pub const MEMORY_LINES: &[&str] = &[
    "WARN heap usage high: {int:85..99}% of container limit",
    "INFO gc pause {int:50..400}ms, heap after gc {int:180..260}MiB",
    "INFO GET /api/v1/items status=200 duration_ms={int:20..200}",
];

/// Lines under overload.
pub const OVERLOAD_LINES: &[&str] = &[
    "WARN request queue depth {int:200..2000} exceeds soft limit, shedding load",
    "ERROR GET /api/v1/{choice:orders|items|cart} status=503 duration_ms={int:800..3000} error=\"overloaded\"",
    "INFO GET /api/v1/{choice:orders|items|cart} status=200 duration_ms={int:200..900}",
];

/// Default access log when a workload declares no lines.
pub const DEFAULT_LINES: &[&str] =
    &["INFO GET /api/v1/{choice:items|orders|health} status=200 duration_ms={int:2..40}"];

/// What the model decides for one container in one second.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// Working set now.
    pub memory_bytes: u64,
    /// CPU demanded (may exceed the limit).
    pub cpu_demand_millis: f64,
    /// CPU used (capped by the limit).
    pub cpu_used_millis: f64,
    /// Error ratio of served requests.
    pub error_ratio: f64,
    /// Latency in ms.
    pub latency_ms: f64,
    /// Serving requests at all.
    pub serving: bool,
    /// Exit now with (code, reason).
    pub exit: Option<(i32, &'static str)>,
}

/// Inputs of [`tick`].
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// The workload model.
    pub model: &'a WorkloadModel,
    /// Image profile.
    pub profile: &'a ImageProfile,
    /// The instance.
    pub instance: &'a Instance,
    /// Now.
    pub now_ms: i64,
    /// Memory limit in bytes.
    pub memory_limit: Option<u64>,
    /// CPU limit in millicores.
    pub cpu_limit: Option<u64>,
    /// Requests per second this replica receives.
    pub rps: f64,
    /// Working set the workload needs because of a memory-limit fault.
    pub memory_need: Option<u64>,
    /// Leak rate from a fault, bytes per minute, and when the fault began: memory grows from
    /// the later of that and the container's start.
    pub leak: Option<(u64, i64)>,
    /// Crash: exit code and time after start.
    pub crash: Option<(i32, i64)>,
    /// Extra error ratio of an error burst.
    pub transient: Option<f64>,
}

/// Time for the working set to reach its steady value after a start.
const MEMORY_RAMP_MS: f64 = 20_000.0;

/// One second of a running container.
pub fn tick(i: &Inputs<'_>) -> Tick {
    let b = &i.model.behavior;
    let age = (i.now_ms - i.instance.started_ms).max(0) as f64;
    let ramp = (age / MEMORY_RAMP_MS).min(1.0);
    let mut need = i.memory_need.unwrap_or(b.memory_bytes) as f64;
    let (mut leak, mut leak_age) = match i.leak {
        Some((rate, since)) => (
            rate,
            (i.now_ms - since.max(i.instance.started_ms)).max(0) as f64,
        ),
        None => (0, age),
    };
    let mut error_ratio = b.error_ratio;
    let mut exit = None;
    let mut serving = !i.instance.hung && !i.instance.unresponsive;
    match i.profile {
        ImageProfile::Healthy => {}
        ImageProfile::Leak(rate) if *rate > leak => {
            leak = *rate;
            leak_age = age;
        }
        ImageProfile::Leak(_) => {}
        ImageProfile::Bad {
            effect,
            error_ratio: r,
        } => match effect {
            RolloutEffect::Crash => {
                if age >= 2_000.0 {
                    exit = Some((1, "Error"));
                }
            }
            RolloutEffect::Errors => error_ratio = error_ratio.max(*r),
            RolloutEffect::Oom => {
                need = need.max(i.memory_limit.unwrap_or(b.memory_bytes) as f64 * 1.6)
            }
            RolloutEffect::Hang => {
                if age >= b.startup.as_millis() as f64 {
                    serving = false;
                }
            }
        },
    }
    if let Some((code, after)) = i.crash
        && age >= after as f64
    {
        exit = Some((code, "Error"));
    }
    let memory = need * (0.35 + 0.65 * ramp) + leak as f64 * leak_age / 60_000.0;
    let memory_bytes = memory as u64;
    if let Some(limit) = i.memory_limit
        && memory_bytes > limit
    {
        exit = Some((137, "OOMKilled"));
    }
    let base_share = b.rps / f64::from(i.model.base_replicas.max(1));
    let load = if base_share > 0.0 {
        i.rps / base_share
    } else {
        1.0
    };
    let cpu_demand = b.cpu_millis as f64 * load.max(0.05);
    let capacity = i.cpu_limit.map(|l| l as f64).unwrap_or(f64::INFINITY);
    let rho = cpu_demand / capacity;
    let cpu_used = cpu_demand.min(capacity);
    if rho > 1.0 {
        error_ratio += (1.0 - 1.0 / rho) * (1.0 - error_ratio);
    }
    if let Some(t) = i.transient {
        error_ratio += t * (1.0 - error_ratio);
    }
    let latency_ms = b.latency_ms / (1.0 - rho.min(0.95));
    Tick {
        memory_bytes,
        cpu_demand_millis: cpu_demand,
        cpu_used_millis: if serving { cpu_used } else { cpu_used * 0.1 },
        error_ratio: error_ratio.min(1.0),
        latency_ms,
        serving,
        exit,
    }
}

/// The log source for a container's current condition.
pub fn log_source(
    model: &WorkloadModel,
    serving: bool,
    failing_deps: &[String],
    dep_lines: Option<Arc<Vec<LogTemplate>>>,
    override_lines: Option<Arc<Vec<LogTemplate>>>,
    condition: Condition,
) -> LineSource {
    if !serving {
        return LineSource::Silent;
    }
    if !failing_deps.is_empty() {
        return LineSource::Lines {
            templates: dep_lines.unwrap_or_else(|| builtin(DEPENDENCY_LINES)),
            deps: Arc::new(failing_deps.to_vec()),
        };
    }
    let templates = match (override_lines, condition) {
        (Some(o), c) if c != Condition::Normal => o,
        (_, Condition::Normal) => model.lines.clone(),
        (_, Condition::Errors) => builtin(ERROR_LINES),
        (_, Condition::Transient) => builtin(TRANSIENT_LINES),
        (_, Condition::Memory) => builtin(MEMORY_LINES),
        (_, Condition::Overload) => builtin(OVERLOAD_LINES),
    };
    LineSource::Lines {
        templates,
        deps: model.deps.clone(),
    }
}

/// What colours a container's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Steady state.
    Normal,
    /// A bad release serving errors.
    Errors,
    /// An error burst.
    Transient,
    /// Working set near the limit.
    Memory,
    /// CPU saturated.
    Overload,
}
