//! The model analyzer and the hybrid around it.
//!
//! Hybrid (the default): the rules answer first; the model is consulted when the rules are
//! unsure (confidence below the threshold) or the evidence is unfamiliar to them. When the
//! two agree, the rules' plans stand with the higher confidence; when they disagree, the
//! disagreement goes into the notes and the confidence is lowered, so the policy hands the
//! plan to a human. When the model fails (unreachable, over budget, or an answer that is
//! still invalid after one retry with the error shown to it), the rules' analysis stands and
//! the notes say why.

use std::sync::Arc;

use nightshift_core::analysis::AnalyzeError;
use nightshift_core::{
    Analysis, AnalysisInput, Analyzer, Category, EvidenceData, Policy, RuleAnalyzer,
};

use crate::answer::{self, Checks};
use crate::cache::{self, AnswerCache};
use crate::compress::Limits;
use crate::config::{AnalyzerMode, ConfigError, LlmConfig, StructuredOutput};
use crate::metrics::{Metrics, Usage};
use crate::prompt;
use crate::provider::{
    ChatClient, Conversation, Message, ProviderError, Request, TokenUsage, ToolResult, ToolUse,
};
use crate::tokens;
use crate::tools::{self, Investigator, Tool};

/// Tool calls run per step; more are answered with a refusal.
const CALLS_PER_STEP: usize = 3;
/// Characters of one tool's output shown to the model.
const TOOL_OUTPUT_CHARS: usize = 4_000;

/// Why the model gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ModelFailure {
    /// The provider failed after its retries.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The answer was still invalid after one retry with the error shown to the model.
    #[error("the answer was invalid after one retry: {0}")]
    Invalid(String),
    /// The step or token budget ran out before a valid answer.
    #[error("{0}")]
    Budget(String),
}

/// The model analyzer (hybrid by default). Clones share the client, the cache and the
/// counters.
#[derive(Clone)]
pub struct LlmAnalyzer {
    cfg: Arc<LlmConfig>,
    name: String,
    client: ChatClient,
    rules: RuleAnalyzer,
    policy: Arc<Policy>,
    investigator: Option<Arc<dyn Investigator>>,
    cache: Arc<AnswerCache>,
    metrics: Metrics,
    limits: Limits,
    /// The agent's registered runbooks, which the answer's plans are checked against.
    registry: Arc<nightshift_core::runbook::RunbookRegistry>,
}

impl std::fmt::Debug for LlmAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmAnalyzer")
            .field("name", &self.name)
            .field("model", &self.cfg.model)
            .field("usage", &self.usage())
            .finish()
    }
}

impl LlmAnalyzer {
    /// An analyzer for `cfg`, with the default policy (forbidden operations are never
    /// proposed) and no investigation tools. The API key is read from the environment
    /// variable `cfg.api_key_env` names.
    pub fn from_config(cfg: &LlmConfig) -> Result<Self, ConfigError> {
        let metrics = Metrics::default();
        let client = ChatClient::new(cfg, metrics.clone())?;
        let name = match cfg.mode {
            AnalyzerMode::Hybrid => "hybrid".to_string(),
            AnalyzerMode::Llm => format!("llm:{}", cfg.model),
        };
        Ok(LlmAnalyzer {
            cfg: Arc::new(cfg.clone()),
            name,
            client,
            rules: RuleAnalyzer::new(),
            policy: Arc::new(Policy::default()),
            investigator: None,
            cache: Arc::new(AnswerCache::new(cfg.durations().cache_ttl)),
            metrics,
            limits: Limits::default(),
            registry: Arc::new(Default::default()),
        })
    }

    /// The agent's registered runbooks: the model may propose them with `run-runbook`
    /// (besides any `llm.runbooks` names), and its prompt says what each is for. Every plan
    /// that runs one is still held to the policy's runbook rule (registered, written for the
    /// diagnosis, allowed on the target).
    pub fn with_runbooks(mut self, registry: &nightshift_core::runbook::RunbookRegistry) -> Self {
        let mut cfg = (*self.cfg).clone();
        for name in registry.names() {
            if !cfg.runbooks.contains(&name) {
                cfg.runbooks.push(name);
            }
        }
        self.cfg = Arc::new(cfg);
        self.registry = Arc::new(registry.clone());
        self
    }

    /// The policy whose forbidden operations the model may not propose (use the agent's).
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// Read-only investigation tools for models with tool calling.
    pub fn with_investigator(mut self, investigator: Arc<dyn Investigator>) -> Self {
        self.investigator = Some(investigator);
        self
    }

