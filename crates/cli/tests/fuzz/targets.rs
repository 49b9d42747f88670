//! The five parsers under test, each with its corpus of valid documents from the repository.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nightshift::config::AgentConfig;
use nightshift_core::{AnalysisInput, Evidence, Incident, Policy};
use nightshift_llm::answer::{self, Checks};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::mutate::{self, Node};
use super::{MAIN_STACK, Target};

/// Names `--parser` takes, in the order reports list them.
pub const NAMES: &[&str] = &["webhook", "scenario", "policy", "config", "answer"];

/// The target called `name`.
pub fn by_name(name: &str) -> Option<Arc<dyn Target>> {
    Some(match name {
        "webhook" => Arc::new(Webhook::new()),
        "scenario" => Arc::new(Scenario::new()),
        "policy" => Arc::new(PolicyFile::new()),
        "config" => Arc::new(ConfigFile::new()),
        "answer" => Arc::new(Answer::new()),
        _ => return None,
    })
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The files of `dir` ending in `ext`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml_node(path: &Path) -> Node {
    let value: Value =
        serde_saphyr::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Node::from_value(&value)
}

fn json_node(path: &Path) -> Node {
    let value: Value =
        serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Node::from_value(&value)
}

fn text(input: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(input)
}

/// `nightshift_agent::perceive::alertmanager::parse`, on Alertmanager's own payloads.
pub struct Webhook {
    corpus: Vec<Node>,
}

impl Webhook {
    pub fn new() -> Webhook {
        let dir = repo().join("crates/monitor/tests/conformance/alertmanager-0.25");
        Webhook {
            corpus: files(&dir, "json").iter().map(|p| json_node(p)).collect(),
        }
    }
}

impl Target for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn generate(&self, rng: &mut ChaCha8Rng) -> Vec<u8> {
        mutate::generate(&self.corpus, rng, false)
    }

    fn feed(&self, input: &[u8]) {
        let _ = nightshift_agent::perceive::alertmanager::parse(input);
    }
}

/// `nightshift_scenario::parse_str`, what `nightshift scenario check` runs, on the suite.
pub struct Scenario {
    corpus: Vec<Node>,
}

impl Scenario {
    pub fn new() -> Scenario {
        Scenario {
            corpus: files(&repo().join("scenarios"), "yaml")
                .iter()
                .map(|p| yaml_node(p))
                .collect(),
        }
    }
}

impl Target for Scenario {
    fn name(&self) -> &'static str {
        "scenario"
    }

    fn generate(&self, rng: &mut ChaCha8Rng) -> Vec<u8> {
        mutate::generate(&self.corpus, rng, true)
    }

    fn feed(&self, input: &[u8]) {
        let _ = nightshift_scenario::parse_str(&text(input), "fuzz.yaml");
    }
}

/// `Policy::parse`, on the shipped policies.
pub struct PolicyFile {
    corpus: Vec<Node>,
}

impl PolicyFile {
    pub fn new() -> PolicyFile {
        let deploy = repo().join("deploy");
        PolicyFile {
            corpus: ["policy.example.yaml", "policy.lab.yaml"]
                .iter()
                .map(|f| yaml_node(&deploy.join(f)))
                .collect(),
        }
    }
}

impl Target for PolicyFile {
    fn name(&self) -> &'static str {
        "policy"
    }

    fn generate(&self, rng: &mut ChaCha8Rng) -> Vec<u8> {
        mutate::generate(&self.corpus, rng, true)
    }

    fn feed(&self, input: &[u8]) {
        let _ = Policy::parse(&text(input), "fuzz-policy.yaml");
    }

    fn stack(&self) -> usize {
        MAIN_STACK
    }
}

/// Every key of the agent's configuration file, for the corpus.
const FULL_CONFIG: &str = "\
listen: 127.0.0.1:8080
store: sqlite:///var/lib/nightshift/nightshift.db
policy: deploy/policy.example.yaml
kubeconfig: /etc/nightshift/kubeconfig
token_env: NIGHTSHIFT_TOKEN
basic_user: alertmanager
basic_password_env: NIGHTSHIFT_BASIC_PASSWORD
notify_webhook: http://hooks.local/nightshift
watchers: true
watch_interval: 15s
max_attempts: 2
stabilization: 2m
verify_deadline: 10m
settle: 30s
poll: 5s
prometheus:
  url: http://prometheus.monitoring:9090
  window: 30m
  step: 30s
  timeout: 5s
";

/// `AgentConfig::load`, which reads a file: each input is written to one first.
pub struct ConfigFile {
    corpus: Vec<Node>,
    dir: tempfile::TempDir,
}

