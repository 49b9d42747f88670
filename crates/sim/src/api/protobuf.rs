//! The few Kubernetes protobuf request bodies the simulated server understands.
//!
//! kubectl 1.32's typed clients send protobuf (`application/vnd.kubernetes.protobuf`) for
//! built-in types, with no fallback to JSON. `kubectl drain` posts `Eviction`s and deletes with
//! `DeleteOptions` that way, and `kubectl auth can-i` its self reviews, so those are decoded
//! here into the JSON the handlers take.
//! Other kinds (the objects `kubectl create deployment` and friends build) are answered with
//! a 415 that says to send JSON instead.

use serde_json::{Map, Value, json};

use super::status::ApiError;

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The 4-byte prefix of every Kubernetes protobuf document.
const MAGIC: &[u8] = b"k8s\0";

/// Decodes a protobuf body into the equivalent JSON object.
pub fn to_json(body: &[u8]) -> Result<Value, ApiError> {
    let unknown = body.strip_prefix(MAGIC).ok_or_else(|| {
        ApiError::bad_request(
            "the protobuf body does not start with the Kubernetes magic bytes \"k8s\\0\"",
        )
    })?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for field in Fields::new(unknown) {
        match field? {
            (1, Wire::Bytes(type_meta)) => {
                for f in Fields::new(type_meta) {
                    match f? {
                        (1, Wire::Bytes(v)) => api_version = text(v)?,
                        (2, Wire::Bytes(k)) => kind = text(k)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    let mut obj = match kind.as_str() {
        "Eviction" => eviction(raw)?,
        "DeleteOptions" => delete_options(raw)?,
        "SelfSubjectAccessReview" => access_review(raw)?,
        "SelfSubjectRulesReview" => rules_review(raw)?,
        _ => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the simulated API server decodes protobuf only for Eviction, DeleteOptions and self reviews, not {kind} ({api_version}); send the object as application/json (with kubectl: write a manifest and use kubectl apply -f or kubectl create -f)"
                ),
            ));
        }
    };
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

fn eviction(raw: &[u8]) -> Result<Value, ApiError> {
    let mut obj = json!({});
    for field in Fields::new(raw) {
        match field? {
            (1, Wire::Bytes(m)) => obj["metadata"] = object_meta(m)?,
            (2, Wire::Bytes(d)) => obj["deleteOptions"] = delete_options(d)?,
            _ => {}
        }
    }
    Ok(obj)
}

fn object_meta(raw: &[u8]) -> Result<Value, ApiError> {
    let mut meta = Map::new();
    for field in Fields::new(raw) {
        match field? {
            (n @ (1 | 2 | 3 | 5 | 6), Wire::Bytes(v)) => {
                let key = match n {
                    1 => "name",
                    2 => "generateName",
                    3 => "namespace",
                    5 => "uid",
                    _ => "resourceVersion",
                };
                meta.insert(key.into(), json!(text(v)?));
            }
            (n @ (11 | 12), Wire::Bytes(entry)) => {
                let key = if n == 11 { "labels" } else { "annotations" };
                let (mut k, mut v) = (String::new(), String::new());
                for f in Fields::new(entry) {
                    match f? {
                        (1, Wire::Bytes(b)) => k = text(b)?,
                        (2, Wire::Bytes(b)) => v = text(b)?,
                        _ => {}
                    }
                }
                let map = meta.entry(key).or_insert_with(|| json!({}));
                map[k] = json!(v);
            }
            _ => {}
        }
    }
    Ok(Value::Object(meta))
}

fn delete_options(raw: &[u8]) -> Result<Value, ApiError> {
    let mut opts = json!({});
    for field in Fields::new(raw) {
        match field? {
            (1, Wire::Varint(g)) => opts["gracePeriodSeconds"] = json!(g as i64),
            (2, Wire::Bytes(p)) => {
                let mut pre = json!({});
                for f in Fields::new(p) {
                    match f? {
                        (1, Wire::Bytes(u)) => pre["uid"] = json!(text(u)?),
                        (2, Wire::Bytes(rv)) => pre["resourceVersion"] = json!(text(rv)?),
                        _ => {}
                    }
                }
                opts["preconditions"] = pre;
            }
            (3, Wire::Varint(o)) => opts["orphanDependents"] = json!(o != 0),
            (4, Wire::Bytes(p)) => opts["propagationPolicy"] = json!(text(p)?),
            (5, Wire::Bytes(d)) => {
                let list = opts
                    .as_object_mut()
                    .expect("object")
                    .entry("dryRun")
                    .or_insert_with(|| json!([]));
                if let Some(l) = list.as_array_mut() {
                    l.push(json!(text(d)?));
                }
            }
            _ => {}
        }
    }
    Ok(opts)
}

/// The string fields of a message, by field number, under their JSON names.
fn strings(raw: &[u8], names: &[(u32, &str)]) -> Result<Value, ApiError> {
    let mut obj = json!({});
    for field in Fields::new(raw) {
        if let (n, Wire::Bytes(v)) = field?
            && let Some((_, name)) = names.iter().find(|(k, _)| *k == n)
        {
            obj[*name] = json!(text(v)?);
        }
    }
    Ok(obj)
}

fn access_review(raw: &[u8]) -> Result<Value, ApiError> {
    let mut spec = json!({});
    for field in Fields::new(raw) {
        if let (2, Wire::Bytes(s)) = field? {
            for f in Fields::new(s) {
                match f? {
                    (1, Wire::Bytes(r)) => {
                        spec["resourceAttributes"] = strings(
                            r,
                            &[
                                (1, "namespace"),
                                (2, "verb"),
                                (3, "group"),
                                (4, "version"),
                                (5, "resource"),
                                (6, "subresource"),
                                (7, "name"),
                            ],
                        )?;
                    }
                    (2, Wire::Bytes(n)) => {
                        spec["nonResourceAttributes"] = strings(n, &[(1, "path"), (2, "verb")])?;
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(json!({"metadata": {}, "spec": spec}))
}

fn rules_review(raw: &[u8]) -> Result<Value, ApiError> {
    let mut spec = json!({});
    for field in Fields::new(raw) {
        if let (2, Wire::Bytes(s)) = field? {
            spec = strings(s, &[(1, "namespace")])?;
        }
    }
    Ok(json!({"metadata": {}, "spec": spec}))
}

fn text(bytes: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        ApiError::bad_request("a string field of the protobuf body is not valid UTF-8")
    })
}

/// A field value on the wire.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// Iterates over the fields of a protobuf message.
struct Fields<'a> {
    buf: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf, failed: false }
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for (i, b) in self.buf.iter().enumerate().take(10) {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.buf = &self.buf[i + 1..];
                return Some(value);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }

    fn field(&mut self) -> Option<(u32, Wire<'a>)> {
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                Wire::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed
            }
            _ => return None,
        };
        Some(((key >> 3) as u32, wire))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Wire<'a>), ApiError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() || self.failed {
            return None;
        }
        match self.field() {
            Some(f) => Some(Ok(f)),
            None => {
                self.failed = true;
                Some(Err(ApiError::bad_request(
                    "the protobuf body is truncated or malformed",
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_field(n: u8, data: &[u8]) -> Vec<u8> {
        let mut out = vec![(n << 3) | 2, data.len() as u8];
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn decodes_an_eviction() {
        let meta = [bytes_field(1, b"web-1"), bytes_field(3, b"default")].concat();
        let opts = [vec![1 << 3, 5], bytes_field(5, b"All")].concat();
        let raw = [bytes_field(1, &meta), bytes_field(2, &opts)].concat();
        let type_meta = [bytes_field(1, b"policy/v1"), bytes_field(2, b"Eviction")].concat();
        let body = [
            MAGIC.to_vec(),
            bytes_field(1, &type_meta),
            bytes_field(2, &raw),
        ]
        .concat();
        assert_eq!(
            to_json(&body).unwrap(),
            json!({
                "metadata": {"name": "web-1", "namespace": "default"},
                "deleteOptions": {"gracePeriodSeconds": 5, "dryRun": ["All"]},
                "apiVersion": "policy/v1",
                "kind": "Eviction",
            })
        );
    }

    #[test]
    fn other_kinds_are_unsupported() {
        let type_meta = [bytes_field(1, b"apps/v1"), bytes_field(2, b"Deployment")].concat();
        let body = [MAGIC.to_vec(), bytes_field(1, &type_meta)].concat();
        assert_eq!(to_json(&body).unwrap_err().code, 415);
        assert_eq!(to_json(b"{}").unwrap_err().code, 400);
        assert_eq!(
            to_json(&[MAGIC, &[0x0a, 0x10][..]].concat())
                .unwrap_err()
                .code,
            400
        );
    }
}
