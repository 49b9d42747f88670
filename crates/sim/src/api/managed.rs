//! Managed fields: which field manager set which field of an object, kept in
//! `metadata.managedFields` in kube-apiserver's `FieldsV1` form, and server-side apply's
//! ownership rules on top of them: an apply that changes a field another manager owns is a
//! conflict (409) unless forced, a field an applier stops applying is removed when nobody
//! else owns it, and an update takes the fields it changes from whoever owned them.
//!
//! Fields are paths of `FieldsV1` elements: `f:<field>` for object fields and map keys,
//! `k:{"name":"web"}` for items of lists merged by key (the strategic merge keys of
//! [`super::patch`]), `v:<json>` for items of set lists; other lists are atomic and owned
//! whole. The simulated controllers write through the store, not the API, so they appear in
//! no entry: only clients' writes are recorded. Written by hand because no crate implements
//! structured-merge-diff's field sets for JSON objects.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::patch::{ListStrategy, list_strategy};
use super::status::ApiError;

/// One field: its `FieldsV1` elements from the object's root.
type Path = Vec<String>;

/// A set of fields.
type FieldSet = BTreeSet<Path>;

/// Whether an entry records applies or other writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Apply,
    Update,
}

/// One entry of `metadata.managedFields`.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: Operation,
    api_version: String,
    time: String,
    subresource: String,
    fields: FieldSet,
}

/// Who writes, to which API version and subresource, and when.
#[derive(Debug, Clone)]
pub struct Writer {
    /// The field manager.
    pub manager: String,
    /// The `apiVersion` of the request.
    pub api_version: String,
    /// `status` for writes to the status subresource, empty otherwise.
    pub subresource: &'static str,
    /// The write's time, RFC 3339.
    pub now: String,
}

impl Writer {
    fn status(&self) -> bool {
        self.subresource == "status"
    }
}

/// The field manager of a request: `fieldManager`, or else the client's `User-Agent` up to
/// its first `/`, as kube-apiserver derives it; at most 128 characters.
pub fn manager_name(
    field_manager: Option<&str>,
    user_agent: Option<&str>,
) -> Result<String, ApiError> {
    if let Some(m) = field_manager.filter(|m| !m.is_empty()) {
        if m.chars().count() > 128 {
            return Err(invalid_option(
                "fieldManager: Too long: may not be more than 128 bytes",
            ));
        }
        if m.chars().any(|c| c.is_control()) {
            return Err(invalid_option(&format!(
                "fieldManager: Invalid value: {m:?}: must only contain printable characters"
            )));
        }
        return Ok(m.to_string());
    }
    let agent = user_agent.unwrap_or("").split('/').next().unwrap_or("");
    Ok(agent.chars().take(128).collect())
}

fn invalid_option(message: &str) -> ApiError {
    let (field, msg) = message.split_once(": ").unwrap_or(("", message));
    ApiError::new(
        422,
        "Invalid",
        format!("PatchOptions.meta.k8s.io \"\" is invalid: {message}"),
    )
    .with_details(json!({
        "group": "meta.k8s.io",
        "kind": "PatchOptions",
        "causes": [{"reason": "FieldValueInvalid", "message": msg, "field": field}],
    }))
}

/// Records a create, update or non-apply patch by `w` from `old` (`None` on create) to
/// `new`: the writer's `Update` entry gains the fields it set or changed, every other entry
/// loses them. A write that changes nothing leaves the entries as they were. A client may
/// replace the entries by sending its own (`[{}]` clears them), as with kube-apiserver.
pub fn record_update(w: &Writer, old: Option<&Value>, new: &mut Value) {
    let old_entries = old.map(entries_of).unwrap_or_default();
    let sent = new.pointer("/metadata/managedFields");
    let mut entries = match sent {
        Some(Value::Array(items))
            if !items.is_empty()
                && old.and_then(|o| o.pointer("/metadata/managedFields")) != sent =>
        {
            entries_of(new)
        }
        _ => old_entries,
    };
    let empty = json!({});
    let (changed, removed) = diff_objects(old.unwrap_or(&empty), new, w.status());
    if !changed.is_empty() || !removed.is_empty() {
        let gone: Vec<&Path> = changed.iter().chain(removed.iter()).collect();
        for e in entries.iter_mut().filter(|e| {
            !(e.manager == w.manager
                && e.operation == Operation::Update
                && e.subresource == w.subresource)
        }) {
            e.fields.retain(|p| !gone.iter().any(|g| p.starts_with(g)));
        }
        let own = entry_mut(&mut entries, w, Operation::Update);
        own.fields
            .retain(|p| !removed.iter().any(|g| p.starts_with(g)));
        own.fields.extend(changed);
        own.time = w.now.clone();
        own.api_version = w.api_version.clone();
    }
    write_entries(new, entries);
}

