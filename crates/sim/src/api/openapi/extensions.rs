//! The Kubernetes extensions that k8s-openapi's schemas leave out: how strategic merge patch
//! merges a list (`x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`) and the
//! topology of lists and maps (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
//! `x-kubernetes-map-type`).
//!
//! They come from the struct tags and markers of the Kubernetes 1.34 Go types, as
//! kube-apiserver 1.34 publishes them, for every definition the served kinds reach. kubectl
//! computes `apply` patches from them: without a merge key, a list is sent whole and the server
//! merges it by its own key. A line that names a property k8s-openapi's schema does not have
//! fails the unit tests.

use serde_json::{Map, Value, json};

/// One line per definition property (`-`: the definition itself), then its extensions:
/// `patch=` strategy, `key=` merge key, `list=` list type, `keys=` list map keys (comma
/// separated), `map=` map type.
const TABLE: &str = "\
io.k8s.api.apps.v1.DaemonSetStatus conditions patch=merge key=type list=map keys=type
io.k8s.api.apps.v1.DeploymentSpec strategy patch=retainKeys
io.k8s.api.apps.v1.DeploymentStatus conditions patch=merge key=type list=map keys=type
io.k8s.api.apps.v1.ReplicaSetStatus conditions patch=merge key=type list=map keys=type
io.k8s.api.apps.v1.StatefulSetSpec volumeClaimTemplates list=atomic
io.k8s.api.apps.v1.StatefulSetStatus conditions patch=merge key=type list=map keys=type
io.k8s.api.authorization.v1.FieldSelectorAttributes requirements list=atomic
io.k8s.api.authorization.v1.LabelSelectorAttributes requirements list=atomic
io.k8s.api.authorization.v1.NonResourceRule nonResourceURLs list=atomic
io.k8s.api.authorization.v1.NonResourceRule verbs list=atomic
io.k8s.api.authorization.v1.ResourceRule apiGroups list=atomic
io.k8s.api.authorization.v1.ResourceRule resourceNames list=atomic
io.k8s.api.authorization.v1.ResourceRule resources list=atomic
io.k8s.api.authorization.v1.ResourceRule verbs list=atomic
io.k8s.api.authorization.v1.SubjectRulesReviewStatus nonResourceRules list=atomic
io.k8s.api.authorization.v1.SubjectRulesReviewStatus resourceRules list=atomic
io.k8s.api.batch.v1.JobStatus conditions patch=merge key=type list=atomic
io.k8s.api.batch.v1.PodFailurePolicy rules list=atomic
io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement values list=set
io.k8s.api.batch.v1.PodFailurePolicyRule onPodConditions list=atomic
io.k8s.api.batch.v1.SuccessPolicy rules list=atomic
io.k8s.api.batch.v1.UncountedTerminatedPods failed list=set
io.k8s.api.batch.v1.UncountedTerminatedPods succeeded list=set
io.k8s.api.core.v1.Capabilities add list=atomic
io.k8s.api.core.v1.Capabilities drop list=atomic
io.k8s.api.core.v1.CephFSVolumeSource monitors list=atomic
io.k8s.api.core.v1.ConfigMapKeySelector - map=atomic
io.k8s.api.core.v1.ConfigMapProjection items list=atomic
io.k8s.api.core.v1.ConfigMapVolumeSource items list=atomic
io.k8s.api.core.v1.Container args list=atomic
io.k8s.api.core.v1.Container command list=atomic
io.k8s.api.core.v1.Container env patch=merge key=name list=map keys=name
io.k8s.api.core.v1.Container envFrom list=atomic
io.k8s.api.core.v1.Container ports patch=merge key=containerPort list=map keys=containerPort,protocol
io.k8s.api.core.v1.Container resizePolicy list=atomic
io.k8s.api.core.v1.Container restartPolicyRules list=atomic
io.k8s.api.core.v1.Container volumeDevices patch=merge key=devicePath list=map keys=devicePath
io.k8s.api.core.v1.Container volumeMounts patch=merge key=mountPath list=map keys=mountPath
io.k8s.api.core.v1.ContainerImage names list=atomic
io.k8s.api.core.v1.ContainerRestartRuleOnExitCodes values list=set
io.k8s.api.core.v1.ContainerStatus allocatedResourcesStatus patch=merge key=name list=map keys=name
io.k8s.api.core.v1.ContainerStatus volumeMounts patch=merge key=mountPath list=map keys=mountPath
io.k8s.api.core.v1.DownwardAPIProjection items list=atomic
io.k8s.api.core.v1.DownwardAPIVolumeSource items list=atomic
io.k8s.api.core.v1.EndpointAddress - map=atomic
io.k8s.api.core.v1.EndpointPort - map=atomic
io.k8s.api.core.v1.EndpointSubset addresses list=atomic
io.k8s.api.core.v1.EndpointSubset notReadyAddresses list=atomic
io.k8s.api.core.v1.EndpointSubset ports list=atomic
io.k8s.api.core.v1.Endpoints subsets list=atomic
io.k8s.api.core.v1.EphemeralContainer args list=atomic
io.k8s.api.core.v1.EphemeralContainer command list=atomic
io.k8s.api.core.v1.EphemeralContainer env patch=merge key=name list=map keys=name
io.k8s.api.core.v1.EphemeralContainer envFrom list=atomic
io.k8s.api.core.v1.EphemeralContainer ports patch=merge key=containerPort list=map keys=containerPort,protocol
io.k8s.api.core.v1.EphemeralContainer resizePolicy list=atomic
io.k8s.api.core.v1.EphemeralContainer restartPolicyRules list=atomic
io.k8s.api.core.v1.EphemeralContainer volumeDevices patch=merge key=devicePath list=map keys=devicePath
io.k8s.api.core.v1.EphemeralContainer volumeMounts patch=merge key=mountPath list=map keys=mountPath
io.k8s.api.core.v1.ExecAction command list=atomic
io.k8s.api.core.v1.FCVolumeSource targetWWNs list=atomic
io.k8s.api.core.v1.FCVolumeSource wwids list=atomic
io.k8s.api.core.v1.FileKeySelector - map=atomic
io.k8s.api.core.v1.HTTPGetAction httpHeaders list=atomic
io.k8s.api.core.v1.HostAlias hostnames list=atomic
io.k8s.api.core.v1.ISCSIVolumeSource portals list=atomic
io.k8s.api.core.v1.LinuxContainerUser supplementalGroups list=atomic
io.k8s.api.core.v1.LoadBalancerIngress ports list=atomic
io.k8s.api.core.v1.LoadBalancerStatus ingress list=atomic
io.k8s.api.core.v1.LocalObjectReference - map=atomic
io.k8s.api.core.v1.NamespaceSpec finalizers list=atomic
io.k8s.api.core.v1.NamespaceStatus conditions patch=merge key=type list=map keys=type
io.k8s.api.core.v1.NodeAffinity preferredDuringSchedulingIgnoredDuringExecution list=atomic
io.k8s.api.core.v1.NodeSelector - map=atomic
io.k8s.api.core.v1.NodeSelector nodeSelectorTerms list=atomic
io.k8s.api.core.v1.NodeSelectorRequirement values list=atomic
io.k8s.api.core.v1.NodeSelectorTerm - map=atomic
io.k8s.api.core.v1.NodeSelectorTerm matchExpressions list=atomic
io.k8s.api.core.v1.NodeSelectorTerm matchFields list=atomic
io.k8s.api.core.v1.NodeSpec podCIDRs patch=merge list=set
io.k8s.api.core.v1.NodeSpec taints list=atomic
io.k8s.api.core.v1.NodeStatus addresses patch=merge key=type list=map keys=type
io.k8s.api.core.v1.NodeStatus conditions patch=merge key=type list=map keys=type
io.k8s.api.core.v1.NodeStatus images list=atomic
io.k8s.api.core.v1.NodeStatus runtimeHandlers list=atomic
io.k8s.api.core.v1.NodeStatus volumesAttached list=atomic
io.k8s.api.core.v1.NodeStatus volumesInUse list=atomic
io.k8s.api.core.v1.ObjectFieldSelector - map=atomic
io.k8s.api.core.v1.ObjectReference - map=atomic
io.k8s.api.core.v1.PersistentVolumeClaimSpec accessModes list=atomic
io.k8s.api.core.v1.PersistentVolumeClaimStatus accessModes list=atomic
io.k8s.api.core.v1.PersistentVolumeClaimStatus allocatedResourceStatuses map=granular
io.k8s.api.core.v1.PersistentVolumeClaimStatus conditions patch=merge key=type list=map keys=type
io.k8s.api.core.v1.PodAffinity preferredDuringSchedulingIgnoredDuringExecution list=atomic
io.k8s.api.core.v1.PodAffinity requiredDuringSchedulingIgnoredDuringExecution list=atomic
io.k8s.api.core.v1.PodAffinityTerm matchLabelKeys list=atomic
io.k8s.api.core.v1.PodAffinityTerm mismatchLabelKeys list=atomic
io.k8s.api.core.v1.PodAffinityTerm namespaces list=atomic
io.k8s.api.core.v1.PodAntiAffinity preferredDuringSchedulingIgnoredDuringExecution list=atomic
io.k8s.api.core.v1.PodAntiAffinity requiredDuringSchedulingIgnoredDuringExecution list=atomic
io.k8s.api.core.v1.PodDNSConfig nameservers list=atomic
io.k8s.api.core.v1.PodDNSConfig options list=atomic
io.k8s.api.core.v1.PodDNSConfig searches list=atomic
io.k8s.api.core.v1.PodExtendedResourceClaimStatus requestMappings list=atomic
io.k8s.api.core.v1.PodSecurityContext supplementalGroups list=atomic
io.k8s.api.core.v1.PodSecurityContext sysctls list=atomic
io.k8s.api.core.v1.PodSpec containers patch=merge key=name list=map keys=name
io.k8s.api.core.v1.PodSpec ephemeralContainers patch=merge key=name list=map keys=name
io.k8s.api.core.v1.PodSpec hostAliases patch=merge key=ip list=map keys=ip
io.k8s.api.core.v1.PodSpec imagePullSecrets patch=merge key=name list=map keys=name
io.k8s.api.core.v1.PodSpec initContainers patch=merge key=name list=map keys=name
io.k8s.api.core.v1.PodSpec nodeSelector map=atomic
io.k8s.api.core.v1.PodSpec readinessGates list=atomic
io.k8s.api.core.v1.PodSpec resourceClaims patch=merge,retainKeys key=name list=map keys=name
io.k8s.api.core.v1.PodSpec schedulingGates patch=merge key=name list=map keys=name
io.k8s.api.core.v1.PodSpec tolerations list=atomic
io.k8s.api.core.v1.PodSpec topologySpreadConstraints patch=merge key=topologyKey list=map keys=topologyKey,whenUnsatisfiable
io.k8s.api.core.v1.PodSpec volumes patch=merge,retainKeys key=name list=map keys=name
io.k8s.api.core.v1.PodStatus conditions patch=merge key=type list=map keys=type
io.k8s.api.core.v1.PodStatus containerStatuses list=atomic
io.k8s.api.core.v1.PodStatus ephemeralContainerStatuses list=atomic
io.k8s.api.core.v1.PodStatus hostIPs patch=merge key=ip list=atomic
io.k8s.api.core.v1.PodStatus initContainerStatuses list=atomic
io.k8s.api.core.v1.PodStatus podIPs patch=merge key=ip list=map keys=ip
io.k8s.api.core.v1.PodStatus resourceClaimStatuses patch=merge,retainKeys key=name list=map keys=name
io.k8s.api.core.v1.ProjectedVolumeSource sources list=atomic
io.k8s.api.core.v1.RBDVolumeSource monitors list=atomic
io.k8s.api.core.v1.ReplicationControllerSpec selector map=atomic
io.k8s.api.core.v1.ReplicationControllerStatus conditions patch=merge key=type list=map keys=type
io.k8s.api.core.v1.ResourceFieldSelector - map=atomic
io.k8s.api.core.v1.ResourceRequirements claims list=map keys=name
io.k8s.api.core.v1.ResourceStatus resources list=map keys=resourceID
io.k8s.api.core.v1.SecretKeySelector - map=atomic
io.k8s.api.core.v1.SecretProjection items list=atomic
io.k8s.api.core.v1.SecretVolumeSource items list=atomic
io.k8s.api.core.v1.ServiceAccount imagePullSecrets list=atomic
io.k8s.api.core.v1.ServiceAccount secrets patch=merge key=name list=map keys=name
io.k8s.api.core.v1.ServiceSpec clusterIPs list=atomic
io.k8s.api.core.v1.ServiceSpec externalIPs list=atomic
io.k8s.api.core.v1.ServiceSpec ipFamilies list=atomic
io.k8s.api.core.v1.ServiceSpec loadBalancerSourceRanges list=atomic
io.k8s.api.core.v1.ServiceSpec ports patch=merge key=port list=map keys=port,protocol
io.k8s.api.core.v1.ServiceSpec selector map=atomic
io.k8s.api.core.v1.ServiceStatus conditions patch=merge key=type list=map keys=type
io.k8s.api.core.v1.TopologySpreadConstraint matchLabelKeys list=atomic
io.k8s.api.core.v1.TypedLocalObjectReference - map=atomic
io.k8s.api.networking.v1.IPBlock except list=atomic
io.k8s.api.networking.v1.NetworkPolicyEgressRule ports list=atomic
io.k8s.api.networking.v1.NetworkPolicyEgressRule to list=atomic
io.k8s.api.networking.v1.NetworkPolicyIngressRule from list=atomic
io.k8s.api.networking.v1.NetworkPolicyIngressRule ports list=atomic
io.k8s.api.networking.v1.NetworkPolicySpec egress list=atomic
io.k8s.api.networking.v1.NetworkPolicySpec ingress list=atomic
io.k8s.api.networking.v1.NetworkPolicySpec policyTypes list=atomic
io.k8s.api.policy.v1.PodDisruptionBudgetSpec selector patch=replace
io.k8s.api.policy.v1.PodDisruptionBudgetStatus conditions patch=merge key=type list=map keys=type
io.k8s.api.rbac.v1.AggregationRule clusterRoleSelectors list=atomic
io.k8s.api.rbac.v1.ClusterRole rules list=atomic
io.k8s.api.rbac.v1.ClusterRoleBinding subjects list=atomic
io.k8s.api.rbac.v1.PolicyRule apiGroups list=atomic
io.k8s.api.rbac.v1.PolicyRule nonResourceURLs list=atomic
io.k8s.api.rbac.v1.PolicyRule resourceNames list=atomic
io.k8s.api.rbac.v1.PolicyRule resources list=atomic
io.k8s.api.rbac.v1.PolicyRule verbs list=atomic
io.k8s.api.rbac.v1.Role rules list=atomic
io.k8s.api.rbac.v1.RoleBinding subjects list=atomic
io.k8s.api.rbac.v1.RoleRef - map=atomic
io.k8s.api.rbac.v1.Subject - map=atomic
io.k8s.apimachinery.pkg.apis.meta.v1.APIResource categories list=atomic
io.k8s.apimachinery.pkg.apis.meta.v1.APIResource shortNames list=atomic
io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList resources list=atomic
io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions dryRun list=atomic
io.k8s.apimachinery.pkg.apis.meta.v1.FieldSelectorRequirement values list=atomic
io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector - map=atomic
io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector matchExpressions list=atomic
io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement values list=atomic
io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta finalizers patch=merge list=set
io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta managedFields list=atomic
io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta ownerReferences patch=merge key=uid list=map keys=uid
io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference - map=atomic
io.k8s.apimachinery.pkg.apis.meta.v1.Status details list=atomic
io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails causes list=atomic
";