    /// Limits of the evidence rendering.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// What the analyzer (and its clones) spent so far.
    pub fn usage(&self) -> Usage {
        self.metrics.usage()
    }

    /// Its metrics, to register into a Prometheus registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Its configuration.
    pub fn config(&self) -> &LlmConfig {
        &self.cfg
    }

    /// The prompt's two messages for an incident, as they would be sent (for inspection and
    /// the benchmark).
    pub fn prompt(&self, input: &AnalysisInput<'_>) -> (String, String) {
        let allowed =
            answer::allowed_actions(&self.policy, &input.incident.resource, &self.cfg.runbooks);
        let schema = answer::schema(&allowed);
        let in_prompt =
            (self.cfg.structured_output != StructuredOutput::JsonSchema).then_some(&schema);
        (
            prompt::system(
                &allowed,
                in_prompt,
                self.tools_on(),
                &runbook_lines(&self.registry),
            ),
            prompt::incident(input, self.limits),
        )
    }

    fn tools_on(&self) -> bool {
        self.cfg.tools && self.investigator.is_some()
    }

    /// Analyzes one incident; never fails (the rules answer when the model cannot).
    pub async fn run(&self, input: &AnalysisInput<'_>) -> Analysis {
        let rules = self.rules.diagnose(input);
        match self.cfg.mode {
            AnalyzerMode::Hybrid => {
                let (consult, why) = self.needs_model(&rules, input);
                if !consult {
                    self.metrics.analysis("rules");
                    let mut a = rules;
                    a.analyzer = self.name.clone();
                    a.notes.push(why);
                    return a;
                }
                match self.consult(input).await {
                    Ok(model) => {
                        let mut a = merge(rules, model, &self.cfg);
                        a.notes.insert(0, why);
                        a.analyzer = self.name.clone();
                        a
                    }
                    Err(e) => self.fallback(rules, &e),
                }
            }
            AnalyzerMode::Llm => match self.consult(input).await {
                Ok(model) => model,
                Err(e) => self.fallback(rules, &e),
            },
        }
    }

    fn fallback(&self, mut rules: Analysis, e: &ModelFailure) -> Analysis {
        self.metrics.analysis("fallback");
        tracing::warn!(error = %e, "model analysis failed; the rules answer");
        rules.notes.insert(
            0,
            format!(
                "model {} not used: {e}; the rule analysis stands",
                self.cfg.model
            ),
        );
        rules.analyzer = self.name.clone();
        rules
    }

    /// Whether the rules need a second opinion, and why.
    fn needs_model(&self, rules: &Analysis, input: &AnalysisInput<'_>) -> (bool, String) {
        let conf = rules.diagnosis.confidence;
        let threshold = self.cfg.confidence_threshold;
        if conf < threshold {
            return (
                true,
                format!("rules unsure ({conf:.2} < {threshold:.2}): model consulted"),
            );
        }
        let troubled = input.evidence.items.iter().any(|i| match &i.data {
            EvidenceData::Event { event_type, .. } => event_type == "Warning",
            EvidenceData::ContainerStatus { ready, state, .. } => !ready && state != "running",
            _ => false,
        });
        let quiet = matches!(
            rules.diagnosis.category,
            Category::None | Category::Transient
        );
        if (quiet && troubled)
            || (rules.diagnosis.evidence.is_empty() && !input.evidence.items.is_empty())
        {
            return (
                true,
                "evidence unfamiliar to the rules: model consulted".to_string(),
            );
        }
        (
            false,
            format!("rules confident ({conf:.2} >= {threshold:.2}): model not consulted"),
        )
    }

    /// The model's analysis alone (cached by signature), without the rules.
    pub async fn consult(&self, input: &AnalysisInput<'_>) -> Result<Analysis, ModelFailure> {
        let sig = cache::signature(input);
        let now = cache::observed_at(input);
        if let Some((at, mut hit)) = self.cache.get(sig, now) {
            self.metrics.analysis("cache");
            hit.notes.push(format!(
                "reused the model's answer for the same signature from {}",
                at.format("%H:%M:%S")
            ));
            return Ok(hit);
        }
        let a = self.ask(input).await?;
        self.metrics.analysis("model");
        self.cache.put(sig, now, &a);
        Ok(a)
    }

