use axum::http::HeaderValue;
use serde_json::{Value, json};

use super::*;
use crate::resources::RESOURCE_TYPES;

fn fixtures() -> Vec<Value> {
    serde_json::from_str(include_str!("testdata/fixtures.json")).expect("fixtures are JSON")
}

fn round_trip(v: &Value) -> Value {
    let pb = from_json(v).unwrap_or_else(|e| panic!("encoding {}: {e}", v["kind"]));
    to_json(&pb).unwrap_or_else(|e| panic!("decoding {}: {}", v["kind"], e.message))
}

#[test]
fn every_served_kind_and_list_has_a_message() {
    let s = schema::schema();
    for rt in RESOURCE_TYPES {
        let v = rt.api_version();
        assert!(s.kind(&v, rt.kind).is_some(), "{v} {}", rt.kind);
        if !rt.list_kind.is_empty() {
            assert!(s.kind(&v, rt.list_kind).is_some(), "{v} {}", rt.list_kind);
        }
    }
    for (v, k) in [
        ("v1", "Status"),
        ("apps/v1", "DeleteOptions"),
        ("policy/v1", "Eviction"),
        ("autoscaling/v1", "Scale"),
        ("meta.k8s.io/v1", "WatchEvent"),
        ("batch/v1", "Job"),
        ("v1", "ReplicationController"),
    ] {
        assert!(s.kind(v, k).is_some(), "{v} {k}");
    }
    assert!(protobuf_kind("meta.k8s.io/v1", "Table").is_none());
    assert!(protobuf_kind("example.com/v1", "Widget").is_none());
}

#[test]
fn every_served_kind_has_a_fixture() {
    let fixtures = fixtures();
    for rt in RESOURCE_TYPES {
        let v = rt.api_version();
        assert!(
            fixtures
                .iter()
                .any(|f| f["apiVersion"] == v.as_str() && f["kind"] == rt.kind),
            "add a {v} {} to testdata/fixtures.json (and its group to the generator's MODULES if it is new)",
            rt.kind
        );
    }
}

#[test]
fn fixtures_and_their_lists_round_trip() {
    let mut failed = Vec::new();
    for f in fixtures() {
        let back = round_trip(&f);
        if back != f {
            failed.push(format!(
                "{} {}:\n  {back}\n  {f}",
                f["apiVersion"], f["kind"]
            ));
            continue;
        }
        let (v, k) = (
            f["apiVersion"].as_str().unwrap(),
            f["kind"].as_str().unwrap(),
        );
        let list_kind = format!("{k}List");
        if f.get("metadata").is_none() || schema::schema().kind(v, &list_kind).is_none() {
            continue;
        }
        let mut item = f.clone();
        let obj = item.as_object_mut().unwrap();
        obj.remove("kind");
        obj.remove("apiVersion");
        let list = json!({
            "apiVersion": v, "kind": list_kind,
            "metadata": {"resourceVersion": "7", "continue": "abc", "remainingItemCount": 0},
            "items": [item.clone(), item],
        });
        assert_eq!(round_trip(&list), list, "{v} {list_kind}");
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// `ConfigMap{metadata: {name: c, namespace: default}, data: {a: b}}` as kubectl's Go encoder
/// writes it (checked against the body `kubectl create configmap c --from-literal=a=b` sends).
/// From the `.proto` tags, a key byte being `number << 3 | wire type`:
/// runtime.Unknown: typeMeta=1 (0a), raw=2 (12), contentEncoding=3 (1a), contentType=4 (22);
/// TypeMeta: apiVersion=1 (0a), kind=2 (12); ConfigMap: metadata=1 (0a), data=2 (12, map
/// entries {key=1 (0a), value=2 (12)}); ObjectMeta: name=1 (0a), generateName=2 (12),
/// namespace=3 (1a), selfLink=4 (22), uid=5 (2a), resourceVersion=6 (32), generation=7 (38,
/// varint), creationTimestamp=8 (42, an empty Time): Go writes every non-pointer field even
/// when empty, and leaves out the nil pointers (deletionTimestamp, ...) and empty maps/lists.
const CONFIGMAP: &[u8] = &[
    b'k', b'8', b's', 0, // magic
    0x0a, 0x0f, // Unknown.typeMeta, 15 bytes
    0x0a, 0x02, b'v', b'1', // apiVersion "v1"
    0x12, 0x09, b'C', b'o', b'n', b'f', b'i', b'g', b'M', b'a', b'p', // kind "ConfigMap"
    0x12, 0x22, // Unknown.raw, 34 bytes
    0x0a, 0x18, // ConfigMap.metadata, 24 bytes
    0x0a, 0x01, b'c', // name "c"
    0x12, 0x00, // generateName ""
    0x1a, 0x07, b'd', b'e', b'f', b'a', b'u', b'l', b't', // namespace "default"
    0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, // selfLink, uid, resourceVersion ""
    0x38, 0x00, // generation 0
    0x42, 0x00, // creationTimestamp: the zero time
    0x12, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b', // data {"a": "b"}
    0x1a, 0x00, 0x22, 0x00, // contentEncoding "", contentType ""
];

#[test]
fn configmap_bytes_are_the_ones_go_writes() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "b"}});
    assert_eq!(from_json(&cm).unwrap(), CONFIGMAP);
    // Decoding drops the zeros Go wrote for unset fields, as Go's JSON encoder omits them;
    // the zero time is null, as in Go's JSON.
    assert_eq!(
        to_json(CONFIGMAP).unwrap(),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"},
               "metadata": {"name": "c", "namespace": "default", "creationTimestamp": null}})
    );
}

