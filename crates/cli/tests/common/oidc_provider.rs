//! A local OpenID Connect provider on 127.0.0.1 for the console's tests: a discovery document,
//! its keys (ES256 generated here, RS256 from tests/fixtures/oidc_rsa_test_key.pem), an
//! authorize endpoint that consents at once as the configured person and sends the browser
//! back with a code, and a token endpoint that checks the client's credentials, the redirect
//! URI and the PKCE verifier before it signs an ID token. What it gets wrong on purpose is
//! set with [`Mischief`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The console's client at this provider.
pub const CLIENT_ID: &str = "nightshift-console";
/// Its secret (`client_secret_basic`).
pub const CLIENT_SECRET: &str = "s3cret/for+tests";

/// Who consents at the authorize endpoint.
#[derive(Debug, Clone)]
pub struct Person {
    /// `sub`.
    pub sub: String,
    /// `preferred_username`.
    pub username: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// `groups`.
    pub groups: Vec<String>,
}

impl Person {
    /// A person named `username` in `groups`.
    pub fn new(username: &str, groups: &[&str]) -> Self {
        Person {
            sub: format!("sub-{username}"),
            username: Some(username.into()),
            email: Some(format!("{username}@example.com")),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

/// How the ID token is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// ECDSA P-256, key `ec-1`.
    Es256,
    /// RSA PKCS#1 v1.5 SHA-256, key `rsa-1`.
    Rs256,
}

/// What the provider gets wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mischief {
    /// Nothing.
    None,
    /// The discovery document names another issuer.
    DiscoveryIssuer,
    /// The person declines: `error=access_denied`.
    DenyAccess,
    /// The token is signed by a key the provider does not publish, under a published kid.
    OtherKey,
    /// The token is signed by a key under a kid the provider does not publish.
    UnknownKid,
    /// `alg: none`, no signature.
    AlgNone,
    /// `aud` is another client.
    WrongAudience,
    /// `iss` is another issuer.
    WrongIssuer,
    /// `exp` an hour ago.
    Expired,
    /// Another sign-in's nonce.
    WrongNonce,
    /// The token endpoint answers this status with an OAuth error (or text for 5xx).
    TokenStatus(u16),
    /// The token endpoint answers 200 with a body that is not JSON.
    GarbageJson,
}

struct Grant {
    redirect_uri: String,
    challenge: String,
    nonce: String,
    person: Person,
}

struct Shared {
    issuer: String,
    redirect_uri: String,
    person: Mutex<Person>,
    signing: Mutex<Signing>,
    mischief: Mutex<Mischief>,
    ec: Mutex<(String, EcdsaKeyPair)>,
    retired: Mutex<Vec<Value>>,
    rsa: RsaKeyPair,
    codes: Mutex<HashMap<String, Grant>>,
    refusals: Mutex<Vec<String>>,
    tokens_issued: AtomicUsize,
    jwks_served: AtomicUsize,
}

/// A running provider.
pub struct OidcProvider {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its issuer URL.
    pub issuer: String,
    shared: Arc<Shared>,
}

fn ec_key() -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap()
}

fn ec_jwk(kid: &str, key: &EcdsaKeyPair) -> Value {
    let point = key.public_key().as_ref();
    json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])})
}

fn rsa_key() -> RsaKeyPair {
    let pem = include_str!("../fixtures/oidc_rsa_test_key.pem");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    RsaKeyPair::from_pkcs8(&STANDARD.decode(b64).unwrap()).unwrap()
}

