//! The built-in rules, in the order they apply: whole blocks and well-known token formats
//! first, then credentials found by their context (headers, cookies, command lines, URLs),
//! and last `key=value` pairs whose key names a secret. Each keeps what is not secret (the key,
//! the scheme, the user and host of a URL) so that the line still reads.
//!
//! `\b` in these patterns is compiled as an ASCII word boundary.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::{MASK, Mask, PRIVATE_KEY_MASK};

/// The first line of a PEM private key block.
pub(super) static PEM_BEGIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----").expect("valid")
});

/// The last line of a PEM private key block.
pub(super) static PEM_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----").expect("valid"));

/// Key names (the end of the key) whose value is a secret.
macro_rules! secret_key {
    () => {
        r"(?:[A-Za-z0-9_.-]*?(?:password|passwd|passphrase|secret|token|bearer|credentials?|api[_-]?key|apikey|(?:access|secret|private|signing|encryption|master|client|account|session)[_-]?key)|[A-Za-z0-9_.-]*[_.-]pass|(?:[A-Za-z0-9_.-]*[_.-])?pwd)"
    };
}

pub(super) const BUILTIN: &[(&str, Mask)] = &[
    // PEM private keys: the whole block, or from its first line to the end of the text when
    // the block is cut (a single line of a log).
    (
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.)*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
        Mask::Whole(PRIVATE_KEY_MASK),
    ),
    // The last line of a block read on its own.
    (
        r"-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----",
        Mask::Whole(PRIVATE_KEY_MASK),
    ),
    // A line of a key's body read on its own: nothing but 32 or more base64 characters, with
    // upper case, lower case and digits (a hex digest or a word is not masked).
    (
        r"\A[ \t]*[A-Za-z0-9+/]{32,}={0,2}[ \t]*\z",
        Mask::With(key_body_line),
    ),
    // JWTs: three base64url segments, the header starting `eyJ` (`{"`).
    (
        r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
        Mask::Whole(MASK),
    ),
    // Credentials in URLs: scheme://user:password@host, scheme://:password@host.
    (
        r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/@<>]*):([^\s@/<>]+)@",
        Mask::Template("${1}:[REDACTED]@"),
    ),
    // Authorization headers: the scheme stays, the credentials go (Digest has its own rule).
    (
        r#"(?i)\b((?:proxy-)?authorization\\?["']?[ \t]*[:=][ \t]*\\?["']?)([^\s"',;\\]+)(?:([ \t]+)([^\s"',;\\]+))?"#,
        Mask::With(authorization),
    ),
    // A bearer or basic credential outside a header.
    (
        r"(?i)\b(bearer|basic)([ \t]+)([A-Za-z0-9._~+/=-]{8,})",
        Mask::With(bare_scheme),
    ),
    // HTTP Digest: the response hash.
    (
        r#"(?i)(\bdigest[ \t][^\r\n]*?\bresponse[ \t]*=[ \t]*)("[^"]*"|[^\s,]+)"#,
        Mask::With(digest_response),
    ),
    // Cookie and Set-Cookie headers: the values, not the names or the attributes.
    (
        r#"(?i)\b(set-cookie|cookie)(\\?["']?[ \t]*:[ \t]*)([^\r\n]*)"#,
        Mask::With(cookies),
    ),
    // The MySQL clients' -pSECRET.
    (
        r#"(\b(?i:mysql|mysqldump|mysqladmin|mysqlimport|mysqlsh|mariadb|mariadb-dump)\b[^\r\n]*?[ \t]-p)('[^']*'|"[^"]*"|[^\s'"]\S*)"#,
        Mask::Template("${1}[REDACTED]"),
    ),
    // --password=SECRET and --password SECRET on a command line.
    (
        r#"(?i)((?:^|[ \t])--?(?:password|passwd|pwd|db-password)(?:=|[ \t]+))('[^']*'|"[^"]*"|[^\s'"]\S*)"#,
        Mask::Template("${1}[REDACTED]"),
    ),
    // Secrets in a URL's query: OAuth codes and tokens, signatures, keys, passwords.
    (
        r"(?i)([?&](?:code|access_token|refresh_token|id_token|client_secret|token|auth|api_?key|key|sig|signature|x-amz-signature|x-amz-security-token|x-amz-credential|x-goog-signature|x-goog-credential|password|passwd|pwd|pass|secret)=)([^&\s#'<>]+)",
        Mask::With(query_value),
    ),
    // Azure storage and Service Bus connection strings, shared access signatures.
    (
        r#"(?i)\b(AccountKey|SharedAccessKey|SharedAccessSignature)=([^;\s"']+)"#,
        Mask::Template("${1}=[REDACTED]"),
    ),
    // AWS access key ids.
    (r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", Mask::Whole(MASK)),
    // Well-known token formats: GitHub, Slack, OpenAI and Anthropic, Stripe, Google, GitLab,
    // npm, Hugging Face.
    (
        r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{16,}|[rs]k_(?:live|test)_[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z_-]{20,}|glpat-[0-9A-Za-z_-]{20,}|npm_[A-Za-z0-9]{36}|hf_[A-Za-z0-9]{30,})\b",
        Mask::Whole(MASK),
    ),
    // key=value, key: value, "key": "value" and KEY_PASSWORD=value where the key names a
    // secret (password, passphrase, secret, token, api key, private key, credentials,
    // `*_PASS`, `pwd`...).
    (
        concat!(
            r#"(?i)(\\?["']?\b"#,
            secret_key!(),
            r#"\\?["']?)([ \t]*(?:=>|[:=])[ \t]*)("(?:[^"\\]|\\.)*"|'[^']*'|\\"(?:[^"\\]|\\[^"])*\\"|[^\s,;&"'}]+)"#
        ),
        Mask::With(key_value),
    ),
];

