//! Who may call the API, and what each caller may do.
//!
//! Callers present named credentials from the configuration: bearer tokens, each with a role
//! (receiver, viewer, approver, admin) and, for approvers, optionally the namespaces they may
//! approve for; and a Basic credential for Alertmanager, which can only post alerts. Secrets
//! are kept as SHA-256 digests and compared digest to digest in constant time, so neither the
//! content nor the length of a token leaks through timing. The identity that a request
//! authenticated as is what the record names (an approver is never a name from a request body).
//!
//! Serving without authentication is an explicit choice ([`Auth::open`]); the runtime refuses
//! it on an address beyond loopback unless the configuration said `auth: none`.

use std::fmt;

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

/// What a caller may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Post alerts, nothing else (Alertmanager).
    Receiver,
    /// Read incidents.
    Viewer,
    /// Read incidents and answer approvals.
    Approver,
    /// Everything.
    Admin,
}

impl Role {
    /// The role named `s` (`receiver`, `viewer`, `approver`, `admin`).
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "receiver" => Role::Receiver,
            "viewer" => Role::Viewer,
            "approver" => Role::Approver,
            "admin" => Role::Admin,
            _ => return None,
        })
    }

    /// Whether this role may do `scope`.
    pub fn allows(self, scope: Scope) -> bool {
        match scope {
            Scope::PostAlerts => matches!(self, Role::Receiver | Role::Admin),
            Scope::Read => matches!(self, Role::Viewer | Role::Approver | Role::Admin),
            Scope::Approve => matches!(self, Role::Approver | Role::Admin),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Receiver => "receiver",
            Role::Viewer => "viewer",
            Role::Approver => "approver",
            Role::Admin => "admin",
        })
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `POST /api/v1/alerts/...`.
    PostAlerts,
    /// Reading incidents.
    Read,
    /// Approving or rejecting a plan.
    Approve,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::PostAlerts => "post alerts",
            Scope::Read => "read incidents",
            Scope::Approve => "answer approvals",
        })
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// The credential's name (`anonymous` when the API is open).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Namespaces it may approve for (`None`: all).
    pub namespaces: Option<Vec<String>>,
}

impl Identity {
    /// Whether this identity may answer approvals of an incident in `namespace`.
    pub fn may_approve_in(&self, namespace: Option<&str>) -> bool {
        if !self.role.allows(Scope::Approve) {
            return false;
        }
        match (&self.namespaces, namespace) {
            (None, _) => true,
            (Some(list), Some(ns)) => list.iter().any(|n| n == ns),
            // A cluster-scoped incident (a node) is not in any listed namespace.
            (Some(_), None) => false,
        }
    }
}

/// A secret as a SHA-256 digest.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    /// The digest of `secret`.
    pub fn of(secret: &[u8]) -> Self {
        SecretDigest(Sha256::digest(secret).into())
    }

    /// A digest given as 64 hexadecimal digits (`sha256:` in the configuration).
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(SecretDigest(out))
    }

    /// Constant-time comparison of two digests (always 32 bytes, so no length leaks).
    fn matches(&self, other: &SecretDigest) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

/// One credential of the configuration.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Its name, recorded as the actor of what it does.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Namespaces an approver may approve for (`None`: all).
    pub namespaces: Option<Vec<String>>,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Bearer(SecretDigest),
    /// The digest of the base64 of `user:password`, as the header carries it.
    Basic(SecretDigest),
}

impl Credential {
    /// A bearer token with `role`.
    pub fn bearer(name: impl Into<String>, role: Role, token: &str) -> Self {
        Credential::bearer_digest(name, role, SecretDigest::of(token.as_bytes()))
    }

    /// A bearer token known by its digest.
    pub fn bearer_digest(name: impl Into<String>, role: Role, digest: SecretDigest) -> Self {
        Credential {
            name: name.into(),
            role,
            namespaces: None,
            kind: Kind::Bearer(digest),
        }
    }