/// `kubectl drain --grace-period=0`'s DeleteOptions: every field is a Go pointer, so only the
/// set ones are written: gracePeriodSeconds=1 (08, varint 0) and propagationPolicy=4 (22).
#[test]
fn delete_options_keep_an_explicit_zero() {
    let raw = [&[0x08, 0x00, 0x22, 0x0a][..], b"Foreground"].concat();
    let type_meta = [&[0x0a, 0x02][..], b"v1", &[0x12, 0x0d], b"DeleteOptions"].concat();
    let mut body = MAGIC.to_vec();
    put_bytes(&mut body, 1, &type_meta);
    put_bytes(&mut body, 2, &raw);
    body.extend_from_slice(&[0x1a, 0x00, 0x22, 0x00]);
    let json = json!({"apiVersion": "v1", "kind": "DeleteOptions",
                      "gracePeriodSeconds": 0, "propagationPolicy": "Foreground"});
    assert_eq!(to_json(&body).unwrap(), json);
    assert_eq!(from_json(&json).unwrap(), body);
}

/// Special forms, from their tags: Time {seconds=1, nanos=2}, IntOrString {type=1, intVal=2,
/// strVal=3}, Quantity {string=1}, Duration {duration=1}.
#[test]
fn special_forms_are_written_as_go_writes_them() {
    use schema::Special;
    let t = special::encode(Special::Time, &json!("1970-01-01T00:01:40Z")).unwrap();
    assert_eq!(t, [0x08, 100, 0x10, 0]);
    let t = special::encode(Special::MicroTime, &json!("1970-01-01T00:00:01.000002Z")).unwrap();
    assert_eq!(t, [0x08, 1, 0x10, 0xd0, 0x0f]);
    assert_eq!(
        special::encode(Special::IntOrString, &json!(8080)).unwrap(),
        [0x08, 0, 0x10, 0x90, 0x3f, 0x1a, 0]
    );
    assert_eq!(
        special::encode(Special::IntOrString, &json!("http")).unwrap(),
        [&[0x08, 1, 0x10, 0, 0x1a, 4][..], b"http"].concat()
    );
    assert_eq!(
        special::encode(Special::Quantity, &json!("500m")).unwrap(),
        [0x0a, 4, b'5', b'0', b'0', b'm']
    );
    assert_eq!(
        special::encode(Special::Duration, &json!("1s")).unwrap(),
        [0x08, 0x80, 0x94, 0xeb, 0xdc, 0x03]
    );
    assert_eq!(
        special::decode(Special::Time, &[]).unwrap(),
        Some(Value::Null)
    );
}

#[test]
fn go_durations() {
    for (nanos, text) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (1_500_000, "1.5ms"),
        (1_000_000_000, "1s"),
        (60_500_000_000, "1m0.5s"),
        (3_600_000_000_000, "1h0m0s"),
        (5_430_000_000_000, "1h30m30s"),
        (-2_000_000_000, "-2s"),
    ] {
        assert_eq!(special::go_duration(nanos), text);
        assert_eq!(special::parse_go_duration(text), Ok(nanos), "{text}");
    }
    assert_eq!(special::parse_go_duration("1h30m"), Ok(5_400_000_000_000));
    assert_eq!(special::parse_go_duration(".5s"), Ok(500_000_000));
    assert_eq!(special::parse_go_duration("300us"), Ok(300_000));
    assert!(special::parse_go_duration("5").is_err());
    assert!(special::parse_go_duration("5x").is_err());
    assert!(special::parse_go_duration("").is_err());
}

