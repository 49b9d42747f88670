//! The table of Kubernetes protobuf messages the codec follows, read once from `schema.txt`
//! (generated from Kubernetes' own `.proto` definitions by
//! `scripts/gen_k8s_protobuf_schema.py`; its header says how).

use std::collections::HashMap;
use std::sync::OnceLock;

const TEXT: &str = include_str!("schema.txt");

/// A protobuf scalar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Double,
    Float,
}

/// A message whose JSON form is not an object of its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `meta.v1.Time`: an RFC 3339 string with second precision.
    Time,
    /// `meta.v1.MicroTime`: an RFC 3339 string with microseconds.
    MicroTime,
    /// `meta.v1.Duration`: a Go duration string.
    Duration,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `runtime.RawExtension`: the embedded JSON.
    RawExtension,
    /// `meta.v1.FieldsV1`: the embedded JSON object.
    FieldsV1,
    /// `meta.v1.Verbs`: an array of strings.
    Verbs,
}

impl Special {
    fn of(message: &str) -> Option<Self> {
        Some(match message {
            "meta.v1.Time" => Special::Time,
            "meta.v1.MicroTime" => Special::MicroTime,
            "meta.v1.Duration" => Special::Duration,
            "resource.Quantity" => Special::Quantity,
            "intstr.IntOrString" => Special::IntOrString,
            "runtime.RawExtension" => Special::RawExtension,
            "meta.v1.FieldsV1" => Special::FieldsV1,
            "meta.v1.Verbs" => Special::Verbs,
            _ => return None,
        })
    }
}

/// The type of a field (of each element, for repeated fields and map values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Scalar(Scalar),
    /// Index into [`Schema::messages`].
    Message(usize),
    Special(Special),
}

/// Singular, repeated, or a map with string keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Single,
    Repeated,
    Map,
}

/// One field of a message.
#[derive(Debug)]
pub struct Field {
    /// The JSON name; `~` for a Go struct embedded inline.
    pub json: &'static str,
    /// The field number.
    pub tag: u32,
    pub ty: Type,
    pub label: Label,
    /// Whether a decoded zero value stays in the JSON (see the generator).
    pub keeps_zero: bool,
    /// Whether Go writes the (singular) field only when set: a pointer. Go writes the other
    /// singular fields even when they are zero.
    pub pointer: bool,
}

impl Field {
    /// Whether the field's JSON keys are the parent's own.
    pub fn inline(&self) -> bool {
        self.json == "~"
    }
}

/// One message: its name and fields in field-number order.
#[derive(Debug)]
pub struct Message {
    pub name: &'static str,
    pub fields: Vec<Field>,
}

impl Message {
    /// The field with a number.
    pub fn field(&self, tag: u32) -> Option<&Field> {
        self.fields
            .binary_search_by_key(&tag, |f| f.tag)
            .ok()
            .map(|i| &self.fields[i])
    }
}

/// Every message of the table.
#[derive(Debug)]
pub struct Schema {
    pub messages: Vec<Message>,
    /// Lowercase message name to index.
    by_name: HashMap<String, usize>,
    /// apiVersion to package (`apps/v1` to `apps.v1`).
    packages: HashMap<&'static str, &'static str>,
}

/// The package of `meta.k8s.io/v1`, whose kinds (Status, DeleteOptions, WatchEvent...) every
/// API version also carries.
const META: &str = "meta.v1";

impl Schema {
    fn parse(text: &'static str) -> Self {
        let mut packages = HashMap::new();
        let mut lines = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let mut tokens = line.split(' ');
            let head = tokens.next().unwrap_or_default();
            if head == "@" {
                let version = tokens.next().expect("schema: `@` line without apiVersion");
                let package = tokens.next().expect("schema: `@` line without package");
                packages.insert(version, package);
            } else {
                lines.push((head, tokens.collect::<Vec<_>>()));
            }
        }
        let by_name: HashMap<String, usize> = lines
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.to_ascii_lowercase(), i))
            .collect();
        let messages = lines
            .iter()
            .map(|(name, tokens)| Message {
                name,
                fields: tokens.iter().map(|t| parse_field(t, &by_name)).collect(),
            })
            .collect();
        Schema {
            messages,
            by_name,
            packages,
        }
    }

    /// The message of a kind in an API version, or of a `meta.k8s.io/v1` kind every version
    /// carries; `None` for kinds without a protobuf form (Table, custom resources).
    pub fn kind(&self, api_version: &str, kind: &str) -> Option<usize> {
        let kind = kind.to_ascii_lowercase();
        let package = self.packages.get(api_version).copied().unwrap_or(META);
        self.by_name
            .get(&format!("{package}.{kind}"))
            .or_else(|| self.by_name.get(&format!("{META}.{kind}")))
            .copied()
    }

    /// Whether an apiVersion names a package of the table.
    pub fn knows_version(&self, api_version: &str) -> bool {
        self.packages.contains_key(api_version)
    }
}

fn parse_field(token: &'static str, by_name: &HashMap<String, usize>) -> Field {
    let bad = || format!("schema: malformed field {token:?}");
    let (json, rest) = token.split_once('=').expect("schema: field without `=`");
    let (tag, ty) = rest.split_once(':').expect("schema: field without `:`");
    let (ty, pointer) = match ty.strip_suffix('?') {
        Some(t) => (t, true),
        None => (ty, false),
    };
    let (ty, keeps_zero) = match ty.strip_suffix('!') {
        Some(t) => (t, true),
        None => (ty, false),
    };
    let (ty, label) = if let Some(t) = ty.strip_prefix("[]") {
        (t, Label::Repeated)
    } else if let Some(t) = ty.strip_prefix("map[").and_then(|t| t.strip_suffix(']')) {
        (t, Label::Map)
    } else {
        (ty, Label::Single)
    };
    let ty = match ty {
        "string" => Type::Scalar(Scalar::String),
        "bytes" => Type::Scalar(Scalar::Bytes),
        "bool" => Type::Scalar(Scalar::Bool),
        "int32" => Type::Scalar(Scalar::Int32),
        "int64" => Type::Scalar(Scalar::Int64),
        "uint32" => Type::Scalar(Scalar::Uint32),
        "uint64" => Type::Scalar(Scalar::Uint64),
        "double" => Type::Scalar(Scalar::Double),
        "float" => Type::Scalar(Scalar::Float),
        message => match Special::of(message) {
            Some(s) => Type::Special(s),
            None => Type::Message(
                *by_name
                    .get(&message.to_ascii_lowercase())
                    .unwrap_or_else(|| panic!("schema: unknown message {message}")),
            ),
        },
    };
    Field {
        json,
        tag: tag.parse().unwrap_or_else(|_| panic!("{}", bad())),
        ty,
        label,
        keeps_zero,
        pointer,
    }
}

/// The table, parsed on first use.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::parse(TEXT))
}
