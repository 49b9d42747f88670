//! Text signatures shared by the rule families: log lines, event messages and container
//! messages, matched with regexes compiled once.

use std::sync::LazyLock;

use regex::Regex;

fn compile(pattern: &str) -> Regex {
    // The patterns are constants of this file; `signatures_compile` in the tests below
    // exercises every one of them.
    Regex::new(pattern).expect("a constant rule pattern compiles")
}

static LEADING_TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"^\s*\[?\d{4}-\d{2}-\d{2}[T ][0-9:.,]+(?:Z|[+-]\d{2}:?\d{2})?\]?\s*")
});

static HOST_PORT: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(?:^|[^a-z0-9.\-])((?:\d{1,3}\.){3}\d{1,3}|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*):([1-9]\d{0,4})\b",
    )
});

static CONNECTION_ERROR: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(connection refused|connection reset|connection timed out|i/o timeout|dial tcp|no route to host|network is unreachable|could not connect|couldn't connect|unable to connect|failed to connect|econnrefused|etimedout|ehostunreach|upstream connect error|no healthy upstream|circuit breaker\b.{0,60}\bopen|deadline exceeded|timed out|timeout)",
    )
});

static CRASH: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(panic:|\bFATAL\b|(?i:\bfatal error\b)|Traceback \(most recent call last\)|\b[A-Z][A-Za-z]*(?:Exception|Error)\b:|Exception in thread|(?i:segmentation (?:fault|violation))|SIGSEGV|SIGABRT|(?i:core dumped)|(?i:unhandled exception)|(?i:uncaught exception)|(?i:stack trace))",
    )
});

static OOM: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(out of memory|outofmemoryerror|oomkilled|cannot allocate memory|memory limit exceeded|java heap space)",
    )
});

static AUTH_FAILURE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(\b(?:status|code)[=: ]+40[13]\b|\b40[13] (?:unauthorized|forbidden)\b|unauthori[sz]ed|permission denied|authentication failed|access denied|invalid credentials|invalid (?:api )?token|password authentication failed)",
    )
});

static HTTP_5XX: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r#"(?i)(\b(?:status|code|http_status|status_code)[=: "]+5\d\d\b|\b5\d\d (?:internal server error|bad gateway|service unavailable|gateway timeout)\b|" 5\d\d )"#,
    )
});

static ERROR_LEVEL: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?i)(^\[?(?:error|fatal|critical|severe|err)\]?[\s:]|\blevel=(?:error|fatal)\b)")
});

static MISSING_REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| compile(r#"(?i)\b(secret|configmap)s?\s+"([^"]+)"\s+not found"#));

static MISSING_KEY: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)couldn't find key \S+ in (secret|configmap) [\w.-]+/([\w.-]+)"));

static IMAGE_NOT_FOUND: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(not found|manifest unknown|notfound|name unknown|repository does not exist|no such image)",
    )
});

static IMAGE_DENIED: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(pull access denied|unauthorized|authentication required|denied:|403 forbidden|insufficient_scope)",
    )
});

static IMAGE_NETWORK: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(i/o timeout|connection refused|no such host|tls handshake timeout|toomanyrequests|rate limit|request canceled|dial tcp)",
    )
});

static INSUFFICIENT: LazyLock<Regex> = LazyLock::new(|| compile(r"Insufficient ([\w./-]+)"));

static SELECTOR_MISMATCH: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?i)didn't match (?:pod's )?node (?:affinity/selector|affinity|selector)")
});

static UNTOLERATED_TAINT: LazyLock<Regex> =
    LazyLock::new(|| compile(r"untolerated taints?\(?s?\)?\s*\{([^}:]+)"));

static STORAGE_EVICTION: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?i)(ephemeral-storage|low on resource|disk ?pressure|nodefs|imagefs)")
});

static LIVENESS_FAILED: LazyLock<Regex> = LazyLock::new(|| compile(r"(?i)liveness probe failed"));

static READINESS_FAILED: LazyLock<Regex> = LazyLock::new(|| compile(r"(?i)readiness probe failed"));

static PROBE_TIMEOUT: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)(context deadline exceeded|timeout|timed out)"));

