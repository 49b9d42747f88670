//! The policy file as a YAML tree whose every key and value knows its line and column, so
//! that the reader can check each key itself and name the place of every mistake.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// A line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    pub line: u64,
    pub column: u64,
}

impl Position {
    pub(crate) fn from_location(location: &Location) -> Option<Position> {
        (location.line() > 0).then(|| Position {
            line: location.line(),
            column: location.column(),
        })
    }
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// A path to a value in the document, written like `freeze[0].days` or
/// `criticality.labels["tier=critical"]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// The document itself.
    pub(crate) fn root() -> KeyPath {
        KeyPath::default()
    }

    /// The value of `key` in the mapping at this path.
    pub(crate) fn key(&self, key: &str) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_string()));
        KeyPath(segments)
    }

    /// Item `index` of the list at this path.
    pub(crate) fn index(&self, index: usize) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        KeyPath(segments)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(f, "[{index}]")?,
                // Label keys contain dots and slashes; quote them so the path stays readable.
                Segment::Key(key)
                    if key.is_empty()
                        || !key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
                {
                    write!(f, "[{key:?}]")?
                }
                Segment::Key(key) if i == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
            }
        }
        Ok(())
    }
}

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i128),
    /// A number with a fraction or exponent.
    Float(f64),
    /// Any other scalar.
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A mapping, in document order; repeated keys are kept so the reader can refuse them.
    Map(Vec<(Key, Node)>),
}

impl Value {
    /// What the value is, in plain words, for messages such as "expected a number, found a
    /// list".
    pub(crate) fn describe(&self) -> String {
        match self {
            Value::Null => "nothing (null)".to_string(),
            Value::Bool(b) => format!("`{b}`"),
            Value::Int(i) => format!("the number {i}"),
            Value::Float(x) => format!("the number {x}"),
            Value::Str(s) => format!("{s:?}"),
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a mapping".to_string(),
        }
    }
}

/// A key of a mapping and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    pub text: String,
    pub at: Option<Position>,
}

/// A value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub at: Option<Position>,
}

/// Reads `text` into a tree. Fails with serde-saphyr's error when the text is not YAML.
pub(crate) fn parse(text: &str) -> Result<Node, serde_saphyr::Error> {
    // YAML 1.2 core schema: `no`, `on` or `007` (a namespace may be called that) stay text.
    // A policy nests five levels at most; the budget keeps hostile files (deep nesting that
    // would exhaust a stack, anchors that expand into millions of values) from costing more
    // than a policy ever needs.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 16;
    budget.flow_nesting_limit = 16;
    budget.max_aliases = 1_000;
    budget.max_recorded_anchor_events = 10_000;
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        budget: Some(budget),
    };
    let tree: Option<Spanned<RawNode>> = serde_saphyr::from_str_with_options(text, options)?;
    Ok(match tree {
        Some(tree) => tree.into(),
        None => Node {
            value: Value::Null,
            at: None,
        },
    })
}

/// The shape serde fills; turned into [`Node`] right away.
struct RawNode(RawValue);

enum RawValue {
    Scalar(Value),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<KeyText>, Spanned<RawNode>)>),
}