/// Server-side apply of `config` by `w` onto `cur` (an empty object when creating): the
/// merged object with fields the writer no longer applies removed and the entries updated,
/// or a 409 naming every conflicting field when `force` is not set.
pub fn apply(
    w: &Writer,
    cur: &Value,
    config: &Value,
    force: bool,
    merge: impl FnOnce(&Value, &Value) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let mut entries = entries_of(cur);
    let applied = fields_of(config, w.status());
    let mut conflicts: Vec<(String, String, Path)> = Vec::new();
    for e in entries
        .iter_mut()
        .filter(|e| !(e.manager == w.manager && e.operation == Operation::Apply))
    {
        let clash: Vec<Path> = e
            .fields
            .intersection(&applied)
            .filter(|p| !p.last().is_some_and(|l| l.starts_with("k:")))
            .filter(|p| value_at(cur, p) != value_at(config, p))
            .cloned()
            .collect();
        if force {
            e.fields.retain(|p| !clash.contains(p));
        } else {
            conflicts.extend(
                clash
                    .into_iter()
                    .map(|p| (e.manager.clone(), e.api_version.clone(), p)),
            );
        }
    }
    if !conflicts.is_empty() {
        return Err(conflict_error(&conflicts));
    }
    let previous = entries
        .iter()
        .find(|e| {
            e.manager == w.manager
                && e.operation == Operation::Apply
                && e.subresource == w.subresource
        })
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let mut dropped: Vec<&Path> = previous
        .difference(&applied)
        .filter(|p| {
            !entries.iter().any(|e| {
                !(e.manager == w.manager && e.operation == Operation::Apply)
                    && e.fields.contains(*p)
            })
        })
        .collect();
    // Fields inside an item before the item itself.
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let mut merged = merge(cur, config)?;
    for p in dropped {
        remove_at(&mut merged, p);
    }
    entries.retain(|e| {
        !e.fields.is_empty() || (e.manager == w.manager && e.operation == Operation::Apply)
    });
    let own = entry_mut(&mut entries, w, Operation::Apply);
    own.fields = applied;
    own.time = w.now.clone();
    own.api_version = w.api_version.clone();
    write_entries(&mut merged, entries);
    Ok(merged)
}

fn conflict_error(conflicts: &[(String, String, Path)]) -> ApiError {
    let mut by_manager: Vec<(&str, &str, Vec<String>)> = Vec::new();
    for (m, v, p) in conflicts {
        match by_manager.iter_mut().find(|(bm, bv, _)| bm == m && bv == v) {
            Some((_, _, paths)) => paths.push(display_path(p)),
            None => by_manager.push((m, v, vec![display_path(p)])),
        }
    }
    let parts: Vec<String> = by_manager
        .iter()
        .map(|(m, v, paths)| match paths.as_slice() {
            [one] => format!("conflict with {m:?} using {v}: {one}"),
            many => format!(
                "conflicts with {m:?} using {v}:\n{}",
                many.iter()
                    .map(|p| format!("- {p}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        })
        .collect();
    let n = conflicts.len();
    let message = format!(
        "Apply failed with {n} conflict{}: {}",
        if n == 1 { "" } else { "s" },
        parts.join("\n")
    );
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, v, p)| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with {m:?} using {v}"),
                "field": display_path(p),
            })
        })
        .collect();
    ApiError::new(409, "Conflict", message).with_details(json!({ "causes": causes }))
}

/// A path as kube-apiserver prints it in conflicts: `.spec.template.spec.containers[name="web"].image`.
fn display_path(p: &Path) -> String {
    let mut out = String::new();
    for el in p {
        if let Some(f) = el.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = el.strip_prefix("k:") {
            let keys: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let inner: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", inner.join(",")));
        } else if let Some(v) = el.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        }
    }
    out
}

fn entry_mut<'a>(entries: &'a mut Vec<Entry>, w: &Writer, op: Operation) -> &'a mut Entry {
    let at = entries.iter().position(|e| {
        e.manager == w.manager && e.operation == op && e.subresource == w.subresource
    });
    let i = at.unwrap_or_else(|| {
        entries.push(Entry {
            manager: w.manager.clone(),
            operation: op,
            api_version: w.api_version.clone(),
            time: w.now.clone(),
            subresource: w.subresource.to_string(),
            fields: FieldSet::new(),
        });
        entries.len() - 1
    });
    &mut entries[i]
}