    async fn ask(&self, input: &AnalysisInput<'_>) -> Result<Analysis, ModelFailure> {
        let cfg = &self.cfg;
        let allowed =
            answer::allowed_actions(&self.policy, &input.incident.resource, &cfg.runbooks);
        let schema = answer::schema(&allowed);
        let defs = match (&self.investigator, self.tools_on()) {
            (Some(inv), true) => tools::definitions(inv.has_prometheus()),
            _ => Vec::new(),
        };
        let (system, user) = self.prompt(input);
        let mut conv = Conversation {
            system,
            messages: vec![Message::User(user)],
        };
        let model_name = format!("llm:{}", cfg.model);
        let checks = Checks {
            input,
            policy: &self.policy,
            allowed: &allowed,
            runbooks: &cfg.runbooks,
            registry: &self.registry,
            analyzer: &model_name,
        };
        let schema_tokens = tokens::estimate(&schema.to_string());
        let mut spent = 0u64;
        let mut steps = 0u32;
        let mut rejected: Option<String> = None;
        let prompt_tokens = conversation_tokens(&conv) + schema_tokens;
        let mut used = TokenUsage::default();
        loop {
            let estimate = conversation_tokens(&conv) + schema_tokens;
            if spent + estimate > cfg.max_input_tokens {
                return Err(ModelFailure::Budget(format!(
                    "token budget spent: {spent} used, next call ~{estimate}, budget {}",
                    cfg.max_input_tokens
                )));
            }
            let force = defs.is_empty()
                || steps + 1 >= cfg.max_steps
                || spent + 2 * estimate > cfg.max_input_tokens;
            let turn = self
                .client
                .send(&Request {
                    conversation: &conv,
                    tools: &defs,
                    schema: &schema,
                    force_answer: force,
                })
                .await?;
            steps += 1;
            used.input += turn.usage.input;
            used.output += turn.usage.output;
            spent += if turn.usage.input > 0 {
                turn.usage.input
            } else {
                estimate
            };
            if !force && turn.answer_call.is_none() && !turn.calls.is_empty() {
                let results = self.investigate(input, &turn.calls).await;
                conv.messages.push(Message::Assistant {
                    text: turn.text.clone(),
                    calls: turn.calls.clone(),
                });
                conv.messages.push(Message::ToolResults {
                    results,
                    then: None,
                });
                continue;
            }
            let mut error = match &turn.text {
                Some(text) => match answer::check(text, &checks) {
                    Ok(checked) => {
                        let mut a = checked.analysis;
                        if let Some(first) = rejected {
                            a.notes
                                .insert(0, format!("model's first answer rejected: {first}"));
                        }
                        a.notes.push(usage_note(cfg, steps, prompt_tokens, used));
                        return Ok(a);
                    }
                    Err(e) => e,
                },
                None => "the answer was empty".to_string(),
            };
            if turn.truncated() {
                error.push_str(" (the output hit the token limit: keep the answer short)");
            }
            if let Some(first) = rejected {
                return Err(ModelFailure::Invalid(format!(
                    "{error} (first answer: {first})"
                )));
            }
            let feedback = prompt::feedback(&error);
            match turn.answer_call {
                Some(call) => {
                    conv.messages.push(Message::Assistant {
                        text: None,
                        calls: vec![call.clone()],
                    });
                    conv.messages.push(Message::ToolResults {
                        results: vec![ToolResult {
                            id: call.id,
                            content: feedback,
                            is_error: true,
                        }],
                        then: None,
                    });
                }
                None => {
                    conv.messages.push(Message::Assistant {
                        text: Some(turn.text.unwrap_or_default()),
                        calls: Vec::new(),
                    });
                    conv.messages.push(Message::User(feedback));
                }
            }
            rejected = Some(error);
        }
    }

    /// Runs the model's tool calls (a few per step), each bounded by the request timeout.
    async fn investigate(&self, input: &AnalysisInput<'_>, calls: &[ToolUse]) -> Vec<ToolResult> {
        let timeout = self.cfg.durations().timeout;
        let mut results = Vec::new();
        for (i, call) in calls.iter().enumerate() {
            let (text, is_error) = if i >= CALLS_PER_STEP {
                (
                    format!("skipped: at most {CALLS_PER_STEP} tool calls per step"),
                    true,
                )
            } else {
                match Tool::parse(&call.name, &call.arguments) {
                    Err(e) => (e, true),
                    Ok(Tool::SimilarIncidents(q)) => {
                        (tools::similar_incidents(input.evidence, &q), false)
                    }
                    Ok(tool) => match &self.investigator {
                        None => ("no investigation tools here".to_string(), true),
                        Some(inv) => match tokio::time::timeout(timeout, inv.run(&tool)).await {
                            Ok(Ok(out)) => (out, false),
                            Ok(Err(e)) => (e, true),
                            Err(_) => (format!("{} timed out", tool.name()), true),
                        },
                    },
                }
            };
            results.push(ToolResult {
                id: call.id.clone(),
                content: prompt::tool_output(&call.name, &text, TOOL_OUTPUT_CHARS),
                is_error,
            });
        }
        results
    }
}

