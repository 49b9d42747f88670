//! Console sessions: a random 256-bit id in a cookie, the identity it signed in as and when it
//! expires kept in memory on the agent, and a CSRF token bound to each session.
//!
//! Times here are the agent host's wall clock (`Instant`), not the cluster's: a session's
//! lifetime is about the person at the browser. Sessions do not survive a restart of the agent;
//! signing in again is the remedy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use tokio::sync::Semaphore;

use crate::auth::Identity;

/// The session cookie's name.
pub const COOKIE: &str = "nightshift_session";
/// The sign-in form's cookie (a double-submitted token: there is no session yet to bind to).
pub const SIGN_IN_COOKIE: &str = "nightshift_sign_in";
/// How long a session lasts unless configured otherwise.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// The most sessions kept at once; past it the one closest to expiry goes.
const MAX_SESSIONS: usize = 10_000;

/// A message shown once on the next page (the outcome of an approval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// Whether it reports a success (`true`) or a refusal.
    pub ok: bool,
    /// The sentence.
    pub text: String,
}

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who signed in.
    pub identity: Identity,
    /// The token every form of this session carries.
    pub csrf: String,
    /// When it stops being accepted.
    pub expires: Instant,
    /// Shown once on the next page.
    pub flash: Option<Flash>,
}

/// The sessions of the console, in memory.
#[derive(Debug)]
pub struct Sessions {
    lifetime: Duration,
    by_id: Mutex<HashMap<String, Session>>,
    /// Live-update streams open at once (see `live.rs`).
    streams: Arc<Semaphore>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new(DEFAULT_LIFETIME)
    }
}

impl Sessions {
    /// No sessions yet; each lasts `lifetime`.
    pub fn new(lifetime: Duration) -> Self {
        Sessions {
            lifetime,
            by_id: Mutex::new(HashMap::new()),
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

    /// Starts a session for `identity`; returns its id (the cookie's value).
    pub fn start(&self, identity: Identity) -> String {
        let id = random_token();
        let now = Instant::now();
        let session = Session {
            identity,
            csrf: random_token(),
            expires: now + self.lifetime,
            flash: None,
        };
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id.clone(), session);
        id
    }

    /// The live session `id`, if any; an expired one is forgotten.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Takes the flash of session `id`, leaving none.
    pub fn take_flash(&self, id: &str) -> Option<Flash> {
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        map.get_mut(id).and_then(|s| s.flash.take())
    }

    /// Sets the flash of session `id`.
    pub fn set_flash(&self, id: &str, flash: Flash) {
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = map.get_mut(id) {
            s.flash = Some(flash);
        }
    }

    /// Ends session `id`.
    pub fn end(&self, id: &str) {
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(id);
    }

    #[cfg(test)]
    fn expire_now(&self, id: &str) {
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = map.get_mut(id) {
            s.expires = Instant::now();
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

    #[test]
    fn a_session_lives_until_it_expires_or_ends() {
        let sessions = Sessions::default();
        let id = sessions.start(alice());
        let s = sessions.get(&id).unwrap();
        assert_eq!(s.identity.name, "alice");
        assert_ne!(s.csrf, id);
        assert!(sessions.get("nope").is_none());
        sessions.set_flash(
            &id,
            Flash {
                ok: true,
                text: "approved".into(),
            },
        );
        assert_eq!(sessions.take_flash(&id).unwrap().text, "approved");
        assert!(sessions.take_flash(&id).is_none());
        sessions.expire_now(&id);
        assert!(sessions.get(&id).is_none());
        let id = sessions.start(alice());
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn each_session_has_its_own_csrf_token() {
        let sessions = Sessions::default();
        let a = sessions.get(&sessions.start(alice())).unwrap();
        let b = sessions.get(&sessions.start(alice())).unwrap();
        assert!(!tokens_match(&a.csrf, &b.csrf));
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
