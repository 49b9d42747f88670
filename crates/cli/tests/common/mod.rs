//! The real binaries as child processes: `nightshift sim` serving a scenario and `nightshift
//! run` against it, with their output kept in files that are printed when a test fails.
//! Shared by the tests that stop and restart the agent and by the agent benchmark.

#![allow(dead_code)]

pub mod browser;
pub mod chart;
pub mod oidc_provider;
pub mod record;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A scenario file of the repository.
pub fn scenario_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(format!("{name}.yaml"))
}

/// The lab policy file (auto mode, every action low risk).
pub fn lab_policy_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/policy.lab.yaml")
}

/// The PostgreSQL the tests use (scripts/test starts it).
pub const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh schema `{prefix}_{pid}_{micros}` of the test database, as a store URL; `None` (with
/// a note) when PostgreSQL is unreachable and `CI` is unset. With `CI` set, an unreachable
/// PostgreSQL fails the test.
pub fn fresh_pg_schema(prefix: &str) -> Option<String> {
    let schema = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros())
    );
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-v"])
        .args(["ON_ERROR_STOP=1", "-c", &format!("CREATE SCHEMA {schema}")])
        .output();
    match out {
        Ok(o) if o.status.success() => Some(format!("{POSTGRES}?options[search_path]={schema}")),
        other if std::env::var_os("CI").is_some() => {
            panic!("PostgreSQL at {POSTGRES} is required when CI is set: {other:?}")
        }
        other => {
            eprintln!("note: skipping: PostgreSQL at {POSTGRES} is unreachable: {other:?}");
            None
        }
    }
}

/// A loopback port nobody listens on right now.
/// A bench's `--name VALUE` argument, or `default` when absent or unparsable.
pub fn bench_arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    l.local_addr().expect("bound").port()
}

/// Polls `ready` every 50ms until it answers `Some`, or panics naming `what` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = ready() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process, killed (SIGKILL) when dropped; its output goes to `<dir>/<name>.log`,
/// which is printed if the thread is panicking.
pub struct Process {
    child: Child,
    log: PathBuf,
    name: String,
}

impl Process {
    /// Starts `bin args...` with `env` added to the environment.
    pub fn spawn(
        bin: &Path,
        name: &str,
        dir: &Path,
        args: &[String],
        env: &[(&str, &Path)],
    ) -> Self {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("a log file");
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("unable to start {}: {e}", bin.display()));
        Process {
            child,
            log,
            name: name.to_string(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What it printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let out = self.output();
            let tail: Vec<&str> = out.lines().rev().take(60).collect();
            eprintln!("---- last lines of {} ----", self.name);
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// `nightshift sim` serving `scenario` at `speed`, posting its alerts to `alert_webhook`.
pub struct Sim {
    /// The process.
    pub process: Process,
    /// Its kubeconfig.
    pub kubeconfig: PathBuf,
    /// Its API server, `http://127.0.0.1:PORT`.
    pub url: String,
}

/// Starts a simulated cluster and waits until it serves.
pub fn start_sim(
    bin: &Path,
    dir: &Path,
    scenario: &Path,
    speed: f64,
    alert_webhook: Option<&str>,
) -> Sim {
    let port = free_port();
    let kubeconfig = dir.join("kubeconfig");
    let mut args = vec![
        "sim".to_string(),
        "--scenario".into(),
        scenario.display().to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--speed".into(),
        speed.to_string(),
        "--kubeconfig-out".into(),
        kubeconfig.display().to_string(),
    ];
    if let Some(url) = alert_webhook {
        args.extend(["--alert-webhook".into(), url.to_string()]);
    }
    let mut process = Process::spawn(bin, "sim", dir, &args, &[]);
    wait_for(
        "the simulated cluster to serve",
        Duration::from_secs(120),
        || {
            assert!(process.running(), "the simulated cluster exited");
            (kubeconfig.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
                .then_some(())
        },
    );
    Sim {
        process,
        kubeconfig,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// An agent configuration file in `dir`: listening on `port`, SQLite at `<dir>/record.db`,
/// against the cluster of `kubeconfig`, with `extra` YAML lines appended.
pub fn agent_config(dir: &Path, port: u16, kubeconfig: &Path, extra: &str) -> PathBuf {
    let path = dir.join("nightshift.yaml");
    let text = format!(
        "listen: 127.0.0.1:{port}\nstore: sqlite://{}?mode=rwc\nkubeconfig: {}\n{extra}",
        dir.join("record.db").display(),
        kubeconfig.display(),
    );
    std::fs::write(&path, text).expect("the agent config is written");
    path
}

/// The store URL of [`agent_config`].
pub fn store_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("record.db").display())
}

/// `nightshift run --config CONFIG` with `env`, once its API answers `/readyz`.
pub fn start_agent(
    bin: &Path,
    dir: &Path,
    name: &str,
    config: &Path,
    port: u16,
    env: &[(&str, &Path)],
) -> Process {
    let args = vec![
        "run".to_string(),
        "--config".into(),
        config.display().to_string(),
    ];
    let mut process = Process::spawn(bin, name, dir, &args, env);
    wait_for("the agent to be ready", Duration::from_secs(120), || {
        assert!(process.running(), "the agent exited:\n{}", process.output());
        http_ok(port, "/readyz").then_some(())
    });
    process
}

/// Whether `GET path` on the loopback port answers 200 (a plain HTTP/1.0 exchange, so the
/// callers need no client).
pub fn http_ok(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"200")
}

/// The resident memory (VmRSS) of process `pid` in MB, 0 when it cannot be read.
pub fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