fn conversation_tokens(conv: &Conversation) -> u64 {
    let mut n = tokens::estimate(&conv.system);
    for m in &conv.messages {
        n += match m {
            Message::User(t) => tokens::estimate(t),
            Message::Assistant { text, calls } => {
                text.as_deref().map(tokens::estimate).unwrap_or(0)
                    + calls
                        .iter()
                        .map(|c| tokens::estimate(&c.arguments.to_string()) + 8)
                        .sum::<u64>()
            }
            Message::ToolResults { results, then } => {
                results
                    .iter()
                    .map(|r| tokens::estimate(&r.content))
                    .sum::<u64>()
                    + then.as_deref().map(tokens::estimate).unwrap_or(0)
            }
        };
    }
    n
}

/// One line per registered runbook for the prompt: its name, what it does, the categories
/// it is written for and its risk class.
fn runbook_lines(registry: &nightshift_core::runbook::RunbookRegistry) -> Vec<String> {
    registry
        .iter()
        .map(|r| {
            let cats: Vec<&str> = r.matches.categories.iter().map(|c| c.as_str()).collect();
            let what = if r.description.trim().is_empty() {
                "no description".to_string()
            } else {
                nightshift_core::text::one_line(&r.description, 200)
            };
            let risk = format!("{:?}", r.risk).to_lowercase();
            format!("{}: {what} (for {}; risk {risk})", r.name, cats.join(", "))
        })
        .collect()
}

/// Rules and model together: agreement keeps the rules' plans at the higher confidence;
/// disagreement keeps the surer answer with its confidence lowered and says so.
pub fn merge(rules: Analysis, model: Analysis, cfg: &LlmConfig) -> Analysis {
    let (r, m) = (&rules.diagnosis, &model.diagnosis);
    let agree = r.category == m.category && r.root_cause.locate_key() == m.root_cause.locate_key();
    if agree {
        let mut a = rules.clone();
        a.diagnosis.confidence = r.confidence.max(m.confidence);
        if !rules.plans.iter().any(|p| p.action.changes_infra())
            && model.plans.iter().any(|p| p.action.changes_infra())
        {
            a.plans = model.plans.clone();
        } else {
            for p in &mut a.plans {
                if let Some(mp) = model
                    .plans
                    .iter()
                    .find(|mp| mp.action.name() == p.action.name())
                {
                    p.confidence = p.confidence.max(mp.confidence.min(m.confidence));
                }
            }
        }
        a.notes.push(format!(
            "model agrees: {} at {} ({:.2})",
            m.category,
            m.root_cause.locate_key(),
            m.confidence
        ));
        a.notes.extend(model.notes);
        return a;
    }
    let model_surer = m.confidence > r.confidence;
    let (mut a, kept) = if model_surer {
        (model.clone(), "model's")
    } else {
        (rules.clone(), "rules'")
    };
    let cap = cfg.disagreement_confidence;
    a.diagnosis.confidence = a.diagnosis.confidence.min(cap);
    for p in &mut a.plans {
        p.confidence = p.confidence.min(cap);
    }
    a.notes.push(format!(
        "rules and model disagree: rules say {} at {} ({:.2}), model says {} at {} ({:.2}); kept the {kept} answer with confidence lowered to at most {cap:.2} so a human decides",
        r.category,
        r.root_cause.locate_key(),
        r.confidence,
        m.category,
        m.root_cause.locate_key(),
        m.confidence
    ));
    if model_surer {
        a.notes.extend(rules.notes);
    } else {
        a.notes.extend(model.notes);
    }
    a
}

impl Analyzer for LlmAnalyzer {
    fn name(&self) -> &str {
        &self.name
    }

    async fn analyze(&self, input: &AnalysisInput<'_>) -> Result<Analysis, AnalyzeError> {
        Ok(self.run(input).await)
    }
}

/// The line an answered analysis records about what it cost: turns, the first prompt's size
/// (estimated), the tokens the provider counted, and the price when one is configured.
fn usage_note(cfg: &LlmConfig, turns: u32, prompt_tokens: u64, used: TokenUsage) -> String {
    let cost = cfg.price().map_or(String::new(), |p| {
        format!(
            ", cost ${:.4}",
            used.input as f64 * p.input / 1e6 + used.output as f64 * p.output / 1e6
        )
    });
    format!(
        "model usage: {turns} turn(s), first prompt ~{prompt_tokens} tokens, {} input and {} output tokens{cost}",
        used.input, used.output
    )
}
