//! Who may call the agent's API and how much: the `auth`, `tokens`, `token_env`, `basic_*` and
//! `http` keys of the configuration, turned into the runtime's credentials and limits; and who
//! may sign in to the console through an identity provider (`console.oidc`).
//!
//! Fail closed: a credential variable that is named but unset or empty stops the start with
//! its name; an API beyond loopback without credentials needs `auth: none`, said on purpose.

use std::collections::HashSet;
use std::time::Duration;

use nightshift_agent::console::oidc::{Oidc, OidcConfig};
use nightshift_agent::http::{Auth, Credential, HttpLimits, Role};
use nightshift_core::units::parse_duration;
use nightshift_net::TlsSettings;
use serde::Deserialize;

/// `auth:` — the only value is `none`, which serves the API without authentication even
/// beyond loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// No authentication, on purpose.
    None,
}

/// One entry of `tokens:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Its name, recorded as the actor of what it does (e.g. the approver).
    pub name: String,
    /// `receiver` (post alerts), `viewer`, `approver` or `admin`.
    pub role: Role,
    /// Environment variable holding the token.
    pub token_env: Option<String>,
    /// Or the token's SHA-256 in hexadecimal (`printf %s "$TOKEN" | sha256sum`), so that the
    /// token itself need not be in the agent's environment.
    pub sha256: Option<String>,
    /// Namespaces an approver may answer approvals for (default: all).
    pub namespaces: Option<Vec<String>>,
}

/// `http:` — limits of the API server. Durations as `10s`, `2m`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Connections open at once (past it the longest-idle one is closed).
    pub max_connections: usize,
    /// Requests handled at once (503 past it).
    pub max_requests: usize,
    /// Time for a request's headers to arrive.
    pub header_read_timeout: String,
    /// Time for a request's body to arrive (408 past it).
    pub body_read_timeout: String,
    /// A connection idle this long is closed.
    pub idle_timeout: String,
    /// Largest Alertmanager webhook body in bytes (413 past it).
    pub max_alert_body_bytes: usize,
    /// Alerts per second admitted per client credential (0: unlimited; 429 past it).
    pub alerts_per_second: f64,
    /// Alerts a client may send at once before its rate applies.
    pub alert_burst: f64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        let d = HttpLimits::default();
        let secs = |d: Duration| format!("{}s", d.as_secs());
        HttpSettings {
            max_connections: d.max_connections,
            max_requests: d.max_requests,
            header_read_timeout: secs(d.header_read_timeout),
            body_read_timeout: secs(d.body_read_timeout),
            idle_timeout: secs(d.idle_timeout),
            max_alert_body_bytes: d.max_alert_body,
            alerts_per_second: d.alerts_per_second,
            alert_burst: d.alert_burst,
        }
    }
}

impl HttpSettings {
    /// The durations with their keys, for validation.
    pub fn durations(&self) -> [(&'static str, &String); 3] {
        [
            ("http.header_read_timeout", &self.header_read_timeout),
            ("http.body_read_timeout", &self.body_read_timeout),
            ("http.idle_timeout", &self.idle_timeout),
        ]
    }

    /// The runtime limits; durations that do not parse keep their defaults (`load` has
    /// already refused them).
    pub fn limits(&self) -> HttpLimits {
        let d = HttpLimits::default();
        let dur = |s: &str, default: Duration| parse_duration(s).unwrap_or(default);
        HttpLimits {
            max_connections: self.max_connections.max(1),
            max_requests: self.max_requests.max(1),
            header_read_timeout: dur(&self.header_read_timeout, d.header_read_timeout)
                .max(Duration::from_millis(100)),
            body_read_timeout: dur(&self.body_read_timeout, d.body_read_timeout)
                .max(Duration::from_millis(100)),
            idle_timeout: dur(&self.idle_timeout, d.idle_timeout).max(Duration::from_secs(1)),
            max_alert_body: self.max_alert_body_bytes.max(1024),
            alerts_per_second: self.alerts_per_second.max(0.0),
            alert_burst: self.alert_burst.max(1.0),
        }
    }
}

/// The credential keys of the configuration.
#[derive(Debug, Clone, Copy)]
pub struct AccessKeys<'a> {
    /// `auth:`.
    pub auth: Option<AuthMode>,
    /// `tokens:`.
    pub tokens: &'a [TokenSettings],
    /// `token_env:` (one admin token named `api`).
    pub token_env: Option<&'a str>,
    /// `basic_user:`.
    pub basic_user: Option<&'a str>,
    /// `basic_password_env:`.
    pub basic_password_env: Option<&'a str>,
}

