//! The part of an Alertmanager configuration file the emulation uses: the root route and the
//! webhook receiver it names.

use std::time::Duration;

use serde_json::Value as Yaml;

use super::RouteConfig;
use crate::duration::parse_duration;

/// An Alertmanager configuration the emulation cannot use.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The text is not YAML.
    #[error("unable to parse Alertmanager config {origin} as YAML")]
    Yaml {
        /// Where the text came from.
        origin: String,
        /// The YAML parser's error, with line and column.
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// Valid YAML, but not a configuration the emulation supports.
    #[error("Alertmanager config {origin}: {problem}")]
    Invalid {
        /// Where the text came from.
        origin: String,
        /// What is wrong, naming the key.
        problem: String,
    },
}

const TOP_KEYS: &[&str] = &[
    "global",
    "route",
    "inhibit_rules",
    "receivers",
    "templates",
    "mute_time_intervals",
    "time_intervals",
];
const ROUTE_KEYS: &[&str] = &[
    "receiver",
    "group_by",
    "continue",
    "matchers",
    "match",
    "match_re",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "mute_time_intervals",
    "active_time_intervals",
    "routes",
];

impl RouteConfig {
    /// The route of the project's shipped Alertmanager configuration
    /// ([`crate::SHIPPED_ALERTMANAGER_CONFIG`]).
    pub fn shipped() -> Result<RouteConfig, ConfigError> {
        RouteConfig::from_alertmanager_yaml(
            crate::SHIPPED_ALERTMANAGER_CONFIG,
            crate::SHIPPED_ALERTMANAGER_CONFIG_PATH,
        )
    }

    /// Reads the root `route`, `global.resolve_timeout` and the route's webhook receiver
    /// from an Alertmanager configuration file. Timers missing from the file take
    /// Alertmanager's own defaults (30s, 5m, 4h); `external_url` is not part of the file and
    /// keeps [`RouteConfig::default`]'s value.
    pub fn from_alertmanager_yaml(text: &str, origin: &str) -> Result<RouteConfig, ConfigError> {
        let invalid = |problem: String| ConfigError::Invalid {
            origin: origin.to_string(),
            problem,
        };
        let doc: Yaml = serde_saphyr::from_str(text).map_err(|source| ConfigError::Yaml {
            origin: origin.to_string(),
            source: Box::new(source),
        })?;
        let Yaml::Object(top) = doc else {
            return Err(invalid("the top level must be a mapping".into()));
        };
        if let Some(key) = top.keys().find(|k| !TOP_KEYS.contains(&k.as_str())) {
            return Err(invalid(format!("unknown top-level key {key:?}")));
        }
        let duration = |v: Option<&Yaml>, key: &str, default: Duration| match v {
            None | Some(Yaml::Null) => Ok(default),
            Some(Yaml::String(s)) => parse_duration(s).map_err(|e| invalid(format!("{key}: {e}"))),
            Some(_) => Err(invalid(format!("{key} must be a duration such as 5m"))),
        };

        let mut config = RouteConfig {
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            resolve_timeout: Duration::from_secs(300),
            send_resolved: true,
            max_alerts: 0,
            group_by: Vec::new(),
            webhook_url: None,
            ..RouteConfig::default()
        };
        if let Some(global) = top.get("global").and_then(Yaml::as_object) {
            config.resolve_timeout = duration(
                global.get("resolve_timeout"),
                "global.resolve_timeout",
                config.resolve_timeout,
            )?;
        }

        let Some(Yaml::Object(route)) = top.get("route") else {
            return Err(invalid("a route mapping is required".into()));
        };
        if let Some(key) = route.keys().find(|k| !ROUTE_KEYS.contains(&k.as_str())) {
            return Err(invalid(format!("unknown key {key:?} in route")));
        }
        if route
            .get("routes")
            .and_then(Yaml::as_array)
            .is_some_and(|r| !r.is_empty())
        {
            return Err(invalid(
                "child routes are not supported by the emulation; use the root route only".into(),
            ));
        }
        for key in ["matchers", "match", "match_re"] {
            if route.get(key).is_some_and(|v| !v.is_null()) {
                return Err(invalid(format!("the root route must not have {key}")));
            }
        }
        config.receiver = match route.get("receiver") {
            Some(Yaml::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(invalid("route.receiver must name a receiver".into())),
        };
        config.group_by = match route.get("group_by") {
            None | Some(Yaml::Null) => Vec::new(),
            Some(Yaml::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| invalid("route.group_by must list label names".into()))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid("route.group_by must be a list".into())),
        };
        config.group_wait = duration(
            route.get("group_wait"),
            "route.group_wait",
            config.group_wait,
        )?;
        config.group_interval = duration(
            route.get("group_interval"),
            "route.group_interval",
            config.group_interval,
        )?;
        config.repeat_interval = duration(
            route.get("repeat_interval"),
            "route.repeat_interval",
            config.repeat_interval,
        )?;
        if config.group_interval.is_zero() || config.repeat_interval.is_zero() {
            return Err(invalid(
                "group_interval and repeat_interval must not be zero".into(),
            ));
        }

        let receiver = top
            .get("receivers")
            .and_then(Yaml::as_array)
            .into_iter()
            .flatten()
            .find(|r| r.get("name").and_then(Yaml::as_str) == Some(config.receiver.as_str()))
            .ok_or_else(|| {
                invalid(format!(
                    "route.receiver {:?} is not defined under receivers",
                    config.receiver
                ))
            })?;
        let webhook = receiver
            .get("webhook_configs")
            .and_then(Yaml::as_array)
            .and_then(|w| w.first())
            .ok_or_else(|| {
                invalid(format!(
                    "receiver {:?} has no webhook_configs; the emulation only sends webhooks",
                    config.receiver
                ))
            })?;
        if let Some(v) = webhook.get("send_resolved") {
            config.send_resolved = v
                .as_bool()
                .ok_or_else(|| invalid("webhook send_resolved must be true or false".into()))?;
        }
        if let Some(v) = webhook.get("max_alerts") {
            config.max_alerts = v.as_u64().ok_or_else(|| {
                invalid("webhook max_alerts must be a non-negative integer".into())
            })? as usize;
        }
        config.webhook_url = webhook
            .get("url")
            .and_then(Yaml::as_str)
            .map(str::to_string);
        Ok(config)
    }
}
