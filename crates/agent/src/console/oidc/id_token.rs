//! Checking an ID token (a JWS in compact form) as OpenID Connect Core 1.0 §3.1.3.7 asks:
//! the signature with the provider's published key, then `iss`, `aud` (and `azp`), `exp`,
//! `iat`, `nbf` and `nonce`.
//!
//! Written by hand over `ring`, which the tree already has through rustls: a JWT crate would
//! add a second set of RSA and elliptic-curve crates (or aws-lc-rs) for the few dozen lines
//! that choose a key and check a signature. Only asymmetric algorithms are accepted; `none`
//! and the HMAC ones (`HS*`, whose key would be the client secret) are refused, and the
//! algorithm must match the key's type, so a token cannot choose how it is checked.
//!
//! Times are the agent host's wall clock in seconds since the epoch, the provider's unit.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::console::session::tokens_match;

/// Clock skew allowed between the provider and the agent, in seconds.
pub const LEEWAY_SECS: u64 = 60;

/// The provider's published keys (its `jwks_uri`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Jwks {
    /// The keys.
    #[serde(default)]
    pub keys: Vec<Jwk>,
}

/// One published key; only the members a signature check needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// What the token must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The configured issuer.
    pub issuer: &'a str,
    /// The configured client.
    pub client_id: &'a str,
    /// The nonce sent with this sign-in.
    pub nonce: &'a str,
    /// Now, in seconds since the epoch.
    pub now: u64,
}

/// Why an ID token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("the ID token is malformed: {0}")]
    Malformed(&'static str),
    /// An algorithm that is not accepted.
    #[error(
        "the ID token is signed with alg {0:?}, which is refused; expected RS256, RS384, RS512, ES256 or ES384"
    )]
    Algorithm(String),
    /// No published key has the token's `kid`.
    #[error("no key the provider publishes has the ID token's key id {0:?}")]
    UnknownKey(String),
    /// The key chosen cannot check this algorithm.
    #[error("the provider's key {kid:?} cannot check an {alg} signature: {why}")]
    KeyUnusable {
        /// The key's id.
        kid: String,
        /// The token's algorithm.
        alg: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The signature does not verify.
    #[error("the ID token's signature is invalid: it was not signed by the provider's key")]
    Signature,
    /// A required claim is absent or of the wrong type.
    #[error("the ID token has no valid {0} claim")]
    MissingClaim(&'static str),
    /// Another issuer.
    #[error("the ID token was issued by {found:?}, not by the configured issuer {expected:?}")]
    Issuer {
        /// The token's `iss`.
        found: String,
        /// The configured one.
        expected: String,
    },
    /// Not for this client.
    #[error("the ID token's audience {found:?} does not include this client {client_id:?}")]
    Audience {
        /// The token's `aud`.
        found: Vec<String>,
        /// The configured client.
        client_id: String,
    },
    /// Several audiences and `azp` not this client.
    #[error(
        "the ID token was issued to {found:?} (azp), not to this client {client_id:?}; a token with several audiences must name this client as its authorized party"
    )]
    AuthorizedParty {
        /// The token's `azp` (empty if absent).
        found: String,
        /// The configured client.
        client_id: String,
    },
    /// Past `exp`.
    #[error("the ID token expired {0} seconds ago")]
    Expired(u64),
    /// `iat` or `nbf` in the future.
    #[error("the ID token is not valid yet ({0} is {1} seconds in the future)")]
    NotYetValid(&'static str, u64),
    /// Another sign-in's nonce.
    #[error("the ID token's nonce does not match this sign-in's; it was issued for another one")]
    Nonce,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    /// Extensions the signer requires the reader to understand (RFC 7515 §4.1.11); none is
    /// understood here.
    #[serde(default)]
    crit: Option<Value>,
}

