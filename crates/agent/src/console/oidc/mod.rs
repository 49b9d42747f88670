//! Signing in to the console through an OpenID Connect provider: the authorization code flow
//! with PKCE (RFC 7636, S256), for teams whose people are in an identity provider's groups.
//!
//! `GET /console/oidc/start` fetches the provider's discovery document (cached an hour; its
//! `issuer` must equal the configured one exactly), draws a random `state`, `nonce` and PKCE
//! verifier, keeps them on the agent under the state for ten minutes (bounded, single use),
//! binds the state to the browser with a short-lived HttpOnly cookie and sends the browser to
//! the provider. The cookie is `SameSite=Lax`: the provider's redirect back is a top-level
//! cross-site GET, which would not carry a strict cookie.
//!
//! `GET /console/oidc/callback` checks that the state is this browser's and unused, exchanges
//! the code at the token endpoint (with the verifier, and the client secret as HTTP Basic for
//! a confidential client), checks the ID token ([`id_token`]) and maps its claims to an
//! [`Identity`] ([`identity`]). The session then starts as with a token. The answer is a page
//! that moves on at once rather than a redirect: the request came from the provider's site,
//! and a browser does not send the strict session cookie along a redirect chain that started
//! cross-site, so the next page would not see the session.
//!
//! Every refusal is a page naming the problem, and a log line without codes, tokens or
//! secrets.

mod config;
pub mod id_token;
mod identity;
mod provider;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use askama::Template;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nightshift_core::Analyzer;
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use self::config::{CALLBACK_PATH, ClientSecret, OidcConfig, RoleGroups};
use self::id_token::{Expected, Jwks, TokenError};
use self::provider::{Discovery, Exchange};
use super::session::Sessions;
use super::view::Chrome;
use super::{error_page, html, see_other, session, with_cookie};
use crate::auth::Identity;
use crate::http::ApiState;

/// The cookie that binds a sign-in in progress to the browser (its value is the state).
pub const STATE_COOKIE: &str = "nightshift_oidc";
/// How long a sign-in may take at the provider.
const PENDING_LIFETIME: Duration = Duration::from_secs(600);
/// How long the discovery document and the keys are kept before they are fetched again.
const CACHE_LIFETIME: Duration = Duration::from_secs(3600);

/// Why an OIDC sign-in failed; each says what to do, and none carries a secret or a token.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// `console.oidc` is not configured.
    #[error("sign-in through an identity provider is not configured (console.oidc)")]
    NotConfigured,
    /// The provider could not be reached.
    #[error("unable to reach the provider's {what}: {problem}")]
    Transport {
        /// Which call.
        what: &'static str,
        /// The transport's reason.
        problem: String,
    },
    /// The provider answered something unusable.
    #[error("the provider's {what} is not usable: {problem}")]
    Provider {
        /// Which call.
        what: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The discovery document is another issuer's.
    #[error(
        "the provider's discovery document names the issuer {found:?}, but console.oidc.issuer is {expected:?}; they must be equal exactly"
    )]
    DiscoveryIssuer {
        /// What the document says.
        found: String,
        /// What the configuration says.
        expected: String,
    },
    /// The callback has no state.
    #[error("the provider's answer carries no state; start the sign-in again")]
    NoState,
    /// The browser has no sign-in in progress.
    #[error(
        "this browser holds no sign-in in progress (its cookie is missing or expired); start the sign-in again from the same browser"
    )]
    NoCookie,
    /// The state is not this browser's.
    #[error(
        "the state in the provider's answer does not match this browser's sign-in; start the sign-in again"
    )]
    StateMismatch,
    /// Used already, or expired.
    #[error(
        "this sign-in was already used or has expired (after 10 minutes); start the sign-in again"
    )]
    UnknownState,
    /// The provider sent an error instead of a code.
    #[error("the provider refused the sign-in: {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    ProviderSaid {
        /// The OAuth error code (`access_denied`).
        error: String,
        /// Its description.
        description: Option<String>,
    },
    /// The sign-in in progress could not be kept.
    #[error("the sign-in could not be kept in the store: {0}")]
    Store(String),
    /// Neither a code nor an error.
    #[error("the provider's answer carries no code; start the sign-in again")]
    NoCode,
    /// The token endpoint did not give an ID token.
    #[error("the provider's token endpoint refused the code: {0}")]
    TokenEndpoint(String),
    /// The ID token did not pass its checks.
    #[error("{0}")]
    Token(#[from] TokenError),
    /// No claim names the person.
    #[error("the ID token names nobody: it has no {0}, email or sub claim")]
    NoUsername(String),
    /// No group maps to a role.
    #[error(
        "{name} signed in, but none of their groups ({}) is mapped to a role in console.oidc.roles; ask an administrator to map one (the groups come from the {claim} claim)",
        if groups.is_empty() { "none".to_string() } else { groups.join(", ") }
    )]
    NoRole {
        /// The person.
        name: String,
        /// The groups claim.
        claim: String,
        /// Their groups.
        groups: Vec<String>,
    },
}