static LIVENESS_KILL: LazyLock<Regex> = LazyLock::new(|| compile(r"(?i)failed liveness probe"));

static SCALED_TO_ZERO: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?i)scaled down replica set (\S+) (?:to 0(?: from (\d+))?|from (\d+) to 0\b)")
});

static HANG_HINT: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(deadlock|waiting for|not acknowledged|stuck|blocked on|pool exhausted|\bhung\b|no progress)",
    )
});

/// Words that look like `host:port` in logs but are not hosts (`status:500`).
const NOT_HOSTS: &[&str] = &[
    "status", "code", "error", "line", "port", "time", "duration", "http", "https", "tcp", "udp",
    "addr", "pid", "attempt", "retry", "exit",
];

/// Removes a leading RFC 3339 timestamp (`kubectl logs --timestamps`), so its `10:03`
/// is not read as a host and port.
pub(crate) fn strip_timestamp(line: &str) -> &str {
    match LEADING_TIMESTAMP.find(line) {
        Some(m) => &line[m.end()..],
        None => line,
    }
}

/// The `host:port` a line reports a connection failure to, lowercased.
pub(crate) fn connection_failure_target(line: &str) -> Option<String> {
    let line = strip_timestamp(line);
    if !CONNECTION_ERROR.is_match(line) {
        return None;
    }
    HOST_PORT.captures_iter(line).find_map(|c| {
        let host = c.get(1)?.as_str().to_ascii_lowercase();
        let port = c.get(2)?.as_str();
        let is_ipv4 =
            host.split('.').count() == 4 && host.split('.').all(|p| p.parse::<u8>().is_ok());
        let plausible = is_ipv4
            || (host.chars().any(|ch| ch.is_ascii_alphabetic())
                && !NOT_HOSTS.contains(&host.as_str())
                && !host.starts_with("0x"));
        let port_ok = port.parse::<u32>().is_ok_and(|p| p <= 65_535);
        (plausible && port_ok).then(|| format!("{host}:{port}"))
    })
}

/// A crash signature: panic, FATAL, a stack trace, an uncaught exception, a segfault.
pub(crate) fn is_crash(line: &str) -> bool {
    CRASH.is_match(strip_timestamp(line))
}

/// An out-of-memory signature in a log line or message.
pub(crate) fn is_oom(text: &str) -> bool {
    OOM.is_match(text)
}

/// An authentication or authorization failure (401, 403, permission denied, ...).
pub(crate) fn is_auth_failure(line: &str) -> bool {
    AUTH_FAILURE.is_match(line)
}

/// A request answered with a 5xx status.
pub(crate) fn is_5xx(line: &str) -> bool {
    HTTP_5XX.is_match(line)
}

/// A line logged at error level (or worse).
pub(crate) fn is_error_level(line: &str) -> bool {
    ERROR_LEVEL.is_match(strip_timestamp(line))
}

/// A missing ConfigMap or Secret named in a kubelet message: `("secret", "checkout-tls")`.
pub(crate) fn missing_reference(text: &str) -> Option<(String, String)> {
    let c = MISSING_REFERENCE
        .captures(text)
        .or_else(|| MISSING_KEY.captures(text))?;
    let kind = c.get(1)?.as_str().to_ascii_lowercase();
    let name = c.get(2)?.as_str().to_string();
    Some((kind, name))
}

/// Why an image cannot be pulled, as far as the message tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PullFailure {
    /// The registry does not have the image or tag.
    NotFound,
    /// The registry refuses the credentials.
    Denied,
    /// The registry could not be reached.
    Network,
    /// The message does not say.
    Unknown,
}

impl PullFailure {
    /// Classifies a pull error message.
    pub(crate) fn of(text: &str) -> PullFailure {
        if IMAGE_DENIED.is_match(text) {
            PullFailure::Denied
        } else if IMAGE_NETWORK.is_match(text) {
            PullFailure::Network
        } else if IMAGE_NOT_FOUND.is_match(text) {
            PullFailure::NotFound
        } else {
            PullFailure::Unknown
        }
    }

    /// Words for a summary.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            PullFailure::NotFound => "not found in the registry",
            PullFailure::Denied => "pull access denied",
            PullFailure::Network => "registry unreachable",
            PullFailure::Unknown => "cannot be pulled",
        }
    }
}

