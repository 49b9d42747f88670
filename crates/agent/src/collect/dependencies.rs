//! Dependencies named in logs: `host:port` next to an error, and the in-cluster Service a
//! host names.

use std::collections::BTreeMap;

use regex::Regex;

/// `host:port` mentioned next to an error in a log line.
pub(super) fn dependency_regex() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)(?:refused|timed? ?out|timeout|unavailable|unreachable|reset|no route|failed|error|deadline)[^\n]*?\b([a-z0-9][a-z0-9.-]*[a-z0-9]:[0-9]{2,5})\b|\b([a-z0-9][a-z0-9.-]*[a-z0-9]:[0-9]{2,5})\b[^\n]*?(?:refused|timed? ?out|timeout|unavailable|unreachable|reset|no route|deadline)")
            .expect("valid")
    })
}

/// Hosts that log lines blame, with how many lines name each.
pub fn blamed_hosts(lines: &[String]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for l in lines {
        for c in dependency_regex().captures_iter(l) {
            if let Some(m) = c.get(1).or_else(|| c.get(2)) {
                *out.entry(m.as_str().to_lowercase()).or_default() += 1;
            }
        }
    }
    out
}

/// The in-cluster Service a host names (`name`, `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local`).
pub fn service_of_host(host_port: &str, default_ns: &str) -> Option<(String, String)> {
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    let parts: Vec<&str> = host.split('.').collect();
    match parts.as_slice() {
        [name] => Some((default_ns.to_string(), name.to_string())),
        [name, ns] => Some((ns.to_string(), name.to_string())),
        [name, ns, "svc", ..] => Some((ns.to_string(), name.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blamed_hosts() {
        let lines = vec![
            "ERROR request failed: dial tcp postgres.shop.svc.cluster.local:80: connect: connection refused".to_string(),
            "WARN retrying call to payments.example.com:443 (attempt 2/5): context deadline exceeded".to_string(),
            "INFO GET /api/cart status=200".to_string(),
        ];
        let h = blamed_hosts(&lines);
        assert_eq!(h.get("postgres.shop.svc.cluster.local:80"), Some(&1));
        assert_eq!(h.get("payments.example.com:443"), Some(&1));
        assert_eq!(h.len(), 2);
        assert_eq!(
            service_of_host("postgres.shop.svc.cluster.local:80", "x"),
            Some(("shop".into(), "postgres".into()))
        );
        assert_eq!(
            service_of_host("redis:6379", "shop"),
            Some(("shop".into(), "redis".into()))
        );
        assert_eq!(service_of_host("payments.example.com:443", "shop"), None);
    }
}
