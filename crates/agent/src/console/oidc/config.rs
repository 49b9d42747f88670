//! The `console.oidc` section of the configuration: its shape, what is checked when the file
//! loads, and the client secret read when the agent starts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use reqwest::Url;
use serde::Deserialize;

/// The path the provider sends the browser back to; the configured `redirect_url` ends here.
pub const CALLBACK_PATH: &str = "/console/oidc/callback";

/// `console.oidc`: signing in to the console through an OpenID Connect provider
/// (authorization code flow with PKCE).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// Shown on the sign-in page ("Sign in with Keycloak"); default the issuer's host.
    #[serde(default)]
    pub name: Option<String>,
    /// The provider's issuer URL, exactly as its discovery document and ID tokens say it.
    pub issuer: String,
    /// The client registered at the provider for the console.
    pub client_id: String,
    /// Environment variable holding the client's secret (a confidential client).
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Or a file holding it (a mounted Secret). Without either: a public client.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The console's callback as the browser reaches it, registered at the provider:
    /// `https://HOST/console/oidc/callback`.
    pub redirect_url: String,
    /// Scopes asked for (`openid` must be among them).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that names the person; default `preferred_username`, then `email`, then
    /// `sub`.
    #[serde(default)]
    pub username_claim: Option<String>,
    /// The claim that lists the person's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Which groups get which role.
    #[serde(default)]
    pub roles: RoleGroups,
    /// Groups of approvers whose answers are limited to namespaces (default: all).
    #[serde(default)]
    pub namespaces: Option<BTreeMap<String, Vec<String>>>,
}

/// `console.oidc.roles`: the provider's groups that grant each role.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoleGroups {
    /// Everything.
    pub admin: Vec<String>,
    /// Read incidents and answer approvals.
    pub approver: Vec<String>,
    /// Read incidents.
    pub viewer: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email", "groups"]
        .map(String::from)
        .to_vec()
}

fn default_groups_claim() -> String {
    "groups".into()
}

/// The client's secret: never printed, logged or put in an error.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// A secret given as is.
    pub fn new(secret: impl Into<String>) -> Self {
        ClientSecret(secret.into())
    }

    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(..)")
    }
}

const KEY: &str = "console.oidc";

impl OidcConfig {
    /// What the sign-in page calls the provider.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| {
                Url::parse(&self.issuer)
                    .ok()
                    .and_then(|u| u.host_str().map(String::from))
            })
            .unwrap_or_else(|| "your identity provider".into())
    }

    /// The claim that names the person, before the fallbacks.
    pub fn username_claim(&self) -> &str {
        self.username_claim
            .as_deref()
            .unwrap_or("preferred_username")
    }

    /// What is wrong with the section, found when the file loads (before the environment is
    /// read): the key and the problem.
    pub fn check(&self) -> Result<(), String> {
        let issuer = endpoint_url(&self.issuer)
            .map_err(|e| format!("{KEY}.issuer: {:?} {e}", self.issuer))?;
        if issuer.fragment().is_some() || issuer.query().is_some() {
            return Err(format!(
                "{KEY}.issuer: {:?} has a query or fragment; an issuer is a plain URL such as https://login.example.com/realms/ops",
                self.issuer
            ));
        }
        one_line(&self.client_id, "client_id")?;
        if let Some(name) = &self.name {
            one_line(name, "name")?;
        }
        match (&self.client_secret_env, &self.client_secret_file) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{KEY}: give client_secret_env or client_secret_file, not both"
                ));
            }
            (Some(v), None) => one_line(v, "client_secret_env")?,
            _ => {}
        }
        let redirect = endpoint_url(&self.redirect_url)
            .map_err(|e| format!("{KEY}.redirect_url: {:?} {e}", self.redirect_url))?;
        if redirect.path() != CALLBACK_PATH || redirect.query().is_some() {
            return Err(format!(
                "{KEY}.redirect_url: {:?} must be the console's callback as the browser reaches it, https://HOST{CALLBACK_PATH}",
                self.redirect_url
            ));
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err(format!(
                "{KEY}.scopes: must include openid (the default is openid profile email groups)"
            ));
        }
        for (i, s) in self.scopes.iter().enumerate() {
            if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("{KEY}.scopes[{i}]: {s:?} is not one scope"));
            }
        }
        one_line(self.username_claim(), "username_claim")?;
        one_line(&self.groups_claim, "groups_claim")?;
        let roles = [
            ("admin", &self.roles.admin),
            ("approver", &self.roles.approver),
            ("viewer", &self.roles.viewer),
        ];
        for (role, groups) in roles {
            for (i, g) in groups.iter().enumerate() {
                one_line(g, &format!("roles.{role}[{i}]"))?;
            }
        }
        if roles.iter().all(|(_, g)| g.is_empty()) {
            return Err(format!(
                "{KEY}.roles: map at least one group to admin, approver or viewer; without one nobody can sign in"
            ));
        }
        let approvers: BTreeSet<&str> = self.roles.approver.iter().map(String::as_str).collect();
        for (group, list) in self.namespaces.iter().flatten() {
            if !approvers.contains(group.as_str()) {
                return Err(format!(
                    "{KEY}.namespaces.{group}: only an approver's answers are limited to namespaces, and {group:?} is not in roles.approver"
                ));
            }
            if list.is_empty() || list.iter().any(|n| n.trim().is_empty()) {
                return Err(format!(
                    "{KEY}.namespaces.{group}: list the namespaces the group may approve in (an empty list or name would allow none)"
                ));
            }
        }
        Ok(())
    }

    /// The client's secret, read through `env` or from its file; `None` for a public client.
    /// A variable named but unset or empty, or a file unreadable or empty, is an error naming
    /// it (and never the secret).
    pub fn client_secret(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ClientSecret>, String> {
        let secret = match (&self.client_secret_env, &self.client_secret_file) {
            (Some(var), _) => env(var).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                format!("{KEY}.client_secret_env: the environment variable {var} is unset or empty")
            })?,
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!(
                        "{KEY}.client_secret_file: unable to read {}: {e}",
                        path.display()
                    )
                })?;
                if text.trim().is_empty() {
                    return Err(format!(
                        "{KEY}.client_secret_file: {} is empty",
                        path.display()
                    ));
                }
                text
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(ClientSecret(secret.trim().to_string())))
    }
}

