//! The evaluation with least privilege: the simulated cluster enforces authentication and RBAC,
//! the RBAC objects of a manifest (the Helm chart as `scripts/chart render` prints it) are
//! applied to it, and the agent authenticates with the token of the manifest's ServiceAccount
//! instead of as the cluster administrator. Every 403 the agent is answered is counted by the
//! simulated API server and reported with the scores.

use std::path::{Path, PathBuf};

use anyhow::Context;
use nightshift_sim::api::auth::ServiceAccountRef;
use nightshift_sim::api::tls;
use nightshift_sim::server::{self};
use nightshift_sim::store::Store as ClusterStore;
use serde_json::{Value, json};

/// The kinds taken from a manifest, with where the simulated cluster serves them. Everything
/// else in it (Deployments, ConfigMaps, Services of the chart) is left out: the agent runs in
/// this process, not as the chart's pod.
const KINDS: &[(&str, &str, &str, &str)] = &[
    // (kind, group, version, plural)
    ("ServiceAccount", "", "v1", "serviceaccounts"),
    (
        "ClusterRole",
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
    ),
    (
        "ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
    ),
    ("Role", "rbac.authorization.k8s.io", "v1", "roles"),
    (
        "RoleBinding",
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
    ),
];

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("unable to read the RBAC manifest {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML.
    #[error("{path} is not a YAML stream of Kubernetes objects: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The agent needs exactly one ServiceAccount to run as.
    #[error(
        "{path}: {found} ServiceAccounts ({names}); the agent runs as exactly one, so the manifest must hold one (render the chart with serviceAccount.create: true)"
    )]
    ServiceAccounts {
        /// The file.
        path: PathBuf,
        /// How many there are.
        found: usize,
        /// Their names, `namespace/name`.
        names: String,
    },
    /// A ServiceAccount without a name or namespace.
    #[error("{path}: a ServiceAccount needs metadata.name and metadata.namespace")]
    Unnamed {
        /// The file.
        path: PathBuf,
    },
}

/// The RBAC objects of a manifest and the service account the agent runs as.
#[derive(Debug, Clone, PartialEq)]
pub struct RbacManifest {
    /// Where it was read from.
    pub path: PathBuf,
    /// The ServiceAccount, Roles, ClusterRoles and their bindings, in the file's order.
    pub objects: Vec<Value>,
    /// The manifest's ServiceAccount.
    pub service_account: ServiceAccountRef,
}

