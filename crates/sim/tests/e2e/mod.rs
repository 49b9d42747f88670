//! Real Prometheus and Alertmanager processes for end-to-end tests: finding the binaries,
//! free ports, the shipped configuration files with test addresses substituted, and a guard
//! that stops the processes however the test ends.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's `deploy/` directory.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// `name` on the `PATH`, if it is installed.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A loopback port that was free a moment ago (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("unable to bind a free loopback port")
        .port()
}

/// `text` (the content of `file`) with each `from` replaced by its `to`; fails the test when
/// the shipped file no longer contains a string the test substitutes.
pub fn substitute(text: &str, file: &str, pairs: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    for (from, to) in pairs {
        assert!(
            out.contains(from),
            "{file} no longer contains `{from}`; update the substitutions of this test"
        );
        out = out.replace(from, to);
    }
    out
}

/// Child processes that are killed when the guard drops, also when the test panics; on a
/// panic the tail of each process's log is printed, since the logs live in a temporary
/// directory that disappears with the test.
pub struct Daemons {
    running: Vec<Daemon>,
    /// Holds the configuration, data and logs; removed after the processes stop.
    pub dir: tempfile::TempDir,
}

struct Daemon {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Daemons {
    /// An empty set of daemons working in a fresh temporary directory.
    pub fn new() -> Self {
        Daemons {
            running: Vec::new(),
            dir: tempfile::tempdir().expect("unable to create a temporary directory"),
        }
    }

    /// Starts `binary` with `args`, its stdout and stderr going to `<name>.log`.
    pub fn spawn(&mut self, name: &str, binary: &Path, args: &[String]) {
        let log = self.dir.path().join(format!("{name}.log"));
        let out = File::create(&log).expect("unable to create a log file");
        let err = out.try_clone().expect("unable to share the log file");
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("unable to start {}: {e}", binary.display()));
        self.running.push(Daemon {
            name: name.into(),
            child,
            log,
        });
    }

    /// Fails the test when a daemon has exited.
    pub fn assert_alive(&mut self) {
        for d in &mut self.running {
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!(
                    "{} exited with {status}; its log:\n{}",
                    d.name,
                    tail(&d.log, 40)
                );
            }
        }
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        for d in &mut self.running {
            let _ = d.child.kill();
            let _ = d.child.wait();
            if std::thread::panicking() {
                eprintln!("--- last lines of {} ---\n{}", d.name, tail(&d.log, 30));
            }
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Polls `url` until it answers 200, failing the test after `timeout`.
pub async fn wait_ready(client: &reqwest::Client, url: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} was not ready within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// GETs `url` with the query parameters `params` and returns the JSON answer.
pub async fn get_json(
    client: &reqwest::Client,
    url: &str,
    params: &[(&str, &str)],
) -> serde_json::Value {
    let url = reqwest::Url::parse_with_params(url, params).expect("a valid URL");
    let resp = client
        .get(url.clone())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    resp.json()
        .await
        .unwrap_or_else(|e| panic!("GET {url} did not answer JSON: {e}"))
}

/// GETs `url` and returns the body as text.
pub async fn get_text(client: &reqwest::Client, url: &str) -> String {
    client
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}