/// Where an extension goes and what it says.
#[derive(Debug, PartialEq, Eq)]
pub struct Extension {
    /// Definition name (`io.k8s.api.core.v1.PodSpec`).
    pub definition: &'static str,
    /// The property it annotates, or `None` for the definition itself.
    pub property: Option<&'static str>,
    /// The extensions, by name.
    pub values: Vec<(&'static str, Value)>,
}

/// Every extension of [`TABLE`].
pub fn all() -> Vec<Extension> {
    TABLE.lines().map(parse).collect()
}

fn parse(line: &'static str) -> Extension {
    let mut words = line.split_whitespace();
    let definition = words.next().unwrap_or_default();
    let property = words.next().filter(|p| *p != "-");
    let values = words
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| match k {
            "patch" => ("x-kubernetes-patch-strategy", json!(v)),
            "key" => ("x-kubernetes-patch-merge-key", json!(v)),
            "list" => ("x-kubernetes-list-type", json!(v)),
            "keys" => (
                "x-kubernetes-list-map-keys",
                json!(v.split(',').collect::<Vec<_>>()),
            ),
            "map" => ("x-kubernetes-map-type", json!(v)),
            other => panic!("unknown extension {other} in {line:?}"),
        })
        .collect();
    Extension {
        definition,
        property,
        values,
    }
}

/// Adds the extensions to the definitions they name (those present).
pub fn apply(definitions: &mut Map<String, Value>) {
    for ext in all() {
        let Some(def) = definitions.get_mut(ext.definition) else {
            continue;
        };
        let target = match ext.property {
            None => Some(def),
            Some(p) => def.get_mut("properties").and_then(|props| props.get_mut(p)),
        };
        if let Some(Value::Object(target)) = target {
            for (k, v) in ext.values {
                target.insert(k.to_string(), v);
            }
        }
    }
}