/// Checks `token` against `keys` and `expected`; its claims when all is well. An
/// [`TokenError::UnknownKey`] tells the caller to fetch the keys again (a rotation).
pub fn verify(
    token: &str,
    keys: &Jwks,
    expected: Expected<'_>,
) -> Result<Map<String, Value>, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(
            "expected three parts separated by dots",
        ));
    };
    let decode = |part: &str, what| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenError::Malformed(what))
    };
    let header: Header = serde_json::from_slice(&decode(h, "the header is not base64url")?)
        .map_err(|_| TokenError::Malformed("the header is not a JSON object with alg"))?;
    if header.crit.is_some() {
        return Err(TokenError::Malformed(
            "its header lists critical extensions (crit), which this client does not understand",
        ));
    }
    let sig = decode(s, "the signature is not base64url")?;
    let check = match header.alg.as_str() {
        "RS256" => Check::Rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
        "RS384" => Check::Rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
        "RS512" => Check::Rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
        "ES256" => Check::Ec(&signature::ECDSA_P256_SHA256_FIXED, "P-256", 32),
        "ES384" => Check::Ec(&signature::ECDSA_P384_SHA384_FIXED, "P-384", 48),
        other => return Err(TokenError::Algorithm(other.chars().take(20).collect())),
    };
    let kty = match check {
        Check::Rsa(_) => "RSA",
        Check::Ec(..) => "EC",
    };
    let key = choose_key(keys, header.kid.as_deref(), kty)?;
    let kid = key.kid.clone().unwrap_or_default();
    let unusable = |why| TokenError::KeyUnusable {
        kid: kid.clone(),
        alg: header.alg.clone(),
        why,
    };
    if key.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err(unusable("it is not published for signatures"));
    }
    if key.alg.as_deref().is_some_and(|a| a != header.alg) {
        return Err(unusable("it is published for another algorithm"));
    }
    let b64 = |v: &Option<String>| {
        v.as_deref()
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .ok_or_else(|| unusable("a member of the key is missing or not base64url"))
    };
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    let checked = match check {
        Check::Rsa(params) => RsaPublicKeyComponents {
            n: b64(&key.n)?,
            e: b64(&key.e)?,
        }
        .verify(params, signed, &sig),
        Check::Ec(algorithm, crv, size) => {
            if key.crv.as_deref() != Some(crv) {
                return Err(unusable("its curve does not match the algorithm"));
            }
            let (x, y) = (b64(&key.x)?, b64(&key.y)?);
            if x.len() != size || y.len() != size {
                return Err(unusable("its coordinates have the wrong length"));
            }
            // An uncompressed point, as ring takes it.
            let point = [&[4u8][..], &x, &y].concat();
            UnparsedPublicKey::new(algorithm, point).verify(signed, &sig)
        }
    };
    checked.map_err(|_| TokenError::Signature)?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&decode(p, "the payload is not base64url")?)
            .map_err(|_| TokenError::Malformed("the payload is not a JSON object"))?;
    check_claims(&claims, expected)?;
    Ok(claims)
}

/// How a signature of the token's algorithm is checked.
enum Check {
    /// RSASSA-PKCS1-v1_5 with a 2048 to 8192-bit key.
    Rsa(&'static signature::RsaParameters),
    /// ECDSA with the curve's name in a JWK and its coordinates' length.
    Ec(
        &'static signature::EcdsaVerificationAlgorithm,
        &'static str,
        usize,
    ),
}

/// The key named by `kid`, or without one the only key of the right type.
fn choose_key<'k>(keys: &'k Jwks, kid: Option<&str>, kty: &str) -> Result<&'k Jwk, TokenError> {
    match kid {
        Some(kid) => keys
            .keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid) && k.kty == kty)
            .ok_or_else(|| TokenError::UnknownKey(kid.chars().take(100).collect())),
        None => {
            let mut of_type = keys.keys.iter().filter(|k| k.kty == kty);
            match (of_type.next(), of_type.next()) {
                (Some(k), None) => Ok(k),
                _ => Err(TokenError::UnknownKey(String::new())),
            }
        }
    }
}

fn check_claims(c: &Map<String, Value>, want: Expected<'_>) -> Result<(), TokenError> {
    let iss = c
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(TokenError::MissingClaim("iss"))?;
    if iss != want.issuer {
        return Err(TokenError::Issuer {
            found: iss.chars().take(200).collect(),
            expected: want.issuer.to_string(),
        });
    }
    let aud: Vec<String> = match c.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or(TokenError::MissingClaim("aud"))?,
        _ => return Err(TokenError::MissingClaim("aud")),
    };
    if !aud.iter().any(|a| a == want.client_id) {
        return Err(TokenError::Audience {
            found: aud.into_iter().take(10).collect(),
            client_id: want.client_id.to_string(),
        });
    }
    let azp = c.get("azp").and_then(Value::as_str);
    if azp.is_some_and(|a| a != want.client_id) || (aud.len() > 1 && azp.is_none()) {
        return Err(TokenError::AuthorizedParty {
            found: azp.unwrap_or("").chars().take(200).collect(),
            client_id: want.client_id.to_string(),
        });
    }
    let time = |name| -> Result<Option<u64>, TokenError> {
        match c.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|t| t.is_finite() && *t >= 0.0)
                .map(|t| Some(t as u64))
                .ok_or(TokenError::MissingClaim(name)),
        }
    };
    let exp = time("exp")?.ok_or(TokenError::MissingClaim("exp"))?;
    if want.now > exp.saturating_add(LEEWAY_SECS) {
        return Err(TokenError::Expired(want.now - exp));
    }
    let iat = time("iat")?.ok_or(TokenError::MissingClaim("iat"))?;
    for (name, at) in [("iat", Some(iat)), ("nbf", time("nbf")?)] {
        if let Some(at) = at
            && at > want.now + LEEWAY_SECS
        {
            return Err(TokenError::NotYetValid(name, at - want.now));
        }
    }
    let nonce = c
        .get("nonce")
        .and_then(Value::as_str)
        .ok_or(TokenError::Nonce)?;
    if !tokens_match(nonce, want.nonce) {
        return Err(TokenError::Nonce);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
