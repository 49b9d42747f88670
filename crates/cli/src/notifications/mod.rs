//! The `notify:` section of the configuration: where notifications go (destinations), who
//! hears of what (routes), and how long delivery keeps trying. Secrets (bot tokens, signing
//! secrets, routing keys, webhook URLs that carry a key) come from the environment or from
//! files, never from the file itself; a variable or file that is named but missing stops the
//! start, naming the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nightshift_agent::notify::{Destination, OutboxSettings, Route, Routing, Webhook};
use nightshift_agent::runtime::NotifySetup;
use nightshift_core::notice::NotifyEvent;
use nightshift_core::policy::Criticality;
use nightshift_core::units::parse_duration;
use nightshift_net::TlsSettings;
use serde::Deserialize;

mod pagerduty;
mod slack;
mod teams;

pub use pagerduty::PagerDutySettings;
pub use slack::SlackDestinationSettings;
pub use teams::TeamsSettings;

/// The `notify:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// Where notifications go.
    pub destinations: Vec<DestinationSettings>,
    /// Who hears of what; a destination no route names hears of everything.
    pub routes: Vec<RouteSettings>,
    /// The web console's external URL, for links back to an incident.
    pub console_url: Option<String>,
    /// A plan waiting this long for approval pages (`approval_waiting` event), e.g. `10m`;
    /// `off` never pages.
    pub approval_waiting_after: String,
    /// How long a notification is retried while its destination is unreachable, e.g. `24h`.
    pub retry_for: String,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            destinations: vec![],
            routes: vec![],
            console_url: None,
            approval_waiting_after: "10m".into(),
            retry_for: "24h".into(),
        }
    }
}

/// One destination: `type:` says which kind, `name:` names it in routes, metrics and the
/// record.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DestinationSettings {
    /// A generic JSON webhook.
    Webhook(WebhookSettings),
    /// A Slack channel: one message per incident, with approval buttons.
    Slack(SlackDestinationSettings),
    /// A Microsoft Teams channel, through a Workflows webhook.
    Teams(TeamsSettings),
    /// A PagerDuty service, through the Events API v2.
    #[serde(rename = "pagerduty")]
    PagerDuty(PagerDutySettings),
}

impl DestinationSettings {
    /// The destination's name.
    pub fn name(&self) -> &str {
        match self {
            DestinationSettings::Webhook(w) => &w.name,
            DestinationSettings::Slack(s) => &s.name,
            DestinationSettings::Teams(t) => &t.name,
            DestinationSettings::PagerDuty(p) => &p.name,
        }
    }

    /// Problems that need no environment (names, URLs), by key.
    fn check(&self, key: &str) -> Result<(), String> {
        match self {
            DestinationSettings::Webhook(w) => {
                secret_source(&format!("{key}.url"), w.url.as_deref(), &w.url_env, &None)?;
                if let Some(url) = &w.url {
                    check_url(&format!("{key}.url"), url)?;
                }
                Ok(())
            }
            DestinationSettings::Slack(s) => s.check(key),
            DestinationSettings::Teams(t) => t.check(key),
            DestinationSettings::PagerDuty(p) => p.check(key),
        }
    }

    /// The destination, with its secrets read now.
    fn build(
        &self,
        key: &str,
        client: &reqwest::Client,
        tls: &TlsSettings,
    ) -> Result<Destination, String> {
        match self {
            DestinationSettings::Webhook(w) => {
                let url = secret(&format!("{key}.url"), w.url.as_deref(), &w.url_env, &None)?;
                check_url(&format!("{key}.url"), &url)?;
                Ok(Destination::Webhook(Webhook::new(
                    &w.name,
                    url,
                    client.clone(),
                )))
            }
            DestinationSettings::Slack(s) => s.build(key, client, tls),
            DestinationSettings::Teams(t) => t.build(key, client),
            DestinationSettings::PagerDuty(p) => p.build(key, client),
        }
    }
}

/// `type: webhook`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Its name.
    pub name: String,
    /// The URL to post to.
    pub url: Option<String>,
    /// An environment variable holding the URL (when it carries a key).
    pub url_env: Option<String>,
}

