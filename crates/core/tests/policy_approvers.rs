//! Who may answer approvals and how many must agree: `approver_groups`, `approvers` and
//! `min_approvers` read into what they say, every mistake reported with the file, the key and
//! the line, and `policy check` showing the rules.

use nightshift_core::Risk;
use nightshift_core::policy::{Policy, PolicyError};

const APPROVERS: &str = r#"
mode: approve
approver_groups:
  sre: [alice, bob, "slack:U024BE7LH"]
  payments-oncall: [carol, "teams:carol@example.com"]
approvers:
  - namespaces: [payments]
    groups: [payments-oncall]
    users: [dave]
  - namespaces: ["*"]
    cluster: true
    groups: [sre]
  - namespaces: [payments, billing]
    users: [erin]
min_approvers:
  high: 2
  medium: 1
"#;

/// The error names the file, the key and the line, and says `message`.
fn assert_error(text: &str, key: &str, message: &str, line: u64) {
    let err = Policy::parse(text, "policy.yaml").expect_err("expected an error");
    let shown = err.to_string();
    match &err {
        PolicyError::Invalid {
            key: k,
            line: l,
            message: m,
            ..
        } => {
            assert_eq!(k, key, "{shown}");
            assert!(m.contains(message), "{shown}");
            assert_eq!(*l, Some(line), "{shown}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(
        shown.starts_with(&format!("policy.yaml: {key}: ")),
        "{shown}"
    );
}

fn ids(p: &Policy, namespace: Option<&str>) -> Vec<String> {
    p.approvers_for(namespace)
        .map(|a| a.identities.into_iter().collect())
        .unwrap_or_default()
}

#[test]
fn groups_rules_and_counts_read_into_what_they_say() {
    let p = Policy::parse(APPROVERS, "policy.yaml").unwrap();
    assert_eq!(
        p.approvals.groups["sre"],
        ["alice", "bob", "slack:U024BE7LH"]
    );
    assert_eq!(p.approvals.rules.len(), 3);
    assert!(p.approvals.rules[1].cluster);
    assert_eq!(p.approvals.rules[1].namespaces, ["*"]);

    // A namespace named by rules: the identities of every rule naming it, groups expanded;
    // the `*` rule does not add to it.
    assert_eq!(
        ids(&p, Some("payments")),
        ["carol", "dave", "erin", "teams:carol@example.com"]
    );
    let payments = p.approvers_for(Some("payments")).unwrap();
    assert_eq!(payments.rules, ["approvers[0]", "approvers[2]"]);
    assert_eq!(ids(&p, Some("billing")), ["erin"]);
    // Any other namespace: the `*` rules; incidents with no namespace: the `cluster` rules.
    assert_eq!(ids(&p, Some("shop")), ["alice", "bob", "slack:U024BE7LH"]);
    assert_eq!(ids(&p, None), ["alice", "bob", "slack:U024BE7LH"]);

    assert!(p.may_answer("carol", Some("payments")));
    assert!(p.may_answer("teams:carol@example.com", Some("payments")));
    assert!(!p.may_answer("alice", Some("payments")));
    assert!(p.may_answer("slack:U024BE7LH", Some("shop")));
    assert!(
        !p.may_answer("slack:u024be7lh", Some("shop")),
        "exact match"
    );
    assert!(!p.may_answer("carol", None));

    assert_eq!(p.required_approvals(Some(Risk::High)), 2);
    assert_eq!(p.required_approvals(Some(Risk::Medium)), 1);
    assert_eq!(p.required_approvals(Some(Risk::Low)), 1);
    // A risk not known: as many as the most demanding class.
    assert_eq!(p.required_approvals(None), 2);
}

#[test]
fn without_rules_anyone_the_api_lets_answer_may_and_one_approval_is_enough() {
    for text in [
        "mode: approve\n",
        "approvers: []\n",
        "approvers:\nmin_approvers: {}\n",
    ] {
        let p = Policy::parse(text, "policy.yaml").unwrap();
        assert!(p.approvers_for(Some("shop")).is_none(), "{text}");
        assert!(p.approvers_for(None).is_none(), "{text}");
        assert!(p.may_answer("anyone", Some("shop")), "{text}");
        for risk in [Risk::Low, Risk::Medium, Risk::High] {
            assert_eq!(p.required_approvals(Some(risk)), 1, "{text}");
        }
        assert_eq!(p.required_approvals(None), 1, "{text}");
    }
    assert!(Policy::default().may_answer("anyone", None));
}

#[test]
fn namespaces_and_incidents_no_rule_covers_stay_open() {
    let p = Policy::parse(
        "approvers:\n  - {namespaces: [payments], users: [carol]}\n",
        "policy.yaml",
    )
    .unwrap();
    assert!(!p.may_answer("alice", Some("payments")));
    assert!(p.may_answer("alice", Some("shop")));
    assert!(p.may_answer("alice", None));
    let p = Policy::parse(
        "approvers:\n  - {cluster: true, users: [ops]}\n",
        "policy.yaml",
    )
    .unwrap();
    assert!(!p.may_answer("alice", None));
    assert!(p.may_answer("ops", None));
    assert!(p.may_answer("alice", Some("shop")));
}

#[test]
fn groups_may_be_written_after_the_rules_that_use_them() {
    let p = Policy::parse(
        "approvers:\n  - {namespaces: [shop], groups: [sre]}\napprover_groups:\n  sre: [alice]\n",
        "policy.yaml",
    )
    .unwrap();
    assert_eq!(ids(&p, Some("shop")), ["alice"]);
}

#[test]
fn mistakes_in_groups_are_errors_naming_the_key() {
    assert_error(
        "approver_groups:\n  SRE: [alice]\n",
        "approver_groups.SRE",
        "invalid group name \"SRE\"",
        2,
    );
    assert_error(
        "approver_groups:\n  sre: []\n",
        "approver_groups.sre",
        "the group has no members",
        2,
    );
    assert_error(
        "approver_groups:\n  sre: alice\n",
        "approver_groups.sre",
        "expected a list, found \"alice\"",
        2,
    );
    assert_error(
        "approver_groups:\n  sre: [alice, \" bob\"]\n",
        "approver_groups.sre[1]",
        "starts or ends with a space",
        2,
    );
    assert_error(
        "approver_groups:\n  sre: [alice, alice]\n",
        "approver_groups.sre[1]",
        "\"alice\" is listed twice",
        2,
    );
    assert_error(
        "approver_groups:\n  sre: [\"slack:\"]\n",
        "approver_groups.sre[0]",
        "empty part around ':'",
        2,
    );
    assert_error(
        "approver_groups:\n  sre: [alice, 7]\n",
        "approver_groups.sre[1]",
        "expected an identity such as alice",
        2,
    );
    assert_error(
        "approver_groups: [alice]\n",
        "approver_groups",
        "expected a mapping, found a list",
        1,
    );
}

#[test]
fn mistakes_in_rules_are_errors_naming_the_key() {
    assert_error(
        "approvers:\n  - {namespaces: [shop], user: [alice]}\n",
        "approvers[0].user",
        "unknown key \"user\"; expected one of: namespaces, cluster, users, groups",
        2,
    );
    assert_error(
        "approvers:\n  - {namespaces: [Shop], users: [alice]}\n",
        "approvers[0].namespaces[0]",
        "invalid namespace name \"Shop\"",
        2,
    );
    assert_error(
        "approvers:\n  - {namespaces: shop, users: [alice]}\n",
        "approvers[0].namespaces",
        "expected a list, found \"shop\"",
        2,
    );
    assert_error(
        "approver_groups:\n  sre: [alice]\napprovers:\n  - {namespaces: [shop], groups: [sre, dba]}\n",
        "approvers[0].groups[1]",
        "unknown group \"dba\"; approver_groups defines sre",
        4,
    );
    assert_error(
        "approvers:\n  - {namespaces: [shop], groups: [sre]}\n",
        "approvers[0].groups[0]",
        "unknown group \"sre\"; approver_groups defines none",
        2,
    );
    assert_error(
        "approvers:\n  - {users: [alice]}\n",
        "approvers[0]",
        "the rule covers nothing",
        2,
    );
    assert_error(
        "approvers:\n  - {namespaces: [], cluster: false, users: [alice]}\n",
        "approvers[0]",
        "the rule covers nothing",
        2,
    );
    assert_error(
        "approvers:\n  - {namespaces: [shop]}\n",
        "approvers[0]",
        "the rule names nobody; write users: [alice] or groups: [sre]",
        2,
    );
    assert_error(
        "approvers:\n  - {cluster: yes, users: [alice]}\n",
        "approvers[0].cluster",
        "expected true or false, found \"yes\"",
        2,
    );
    assert_error(
        "approvers:\n  - {namespaces: [shop, shop], users: [alice]}\n",
        "approvers[0].namespaces[1]",
        "\"shop\" is listed twice",
        2,
    );
    assert_error(
        "approvers:\n  - {namespaces: [shop], users: [\"al\\tice\"]}\n",
        "approvers[0].users[0]",
        "control character",
        2,
    );
    assert_error(
        "approvers:\n  - payments\n",
        "approvers[0]",
        "expected a rule such as {namespaces: [payments], groups: [sre]}",
        2,
    );
    assert_error(
        "approvers: {payments: [alice]}\n",
        "approvers",
        "expected a list, found a mapping",
        1,
    );
}

#[test]
fn mistakes_in_min_approvers_are_errors_naming_the_key() {
    assert_error(
        "min_approvers:\n  high: 0\n",
        "min_approvers.high",
        "must be 1 or more",
        2,
    );
    assert_error(
        "min_approvers:\n  critical: 2\n",
        "min_approvers.critical",
        "unknown key \"critical\"; expected one of: low, medium, high",
        2,
    );
    assert_error(
        "min_approvers:\n  high: two\n",
        "min_approvers.high",
        "expected a whole number, found \"two\"",
        2,
    );
    assert_error(
        "min_approvers:\n  high: 1.5\n",
        "min_approvers.high",
        "expected a whole number",
        2,
    );
    assert_error(
        "min_approvers:\n  high: -2\n",
        "min_approvers.high",
        "out of range",
        2,
    );
    assert_error(
        "min_approvers: 2\n",
        "min_approvers",
        "expected a mapping, found the number 2",
        1,
    );
}

#[test]
fn check_report_shows_the_rules_and_the_counts() {
    let p = Policy::parse(APPROVERS, "policy.yaml").unwrap();
    let report = p.check_report();
    for needle in [
        "approvers (where a rule applies, only the identities it lists answer):",
        "approvers[0] namespaces payments: carol, dave, teams:carol@example.com (users dave; groups payments-oncall)",
        "approvers[1] namespaces * (every namespace no rule names) and cluster-scoped incidents: alice, bob, slack:U024BE7LH (groups sre)",
        "approvers[2] namespaces payments, billing: erin (users erin)",
        "approver groups:",
        "  sre: alice, bob, slack:U024BE7LH",
        "min_approvers: low 1, medium 1, high 2",
        "min_approvers.high is 2 but only 1 identity may answer in namespace billing",
    ] {
        assert!(report.contains(needle), "missing {needle:?} in\n{report}");
    }
    assert!(
        !report.contains("namespaces no rule names: any identity"),
        "{report}"
    );

    let open = Policy::parse("mode: approve\n", "policy.yaml").unwrap();
    let report = open.check_report();
    assert!(
        report.contains("approvers: any identity with the approver or admin role"),
        "{report}"
    );
    assert!(
        report.contains("min_approvers: low 1, medium 1, high 1"),
        "{report}"
    );
    assert!(report.contains("warnings: none"), "{report}");

    let partial = Policy::parse(
        "approver_groups:\n  sre: [alice]\n  unused: [bob]\napprovers:\n  - {namespaces: [payments], groups: [sre]}\n",
        "policy.yaml",
    )
    .unwrap();
    let report = partial.check_report();
    for needle in [
        "namespaces no rule names: any identity with the approver or admin role",
        "incidents with no namespace (nodes): any identity with the approver or admin role",
        "approver group unused is used by no approvers rule",
    ] {
        assert!(report.contains(needle), "missing {needle:?} in\n{report}");
    }
}
