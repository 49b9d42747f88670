//! `type: teams`.

use std::path::PathBuf;

use serde::Deserialize;

use nightshift_agent::notify::{Destination, Teams};

use super::{secret, secret_source};

/// `type: teams`. The workflow's URL carries its signature, so it is a secret: it comes from
/// the environment or a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsSettings {
    /// Its name.
    pub name: String,
    /// An environment variable holding the workflow's URL.
    pub url_env: Option<String>,
    /// A file holding the workflow's URL.
    pub url_file: Option<PathBuf>,
}

impl TeamsSettings {
    pub(super) fn check(&self, key: &str) -> Result<(), String> {
        secret_source(&format!("{key}.url"), None, &self.url_env, &self.url_file)
    }

    pub(super) fn build(&self, key: &str, client: &reqwest::Client) -> Result<Destination, String> {
        let url = secret(&format!("{key}.url"), None, &self.url_env, &self.url_file)?;
        // The error names where the URL came from, never the URL (it carries a signature).
        let from = if self.url_env.is_some() {
            "url_env"
        } else {
            "url_file"
        };
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return Err(format!(
                    "{key}.{from}: not an http(s) URL; expected the workflow's \"HTTP POST URL\""
                ));
            }
        }
        Ok(Destination::Teams(Teams::new(
            &self.name,
            url,
            client.clone(),
        )))
    }
}
