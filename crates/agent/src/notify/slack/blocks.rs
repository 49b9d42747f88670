//! The incident's message in Block Kit: a header with the incident and its state, the
//! diagnosis, the plan with its dry run, the policy's decision, the approval, the actions and
//! their verification, a link to the console, and Approve / Reject buttons while a plan waits.
//! Everything is cut to Slack's limits: 150 characters in a header, 3000 in a section's text,
//! 50 blocks in a message.

use nightshift_core::State;
use nightshift_store::{ActionStatus, ApprovalStatus};
use serde_json::{Value, json};

use super::{APPROVE_ACTION, REASON_INPUT, REJECT_ACTION, REJECT_VIEW};
use crate::notify::{Subject, risk_str};

/// The most characters in a section's text.
pub const MAX_SECTION_CHARS: usize = 3000;
/// The most characters in a header.
pub const MAX_HEADER_CHARS: usize = 150;
/// The most blocks in a message.
pub const MAX_BLOCKS: usize = 50;

/// `text` cut to `max` characters, ending with an ellipsis when it was cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Text escaped for Slack's mrkdwn (`&`, `<` and `>` are its markup).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A state as people read it (`awaiting approval`).
pub fn state_name(state: State) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_else(|| format!("{state:?}"))
}

fn section(text: &str) -> Value {
    json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION_CHARS)},
    })
}

/// A section whose body is a code block, the code cut so that the whole stays in the limit.
fn code_section(title: &str, code: &str) -> Value {
    // Three backticks inside would end the block early.
    let code = escape(code).replace("```", "'''");
    let frame = title.chars().count() + "\n```\n\n```".len();
    let code = cut(&code, MAX_SECTION_CHARS.saturating_sub(frame));
    section(&format!("{title}\n```\n{code}\n```"))
}

/// The text Slack shows where blocks cannot be (notifications, old clients).
pub fn fallback(s: &Subject) -> String {
    let i = &s.incident;
    cut(
        &format!("Incident {} ({}): {}", i.id, state_name(i.state), i.title),
        MAX_SECTION_CHARS,
    )
}

fn percent(x: f64) -> String {
    format!("{:.0}%", (x * 100.0).clamp(0.0, 100.0))
}

/// The dry run's report as lines: its summary, then each change and pod.
fn dry_run_text(report: &Value) -> String {
    match serde_json::from_value::<crate::act::DryRunReport>(report.clone()) {
        Ok(r) => r.to_string(),
        Err(_) => serde_json::to_string_pretty(report).unwrap_or_default(),
    }
}

