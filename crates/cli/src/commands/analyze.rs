//! `nightshift analyze`: one analysis on demand. The agent's collector gathers the evidence
//! from the cluster (kubeconfig or in-cluster config); the model analyzer answers when the
//! configuration has an `llm:` section, the rules otherwise. Nothing in the cluster changes.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::{Api, Client};
use nightshift::config::AgentConfig;
use nightshift_agent::collect::{Budget, Collector};
use nightshift_agent::runtime::kube_config;
use nightshift_core::{
    Analysis, AnalysisInput, Evidence, Incident, IncidentId, ResourceRef, RuleAnalyzer, State,
    TimelineEntry, WorkloadKind,
};
use nightshift_llm::LlmAnalyzer;
use nightshift_llm::tools::kube::KubeInvestigator;
use nightshift_store::Store;

use crate::cli::{AnalyzeArgs, Output};

/// Runs one analysis and prints it.
pub fn run(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    for (value, what) in [(&args.pod, "pod"), (&args.workload, "workload")] {
        if let Some(Err(e)) = value.as_deref().map(|v| split(v, what)) {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
        }
    }
    let (config, policy) = match super::run::load(args.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    super::runtime()?.block_on(async move {
        let kubeconfig = args.kubeconfig.as_deref().or(config.kubeconfig.as_deref());
        let client = Client::try_from(kube_config(kubeconfig).await?)
            .context("unable to build a Kubernetes client")?;
        let (incident, history) = target(&args, &config, &client).await?;
        let evidence = Collector::new(client.clone(), Budget::default())
            .collect(&incident.resource, &[], chrono::Utc::now())
            .await
            .with_context(|| format!("unable to collect evidence for {}", incident.resource))?;
        let input = AnalysisInput {
            incident: &incident,
            evidence: &evidence,
            history: &history,
        };
        let (analysis, usage) = match &config.llm {
            Some(llm) => {
                let analyzer = LlmAnalyzer::from_config(llm)?
                    .with_policy(policy)
                    .with_investigator(Arc::new(KubeInvestigator::new(
                        client,
                        llm.prometheus_url.clone(),
                        &config.tls,
                    )?));
                let a = analyzer.run(&input).await;
                (a, Some(analyzer.usage()))
            }
            None => (RuleAnalyzer::new().diagnose(&input), None),
        };
        match args.output {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "incident": incident,
                    "analysis": analysis,
                    "evidence": evidence,
                    "usage": usage.map(|u| serde_json::json!({
                        "calls": u.calls, "tokens_in": u.tokens_in, "tokens_out": u.tokens_out,
                    })),
                }))?
            ),
            Output::Table => print!("{}", render(&incident, &evidence, &analysis, usage)),
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

fn split(arg: &str, what: &str) -> anyhow::Result<(String, String)> {
    match arg.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => anyhow::bail!("--{what} {arg:?}: expected NAMESPACE/NAME"),
    }
}

/// The incident to analyze: a stored one, or an ad-hoc one for a pod or workload.
async fn target(
    args: &AnalyzeArgs,
    config: &AgentConfig,
    client: &Client,
) -> anyhow::Result<(Incident, Vec<TimelineEntry>)> {
    let resource = if let Some(id) = &args.incident {
        let url = args.store.clone().unwrap_or_else(|| config.store.clone());
        let store = Store::open(&url)
            .await
            .with_context(|| format!("unable to open the store {url}"))?;
        let id = IncidentId(id.clone());
        let stored = store
            .get(&id)
            .await?
            .with_context(|| format!("no incident {id} in {url}"))?;
        let history = store.timeline(&id).await?;
        return Ok((stored.incident, history));
    } else if let Some(pod) = &args.pod {
        let (namespace, name) = split(pod, "pod")?;
        ResourceRef::Pod { namespace, name }
    } else if let Some(w) = &args.workload {
        let (ns, name) = split(w, "workload")?;
        workload(client, &ns, &name).await?
    } else {
        anyhow::bail!("name what to analyze: --pod NS/NAME, --workload NS/NAME or --incident ID");
    };
    let now = chrono::Utc::now();
    Ok((
        Incident {
            id: IncidentId("on-demand".into()),
            state: State::Analyzing,
            title: format!("on-demand analysis of {resource}"),
            resource,
            category: None,
            root_cause: None,
            attempts: 0,
            opened_at: now,
            updated_at: now,
            resolved_at: None,
        },
        Vec::new(),
    ))
}

/// The Deployment, StatefulSet or DaemonSet of that name.
async fn workload(client: &Client, ns: &str, name: &str) -> anyhow::Result<ResourceRef> {
    let found = |kind| ResourceRef::workload(kind, ns, name);
    if Api::<Deployment>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?
        .is_some()
    {
        return Ok(found(WorkloadKind::Deployment));
    }
    if Api::<StatefulSet>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?
        .is_some()
    {
        return Ok(found(WorkloadKind::StatefulSet));
    }
    if Api::<DaemonSet>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?
        .is_some()
    {
        return Ok(found(WorkloadKind::DaemonSet));
    }
    anyhow::bail!("no Deployment, StatefulSet or DaemonSet {ns}/{name}")
}

fn render(
    incident: &Incident,
    evidence: &Evidence,
    a: &Analysis,
    usage: Option<nightshift_llm::Usage>,
) -> String {
    use std::fmt::Write as _;
    let d = &a.diagnosis;
    let mut s = String::new();
    let _ = writeln!(s, "incident   {} on {}", incident.id, incident.resource);
    let _ = writeln!(s, "analyzer   {}", a.analyzer);
    let _ = writeln!(
        s,
        "diagnosis  {} at {} (confidence {:.2})",
        d.category,
        d.root_cause.locate_key(),
        d.confidence
    );
    let _ = writeln!(s, "           {}", d.summary);
    let _ = writeln!(
        s,
        "evidence   {} items, {} bytes",
        evidence.items.len(),
        evidence.bytes
    );
    for id in &d.evidence {
        if let Some(item) = evidence.get(id) {
            let _ = writeln!(s, "  {:<5} {}", id.0, item.summary);
        }
    }
    let _ = writeln!(s, "plans");
    for (i, p) in a.plans.iter().enumerate() {
        let target = p
            .action
            .target()
            .map(|t| format!(" {}", t.locate_key()))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  {}. {}{target} (confidence {:.2}): {}",
            i + 1,
            p.action.name(),
            p.confidence,
            p.rationale
        );
    }
    if !a.notes.is_empty() {
        let _ = writeln!(s, "notes");
        for n in &a.notes {
            let _ = writeln!(s, "  - {n}");
        }
    }
    if let Some(u) = usage {
        let _ = writeln!(
            s,
            "model      {} calls, {} tokens in, {} tokens out",
            u.calls, u.tokens_in, u.tokens_out
        );
    }
    s
}