#[test]
fn packed_repeated_scalars_and_unknown_fields_decode() {
    // PodPortForwardOptions {ports=1 repeated int32}: once unpacked (08 50, 08 51), once packed
    // (0a 02 52 53), and an unknown field 9 (4a 01 78) that is skipped.
    let raw = [0x08, 80, 0x08, 81, 0x0a, 0x02, 82, 83, 0x4a, 0x01, b'x'];
    let type_meta = [
        &[0x0a, 0x02][..],
        b"v1",
        &[0x12, 0x15],
        b"PodPortForwardOptions",
    ]
    .concat();
    let mut body = MAGIC.to_vec();
    put_bytes(&mut body, 1, &type_meta);
    put_bytes(&mut body, 2, &raw);
    assert_eq!(
        to_json(&body).unwrap(),
        json!({"apiVersion": "v1", "kind": "PodPortForwardOptions", "ports": [80, 81, 82, 83]})
    );
}

fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut type_meta = Vec::new();
    put_bytes(&mut type_meta, 1, api_version.as_bytes());
    put_bytes(&mut type_meta, 2, kind.as_bytes());
    let mut body = MAGIC.to_vec();
    put_bytes(&mut body, 1, &type_meta);
    put_bytes(&mut body, 2, raw);
    body
}

#[test]
fn malformed_bodies_are_400_with_the_problem() {
    let err = |body: &[u8]| {
        let e = to_json(body).unwrap_err();
        assert_eq!((e.code, e.reason), (400, "BadRequest"), "{}", e.message);
        e.message
    };
    assert!(err(b"{}").contains("expected prefix"));
    assert!(err(&envelope("v1", "Pod", &[0x0a, 0x85])).contains("truncated varint"));
    // ObjectMeta.name (field 1) sent as a varint.
    let m = err(&envelope("v1", "Pod", &[0x0a, 0x02, 0x08, 0x01]));
    assert!(
        m.contains("wrong wire type 0 (varint), expected 2 (length-delimited) in field 1 (name) of meta.v1.ObjectMeta in field 1 (metadata) of core.v1.Pod"),
        "{m}"
    );
    assert!(err(&envelope("v1", "Pod", &[0x0a, 0x7f, 0x0a])).contains("needs 127 bytes"));
    assert!(err(&envelope("v1", "Pod", &[0x0b])).contains("unsupported wire type 3"));
    let m = err(&envelope("example.com/v1", "Widget", &[]));
    assert!(m.contains("no kind \"Widget\" is registered"), "{m}");
}

#[test]
fn damaged_bodies_never_panic() {
    for f in fixtures() {
        let pb = from_json(&f).unwrap();
        for cut in 0..pb.len() {
            let _ = to_json(&pb[..cut]);
        }
        for i in 4..pb.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut damaged = pb.clone();
                damaged[i] ^= flip;
                let _ = to_json(&damaged);
            }
        }
    }
}

#[test]
fn responses_follow_the_first_acceptable_type() {
    let accepted = |accept: &str| {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        Encoding::accepted(&h)
    };
    use Encoding::{Json, Protobuf};
    assert_eq!(Encoding::accepted(&HeaderMap::new()), Json);
    assert_eq!(
        accepted("application/vnd.kubernetes.protobuf, */*"),
        Protobuf
    );
    assert_eq!(
        accepted("application/vnd.kubernetes.protobuf;stream=watch"),
        Protobuf
    );
    assert_eq!(
        accepted("application/json, application/vnd.kubernetes.protobuf"),
        Json
    );
    assert_eq!(
        accepted("application/json;q=0.5, application/vnd.kubernetes.protobuf"),
        Protobuf
    );
    assert_eq!(
        accepted(
            "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json"
        ),
        Json
    );
    assert_eq!(
        accepted(
            "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io, application/json"
        ),
        Protobuf
    );
    assert_eq!(accepted("text/html, application/json"), Json);
}

#[test]
fn watch_frames_wrap_a_document_in_a_watch_event() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "b"}});
    let frame = watch_frame("ADDED", &cm).unwrap();
    // 4-byte big-endian length, WatchEvent {type=1 (0a) "ADDED", object=2 (12) RawExtension
    // {raw=1 (0a) the document}}.
    let doc_len = CONFIGMAP.len();
    let mut expected = vec![0x0a, 5];
    expected.extend_from_slice(b"ADDED");
    expected.extend_from_slice(&[0x12, doc_len as u8 + 2, 0x0a, doc_len as u8]);
    expected.extend_from_slice(CONFIGMAP);
    assert_eq!(&frame[..4], (expected.len() as u32).to_be_bytes());
    assert_eq!(&frame[4..], expected);
}
