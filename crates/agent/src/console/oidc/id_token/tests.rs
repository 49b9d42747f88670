use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use super::*;

const NOW: u64 = 1_800_000_000;

struct Key {
    kid: &'static str,
    pair: EcdsaKeyPair,
}

impl Key {
    fn new(kid: &'static str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        Key { kid, pair }
    }

    fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    fn sign(&self, header: Value, claims: &Value) -> String {
        let signed = format!("{}.{}", b64(&header), b64(claims));
        let sig = self
            .pair
            .sign(&SystemRandom::new(), signed.as_bytes())
            .unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    fn token(&self, claims: &Value) -> String {
        self.sign(
            json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn jwks(keys: &[&Key]) -> Jwks {
    serde_json::from_value(json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}))
        .unwrap()
}

fn claims() -> Value {
    json!({
        "iss": "https://login.example.com", "sub": "u-1", "aud": "nightshift",
        "exp": NOW + 300, "iat": NOW, "nonce": "n-1", "preferred_username": "carol",
    })
}

fn expected() -> Expected<'static> {
    Expected {
        issuer: "https://login.example.com",
        client_id: "nightshift",
        nonce: "n-1",
        now: NOW,
    }
}

fn with(changes: Value) -> Value {
    let mut c = claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

#[test]
fn a_token_signed_by_the_provider_passes() {
    let key = Key::new("k1");
    let other = Key::new("k2");
    let keys = jwks(&[&other, &key]);
    let c = verify(&key.token(&claims()), &keys, expected()).unwrap();
    assert_eq!(c["preferred_username"], "carol");
    // Within the leeway, and with several audiences that name this client as azp.
    let late = with(json!({"exp": NOW - LEEWAY_SECS + 1, "iat": NOW + LEEWAY_SECS}));
    verify(&key.token(&late), &keys, expected()).unwrap();
    let shared = with(json!({"aud": ["other", "nightshift"], "azp": "nightshift"}));
    verify(&key.token(&shared), &keys, expected()).unwrap();
    // Without a kid, the only key of its type.
    let no_kid = key.sign(json!({"alg": "ES256"}), &claims());
    verify(&no_kid, &jwks(&[&key]), expected()).unwrap();
    assert!(matches!(
        verify(&no_kid, &keys, expected()),
        Err(TokenError::UnknownKey(_))
    ));
}

#[test]
fn another_key_or_a_changed_token_fails_the_signature() {
    let key = Key::new("k1");
    let keys = jwks(&[&key]);
    let impostor = Key::new("k1");
    assert_eq!(
        verify(&impostor.token(&claims()), &keys, expected()),
        Err(TokenError::Signature)
    );
    let token = key.token(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(&with(json!({"preferred_username": "root"}))),
        parts[2]
    );
    assert_eq!(
        verify(&forged, &keys, expected()),
        Err(TokenError::Signature)
    );
    let unknown = Key::new("k9");
    assert_eq!(
        verify(&unknown.token(&claims()), &keys, expected()),
        Err(TokenError::UnknownKey("k9".into()))
    );
}

#[test]
fn none_and_hmac_are_refused_whatever_the_token_says() {
    let key = Key::new("k1");
    let keys = jwks(&[&key]);
    let unsigned = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims()));
    let e = verify(&unsigned, &keys, expected()).unwrap_err();
    assert_eq!(e, TokenError::Algorithm("none".into()));
    assert!(e.to_string().contains("alg \"none\""), "{e}");
    let hs = format!(
        "{}.{}.c2ln",
        b64(&json!({"alg": "HS256", "kid": "k1"})),
        b64(&claims())
    );
    assert_eq!(
        verify(&hs, &keys, expected()),
        Err(TokenError::Algorithm("HS256".into()))
    );
    // An RSA algorithm against an EC key is not a way around the key's type.
    let rs = key.sign(json!({"alg": "RS256", "kid": "k1"}), &claims());
    assert!(matches!(
        verify(&rs, &keys, expected()),
        Err(TokenError::UnknownKey(_))
    ));
    let crit = key.sign(
        json!({"alg": "ES256", "kid": "k1", "crit": ["exp"], "exp": 0}),
        &claims(),
    );
    assert!(matches!(
        verify(&crit, &keys, expected()),
        Err(TokenError::Malformed(_))
    ));
    for bad in ["", "a.b", "a.b.c.d", "!!.e30.e30"] {
        assert!(
            matches!(
                verify(bad, &keys, expected()),
                Err(TokenError::Malformed(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn each_claim_is_checked() {
    let key = Key::new("k1");
    let keys = jwks(&[&key]);
    let refused = |changes: Value| verify(&key.token(&with(changes)), &keys, expected());
    assert!(matches!(
        refused(json!({"iss": "https://evil.example.com"})),
        Err(TokenError::Issuer { .. })
    ));
    assert!(matches!(
        refused(json!({"iss": "https://login.example.com/"})),
        Err(TokenError::Issuer { .. })
    ));
    let e = refused(json!({"aud": "another-client"})).unwrap_err();
    assert!(e.to_string().contains("audience"), "{e}");
    assert!(matches!(
        refused(json!({"aud": ["other", "nightshift"]})),
        Err(TokenError::AuthorizedParty { .. })
    ));
    assert!(matches!(
        refused(json!({"azp": "other"})),
        Err(TokenError::AuthorizedParty { .. })
    ));
    let e = refused(json!({"exp": NOW - LEEWAY_SECS - 1})).unwrap_err();
    assert_eq!(e, TokenError::Expired(LEEWAY_SECS + 1));
    assert!(e.to_string().contains("expired"), "{e}");
    assert_eq!(
        refused(json!({"nbf": NOW + 3600})),
        Err(TokenError::NotYetValid("nbf", 3600))
    );
    assert_eq!(
        refused(json!({"iat": NOW + 3600})),
        Err(TokenError::NotYetValid("iat", 3600))
    );
    for missing in ["exp", "iat", "iss", "aud"] {
        assert!(
            matches!(
                refused(json!({missing: null})),
                Err(TokenError::MissingClaim(_))
            ),
            "{missing}"
        );
    }
    // A far-off expiry signed by the provider is its business; it does not overflow here.
    assert!(refused(json!({"exp": 1e30})).is_ok());
    assert_eq!(refused(json!({"nonce": "n-2"})), Err(TokenError::Nonce));
    assert_eq!(refused(json!({"nonce": null})), Err(TokenError::Nonce));
}