impl RbacManifest {
    /// Reads the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses a manifest (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        let docs: Vec<Option<Value>> =
            serde_saphyr::from_multiple(text).map_err(|e| ManifestError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let objects: Vec<Value> = docs
            .into_iter()
            .flatten()
            .filter(|o| kind_of(o).is_some())
            .collect();
        let accounts: Vec<&Value> = objects
            .iter()
            .filter(|o| o["kind"] == "ServiceAccount")
            .collect();
        fn names(o: &Value) -> (Option<&str>, Option<&str>) {
            (
                o.pointer("/metadata/namespace").and_then(Value::as_str),
                o.pointer("/metadata/name").and_then(Value::as_str),
            )
        }
        let [account] = accounts.as_slice() else {
            return Err(ManifestError::ServiceAccounts {
                path: path.to_path_buf(),
                found: accounts.len(),
                names: accounts
                    .iter()
                    .map(|o| {
                        let (ns, name) = names(o);
                        format!("{}/{}", ns.unwrap_or("?"), name.unwrap_or("?"))
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let (Some(namespace), Some(name)) = names(account) else {
            return Err(ManifestError::Unnamed {
                path: path.to_path_buf(),
            });
        };
        let service_account = ServiceAccountRef {
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        Ok(RbacManifest {
            path: path.to_path_buf(),
            objects,
            service_account,
        })
    }

    /// The user the agent authenticates as: `system:serviceaccount:<namespace>:<name>`.
    pub fn user(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.service_account.namespace, self.service_account.name
        )
    }

    /// The rules of the ClusterRole or Role `name` (`None` when there is none by that name).
    pub fn rules(&self, kind: &str, name: &str) -> Option<&[Value]> {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o.pointer("/metadata/name") == Some(&json!(name)))
            .and_then(|o| o["rules"].as_array())
            .map(Vec::as_slice)
    }

    /// The same manifest less rule `index` of the ClusterRole or Role `name`.
    pub fn without_rule(&self, kind: &str, name: &str, index: usize) -> Self {
        let mut out = self.clone();
        for o in &mut out.objects {
            if o["kind"] == kind
                && o.pointer("/metadata/name") == Some(&json!(name))
                && let Some(rules) = o["rules"].as_array_mut()
                && index < rules.len()
            {
                rules.remove(index);
            }
        }
        out
    }

    /// Creates the objects in the cluster's store, and the namespaces they live in when the
    /// cluster has none by that name.
    pub fn apply(&self, store: &ClusterStore) -> anyhow::Result<()> {
        let namespaces = nightshift_sim::resources::find("", "v1", "namespaces")
            .expect("the simulated cluster serves namespaces");
        for o in &self.objects {
            let Some(ns) = o.pointer("/metadata/namespace").and_then(Value::as_str) else {
                continue;
            };
            if store.get(namespaces, "", ns).is_none() {
                store
                    .create(namespaces, "", json!({"metadata": {"name": ns}}), false)
                    .with_context(|| format!("unable to create namespace {ns}"))?;
            }
        }
        for o in &self.objects {
            let (group, version, plural) = kind_of(o).expect("only known kinds are kept");
            let rt = nightshift_sim::resources::find(group, version, plural)
                .with_context(|| format!("the simulated cluster does not serve {plural}"))?;
            let ns = o
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            store.create(rt, ns, o.clone(), false).with_context(|| {
                format!(
                    "{}: unable to create {} {}",
                    self.path.display(),
                    o["kind"].as_str().unwrap_or("?"),
                    o.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                )
            })?;
        }
        Ok(())
    }
}

/// `(group, version, plural)` of an object of one of [`KINDS`].
fn kind_of(o: &Value) -> Option<(&'static str, &'static str, &'static str)> {
    let kind = o["kind"].as_str()?;
    let api_version = o["apiVersion"].as_str()?;
    KINDS
        .iter()
        .find(|(k, group, version, _)| {
            *k == kind
                && (if group.is_empty() {
                    api_version == *version
                } else {
                    api_version == format!("{group}/{version}")
                })
        })
        .map(|(_, g, v, p)| (*g, *v, *p))
}

/// A kube-rs configuration for the service account of `manifest` on `cluster`: HTTPS with the
/// simulator's certificate authority and a freshly minted token.
pub fn service_account_config(
    cluster: &server::Running,
    manifest: &RbacManifest,
) -> anyhow::Result<kube::Config> {
    let mut config = kube::Config::new(server::https_url(cluster.addr).parse()?);
    config.root_cert = Some(vec![tls::ca_der()]);
    config.auth_info.token = Some(
        cluster
            .access
            .mint_service_account_token(
                &manifest.service_account.namespace,
                &manifest.service_account.name,
            )
            .into(),
    );
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"---
# Source: nightshift/templates/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: agent
  namespace: ops
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent, namespace: ops}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: agent-write}
rules:
  - {apiGroups: [apps], resources: [deployments], verbs: [patch]}
  - {apiGroups: [""], resources: [pods/eviction], verbs: [create]}
"#;

    #[test]
    fn keeps_the_rbac_objects_and_finds_the_service_account() {
        let m = RbacManifest::parse(MANIFEST, Path::new("chart.yaml")).unwrap();
        assert_eq!(m.objects.len(), 2, "the Deployment is left out");
        assert_eq!(m.user(), "system:serviceaccount:ops:agent");
        assert_eq!(m.rules("ClusterRole", "agent-write").unwrap().len(), 2);
        let less = m.without_rule("ClusterRole", "agent-write", 0);
        let rules = less.rules("ClusterRole", "agent-write").unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0]["resources"], json!(["pods/eviction"]));
    }

    #[test]
    fn a_manifest_without_a_service_account_is_refused_by_name() {
        let text = MANIFEST.replace("kind: ServiceAccount", "kind: ConfigMap");
        let e = RbacManifest::parse(&text, Path::new("chart.yaml")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("chart.yaml: 0 ServiceAccounts (); the agent runs as exactly one"),
            "{e}"
        );
    }
}
