//! The policy follows its file (a ConfigMap update): a new policy that loads is in force
//! without a restart; one that does not load leaves the previous one in force, and says why
//! in the log and on /readyz until the file loads again.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{agent_config, free_port, scenario_path, start_agent, start_sim};

const BIN: &str = env!("CARGO_BIN_EXE_nightshift");

/// The body of `GET path`.
fn get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

/// Waits until `GET path` satisfies `ok`; returns the body.
fn until(port: u16, path: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = get(port, path);
        if ok(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}; last {path}:\n{body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_changed_policy_file_is_put_in_force_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sim = start_sim(
        Path::new(BIN),
        d,
        &scenario_path("noop-quiet-shop"),
        10.0,
        None,
    );
    let policy = d.join("policy.yaml");
    std::fs::write(&policy, "mode: observe\n").unwrap();
    let port = free_port();
    let config = agent_config(
        d,
        port,
        &sim.kubeconfig,
        &format!("policy: {}\nwatchers: false\n", policy.display()),
    );
    let mut agent = start_agent(Path::new(BIN), d, "agent", &config, port, &[]);
    until(port, "/metrics", "observe at start", |m| {
        m.contains(r#"nightshift_policy{mode="observe"} 1"#)
    });

    std::fs::write(&policy, "mode: approve\n").unwrap();
    until(port, "/metrics", "the new mode in force", |m| {
        m.contains(r#"nightshift_policy{mode="approve"} 1"#)
    });

    // A broken file: the previous policy stays, and /readyz says why (still ready: the
    // replica keeps serving with the policy it has).
    std::fs::write(&policy, "mode: approve\nrules: [unclosed\n").unwrap();
    let ready = until(port, "/readyz", "the refusal on /readyz", |b| {
        b.contains("does not load")
    });
    assert!(ready.starts_with("ok"), "{ready}");
    assert!(ready.contains("previous policy stays in force"), "{ready}");
    let metrics = get(port, "/metrics");
    assert!(
        metrics.contains(r#"nightshift_policy{mode="approve"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"nightshift_policy{mode="refused"} 1"#),
        "{metrics}"
    );
    assert!(agent.running());
    assert!(
        agent.output().contains("does not load"),
        "the log says why:\n{}",
        agent.output()
    );

    // Fixed: in force, and the warning is gone.
    std::fs::write(&policy, "mode: dry-run\n").unwrap();
    until(port, "/metrics", "the fixed policy in force", |m| {
        m.contains(r#"nightshift_policy{mode="dry-run"} 1"#)
            && m.contains(r#"nightshift_policy{mode="refused"} 0"#)
    });
    let ready = get(port, "/readyz");
    assert!(!ready.contains("does not load"), "{ready}");
}