impl OidcError {
    fn status(&self) -> StatusCode {
        use OidcError::*;
        match self {
            NotConfigured => StatusCode::NOT_FOUND,
            Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Transport { .. } | Provider { .. } | DiscoveryIssuer { .. } | TokenEndpoint(_) => {
                StatusCode::BAD_GATEWAY
            }
            NoState | NoCookie | StateMismatch | UnknownState | NoCode => StatusCode::BAD_REQUEST,
            ProviderSaid { error, .. } if error == "access_denied" => StatusCode::FORBIDDEN,
            ProviderSaid { .. } => StatusCode::BAD_REQUEST,
            Token(_) => StatusCode::UNAUTHORIZED,
            NoUsername(_) | NoRole { .. } => StatusCode::FORBIDDEN,
        }
    }
}

/// A sign-in in progress, kept in the store under its state (see `Sessions::keep_pending`),
/// so the provider may send the browser back to any replica.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Pending {
    nonce: String,
    verifier: String,
    next: String,
}

/// The console's OIDC client: its configuration, the provider's cached documents and the
/// sign-ins in progress.
pub struct Oidc {
    config: OidcConfig,
    secret: Option<ClientSecret>,
    http: reqwest::Client,
    discovery: Mutex<Option<(Instant, Arc<Discovery>)>>,
    keys: Mutex<Option<(Instant, Arc<Jwks>)>>,
}

impl fmt::Debug for Oidc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oidc")
            .field("config", &self.config)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

impl Oidc {
    /// A client for `config` (checked already), with `secret` for a confidential client and
    /// outgoing https trusting `tls`.
    pub fn new(
        config: OidcConfig,
        secret: Option<ClientSecret>,
        tls: &nightshift_net::TlsSettings,
    ) -> Result<Self, String> {
        let http = nightshift_net::client(tls)
            .map_err(|e| format!("console.oidc: {e}"))?
            .timeout(provider::TIMEOUT)
            .connect_timeout(provider::TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("console.oidc: unable to build the HTTP client: {e}"))?;
        Ok(Oidc {
            config,
            secret,
            http,
            discovery: Mutex::new(None),
            keys: Mutex::new(None),
        })
    }

    /// What the sign-in page calls the provider.
    pub fn display_name(&self) -> String {
        self.config.display_name()
    }

    async fn discovery(&self) -> Result<Arc<Discovery>, OidcError> {
        if let Some((at, d)) = &*lock(&self.discovery)
            && at.elapsed() < CACHE_LIFETIME
        {
            return Ok(d.clone());
        }
        let d = Arc::new(provider::discover(&self.http, &self.config.issuer).await?);
        *lock(&self.discovery) = Some((Instant::now(), d.clone()));
        Ok(d)
    }