    /// Basic `user:password`; it may only post alerts (Alertmanager's receiver).
    pub fn basic(user: &str, password: &str) -> Self {
        let encoded = base64_encode(format!("{user}:{password}").as_bytes());
        Credential {
            name: user.to_string(),
            role: Role::Receiver,
            namespaces: None,
            kind: Kind::Basic(SecretDigest::of(encoded.as_bytes())),
        }
    }

    /// Restricts an approver to `namespaces`.
    pub fn in_namespaces(mut self, namespaces: Vec<String>) -> Self {
        self.namespaces = Some(namespaces);
        self
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No or unknown credentials (401).
    #[error(
        "missing or invalid credentials: send Authorization: Bearer <token> (or Basic for the alert receiver)"
    )]
    Unauthenticated,
    /// Known credentials without the right (403).
    #[error("{name} ({role}) may not {scope}")]
    Forbidden {
        /// Credential.
        name: String,
        /// Its role.
        role: Role,
        /// What it tried.
        scope: Scope,
    },
}

/// The API's credentials.
#[derive(Debug, Clone)]
pub struct Auth {
    credentials: Vec<Credential>,
    /// Serving with no credentials was asked for explicitly (`auth: none`).
    explicitly_open: bool,
}

impl Auth {
    /// Credentials required: any of `credentials`.
    pub fn with(credentials: Vec<Credential>) -> Self {
        Auth {
            credentials,
            explicitly_open: false,
        }
    }

    /// No authentication. On loopback this is the development default; beyond loopback the
    /// runtime refuses it unless `explicit` (the configuration said `auth: none`).
    pub fn open(explicit: bool) -> Self {
        Auth {
            credentials: vec![],
            explicitly_open: explicit,
        }
    }

    /// Whether requests need credentials.
    pub fn required(&self) -> bool {
        !self.credentials.is_empty()
    }

    /// Whether serving with no credentials was asked for explicitly.
    pub fn explicitly_open(&self) -> bool {
        self.explicitly_open
    }

    /// The credentials' names and roles (for the start-up log; never the secrets).
    pub fn describe(&self) -> Vec<String> {
        self.credentials
            .iter()
            .map(|c| format!("{} ({})", c.name, c.role))
            .collect()
    }

    /// Who sent `headers`, if anyone this configuration knows.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, AuthError> {
        if !self.required() {
            return Ok(Identity {
                name: "anonymous".into(),
                role: Role::Admin,
                namespaces: None,
            });
        }
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AuthError::Unauthenticated)?;
        // RFC 9110 §11.1: the scheme is case-insensitive; one or more spaces follow it.
        let (scheme, given) = value
            .trim()
            .split_once(' ')
            .ok_or(AuthError::Unauthenticated)?;
        let given = SecretDigest::of(given.trim().as_bytes());
        let bearer = scheme.eq_ignore_ascii_case("bearer");
        let basic = scheme.eq_ignore_ascii_case("basic");
        // Every credential is compared, so the time does not tell which one matched.
        let mut found: Option<&Credential> = None;
        for c in &self.credentials {
            let hit = match &c.kind {
                Kind::Bearer(d) => bearer & d.matches(&given),
                Kind::Basic(d) => basic & d.matches(&given),
            };
            if hit && found.is_none() {
                found = Some(c);
            }
        }
        let c = found.ok_or(AuthError::Unauthenticated)?;
        Ok(Identity {
            name: c.name.clone(),
            role: c.role,
            namespaces: c.namespaces.clone(),
        })
    }

    /// Who sent `headers`, if they may do `scope`.
    pub fn authorize(&self, headers: &HeaderMap, scope: Scope) -> Result<Identity, AuthError> {
        let id = self.authenticate(headers)?;
        if id.role.allows(scope) {
            Ok(id)
        } else {
            Err(AuthError::Forbidden {
                name: id.name,
                role: id.role,
                scope,
            })
        }
    }
}