/// One route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    /// Destinations, by name.
    pub destinations: Vec<String>,
    /// Namespaces (empty or `*`: all; `cluster` for cluster-scoped incidents).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// The least critical namespace it covers, by the policy's criticality: `low`, `medium`
    /// or `high`.
    #[serde(default)]
    pub min_criticality: Option<String>,
    /// Events it lets through (empty: all), e.g. `approval_needed`, `escalated`.
    #[serde(default)]
    pub events: Vec<String>,
}

impl NotifySettings {
    /// Whether any destination is configured.
    pub fn is_empty(&self) -> bool {
        self.destinations.is_empty()
    }

    /// Problems that need no environment, by key: duplicate or empty names, routes to
    /// unknown destinations, unknown events or levels, durations and URLs that do not parse.
    pub fn check(&self) -> Result<(), String> {
        let mut names: Vec<&str> = vec![];
        for (i, d) in self.destinations.iter().enumerate() {
            let key = format!("notify.destinations[{i}]");
            let name = d.name();
            if name.trim().is_empty() {
                return Err(format!("{key}.name: empty"));
            }
            if names.contains(&name) {
                return Err(format!("{key}.name: {name:?} is used twice"));
            }
            names.push(name);
            d.check(&key)?;
        }
        self.routing()
            .map(|r| {
                r.unknown_destinations(&names).first().map(|d| {
                    format!(
                        "notify.routes: destination {d:?} is not configured (configured: {names:?})"
                    )
                })
            })?
            .map_or(Ok(()), Err)?;
        if self.approval_waiting_after != "off" {
            parse_duration(&self.approval_waiting_after)
                .map_err(|e| format!("notify.approval_waiting_after: {e}"))?;
        }
        parse_duration(&self.retry_for).map_err(|e| format!("notify.retry_for: {e}"))?;
        if let Some(url) = &self.console_url {
            check_url("notify.console_url", url)?;
        }
        Ok(())
    }

    /// The routes.
    pub fn routing(&self) -> Result<Routing, String> {
        let mut routes = vec![];
        for (i, r) in self.routes.iter().enumerate() {
            let key = format!("notify.routes[{i}]");
            if r.destinations.is_empty() {
                return Err(format!("{key}.destinations: empty"));
            }
            let min_criticality = match r.min_criticality.as_deref() {
                None => None,
                Some("low") => Some(Criticality::Low),
                Some("medium") => Some(Criticality::Medium),
                Some("high") => Some(Criticality::High),
                Some(other) => {
                    return Err(format!(
                        "{key}.min_criticality: {other:?} is not low, medium or high"
                    ));
                }
            };
            let mut events = vec![];
            for (j, e) in r.events.iter().enumerate() {
                events.push(NotifyEvent::parse(e).ok_or_else(|| {
                    format!(
                        "{key}.events[{j}]: unknown event {e:?}; expected one of {}",
                        NotifyEvent::ALL.map(|e| e.as_str()).join(", ")
                    )
                })?);
            }
            routes.push(Route {
                destinations: r.destinations.clone(),
                namespaces: r.namespaces.clone(),
                min_criticality,
                events,
            });
        }
        Ok(Routing { routes })
    }

    /// How long a plan waits for approval before it pages.
    pub fn approval_waiting_after(&self) -> Option<Duration> {
        (self.approval_waiting_after != "off")
            .then(|| parse_duration(&self.approval_waiting_after).ok())
            .flatten()
    }

    /// The destinations with their secrets read, the routes and the delivery settings;
    /// `legacy_webhook` is the older `notify_webhook:` key, a webhook named `webhook`.
    pub fn setup(
        &self,
        legacy_webhook: Option<&str>,
        tls: &TlsSettings,
    ) -> Result<Option<NotifySetup>, String> {
        self.check()?;
        let client = &nightshift_net::client(tls)
            .map_err(|e| format!("tls: {e}"))?
            .build()
            .map_err(|e| format!("tls: {}", nightshift_net::explain(&e)))?;
        let mut destinations = vec![];
        for (i, d) in self.destinations.iter().enumerate() {
            destinations.push(d.build(&format!("notify.destinations[{i}]"), client, tls)?);
        }
        if let Some(url) = legacy_webhook {
            if destinations.iter().any(|d| d.name() == "webhook") {
                return Err(
                    "notify_webhook: the name \"webhook\" is taken by a destination in notify.destinations; move the URL there".into(),
                );
            }
            check_url("notify_webhook", url)?;
            destinations.push(Destination::Webhook(Webhook::new(
                "webhook",
                url,
                client.clone(),
            )));
        }
        if destinations.is_empty() {
            return Ok(None);
        }
        Ok(Some(NotifySetup {
            destinations,
            routing: self.routing()?,
            settings: OutboxSettings {
                give_up_after: parse_duration(&self.retry_for)
                    .unwrap_or(OutboxSettings::default().give_up_after),
                console_url: self.console_url.clone(),
                ..OutboxSettings::default()
            },
        }))
    }
}

