//! `/openapi/v2` and `/openapi/v3` as kubectl 1.32 reads them: `kubectl explain`, the patches
//! of `kubectl apply` (computed from the merge keys of the v3 schemas) and the server-side
//! field validation that the v3 documents announce; and as the official Python client reads
//! them. Each assertion says what kube-apiserver 1.34 answers.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::harness::{Cluster, Ran};

/// Runs kubectl.
async fn run(cluster: &Cluster, args: &[&str]) -> Ran {
    cluster.kubectl(args).await
}

fn manifest(cluster: &Cluster, name: &str, doc: &Value) -> PathBuf {
    let path = cluster.dir().join(name);
    std::fs::write(&path, serde_json::to_string_pretty(doc).unwrap()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_prints_the_descriptions_of_the_types() {
    let Some(kc) = Cluster::start().await else {
        return;
    };
    // kube-apiserver 1.34 + kubectl 1.32:
    //   GROUP:      apps
    //   KIND:       Deployment
    //   VERSION:    v1
    //
    //   FIELD: replicas <integer>
    //
    //   DESCRIPTION:
    //       Number of desired pods. This is a pointer to distinguish between explicit
    //       zero and not specified. Defaults to 1.
    let out = kc
        .kubectl_ok(&["explain", "deployment.spec.replicas"])
        .await;
    for line in [
        "GROUP:      apps",
        "KIND:       Deployment",
        "VERSION:    v1",
        "FIELD: replicas <integer>",
        "Number of desired pods. This is a pointer to distinguish between explicit",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }

    // kube-apiserver: the field's description, then every field below it with its type,
    // `-required-` where the schema requires it, IntOrString and Quantity by name.
    let out = kc
        .kubectl_ok(&["explain", "pods.spec.containers", "--recursive"])
        .await;
    for line in [
        "KIND:       Pod",
        "FIELD: containers <[]Container>",
        "List of containers belonging to the pod. Containers cannot currently be",
        "A single application container that you want to run within a pod.",
        "  name\t<string> -required-",
        "  ports\t<[]ContainerPort>",
        "    containerPort\t<integer> -required-",
        "        port\t<IntOrString> -required-",
        "        divisor\t<Quantity>",
        "    limits\t<map[string]Quantity>",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }

    // `--api-version` picks the group version: events.k8s.io/v1 Event, not core/v1's.
    let out = kc
        .kubectl_ok(&["explain", "events", "--api-version=events.k8s.io/v1"])
        .await;
    assert!(out.contains("GROUP:      events.k8s.io"), "{out}");
    assert!(out.contains("eventTime\t<string> -required-"), "{out}");
    let out = kc.kubectl_ok(&["explain", "events"]).await;
    assert!(out.contains("KIND:       Event\nVERSION:    v1"), "{out}");
    assert!(
        out.contains("involvedObject\t<ObjectReference> -required-"),
        "{out}"
    );

    // A field that does not exist: kubectl's own message, as against kube-apiserver.
    let Ran {
        ok, stderr: err, ..
    } = run(&kc, &["explain", "deployment.spec.replcas"]).await;
    assert!(!ok);
    assert!(err.contains("field \"replcas\" does not exist"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_follows_the_served_kinds() {
    let Some(kc) = Cluster::start().await else {
        return;
    };
    // The metrics kinds, as metrics-server describes them to kube-apiserver's aggregator.
    let out = kc.kubectl_ok(&["explain", "podmetrics.containers"]).await;
    assert!(out.contains("KIND:       PodMetrics"), "{out}");
    assert!(
        out.contains("usage\t<map[string]Quantity> -required-"),
        "{out}"
    );

    // Jobs are described as soon as they are served: kube-apiserver prints
    // "Job represents the configuration of a single job."; a server without them says
    // `the server doesn't have a resource type "jobs"`.
    let Ran {
        ok,
        stdout: out,
        stderr: err,
    } = run(&kc, &["explain", "jobs"]).await;
    if nightshift_sim::resources::find("batch", "v1", "jobs").is_some() {
        assert!(ok, "{err}");
        assert!(out.contains("KIND:       Job"), "{out}");
        assert!(
            out.contains("Job represents the configuration of a single job."),
            "{out}"
        );
    } else {
        assert!(!ok);
        assert!(
            err.contains("the server doesn't have a resource type \"jobs\""),
            "{err}"
        );
    }
}

fn deployment(spec_extra: Value, containers: Value) -> Value {
    let mut spec = json!({
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": containers},
        },
    });
    spec.as_object_mut()
        .unwrap()
        .extend(spec_extra.as_object().unwrap().clone());
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": spec,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_with_a_typo_is_refused_by_the_server() {
    let Some(kc) = Cluster::start().await else {
        return;
    };
    let typo = deployment(
        json!({"replcas": 2}),
        json!([{"name": "app", "image": "nginx"}]),
    );
    let path = manifest(&kc, "typo.json", &typo);
    let file = path.to_str().unwrap();

    // kubectl 1.32 finds `fieldValidation` on the PATCH operations of /openapi/v3, so it
    // leaves the check to the server (`?fieldValidation=Strict`). kube-apiserver answers
    //   Error from server (BadRequest): error when creating "typo.json": Deployment in
    //   version "v1" cannot be handled as a Deployment: strict decoding error: unknown
    //   field "spec.replcas"
    let Ran {
        ok, stderr: err, ..
    } = run(&kc, &["apply", "--validate=strict", "-f", file]).await;
    assert!(!ok, "the typo was accepted");
    assert!(
        err.contains(&format!(
            "Error from server (BadRequest): error when creating \"{file}\": Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.replcas\""
        )),
        "{err}"
    );
    let ran = run(&kc, &["get", "deployment", "web", "-n", "default"]).await;
    assert!(
        ran.stderr
            .contains("Error from server (NotFound): deployments.apps \"web\" not found"),
        "{ran:?}"
    );

    // `--validate=warn`: created without the field, and kubectl prints
    //   Warning: unknown field "spec.replcas"
    let Ran {
        ok,
        stdout: out,
        stderr: err,
    } = run(&kc, &["apply", "--validate=warn", "-f", file]).await;
    assert!(ok, "{err}");
    assert!(out.contains("deployment.apps/web created"), "{out}");
    assert!(
        err.contains("Warning: unknown field \"spec.replcas\""),
        "{err}"
    );
    let stored = kc
        .kubectl_ok(&["get", "deployment", "web", "-o", "json"])
        .await;
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["spec"]["replicas"], 1);
    assert!(stored["spec"].get("replcas").is_none());

    // A typo in a patch of the existing object: kube-apiserver answers
    //   Error from server (BadRequest): error when applying patch: ... strict decoding
    //   error: unknown field "spec.template.spec.containers[0].imagePullPolicyy"
    let typo = deployment(
        json!({}),
        json!([{"name": "app", "image": "nginx", "imagePullPolicyy": "Always"}]),
    );
    let path = manifest(&kc, "typo2.json", &typo);
    let Ran {
        ok, stderr: err, ..
    } = run(
        &kc,
        &["apply", "--validate=strict", "-f", path.to_str().unwrap()],
    )
    .await;
    assert!(!ok, "the typo was accepted");
    assert!(err.contains("Error from server (BadRequest)"), "{err}");
    assert!(
        err.contains(
            "strict decoding error: unknown field \"spec.template.spec.containers[0].imagePullPolicyy\""
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_patches_lists_by_their_merge_keys() {
    let Some(kc) = Cluster::start().await else {
        return;
    };
    let two = deployment(
        json!({}),
        json!([
            {"name": "app", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "busybox"},
        ]),
    );
    let path = manifest(&kc, "two.json", &two);
    kc.kubectl_ok(&["apply", "-f", path.to_str().unwrap()])
        .await;

    // kubectl computes the patch from the v3 schema of the kind (PATCH accepts
    // application/strategic-merge-patch+json); with `containers` merged by `name`, a container
    // left out of the manifest is deleted, and the other is patched in place.
    let one = deployment(
        json!({}),
        json!([{"name": "app", "image": "nginx:2", "env": [{"name": "A", "value": "1"}]}]),
    );
    let path = manifest(&kc, "one.json", &one);
    let Ran {
        ok,
        stdout: out,
        stderr: err,
    } = run(&kc, &["apply", "-f", path.to_str().unwrap()]).await;
    assert!(ok, "{err}");
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    assert!(!err.contains("openapi"), "kubectl fell back: {err}");
    let stored = kc
        .kubectl_ok(&["get", "deployment", "web", "-o", "json"])
        .await;
    let stored: Value = serde_json::from_str(&stored).unwrap();
    let containers = &stored["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().unwrap().len(), 1, "{containers}");
    assert_eq!(containers[0]["image"], "nginx:2");
    assert_eq!(containers[0]["env"], json!([{"name": "A", "value": "1"}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_served_as_kube_apiserver_serves_them() {
    let Some(kc) = Cluster::start().await else {
        return;
    };
    // The v3 index: every group version with a hashed URL.
    let root: Value =
        serde_json::from_str(&kc.kubectl_ok(&["get", "--raw", "/openapi/v3"]).await).unwrap();
    let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
    let apps: Value = serde_json::from_str(&kc.kubectl_ok(&["get", "--raw", &url]).await).unwrap();
    assert_eq!(apps["openapi"], "3.0.0");
    let deployment = &apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deployment["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );

    // A hashed URL is immutable; the body's SHA-512 is its ETag and its hash.
    let resp = get(&kc, &url, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "public, immutable");
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(format!("\"{}\"", url.rsplit('=').next().unwrap()), etag);

    // /openapi/v2 in JSON. client-go asks for protobuf only
    // (application/com.github.proto-openapi.spec.v2@v1.0+protobuf), which is not served:
    // 406, as kube-apiserver answers for a media type it cannot produce. kubectl then goes
    // on without the v2 document (apply, edit and diff use the v3 documents).
    let v2: Value =
        serde_json::from_str(&kc.kubectl_ok(&["get", "--raw", "/openapi/v2"]).await).unwrap();
    assert_eq!(v2["swagger"], "2.0");
    assert!(v2["definitions"]["io.k8s.api.core.v1.Pod"].is_object());
    let proto = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    let resp = get(&kc, "/openapi/v2", Some(proto)).await;
    assert_eq!(resp.status(), 406);
}

/// A GET with an `Accept` header: status and response headers.
async fn get(cluster: &Cluster, path: &str, accept: Option<&str>) -> reqwest::Response {
    let client = nightshift_net::client(&Default::default())
        .unwrap()
        .build()
        .unwrap();
    let mut req = client.get(format!("{}{path}", cluster.url()));
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_reads_the_documents() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let got = cluster
        .python(
            r#"
host = api.configuration.host
resp = api.call_api("GET", host + "/openapi/v2", header_params={"Accept": "application/json"})
resp.read()
v2 = json.loads(resp.data)
root = api.call_api("GET", host + "/openapi/v3")
root.read()
v3 = json.loads(root.data)
print(json.dumps({
    "status": resp.status,
    "swagger": v2["swagger"],
    "pod": v2["definitions"]["io.k8s.api.core.v1.Pod"]["description"],
    "v3": sorted(v3["paths"]),
}))
"#,
        )
        .await
        .json();
    // kube-apiserver: the Swagger 2.0 document in JSON, the v3 index by group version.
    assert_eq!(got["status"], 200);
    assert_eq!(got["swagger"], "2.0");
    assert_eq!(
        got["pod"],
        "Pod is a collection of containers that can run on a host. This resource is created by clients and scheduled onto hosts."
    );
    let v3 = got["v3"].as_array().unwrap();
    assert!(
        v3.contains(&json!("api/v1")) && v3.contains(&json!("apis/apps/v1")),
        "{v3:?}"
    );
}
