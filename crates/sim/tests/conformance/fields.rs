//! What every write goes through, whatever the kind: field validation, immutable fields,
//! managed fields and server-side apply, field selectors, Secret `stringData`, delete and
//! dry-run answers, and the wording of errors.

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::harness::Cluster;

const TYPO: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: typo, namespace: shop}
spec:
  replicaz: 3
  selector: {matchLabels: {app: typo}}
  template:
    metadata: {labels: {app: typo}}
    spec:
      containers: [{name: app, image: registry.local/typo:1}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_are_refused_warned_or_dropped_as_asked() {
    let Some(c) = Cluster::start().await else {
        return;
    };

    // kubectl apply validates strictly by default (fieldValidation=Strict); kube-apiserver:
    // 400 BadRequest `Deployment in version "v1" cannot be handled as a Deployment: strict
    // decoding error: unknown field "spec.replicaz"`.
    let ran = c
        .kubectl_with_stdin(&["apply", "-f", "-"], Some(TYPO))
        .await;
    assert!(!ran.ok, "a typo is configured: {}", ran.stdout);
    assert!(
        ran.stderr.contains(
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.replicaz\""
        ),
        "{}",
        ran.stderr
    );

    // --validate=warn: created, the field dropped, and kubectl prints the server's warning
    // (`Warning: unknown field "spec.replicaz"`).
    let ran = c
        .kubectl_with_stdin(&["apply", "--validate=warn", "-f", "-"], Some(TYPO))
        .await;
    assert!(ran.ok, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("unknown field \"spec.replicaz\""),
        "{}",
        ran.stderr
    );
    let stored: Value = serde_json::from_str(
        &c.kubectl_ok(&["get", "deploy", "typo", "-n", "shop", "-o", "json"])
            .await,
    )
    .unwrap();
    assert!(stored["spec"].get("replicaz").is_none());
    assert_eq!(
        stored["spec"]["replicas"], 1,
        "defaulted, as the field was unknown"
    );

    // The Python client's models know only declared fields, so the typo goes in a patch;
    // with field_validation="Strict": 400, reason BadRequest, and a cause
    // naming the field.
    let ran = c
        .python(
            r#"
v1 = client.CoreV1Api()
v1.create_namespaced_config_map("shop", client.V1ConfigMap.from_dict({"metadata": {"name": "strict"}}))
try:
    v1.patch_namespaced_config_map("strict", "shop", {"datax": {"a": "b"}}, field_validation="Strict", _content_type="application/merge-patch+json")
    print(json.dumps({"status": 200}))
except ApiException as e:
    print(json.dumps({"status": e.status, "reason": e.reason, "body": json.loads(e.body)}))
"#,
        )
        .await;
    let out = ran.json();
    assert_eq!(out["status"], 400, "{out}");
    assert_eq!(out["body"]["reason"], "BadRequest");
    assert_eq!(
        out["body"]["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"datax\""
    );
    assert_eq!(out["body"]["details"]["causes"][0]["field"], "datax");

    // An unknown level is refused as kube-apiserver validates its options (422).
    let (code, body) = c
        .raw_json(
            "POST",
            "/api/v1/namespaces/shop/configmaps?fieldValidation=Loose",
            Some(&json!({"metadata": {"name": "loose"}})),
        )
        .await;
    assert_eq!((code, body["reason"].as_str()), (422, Some("Invalid")));

    // kube-rs sends no level: Warn, so the object is created without the field.
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "shop");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "warned"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let (code, _) = c
        .raw_json(
            "PATCH",
            "/api/v1/namespaces/shop/configmaps/warned",
            Some(&json!({"datax": {"a": "b"}, "data": {"a": "b"}})),
        )
        .await;
    assert_eq!(
        code, 415,
        "a JSON body without a patch content type is not a patch"
    );
    let patched = cms
        .patch(
            "warned",
            &PatchParams::default(),
            &Patch::Merge(json!({"datax": {"a": "b"}, "data": {"a": "b"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["a"], "b");
    let raw = c
        .kubectl_ok(&["get", "cm", "warned", "-n", "shop", "-o", "json"])
        .await;
    assert!(!raw.contains("datax"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_fields_stay_as_they_were() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    c.until("web pods scheduled", |s| {
        s.store()
            .list_typed::<Pod>(Some("shop"))
            .iter()
            .any(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
    })
    .await;
    let pod = c
        .sim
        .store()
        .list_typed::<Pod>(Some("shop"))
        .iter()
        .find(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
        .and_then(|p| p.metadata.name.clone())
        .unwrap();

    // Moving a pod to another node: 422 Invalid, `Pod "<name>" is invalid: spec: Forbidden:
    // pod updates may not change fields other than ...`, a cause on `spec`.
    let pods: Api<Pod> = Api::namespaced(c.client().await, "shop");
    let err = pods
        .patch(
            &pod,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"nodeName": "node-elsewhere"}})),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("{err}")
    };
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status.message.starts_with(&format!(
            "Pod \"{pod}\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
        )),
        "{}",
        status.message
    );

    // A container's resources without the resize subresource: the same refusal.
    let ran = c
        .kubectl(&[
            "patch", "pod", &pod, "-n", "shop", "--type=json", "-p",
            r#"[{"op":"replace","path":"/spec/containers/0/resources/limits/memory","value":"1Gi"}]"#,
        ])
        .await;
    assert!(
        !ran.ok
            && ran
                .stderr
                .contains("spec: Forbidden: pod updates may not change fields"),
        "{}",
        ran.stderr
    );

    // An image may change.
    c.kubectl_ok(&[
        "set",
        "image",
        &format!("pod/{pod}"),
        "-n",
        "shop",
        "web=registry.local/shop/web:1.0.1",
    ])
    .await;

    // A Service's cluster IP: `spec.clusterIPs[0]: Invalid value: []string{"10.96.7.8"}: may
    // not change once set`.
    let svc = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"fixed","namespace":"shop"},
        "spec":{"clusterIP":"10.96.7.7","selector":{"app":"web"},"ports":[{"port":80}]}}"#;
    c.kubectl_with_stdin(&["create", "-f", "-"], Some(svc))
        .await;
    let ran = c
        .kubectl(&[
            "patch",
            "svc",
            "fixed",
            "-n",
            "shop",
            "-p",
            r#"{"spec":{"clusterIP":"10.96.7.8"}}"#,
        ])
        .await;
    assert!(
        ran.stderr.contains(
            "spec.clusterIPs[0]: Invalid value: []string{\"10.96.7.8\"}: may not change once set"
        ),
        "{}",
        ran.stderr
    );

    // A Deployment's selector: `spec.selector: Invalid value: v1.LabelSelector{...}: field is
    // immutable`, from the Python client.
    let out = c
        .python(
            r#"
try:
    client.AppsV1Api().patch_namespaced_deployment("web", "shop", {"spec": {"selector": {"matchLabels": {"app": "other"}}, "template": {"metadata": {"labels": {"app": "other"}}}}}, _content_type="application/merge-patch+json")
    print(json.dumps({"status": 200}))
except ApiException as e:
    print(json.dumps({"status": e.status, "body": json.loads(e.body)}))
"#,
        )
        .await
        .json();
    assert_eq!(out["status"], 422, "{out}");
    assert_eq!(
        out["body"]["details"]["causes"][0]["field"],
        "spec.selector"
    );
    assert!(
        out["body"]["message"]
            .as_str()
            .unwrap()
            .ends_with("field is immutable")
    );

    // An immutable ConfigMap's data: `data: Forbidden: field is immutable when `immutable` is
    // set`, reason FieldValueForbidden.
    let out = c
        .python(
            r#"
v1 = client.CoreV1Api()
v1.create_namespaced_config_map("shop", client.V1ConfigMap.from_dict({"metadata": {"name": "frozen"}, "immutable": True, "data": {"a": "1"}}))
try:
    v1.patch_namespaced_config_map("frozen", "shop", {"data": {"a": "2"}}, _content_type="application/merge-patch+json")
    print(json.dumps({"status": 200}))
except ApiException as e:
    print(json.dumps({"status": e.status, "body": json.loads(e.body)}))
"#,
        )
        .await
        .json();
    assert_eq!(out["status"], 422, "{out}");
    assert_eq!(
        out["body"]["message"],
        "ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
    );
    assert_eq!(
        out["body"]["details"]["causes"][0]["reason"],
        "FieldValueForbidden"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_tracks_managers_conflicts_and_removals() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let config = |value: &str, extra: bool| {
        let mut data = json!({"mode": value});
        if extra {
            data["extra"] = json!("yes");
        }
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "shop"}, "data": data})
        .to_string()
    };
    c.kubectl_with_stdin(
        &["apply", "--server-side", "-f", "-"],
        Some(&config("fast", true)),
    )
    .await;
    // Another manager changes a field the applier owns.
    c.kubectl_ok(&[
        "patch",
        "cm",
        "settings",
        "-n",
        "shop",
        "--field-manager=ops",
        "-p",
        r#"{"data":{"mode":"safe"}}"#,
    ])
    .await;

    // Applying another value: 409 Conflict, `Apply failed with 1 conflict: conflict with
    // "ops" using v1: .data.mode`.
    let ran = c
        .kubectl_with_stdin(
            &["apply", "--server-side", "-f", "-"],
            Some(&config("fast", true)),
        )
        .await;
    assert!(!ran.ok);
    assert!(
        ran.stderr
            .contains("Apply failed with 1 conflict: conflict with \"ops\" using v1: .data.mode"),
        "{}",
        ran.stderr
    );

    // Forced, and without `extra`: the applier takes the field back and `extra`, owned by
    // nobody else, is removed.
    let ran = c
        .kubectl_with_stdin(
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(&config("fast", false)),
        )
        .await;
    assert!(ran.ok, "{}", ran.stderr);
    let cm: Value = serde_json::from_str(
        &c.kubectl_ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "shop",
            "-o",
            "json",
            "--show-managed-fields",
        ])
        .await,
    )
    .unwrap();
    assert_eq!(cm["data"], json!({"mode": "fast"}));
    let managers: Vec<(&str, &str)> = cm["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap(),
                e["operation"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        managers,
        vec![("kubectl", "Apply")],
        "ops lost its only field"
    );

    // Who changed what is visible to every client: the Python client reads the entries and
    // kube-rs's apply is recorded under its manager.
    let cms: Api<ConfigMap> = Api::namespaced(c.client().await, "shop");
    cms.patch(
        "settings",
        &PatchParams::apply("nightshift"),
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"owner": "agent"}})),
    )
    .await
    .unwrap();
    let out = c
        .python(
            r#"
cm = client.CoreV1Api().read_namespaced_config_map("settings", "shop")
print(json.dumps(sorted([[m.manager, m.operation] for m in cm.metadata.managed_fields])))
"#,
        )
        .await
        .json();
    assert_eq!(out, json!([["kubectl", "Apply"], ["nightshift", "Apply"]]));

    // An apply without a field manager: 422, `PatchOptions.meta.k8s.io "" is invalid:
    // fieldManager: Required value: is required for apply patch`.
    let (code, _, body) = c
        .raw(
            "PATCH",
            "/api/v1/namespaces/shop/configmaps/settings",
            &[("content-type", "application/apply-patch+yaml")],
            b"{\"data\": {\"x\": \"y\"}}".to_vec(),
        )
        .await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(code, 422);
    assert_eq!(
        body["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_selectors_are_the_ones_each_kind_declares() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    // kube-apiserver: 400 BadRequest `field label not supported: spec.replicas`.
    let ran = c
        .kubectl(&[
            "get",
            "deploy",
            "-n",
            "shop",
            "--field-selector",
            "spec.replicas=2",
        ])
        .await;
    assert!(
        !ran.ok
            && ran
                .stderr
                .contains("field label not supported: spec.replicas"),
        "{}",
        ran.stderr
    );
    let (code, body) = c
        .raw_json("GET", "/api/v1/configmaps?fieldSelector=data.a%3Db", None)
        .await;
    assert_eq!((code, body["reason"].as_str()), (400, Some("BadRequest")));

    // Declared ones work, and a node without `spec.unschedulable` matches `=false`.
    c.until("web pods scheduled", |s| {
        s.store()
            .list_typed::<Pod>(Some("shop"))
            .iter()
            .any(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
    })
    .await;
    let on_a = c
        .kubectl_ok(&[
            "get",
            "pods",
            "-A",
            "--field-selector",
            "spec.nodeName=node-a",
            "-o",
            "name",
        ])
        .await;
    assert!(!on_a.trim().is_empty());
    let out = c
        .python(
            r#"
nodes = client.CoreV1Api().list_node(field_selector="spec.unschedulable=false")
print(json.dumps(sorted(n.metadata.name for n in nodes.items)))
"#,
        )
        .await
        .json();
    assert_eq!(out, json!(["node-a", "node-b"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_deletes_dry_runs_versions_and_error_wording() {
    let Some(c) = Cluster::start().await else {
        return;
    };

    // stringData becomes base64 data and is not kept.
    let out = c
        .python(
            r#"
v1 = client.CoreV1Api()
v1.create_namespaced_secret("shop", client.V1Secret.from_dict({"metadata": {"name": "db"}, "stringData": {"password": "hunter2"}}))
s = v1.read_namespaced_secret("db", "shop")
print(json.dumps({"data": s.data, "string_data": s.string_data}))
"#,
        )
        .await
        .json();
    assert_eq!(
        out,
        json!({"data": {"password": "aHVudGVyMg=="}, "string_data": null})
    );

    // GET /version/ (the Python client's VersionApi and kr8s ask with the slash).
    let out = c
        .python("print(json.dumps(client.VersionApi().get_code().major))")
        .await
        .json();
    assert_eq!(out, json!("1"));

    // Deleting an object that goes at once answers a Status naming it; a pod answers itself.
    let client = c.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "gone"}})).unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let answer = cms.delete("gone", &DeleteParams::default()).await.unwrap();
    let status = answer.right().expect("a Status, not the object");
    let details = status.details.unwrap();
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("gone", "configmaps")
    );
    assert_eq!(details.uid, created.metadata.uid.unwrap());

    // AlreadyExists names the resource with its group: `deployments.apps "web" already
    // exists`, and the Status fields come in kube-apiserver's order.
    let (code, _, body) = c
        .raw(
            "POST",
            "/apis/apps/v1/namespaces/shop/deployments",
            &[("content-type", "application/json")],
            c.kubectl_ok(&["get", "deploy", "web", "-n", "shop", "-o", "json"])
                .await
                .into_bytes(),
        )
        .await;
    assert_eq!(code, 409);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.starts_with(
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \"web\" already exists","reason":"AlreadyExists","details":{"name":"web","group":"apps","kind":"deployments"},"code":409}"#
        ),
        "{text}"
    );

    // A dry-run patch answers with the version that is stored, so `kubectl diff` of what is
    // there shows nothing (exit 0) and of a change shows it (exit 1).
    let stored = c
        .kubectl_ok(&["get", "deploy", "web", "-n", "shop", "-o", "json"])
        .await;
    let v: Value = serde_json::from_str(&stored).unwrap();
    let (code, dry) = c
        .raw_json(
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/web?dryRun=All",
            None,
        )
        .await;
    assert_eq!(code, 415, "no patch content type");
    let _ = dry;
    let (code, _, body) = c
        .raw(
            "PATCH",
            "/apis/apps/v1/namespaces/shop/deployments/web?dryRun=All",
            &[("content-type", "application/merge-patch+json")],
            br#"{"metadata":{"labels":{"tried":"yes"}}}"#.to_vec(),
        )
        .await;
    let dry: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(code, 200);
    assert_eq!(dry["metadata"]["labels"]["tried"], "yes");
    let now: Value = serde_json::from_str(
        &c.kubectl_ok(&["get", "deploy", "web", "-n", "shop", "-o", "json"])
            .await,
    )
    .unwrap();
    assert!(
        now["metadata"]["labels"].get("tried").is_none(),
        "a dry run stores nothing"
    );
    assert_eq!(
        dry["metadata"]["resourceVersion"],
        now["metadata"]["resourceVersion"]
    );
    let _ = v;

    let cm = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"diffed","namespace":"shop"},"data":{"a":"1"}}"#;
    c.kubectl_with_stdin(&["apply", "-f", "-"], Some(cm)).await;
    let same = c.kubectl_with_stdin(&["diff", "-f", "-"], Some(cm)).await;
    assert!(
        same.ok && same.stdout.is_empty(),
        "{}{}",
        same.stdout,
        same.stderr
    );
    let changed = c
        .kubectl_with_stdin(&["diff", "-f", "-"], Some(&cm.replace("\"1\"", "\"2\"")))
        .await;
    assert!(
        !changed.ok && changed.stdout.contains("+  a: \"2\""),
        "{}{}",
        changed.stdout,
        changed.stderr
    );
}
