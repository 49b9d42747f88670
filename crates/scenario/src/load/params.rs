//! The `params` of a fault: checked against the keys its type accepts, then read as typed
//! values with errors that point at the key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::ScenarioError;
use super::cluster::{self, check_ratio};
use super::error::{Doc, Result};
use super::source_map::KeyPath;
use crate::model::{ReplicaCount, Workload, WorkloadKind};
use crate::units;

/// The `params` of one fault, checked against what its type accepts.
pub(crate) struct Params<'a> {
    values: Map<String, Value>,
    pub path: KeyPath,
    type_name: String,
    pub doc: &'a Doc<'a>,
}

impl<'a> Params<'a> {
    pub fn new(
        raw: Option<Map<String, Value>>,
        path: KeyPath,
        type_name: &str,
        allowed: &[&str],
        doc: &'a Doc<'a>,
    ) -> Result<Params<'a>> {
        let values = raw.unwrap_or_default();
        for key in values.keys() {
            if !allowed.contains(&key.as_str()) {
                let expected = if allowed.is_empty() {
                    "it takes no params".to_string()
                } else {
                    format!("expected: {}", allowed.join(", "))
                };
                return Err(doc.bad_key(
                    &path,
                    key,
                    format!("unknown key `{key}` for fault type {type_name}; {expected}"),
                ));
            }
        }
        Ok(Params {
            values,
            path,
            type_name: type_name.to_string(),
            doc,
        })
    }

    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ScenarioError {
        self.doc.invalid(&self.path.key(key), message)
    }

    pub fn missing(&self, key: &str) -> ScenarioError {
        self.doc.invalid(
            &self.path,
            format!("fault type {} needs `{key}`", self.type_name),
        )
    }

    /// The value, with `null` counting as absent.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key).filter(|v| !v.is_null())
    }

    pub fn wrong_type(&self, key: &str, expected: &str, found: &Value) -> ScenarioError {
        let found = match found {
            Value::Null => "null",
            Value::Bool(_) => "true/false",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "a list",
            Value::Object(_) => "a mapping",
        };
        self.invalid(key, format!("expected {expected}, found {found}"))
    }

    pub fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    pub fn required_string(&self, key: &str) -> Result<String> {
        self.string(key)?.ok_or_else(|| self.missing(key))
    }

    /// A string or a number, as text: quantities may be written either way.
    pub fn scalar_text(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(self.wrong_type(key, "a string or a number", other)),
        }
    }

    pub fn number(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.invalid(key, "expected a number")),
            Some(other) => Err(self.wrong_type(key, "a number", other)),
        }
    }

    pub fn required_number(&self, key: &str) -> Result<f64> {
        self.number(key)?.ok_or_else(|| self.missing(key))
    }

    pub fn integer(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.invalid(key, format!("expected a whole number, found {n}"))),
            Some(other) => Err(self.wrong_type(key, "a whole number", other)),
        }
    }

    pub fn ratio(&self, key: &str) -> Result<Option<f64>> {
        let ratio = self.number(key)?;
        if let Some(ratio) = ratio {
            check_ratio(ratio).map_err(|e| self.invalid(key, e))?;
        }
        Ok(ratio)
    }

    pub fn duration(&self, key: &str) -> Result<Option<Duration>> {
        self.scalar_text(key)?
            .map(|text| units::parse_duration(&text).map_err(|e| self.invalid(key, e)))
            .transpose()
    }

    pub fn positive_duration(&self, key: &str) -> Result<Option<Duration>> {
        let duration = self.duration(key)?;
        if duration.is_some_and(|d| d.is_zero()) {
            return Err(self.invalid(key, format!("`{key}` must be longer than zero; leave it out to mean until the horizon or the default")));
        }
        Ok(duration)
    }

    pub fn memory(&self, key: &str) -> Result<Option<u64>> {
        self.scalar_text(key)?
            .map(|text| units::parse_memory(&text).map_err(|e| self.invalid(key, e)))
            .transpose()
    }

    pub fn required_memory(&self, key: &str) -> Result<u64> {
        self.memory(key)?.ok_or_else(|| self.missing(key))
    }

    /// `all` or a count of replicas that the workload has.
    pub fn replicas(&self, key: &str, workload: &Workload) -> Result<Option<ReplicaCount>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s == "all" => Ok(Some(ReplicaCount::All)),
            Some(Value::Number(n)) => {
                let count = n
                    .as_u64()
                    .and_then(|c| u32::try_from(c).ok())
                    .filter(|c| *c >= 1);
                match count {
                    None => Err(self.invalid(
                        key,
                        format!("expected `all` or a count of 1 or more, found {n}"),
                    )),
                    Some(c)
                        if workload.kind != WorkloadKind::DaemonSet && c > workload.replicas =>
                    {
                        Err(self.invalid(
                            key,
                            format!(
                                "`{}` has {} replicas, fewer than {c}",
                                workload.key(),
                                workload.replicas
                            ),
                        ))
                    }
                    Some(c) => Ok(Some(ReplicaCount::Count(c))),
                }
            }
            Some(Value::String(s)) => {
                Err(self.invalid(key, format!("expected `all` or a count, found `{s}`")))
            }
            Some(other) => Err(self.wrong_type(key, "`all` or a count", other)),
        }
    }

    /// An image other than the one the workload already runs.
    pub fn new_image(&self, key: &str, workload: &Workload) -> Result<String> {
        let image = self.required_string(key)?;
        cluster::check_image(&image).map_err(|e| self.invalid(key, e))?;
        if image == workload.image {
            return Err(self.invalid(
                key,
                format!(
                    "`{image}` is the image `{}` already runs; a rollout needs a new one",
                    workload.key()
                ),
            ));
        }
        Ok(image)
    }

    /// A mapping of label names to values; scalar values are taken as text.
    pub fn labels(&self, key: &str) -> Result<Option<BTreeMap<String, String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => {
                let mut labels = BTreeMap::new();
                for (name, value) in map {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        other => {
                            return Err(self.doc.invalid(
                                &self.path.key(key).key(name),
                                format!(
                                    "expected a label value, found {}",
                                    if other.is_array() {
                                        "a list"
                                    } else {
                                        "a mapping or null"
                                    }
                                ),
                            ));
                        }
                    };
                    labels.insert(name.clone(), text);
                }
                Ok(Some(labels))
            }
            Some(other) => Err(self.wrong_type(key, "a mapping of labels", other)),
        }
    }
}
