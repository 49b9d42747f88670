//! Talking to the provider over the back channel: its discovery document, its keys, and the
//! token endpoint that turns an authorization code into an ID token. Answers are read up to
//! a bound, redirects are not followed (a code or the client secret goes nowhere but the
//! endpoint the discovery document named), and every call has a timeout.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;

use super::OidcError;
use super::config::{ClientSecret, endpoint_url};
use super::id_token::Jwks;

/// How long a call to the provider may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from the provider.
const MAX_BODY: usize = 256 * 1024;

/// The members of the provider's discovery document the console uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    /// Must equal the configured issuer exactly.
    pub issuer: String,
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
    /// PKCE methods, when the provider says.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// What the token endpoint answers (RFC 6749 §5.1); only the ID token is used.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    id_token: Option<String>,
}

/// An OAuth error answer (RFC 6749 §5.2).
#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// The discovery document of `issuer`, checked: it names the same issuer, and endpoints the
/// agent may send credentials to.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Discovery, OidcError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let (status, body) = get(http, &url, "discovery document").await?;
    if !status.is_success() {
        return Err(OidcError::Provider {
            what: "discovery document",
            problem: format!("{url} answered {status}"),
        });
    }
    let doc: Discovery = serde_json::from_slice(&body).map_err(|e| OidcError::Provider {
        what: "discovery document",
        problem: format!("{url} is not a discovery document: {e}"),
    })?;
    if doc.issuer != issuer {
        return Err(OidcError::DiscoveryIssuer {
            found: doc.issuer.chars().take(200).collect(),
            expected: issuer.to_string(),
        });
    }
    for (key, value) in [
        ("authorization_endpoint", &doc.authorization_endpoint),
        ("token_endpoint", &doc.token_endpoint),
        ("jwks_uri", &doc.jwks_uri),
    ] {
        endpoint_url(value).map_err(|e| OidcError::Provider {
            what: "discovery document",
            problem: format!("its {key} {value:?} {e}"),
        })?;
    }
    if let Some(methods) = &doc.code_challenge_methods_supported
        && !methods.iter().any(|m| m == "S256")
    {
        return Err(OidcError::Provider {
            what: "discovery document",
            problem:
                "the provider does not support PKCE with S256 (code_challenge_methods_supported)"
                    .into(),
        });
    }
    Ok(doc)
}

/// The provider's signing keys.
pub async fn keys(http: &reqwest::Client, jwks_uri: &str) -> Result<Jwks, OidcError> {
    let (status, body) = get(http, jwks_uri, "signing keys").await?;
    if !status.is_success() {
        return Err(OidcError::Provider {
            what: "signing keys",
            problem: format!("{jwks_uri} answered {status}"),
        });
    }
    serde_json::from_slice(&body).map_err(|e| OidcError::Provider {
        what: "signing keys",
        problem: format!("{jwks_uri} is not a JSON Web Key Set: {e}"),
    })
}

/// What the token endpoint is sent.
pub struct Exchange<'a> {
    /// The endpoint.
    pub token_endpoint: &'a str,
    /// The client.
    pub client_id: &'a str,
    /// Its secret (`client_secret_basic`), or none for a public client.
    pub secret: Option<&'a ClientSecret>,
    /// The code from the browser.
    pub code: &'a str,
    /// The redirect URL the code was issued for.
    pub redirect_url: &'a str,
    /// The PKCE verifier of this sign-in.
    pub verifier: &'a str,
}

/// The ID token for `exchange.code`.
pub async fn exchange(http: &reqwest::Client, x: Exchange<'_>) -> Result<String, OidcError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", x.code),
        ("redirect_uri", x.redirect_url),
        ("code_verifier", x.verifier),
    ];
    let mut req = http
        .post(x.token_endpoint)
        .header(ACCEPT, "application/json")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    match x.secret {
        // RFC 6749 §2.3.1: both halves form-encoded before they are joined.
        Some(secret) => {
            let pair = format!(
                "{}:{}",
                form_encode(x.client_id),
                form_encode(secret.expose())
            );
            req = req.header(AUTHORIZATION, format!("Basic {}", STANDARD.encode(pair)));
        }
        None => form.push(("client_id", x.client_id)),
    }
    let body = serde_urlencoded::to_string(&form).unwrap_or_default();
    let res = req
        .body(body)
        .send()
        .await
        .map_err(|e| OidcError::Transport {
            what: "token endpoint",
            problem: nightshift_net::explain(&e),
        })?;
    let status = res.status();
    let body = read(res, "token endpoint").await?;
    if !status.is_success() {
        let said = serde_json::from_slice::<ErrorAnswer>(&body)
            .map(|e| {
                let mut said = short(&e.error, 100);
                if let Some(d) = e.error_description.filter(|d| !d.is_empty()) {
                    said.push_str(": ");
                    said.push_str(&short(&d, 300));
                }
                said
            })
            .unwrap_or_else(|_| {
                format!("a body of {} bytes that is not an OAuth error", body.len())
            });
        return Err(OidcError::TokenEndpoint(format!(
            "it answered {status} with {said}"
        )));
    }
    let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
        OidcError::TokenEndpoint(format!(
            "it answered {status} with a body of {} bytes that is not a token response (JSON)",
            body.len()
        ))
    })?;
    answer.id_token.filter(|t| !t.is_empty()).ok_or_else(|| {
        OidcError::TokenEndpoint("its answer has no id_token; is openid among the scopes?".into())
    })
}

async fn get(
    http: &reqwest::Client,
    url: &str,
    what: &'static str,
) -> Result<(reqwest::StatusCode, Vec<u8>), OidcError> {
    let res = http
        .get(url)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| OidcError::Transport {
            what,
            problem: nightshift_net::explain(&e),
        })?;
    let status = res.status();
    Ok((status, read(res, what).await?))
}

async fn read(mut res: reqwest::Response, what: &'static str) -> Result<Vec<u8>, OidcError> {
    let too_big = || OidcError::Provider {
        what,
        problem: format!("the answer is larger than {MAX_BODY} bytes"),
    };
    if res.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| OidcError::Transport {
        what,
        problem: nightshift_net::explain(&e),
    })? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// At most `max` characters of what the provider said, on one line.
pub fn short(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}