/// The blocks of the incident's message as it stands.
pub fn message(s: &Subject) -> Value {
    let i = &s.incident;
    let mut blocks = vec![json!({
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": cut(&format!("Incident {} · {}", i.id, state_name(i.state)), MAX_HEADER_CHARS),
        },
    })];
    let mut about = format!(
        "*{}*\n{}",
        escape(&i.title),
        escape(&i.resource.to_string())
    );
    if i.attempts > 0 {
        about.push_str(&format!(" · attempt {}", i.attempts));
    }
    blocks.push(section(&about));

    if let Some(a) = &s.analysis {
        let d = &a.diagnosis;
        let mut text = format!(
            "*Diagnosis* ({:?}, {} confident, by {})\n{}",
            d.category,
            percent(d.confidence),
            escape(&a.analyzer),
            escape(&d.summary)
        );
        if !s.evidence.is_empty() {
            // What the diagnosis rests on, as collected; at most five lines.
            text.push_str("\n_Evidence:_");
            for e in s.evidence.iter().take(5) {
                text.push_str(&format!(
                    "\n• `{}` {}",
                    escape(&e.id.0),
                    escape(&nightshift_core::text::one_line(&e.summary, 200))
                ));
            }
            if s.evidence.len() > 5 {
                text.push_str(&format!("\n… and {} more", s.evidence.len() - 5));
            }
        } else if !d.evidence.is_empty() {
            let ids: Vec<&str> = d.evidence.iter().map(|e| e.0.as_str()).collect();
            text.push_str(&format!("\n_Evidence:_ {}", escape(&ids.join(", "))));
        }
        text.push_str(&format!(
            "\n_Root cause:_ {}",
            escape(&d.root_cause.to_string())
        ));
        if let Some(h) = &s.history {
            text.push_str(&format!("\n_Seen before:_ {}", escape(h)));
        }
        blocks.push(section(&text));
    }

    if let Some(d) = &s.decision {
        let p = &d.plan;
        blocks.push(section(&format!(
            "*Plan:* `{}` ({} confident)\n{}\n_Expected:_ {}",
            escape(&p.action.to_string()),
            percent(p.confidence),
            escape(&p.rationale),
            escape(&p.expected_outcome)
        )));
        let mut policy = format!(
            "*Policy:* {:?}, {} risk, by rule `{}`",
            d.decision.verdict,
            risk_str(d.decision.risk),
            escape(&d.decision.rule)
        );
        if !d.decision.factors.is_empty() {
            policy.push_str(&format!("\n_{}_", escape(&d.decision.factors.join("; "))));
        }
        blocks.push(section(&policy));
    }

    if let Some(report) = &s.dry_run {
        blocks.push(code_section("*Dry run*", &dry_run_text(report)));
    }

    if let Some(a) = &s.approval {
        let approvals: Vec<&str> = a
            .votes
            .iter()
            .filter(|v| v.verdict == ApprovalStatus::Approved)
            .map(|v| v.by.as_str())
            .collect();
        let required = a.votes.iter().map(|v| v.required).max().unwrap_or(0);
        let text = match a.status {
            ApprovalStatus::Pending if approvals.is_empty() => format!(
                "*Approval:* waiting until {}",
                a.deadline.format("%Y-%m-%d %H:%M UTC")
            ),
            ApprovalStatus::Pending => format!(
                "*Approval:* approved by {} ({} of {required}); waiting until {}",
                escape(&approvals.join(", ")),
                approvals.len(),
                a.deadline.format("%Y-%m-%d %H:%M UTC")
            ),
            ApprovalStatus::Approved | ApprovalStatus::Rejected => {
                let mut t = format!(
                    "*Approval:* {} by {}",
                    if a.status == ApprovalStatus::Approved {
                        "approved"
                    } else {
                        "rejected"
                    },
                    escape(a.decided_by.as_deref().unwrap_or("?"))
                );
                if let Some(r) = &a.reason {
                    t.push_str(&format!(": {}", escape(r)));
                }
                t
            }
            ApprovalStatus::Expired => format!(
                "*Approval:* expired at {} unanswered",
                a.deadline.format("%Y-%m-%d %H:%M UTC")
            ),
        };
        blocks.push(section(&text));
    }

    if !s.actions.is_empty() {
        let lines: Vec<String> = s
            .actions
            .iter()
            .map(|a| {
                let what = match a.status {
                    ActionStatus::Done => a
                        .outcome
                        .as_ref()
                        .and_then(|o| o["summary"].as_str())
                        .unwrap_or("done")
                        .to_string(),
                    ActionStatus::Failed => {
                        format!("failed: {}", a.error.as_deref().unwrap_or("unknown"))
                    }
                    ActionStatus::Intended => "in progress".to_string(),
                };
                format!(
                    "• attempt {}: `{}` · {}",
                    a.attempt,
                    escape(&a.action.to_string()),
                    escape(&what)
                )
            })
            .collect();
        blocks.push(section(&format!("*Action*\n{}", lines.join("\n"))));
    }

    if let Some(v) = &s.verification {
        blocks.push(section(&format!("*Verification:* {}", escape(&v.message))));
    }

    let waiting = i.state == State::AwaitingApproval
        && s.approval
            .as_ref()
            .is_some_and(|a| a.status == ApprovalStatus::Pending);
    if waiting {
        blocks.push(json!({
            "type": "actions",
            "block_id": "nightshift_approval",
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": i.id.0,
                },
                {
                    "type": "button",
                    "action_id": REJECT_ACTION,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Reject"},
                    "value": i.id.0,
                },
            ],
        }));
    }

    let mut context = format!("Updated {}", s.entry.at.format("%Y-%m-%d %H:%M:%S UTC"));
    if let Some(link) = &s.link {
        context.push_str(&format!(" · <{}|Open in the console>", link));
    }
    let context_block = json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": cut(&context, MAX_SECTION_CHARS)}],
    });
    if blocks.len() >= MAX_BLOCKS {
        blocks.truncate(MAX_BLOCKS - 1);
    }
    blocks.push(context_block);
    Value::Array(blocks)
}

/// The modal a Reject click opens: a reason, then Reject. `private_metadata` carries the
/// incident and the click's `response_url` to the submission.
pub fn reject_view(incident: &str, response_url: Option<&str>) -> Value {
    json!({
        "type": "modal",
        "callback_id": REJECT_VIEW,
        "private_metadata": json!({"incident": incident, "response_url": response_url}).to_string(),
        "title": {"type": "plain_text", "text": "Reject the plan"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": cut(&format!("Reject the plan for incident *{}*? It goes to a human.", escape(incident)), MAX_SECTION_CHARS)},
            },
            {
                "type": "input",
                "block_id": REASON_INPUT,
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": true,
                    "max_length": 1000,
                },
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_to_the_limit_on_a_character_boundary() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "ab…");
        let long = "é".repeat(5000);
        assert_eq!(
            cut(&long, MAX_SECTION_CHARS).chars().count(),
            MAX_SECTION_CHARS
        );
        let block = code_section("*Dry run*", &"x <y>\n".repeat(2000));
        let text = block["text"]["text"].as_str().unwrap();
        assert!(text.chars().count() <= MAX_SECTION_CHARS, "{}", text.len());
        assert!(
            text.ends_with("…\n```") && text.contains("&lt;y&gt;"),
            "{text}"
        );
    }
}
