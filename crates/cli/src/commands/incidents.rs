//! `nightshift incidents list|show` and `nightshift approve|reject`, on the record directly:
//! a running agent notices the change on its next look.

use std::process::ExitCode;

use anyhow::Context;
use nightshift::config::AgentConfig;
use nightshift_agent::engine::EngineError;
use nightshift_core::IncidentId;
use nightshift_core::policy::Policy;
use nightshift_store::{ApprovalAnswer, IncidentFilter, Store, VoteOutcome};

use crate::cli::{AnswerArgs, IncidentsCommand, Output, StoreArgs};

pub(super) fn store_url(a: &StoreArgs) -> anyhow::Result<String> {
    if let Some(s) = &a.store {
        return Ok(if s.contains("://") || s.starts_with("sqlite:") {
            s.clone()
        } else {
            format!("sqlite://{s}")
        });
    }
    if let Some(c) = &a.config {
        return Ok(AgentConfig::load(c)?.store);
    }
    Ok(AgentConfig::default().store)
}

pub(super) async fn open(a: &StoreArgs) -> anyhow::Result<Store> {
    let url = store_url(a)?;
    Store::open(&url)
        .await
        .with_context(|| format!("unable to open the record {url}"))
}

/// Runs `incidents list|show`.
pub fn run(cmd: IncidentsCommand) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async move {
        match cmd {
            IncidentsCommand::List {
                store,
                output,
                open: only_open,
            } => {
                let s = open(&store).await?;
                let list = s
                    .list(&IncidentFilter {
                        open_only: only_open,
                        ..Default::default()
                    })
                    .await?;
                match output {
                    Output::Json => println!(
                        "{}",
                        serde_json::to_string_pretty(
                            &list.iter().map(|x| &x.incident).collect::<Vec<_>>()
                        )?
                    ),
                    Output::Table => {
                        println!(
                            "{:<12} {:<18} {:<28} {:<26} {:<8} OPENED",
                            "ID", "STATE", "RESOURCE", "CATEGORY", "ATTEMPTS"
                        );
                        for x in &list {
                            let i = &x.incident;
                            println!(
                                "{:<12} {:<18} {:<28} {:<26} {:<8} {}",
                                i.id.0,
                                format!("{:?}", i.state),
                                i.resource.to_string(),
                                i.category
                                    .map(|c| c.to_string())
                                    .unwrap_or_else(|| "-".into()),
                                i.attempts,
                                i.opened_at.to_rfc3339()
                            );
                        }
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            IncidentsCommand::Note {
                id,
                text,
                by,
                store,
            } => {
                let text = text.join(" ");
                if text.trim().is_empty() || by.trim().is_empty() {
                    eprintln!("error: a note needs words and --as NAME");
                    return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
                }
                let s = open(&store).await?;
                let id = IncidentId(id);
                let note =
                    nightshift_agent::learn::add_note(&s, &id, &by, &text, chrono::Utc::now())
                        .await?;
                println!("{}: note by {} added", id.0, note.by);
                Ok(ExitCode::SUCCESS)
            }
            IncidentsCommand::Show { id, store, output } => {
                let s = open(&store).await?;
                let id = IncidentId(id);
                let Some(inc) = s.get(&id).await? else {
                    eprintln!("error: incident {} not found", id.0);
                    return Ok(ExitCode::FAILURE);
                };
                let timeline = s.timeline(&id).await?;
                match output {
                    Output::Json => println!(
                        "{}",
                        serde_json::to_string_pretty(
                            &serde_json::json!({"incident": inc.incident, "timeline": timeline})
                        )?
                    ),
                    Output::Table => {
                        let i = &inc.incident;
                        // Stored text is printed with its control characters escaped.
                        let show = nightshift_core::text::printable;
                        println!(
                            "{}  {:?}  {}\n{}\n",
                            i.id,
                            i.state,
                            show(&i.resource.to_string()),
                            show(&i.title)
                        );
                        for e in timeline {
                            println!(
                                "{}  {:<12} {}",
                                e.at.format("%H:%M:%S"),
                                format!("{:?}", e.kind).to_lowercase(),
                                show(&e.message)
                            );
                        }
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// Runs `approve|reject`.
pub fn answer(args: AnswerArgs, approve: bool) -> anyhow::Result<ExitCode> {
    if let Some(agent) = &args.agent {
        return answer_remote(agent, &args, approve);
    }
    let Some(by) = args
        .by
        .as_deref()
        .map(|b| nightshift_core::text::one_line(b, 200))
    else {
        eprintln!("error: --as NAME is needed to answer on the record directly (or --agent URL)");
        return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
    };
    if by.is_empty() {
        eprintln!("error: --as must name who answers");
        return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
    }
    let reason = args
        .reason
        .as_deref()
        .map(|r| nightshift_core::redact::redact(&nightshift_core::text::one_line(r, 1000)));
    // The policy's approvers and min_approvers hold here as on the agent's API: the agent's
    // own policy, from its configuration or named.
    let policy = match (&args.policy, &args.store.config) {
        (Some(file), _) => Policy::load(file),
        (None, Some(config)) => match AgentConfig::load(config)?.policy {
            Some(file) => Policy::load(&file),
            None => Ok(Policy::default()),
        },
        (None, None) => {
            eprintln!(
                "error: answering on the record directly checks the agent's policy (who may \
                 approve, how many must): give --config FILE (the agent's configuration) or \
                 --policy FILE"
            );
            return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
        }
    };
    let policy = match policy {
        Ok(policy) => policy,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
        }
    };
    super::runtime()?.block_on(async move {
        let s = open(&args.store).await?;
        let id = IncidentId(args.incident.clone());
        let answer = ApprovalAnswer {
            approve,
            by: by.clone(),
            reason,
            at: chrono::Utc::now(),
        };
        let verb = if approve { "approved" } else { "rejected" };
        match nightshift_agent::engine::record_answer(&s, &policy, &id, &answer).await {
            Ok(VoteOutcome::Waiting {
                approvers,
                required,
                ..
            }) => {
                println!(
                    "{} approved by {by} ({} of {required} approvals): still awaiting approval, \
                     waiting for another approver",
                    id.0,
                    approvers.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Ok(outcome) => {
                println!(
                    "{} {verb} by {by}: now {:?}",
                    id.0,
                    outcome.incident().incident.state
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(EngineError::NotFound(_)) => {
                eprintln!("error: incident {} not found", id.0);
                Ok(ExitCode::FAILURE)
            }
            Err(
                e @ (EngineError::NotAwaiting { .. }
                | EngineError::NotAnApprover { .. }
                | EngineError::AlreadyApproved { .. }),
            ) => {
                eprintln!("error: {e}");
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        }
    })
}

/// `approve|reject --agent URL`: through the agent's API, with the token from `--token-env`.
fn answer_remote(agent: &str, args: &AnswerArgs, approve: bool) -> anyhow::Result<ExitCode> {
    let token = match std::env::var(&args.token_env) {
        Ok(t) if !t.trim().is_empty() => t,
        _ => {
            eprintln!(
                "error: --token-env: the environment variable {} is unset or empty",
                args.token_env
            );
            return Ok(ExitCode::from(super::EXIT_BAD_INPUT));
        }
    };
    let verb = if approve { "approve" } else { "reject" };
    let url = format!(
        "{}/api/v1/incidents/{}/{verb}",
        agent.trim_end_matches('/'),
        args.incident
    );
    let body = serde_json::json!({"reason": args.reason});
    super::runtime()?.block_on(async move {
        let response = nightshift_net::client(&Default::default())?
            .build()?
            .post(&url)
            .bearer_auth(token.trim())
            .json(&body)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", nightshift_net::explain(&e)))?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        if status.is_success() {
            let state = answer["state"].as_str().unwrap_or("?");
            let approvers = answer["approvers"].as_array().map_or(0, Vec::len);
            match answer["required"].as_u64() {
                // One vote of several: say how many are in and that it still waits.
                Some(required) if approve && state == "awaiting_approval" => println!(
                    "{} approved ({approvers} of {required} approvals): still awaiting approval, \
                     waiting for another approver",
                    args.incident
                ),
                _ => println!(
                    "{} {}: now {state}",
                    args.incident,
                    if approve { "approved" } else { "rejected" },
                ),
            }
            Ok(ExitCode::SUCCESS)
        } else {
            eprintln!(
                "error: {url}: {status}: {}",
                answer["error"].as_str().unwrap_or("no reason given")
            );
            Ok(ExitCode::FAILURE)
        }
    })
}