impl OidcProvider {
    /// Starts a provider whose client comes back to `redirect_uri`, consenting as `person`.
    pub async fn start(redirect_uri: &str, person: Person) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let issuer = format!("http://{addr}/realms/ops");
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            redirect_uri: redirect_uri.into(),
            person: Mutex::new(person),
            signing: Mutex::new(Signing::Es256),
            mischief: Mutex::new(Mischief::None),
            ec: Mutex::new(("ec-1".into(), ec_key())),
            retired: Mutex::new(vec![]),
            rsa: rsa_key(),
            codes: Mutex::new(HashMap::new()),
            refusals: Mutex::new(vec![]),
            tokens_issued: AtomicUsize::new(0),
            jwks_served: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route(
                "/realms/ops/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/realms/ops/keys", get(jwks))
            .route("/realms/ops/authorize", get(authorize))
            .route("/realms/ops/token", post(token))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        OidcProvider {
            addr,
            issuer,
            shared,
        }
    }

    /// Who consents from now on.
    pub fn consent_as(&self, person: Person) {
        *self.shared.person.lock().unwrap() = person;
    }

    /// How ID tokens are signed from now on.
    pub fn sign_with(&self, signing: Signing) {
        *self.shared.signing.lock().unwrap() = signing;
    }

    /// What goes wrong from now on.
    pub fn misbehave(&self, mischief: Mischief) {
        *self.shared.mischief.lock().unwrap() = mischief;
    }

    /// Publishes a new ES256 key and signs with it from now on (the old one stays published).
    pub fn rotate(&self) {
        let mut ec = self.shared.ec.lock().unwrap();
        self.shared
            .retired
            .lock()
            .unwrap()
            .push(ec_jwk(&ec.0, &ec.1));
        let kid = format!("ec-{}", self.shared.retired.lock().unwrap().len() + 1);
        *ec = (kid, ec_key());
    }

    /// ID tokens the token endpoint has issued.
    pub fn tokens_issued(&self) -> usize {
        self.shared.tokens_issued.load(Ordering::SeqCst)
    }

    /// Times the keys were fetched.
    pub fn jwks_served(&self) -> usize {
        self.shared.jwks_served.load(Ordering::SeqCst)
    }

    /// Why the token endpoint refused requests (the client spoke wrongly).
    pub fn refusals(&self) -> Vec<String> {
        self.shared.refusals.lock().unwrap().clone()
    }
}

async fn discovery(State(s): State<Arc<Shared>>) -> Response {
    let issuer = if *s.mischief.lock().unwrap() == Mischief::DiscoveryIssuer {
        format!("{}/", s.issuer)
    } else {
        s.issuer.clone()
    };
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{}/authorize", s.issuer),
        "token_endpoint": format!("{}/token", s.issuer),
        "jwks_uri": format!("{}/keys", s.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    }))
    .into_response()
}

async fn jwks(State(s): State<Arc<Shared>>) -> Response {
    s.jwks_served.fetch_add(1, Ordering::SeqCst);
    let ec = s.ec.lock().unwrap();
    let rsa: RsaPublicKeyComponents<Vec<u8>> = s.rsa.public().into();
    let mut keys = s.retired.lock().unwrap().clone();
    keys.push(ec_jwk(&ec.0, &ec.1));
    keys.push(
        json!({"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
        "n": URL_SAFE_NO_PAD.encode(&rsa.n), "e": URL_SAFE_NO_PAD.encode(&rsa.e)}),
    );
    axum::Json(json!({ "keys": keys })).into_response()
}

fn bad(why: &str) -> Response {
    (StatusCode::BAD_REQUEST, why.to_string()).into_response()
}

async fn authorize(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if p("response_type") != "code" || p("client_id") != CLIENT_ID {
        return bad("response_type must be code, client_id the console's");
    }
    if p("redirect_uri") != s.redirect_uri {
        return bad("redirect_uri is not the registered one");
    }
    if p("code_challenge_method") != "S256" || p("code_challenge").len() != 43 {
        return bad("PKCE with S256 is required");
    }
    if !p("scope").split(' ').any(|x| x == "openid")
        || p("state").is_empty()
        || p("nonce").is_empty()
    {
        return bad("scope openid, state and nonce are required");
    }
    let back = |pairs: &[(&str, &str)]| {
        let query = serde_urlencoded::to_string(pairs).unwrap();
        let mut res = StatusCode::SEE_OTHER.into_response();
        let to = format!("{}?{query}", s.redirect_uri);
        res.headers_mut()
            .insert(header::LOCATION, to.parse().unwrap());
        res
    };
    if *s.mischief.lock().unwrap() == Mischief::DenyAccess {
        return back(&[
            ("error", "access_denied"),
            ("error_description", "The person declined."),
            ("state", p("state")),
        ]);
    }
    let code = format!("code-{}", rand_suffix());
    s.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            redirect_uri: p("redirect_uri").into(),
            challenge: p("code_challenge").into(),
            nonce: p("nonce").into(),
            person: s.person.lock().unwrap().clone(),
        },
    );
    back(&[("code", &code), ("state", p("state"))])
}

