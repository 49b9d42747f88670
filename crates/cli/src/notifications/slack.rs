//! `type: slack`.

use std::path::PathBuf;

use serde::Deserialize;

use nightshift_agent::notify::{Destination, Slack, SlackSettings, slack};
use nightshift_net::TlsSettings;

use super::{check_url, secret, secret_source};

/// `type: slack`. The bot token and the signing secret come from the environment or files;
/// with `socket_mode: true` clicks come over a WebSocket opened with the app-level token
/// instead of being posted to the agent, and the signing secret may be left out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackDestinationSettings {
    /// Its name.
    pub name: String,
    /// The channel to post in: its id (`C024BE91L`) or `#name`.
    pub channel: String,
    /// An environment variable holding the bot token (`xoxb-...`).
    pub bot_token_env: Option<String>,
    /// A file holding the bot token.
    pub bot_token_file: Option<PathBuf>,
    /// An environment variable holding the app's signing secret.
    pub signing_secret_env: Option<String>,
    /// A file holding the app's signing secret.
    pub signing_secret_file: Option<PathBuf>,
    /// The Web API's base URL (default `https://slack.com/api`).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Receive clicks over Socket Mode instead of `POST /api/v1/slack/interactions`.
    #[serde(default)]
    pub socket_mode: bool,
    /// An environment variable holding the app-level token (`xapp-...`) for Socket Mode.
    pub app_token_env: Option<String>,
    /// A file holding the app-level token.
    pub app_token_file: Option<PathBuf>,
}

impl SlackDestinationSettings {
    pub(super) fn check(&self, key: &str) -> Result<(), String> {
        if self.channel.trim().is_empty() {
            return Err(format!(
                "{key}.channel: empty; give the channel's id or #name"
            ));
        }
        secret_source(
            &format!("{key}.bot_token"),
            None,
            &self.bot_token_env,
            &self.bot_token_file,
        )?;
        let signing = self.signing_secret_env.is_some() || self.signing_secret_file.is_some();
        if !self.socket_mode || signing {
            secret_source(
                &format!("{key}.signing_secret"),
                None,
                &self.signing_secret_env,
                &self.signing_secret_file,
            )?;
        }
        let app = self.app_token_env.is_some() || self.app_token_file.is_some();
        if self.socket_mode {
            secret_source(
                &format!("{key}.app_token"),
                None,
                &self.app_token_env,
                &self.app_token_file,
            )?;
        } else if app {
            return Err(format!(
                "{key}.app_token: only used with socket_mode: true; set it, or remove the app token"
            ));
        }
        if let Some(url) = &self.api_url {
            check_url(&format!("{key}.api_url"), url)?;
        }
        Ok(())
    }

    pub(super) fn build(
        &self,
        key: &str,
        client: &reqwest::Client,
        tls: &TlsSettings,
    ) -> Result<Destination, String> {
        self.check(key)?;
        let bot_token = secret(
            &format!("{key}.bot_token"),
            None,
            &self.bot_token_env,
            &self.bot_token_file,
        )?;
        // Checked by shape only, never echoed: the value is a secret.
        if bot_token.starts_with("xapp-") {
            return Err(format!(
                "{key}.bot_token: this is an app-level token (xapp-); the bot token starts with xoxb-"
            ));
        }
        let signing_secret =
            if self.signing_secret_env.is_some() || self.signing_secret_file.is_some() {
                Some(secret(
                    &format!("{key}.signing_secret"),
                    None,
                    &self.signing_secret_env,
                    &self.signing_secret_file,
                )?)
            } else {
                None
            };
        let app_token = if self.socket_mode {
            let token = secret(
                &format!("{key}.app_token"),
                None,
                &self.app_token_env,
                &self.app_token_file,
            )?;
            if !token.starts_with("xapp-") {
                return Err(format!(
                    "{key}.app_token: not an app-level token; Socket Mode needs one that starts with xapp- (with the connections:write scope)"
                ));
            }
            Some(token)
        } else {
            None
        };
        Ok(Destination::Slack(Slack::new(
            SlackSettings {
                name: self.name.clone(),
                channel: self.channel.clone(),
                api_url: self
                    .api_url
                    .clone()
                    .unwrap_or_else(|| slack::DEFAULT_API_URL.to_string()),
                bot_token: slack::Secret::new(bot_token),
                signing_secret: signing_secret.map(slack::Secret::new),
                app_token: app_token.map(slack::Secret::new),
                tls: tls.clone(),
            },
            client.clone(),
        )))
    }
}
