//! `type: pagerduty`.

use std::path::PathBuf;

use serde::Deserialize;

use nightshift_agent::notify::{Destination, PagerDuty, pagerduty};

use super::{check_url, secret, secret_source};

/// `type: pagerduty`. The routing key (the integration key of an Events API v2 integration)
/// comes from the environment or a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutySettings {
    /// Its name.
    pub name: String,
    /// An environment variable holding the routing key.
    pub routing_key_env: Option<String>,
    /// A file holding the routing key.
    pub routing_key_file: Option<PathBuf>,
    /// The Events API endpoint (default `https://events.pagerduty.com/v2/enqueue`; the EU
    /// service is `https://events.eu.pagerduty.com/v2/enqueue`).
    #[serde(default)]
    pub url: Option<String>,
}

impl PagerDutySettings {
    pub(super) fn check(&self, key: &str) -> Result<(), String> {
        secret_source(
            &format!("{key}.routing_key"),
            None,
            &self.routing_key_env,
            &self.routing_key_file,
        )?;
        if let Some(url) = &self.url {
            check_url(&format!("{key}.url"), url)?;
        }
        Ok(())
    }

    pub(super) fn build(&self, key: &str, client: &reqwest::Client) -> Result<Destination, String> {
        self.check(key)?;
        let routing_key = secret(
            &format!("{key}.routing_key"),
            None,
            &self.routing_key_env,
            &self.routing_key_file,
        )?;
        // Checked by shape only, never echoed: PagerDuty refuses every event of a key that is
        // not 32 characters, so say it now.
        let n = routing_key.chars().count();
        if n != 32 {
            let from = if self.routing_key_env.is_some() {
                "routing_key_env"
            } else {
                "routing_key_file"
            };
            return Err(format!(
                "{key}.{from}: the routing key has {n} characters; an Events API v2 integration key has 32"
            ));
        }
        let url = self.url.as_deref().unwrap_or(pagerduty::DEFAULT_URL);
        Ok(Destination::PagerDuty(PagerDuty::new(
            &self.name,
            url,
            routing_key,
            client.clone(),
        )))
    }
}