impl From<Spanned<RawNode>> for Node {
    fn from(raw: Spanned<RawNode>) -> Node {
        let at = Position::from_location(&raw.referenced);
        let value = match raw.value.0 {
            RawValue::Scalar(value) => value,
            RawValue::Seq(items) => Value::Seq(items.into_iter().map(Node::from).collect()),
            RawValue::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|(key, value)| {
                        (
                            Key {
                                at: Position::from_location(&key.referenced),
                                text: key.value.0,
                            },
                            Node::from(value),
                        )
                    })
                    .collect(),
            ),
        };
        Node { value, at }
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawNode, E> {
        Ok(scalar(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawNode, E> {
        Ok(scalar(Value::Int(i128::from(v))))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawNode, E> {
        Ok(scalar(Value::Int(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNode, E> {
        Ok(scalar(Value::Int(i128::from(v))))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawNode, E> {
        Ok(scalar(
            i128::try_from(v).map_or(Value::Float(v as f64), Value::Int),
        ))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawNode, E> {
        Ok(scalar(Value::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNode, E> {
        Ok(scalar(Value::Str(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<RawNode, E> {
        Ok(scalar(Value::Str(v)))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RawNode, E> {
        Ok(scalar(Value::Str(String::from_utf8_lossy(v).into_owned())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(scalar(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(scalar(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawNode, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RawNode(RawValue::Seq(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(RawNode(RawValue::Map(entries)))
    }
}

fn scalar(value: Value) -> RawNode {
    RawNode(RawValue::Scalar(value))
}

/// A mapping key: any scalar, read as the text it is written with.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = KeyText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key that is a single value, not a list or mapping")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<KeyText, E> {
        Ok(KeyText(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
        Ok(KeyText(String::new()))
    }

    fn visit_none<E: de::Error>(self) -> Result<KeyText, E> {
        Ok(KeyText(String::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(text: &str) -> Value {
        match parse(text).unwrap().value {
            Value::Map(mut entries) => entries.remove(0).1.value,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn scalars_keep_their_type() {
        assert_eq!(value_of("a: 0.7"), Value::Float(0.7));
        assert_eq!(value_of("a: 3"), Value::Int(3));
        assert_eq!(value_of("a: true"), Value::Bool(true));
        assert_eq!(value_of("a: ~"), Value::Null);
        assert_eq!(value_of("a:"), Value::Null);
        assert_eq!(value_of("a: 15m"), Value::Str("15m".into()));
        assert_eq!(value_of("a: 16:00"), Value::Str("16:00".into()));
        assert_eq!(
            value_of("a: 2026-11-27T00:00:00Z"),
            Value::Str("2026-11-27T00:00:00Z".into())
        );
        assert_eq!(value_of("a: \"1\""), Value::Str("1".into()));
        assert_eq!(value_of("a: n"), Value::Str("n".into()));
        assert_eq!(value_of("a: no"), Value::Str("no".into()));
        assert_eq!(value_of("a: off"), Value::Str("off".into()));
        assert_eq!(value_of("a: 007"), Value::Str("007".into()));
        assert_eq!(value_of("a: False"), Value::Bool(false));
    }

    #[test]
    fn positions_and_paths() {
        let tree = parse("mode: auto\nnamespaces:\n  shop: {mode: autp}\n").unwrap();
        let Value::Map(entries) = &tree.value else {
            panic!()
        };
        assert_eq!(entries[1].0.at, Some(Position { line: 2, column: 1 }));
        let Value::Map(inner) = &entries[1].1.value else {
            panic!()
        };
        let Value::Map(shop) = &inner[0].1.value else {
            panic!()
        };
        assert_eq!(
            shop[0].1.at,
            Some(Position {
                line: 3,
                column: 16
            })
        );
        let path = KeyPath::root()
            .key("criticality")
            .key("labels")
            .key("tier=critical");
        assert_eq!(path.to_string(), "criticality.labels[\"tier=critical\"]");
        assert_eq!(
            KeyPath::root()
                .key("freeze")
                .index(0)
                .key("days")
                .to_string(),
            "freeze[0].days"
        );
    }

    #[test]
    fn keys_are_read_as_written() {
        let tree = parse("no: 1\n007: 2\n").unwrap();
        let Value::Map(entries) = tree.value else {
            panic!()
        };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.text.as_str()).collect();
        assert_eq!(keys, ["no", "007"]);
    }

    #[test]
    fn empty_text_is_null() {
        assert_eq!(parse("").unwrap().value, Value::Null);
        assert_eq!(parse("# only a comment\n").unwrap().value, Value::Null);
    }
}
