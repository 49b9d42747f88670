//! The configuration's `runbooks:` section: read into the registry the agent runs, every
//! mistake named by its key, and a variable named by `from_env` that is not set stopping the
//! start with its name.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nightshift::config::AgentConfig;
use nightshift_core::runbook::RunbookKind;
use nightshift_core::{Category, Risk};

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("nightshift.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn load(text: &str) -> Result<AgentConfig, String> {
    let dir = tempfile::tempdir().unwrap();
    AgentConfig::load(&write(dir.path(), text)).map_err(|e| e.to_string())
}

const RUNBOOKS: &str = r#"
listen: 127.0.0.1:0
runbooks:
  - name: restart-and-widen
    match: {categories: [app/hang], labels: {app: orders-worker}}
    risk: low
    targets: {namespaces: [shop]}
    timeout: 5m
    actions:
      - {action: rollout-restart}
      - {action: scale, replicas: 4}
  - name: release-stuck-jobs
    match: {categories: [app/hang, app/crash]}
    risk: high
    targets: {labels: {team: orders}}
    job:
      image: registry.local/ops/ansible-runner:9.1
      command: [ansible-playbook]
      args: [release.yml]
      dry_run_args: [release.yml, --check]
      env:
        - {name: PASSWORD, secret: {name: orders-queue, key: password}}
        - {name: TOKEN, from_env: NIGHTSHIFT_TEST_RUNBOOK_TOKEN_UNSET}
"#;

#[test]
fn the_runbooks_section_becomes_the_registry() {
    let c = load(RUNBOOKS).unwrap();
    // Loading does not read the environment; starting does.
    let e = c.runbooks().unwrap_err();
    assert!(
        e.contains("runbooks[1].job.env[1].from_env")
            && e.contains("NIGHTSHIFT_TEST_RUNBOOK_TOKEN_UNSET is not set"),
        "{e}"
    );
    let c = load(&RUNBOOKS.replace(
        "        - {name: TOKEN, from_env: NIGHTSHIFT_TEST_RUNBOOK_TOKEN_UNSET}\n",
        "",
    ))
    .unwrap();
    let reg = c.runbooks().unwrap();
    assert_eq!(reg.names(), vec!["release-stuck-jobs", "restart-and-widen"]);
    let rb = reg.get("restart-and-widen").unwrap();
    assert_eq!(
        (rb.risk, rb.timeout, rb.matches.categories.clone()),
        (Risk::Low, Duration::from_secs(300), vec![Category::Hang])
    );
    assert!(matches!(&rb.kind, RunbookKind::Actions(steps) if steps.len() == 2));
    let job = reg.get("release-stuck-jobs").unwrap();
    assert!(
        matches!(&job.kind, RunbookKind::Job(t) if t.dry_run_args == ["release.yml", "--check"])
    );
    assert!(
        load("listen: 127.0.0.1:0\n")
            .unwrap()
            .runbooks()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn mistakes_in_the_runbooks_section_name_the_file_and_the_key() {
    let cases = [
        (
            RUNBOOKS.replace("      image: registry.local/ops/ansible-runner:9.1\n", ""),
            "runbooks[1].job.image: missing",
        ),
        (
            RUNBOOKS.replace(
                "categories: [app/hang, app/crash]",
                "categories: [app/hang, app/crsh]",
            ),
            "runbooks[1].match.categories[1]: unknown Category `app/crsh`",
        ),
        (
            RUNBOOKS.replace(
                "{action: scale, replicas: 4}",
                "{action: scael, replicas: 4}",
            ),
            "runbooks[0].actions[1].action: unknown ActionName `scael`",
        ),
        (
            RUNBOOKS.replace("      dry_run_args: [release.yml, --check]\n", ""),
            "runbooks[1].job.dry_run_args: missing",
        ),
        (
            RUNBOOKS.replace("    timeout: 5m\n", "    timeout: soon\n"),
            "runbooks[0].timeout: invalid duration `soon`",
        ),
        (
            RUNBOOKS.replace(
                "      command: [ansible-playbook]\n",
                "      comand: [ansible-playbook]\n",
            ),
            "comand",
        ),
    ];
    for (text, says) in cases {
        let e = load(&text).unwrap_err();
        assert!(
            e.contains("nightshift.yaml") && e.contains(says),
            "{says}: {e}"
        );
    }
    let e = load(&RUNBOOKS.replace(
        "      command: [ansible-playbook]\n",
        "      comand: [ansible-playbook]\n",
    ))
    .unwrap_err();
    assert!(e.contains("line 18"), "an unknown key names its line: {e}");
}

#[test]
fn an_unset_variable_named_by_a_runbook_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), RUNBOOKS);
    let out = Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .args(["run", "--config"])
        .arg(&path)
        .env_remove("NIGHTSHIFT_TEST_RUNBOOK_TOKEN_UNSET")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nightshift.yaml")
            && stderr.contains("runbooks[1].job.env[1].from_env")
            && stderr.contains("NIGHTSHIFT_TEST_RUNBOOK_TOKEN_UNSET"),
        "{stderr}"
    );
}
