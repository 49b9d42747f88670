//! Console sessions: a random 256-bit id in a cookie, the identity it signed in as and when it
//! expires kept in memory on the agent, and a CSRF token bound to each session.
//!
//! Times here are the agent host's wall clock, not the cluster's: a session's lifetime is about
//! the person at the browser. Sessions are kept in the store (see [`Sessions`]), so they are the
//! same on every replica and survive a restart.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use nightshift_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::auth::Identity;

/// The session cookie's name.
pub const COOKIE: &str = "nightshift_session";
/// The sign-in form's cookie (a double-submitted token: there is no session yet to bind to).
pub const SIGN_IN_COOKIE: &str = "nightshift_sign_in";
/// How long a session lasts unless configured otherwise.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The most sessions kept at once; past it the one closest to expiry goes.
const MAX_SESSIONS: u32 = 10_000;
/// The most OIDC sign-ins in progress kept at once.
const MAX_PENDING: u32 = 10_000;
/// The store's kind of a session.
const SESSION: &str = "session";
/// The store's kind of an OIDC sign-in in progress.
const OIDC: &str = "oidc";

/// A message shown once on the next page (the outcome of an approval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    /// Whether it reports a success (`true`) or a refusal.
    pub ok: bool,
    /// The sentence.
    pub text: String,
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Who signed in.
    pub identity: Identity,
    /// The token every form of this session carries.
    pub csrf: String,
    /// When it stops being accepted.
    #[serde(skip, default = "Utc::now")]
    pub expires: DateTime<Utc>,
    /// Shown once on the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash: Option<Flash>,
}

/// The sessions of the console, kept in the store so that every replica knows them: a browser
/// behind a load balancer stays signed in whichever replica answers, and a restart signs
/// nobody out. The store holds the SHA-256 of each cookie value, never the value.
#[derive(Debug)]
pub struct Sessions {
    lifetime: Duration,
    store: Store,
    /// Live-update streams open at once (see `live.rs`).
    streams: Arc<Semaphore>,
}

/// The store's key of a cookie's value.
fn key(value: &str) -> String {
    hex(&Sha256::digest(value.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn after(d: Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(12))
}

impl Sessions {
    /// Sessions in `store`; each lasts `lifetime`.
    pub fn new(store: Store, lifetime: Duration) -> Self {
        Sessions {
            lifetime,
            store,
            streams: Arc::new(Semaphore::new(super::live::MAX_STREAMS)),
        }
    }

    /// The permits of live-update streams.
    pub fn streams(&self) -> Arc<Semaphore> {
        self.streams.clone()
    }

    /// How long a session lasts.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    async fn keep(&self, id: &str, s: &Session) -> Result<(), StoreError> {
        let body = serde_json::to_value(s).unwrap_or_default();
        self.store
            .keep_console_entry(
                &key(id),
                SESSION,
                &body,
                ms(s.expires),
                ms(Utc::now()),
                MAX_SESSIONS,
            )
            .await
    }

    /// Starts a session for `identity`; returns its id (the cookie's value).
    pub async fn start(&self, identity: Identity) -> Result<String, StoreError> {
        let id = random_token();
        let session = Session {
            identity,
            csrf: random_token(),
            expires: after(self.lifetime),
            flash: None,
        };
        self.keep(&id, &session).await?;
        Ok(id)
    }

    /// The live session `id`, if any. A store that cannot be read signs nobody in.
    pub async fn get(&self, id: &str) -> Option<Session> {
        match self
            .store
            .console_entry(&key(id), SESSION, ms(Utc::now()))
            .await
        {
            Ok(Some((body, expires))) => {
                let mut s: Session = serde_json::from_value(body).ok()?;
                s.expires = DateTime::from_timestamp_millis(expires)?;
                Some(s)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "console: unable to read a session");
                None
            }
        }
    }

    /// Takes the flash of session `id`, leaving none.
    pub async fn take_flash(&self, id: &str) -> Option<Flash> {
        let mut s = self.get(id).await?;
        let flash = s.flash.take()?;
        if let Err(e) = self.keep(id, &s).await {
            tracing::warn!(error = %e, "console: unable to clear a session's message");
        }
        Some(flash)
    }

    /// Sets the flash of session `id`.
    pub async fn set_flash(&self, id: &str, flash: Flash) {
        let Some(mut s) = self.get(id).await else {
            return;
        };
        s.flash = Some(flash);
        if let Err(e) = self.keep(id, &s).await {
            tracing::warn!(error = %e, "console: unable to keep a session's message");
        }
    }

    /// Ends session `id`.
    pub async fn end(&self, id: &str) {
        if let Err(e) = self
            .store
            .take_console_entry(&key(id), SESSION, ms(Utc::now()))
            .await
        {
            tracing::warn!(error = %e, "console: unable to end a session");
        }
    }

    /// Keeps an OIDC sign-in in progress under its `state` for `lifetime`.
    pub async fn keep_pending(
        &self,
        state: &str,
        body: &serde_json::Value,
        lifetime: Duration,
    ) -> Result<(), StoreError> {
        self.store
            .keep_console_entry(
                &key(state),
                OIDC,
                body,
                ms(after(lifetime)),
                ms(Utc::now()),
                MAX_PENDING,
            )
            .await
    }

    /// Takes the OIDC sign-in in progress under `state`: a state is good once, on any replica.
    pub async fn take_pending(&self, state: &str) -> Option<serde_json::Value> {
        match self
            .store
            .take_console_entry(&key(state), OIDC, ms(Utc::now()))
            .await
        {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "console: unable to read a sign-in in progress");
                None
            }
        }
    }

    #[cfg(test)]
    async fn expire_now(&self, id: &str) {
        if let Some(mut s) = self.get(id).await {
            s.expires = Utc::now();
            let _ = self.keep(id, &s).await;
        }
    }
}

