//! Where each key and value of a YAML document sits, so that errors found after
//! deserialization can still name a line.
//!
//! The document is read a second time into a generic tree whose keys and values are
//! [`serde_saphyr::Spanned`]; the tree is flattened into one entry per key or list item.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// A line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
}

impl Position {
    fn from_location(location: &Location) -> Option<Position> {
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

/// A path to a value in the document, written like `faults[0].params.memory`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// The document itself.
    pub fn root() -> KeyPath {
        KeyPath::default()
    }

    /// The value of `key` in the mapping at this path.
    pub fn key(&self, key: &str) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_string()));
        KeyPath(segments)
    }

    /// Item `index` of the list at this path.
    pub fn index(&self, index: usize) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        KeyPath(segments)
    }

    /// The path one step up; the root is its own parent.
    pub fn parent(&self) -> KeyPath {
        let mut segments = self.0.clone();
        segments.pop();
        KeyPath(segments)
    }

    /// The last key, if the path ends in one.
    fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Segment::Key(key)) => Some(key),
            _ => None,
        }
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(f, "[{index}]")?,
                // Keys such as label names may contain dots; quote them so the path stays readable.
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

/// One key of a mapping or one item of a list.
#[derive(Debug)]
struct Entry {
    path: KeyPath,
    /// Where the key is written; `None` for list items and the root.
    key: Option<Position>,
    /// Where the value starts.
    value: Option<Position>,
}

/// Positions of every key and value of a document.
#[derive(Debug, Default)]
pub struct SourceMap {
    entries: Vec<Entry>,
    root_is_mapping: bool,
}

impl SourceMap {
    /// Reads the positions of `text`. Fails with serde-saphyr's error when the text is not YAML.
    ///
    /// Duplicate keys are let through here and both recorded, so that the error the typed
    /// reading raises for them can be placed in the mapping that holds them.
    pub fn parse(text: &str) -> Result<SourceMap, serde_saphyr::Error> {
        let options = serde_saphyr::options! {
            duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
            budget: Some(super::limits::yaml_budget()),
        };
        let tree: Spanned<Node> = serde_saphyr::from_str_with_options(text, options)?;
        let mut map = SourceMap {
            root_is_mapping: matches!(tree.value, Node::Map(_)),
            ..SourceMap::default()
        };
        map.add(KeyPath::root(), None, &tree);
        Ok(map)
    }

    /// Whether the document is a mapping, as a scenario must be.
    pub fn root_is_mapping(&self) -> bool {
        self.root_is_mapping
    }

    fn add(&mut self, path: KeyPath, key: Option<Position>, node: &Spanned<Node>) {
        self.entries.push(Entry {
            path: path.clone(),
            key,
            value: Position::from_location(&node.referenced),
        });
        match &node.value {
            Node::Map(entries) => {
                for (key, value) in entries {
                    self.add(
                        path.key(&key.value),
                        Position::from_location(&key.referenced),
                        value,
                    );
                }
            }
            Node::Seq(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.add(path.index(index), None, item);
                }
            }
            Node::Scalar => {}
        }
    }

    fn entry(&self, path: &KeyPath) -> Option<&Entry> {
        self.entries.iter().find(|e| &e.path == path)
    }

    /// Where the value at `path` starts, or failing that its key, or failing that the
    /// nearest ancestor that is written in the document.
    pub fn value_position(&self, path: &KeyPath) -> Option<Position> {
        let mut path = path.clone();
        loop {
            if let Some(position) = self.entry(&path).and_then(|e| e.value.or(e.key)) {
                return Some(position);
            }
            if path.len() == 0 {
                return None;
            }
            path = path.parent();
        }
    }

    /// Where the key of `path` is written, falling back to [`SourceMap::value_position`].
    pub fn key_position(&self, path: &KeyPath) -> Option<Position> {
        self.entry(path)
            .and_then(|e| e.key)
            .or_else(|| self.value_position(path))
    }

    /// The path an error at `position` is about: the key or value written last at or
    /// before it, preferring the deeper one when a key and its value start at the same place.
    ///
    /// When the error is about the key `key_in_error` itself (an unknown or repeated key),
    /// the mapping holding it is returned instead, so the message reads
    /// `faults[0].params: unknown key ...`.
    pub fn path_at(&self, position: Position, key_in_error: Option<&str>) -> KeyPath {
        let mut best: Option<(Position, &Entry, bool)> = None;
        for entry in &self.entries {
            for (candidate, is_key) in [(entry.key, true), (entry.value, false)] {
                let Some(candidate) = candidate.filter(|c| *c <= position) else {
                    continue;
                };
                let better = match best {
                    None => true,
                    Some((pos, current, _)) => {
                        candidate > pos
                            || (candidate == pos && entry.path.len() > current.path.len())
                    }
                };
                if better {
                    best = Some((candidate, entry, is_key));
                }
            }
        }
        match best {
            Some((pos, entry, true))
                if pos == position
                    && key_in_error.is_some()
                    && entry.path.last_key() == key_in_error =>
            {
                entry.path.parent()
            }
            Some((_, entry, _)) => entry.path.clone(),
            None => KeyPath::root(),
        }
    }
}

/// A YAML node with spans on every key and value; scalars keep no value, only their place.
#[derive(Debug)]
enum Node {
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name: x\nfaults:\n  - at: 3m\n    params:\n      memroy: 1Gi\nlabels: {topology.kubernetes.io/zone: a}\n";

    fn pos(line: u64, column: u64) -> Position {
        Position { line, column }
    }

    #[test]
    fn paths_read_like_the_document() {
        let path = KeyPath::root().key("faults").index(0).key("params");
        assert_eq!(path.to_string(), "faults[0].params");
        assert_eq!(
            KeyPath::root().key("labels").key("a.b/c").to_string(),
            "labels[\"a.b/c\"]"
        );
        assert_eq!(KeyPath::root().to_string(), "");
    }

    #[test]
    fn keys_and_values_have_positions() {
        let map = SourceMap::parse(TEXT).unwrap();
        let memroy = KeyPath::root()
            .key("faults")
            .index(0)
            .key("params")
            .key("memroy");
        assert_eq!(map.key_position(&memroy), Some(pos(5, 7)));
        assert_eq!(map.value_position(&memroy), Some(pos(5, 15)));
        let fault = KeyPath::root().key("faults").index(0);
        assert_eq!(map.value_position(&fault), Some(pos(3, 5)));
        // Not written: the nearest written ancestor.
        assert_eq!(map.value_position(&fault.key("target")), Some(pos(3, 5)));
    }

    #[test]
    fn errors_map_back_to_paths() {
        let map = SourceMap::parse(TEXT).unwrap();
        assert_eq!(
            map.path_at(pos(5, 7), Some("memroy")).to_string(),
            "faults[0].params"
        );
        assert_eq!(
            map.path_at(pos(5, 15), None).to_string(),
            "faults[0].params.memroy"
        );
        assert_eq!(map.path_at(pos(1, 7), None).to_string(), "name");
    }
}
