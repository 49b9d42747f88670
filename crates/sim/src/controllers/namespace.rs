//! What every namespace holds and how it ends, as kube-controller-manager keeps it: the
//! `default` ServiceAccount (the serviceaccount controller, which recreates it when deleted),
//! the `kube-root-ca.crt` ConfigMap (the root CA publisher), and the namespace controller,
//! which deletes the content of a namespace being terminated, reports what remains in its
//! conditions, and removes it once it is empty.

use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::resources::{self, RESOURCE_TYPES, ResourceType};
use crate::store::{DeleteOptions, Part, Store, terminating};

/// Name of the ConfigMap with the cluster's CA in every namespace.
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";

/// The annotation the root CA publisher puts on it.
const ROOT_CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

fn rt(plural: &str) -> &'static ResourceType {
    resources::find("", "v1", plural).expect("registered")
}

/// One pass: the default objects of every active namespace, and the termination of the
/// namespaces being deleted.
pub fn sync(store: &Store, now: i64) {
    let (namespaces, _) = store.list(rt("namespaces"), None);
    for ns in namespaces {
        let name = ns.name().to_string();
        if terminating(ns.value()) {
            terminate(store, ns.value(), &name, now);
        } else {
            defaults(store, &name);
        }
    }
}

/// Creates the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap of `ns` if they
/// are missing, and puts the CA back if someone changed it.
pub fn defaults(store: &Store, ns: &str) {
    if store.get(rt("serviceaccounts"), ns, "default").is_none() {
        let _ = store.create(
            rt("serviceaccounts"),
            ns,
            json!({"metadata": {"name": "default", "namespace": ns}}),
            false,
        );
    }
    let cm = rt("configmaps");
    let want = json!({"ca.crt": crate::api::tls::CA_PEM});
    match store.get(cm, ns, ROOT_CA_CONFIGMAP) {
        None => {
            let _ = store.create(
                cm,
                ns,
                json!({
                    "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": ns,
                        "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION}},
                    "data": want,
                }),
                false,
            );
        }
        Some(e) if e.value().get("data") != Some(&want) => {
            let mut v = e.value().clone();
            v["data"] = want;
            v["metadata"]["resourceVersion"] = json!("");
            let _ = store.update(cm, ns, ROOT_CA_CONFIGMAP, v, Part::Main, false);
        }
        Some(_) => {}
    }
}

/// The types whose objects live in namespaces and go with them.
fn namespaced_types() -> impl Iterator<Item = &'static ResourceType> {
    RESOURCE_TYPES
        .iter()
        .filter(|rt| rt.namespaced && rt.writable && !rt.is_review())
        // events.k8s.io Events are the core Events seen through another API.
        .filter(|rt| rt.group != "events.k8s.io")
}

/// Deletes what is left in the namespace `name` and removes it once nothing is left.
fn terminate(store: &Store, ns: &Value, name: &str, now: i64) {
    let mut remaining: Vec<(&'static str, usize)> = Vec::new();
    for rt in namespaced_types() {
        let (items, _) = store.list(rt, Some(name));
        if items.is_empty() {
            continue;
        }
        remaining.push((rt.plural, items.len()));
        for e in items {
            if e.value().pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            let _ = store.delete(rt, name, e.name(), &DeleteOptions::default());
        }
    }
    let ns_rt = rt("namespaces");
    if remaining.is_empty() {
        // The content is gone: the `kubernetes` finalizer comes off and the namespace with it.
        store.remove(ns_rt, "", name);
        return;
    }
    remaining.sort();
    let since = rfc3339(now);
    let cond = |t: &str, status: &str, reason: &str, message: String| {
        let prev = ns
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == t && c["status"] == status))
            .and_then(|c| c.get("lastTransitionTime").cloned());
        json!({"type": t, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": prev.unwrap_or_else(|| json!(since))})
    };
    let listed: Vec<String> = remaining
        .iter()
        .map(|(plural, n)| format!("{plural}. has {n} resource instances"))
        .collect();
    let conditions = json!([
        cond(
            "NamespaceDeletionDiscoveryFailure",
            "False",
            "ResourcesDiscovered",
            "All resources successfully discovered".into()
        ),
        cond(
            "NamespaceDeletionGroupVersionParsingFailure",
            "False",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed".into()
        ),
        cond(
            "NamespaceDeletionContentFailure",
            "False",
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization".into()
        ),
        cond(
            "NamespaceContentRemaining",
            "True",
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", listed.join(", "))
        ),
        cond(
            "NamespaceFinalizersRemaining",
            "False",
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished".into()
        ),
    ]);
    if ns.pointer("/status/conditions") != Some(&conditions) {
        let mut v = ns.clone();
        v["status"]["conditions"] = conditions;
        v["status"]["phase"] = json!("Terminating");
        v["metadata"]["resourceVersion"] = json!("");
        let _ = store.update(ns_rt, "", name, v, Part::Status, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    #[test]
    fn a_new_namespace_gets_its_defaults_and_a_deleted_one_its_content_removed() {
        let store = Store::new(Clock::new(0), 1);
        store
            .create(
                rt("namespaces"),
                "",
                json!({"metadata": {"name": "shop"}}),
                false,
            )
            .unwrap();
        sync(&store, 0);
        assert!(
            store
                .get(rt("serviceaccounts"), "shop", "default")
                .is_some()
        );
        let ca = store
            .get(rt("configmaps"), "shop", ROOT_CA_CONFIGMAP)
            .unwrap();
        assert!(
            ca.value()["data"]["ca.crt"]
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        // Deleted: recreated on the next pass.
        store
            .delete(
                rt("serviceaccounts"),
                "shop",
                "default",
                &DeleteOptions::default(),
            )
            .unwrap();
        sync(&store, 1_000);
        assert!(
            store
                .get(rt("serviceaccounts"), "shop", "default")
                .is_some()
        );

        store
            .create(
                rt("secrets"),
                "shop",
                json!({"metadata": {"name": "s"}}),
                false,
            )
            .unwrap();
        let marked = store
            .delete(rt("namespaces"), "", "shop", &DeleteOptions::default())
            .unwrap();
        assert_eq!(marked.value()["status"]["phase"], "Terminating");
        assert_eq!(marked.value()["spec"]["finalizers"], json!(["kubernetes"]));
        assert!(marked.value()["metadata"]["deletionTimestamp"].is_string());
        // The first pass deletes the content and reports what was there; the next removes it.
        sync(&store, 2_000);
        assert!(store.get(rt("secrets"), "shop", "s").is_none());
        let ns = store.get(rt("namespaces"), "", "shop").unwrap();
        let remaining = ns.value()["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "NamespaceContentRemaining")
            .unwrap()
            .clone();
        assert_eq!(remaining["status"], "True");
        assert!(
            remaining["message"]
                .as_str()
                .unwrap()
                .contains("secrets. has 1 resource instances")
        );
        // No default objects are made for a namespace being terminated.
        assert!(
            store
                .get(rt("serviceaccounts"), "shop", "default")
                .is_none()
        );
        sync(&store, 3_000);
        assert!(store.get(rt("namespaces"), "", "shop").is_none());
    }
}
