//! Protobuf to JSON, following the schema table.
//!
//! Go writes every non-pointer field, so a zero scalar on the wire usually means "unset": it
//! is dropped unless the table marks the field as keeping zeros, which gives the JSON Go's
//! encoder would write for the same object. Empty messages stay as `{}` (Go writes non-pointer
//! structs in JSON too). Unknown fields are skipped.

use serde_json::{Map, Number, Value};

use super::schema::{Field, Label, Scalar, Schema, Type};
use super::special;
use super::wire::{Reader, Wire};

/// Decodes the fields of message `id` into `out`.
pub fn message(
    s: &Schema,
    id: usize,
    buf: &[u8],
    out: &mut Map<String, Value>,
) -> Result<(), String> {
    let msg = &s.messages[id];
    let mut r = Reader::new(buf);
    while let Some((tag, wire)) = r.field().map_err(|e| format!("{e} in {}", msg.name))? {
        let Some(f) = msg.field(tag) else { continue };
        field(s, f, wire, out)
            .map_err(|e| format!("{e} in field {tag} ({}) of {}", f.json, msg.name))?;
    }
    Ok(())
}

fn field(s: &Schema, f: &Field, wire: Wire, out: &mut Map<String, Value>) -> Result<(), String> {
    match f.label {
        Label::Single if f.inline() => {
            let (Type::Message(id), Wire::Bytes(b)) = (f.ty, wire) else {
                return Err(wrong_wire(f.ty, wire));
            };
            message(s, id, b, out)
        }
        Label::Single => {
            match value(s, f.ty, wire)? {
                Some(v) if f.keeps_zero || !is_zero_scalar(f.ty, &v) => {
                    out.insert(f.json.to_string(), v);
                }
                _ => {
                    out.remove(f.json);
                }
            }
            Ok(())
        }
        Label::Repeated => {
            let items = out
                .entry(f.json)
                .or_insert_with(|| Value::Array(Vec::new()));
            if !items.is_array() {
                *items = Value::Array(Vec::new());
            }
            let Value::Array(items) = items else {
                return Ok(());
            };
            match (f.ty, wire) {
                (Type::Scalar(sc), Wire::Bytes(packed)) if packable(sc) => {
                    let mut r = Reader::new(packed);
                    while !r.done() {
                        let w = match sc {
                            Scalar::Double => fixed64(&mut r)?,
                            Scalar::Float => fixed32(&mut r)?,
                            _ => Wire::Varint(r.varint()?),
                        };
                        items.extend(value(s, f.ty, w)?);
                    }
                }
                _ => items.extend(value(s, f.ty, wire)?),
            }
            Ok(())
        }
        Label::Map => {
            let Wire::Bytes(entry) = wire else {
                return Err(wrong_wire(f.ty, wire));
            };
            let (mut key, mut val) = (String::new(), None);
            let mut r = Reader::new(entry);
            while let Some((tag, w)) = r.field()? {
                match tag {
                    1 => match w {
                        Wire::Bytes(b) => key = utf8(b)?.to_string(),
                        _ => return Err(wrong_wire(Type::Scalar(Scalar::String), w)),
                    },
                    2 => val = value(s, f.ty, w)?,
                    _ => {}
                }
            }
            let val = match val {
                Some(v) => v,
                None => value(s, f.ty, zero_wire(f.ty))?.unwrap_or(Value::Null),
            };
            let map = out
                .entry(f.json)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = map {
                map.insert(key, val);
            }
            Ok(())
        }
    }
}

/// The JSON of one value; `None` when Go's JSON has nothing for it.
fn value(s: &Schema, ty: Type, wire: Wire) -> Result<Option<Value>, String> {
    Ok(Some(match (ty, wire) {
        (Type::Scalar(sc), Wire::Varint(v)) => match sc {
            Scalar::Bool => Value::Bool(v != 0),
            Scalar::Int32 => Value::from(v as i64 as i32),
            Scalar::Int64 => Value::from(v as i64),
            Scalar::Uint32 => Value::from(v as u32),
            Scalar::Uint64 => Value::from(v),
            _ => return Err(wrong_wire(ty, wire)),
        },
        (Type::Scalar(Scalar::String), Wire::Bytes(b)) => Value::String(utf8(b)?.to_string()),
        (Type::Scalar(Scalar::Bytes), Wire::Bytes(b)) => Value::String(special::base64_encode(b)),
        (Type::Scalar(Scalar::Double), Wire::Fixed64(v)) => float(f64::from_bits(v))?,
        (Type::Scalar(Scalar::Float), Wire::Fixed32(v)) => float(f64::from(f32::from_bits(v)))?,
        (Type::Message(id), Wire::Bytes(b)) => {
            let mut obj = Map::new();
            message(s, id, b, &mut obj)?;
            Value::Object(obj)
        }
        (Type::Special(sp), Wire::Bytes(b)) => return special::decode(sp, b),
        _ => return Err(wrong_wire(ty, wire)),
    }))
}

fn float(f: f64) -> Result<Value, String> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("{f} has no JSON form"))
}

fn packable(sc: Scalar) -> bool {
    !matches!(sc, Scalar::String | Scalar::Bytes)
}

fn fixed64<'a>(r: &mut Reader<'a>) -> Result<Wire<'a>, String> {
    let mut b = [0u8; 8];
    for byte in &mut b {
        *byte = take_byte(r)?;
    }
    Ok(Wire::Fixed64(u64::from_le_bytes(b)))
}

fn fixed32<'a>(r: &mut Reader<'a>) -> Result<Wire<'a>, String> {
    let mut b = [0u8; 4];
    for byte in &mut b {
        *byte = take_byte(r)?;
    }
    Ok(Wire::Fixed32(u32::from_le_bytes(b)))
}

fn take_byte(r: &mut Reader) -> Result<u8, String> {
    // A one-byte varint read would misread bytes >= 0x80, so read fixed bytes as raw values.
    r.raw_byte()
        .ok_or_else(|| "truncated packed fixed-width value".to_string())
}

/// The wire value of a map entry's missing value: the type's zero.
fn zero_wire(ty: Type) -> Wire<'static> {
    match ty {
        Type::Scalar(Scalar::Double) => Wire::Fixed64(0),
        Type::Scalar(Scalar::Float) => Wire::Fixed32(0),
        Type::Scalar(Scalar::String | Scalar::Bytes) | Type::Message(_) | Type::Special(_) => {
            Wire::Bytes(&[])
        }
        Type::Scalar(_) => Wire::Varint(0),
    }
}

fn is_zero_scalar(ty: Type, v: &Value) -> bool {
    matches!(ty, Type::Scalar(_))
        && match v {
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::String(s) => s.is_empty(),
            _ => false,
        }
}

fn utf8(b: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(b).map_err(|_| "a string is not valid UTF-8".to_string())
}

fn wrong_wire(ty: Type, wire: Wire) -> String {
    let expected = match ty {
        Type::Scalar(Scalar::Double) => "1 (64-bit)",
        Type::Scalar(Scalar::Float) => "5 (32-bit)",
        Type::Scalar(Scalar::String | Scalar::Bytes) | Type::Message(_) | Type::Special(_) => {
            "2 (length-delimited)"
        }
        Type::Scalar(_) => "0 (varint)",
    };
    format!("wrong wire type {}, expected {expected}", wire.describe())
}
