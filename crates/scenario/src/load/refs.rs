//! The short reference strings of scenario files: targets, dependencies, config objects and
//! action entries, plus the name rules Kubernetes applies.

use crate::catalogue::{ActionMatcher, ActionPattern};
use crate::model::{ConfigKind, ConfigRef, Dependency, LocalConfigRef, Target};

/// `checkout-oom-undersized`: lowercase words of letters and digits joined by single dashes.
pub fn check_kebab_case(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not kebab-case; use lowercase letters and digits joined by single dashes, \
             e.g. `checkout-oom-undersized`"
        ))
    }
}

/// A DNS-1123 label, as Kubernetes requires of namespaces, workload names and Services.
pub fn check_dns_label(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} `{name}`: Kubernetes needs at most 63 lowercase letters, digits and \
             dashes, starting and ending with a letter or digit"
        ))
    }
}

/// A DNS-1123 subdomain, as Kubernetes requires of node, ConfigMap and Secret names.
pub fn check_dns_subdomain(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} `{name}`: Kubernetes needs lowercase letters, digits, dashes and dots, \
             starting and ending with a letter or digit"
        ))
    }
}

/// `host:port` of an external dependency.
pub fn parse_host_port(text: &str) -> Result<(String, u16), String> {
    let bad = || {
        format!(
            "invalid external address `{text}`; expected `<host>:<port>`, e.g. `payments.example.com:443`"
        )
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        && !host.starts_with(['.', '-'])
        && !host.ends_with(['.', '-']);
    let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
    if !host_ok {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// A fault target or `expect.locate`: `namespace/workload`, `node/<name>` or
/// `external/<host:port>`.
pub fn parse_target(text: &str) -> Result<Target, String> {
    let bad = || {
        format!(
            "invalid target `{text}`; expected `<namespace>/<workload>`, `node/<name>` or \
             `external/<host:port>`"
        )
    };
    let (head, tail) = text.split_once('/').ok_or_else(bad)?;
    match head {
        "node" => {
            check_dns_subdomain("node name", tail)?;
            Ok(Target::Node(tail.to_string()))
        }
        "external" => {
            let (host, port) = parse_host_port(tail)?;
            Ok(Target::External { host, port })
        }
        namespace => {
            if tail.contains('/') {
                return Err(bad());
            }
            check_dns_label("namespace", namespace).map_err(|e| format!("{e}; {}", bad()))?;
            check_dns_label("workload name", tail)?;
            Ok(Target::Workload {
                namespace: namespace.to_string(),
                name: tail.to_string(),
            })
        }
    }
}

/// An entry of `depends_on`: `namespace/workload` or `external/<host:port>`.
pub fn parse_dependency(text: &str) -> Result<Dependency, String> {
    let bad = || {
        format!(
            "invalid dependency `{text}`; expected `<namespace>/<workload>` or `external/<host:port>`"
        )
    };
    match parse_target(text) {
        Ok(Target::Workload { namespace, name }) => Ok(Dependency::InCluster { namespace, name }),
        Ok(Target::External { host, port }) => Ok(Dependency::External { host, port }),
        Ok(Target::Node(_)) => Err(bad()),
        Err(e) if text.starts_with("external/") => Err(e),
        Err(_) => Err(bad()),
    }
}

fn parse_config_kind(kind: &str) -> Option<ConfigKind> {
    match kind {
        "secret" => Some(ConfigKind::Secret),
        "configmap" => Some(ConfigKind::ConfigMap),
        _ => None,
    }
}

/// An entry of `cluster.configs`: `secret/<namespace>/<name>` or `configmap/<namespace>/<name>`.
pub fn parse_config_ref(text: &str) -> Result<ConfigRef, String> {
    let bad = || {
        format!(
            "invalid config object `{text}`; expected `secret/<namespace>/<name>` or `configmap/<namespace>/<name>`"
        )
    };
    let mut parts = text.split('/');
    let (Some(kind), Some(namespace), Some(name), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let kind = parse_config_kind(kind).ok_or_else(bad)?;
    check_dns_label("namespace", namespace)?;
    check_dns_subdomain("object name", name)?;
    Ok(ConfigRef {
        kind,
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}

/// A same-namespace reference in `env_from` or a `missing-config` fault: `secret/<name>` or
/// `configmap/<name>`.
pub fn parse_local_config_ref(text: &str) -> Result<LocalConfigRef, String> {
    let bad = || {
        format!(
            "invalid reference `{text}`; expected `secret/<name>` or `configmap/<name>` in the workload's namespace"
        )
    };
    let (kind, name) = text.split_once('/').ok_or_else(bad)?;
    let kind = parse_config_kind(kind).ok_or_else(bad)?;
    if name.contains('/') {
        return Err(bad());
    }
    check_dns_subdomain("object name", name)?;
    Ok(LocalConfigRef {
        kind,
        name: name.to_string(),
    })
}

/// An entry of `expect.actions`: `<action>[@<namespace>/<name> | @node/<name>]`.
pub fn parse_action_matcher(text: &str) -> Result<ActionMatcher, String> {
    let (pattern, target) = match text.split_once('@') {
        Some((pattern, target)) => (pattern, Some(target)),
        None => (text, None),
    };
    let pattern: ActionPattern = pattern.trim().parse()?;
    let target = match target {
        None => None,
        Some(target) => match parse_target(target)? {
            Target::External { .. } => {
                return Err(format!(
                    "`{text}`: actions act on workloads and nodes, not on external hosts; \
                     write `@<namespace>/<name>` or `@node/<name>`"
                ));
            }
            target => Some(target),
        },
    };
    Ok(ActionMatcher { pattern, target })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::ActionName;

    #[test]
    fn targets_of_every_kind_parse() {
        assert_eq!(
            parse_target("shop/checkout"),
            Ok(Target::Workload {
                namespace: "shop".into(),
                name: "checkout".into()
            })
        );
        assert_eq!(
            parse_target("node/node-a"),
            Ok(Target::Node("node-a".into()))
        );
        assert_eq!(
            parse_target("external/payments.example.com:443"),
            Ok(Target::External {
                host: "payments.example.com".into(),
                port: 443
            })
        );
        for bad in [
            "checkout",
            "shop/checkout/x",
            "external/host",
            "external/:443",
            "Shop/x",
            "node/",
            "shop/",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dependencies_are_workloads_or_external() {
        assert!(matches!(
            parse_dependency("shop/db"),
            Ok(Dependency::InCluster { .. })
        ));
        assert!(matches!(
            parse_dependency("external/a.b:5432"),
            Ok(Dependency::External { port: 5432, .. })
        ));
        assert!(parse_dependency("node/x").is_err());
        assert!(parse_dependency("external/a.b:99999").is_err());
    }

    #[test]
    fn config_refs_parse() {
        assert_eq!(
            parse_config_ref("secret/shop/db"),
            Ok(ConfigRef {
                kind: ConfigKind::Secret,
                namespace: "shop".into(),
                name: "db".into()
            })
        );
        assert!(parse_config_ref("configmap/shop").is_err());
        assert!(parse_config_ref("cm/shop/x").is_err());
        assert_eq!(
            parse_local_config_ref("configmap/flags"),
            Ok(LocalConfigRef {
                kind: ConfigKind::ConfigMap,
                name: "flags".into()
            })
        );
        assert!(parse_local_config_ref("secret/shop/db").is_err());
    }

    #[test]
    fn action_entries_parse_with_and_without_target() {
        let m = parse_action_matcher("rollback").unwrap();
        assert_eq!(m.pattern, ActionPattern::Action(ActionName::Rollback));
        assert_eq!(m.target, None);
        let m = parse_action_matcher("drain-node@node/node-a").unwrap();
        assert_eq!(m.target, Some(Target::Node("node-a".into())));
        let m = parse_action_matcher("raise-memory-limit@shop/checkout").unwrap();
        assert_eq!(m.pattern, ActionPattern::RaiseMemoryLimit);
        assert!(parse_action_matcher("reboot").is_err());
        assert!(
            parse_action_matcher("rollback@external/a:1")
                .unwrap_err()
                .contains("not on external hosts")
        );
    }

    #[test]
    fn names_follow_kubernetes_rules() {
        assert!(check_kebab_case("crash-checkout-bug").is_ok());
        for bad in ["Crash", "crash_x", "-x", "x-", "a--b", ""] {
            assert!(check_kebab_case(bad).is_err(), "{bad}");
        }
        assert!(check_dns_label("namespace", "shop-1").is_ok());
        assert!(check_dns_label("namespace", "a.b").is_err());
        assert!(check_dns_subdomain("node name", "ip-10-0-0-1.ec2.internal").is_ok());
    }
}