fn is_masked(v: &str) -> bool {
    v.starts_with("[REDACTED") || (!v.is_empty() && v.chars().all(|c| c == '*'))
}

/// Whether a word looks like a credential rather than a word of prose: digits, symbols or
/// mixed case past the first letter.
fn looks_secret(v: &str) -> bool {
    let digit = v.bytes().any(|b| b.is_ascii_digit());
    let symbol = v.bytes().any(|b| b"!@#$%^&*+=~?".contains(&b));
    let lower = v.bytes().any(|b| b.is_ascii_lowercase());
    let inner_upper = v.bytes().skip(1).any(|b| b.is_ascii_uppercase());
    digit || symbol || (lower && inner_upper)
}

fn key_body_line(c: &Captures, _: &str) -> Option<String> {
    let v = c.get(0)?.as_str();
    let upper = v.bytes().any(|b| b.is_ascii_uppercase());
    let lower = v.bytes().any(|b| b.is_ascii_lowercase());
    let digit = v.bytes().any(|b| b.is_ascii_digit());
    (upper && lower && digit).then(|| MASK.to_string())
}

/// Schemes of the Authorization header whose second word is the credential.
const SCHEMES: &[&str] = &[
    "bearer",
    "basic",
    "token",
    "negotiate",
    "ntlm",
    "apikey",
    "api-key",
    "key",
    "sso-key",
    "otp",
    "hmac",
    "dpop",
    "mac",
];

fn authorization(c: &Captures, _: &str) -> Option<String> {
    let head = c.get(1)?.as_str();
    let first = c.get(2)?.as_str();
    let lower = first.to_ascii_lowercase();
    if lower == "digest" || is_masked(first) {
        return None;
    }
    if SCHEMES.contains(&lower.as_str()) || lower.starts_with("aws4-") {
        let (space, cred) = (c.get(3)?.as_str(), c.get(4)?.as_str());
        if is_masked(cred) {
            return None;
        }
        return Some(format!("{head}{first}{space}{MASK}"));
    }
    // No scheme: the value itself is the credential, unless it is prose ("authorization:
    // denied").
    if !looks_secret(first) && first.len() < 24 {
        return None;
    }
    let rest = match (c.get(3), c.get(4)) {
        (Some(s), Some(w)) => format!("{}{}", s.as_str(), w.as_str()),
        _ => String::new(),
    };
    Some(format!("{head}{MASK}{rest}"))
}