impl AccessKeys<'_> {
    /// What is wrong with the keys themselves, found when the file loads (before any
    /// environment is read): the key and the problem.
    pub fn check(&self) -> Result<(), String> {
        let mut names = HashSet::new();
        for (i, t) in self.tokens.iter().enumerate() {
            let key = format!("tokens[{i}]");
            if t.name.trim().is_empty() || t.name.chars().any(char::is_control) {
                return Err(format!("{key}.name: must be a non-empty name on one line"));
            }
            if !names.insert(t.name.as_str()) {
                return Err(format!("{key}.name: {:?} is used twice", t.name));
            }
            match (&t.token_env, &t.sha256) {
                (Some(_), Some(_)) => {
                    return Err(format!("{key}: give token_env or sha256, not both"));
                }
                (None, None) => return Err(format!("{key}: give token_env or sha256")),
                (None, Some(h)) => {
                    if nightshift_agent::auth::SecretDigest::from_hex(h).is_none() {
                        return Err(format!("{key}.sha256: expected 64 hexadecimal digits"));
                    }
                }
                (Some(_), None) => {}
            }
            if t.namespaces.is_some() && !matches!(t.role, Role::Approver) {
                return Err(format!(
                    "{key}.namespaces: only an approver's answers are limited to namespaces"
                ));
            }
        }
        if self.token_env.is_some() && names.contains("api") {
            return Err("tokens: the name \"api\" is taken by token_env".into());
        }
        match (self.basic_user, self.basic_password_env) {
            (Some(_), None) => return Err("basic_user: needs basic_password_env".into()),
            (None, Some(_)) => return Err("basic_password_env: needs basic_user".into()),
            _ => {}
        }
        let any = !self.tokens.is_empty() || self.token_env.is_some() || self.basic_user.is_some();
        if self.auth == Some(AuthMode::None) && any {
            return Err(
                "auth: `none` serves without authentication, but credentials are configured; remove one or the other".into(),
            );
        }
        Ok(())
    }

    /// The credentials, read from the environment through `env`. A variable named but unset
    /// or empty is an error naming it.
    pub fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> Result<Auth, String> {
        self.check()?;
        let read = |key: &str, var: &str| -> Result<String, String> {
            env(var)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("{key}: the environment variable {var} is unset or empty"))
        };
        let mut creds = vec![];
        if let Some(var) = self.token_env {
            let token = read("token_env", var)?;
            creds.push(Credential::bearer("api", Role::Admin, token.trim()));
        }
        for (i, t) in self.tokens.iter().enumerate() {
            let c = match (&t.token_env, &t.sha256) {
                (Some(var), _) => {
                    let token = read(&format!("tokens[{i}].token_env"), var)?;
                    Credential::bearer(t.name.clone(), t.role, token.trim())
                }
                (None, Some(h)) => Credential::bearer_digest(
                    t.name.clone(),
                    t.role,
                    nightshift_agent::auth::SecretDigest::from_hex(h)
                        .ok_or_else(|| format!("tokens[{i}].sha256: not a digest"))?,
                ),
                (None, None) => unreachable!("check() refused it"),
            };
            creds.push(match &t.namespaces {
                Some(ns) => c.in_namespaces(ns.clone()),
                None => c,
            });
        }
        if let (Some(user), Some(var)) = (self.basic_user, self.basic_password_env) {
            let password = read("basic_password_env", var)?;
            creds.push(Credential::basic(user, &password));
        }
        Ok(if creds.is_empty() {
            Auth::open(self.auth == Some(AuthMode::None))
        } else {
            Auth::with(creds)
        })
    }
}