/// What a FailedScheduling message says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SchedulingReasons {
    /// Resources nodes lack (`cpu`, `memory`, `nvidia.com/gpu`).
    pub insufficient: Vec<String>,
    /// Nodes did not match the node selector or affinity.
    pub selector: bool,
    /// Taints the pod does not tolerate (keys).
    pub taints: Vec<String>,
}

impl SchedulingReasons {
    /// Parses a scheduler message (`0/3 nodes are available: 3 Insufficient cpu. ...`).
    pub(crate) fn parse(text: &str) -> SchedulingReasons {
        let mut reasons = SchedulingReasons::default();
        for c in INSUFFICIENT.captures_iter(text) {
            if let Some(r) = c.get(1) {
                let r = r.as_str().trim_end_matches(['.', ',']).to_string();
                if !reasons.insufficient.contains(&r) {
                    reasons.insufficient.push(r);
                }
            }
        }
        reasons.selector = SELECTOR_MISMATCH.is_match(text);
        for c in UNTOLERATED_TAINT.captures_iter(text) {
            if let Some(t) = c.get(1) {
                let t = t.as_str().trim().to_string();
                if !reasons.taints.contains(&t) {
                    reasons.taints.push(t);
                }
            }
        }
        reasons
    }

    /// Whether anything was recognised.
    pub(crate) fn any(&self) -> bool {
        !self.insufficient.is_empty() || self.selector || !self.taints.is_empty()
    }

    /// Merges another message's reasons.
    pub(crate) fn merge(&mut self, other: SchedulingReasons) {
        for r in other.insufficient {
            if !self.insufficient.contains(&r) {
                self.insufficient.push(r);
            }
        }
        self.selector |= other.selector;
        for t in other.taints {
            if !self.taints.contains(&t) {
                self.taints.push(t);
            }
        }
    }

    /// Only taints that nodes get from their own conditions (`node.kubernetes.io/...`):
    /// a node problem, not a template problem.
    pub(crate) fn only_node_condition_taints(&self) -> bool {
        self.insufficient.is_empty()
            && !self.selector
            && !self.taints.is_empty()
            && self
                .taints
                .iter()
                .all(|t| t.starts_with("node.kubernetes.io/"))
    }