fn one_line(value: &str, key: &str) -> Result<(), String> {
    if value.trim().is_empty() || value.chars().any(char::is_control) {
        return Err(format!(
            "{KEY}.{key}: must be a non-empty value on one line"
        ));
    }
    Ok(())
}

/// `text` as a URL the agent may send credentials to: https, or plain http on loopback.
pub(super) fn endpoint_url(text: &str) -> Result<Url, &'static str> {
    let url = Url::parse(text).map_err(|_| "is not an absolute URL")?;
    let host = url.host_str().ok_or("has no host")?;
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err("must be https (plain http only on loopback)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<OidcConfig, String> {
        let text = format!(
            "issuer: https://login.example.com/realms/ops\nclient_id: nightshift\nredirect_url: https://nightshift.example.com/console/oidc/callback\n{extra}"
        );
        let c: OidcConfig = serde_saphyr::from_str(&text).map_err(|e| e.to_string())?;
        c.check().map(|()| c)
    }

    #[test]
    fn defaults_and_names() {
        let c = config("roles: {viewer: [staff]}\n").unwrap();
        assert_eq!(c.scopes, ["openid", "profile", "email", "groups"]);
        assert_eq!(c.username_claim(), "preferred_username");
        assert_eq!(c.groups_claim, "groups");
        assert_eq!(c.display_name(), "login.example.com");
        let c = config("name: Keycloak\nroles: {viewer: [staff]}\n").unwrap();
        assert_eq!(c.display_name(), "Keycloak");
        assert!(c.client_secret(|_| None).unwrap().is_none());
    }

    #[test]
    fn bad_values_name_their_key() {
        for (extra, key) in [
            ("roles: {}\n", "console.oidc.roles: map at least one group"),
            (
                "roles: {viewer: [a]}\nscopes: [profile]\n",
                "console.oidc.scopes: must include openid",
            ),
            (
                "roles: {viewer: [a]}\nnamespaces: {a: [shop]}\n",
                "console.oidc.namespaces.a: only an approver",
            ),
            (
                "roles: {approver: [a]}\nnamespaces: {a: []}\n",
                "console.oidc.namespaces.a: list the namespaces",
            ),
            (
                "roles: {viewer: [a]}\nclient_secret_env: X\nclient_secret_file: /x\n",
                "not both",
            ),
            ("roles: {viewer: ['']}\n", "console.oidc.roles.viewer[0]"),
        ] {
            let e = config(extra).unwrap_err();
            assert!(e.contains(key), "{extra}: {e}");
        }
        let c: OidcConfig = serde_saphyr::from_str(
            "issuer: http://login.example.com\nclient_id: a\nredirect_url: https://a/console/oidc/callback\nroles: {viewer: [a]}\n",
        )
        .unwrap();
        assert!(c.check().unwrap_err().contains("console.oidc.issuer"));
        let c: OidcConfig = serde_saphyr::from_str(
            "issuer: https://login.example.com\nclient_id: a\nredirect_url: https://a/callback\nroles: {viewer: [a]}\n",
        )
        .unwrap();
        let e = c.check().unwrap_err();
        assert!(
            e.contains("console.oidc.redirect_url") && e.contains(CALLBACK_PATH),
            "{e}"
        );
        let e = serde_saphyr::from_str::<OidcConfig>(
            "issuer: https://a\nclient_id: a\nredirect_url: https://a/console/oidc/callback\nclient_secret: hunter2\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("client_secret"), "{e}");
        // Plain http is for loopback only.
        assert!(endpoint_url("http://127.0.0.1:5556/dex").is_ok());
        assert!(endpoint_url("http://localhost/dex").is_ok());
        assert!(endpoint_url("http://10.0.0.1/dex").is_err());
    }

    #[test]
    fn the_secret_is_read_from_its_variable_or_file_and_never_shown() {
        let c = config("roles: {viewer: [a]}\nclient_secret_env: OIDC_SECRET\n").unwrap();
        let e = c.client_secret(|_| None).unwrap_err();
        assert!(
            e.contains("client_secret_env") && e.contains("OIDC_SECRET"),
            "{e}"
        );
        let s = c
            .client_secret(|v| (v == "OIDC_SECRET").then(|| "hunter2\n".into()))
            .unwrap()
            .unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let c = config(&format!(
            "roles: {{viewer: [a]}}\nclient_secret_file: {}\n",
            path.display()
        ))
        .unwrap();
        let e = c.client_secret(|_| None).unwrap_err();
        assert!(e.contains("client_secret_file: unable to read"), "{e}");
        std::fs::write(&path, " \n").unwrap();
        assert!(c.client_secret(|_| None).unwrap_err().contains("is empty"));
        std::fs::write(&path, "s3cret\n").unwrap();
        assert_eq!(
            c.client_secret(|_| None).unwrap().unwrap().expose(),
            "s3cret"
        );
    }
}