/// Standard base64, for comparing Basic credentials; written here because it is a dozen lines
/// and only ever encodes a short credential.
fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::AUTHORIZATION, v.parse().unwrap());
        m
    }

    fn auth() -> Auth {
        Auth::with(vec![
            Credential::bearer("ops", Role::Admin, "t0ken"),
            Credential::bearer("alice", Role::Approver, "alice-secret")
                .in_namespaces(vec!["payments".into()]),
            Credential::bearer("grafana", Role::Viewer, "viewer-secret"),
            Credential::basic("am", "pw"),
        ])
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(
            base64_encode(b"alertmanager:s3cret"),
            "YWxlcnRtYW5hZ2VyOnMzY3JldA=="
        );
    }

    #[test]
    fn a_token_is_known_by_its_name_and_role() {
        let a = auth();
        let id = a.authenticate(&h("Bearer t0ken")).unwrap();
        assert_eq!((id.name.as_str(), id.role), ("ops", Role::Admin));
        assert_eq!(
            a.authenticate(&h("Bearer nope")),
            Err(AuthError::Unauthenticated)
        );
        assert_eq!(
            a.authenticate(&HeaderMap::new()),
            Err(AuthError::Unauthenticated)
        );
        // A prefix or an extension of a token is not the token.
        assert!(a.authenticate(&h("Bearer t0ke")).is_err());
        assert!(a.authenticate(&h("Bearer t0kenn")).is_err());
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        let a = auth();
        for v in ["bearer t0ken", "BEARER t0ken", "Bearer   t0ken"] {
            assert_eq!(a.authenticate(&h(v)).unwrap().name, "ops", "{v}");
        }
        let basic = format!("basic {}", base64_encode(b"am:pw"));
        assert_eq!(a.authenticate(&h(&basic)).unwrap().name, "am");
    }

    #[test]
    fn a_token_sent_as_basic_or_basic_sent_as_bearer_is_refused() {
        let a = auth();
        assert!(a.authenticate(&h("Basic t0ken")).is_err());
        let basic = base64_encode(b"am:pw");
        assert!(a.authenticate(&h(&format!("Bearer {basic}"))).is_err());
    }

    #[test]
    fn the_receivers_credential_can_only_post_alerts() {
        let a = auth();
        let basic = h(&format!("Basic {}", base64_encode(b"am:pw")));
        assert!(a.authorize(&basic, Scope::PostAlerts).is_ok());
        assert!(matches!(
            a.authorize(&basic, Scope::Approve),
            Err(AuthError::Forbidden { .. })
        ));
        assert!(a.authorize(&basic, Scope::Read).is_err());
    }

    #[test]
    fn roles_grant_what_they_say() {
        let a = auth();
        let viewer = h("Bearer viewer-secret");
        assert!(a.authorize(&viewer, Scope::Read).is_ok());
        assert!(a.authorize(&viewer, Scope::Approve).is_err());
        assert!(a.authorize(&viewer, Scope::PostAlerts).is_err());
        let alice = a
            .authorize(&h("Bearer alice-secret"), Scope::Approve)
            .unwrap();
        assert!(alice.may_approve_in(Some("payments")));
        assert!(!alice.may_approve_in(Some("shop")));
        assert!(!alice.may_approve_in(None));
        let ops = a.authorize(&h("Bearer t0ken"), Scope::Approve).unwrap();
        assert!(ops.may_approve_in(Some("shop")) && ops.may_approve_in(None));
    }

    #[test]
    fn an_open_api_names_its_callers_anonymous() {
        let id = Auth::open(false).authenticate(&HeaderMap::new()).unwrap();
        assert_eq!(id.name, "anonymous");
        assert!(!Auth::open(false).required());
    }

    #[test]
    fn digests_from_hex() {
        let d = SecretDigest::of(b"t0ken");
        let hex: String = d.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(SecretDigest::from_hex(&hex), Some(d));
        assert_eq!(SecretDigest::from_hex("abc"), None);
        assert_eq!(SecretDigest::from_hex(&"zz".repeat(32)), None);
        assert_eq!(format!("{:?}", SecretDigest::of(b"x")), "SecretDigest(..)");
    }
}