fn check_url(key: &str, url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{key}: {e}"))?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        other => Err(format!("{key}: scheme {other:?} is not http or https")),
    }
}

/// Where a secret comes from: exactly one of a literal (only where the key allows one), an
/// environment variable, or a file.
fn secret_source(
    key: &str,
    literal: Option<&str>,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<(), String> {
    let given = [literal.is_some(), env.is_some(), file.is_some()]
        .iter()
        .filter(|g| **g)
        .count();
    match given {
        1 => Ok(()),
        0 => Err(format!("{key}: missing (give it, or its _env or _file)")),
        _ => Err(format!("{key}: give one of it, its _env or its _file")),
    }
}

/// Reads a secret from where the configuration says; a variable that is unset or empty, or a
/// file that cannot be read or is empty, is an error naming the key.
pub(crate) fn secret(
    key: &str,
    literal: Option<&str>,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<String, String> {
    secret_source(key, literal, env, file)?;
    if let Some(v) = literal {
        return Ok(v.to_string());
    }
    if let Some(var) = env {
        return std::env::var(var)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{key}_env: the environment variable {var} is unset or empty"));
    }
    let path: &Path = file.as_deref().expect("checked by secret_source");
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{key}_file: unable to read {}: {e}", path.display()))?;
    let text = text.trim().to_string();
    if text.is_empty() {
        return Err(format!("{key}_file: {} is empty", path.display()));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> NotifySettings {
        serde_saphyr::from_str(text).unwrap()
    }

    #[test]
    fn destinations_routes_and_defaults() {
        let n = parse(
            "destinations:\n  - type: webhook\n    name: hooks\n    url: http://127.0.0.1:9/x\nroutes:\n  - destinations: [hooks]\n    namespaces: [payments]\n    min_criticality: medium\n    events: [escalated, approval_needed]\n",
        );
        n.check().unwrap();
        let r = n.routing().unwrap();
        assert_eq!(r.routes[0].min_criticality, Some(Criticality::Medium));
        assert_eq!(
            r.routes[0].events,
            [NotifyEvent::Escalated, NotifyEvent::ApprovalNeeded]
        );
        assert_eq!(n.approval_waiting_after(), Some(Duration::from_secs(600)));
        let setup = n.setup(None, &Default::default()).unwrap().unwrap();
        assert_eq!(setup.destinations.len(), 1);
        assert_eq!(setup.destinations[0].name(), "hooks");
    }

    #[test]
    fn mistakes_are_named_by_key() {
        let bad = |text: &str| parse(text).check().unwrap_err();
        let e = bad(
            "destinations:\n  - {type: webhook, name: a, url: http://x}\n  - {type: webhook, name: a, url: http://y}\n",
        );
        assert!(
            e.contains("notify.destinations[1].name") && e.contains("twice"),
            "{e}"
        );
        let e = bad(
            "destinations:\n  - {type: webhook, name: a, url: http://x}\nroutes:\n  - destinations: [b]\n",
        );
        assert!(e.contains("notify.routes") && e.contains("\"b\""), "{e}");
        let e = bad(
            "destinations:\n  - {type: webhook, name: a, url: http://x}\nroutes:\n  - {destinations: [a], events: [opened]}\n",
        );
        assert!(
            e.contains("notify.routes[0].events[0]") && e.contains("incident_opened"),
            "{e}"
        );
        let e = bad(
            "destinations:\n  - {type: webhook, name: a, url: http://x}\nroutes:\n  - {destinations: [a], min_criticality: urgent}\n",
        );
        assert!(e.contains("min_criticality"), "{e}");
        let e = bad("destinations:\n  - {type: webhook, name: a, url: ftp://x}\n");
        assert!(
            e.contains("notify.destinations[0].url") && e.contains("ftp"),
            "{e}"
        );
        let e = bad("destinations:\n  - {type: webhook, name: a}\n");
        assert!(e.contains("notify.destinations[0].url: missing"), "{e}");
        let e = bad("retry_for: soon\n");
        assert!(e.contains("notify.retry_for"), "{e}");
        assert!(
            serde_saphyr::from_str::<NotifySettings>(
                "destinations:\n  - {type: carrier-pigeon, name: a}\n"
            )
            .is_err()
        );
        assert!(
            serde_saphyr::from_str::<NotifySettings>(
                "destinations:\n  - {type: webhook, name: a, url: http://x, colour: red}\n"
            )
            .is_err()
        );
    }

    #[test]
    fn a_named_variable_that_is_unset_stops_the_start_with_its_name() {
        let n =
            parse("destinations:\n  - {type: webhook, name: a, url_env: NS_TEST_UNSET_HOOK_URL}\n");
        n.check().unwrap();
        let e = n.setup(None, &Default::default()).unwrap_err();
        assert!(
            e.contains("notify.destinations[0].url_env") && e.contains("NS_TEST_UNSET_HOOK_URL"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let e = secret("k", None, &None, &Some(empty)).unwrap_err();
        assert!(e.contains("k_file") && e.contains("empty"), "{e}");
        let e = secret("k", None, &None, &Some(dir.path().join("missing"))).unwrap_err();
        assert!(e.contains("k_file") && e.contains("missing"), "{e}");
    }

    #[test]
    fn slack_secrets_are_named_by_key_when_missing() {
        let n = parse(
            "destinations:\n  - {type: slack, name: chat, channel: C1, bot_token_env: NS_TEST_UNSET_SLACK_BOT, signing_secret_env: NS_TEST_UNSET_SLACK_SIGNING}\n",
        );
        n.check().unwrap();
        let e = n.setup(None, &Default::default()).unwrap_err();
        assert!(
            e.contains("notify.destinations[0].bot_token_env")
                && e.contains("NS_TEST_UNSET_SLACK_BOT"),
            "{e}"
        );
        let bad = |text: &str| parse(text).check().unwrap_err();
        let e = bad(
            "destinations:\n  - {type: slack, name: chat, channel: C1, signing_secret_env: S}\n",
        );
        assert!(
            e.contains("notify.destinations[0].bot_token: missing"),
            "{e}"
        );
        let e =
            bad("destinations:\n  - {type: slack, name: chat, channel: C1, bot_token_env: B}\n");
        assert!(
            e.contains("notify.destinations[0].signing_secret: missing"),
            "{e}"
        );
        let e = bad(
            "destinations:\n  - {type: slack, name: chat, channel: C1, bot_token_env: B, socket_mode: true}\n",
        );
        assert!(
            e.contains("notify.destinations[0].app_token: missing"),
            "{e}"
        );
        let e = bad(
            "destinations:\n  - {type: slack, name: chat, channel: C1, bot_token_env: B, signing_secret_env: S, api_url: ftp://x}\n",
        );
        assert!(e.contains("notify.destinations[0].api_url"), "{e}");

        // Read from files; an app token that is not one is refused without echoing it.
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, value: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, value).unwrap();
            p.display().to_string()
        };
        let text = format!(
            "destinations:\n  - {{type: slack, name: chat, channel: C1, bot_token_file: {}, socket_mode: true, app_token_file: {}}}\n",
            file("bot", "xoxb-1\n"),
            file("app", "xoxb-wrong-kind\n"),
        );
        let e = parse(&text).setup(None, &Default::default()).unwrap_err();
        assert!(
            e.contains("notify.destinations[0].app_token") && !e.contains("wrong-kind"),
            "{e}"
        );
        let text = format!(
            "destinations:\n  - {{type: slack, name: chat, channel: C1, bot_token_file: {}, signing_secret_file: {}}}\n",
            file("bot2", "xoxb-1\n"),
            file("signing", "s3cret\n"),
        );
        let setup = parse(&text)
            .setup(None, &Default::default())
            .unwrap()
            .unwrap();
        assert_eq!(setup.destinations[0].kind(), "slack");
        assert!(!format!("{:?}", setup.destinations[0]).contains("s3cret"));
    }

    #[test]
    fn the_older_webhook_key_is_a_destination_named_webhook() {
        let n = NotifySettings::default();
        assert!(n.setup(None, &Default::default()).unwrap().is_none());
        let s = n
            .setup(Some("http://127.0.0.1:9/h"), &Default::default())
            .unwrap()
            .unwrap();
        assert_eq!(s.destinations[0].name(), "webhook");
        assert!(n.setup(Some("not a url"), &Default::default()).is_err());
    }

    #[test]
    fn teams_and_pagerduty_read_their_secrets_and_name_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, value: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, value).unwrap();
            p.display().to_string()
        };
        let key = "0123456789abcdef0123456789abcdef";
        let text = format!(
            "destinations:\n  - {{type: teams, name: ops-channel, url_file: {}}}\n  - {{type: pagerduty, name: pager, routing_key_file: {}}}\n",
            file(
                "teams",
                "https://prod.example.logic.azure.com/workflows/1/triggers/manual/paths/invoke?api-version=1&sig=S3CRET\n"
            ),
            file("pd", &format!("{key}\n")),
        );
        let setup = parse(&text)
            .setup(None, &Default::default())
            .unwrap()
            .unwrap();
        let kinds: Vec<_> = setup
            .destinations
            .iter()
            .map(|d| (d.name(), d.kind()))
            .collect();
        assert_eq!(kinds, [("ops-channel", "teams"), ("pager", "pagerduty")]);
        let shown = format!("{:?}", setup.destinations);
        assert!(!shown.contains("S3CRET") && !shown.contains(key), "{shown}");

        let bad = |text: &str| parse(text).check().unwrap_err();
        let e = bad("destinations:\n  - {type: teams, name: t}\n");
        assert!(e.contains("notify.destinations[0].url: missing"), "{e}");
        // A literal URL is not accepted: it carries the workflow's signature.
        assert!(
            serde_saphyr::from_str::<NotifySettings>(
                "destinations:\n  - {type: teams, name: t, url: https://x}\n"
            )
            .is_err()
        );
        let e = bad("destinations:\n  - {type: pagerduty, name: p}\n");
        assert!(
            e.contains("notify.destinations[0].routing_key: missing"),
            "{e}"
        );
        let e = bad(
            "destinations:\n  - {type: pagerduty, name: p, routing_key_env: K, url: ftp://x}\n",
        );
        assert!(e.contains("notify.destinations[0].url"), "{e}");

        let e = parse("destinations:\n  - {type: pagerduty, name: p, routing_key_env: NS_TEST_UNSET_PD_KEY}\n")
            .setup(None, &Default::default())
            .unwrap_err();
        assert!(
            e.contains("notify.destinations[0].routing_key_env")
                && e.contains("NS_TEST_UNSET_PD_KEY"),
            "{e}"
        );
        let e =
            parse("destinations:\n  - {type: teams, name: t, url_env: NS_TEST_UNSET_TEAMS_URL}\n")
                .setup(None, &Default::default())
                .unwrap_err();
        assert!(
            e.contains("notify.destinations[0].url_env") && e.contains("NS_TEST_UNSET_TEAMS_URL"),
            "{e}"
        );
        let text = format!(
            "destinations:\n  - {{type: pagerduty, name: p, routing_key_file: {}}}\n",
            file("short", "tooshort-s3cret\n"),
        );
        let e = parse(&text).setup(None, &Default::default()).unwrap_err();
        assert!(
            e.contains("notify.destinations[0].routing_key_file")
                && e.contains("15 characters")
                && !e.contains("s3cret"),
            "{e}"
        );
        let text = format!(
            "destinations:\n  - {{type: teams, name: t, url_file: {}}}\n",
            file("noturl", "not a url s3cret\n"),
        );
        let e = parse(&text).setup(None, &Default::default()).unwrap_err();
        assert!(
            e.contains("notify.destinations[0].url_file") && !e.contains("s3cret"),
            "{e}"
        );
    }
}