/// `console:` — the web console.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// Sign-in through an OpenID Connect provider, beside the API's tokens (docs/console.md).
    pub oidc: Option<OidcConfig>,
}

impl ConsoleSettings {
    /// What is wrong with the section, found when the file loads. Sign-in through a provider
    /// needs an API that requires credentials: an open one signs everybody in to the console
    /// as an anonymous admin.
    pub fn check(&self, access: &AccessKeys<'_>) -> Result<(), String> {
        let Some(oidc) = &self.oidc else {
            return Ok(());
        };
        oidc.check()?;
        let none =
            access.tokens.is_empty() && access.token_env.is_none() && access.basic_user.is_none();
        if access.auth == Some(AuthMode::None) || none {
            return Err("console.oidc: the API requires no credentials, so the console signs everybody in as an anonymous admin; configure tokens (or token_env) to sign in through a provider".into());
        }
        Ok(())
    }

    /// The console's OIDC client, its secret read through `env` or from its file; `None`
    /// without `console.oidc`. A variable named but unset or empty, or a file unreadable or
    /// empty, stops the start with the key's name (never the secret).
    pub fn oidc(
        &self,
        tls: &TlsSettings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Oidc>, String> {
        let Some(oidc) = &self.oidc else {
            return Ok(None);
        };
        let secret = oidc.client_secret(env)?;
        Oidc::new(oidc.clone(), secret, tls).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nightshift_agent::http::Scope;
    use reqwest::header::{self, HeaderMap};

    fn keys<'a>(tokens: &'a [TokenSettings]) -> AccessKeys<'a> {
        AccessKeys {
            auth: None,
            tokens,
            token_env: None,
            basic_user: None,
            basic_password_env: None,
        }
    }

    fn bearer(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(
            header::AUTHORIZATION,
            format!("Bearer {v}").parse().unwrap(),
        );
        m
    }

    #[test]
    fn a_named_variable_that_is_unset_or_empty_stops_the_start_with_its_name() {
        let k = AccessKeys {
            token_env: Some("NS_TEST_TOKEN"),
            ..keys(&[])
        };
        let e = k.resolve(|_| None).unwrap_err();
        assert!(
            e.contains("NS_TEST_TOKEN") && e.contains("token_env"),
            "{e}"
        );
        let e = k.resolve(|_| Some("  ".into())).unwrap_err();
        assert!(e.contains("NS_TEST_TOKEN"), "{e}");
        let auth = k.resolve(|_| Some("s3cret".into())).unwrap();
        assert!(auth.required());
        assert_eq!(
            auth.authorize(&bearer("s3cret"), Scope::Approve)
                .unwrap()
                .name,
            "api"
        );
        let k = AccessKeys {
            basic_user: Some("am"),
            basic_password_env: Some("NS_TEST_PW"),
            ..keys(&[])
        };
        let e = k.resolve(|_| None).unwrap_err();
        assert!(e.contains("NS_TEST_PW"), "{e}");
    }

    #[test]
    fn named_tokens_carry_their_roles_and_namespaces() {
        let tokens = vec![
            TokenSettings {
                name: "alice".into(),
                role: Role::Approver,
                token_env: Some("ALICE".into()),
                sha256: None,
                namespaces: Some(vec!["payments".into()]),
            },
            TokenSettings {
                name: "dashboards".into(),
                role: Role::Viewer,
                token_env: None,
                // sha256("viewer-token")
                sha256: Some(
                    "d036bd6d01a1cae081d39a2f8dab751dc042de814fd60df31fcb553170950f29".into(),
                ),
                namespaces: None,
            },
        ];
        let auth = keys(&tokens)
            .resolve(|v| (v == "ALICE").then(|| "alice-token".to_string()))
            .unwrap();
        let alice = auth
            .authorize(&bearer("alice-token"), Scope::Approve)
            .unwrap();
        assert_eq!(alice.name, "alice");
        assert!(alice.may_approve_in(Some("payments")) && !alice.may_approve_in(Some("shop")));
        assert!(
            auth.authorize(&bearer("alice-token"), Scope::PostAlerts)
                .is_err()
        );
        let viewer = auth
            .authorize(&bearer("viewer-token"), Scope::Read)
            .unwrap();
        assert_eq!(viewer.name, "dashboards");
        assert!(
            auth.authorize(&bearer("viewer-token"), Scope::Approve)
                .is_err()
        );
    }