/// The entries of an object's `metadata.managedFields`; entries without a manager (the
/// `[{}]` that clears them) are dropped.
fn entries_of(obj: &Value) -> Vec<Entry> {
    let Some(items) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let text = |k: &str| {
                item.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let manager = text("manager");
            let op = match item.get("operation").and_then(Value::as_str) {
                Some("Apply") => Operation::Apply,
                Some("Update") => Operation::Update,
                _ => return None,
            };
            let mut fields = FieldSet::new();
            if let Some(f) = item.get("fieldsV1") {
                decode(f, &mut Vec::new(), &mut fields);
            }
            Some(Entry {
                manager,
                operation: op,
                api_version: text("apiVersion"),
                time: text("time"),
                subresource: text("subresource"),
                fields,
            })
        })
        .collect()
}

fn write_entries(obj: &mut Value, entries: Vec<Entry>) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let items: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut item = json!({
                "manager": e.manager,
                "operation": match e.operation { Operation::Apply => "Apply", Operation::Update => "Update" },
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": encode(&e.fields),
            });
            if !e.subresource.is_empty() {
                item["subresource"] = json!(e.subresource);
            }
            item
        })
        .collect();
    if items.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(items));
    }
}

/// `FieldsV1` from a field set: nested objects, `{}` for a field, `".": {}` marking a list
/// item that is itself a member.
fn encode(fields: &FieldSet) -> Value {
    let mut root = Map::new();
    for p in fields {
        let mut node = &mut root;
        for el in p {
            node = node
                .entry(el.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("field sets hold objects");
        }
        if p.last().is_some_and(|l| !l.starts_with("f:")) {
            node.insert(".".into(), json!({}));
        }
    }
    Value::Object(root)
}

fn decode(v: &Value, path: &mut Path, out: &mut FieldSet) {
    let Some(map) = v.as_object() else { return };
    if map.is_empty() && !path.is_empty() {
        out.insert(path.clone());
        return;
    }
    for (k, child) in map {
        if k == "." {
            out.insert(path.clone());
            continue;
        }
        path.push(k.clone());
        decode(child, path, out);
        path.pop();
    }
}

/// The parts of an object whose fields are tracked: for a status write only `status`,
/// otherwise everything but `status`, `apiVersion`, `kind` and the identity and bookkeeping
/// of `metadata` (its labels, annotations, finalizers and owner references are tracked).
fn tracked(obj: &Value, status: bool) -> Value {
    let mut out = Map::new();
    let Some(map) = obj.as_object() else {
        return Value::Object(out);
    };
    for (k, v) in map {
        match k.as_str() {
            "status" if status => {
                out.insert(k.clone(), v.clone());
            }
            _ if status => {}
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                let kept: Map<String, Value> = v
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(mk, _)| {
                        matches!(
                            mk.as_str(),
                            "labels" | "annotations" | "finalizers" | "ownerReferences"
                        )
                    })
                    .map(|(mk, mv)| (mk.clone(), mv.clone()))
                    .collect();
                if !kept.is_empty() {
                    out.insert(k.clone(), Value::Object(kept));
                }
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Every field set in `obj` (an applied configuration or a new object).
fn fields_of(obj: &Value, status: bool) -> FieldSet {
    let mut out = FieldSet::new();
    collect(&tracked(obj, status), &mut Vec::new(), "", "", &mut out);
    out
}

/// The item element of a list item, when the list is merged by key or is a set.
fn item_element(item: &Value, field: &str, parent: &str) -> Option<String> {
    match list_strategy(field, parent) {
        ListStrategy::ByKey(key) => item
            .get(key)
            .filter(|k| !k.is_null())
            .map(|k| format!("k:{}", json!({ key: k }))),
        ListStrategy::Union if !item.is_object() && !item.is_array() => Some(format!("v:{item}")),
        _ => None,
    }
}

fn collect(v: &Value, path: &mut Path, field: &str, parent: &str, out: &mut FieldSet) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                path.push(format!("f:{k}"));
                collect(child, path, k, field, out);
                path.pop();
            }
        }
        Value::Array(items)
            if !items.is_empty()
                && items
                    .iter()
                    .all(|i| item_element(i, field, parent).is_some()) =>
        {
            for item in items {
                path.push(item_element(item, field, parent).expect("checked above"));
                out.insert(path.clone());
                if let Some(map) = item.as_object() {
                    for (k, child) in map {
                        path.push(format!("f:{k}"));
                        collect(child, path, k, field, out);
                        path.pop();
                    }
                }
                path.pop();
            }
        }
        Value::Null => {}
        _ if !path.is_empty() => {
            out.insert(path.clone());
        }
        _ => {}
    }
}