/// 256 random bits from the operating system's CSPRNG, as 64 hexadecimal digits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // Without the system's randomness no session could be safe: failing loudly is right.
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` equals `expected`, in time that depends only on their lengths.
pub fn tokens_match(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    if a.len() != b.len() || b.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in `headers`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// Whether the request reached the agent over https (a TLS-terminating proxy says so).
pub fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value for the console's path: HttpOnly, SameSite=Strict, `Secure` over
/// https; `max_age` 0 removes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// Where to go after signing in: `next` if it is a path under `/console` on this host,
/// otherwise the incident list (no open redirects).
pub fn safe_next(next: Option<&str>) -> String {
    let fallback = "/console/".to_string();
    let Some(next) = next else { return fallback };
    let under_console =
        next == "/console" || next.starts_with("/console/") || next.starts_with("/console?");
    let harmless = !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control())
        && !next.split(['?', '#']).next().unwrap_or("").contains("/..");
    if under_console && harmless {
        next.to_string()
    } else {
        fallback
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn alice() -> Identity {
        Identity {
            name: "alice".into(),
            role: Role::Approver,
            namespaces: None,
        }
    }

    #[test]
    fn tokens_are_256_bits_and_differ() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn csrf_tokens_match_only_themselves() {
        let t = random_token();
        assert!(tokens_match(&t, &t.clone()));
        assert!(!tokens_match(&t[..63], &t));
        assert!(!tokens_match(&format!("{t}0"), &t));
        assert!(!tokens_match("", ""));
        let mut other = t.clone().into_bytes();
        other[10] = if other[10] == b'a' { b'b' } else { b'a' };
        assert!(!tokens_match(std::str::from_utf8(&other).unwrap(), &t));
    }

    async fn sessions(dir: &tempfile::TempDir) -> (Sessions, Store) {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
        let store = Store::open(&url).await.unwrap();
        (Sessions::new(store.clone(), DEFAULT_LIFETIME), store)
    }

    #[tokio::test]
    async fn a_session_lives_until_it_expires_or_ends() {
        let dir = tempfile::tempdir().unwrap();
        let (sessions, store) = sessions(&dir).await;
        let id = sessions.start(alice()).await.unwrap();
        let s = sessions.get(&id).await.unwrap();
        assert_eq!(s.identity.name, "alice");
        assert_ne!(s.csrf, id);
        assert!(sessions.get("nope").await.is_none());
        // Another replica on the same store knows it; the store holds its hash, not its id.
        let other = Sessions::new(store.clone(), DEFAULT_LIFETIME);
        assert_eq!(other.get(&id).await.unwrap().csrf, s.csrf);
        assert!(
            store
                .console_entry(&id, SESSION, 0)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .console_entry(&key(&id), SESSION, 0)
                .await
                .unwrap()
                .is_some()
        );
        sessions
            .set_flash(
                &id,
                Flash {
                    ok: true,
                    text: "approved".into(),
                },
            )
            .await;
        assert_eq!(other.take_flash(&id).await.unwrap().text, "approved");
        assert!(sessions.take_flash(&id).await.is_none());
        sessions.expire_now(&id).await;
        assert!(sessions.get(&id).await.is_none());
        let id = sessions.start(alice()).await.unwrap();
        other.end(&id).await;
        assert!(sessions.get(&id).await.is_none());
    }

    #[tokio::test]
    async fn each_session_has_its_own_csrf_token_and_a_state_is_good_once() {
        let dir = tempfile::tempdir().unwrap();
        let (sessions, _) = sessions(&dir).await;
        let a = sessions
            .get(&sessions.start(alice()).await.unwrap())
            .await
            .unwrap();
        let b = sessions
            .get(&sessions.start(alice()).await.unwrap())
            .await
            .unwrap();
        assert!(!tokens_match(&a.csrf, &b.csrf));
        let body = serde_json::json!({"next": "/console/"});
        sessions
            .keep_pending("state", &body, Duration::from_secs(600))
            .await
            .unwrap();
        assert!(sessions.get("state").await.is_none(), "not a session");
        assert_eq!(sessions.take_pending("state").await, Some(body));
        assert_eq!(sessions.take_pending("state").await, None);
    }

    #[test]
    fn cookies_are_read_from_any_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; nightshift_session=abc".parse().unwrap(),
        );
        h.append(header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "b").as_deref(), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn the_cookie_is_strict_and_secure_over_https() {
        let c = set_cookie(COOKIE, "x", DEFAULT_LIFETIME, false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"));
        assert!(c.contains("Path=/console") && !c.contains("Secure"));
        assert!(set_cookie(COOKIE, "x", DEFAULT_LIFETIME, true).ends_with("; Secure"));
        let mut h = HeaderMap::new();
        assert!(!over_https(&h));
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(over_https(&h));
    }

    #[test]
    fn next_is_only_a_path_under_the_console() {
        assert_eq!(
            safe_next(Some("/console/incidents/inc-000001")),
            "/console/incidents/inc-000001"
        );
        assert_eq!(
            safe_next(Some("/console/?state=open")),
            "/console/?state=open"
        );
        for bad in [
            "https://evil.example/console/",
            "//evil.example/console/",
            "/console//evil.example",
            "/api/v1/incidents",
            "/console/../api/v1/incidents",
            "/console\\@evil",
            "/consolex",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console/", "{bad}");
        }
        assert_eq!(safe_next(None), "/console/");
    }
}