    async fn keys(&self, jwks_uri: &str, fresh: bool) -> Result<Arc<Jwks>, OidcError> {
        if !fresh
            && let Some((at, k)) = &*lock(&self.keys)
            && at.elapsed() < CACHE_LIFETIME
        {
            return Ok(k.clone());
        }
        let k = Arc::new(provider::keys(&self.http, jwks_uri).await?);
        *lock(&self.keys) = Some((Instant::now(), k.clone()));
        Ok(k)
    }

    /// Starts a sign-in that comes back to `next`: the provider's URL to send the browser to,
    /// and the state to bind to it.
    async fn begin(&self, next: &str, sessions: &Sessions) -> Result<(String, String), OidcError> {
        let d = self.discovery().await?;
        let (state, nonce, verifier) = (
            session::random_token(),
            session::random_token(),
            session::random_token(),
        );
        let mut url =
            reqwest::Url::parse(&d.authorization_endpoint).map_err(|_| OidcError::Provider {
                what: "discovery document",
                problem: "its authorization_endpoint is not a URL".into(),
            })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_url)
            .append_pair("scope", &self.config.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &code_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        let pending = Pending {
            nonce,
            verifier,
            next: next.to_string(),
        };
        sessions
            .keep_pending(
                &state,
                &serde_json::to_value(&pending).unwrap_or_default(),
                PENDING_LIFETIME,
            )
            .await
            .map_err(|e| OidcError::Store(e.to_string()))?;
        Ok((url.into(), state))
    }

    /// The sign-in in progress under `state`, taken (a state is good once, on any replica).
    async fn take(&self, state: &str, sessions: &Sessions) -> Option<Pending> {
        let body = sessions.take_pending(state).await?;
        serde_json::from_value(body).ok()
    }