/// The fields `new` sets or changes against `old`, and the fields it no longer has.
fn diff_objects(old: &Value, new: &Value, status: bool) -> (FieldSet, FieldSet) {
    let (mut changed, mut removed) = (FieldSet::new(), FieldSet::new());
    diff(
        &tracked(old, status),
        &tracked(new, status),
        &mut Vec::new(),
        ("", ""),
        (&mut changed, &mut removed),
    );
    (changed, removed)
}

fn diff(
    old: &Value,
    new: &Value,
    path: &mut Path,
    (field, parent): (&str, &str),
    out: (&mut FieldSet, &mut FieldSet),
) {
    let (changed, removed) = out;
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(o), Value::Object(n)) if !n.is_empty() || path.is_empty() => {
            diff_maps(o, n, path, field, (changed, removed));
        }
        (Value::Array(o), Value::Array(n))
            if o.iter()
                .chain(n)
                .all(|i| item_element(i, field, parent).is_some()) =>
        {
            let key = |i: &Value| item_element(i, field, parent).expect("checked above");
            for item in n {
                let el = key(item);
                path.push(el.clone());
                match o.iter().find(|x| key(x) == el) {
                    None => {
                        changed.insert(path.clone());
                        collect_item(item, path, field, changed);
                    }
                    Some(was) if was != item => match (was.as_object(), item.as_object()) {
                        (Some(wm), Some(im)) => diff_maps(wm, im, path, field, (changed, removed)),
                        _ => {
                            changed.insert(path.clone());
                        }
                    },
                    Some(_) => {}
                }
                path.pop();
            }
            for item in o.iter().filter(|x| !n.iter().any(|i| key(i) == key(x))) {
                path.push(key(item));
                removed.insert(path.clone());
                path.pop();
            }
        }
        (_, Value::Null) => {
            removed.insert(path.clone());
        }
        _ => {
            removed.insert(path.clone());
            changed.insert(path.clone());
        }
    }
}

fn diff_maps(
    o: &Map<String, Value>,
    n: &Map<String, Value>,
    path: &mut Path,
    field: &str,
    (changed, removed): (&mut FieldSet, &mut FieldSet),
) {
    for (k, nv) in n {
        path.push(format!("f:{k}"));
        match o.get(k) {
            None => collect(nv, path, k, field, changed),
            Some(ov) => diff(ov, nv, path, (k, field), (&mut *changed, &mut *removed)),
        }
        path.pop();
    }
    for k in o.keys().filter(|k| !n.contains_key(*k)) {
        path.push(format!("f:{k}"));
        removed.insert(path.clone());
        path.pop();
    }
}

fn collect_item(item: &Value, path: &mut Path, list: &str, out: &mut FieldSet) {
    if let Some(map) = item.as_object() {
        for (k, child) in map {
            path.push(format!("f:{k}"));
            collect(child, path, k, list, out);
            path.pop();
        }
    }
}

/// The list item an element names.
fn find_item(items: &[Value], el: &str) -> Option<usize> {
    if let Some(k) = el.strip_prefix("k:") {
        let keys: Map<String, Value> = serde_json::from_str(k).ok()?;
        return items
            .iter()
            .position(|i| keys.iter().all(|(k, v)| i.get(k) == Some(v)));
    }
    let v: Value = serde_json::from_str(el.strip_prefix("v:")?).ok()?;
    items.iter().position(|i| *i == v)
}

/// The value at a path, if the object has it.
fn value_at<'a>(obj: &'a Value, p: &Path) -> Option<&'a Value> {
    let mut v = obj;
    for el in p {
        v = match el.strip_prefix("f:") {
            Some(f) => v.get(f)?,
            None => {
                let items = v.as_array()?;
                &items[find_item(items, el)?]
            }
        };
    }
    Some(v)
}

/// Removes the field or list item at a path, if the object has it.
fn remove_at(obj: &mut Value, p: &Path) {
    let Some((last, parents)) = p.split_last() else {
        return;
    };
    let mut v = obj;
    for el in parents {
        let next = match el.strip_prefix("f:") {
            Some(f) => v.get_mut(f),
            None => match v.as_array_mut() {
                Some(items) => match find_item(items, el) {
                    Some(i) => items.get_mut(i),
                    None => None,
                },
                None => None,
            },
        };
        match next {
            Some(n) => v = n,
            None => return,
        }
    }
    match last.strip_prefix("f:") {
        Some(f) => {
            if let Some(m) = v.as_object_mut() {
                m.remove(f);
            }
        }
        None => {
            if let Some(items) = v.as_array_mut()
                && let Some(i) = find_item(items, last)
            {
                items.remove(i);
            }
        }
    }
}

#[cfg(test)]
#[path = "managed_tests.rs"]
mod tests;
