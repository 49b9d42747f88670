//! restart-pod: evict one controller-owned pod so its controller replaces it. Bare pods are
//! refused: nothing would bring them back.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use super::error::api_code;
use super::target::{self, Kind, Owner, Workload, annotation, to_json};
use super::{
    ACTION_ID_ANNOTATION, ActError, Actuator, Body, Plan, PodTarget, RESTARTED_POD_ANNOTATION,
    Step, stamped,
};

async fn get_pod(actuator: &Actuator, namespace: &str, pod: &str) -> Result<Option<Pod>, ActError> {
    let api: Api<Pod> = Api::namespaced(actuator.client.clone(), namespace);
    api.get_opt(pod).await.map_err(|source| ActError::GetPod {
        namespace: namespace.to_string(),
        pod: pod.to_string(),
        source,
    })
}

async fn get_owner(owner: &Owner) -> Result<Option<Value>, ActError> {
    match owner.api.get(&owner.name).await {
        Ok(o) => Ok(Some(to_json(&o, &owner.describe())?)),
        Err(e) if api_code(&e) == Some(404) => Ok(None),
        Err(source) => Err(ActError::GetWorkload {
            workload: owner.describe(),
            source,
        }),
    }
}

/// Plans the restart of one pod: stamp its owning workload with the key and the pod's uid,
/// then evict the pod.
pub(crate) async fn plan(
    actuator: &Actuator,
    namespace: &str,
    pod: &str,
    key: Option<&str>,
) -> Result<Plan, ActError> {
    let bare = || ActError::BarePod {
        namespace: namespace.to_string(),
        pod: pod.to_string(),
    };
    let p = get_pod(actuator, namespace, pod)
        .await?
        .ok_or_else(|| ActError::PodNotFound {
            namespace: namespace.to_string(),
            pod: pod.to_string(),
        })?;
    let owner = target::owner_of(&actuator.client, &p)
        .await?
        .ok_or_else(bare)?;
    // A controller reference to an owner that is gone is as good as none.
    let owner_obj = get_owner(&owner).await?.ok_or_else(bare)?;
    let uid = p.metadata.uid.clone().unwrap_or_default();
    let mut plan = Plan::new(
        format!(
            "evict pod {namespace}/{pod} so that {} replaces it",
            owner.describe()
        ),
        Some(nightshift_core::ResourceRef::Pod {
            namespace: namespace.to_string(),
            name: pod.to_string(),
        }),
    );
    plan.affected.extend(owner.to_ref());
    plan.replaced_pod_uid = Some(uid.clone());
    if key.is_some() {
        plan.steps.push(Step::Patch {
            api: owner.api.clone(),
            name: owner.name.clone(),
            object: owner.object(),
            describe: owner.describe(),
            before: owner_obj,
            body: Body::Strategic(stamped(
                json!({}),
                key,
                &[(RESTARTED_POD_ANNOTATION, uid.as_str())],
            )),
        });
    }
    plan.steps.push(Step::Evict {
        pod: PodTarget {
            namespace: namespace.to_string(),
            name: pod.to_string(),
            owner: owner.to_ref(),
        },
        drain: false,
    });
    Ok(plan)
}

/// The uid recorded with `key` on a workload of the namespace: the pod's own owner first, then
/// every Deployment, StatefulSet, DaemonSet and ReplicaSet (the pod may be gone).
async fn recorded_uid(
    actuator: &Actuator,
    namespace: &str,
    pod: Option<&Pod>,
    key: &str,
) -> Result<Option<String>, ActError> {
    let recorded = |obj: &Value| {
        (annotation(obj, ACTION_ID_ANNOTATION) == Some(key)).then(|| {
            annotation(obj, RESTARTED_POD_ANNOTATION)
                .unwrap_or_default()
                .to_string()
        })
    };
    if let Some(p) = pod
        && let Some(owner) = target::owner_of(&actuator.client, p).await?
        && let Some(obj) = get_owner(&owner).await?
        && let Some(uid) = recorded(&obj)
    {
        return Ok(Some(uid));
    }
    for kind in [
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
    ] {
        let w = Workload {
            kind,
            namespace: namespace.to_string(),
            name: String::new(),
        };
        let list = w
            .api(&actuator.client)
            .list(&ListParams::default())
            .await
            .map_err(|source| ActError::List {
                what: format!("{}s in namespace {namespace}", kind.name().to_lowercase()),
                source,
            })?;
        for obj in &list.items {
            if let Some(uid) = recorded(&to_json(obj, "a workload")?) {
                return Ok(Some(uid));
            }
        }
    }
    Ok(None)
}

/// Applied when a workload carries the key and the pod with the recorded uid is gone or
/// terminating. A key without the eviction (a crash between the two) is not applied.
pub(crate) async fn already_applied(
    actuator: &Actuator,
    namespace: &str,
    pod: &str,
    key: &str,
) -> Result<bool, ActError> {
    let p = get_pod(actuator, namespace, pod).await?;
    let Some(uid) = recorded_uid(actuator, namespace, p.as_ref(), key).await? else {
        return Ok(false);
    };
    Ok(match &p {
        Some(p) => {
            p.metadata.uid.as_deref() != Some(uid.as_str())
                || p.metadata.deletion_timestamp.is_some()
        }
        None => true,
    })
}
