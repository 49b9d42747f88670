//! Read-only investigation tools the model may call: logs of a pod (or of its previous
//! container) with a pattern filter, events of an object, an object's spec and status, the
//! pods of a workload, a PromQL range query, and similar past incidents. None of them
//! changes anything, and what they return is redacted and fenced as data before the model
//! sees it.
//!
//! [`Investigator`] is the port; [`kube::KubeInvestigator`] answers through the Kubernetes
//! API (and a Prometheus, when configured). Similar incidents come from the evidence bundle.

pub mod kube;

use std::future::Future;
use std::pin::Pin;

use nightshift_core::Evidence;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::provider::ToolDef;

/// Logs of a pod's container.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct PodLogs {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container (default: the first).
    #[serde(default)]
    pub container: Option<String>,
    /// The previous (crashed) instance.
    #[serde(default)]
    pub previous: Option<bool>,
    /// Keep only lines matching this regular expression.
    #[serde(default)]
    pub pattern: Option<String>,
}

/// An object, by kind and name.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct ObjectRef {
    /// `Pod`, `Deployment`, `StatefulSet`, `DaemonSet`, `ReplicaSet`, `Service` or `Node`.
    pub kind: String,
    /// Namespace (none for nodes).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

/// A PromQL range query.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct PromRange {
    /// PromQL expression.
    pub query: String,
    /// How far back, in minutes (default 30, at most 360).
    #[serde(default)]
    pub minutes: Option<u32>,
    /// Step in seconds (default 60).
    #[serde(default)]
    pub step_seconds: Option<u32>,
}

/// Past incidents like this one.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct Similar {
    /// Only of this category.
    #[serde(default)]
    pub category: Option<String>,
}

/// A tool call, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Tool {
    /// `pod_logs`.
    PodLogs(PodLogs),
    /// `events`.
    Events(ObjectRef),
    /// `object`.
    Object(ObjectRef),
    /// `workload_pods`.
    WorkloadPods(ObjectRef),
    /// `prom_range`.
    PromRange(PromRange),
    /// `similar_incidents`.
    SimilarIncidents(Similar),
}

impl Tool {
    /// Parses a call by name and arguments; the error is shown to the model.
    pub fn parse(name: &str, args: &Value) -> Result<Tool, String> {
        fn de<T: serde::de::DeserializeOwned>(name: &str, args: &Value) -> Result<T, String> {
            serde_json::from_value(args.clone())
                .map_err(|e| format!("invalid arguments for {name}: {e}"))
        }
        Ok(match name {
            "pod_logs" => Tool::PodLogs(de(name, args)?),
            "events" => Tool::Events(de(name, args)?),
            "object" => Tool::Object(de(name, args)?),
            "workload_pods" => Tool::WorkloadPods(de(name, args)?),
            "prom_range" => Tool::PromRange(de(name, args)?),
            "similar_incidents" => Tool::SimilarIncidents(de(name, args)?),
            other => return Err(format!("unknown tool {other:?}")),
        })
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        match self {
            Tool::PodLogs(_) => "pod_logs",
            Tool::Events(_) => "events",
            Tool::Object(_) => "object",
            Tool::WorkloadPods(_) => "workload_pods",
            Tool::PromRange(_) => "prom_range",
            Tool::SimilarIncidents(_) => "similar_incidents",
        }
    }
}

fn params<T: JsonSchema>() -> Value {
    let mut v = schemars::SchemaGenerator::default()
        .into_root_schema_for::<T>()
        .to_value();
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
    }
    v
}

/// The tool definitions offered to the model; `prom_range` only with a Prometheus.
pub fn definitions(with_prometheus: bool) -> Vec<ToolDef> {
    let mut defs = vec![
        ToolDef {
            name: "pod_logs",
            description: "Log lines of a pod's container (or its previous, crashed instance), folded into templates with counts; optional regex filter.",
            parameters: params::<PodLogs>(),
        },
        ToolDef {
            name: "events",
            description: "Kubernetes events about an object, deduplicated.",
            parameters: params::<ObjectRef>(),
        },
        ToolDef {
            name: "object",
            description: "An object's spec and status (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Service, Node).",
            parameters: params::<ObjectRef>(),
        },
        ToolDef {
            name: "workload_pods",
            description: "The pods of a Deployment, StatefulSet or DaemonSet: phase, readiness, restarts, node, reason.",
            parameters: params::<ObjectRef>(),
        },
        ToolDef {
            name: "similar_incidents",
            description: "Similar past incidents: category, action taken, outcome.",
            parameters: params::<Similar>(),
        },
    ];
    if with_prometheus {
        defs.push(ToolDef {
            name: "prom_range",
            description: "A PromQL range query, each series summarised as min, max, last and trend.",
            parameters: params::<PromRange>(),
        });
    }
    defs
}

/// A boxed tool answer.
pub type ToolFuture<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

/// Answers read-only tool calls. Errors are sentences shown to the model.
pub trait Investigator: Send + Sync {
    /// Runs one call.
    fn run<'a>(&'a self, tool: &'a Tool) -> ToolFuture<'a>;

    /// Whether PromQL queries can be answered.
    fn has_prometheus(&self) -> bool {
        false
    }
}

/// Similar past incidents, from the bundle's past-incident items.
pub fn similar_incidents(evidence: &Evidence, q: &Similar) -> String {
    let mut out = String::new();
    for (category, line) in evidence
        .items
        .iter()
        .filter_map(crate::compress::past_incident)
    {
        if q.category.as_deref().is_none_or(|c| c == category) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    if out.is_empty() {
        out.push_str("no similar past incidents on record\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_calls_and_names_bad_arguments() {
        let t = Tool::parse(
            "pod_logs",
            &serde_json::json!({"namespace": "shop", "pod": "p-1", "previous": true}),
        )
        .unwrap();
        assert_eq!(t.name(), "pod_logs");
        let e = Tool::parse("pod_logs", &serde_json::json!({"pod": "p"})).unwrap_err();
        assert!(e.contains("namespace"), "{e}");
        assert!(Tool::parse("kubectl_delete", &serde_json::json!({})).is_err());
        let defs = definitions(false);
        assert!(defs.iter().all(|d| d.name != "prom_range"));
        assert!(defs[0].parameters["properties"]["pattern"].is_object());
    }
}