fn bare_scheme(c: &Captures, _: &str) -> Option<String> {
    let cred = c.get(3)?.as_str();
    looks_secret(cred).then(|| format!("{}{}{MASK}", &c[1], &c[2]))
}

fn quoted_mask(v: &str) -> String {
    if v.starts_with("\\\"") {
        format!("\\\"{MASK}\\\"")
    } else if v.starts_with('"') {
        format!("\"{MASK}\"")
    } else if v.starts_with('\'') {
        format!("'{MASK}'")
    } else {
        MASK.to_string()
    }
}

fn unquoted(v: &str) -> &str {
    v.trim_start_matches("\\\"")
        .trim_end_matches("\\\"")
        .trim_matches(|ch| ch == '"' || ch == '\'')
}

fn digest_response(c: &Captures, _: &str) -> Option<String> {
    let v = c.get(2)?.as_str();
    if is_masked(unquoted(v)) {
        return None;
    }
    Some(format!("{}{}", &c[1], quoted_mask(v)))
}

static COOKIE_PAIR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"([A-Za-z0-9!#$%&*+.^_`|~-]+)=([^;",\s\\']+)"#).expect("valid"));

fn cookies(c: &Captures, _: &str) -> Option<String> {
    let set = c.get(1)?.as_str().eq_ignore_ascii_case("set-cookie");
    let tail = c.get(3)?.as_str();
    // Set-Cookie carries one cookie, then attributes (Path, Expires...) that are not secret.
    let limit = if set { 1 } else { 0 };
    let masked = COOKIE_PAIR.replacen(tail, limit, |p: &Captures| {
        if is_masked(&p[2]) {
            p[0].to_string()
        } else {
            format!("{}={MASK}", &p[1])
        }
    });
    Some(format!("{}{}{}", &c[1], &c[2], masked))
}

fn query_value(c: &Captures, _: &str) -> Option<String> {
    let v = c.get(2)?.as_str();
    (!is_masked(v)).then(|| format!("{}{MASK}", &c[1]))
}

/// Values that say a secret is absent, which an SRE needs to see.
const NOT_SECRETS: &[&str] = &["true", "false", "null", "nil", "<nil>", "none", "undefined"];

fn key_value(c: &Captures, text: &str) -> Option<String> {
    let key = c.get(1)?.as_str();
    let sep = c.get(2)?.as_str();
    let value = c.get(3)?;
    let v = value.as_str();
    let bare = unquoted(v);
    if bare.is_empty() || is_masked(bare) {
        return None;
    }
    if NOT_SECRETS.iter().any(|n| bare.eq_ignore_ascii_case(n)) {
        return None;
    }
    let key_name = unquoted(key).to_ascii_lowercase();
    // `PWD=/app` is the shell's working directory.
    if key_name == "pwd" && bare.starts_with('/') {
        return None;
    }
    let quoted_key = key.ends_with('"') || key.ends_with('\'');
    let quoted_value = v.len() != bare.len();
    // "invalid token: signature mismatch" is prose; "password: hunter2" is not. A colon
    // followed by a space, in an unquoted key, is taken for a secret only when the value looks
    // like one or stands alone at the end of the line or field.
    if sep.trim() == ":" && sep.ends_with([' ', '\t']) && !quoted_key && !quoted_value {
        let after = text[value.end()..].trim_start_matches([' ', '\t']);
        let alone = after.is_empty() || after.starts_with([',', ';', '}', ']', ')', '\n', '\r']);
        if !alone && !looks_secret(bare) {
            return None;
        }
    }
    Some(format!("{key}{sep}{}", quoted_mask(v)))
}