    /// Words for a summary.
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        for r in &self.insufficient {
            parts.push(format!("insufficient {r}"));
        }
        if self.selector {
            parts.push("no node matches the node selector/affinity".to_string());
        }
        for t in &self.taints {
            parts.push(format!("untolerated taint {t}"));
        }
        if parts.is_empty() {
            "fits on no node".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// An eviction or condition message about ephemeral storage or disk pressure.
pub(crate) fn is_storage_pressure(text: &str) -> bool {
    STORAGE_EVICTION.is_match(text)
}

/// `Liveness probe failed: ...`.
pub(crate) fn is_liveness_failure(text: &str) -> bool {
    LIVENESS_FAILED.is_match(text)
}

/// `Readiness probe failed: ...`.
pub(crate) fn is_readiness_failure(text: &str) -> bool {
    READINESS_FAILED.is_match(text)
}

/// A probe failure because the endpoint did not answer in time.
pub(crate) fn is_probe_timeout(text: &str) -> bool {
    PROBE_TIMEOUT.is_match(text)
}

/// `Container x failed liveness probe, will be restarted`.
pub(crate) fn is_liveness_kill(text: &str) -> bool {
    LIVENESS_KILL.is_match(text)
}

/// `Scaled down replica set cart-7d9f from 3 to 0` (or, before Kubernetes 1.30, `... to 0
/// from 3`): the replica set and the count before.
pub(crate) fn scaled_to_zero(text: &str) -> Option<(String, Option<i32>)> {
    let c = SCALED_TO_ZERO.captures(text)?;
    let rs = c.get(1)?.as_str().to_string();
    let from = c
        .get(2)
        .or_else(|| c.get(3))
        .and_then(|m| m.as_str().parse().ok());
    Some((rs, from))
}

/// A line that suggests a process is stuck rather than failing.
pub(crate) fn is_hang_hint(line: &str) -> bool {
    HANG_HINT.is_match(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_compile() {
        for re in [
            &LEADING_TIMESTAMP,
            &HOST_PORT,
            &CONNECTION_ERROR,
            &CRASH,
            &OOM,
            &AUTH_FAILURE,
            &HTTP_5XX,
            &ERROR_LEVEL,
            &MISSING_REFERENCE,
            &MISSING_KEY,
            &IMAGE_NOT_FOUND,
            &IMAGE_DENIED,
            &IMAGE_NETWORK,
            &INSUFFICIENT,
            &SELECTOR_MISMATCH,
            &UNTOLERATED_TAINT,
            &STORAGE_EVICTION,
            &LIVENESS_FAILED,
            &READINESS_FAILED,
            &PROBE_TIMEOUT,
            &LIVENESS_KILL,
            &SCALED_TO_ZERO,
            &HANG_HINT,
        ] {
            let _ = re.is_match("");
        }
    }

    #[test]
    fn connection_failures_name_their_target() {
        assert_eq!(
            connection_failure_target(
                "ERROR db query failed: dial tcp postgres.shop.svc.cluster.local:80: connect: connection refused"
            )
            .as_deref(),
            Some("postgres.shop.svc.cluster.local:80")
        );
        assert_eq!(
            connection_failure_target(
                r#"ERROR POST /v1/charges status=502 error="Post https://api.card-processor.example.com:443/v2/authorize: dial tcp: i/o timeout""#
            )
            .as_deref(),
            Some("api.card-processor.example.com:443")
        );
        assert_eq!(
            connection_failure_target(
                "2024-05-01T10:03:22.123Z ERROR dial tcp 10.0.0.5:5432: connect: connection refused"
            )
            .as_deref(),
            Some("10.0.0.5:5432")
        );
        assert_eq!(connection_failure_target("INFO GET / status=200"), None);
        assert_eq!(
            connection_failure_target("WARN request timed out status:500"),
            None
        );
    }

    #[test]
    fn crash_lines() {
        assert!(is_crash(
            "panic: runtime error: invalid memory address or nil pointer dereference"
        ));
        assert!(is_crash("FATAL schema check failed"));
        assert!(is_crash("Traceback (most recent call last):"));
        assert!(is_crash("java.lang.IllegalStateException: boom"));
        assert!(!is_crash("ERROR POST /v1/charges status=500"));
        assert!(!is_crash("INFO fatalistic view"));
    }

    #[test]
    fn kubelet_messages() {
        assert_eq!(
            missing_reference("Error: secret \"checkout-tls\" not found"),
            Some(("secret".into(), "checkout-tls".into()))
        );
        assert_eq!(
            missing_reference("configmap \"flags\" not found"),
            Some(("configmap".into(), "flags".into()))
        );
        assert_eq!(
            PullFailure::of("failed to resolve reference \"x:1\": x:1: not found"),
            PullFailure::NotFound
        );
        assert_eq!(
            PullFailure::of("pull access denied for x, repository does not exist"),
            PullFailure::Denied
        );
        let r = SchedulingReasons::parse(
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector.",
        );
        assert_eq!(r.insufficient, vec!["cpu".to_string()]);
        assert!(r.selector);
        let t = SchedulingReasons::parse(
            "0/2 nodes are available: 2 node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }.",
        );
        assert!(t.only_node_condition_taints());
        assert_eq!(
            scaled_to_zero("Scaled down replica set cart-7d9f to 0 from 3"),
            Some(("cart-7d9f".into(), Some(3)))
        );
        assert_eq!(
            scaled_to_zero("Scaled down replica set cart-7d9f from 3 to 0"),
            Some(("cart-7d9f".into(), Some(3)))
        );
        assert_eq!(
            scaled_to_zero("Scaled down replica set cart-7d9f from 3 to 1"),
            None
        );
        assert!(is_auth_failure("ERROR upstream answered status=401"));
        assert!(is_5xx("ERROR POST /v1/charges status=500 duration_ms=40"));
        assert!(is_error_level("ERROR POST /v1/charges"));
        assert!(is_error_level("2024-05-01T10:00:00Z ERROR x"));
        assert!(!is_error_level("INFO no errors here"));
    }
}
