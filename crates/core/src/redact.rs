//! Secrets redaction, applied to every piece of text before it is stored or leaves the process:
//! bearer tokens, JWTs, API keys, passwords in URLs and connection strings, private keys,
//! cloud credentials (AWS, Google, Azure), and `key=value` pairs whose key says secret.
//!
//! The collector redacts what it gathers; the model analyzer redacts everything again before
//! a request leaves the process, so text that reaches it by another path is covered too.

use std::sync::OnceLock;

use regex::Regex;

/// What replaces a secret.
pub const MASK: &str = "[REDACTED]";

struct Rule {
    re: Regex,
    replace: &'static str,
}

fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let r = |p: &str, replace: &'static str| Rule { re: Regex::new(p).expect("redaction patterns are valid"), replace };
        vec![
            // PEM private keys, whole block.
            r(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----", "[REDACTED PRIVATE KEY]"),
            // JWTs.
            r(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b", MASK),
            // Authorization headers and bearer tokens.
            r(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", "$1 [REDACTED]"),
            // Credentials in URLs: scheme://user:password@host, and scheme://:password@host.
            r(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*):[^\s@/]+@", "$1:[REDACTED]@"),
            // AWS access key ids and secret keys.
            r(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b", MASK),
            r(r#"(?i)(aws_secret_access_key|aws_session_token)\s*[=:]\s*["']?[A-Za-z0-9/+=]{16,}["']?"#, "$1=[REDACTED]"),
            // Well-known token shapes: GitHub, Slack, OpenAI/Anthropic-style keys, Google API keys.
            r(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abpors]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{16,}|[rs]k_(?:live|test)_[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z_-]{20,}|glpat-[0-9A-Za-z_-]{20,})\b", MASK),
            // Azure storage and Service Bus connection strings, SAS signatures.
            r(r"(?i)\b(AccountKey|SharedAccessKey|sig)=[A-Za-z0-9%/+=]{16,}", "$1=[REDACTED]"),
            // key=value / key: value / "key": "value" where the key names a secret.
            r(
                r#"(?i)("?[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?)[\w.-]*"?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&"']+)"#,
                "${1}[REDACTED]",
            ),
            // Connection-string fields.
            r(r"(?i)\b(pwd|password)=([^;\s]+)", "$1=[REDACTED]"),
        ]
    })
}

/// `text` with every secret masked.
pub fn redact(text: &str) -> String {
    let mut out = std::borrow::Cow::Borrowed(text);
    for rule in rules() {
        if rule.re.is_match(&out) {
            out = std::borrow::Cow::Owned(rule.re.replace_all(&out, rule.replace).into_owned());
        }
    }
    out.into_owned()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn masks_every_kind() {
        let cases = [
            (
                "Authorization: Bearer abcdefghijklmnop12345",
                "abcdefghijklmnop12345",
            ),
            (
                "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "eyJhbGciOiJIUzI1NiJ9",
            ),
            (
                "dial postgres://app:hunter2secret@db.shop:5432/orders",
                "hunter2secret",
            ),
            ("Server=db;User Id=sa;Password=S3cr3t!;", "S3cr3t!"),
            (
                "api_key=sk-live-0123456789abcdef0123",
                "sk-live-0123456789abcdef0123",
            ),
            ("AWS AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "wJalrXUtnFEMI",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
                "MIIEpAIBAAKCAQEA",
            ),
            (r#"{"client_secret": "abc123def456"}"#, "abc123def456"),
            ("slack xoxb-123456789012-abcdefghij", "xoxb-123456789012"),
            ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghij"),
            ("redis://:r3d1sPassw0rd@cache.shop:6379/0", "r3d1sPassw0rd"),
            (
                "DefaultEndpointsProtocol=https;AccountName=shop;AccountKey=Zm9vYmFyYmF6cXV4cXV1eA0123456789abcdef==;",
                "Zm9vYmFyYmF6cXV4cXV1eA",
            ),
            (
                "charge with sk_live_4eC39HqLyjWDarjtT1zdp7dc",
                "4eC39HqLyjWDarjtT1zdp7dc",
            ),
            (
                "google ya29.a0AfH6SMBx3kYJ8abcdefghijklmnop token",
                "a0AfH6SMBx3kYJ8abcdefghijklmnop",
            ),
        ];
        for (text, secret) in cases {
            let out = redact(text);
            assert!(!out.contains(secret), "{text:?} -> {out:?}");
            assert!(out.contains("REDACTED"), "{out:?}");
        }
    }

    #[test]
    fn leaves_ordinary_lines_alone() {
        let line = "ERROR request failed: dial tcp postgres.shop.svc.cluster.local:80: connect: connection refused";
        assert_eq!(redact(line), line);
        assert_eq!(
            redact("INFO GET /api/cart status=200 duration_ms=12"),
            "INFO GET /api/cart status=200 duration_ms=12"
        );
    }
}