impl ConfigFile {
    pub fn new() -> ConfigFile {
        let mut corpus: Vec<Node> = files(&repo().join("deploy/llm"), "yaml")
            .iter()
            .map(|p| yaml_node(p))
            .collect();
        let full: Value = serde_saphyr::from_str(FULL_CONFIG).expect("the full config is YAML");
        corpus.push(Node::from_value(&full));
        ConfigFile {
            corpus,
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }
}

impl Target for ConfigFile {
    fn name(&self) -> &'static str {
        "config"
    }

    fn generate(&self, rng: &mut ChaCha8Rng) -> Vec<u8> {
        mutate::generate(&self.corpus, rng, true)
    }

    fn feed(&self, input: &[u8]) {
        // One file per thread: an abandoned worker may still be reading its own.
        let path = self
            .dir
            .path()
            .join(format!("{:?}.yaml", std::thread::current().id()));
        std::fs::write(&path, input).expect("the config file is written");
        let _ = AgentConfig::load(&path);
    }

    fn stack(&self) -> usize {
        MAIN_STACK
    }
}

/// A captured evidence bundle the model's answers are checked against.
#[derive(serde::Deserialize)]
struct Bundle {
    incident: Incident,
    evidence: Evidence,
}

/// `nightshift_llm::answer::check`, on the answers the providers' fixtures carry, against
/// captured evidence and the example policy.
pub struct Answer {
    corpus: Vec<Node>,
    bundles: Vec<Bundle>,
    policy: Policy,
    runbooks: Vec<String>,
}

impl Answer {
    pub fn new() -> Answer {
        let fixtures = repo().join("crates/llm/tests/fixtures");
        let mut corpus = Vec::new();
        for path in files(&fixtures.join("openai"), "json") {
            let reply: Value = serde_json::from_str(&read(&path)).expect("a fixture is JSON");
            if let Some(content) = reply
                .pointer("/choices/0/message/content")
                .and_then(Value::as_str)
                && let Ok(answer) = answer::extract_json(content)
            {
                corpus.push(Node::from_value(&answer));
            }
        }
        for path in files(&fixtures.join("anthropic"), "json") {
            let reply: Value = serde_json::from_str(&read(&path)).expect("a fixture is JSON");
            for block in reply["content"].as_array().into_iter().flatten() {
                if block["type"] == "tool_use" {
                    corpus.push(Node::from_value(&block["input"]));
                }
            }
        }
        assert!(!corpus.is_empty(), "no answers among the fixtures");
        let bundles = [
            "bad-rollout-catalog-crash",
            "memory-limit-checkout-oom-undersized",
            "node-failure-node-b-kubelet-down",
            "dependency-down-orders-postgres",
        ]
        .iter()
        .map(|name| {
            let path = fixtures.join("evidence").join(format!("{name}.json"));
            serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{name}: {e}"))
        })
        .collect();
        let policy = Policy::load(&repo().join("deploy/policy.example.yaml"))
            .expect("the example policy loads");
        Answer {
            corpus,
            bundles,
            policy,
            runbooks: vec!["restart-cache".to_string()],
        }
    }
}

impl Target for Answer {
    fn name(&self) -> &'static str {
        "answer"
    }

    fn generate(&self, rng: &mut ChaCha8Rng) -> Vec<u8> {
        // The first byte picks the bundle; the rest is the model's text.
        let mut input = vec![rng.random()];
        let body = mutate::generate(&self.corpus, rng, false);
        // Models wrap their JSON in prose and fences, or write several objects.
        let wrapped: Vec<u8> = match rng.random_range(0..8) {
            0 => [&b"Here is my analysis:\n```json\n"[..], &body, b"\n```\n"].concat(),
            1 => [&b"I think {this} is it: "[..], &body, b" -- done }"].concat(),
            2 => [&body[..], b"\n", &body].concat(),
            3 => [&b"```\n"[..], &body].concat(),
            _ => body,
        };
        input.extend_from_slice(&wrapped);
        input
    }

    fn feed(&self, input: &[u8]) {
        let Some((pick, body)) = input.split_first() else {
            return;
        };
        let bundle = &self.bundles[usize::from(*pick) % self.bundles.len()];
        let input = AnalysisInput {
            incident: &bundle.incident,
            evidence: &bundle.evidence,
            history: &[],
        };
        let allowed =
            answer::allowed_actions(&self.policy, &bundle.incident.resource, &self.runbooks);
        let checks = Checks {
            input: &input,
            policy: &self.policy,
            allowed: &allowed,
            runbooks: &self.runbooks,
            registry: &Default::default(),
            analyzer: "fuzz",
        };
        let _ = answer::check(&text(body), &checks);
    }
}

/// The one-line choice used in reports when a name is unknown.
pub fn names() -> String {
    NAMES.join(", ")
}
