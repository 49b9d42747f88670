use serde_json::json;

use super::*;
use crate::api::patch::{self, PatchKind};

fn writer(manager: &str) -> Writer {
    Writer {
        manager: manager.into(),
        api_version: "apps/v1".into(),
        subresource: "",
        now: "2026-01-01T00:00:00Z".into(),
    }
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]}},
        },
    })
}

fn ssa(w: &Writer, cur: &Value, config: &Value, force: bool) -> Result<Value, ApiError> {
    apply(w, cur, config, force, |c, d| {
        patch::apply(PatchKind::Apply, c, d)
    })
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap().to_string(),
                e["operation"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_create_owns_every_field_it_set_in_fields_v1() {
    let mut obj = deployment(2, "web:1");
    record_update(&writer("kubectl-create"), None, &mut obj);
    let entry = &obj["metadata"]["managedFields"][0];
    assert_eq!(entry["manager"], "kubectl-create");
    assert_eq!(entry["operation"], "Update");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    let f = &entry["fieldsV1"];
    assert_eq!(f["f:metadata"]["f:labels"]["f:app"], json!({}));
    assert_eq!(f["f:spec"]["f:replicas"], json!({}));
    let c = &f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"];
    assert_eq!(c["."], json!({}));
    assert_eq!(c["f:image"], json!({}));
    assert!(f.get("f:apiVersion").is_none() && f["f:metadata"].get("f:name").is_none());
}

#[test]
fn an_update_takes_the_fields_it_changes_and_a_no_op_changes_nothing() {
    let mut created = deployment(2, "web:1");
    record_update(&writer("kubectl-create"), None, &mut created);
    let mut scaled = created.clone();
    scaled["spec"]["replicas"] = json!(5);
    record_update(&writer("kubectl-scale"), Some(&created), &mut scaled);
    let entries = scaled["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries[0]["fieldsV1"]["f:spec"].get("f:replicas").is_none());
    assert_eq!(entries[1]["manager"], "kubectl-scale");
    assert_eq!(
        entries[1]["fieldsV1"],
        json!({"f:spec": {"f:replicas": {}}})
    );
    let mut same = scaled.clone();
    let mut later = writer("other");
    later.now = "2026-01-02T00:00:00Z".into();
    record_update(&later, Some(&scaled), &mut same);
    assert_eq!(same, scaled);
}

#[test]
fn apply_conflicts_with_another_manager_unless_forced() {
    let a = writer("deployer");
    let created = ssa(&a, &json!({}), &deployment(3, "web:1"), false).unwrap();
    let mut edited = created.clone();
    edited["spec"]["replicas"] = json!(5);
    record_update(&writer("kubectl-edit"), Some(&created), &mut edited);

    // Applying the same replicas again conflicts with the edit; other fields do not.
    let err = ssa(&a, &edited, &deployment(3, "web:2"), false).unwrap_err();
    assert_eq!((err.code, err.reason), (409, "Conflict"));
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas"
    );
    let cause = &err.details.as_ref().unwrap()["causes"][0];
    assert_eq!(cause["reason"], "FieldManagerConflict");
    assert_eq!(cause["field"], ".spec.replicas");

    // Applying the value the other manager set shares the field without a conflict.
    assert!(ssa(&a, &edited, &deployment(5, "web:1"), false).is_ok());

    let forced = ssa(&a, &edited, &deployment(3, "web:2"), true).unwrap();
    assert_eq!(forced["spec"]["replicas"], 3);
    assert_eq!(
        forced["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:2"
    );
    assert_eq!(managers(&forced), vec![("deployer".into(), "Apply".into())]);
}

#[test]
fn a_field_no_longer_applied_is_removed_unless_another_manager_owns_it() {
    let a = writer("deployer");
    let mut config = deployment(2, "web:1");
    config["metadata"]["labels"] = json!({"app": "web", "tier": "front", "team": "shop"});
    let first = ssa(&a, &json!({}), &config, false).unwrap();
    let mut shared = first.clone();
    shared["metadata"]["labels"]["team"] = json!("checkout");
    record_update(&writer("kubectl-label"), Some(&first), &mut shared);

    let next = ssa(&a, &shared, &deployment(2, "web:1"), false).unwrap();
    let labels = next["metadata"]["labels"].as_object().unwrap();
    assert!(
        !labels.contains_key("tier"),
        "dropped from the applied configuration"
    );
    assert_eq!(
        labels["team"], "checkout",
        "owned by kubectl-label, so kept"
    );
    assert_eq!(labels["app"], "web");
}

#[test]
fn conflicts_list_every_field_and_paths_name_list_items() {
    let a = writer("deployer");
    let created = ssa(&a, &json!({}), &deployment(3, "web:1"), false).unwrap();
    let mut edited = created.clone();
    edited["spec"]["replicas"] = json!(5);
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("web:9");
    record_update(&writer("kubectl-edit"), Some(&created), &mut edited);
    let err = ssa(&a, &edited, &deployment(3, "web:1"), false).unwrap_err();
    assert_eq!(
        err.message,
        "Apply failed with 2 conflicts: conflicts with \"kubectl-edit\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image"
    );
}

#[test]
fn clients_may_reset_the_entries_and_managers_come_from_the_user_agent() {
    let mut created = deployment(2, "web:1");
    record_update(&writer("kubectl-create"), None, &mut created);
    let mut reset = created.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    record_update(&writer("kubectl-edit"), Some(&created), &mut reset);
    assert!(reset["metadata"].get("managedFields").is_none());

    assert_eq!(
        manager_name(None, Some("kubectl/v1.32.4 (linux/amd64) kubernetes/abc")).unwrap(),
        "kubectl"
    );
    assert_eq!(
        manager_name(Some("nightshift"), Some("kube-rs/1")).unwrap(),
        "nightshift"
    );
    let err = manager_name(Some(&"x".repeat(129)), None).unwrap_err();
    assert_eq!(err.code, 422);
}

#[test]
fn fields_v1_round_trips() {
    let obj = {
        let mut o = deployment(1, "a");
        o["metadata"]["finalizers"] = json!(["example.com/keep"]);
        o
    };
    let fields = fields_of(&obj, false);
    let mut back = FieldSet::new();
    decode(&encode(&fields), &mut Vec::new(), &mut back);
    assert_eq!(back, fields);
    assert!(fields.contains(&vec![
        "f:metadata".to_string(),
        "f:finalizers".to_string(),
        "v:\"example.com/keep\"".to_string()
    ]));
}