fn rand_suffix() -> String {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn token(State(s): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let mischief = s.mischief.lock().unwrap().clone();
    match mischief {
        Mischief::TokenStatus(code) if code >= 500 => {
            return (StatusCode::from_u16(code).unwrap(), "upstream exploded").into_response();
        }
        Mischief::TokenStatus(code) => {
            let e = json!({"error": "invalid_grant", "error_description": "Code not valid"});
            return (StatusCode::from_u16(code).unwrap(), axum::Json(e)).into_response();
        }
        Mischief::GarbageJson => return (StatusCode::OK, "{\"id_token\": <html>").into_response(),
        _ => {}
    }
    let refuse = |error: &str, why: &str| {
        s.refusals.lock().unwrap().push(why.to_string());
        let e = json!({"error": error, "error_description": why});
        (StatusCode::BAD_REQUEST, axum::Json(e)).into_response()
    };
    // client_secret_basic: each half form-encoded, then base64 (RFC 6749 §2.3.1).
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok());
    let expected = format!("{}:{}", form(CLIENT_ID), form(CLIENT_SECRET));
    if basic.as_deref() != Some(expected.as_str()) {
        return refuse("invalid_client", "client authentication failed");
    }
    let f: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let p = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    if p("grant_type") != "authorization_code" {
        return refuse(
            "unsupported_grant_type",
            "grant_type must be authorization_code",
        );
    }
    let Some(grant) = s.codes.lock().unwrap().remove(p("code")) else {
        return refuse("invalid_grant", "unknown or used code");
    };
    if p("redirect_uri") != grant.redirect_uri {
        return refuse(
            "invalid_grant",
            "redirect_uri differs from the authorization request's",
        );
    }
    if URL_SAFE_NO_PAD.encode(Sha256::digest(p("code_verifier").as_bytes())) != grant.challenge {
        return refuse(
            "invalid_grant",
            "code_verifier does not match the challenge",
        );
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let person = grant.person;
    let mut claims = json!({
        "iss": s.issuer, "sub": person.sub, "aud": CLIENT_ID, "azp": CLIENT_ID,
        "exp": now + 300, "iat": now, "nonce": grant.nonce, "groups": person.groups,
    });
    if let Some(u) = person.username {
        claims["preferred_username"] = json!(u);
    }
    if let Some(e) = person.email {
        claims["email"] = json!(e);
    }
    match mischief {
        Mischief::WrongAudience => {
            claims["aud"] = json!("another-client");
            claims.as_object_mut().unwrap().remove("azp");
        }
        Mischief::WrongIssuer => claims["iss"] = json!("http://127.0.0.1:1/realms/evil"),
        Mischief::Expired => {
            claims["exp"] = json!(now - 3600);
            claims["iat"] = json!(now - 3900);
        }
        Mischief::WrongNonce => claims["nonce"] = json!("a-nonce-of-another-sign-in"),
        _ => {}
    }
    let id_token = sign(&s, &mischief, &claims);
    s.tokens_issued.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({"access_token": "at-unused", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}))
        .into_response()
}

fn form(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).unwrap()[1..].to_string()
}

fn b64json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn sign(s: &Shared, mischief: &Mischief, claims: &Value) -> String {
    let rng = SystemRandom::new();
    let payload = b64json(claims);
    let es256 = |kid: &str, key: &EcdsaKeyPair| {
        let signed = format!(
            "{}.{payload}",
            b64json(&json!({"alg": "ES256", "kid": kid, "typ": "JWT"}))
        );
        let sig = key.sign(&rng, signed.as_bytes()).unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    };
    match mischief {
        Mischief::AlgNone => format!(
            "{}.{payload}.",
            b64json(&json!({"alg": "none", "typ": "JWT"}))
        ),
        Mischief::OtherKey => es256(&s.ec.lock().unwrap().0, &ec_key()),
        Mischief::UnknownKid => es256("ec-unpublished", &ec_key()),
        _ => match *s.signing.lock().unwrap() {
            Signing::Es256 => {
                let ec = s.ec.lock().unwrap();
                es256(&ec.0, &ec.1)
            }
            Signing::Rs256 => {
                let signed = format!(
                    "{}.{payload}",
                    b64json(&json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}))
                );
                let mut sig = vec![0; s.rsa.public().modulus_len()];
                s.rsa
                    .sign(&RSA_PKCS1_SHA256, &rng, signed.as_bytes(), &mut sig)
                    .unwrap();
                format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
            }
        },
    }
}