    /// Exchanges `code`, checks the ID token and maps it to an identity.
    async fn finish(&self, code: &str, p: &Pending) -> Result<Identity, OidcError> {
        let d = self.discovery().await?;
        let token = provider::exchange(
            &self.http,
            Exchange {
                token_endpoint: &d.token_endpoint,
                client_id: &self.config.client_id,
                secret: self.secret.as_ref(),
                code,
                redirect_url: &self.config.redirect_url,
                verifier: &p.verifier,
            },
        )
        .await?;
        let expected = Expected {
            issuer: &self.config.issuer,
            client_id: &self.config.client_id,
            nonce: &p.nonce,
            now: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        let keys = self.keys(&d.jwks_uri, false).await?;
        let claims = match id_token::verify(&token, &keys, expected) {
            // A key the cached set does not have: the provider may have rotated; ask once.
            Err(TokenError::UnknownKey(_)) => {
                let keys = self.keys(&d.jwks_uri, true).await?;
                id_token::verify(&token, &keys, expected)?
            }
            other => other?,
        };
        identity::identity(&claims, &self.config)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The PKCE challenge of `verifier` (RFC 7636 §4.2, S256).
pub fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The state cookie: on the OIDC paths only, `SameSite=Lax` (see the module's notes).
fn state_cookie(value: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{STATE_COOKIE}={value}; Path=/console/oidc; HttpOnly; SameSite=Lax; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The page that moves on to the console once the session has started.
#[derive(Template)]
#[template(path = "console/signed_in.html")]
struct SignedInPage {
    chrome: Chrome,
    name: String,
    role: String,
    provider: String,
    next: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct StartQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn refused(oidc: Option<&Oidc>, e: &OidcError) -> Response {
    let provider = oidc.map_or_else(|| "an identity provider".into(), Oidc::display_name);
    tracing::warn!(%provider, problem = %e, "console sign-in through OIDC refused");
    error_page(
        e.status(),
        Chrome::default(),
        format!("Signing in through {provider} failed: {e}"),
    )
}

/// `GET /console/oidc/start`: to the provider.
pub(super) async fn start<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> Response {
    let Some(oidc) = st.oidc.get() else {
        return refused(None, &OidcError::NotConfigured);
    };
    let next = session::safe_next(q.next.as_deref());
    match oidc.begin(&next, &st.console).await {
        Ok((url, state)) => with_cookie(
            see_other(&url),
            state_cookie(&state, PENDING_LIFETIME, session::over_https(&headers)),
        ),
        Err(e) => refused(Some(oidc), &e),
    }
}

/// `GET /console/oidc/callback`: back from the provider.
pub(super) async fn callback<A: Analyzer + 'static>(
    AxState(st): AxState<Arc<ApiState<A>>>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let Some(oidc) = st.oidc.get() else {
        return refused(None, &OidcError::NotConfigured);
    };
    let https = session::over_https(&headers);
    let (identity, next) = match complete(oidc, &st.console, &headers, q).await {
        Ok(done) => done,
        // Someone else's answer leaves this browser's sign-in in progress alone.
        Err(e @ (OidcError::NoState | OidcError::StateMismatch)) => return refused(Some(oidc), &e),
        Err(e) => {
            return with_cookie(
                refused(Some(oidc), &e),
                state_cookie("", Duration::ZERO, https),
            );
        }
    };
    tracing::info!(
        name = %identity.name,
        role = %identity.role,
        provider = %oidc.display_name(),
        "signed in to the console through OIDC"
    );
    let page = SignedInPage {
        chrome: Chrome::default(),
        name: identity.name.clone(),
        role: identity.role.to_string(),
        provider: oidc.display_name(),
        next: next.clone(),
    };
    let mut res = html(StatusCode::OK, page.render());
    if let Ok(v) = HeaderValue::from_str(&format!("0; url={next}")) {
        res.headers_mut().insert(header::REFRESH, v);
    }
    let cookies = match super::sign_in::session_cookies(&st, identity, https).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    let mut res = with_cookie(res, state_cookie("", Duration::ZERO, https));
    for cookie in cookies {
        res = with_cookie(res, cookie);
    }
    res
}

async fn complete(
    oidc: &Oidc,
    sessions: &Sessions,
    headers: &HeaderMap,
    q: CallbackQuery,
) -> Result<(Identity, String), OidcError> {
    let state = q
        .state
        .filter(|s| !s.is_empty())
        .ok_or(OidcError::NoState)?;
    let bound = session::cookie(headers, STATE_COOKIE)
        .filter(|c| !c.is_empty())
        .ok_or(OidcError::NoCookie)?;
    if !session::tokens_match(&state, &bound) {
        return Err(OidcError::StateMismatch);
    }
    let pending = oidc
        .take(&state, sessions)
        .await
        .ok_or(OidcError::UnknownState)?;
    if let Some(error) = q.error {
        return Err(OidcError::ProviderSaid {
            error: provider::short(&error, 100),
            description: q.error_description.map(|d| provider::short(&d, 300)),
        });
    }
    let code = q.code.filter(|c| !c.is_empty()).ok_or(OidcError::NoCode)?;
    let identity = oidc.finish(&code, &pending).await?;
    Ok((identity, pending.next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B: the verifier is the base64url of the 32 octets listed there.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_state_cookie_is_lax_and_only_on_the_oidc_paths() {
        let c = state_cookie("abc", PENDING_LIFETIME, true);
        for part in [
            "nightshift_oidc=abc",
            "Path=/console/oidc",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=600",
            "Secure",
        ] {
            assert!(c.contains(part), "{c}");
        }
    }

    #[test]
    fn the_secret_is_not_shown() {
        let config: OidcConfig = serde_saphyr::from_str(
            "issuer: https://login.example.com\nclient_id: nightshift\nredirect_url: https://n.example.com/console/oidc/callback\nroles: {viewer: [staff]}\n",
        )
        .unwrap();
        let oidc = Oidc::new(
            config,
            Some(ClientSecret::new("hunter2")),
            &Default::default(),
        )
        .unwrap();
        assert!(!format!("{oidc:?}").contains("hunter2"));
    }
}