    #[test]
    fn contradictions_are_refused_with_their_key() {
        let t = |name: &str, env: Option<&str>, sha: Option<&str>| TokenSettings {
            name: name.into(),
            role: Role::Admin,
            token_env: env.map(Into::into),
            sha256: sha.map(Into::into),
            namespaces: None,
        };
        let dup = [t("a", Some("X"), None), t("a", Some("Y"), None)];
        assert!(keys(&dup).check().unwrap_err().contains("tokens[1].name"));
        let both = [t("a", Some("X"), Some(&"0".repeat(64)))];
        assert!(keys(&both).check().unwrap_err().contains("tokens[0]"));
        let bad_hash = [t("a", None, Some("abc"))];
        assert!(
            keys(&bad_hash)
                .check()
                .unwrap_err()
                .contains("tokens[0].sha256")
        );
        let open_and_tokens = [t("a", Some("X"), None)];
        let k = AccessKeys {
            auth: Some(AuthMode::None),
            ..keys(&open_and_tokens)
        };
        assert!(k.check().unwrap_err().starts_with("auth:"));
        let k = AccessKeys {
            basic_user: Some("am"),
            ..keys(&[])
        };
        assert!(k.check().unwrap_err().contains("basic_password_env"));
    }

    #[test]
    fn no_credentials_is_an_open_api_explicit_only_when_said() {
        let a = keys(&[]).resolve(|_| None).unwrap();
        assert!(!a.required() && !a.explicitly_open());
        let a = AccessKeys {
            auth: Some(AuthMode::None),
            ..keys(&[])
        }
        .resolve(|_| None)
        .unwrap();
        assert!(!a.required() && a.explicitly_open());
    }

    fn console(yaml: &str) -> ConsoleSettings {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn the_console_signs_in_through_a_provider_only_when_the_api_needs_credentials() {
        let c = console(
            "oidc:\n  issuer: https://login.example.com/realms/ops\n  client_id: nightshift\n  client_secret_env: OIDC_SECRET\n  redirect_url: https://nightshift.example.com/console/oidc/callback\n  roles: {approver: [sre]}\n",
        );
        let tokens = [TokenSettings {
            name: "ops".into(),
            role: Role::Admin,
            token_env: Some("T".into()),
            sha256: None,
            namespaces: None,
        }];
        c.check(&keys(&tokens)).unwrap();
        let e = c.check(&keys(&[])).unwrap_err();
        assert!(
            e.starts_with("console.oidc: the API requires no credentials"),
            "{e}"
        );
        let open = AccessKeys {
            auth: Some(AuthMode::None),
            ..keys(&[])
        };
        assert!(c.check(&open).is_err());
        let e = c.oidc(&TlsSettings::default(), |_| None).unwrap_err();
        assert_eq!(
            e,
            "console.oidc.client_secret_env: the environment variable OIDC_SECRET is unset or empty"
        );
        let oidc = c
            .oidc(&TlsSettings::default(), |_| Some("hunter2".into()))
            .unwrap()
            .unwrap();
        assert_eq!(oidc.display_name(), "login.example.com");
        assert!(!format!("{oidc:?}").contains("hunter2"));
        assert!(
            console("{}")
                .oidc(&TlsSettings::default(), |_| None)
                .unwrap()
                .is_none()
        );
        let bad = console(
            "oidc:\n  issuer: login.example.com\n  client_id: n\n  redirect_url: https://n/console/oidc/callback\n  roles: {viewer: [a]}\n",
        );
        let e = bad.check(&keys(&tokens)).unwrap_err();
        assert!(e.starts_with("console.oidc.issuer:"), "{e}");
    }
}
