//! JSON to protobuf, following the schema table.
//!
//! Fields are written in field-number order and map entries in key order, as Go writes them.
//! A field is written when the JSON has it (not null), so explicit zeros and `false` survive.
//! A singular field the JSON lacks is written as its zero value unless it is a Go pointer, as
//! Go's encoder does, so the bytes are the ones kube-apiserver would send. JSON keys the
//! message has no field for are left out.

use serde_json::{Map, Value};

use super::schema::{Field, Label, Scalar, Schema, Type};
use super::special::{self, kind_of};
use super::wire::{put_bytes, put_key, put_varint};

/// Encodes the JSON object `obj` as message `id`, appending to `out`.
pub fn message(
    s: &Schema,
    id: usize,
    obj: &Map<String, Value>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let msg = &s.messages[id];
    for f in &msg.fields {
        field(s, f, obj, out)
            .map_err(|e| format!("{e} in field {} ({}) of {}", f.tag, f.json, msg.name))?;
    }
    Ok(())
}

fn field(s: &Schema, f: &Field, obj: &Map<String, Value>, out: &mut Vec<u8>) -> Result<(), String> {
    if f.inline() {
        // An embedded Go struct is never nil: Go writes it even when empty.
        let Type::Message(id) = f.ty else {
            return Err("an inline field must be a message".into());
        };
        let mut inner = Vec::new();
        message(s, id, obj, &mut inner)?;
        put_bytes(out, f.tag, &inner);
        return Ok(());
    }
    let Some(v) = obj.get(f.json).filter(|v| !v.is_null()) else {
        if f.label == Label::Single && !f.pointer {
            zero(s, f.tag, f.ty, out)?;
        }
        return Ok(());
    };
    match f.label {
        Label::Single => one(s, f.tag, f.ty, v, out),
        Label::Repeated => {
            let items = v
                .as_array()
                .ok_or_else(|| format!("expected an array, got {}", kind_of(v)))?;
            for item in items.iter().filter(|i| !i.is_null()) {
                one(s, f.tag, f.ty, item, out)?;
            }
            Ok(())
        }
        Label::Map => {
            let map = v
                .as_object()
                .ok_or_else(|| format!("expected an object, got {}", kind_of(v)))?;
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut entry = Vec::new();
            for key in keys {
                entry.clear();
                put_bytes(&mut entry, 1, key.as_bytes());
                let value = &map[key];
                if !value.is_null() {
                    one(s, 2, f.ty, value, &mut entry)
                        .map_err(|e| format!("{e} at key {key:?}"))?;
                }
                put_bytes(out, f.tag, &entry);
            }
            Ok(())
        }
    }
}

/// Writes one value of type `ty` as field `tag`.
fn one(s: &Schema, tag: u32, ty: Type, v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    let expected = |what: &str| format!("expected {what}, got {}", kind_of(v));
    match ty {
        Type::Scalar(sc) => match sc {
            Scalar::String => {
                let text = v.as_str().ok_or_else(|| expected("a string"))?;
                put_bytes(out, tag, text.as_bytes());
            }
            Scalar::Bytes => {
                let text = v.as_str().ok_or_else(|| expected("a base64 string"))?;
                put_bytes(out, tag, &special::base64_decode(text)?);
            }
            Scalar::Bool => {
                let b = v.as_bool().ok_or_else(|| expected("a boolean"))?;
                put_key(out, tag, 0);
                put_varint(out, u64::from(b));
            }
            Scalar::Int32 | Scalar::Int64 | Scalar::Uint32 | Scalar::Uint64 => {
                let n = integer(v, sc)?;
                put_key(out, tag, 0);
                put_varint(out, n);
            }
            Scalar::Double => {
                let f = v.as_f64().ok_or_else(|| expected("a number"))?;
                put_key(out, tag, 1);
                out.extend_from_slice(&f.to_le_bytes());
            }
            Scalar::Float => {
                let f = v.as_f64().ok_or_else(|| expected("a number"))? as f32;
                put_key(out, tag, 5);
                out.extend_from_slice(&f.to_le_bytes());
            }
        },
        Type::Message(id) => {
            let obj = v.as_object().ok_or_else(|| expected("an object"))?;
            let mut inner = Vec::new();
            message(s, id, obj, &mut inner)?;
            put_bytes(out, tag, &inner);
        }
        Type::Special(sp) => put_bytes(out, tag, &special::encode(sp, v)?),
    }
    Ok(())
}

/// Writes the zero value of a type, as Go writes an unset non-pointer field.
fn zero(s: &Schema, tag: u32, ty: Type, out: &mut Vec<u8>) -> Result<(), String> {
    match ty {
        Type::Scalar(Scalar::String | Scalar::Bytes) => put_bytes(out, tag, b""),
        Type::Scalar(Scalar::Double) => {
            put_key(out, tag, 1);
            out.extend_from_slice(&0f64.to_le_bytes());
        }
        Type::Scalar(Scalar::Float) => {
            put_key(out, tag, 5);
            out.extend_from_slice(&0f32.to_le_bytes());
        }
        Type::Scalar(_) => {
            put_key(out, tag, 0);
            put_varint(out, 0);
        }
        Type::Message(id) => {
            let mut inner = Vec::new();
            message(s, id, &Map::new(), &mut inner)?;
            put_bytes(out, tag, &inner);
        }
        Type::Special(sp) => {
            if let Some(bytes) = special::zero(sp) {
                put_bytes(out, tag, &bytes);
            }
        }
    }
    Ok(())
}

/// An integer as its varint payload (negative numbers sign-extended to 64 bits, as Go does).
fn integer(v: &Value, sc: Scalar) -> Result<u64, String> {
    let n = v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    });
    let fits = |n: i64| match sc {
        Scalar::Int32 => i32::try_from(n).is_ok(),
        Scalar::Uint32 => u32::try_from(n).is_ok(),
        Scalar::Uint64 => n >= 0,
        _ => true,
    };
    match (n, v.as_u64()) {
        (Some(n), _) if fits(n) => Ok(n as u64),
        (None, Some(u)) if sc == Scalar::Uint64 => Ok(u),
        _ => Err(format!("{v} is not a valid {sc:?}")),
    }
}
