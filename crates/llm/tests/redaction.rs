//! Secrets of every kind, seeded in logs, events, container messages, conditions, signal
//! labels, the incident title and a tool's output: none reaches a request body.

mod support;

use std::sync::Arc;

use nightshift_core::EvidenceData;
use nightshift_core::evidence::ConditionSummary;
use nightshift_llm::LlmAnalyzer;
use nightshift_llm::replay::Reply;
use support::*;

/// (where it hides, the secret part that must not leave).
const SECRETS: &[(&str, &str)] = &[
    (
        "Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    ),
    (
        "session eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjaGVja291dCIsImlhdCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg",
        "eyJzdWIiOiJjaGVja291dCIsImlhdCI6MTcwMDAwMDAwMH0",
    ),
    (
        "calling api with api_key=sk-proj-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2",
        "sk-proj-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2",
    ),
    (
        "anthropic key sk-ant-api03-AbCdEfGhIjKlMnOpQrSt-uvwx",
        "sk-ant-api03-AbCdEfGhIjKlMnOpQrSt",
    ),
    (
        "dial postgres://orders:Tr0ub4dor-and-3@postgres.shop:5432/orders",
        "Tr0ub4dor-and-3",
    ),
    (
        "amqp://guest:rabbit-S3cret-77@mq.shop:5672/",
        "rabbit-S3cret-77",
    ),
    (
        "Server=db.shop;Database=orders;User Id=sa;Password=Sup3r!Secret;",
        "Sup3r!Secret",
    ),
    ("DB_PASSWORD=hunter2hunter2", "hunter2hunter2"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAv9f3LmkqPrivateKeyMaterial\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEAv9f3LmkqPrivateKeyMaterial",
    ),
    (
        "using AWS key AKIAQWERTYUIOPASDFGH for s3",
        "AKIAQWERTYUIOPASDFGH",
    ),
    (
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
        "wJalrXUtnFEMI/K7MDENG",
    ),
    (
        "gcp key AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
        "AIzaSyD-9tSrke72PouQMnMX",
    ),
    (
        "DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=q83VbN2mVxR7wX9pLk4Jt6Hs1Dg5Ff0Aa==;",
        "q83VbN2mVxR7wX9pLk4Jt6Hs1Dg5Ff0Aa",
    ),
    (
        "github token ghp_1234567890abcdefghijABCDEFGHIJklmnop",
        "ghp_1234567890abcdefghij",
    ),
    ("slack xoxb-2048-4096-SeCrEtSlAcKtOkEn", "SeCrEtSlAcKtOkEn"),
];

#[tokio::test]
async fn no_seeded_secret_reaches_a_request_body() {
    let mut b = Bundle::load("bad-rollout-catalog-crash");
    let all: Vec<String> = SECRETS.iter().map(|(t, _)| t.to_string()).collect();
    for item in &mut b.evidence.items {
        match &mut item.data {
            EvidenceData::Logs { lines, .. } => lines.extend(all.iter().cloned()),
            EvidenceData::Event { message, .. } => {
                message.push(' ');
                message.push_str(&all.join(" | "));
            }
            EvidenceData::ContainerStatus {
                message,
                pod_reason,
                ..
            } => {
                *message = Some(all.join(" "));
                *pod_reason = Some(SECRETS[4].0.to_string());
            }
            EvidenceData::Object { conditions, .. } => conditions.push(ConditionSummary {
                kind: "Available".into(),
                status: "False".into(),
                reason: Some("Broken".into()),
                message: Some(all.join(" ")),
                since: None,
            }),
            EvidenceData::Signal { labels, .. } => {
                labels.insert("connection".into(), SECRETS[5].0.into());
            }
            _ => {}
        }
        item.summary.push_str(&all.join(" "));
    }
    b.incident.title = format!("{} {}", b.incident.title, SECRETS[0].0);
    let server = serve([
        Reply::fixture("openai/tool-call-logs.json"),
        Reply::fixture("openai/catalog-bad-release.json"),
    ])
    .await;
    let tool = Recorder {
        answer: all.join("\n"),
        ..Recorder::default()
    };
    let analyzer = LlmAnalyzer::from_config(&openai(&server))
        .unwrap()
        .with_investigator(Arc::new(tool.clone()));
    let a = analyzer.run(&b.input()).await;
    assert_eq!(
        a.plans[0].action.name(),
        nightshift_core::ActionName::Rollback,
        "{:?}",
        a.notes
    );
    assert_eq!(
        tool.calls.lock().unwrap().len(),
        1,
        "the tool output went out too"
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        for (_, secret) in SECRETS {
            assert!(!r.body.contains(secret), "{secret} left the process");
            // JSON escapes slashes in some encoders; check the escaped form as well.
            assert!(
                !r.body.contains(&secret.replace('/', "\\/")),
                "{secret} left the process"
            );
        }
        assert!(r.body.contains("REDACTED"));
    }
}
