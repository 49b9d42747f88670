//! Who may answer an approval, and how many must agree before a plan runs.
//!
//! Identities are compared exactly as written: an API token's name (`alice`), a chat user
//! (`slack:U024BE7LH`, `teams:someone@example.com`), or the name given to `nightshift approve
//! --as`. Without rules, any identity the API lets answer (the approver and admin roles, within
//! its token's namespaces) may; a namespace a rule covers is answered only by the identities
//! its rules list.

use std::collections::{BTreeMap, BTreeSet};

use crate::decision::Risk;

use super::Policy;

/// Written in a rule's `namespaces` to cover every namespace no rule names.
pub const ANY_NAMESPACE: &str = "*";

/// One `approvers:` rule: where it applies and whom it lets answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApproverRule {
    /// Namespaces it covers; `*` covers every namespace that no rule names.
    pub namespaces: Vec<String>,
    /// Whether it covers incidents with no namespace (nodes, alert storms, external
    /// dependencies).
    pub cluster: bool,
    /// Identities it lets answer.
    pub users: Vec<String>,
    /// Groups (of [`ApprovalRules::groups`]) whose members it lets answer.
    pub groups: Vec<String>,
}

impl ApproverRule {
    /// Where the rule applies, in words: `namespaces payments, shop and cluster-scoped
    /// incidents`.
    pub fn describe_scope(&self) -> String {
        let mut parts = Vec::new();
        if !self.namespaces.is_empty() {
            let names: Vec<&str> = self
                .namespaces
                .iter()
                .map(|n| {
                    if n == ANY_NAMESPACE {
                        "* (every namespace no rule names)"
                    } else {
                        n.as_str()
                    }
                })
                .collect();
            parts.push(format!("namespaces {}", names.join(", ")));
        }
        if self.cluster {
            parts.push("cluster-scoped incidents".to_string());
        }
        parts.join(" and ")
    }
}

/// The approval settings of a policy: groups, rules and the votes each risk class needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApprovalRules {
    /// Named groups of identities (`approver_groups`).
    pub groups: BTreeMap<String, Vec<String>>,
    /// The rules (`approvers`), in file order. Empty: no restriction beyond the API's roles.
    pub rules: Vec<ApproverRule>,
    /// Distinct approvals a plan of each risk class needs (`min_approvers`); a class left out
    /// needs one.
    pub min_approvers: BTreeMap<Risk, u32>,
}

/// The identities allowed to answer in one place, and the rules that allowed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approvers {
    /// Every identity the covering rules list, groups expanded.
    pub identities: BTreeSet<String>,
    /// The covering rules, as `approvers[0]`, for messages.
    pub rules: Vec<String>,
}

impl Approvers {
    /// Whether `who` is among them.
    pub fn contains(&self, who: &str) -> bool {
        self.identities.contains(who)
    }
}

impl ApprovalRules {
    /// The identities a rule lets answer, groups expanded.
    pub fn members(&self, rule: &ApproverRule) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = rule.users.iter().cloned().collect();
        for group in &rule.groups {
            if let Some(members) = self.groups.get(group) {
                out.extend(members.iter().cloned());
            }
        }
        out
    }

    /// Who may answer approvals of an incident in `namespace` (`None`: an incident with no
    /// namespace, such as a node). `None` when no rule covers it: then any identity the API
    /// lets answer may.
    ///
    /// A namespace named by rules is answered by the identities of those rules; one that no
    /// rule names, by those of the `*` rules; an incident with no namespace, by those of the
    /// `cluster: true` rules.
    pub fn approvers_for(&self, namespace: Option<&str>) -> Option<Approvers> {
        let covering: Vec<(usize, &ApproverRule)> = match namespace {
            None => self
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.cluster)
                .collect(),
            Some(ns) => {
                let named: Vec<_> = self
                    .rules
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.namespaces.iter().any(|n| n == ns))
                    .collect();
                if named.is_empty() {
                    self.rules
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.namespaces.iter().any(|n| n == ANY_NAMESPACE))
                        .collect()
                } else {
                    named
                }
            }
        };
        if covering.is_empty() {
            return None;
        }
        let mut identities = BTreeSet::new();
        let mut rules = Vec::new();
        for (i, rule) in covering {
            identities.extend(self.members(rule));
            rules.push(format!("approvers[{i}]"));
        }
        Some(Approvers { identities, rules })
    }

    /// Distinct approvals a plan of `risk` needs; an unknown risk needs as many as the most
    /// demanding class, since not knowing is no reason to be bolder.
    pub fn required(&self, risk: Option<Risk>) -> u32 {
        match risk {
            Some(risk) => self.min_approvers.get(&risk).copied().unwrap_or(1).max(1),
            None => self
                .min_approvers
                .values()
                .copied()
                .max()
                .unwrap_or(1)
                .max(1),
        }
    }
}

impl Policy {
    /// Who may answer approvals of an incident in `namespace` (`None` for one with no
    /// namespace); `None` when no `approvers` rule covers it. See
    /// [`ApprovalRules::approvers_for`].
    pub fn approvers_for(&self, namespace: Option<&str>) -> Option<Approvers> {
        self.approvals.approvers_for(namespace)
    }

    /// Whether `who` may answer approvals of an incident in `namespace` as far as the policy
    /// is concerned (the API's roles and token namespaces are checked besides).
    pub fn may_answer(&self, who: &str, namespace: Option<&str>) -> bool {
        self.approvers_for(namespace)
            .is_none_or(|approvers| approvers.contains(who))
    }

    /// Distinct approvals a plan of `risk` needs before it runs (`None`: the risk is not
    /// known; the most any class needs).
    pub fn required_approvals(&self, risk: Option<Risk>) -> u32 {
        self.approvals.required(risk)
    }
}
