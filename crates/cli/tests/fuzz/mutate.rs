//! Structure-aware mutation: valid documents read into a small tree, changed where a careless
//! or hostile author would change them, and written back as YAML or JSON; then damage done to
//! the text itself, and raw bytes.

use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// A document as the mutator sees it: scalars keep the text they are written with, mappings
/// may repeat keys, and YAML anchors and aliases can be placed anywhere.
#[derive(Debug, Clone)]
pub enum Node {
    /// A scalar: `quoted` ones are strings, the others are written verbatim (numbers,
    /// booleans, null, and whatever text a mutation puts there, such as `.nan` or `!!int x`).
    Scalar { text: String, quoted: bool },
    /// A list.
    Seq(Vec<Node>),
    /// A mapping, in order, keys possibly repeated.
    Map(Vec<(String, Node)>),
    /// `&name` before a node.
    Anchor(String, Box<Node>),
    /// `*name`.
    Alias(String),
    /// A subtree written in flow style (`[..]`, `{..}`) even inside a block document.
    Flow(Box<Node>),
}

impl Node {
    fn string(text: impl Into<String>) -> Node {
        Node::Scalar {
            text: text.into(),
            quoted: true,
        }
    }

    fn raw(text: impl Into<String>) -> Node {
        Node::Scalar {
            text: text.into(),
            quoted: false,
        }
    }

    /// Reads a JSON value (YAML documents are read into one first).
    pub fn from_value(value: &Value) -> Node {
        match value {
            Value::Null => Node::raw("null"),
            Value::Bool(b) => Node::raw(b.to_string()),
            Value::Number(n) => Node::raw(n.to_string()),
            Value::String(s) => Node::string(s.clone()),
            Value::Array(items) => Node::Seq(items.iter().map(Node::from_value).collect()),
            Value::Object(map) => Node::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), Node::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// Every node in document order, as paths of child positions.
    fn paths(&self, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        out.push(prefix.clone());
        let children: usize = match self {
            Node::Seq(items) => items.len(),
            Node::Map(entries) => entries.len(),
            Node::Anchor(_, inner) | Node::Flow(inner) => {
                prefix.push(0);
                inner.paths(prefix, out);
                prefix.pop();
                return;
            }
            _ => 0,
        };
        for i in 0..children {
            prefix.push(i);
            self.child(i).paths(prefix, out);
            prefix.pop();
        }
    }

    fn child(&self, i: usize) -> &Node {
        match self {
            Node::Seq(items) => &items[i],
            Node::Map(entries) => &entries[i].1,
            Node::Anchor(_, inner) | Node::Flow(inner) => inner,
            _ => unreachable!("scalars have no children"),
        }
    }

    fn child_mut(&mut self, i: usize) -> &mut Node {
        match self {
            Node::Seq(items) => &mut items[i],
            Node::Map(entries) => &mut entries[i].1,
            Node::Anchor(_, inner) | Node::Flow(inner) => inner,
            _ => unreachable!("scalars have no children"),
        }
    }

    fn at_mut(&mut self, path: &[usize]) -> &mut Node {
        match path.split_first() {
            None => self,
            Some((i, rest)) => self.child_mut(*i).at_mut(rest),
        }
    }

    fn at(&self, path: &[usize]) -> &Node {
        match path.split_first() {
            None => self,
            Some((i, rest)) => self.child(*i).at(rest),
        }
    }
}

/// Keys the documents under test know, so that inserted keys are often meaningful.
const KEYS: &[&str] = &[
    "name",
    "summary",
    "seed",
    "horizon",
    "cluster",
    "nodes",
    "configs",
    "workloads",
    "kind",
    "namespace",
    "replicas",
    "image",
    "labels",
    "service",
    "resources",
    "requests",
    "limits",
    "cpu",
    "memory",
    "probes",
    "env_from",
    "depends_on",
    "behavior",
    "rps",
    "error_ratio",
    "latency_ms",
    "startup",
    "logs",
    "every",
    "lines",
    "faults",
    "at",
    "type",
    "target",
    "params",
    "expect",
    "detect",
    "diagnosis",
    "locate",
    "actions",
    "acceptable",
    "harmful",
    "resolved",
    "mode",
    "namespaces",
    "min_confidence",
    "approval_timeout",
    "criticality",
    "forbidden",
    "exclude_label",
    "budgets",
    "blast_radius",
    "freeze",
    "start",
    "end",
    "days",
    "from",
    "to",
    "timezone",
    "allow",
    "max_replicas",
    "max_step_factor",
    "risk",
    "listen",
    "store",
    "policy",
    "llm",
    "prometheus",
    "provider",
    "model",
    "url",
    "window",
    "step",
    "timeout",
    "version",
    "status",
    "alerts",
    "startsAt",
    "endsAt",
    "fingerprint",
    "annotations",
    "groupKey",
    "category",
    "root_cause",
    "evidence",
    "confidence",
    "plans",
    "action",
    "revision",
    "container",
    "memory_limit",
    "runbook",
    "rationale",
    "<<",
    "",
];

/// Numbers and number-like text where parsers go wrong.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1",
    "2",
    "255",
    "256",
    "4294967295",
    "4294967296",
    "4e9",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "1e308",
    "1e309",
    "1e999",
    "-1e999",
    "1e-320",
    "5e-324",
    "0.1",
    "-0.5",
    "1.0000000000000002",
    ".nan",
    "NaN",
    ".inf",
    "-.inf",
    "+.inf",
    "Infinity",
    "0x7fffffff",
    "0o777",
    "0b101",
    "1_000_000",
    "007",
    "+1",
    "1.",
    ".5",
    "1e",
    "--1",
    "~",
    "null",
    "true",
    "false",
    "yes",
    "no",
    "on",
    "!!int 5",
    "!!float x",
    "!!str 5",
    "!!binary aGVsbG8=",
    "!!null ''",
    "!custom 3",
];

/// Strings in the grammar of the documents (durations, quantities, references, templates)
/// pushed to their edges.
const STRINGS: &[&str] = &[
    "",
    " ",
    "\t",
    "0s",
    "0ms",
    "1ms",
    "99ms",
    "100ms",
    "1.5ms",
    "0.0001s",
    "5m",
    "168h",
    "169h",
    "1000000h",
    "18446744073709551615ms",
    "99999999999999999999999h",
    "1h1h1h1h1h1h1h1h1h1h",
    "1.1.1s",
    "..s",
    "0",
    "1",
    "100m",
    "0.0001m",
    "1e3",
    "16Ei",
    "99999999999999999999Gi",
    "18446744073709551615",
    "1Ti",
    "-1Gi",
    "256Mi",
    "0.5Ki",
    "1.5",
    "{",
    "}",
    "{{",
    "{int:",
    "{int:1..",
    "{int:-9223372036854775808..9223372036854775807}",
    "{int:9223372036854775807..9223372036854775807}",
    "{float:-1e308..1e308}",
    "{float:0.00000000000000000000000000001..1}",
    "{hex:64}",
    "{hex:65}",
    "{hex:18446744073709551616}",
    "{choice:|}",
    "{choice:a|}",
    "{uuid}{ip}{dep}",
    "{dep}",
    "{ip:}",
    "shop/checkout",
    "shop/",
    "/checkout",
    "node/",
    "node/node-a",
    "node/..",
    "external/",
    "external/:0",
    "external/a:65536",
    "external/a:443",
    "external/[::1]:443",
    "secret/shop/x",
    "secret//",
    "configmap/x",
    "rollback@shop/checkout",
    "rollback@",
    "@@@",
    "drain-node@node/node-a",
    "raise-memory-limit",
    "deploy/bad-release",
    "resource/memory-limit",
    "none",
    "deployment/shop/checkout",
    "pod/shop/checkout-1",
    "E1",
    "firing",
    "resolved",
    "4",
    "2026-11-27T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "+275760-09-13T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "2026-11-27T00:00:00+99:99",
    "24:00",
    "24:01",
    "23:60",
    "-00:00",
    "+14:00",
    "+15:00",
    "UTC",
    "auto",
    "approve",
    "observe",
    "dry-run",
    "high",
    "127.0.0.1:0",
    "[::1]:99999",
    "sqlite://",
    "postgres://u:p@h/d",
    "http://",
    "%00",
    "${HOME}",
    "../../../etc/passwd",
    "a\u{0}b",
    "\u{1b}[31mred",
    "\u{202e}evil",
    "\u{2028}\u{2029}",
    "\u{feff}",
    "İstanbul",
    "ß",
    "ﬃ",
    "ǅ",
    "e\u{301}",
    "👩‍👩‍👧‍👦",
    "\u{10ffff}",
    "Ω≈ç√∫",
    "ｓｈｏｐ",
    "- item",
    "key: value",
    "&anchor",
    "*alias",
    "!tag",
    "|",
    ">",
    "#",
    "'",
    "\"",
    "\\",
    "%YAML 1.1",
    "---",
    "...",
];

/// Random unicode: any scalar value, weighted toward the awkward ones.
fn random_char(rng: &mut ChaCha8Rng) -> char {
    match rng.random_range(0..6) {
        0 => char::from(rng.random_range(0u8..0x20)),
        1 => char::from(rng.random_range(0x20u8..0x7f)),
        2 => rng.random_range('\u{80}'..='\u{7ff}'),
        3 => rng.random_range('\u{800}'..='\u{ffff}'),
        4 => rng.random_range('\u{10000}'..='\u{10ffff}'),
        _ => *[
            '\u{0}', '\u{7f}', '\u{85}', '\u{a0}', '\u{ad}', '\u{200b}', '\u{200d}', '\u{2028}',
            '\u{fffd}', '\u{feff}', 'İ', 'ẞ', '\u{345}',
        ]
        .choose(rng)
        .unwrap_or(&'x'),
    }
}

/// A string to put where a string was.
fn random_string(rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..10) {
        0..=4 => STRINGS.choose(rng).copied().unwrap_or("").to_string(),
        5 => (0..rng.random_range(0..40))
            .map(|_| random_char(rng))
            .collect(),
        6 => {
            // Huge: a long run of one piece, or of random characters.
            let len = if rng.random_ratio(1, 4) {
                rng.random_range(100_000..300_000)
            } else {
                rng.random_range(1_000..20_000)
            };
            if rng.random_bool(0.5) {
                let piece = STRINGS.choose(rng).copied().unwrap_or("a");
                let piece = if piece.is_empty() { "a" } else { piece };
                piece.repeat(len / piece.len().max(1) + 1)
            } else {
                (0..len).map(|_| random_char(rng)).collect()
            }
        }
        7 => {
            // Two known pieces glued together.
            let a = STRINGS.choose(rng).copied().unwrap_or("");
            let b = STRINGS.choose(rng).copied().unwrap_or("");
            format!("{a}{b}")
        }
        8 => NUMBERS.choose(rng).copied().unwrap_or("0").to_string(),
        _ => KEYS.choose(rng).copied().unwrap_or("").to_string(),
    }
}

/// Any small node.
fn random_node(rng: &mut ChaCha8Rng, depth: usize) -> Node {
    match rng.random_range(0..if depth > 2 { 3 } else { 5 }) {
        0 => Node::raw(NUMBERS.choose(rng).copied().unwrap_or("0")),
        1 => Node::string(random_string(rng)),
        2 => {
            if rng.random_bool(0.5) {
                Node::Seq(Vec::new())
            } else {
                Node::Map(Vec::new())
            }
        }
        3 => Node::Seq(
            (0..rng.random_range(1..4))
                .map(|_| random_node(rng, depth + 1))
                .collect(),
        ),
        _ => Node::Map(
            (0..rng.random_range(1..4))
                .map(|_| {
                    (
                        KEYS.choose(rng).copied().unwrap_or("k").to_string(),
                        random_node(rng, depth + 1),
                    )
                })
                .collect(),
        ),
    }
}

/// Applies 1 to 4 structural mutations; `yaml` allows the YAML-only ones (anchors).
pub fn mutate(doc: &mut Node, rng: &mut ChaCha8Rng, yaml: bool) {
    let mut counter = 0usize;
    for _ in 0..rng.random_range(1..=4) {
        mutate_once(doc, rng, yaml, &mut counter);
    }
}

fn mutate_once(doc: &mut Node, rng: &mut ChaCha8Rng, yaml: bool, counter: &mut usize) {
    let mut paths = Vec::new();
    doc.paths(&mut Vec::new(), &mut paths);
    let Some(path) = paths.choose(rng).cloned() else {
        return;
    };
    let choice = rng.random_range(0..if yaml { 14 } else { 11 });
    match choice {
        // Delete a key or an item.
        0 | 1 => {
            if let Some((last, parent)) = path.split_last() {
                match doc.at_mut(parent) {
                    Node::Seq(items) => {
                        items.remove(*last);
                    }
                    Node::Map(entries) => {
                        entries.remove(*last);
                    }
                    _ => {}
                }
            }
        }
        // Duplicate a key or an item, next to itself or at the end.
        2 => {
            if let Some((last, parent)) = path.split_last() {
                let times = if rng.random_ratio(1, 8) {
                    // Many copies of a small item, not of a huge one: inputs stay megabytes.
                    let size = to_json(doc.at(&path)).len().max(1);
                    rng.random_range(2..2_000).min(MAX_INPUT / 4 / size).max(1)
                } else {
                    1
                };
                match doc.at_mut(parent) {
                    Node::Seq(items) => {
                        let item = items[*last].clone();
                        items.extend(std::iter::repeat_n(item, times));
                    }
                    Node::Map(entries) => {
                        let entry = entries[*last].clone();
                        entries.insert(*last + 1, entry);
                    }
                    _ => {}
                }
            }
        }
        // Swap the type.
        3 | 4 => *doc.at_mut(&path) = random_node(rng, 0),
        // A number at its edges.
        5 => *doc.at_mut(&path) = Node::raw(NUMBERS.choose(rng).copied().unwrap_or("0")),
        // A string at its edges.
        6 | 7 => *doc.at_mut(&path) = Node::string(random_string(rng)),
        // A new key, often one the format knows.
        8 => {
            if let Node::Map(entries) = doc.at_mut(&path) {
                let key = if rng.random_bool(0.8) {
                    KEYS.choose(rng).copied().unwrap_or("k").to_string()
                } else {
                    random_string(rng)
                };
                let at = rng.random_range(0..=entries.len());
                entries.insert(at, (key, random_node(rng, 0)));
            } else if let Node::Seq(items) = doc.at_mut(&path) {
                let at = rng.random_range(0..=items.len());
                items.insert(at, random_node(rng, 0));
            }
        }
        // Deep nesting, written as text so that the mutator itself does not recurse.
        9 => {
            let depth = if rng.random_ratio(1, 4) {
                rng.random_range(200..5_000)
            } else {
                rng.random_range(2..60)
            };
            let node = doc.at_mut(&path);
            let mut inner = String::new();
            flow(node, &mut inner, yaml);
            let (mut open, mut close) = (String::new(), String::new());
            for _ in 0..depth {
                if rng.random_bool(0.5) {
                    open.push('[');
                    close.push(']');
                } else {
                    let k = KEYS.choose(rng).copied().unwrap_or("k");
                    open.push('{');
                    quote(if k.is_empty() { "k" } else { k }, &mut open);
                    open.push_str(": ");
                    close.push('}');
                }
            }
            *node = Node::raw(format!("{open}{inner}{close}"));
        }
        // A subtree copied from elsewhere in the document.
        10 => {
            let donor = paths.choose(rng).cloned().unwrap_or_default();
            if !path.starts_with(&donor) {
                let copy = doc.at(&donor).clone();
                *doc.at_mut(&path) = copy;
            }
        }
        // A key renamed.
        11 => {
            if let Some((last, parent)) = path.split_last()
                && let Node::Map(entries) = doc.at_mut(parent)
            {
                let key = &mut entries[*last].0;
                *key = match rng.random_range(0..4) {
                    0 => key.to_uppercase(),
                    1 => format!("{key}\u{200b}"),
                    2 => "<<".to_string(),
                    _ => random_string(rng),
                };
            }
        }
        // An anchor, and an alias to it further on (anything may now stand anywhere); now
        // and then a billion laughs instead, which costs a parser its whole alias budget.
        12 | 13 if !rng.random_ratio(1, 6) => {
            *counter += 1;
            let name = format!("a{counter}");
            let node = doc.at_mut(&path);
            let inner = std::mem::replace(node, Node::raw("null"));
            *node = Node::Anchor(name.clone(), Box::new(inner));
            let later: Vec<&Vec<usize>> = paths
                .iter()
                .filter(|p| *p > &path && !p.starts_with(&path))
                .collect();
            if let Some(target) = later.choose(rng).map(|p| (*p).clone()) {
                *doc.at_mut(&target) = Node::Alias(name);
            } else if let Node::Map(entries) = doc {
                entries.push(("<<".to_string(), Node::Alias(name)));
            }
        }
        // Billion laughs: each level a list of aliases to the level before.
        _ => {
            *counter += 1;
            let levels = rng.random_range(3..12);
            let width = rng.random_range(2..10);
            let tag = format!("l{counter}x");
            let mut list = vec![Node::Anchor(
                format!("{tag}0"),
                Box::new(Node::Seq(vec![Node::string("lol"); width])),
            )];
            for level in 1..levels {
                list.push(Node::Anchor(
                    format!("{tag}{level}"),
                    Box::new(Node::Seq(vec![
                        Node::Alias(format!("{tag}{}", level - 1));
                        width
                    ])),
                ));
            }
            *doc.at_mut(&path) = Node::Flow(Box::new(Node::Seq(list)));
        }
    }
}

/// How a document is written.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    indent: usize,
    crlf: bool,
    flow_everything: bool,
}

impl Style {
    pub fn random(rng: &mut ChaCha8Rng) -> Style {
        Style {
            indent: *[2, 2, 2, 4, 1, 3].choose(rng).unwrap_or(&2),
            crlf: rng.random_ratio(1, 20),
            flow_everything: rng.random_ratio(1, 10),
        }
    }
}

/// YAML: block style, flow where asked.
pub fn to_yaml(doc: &Node, style: Style) -> String {
    let mut out = String::new();
    if style.flow_everything {
        flow(doc, &mut out, true);
        out.push('\n');
    } else {
        block(doc, 0, style, &mut out);
    }
    if style.crlf {
        out = out.replace('\n', "\r\n");
    }
    out
}

/// JSON; anchors and aliases (never produced for JSON targets) are written as YAML would.
pub fn to_json(doc: &Node) -> String {
    let mut out = String::new();
    flow(doc, &mut out, false);
    out
}

fn quote(text: &str, out: &mut String) {
    // JSON string syntax, which YAML's double-quoted style also reads.
    out.push_str(&serde_json::to_string(text).unwrap_or_default());
}

/// A key written plainly when it is a simple word, quoted otherwise.
fn key(text: &str, out: &mut String) {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        || text == "<<";
    if plain {
        out.push_str(text);
    } else {
        quote(text, out);
    }
}

fn scalar(text: &str, quoted: bool, out: &mut String, yaml: bool) {
    if quoted || (!yaml && text.is_empty()) {
        quote(text, out);
    } else {
        out.push_str(text);
    }
}

fn flow(node: &Node, out: &mut String, yaml: bool) {
    match node {
        Node::Scalar { text, quoted } => scalar(text, *quoted, out, yaml),
        Node::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                flow(item, out, yaml);
            }
            out.push(']');
        }
        Node::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if yaml {
                    key(k, out);
                } else {
                    quote(k, out);
                }
                out.push_str(": ");
                flow(v, out, yaml);
            }
            out.push('}');
        }
        Node::Anchor(name, inner) => {
            out.push('&');
            out.push_str(name);
            out.push(' ');
            flow(inner, out, yaml);
        }
        Node::Alias(name) => {
            out.push('*');
            out.push_str(name);
        }
        Node::Flow(inner) => flow(inner, out, yaml),
    }
}

/// Whether a node is written on the line of its key or dash.
fn inline(node: &Node) -> bool {
    match node {
        Node::Scalar { .. } | Node::Alias(_) | Node::Flow(_) => true,
        Node::Seq(items) => items.is_empty(),
        Node::Map(entries) => entries.is_empty(),
        Node::Anchor(_, inner) => inline(inner),
    }
}

fn block(node: &Node, indent: usize, style: Style, out: &mut String) {
    let pad = " ".repeat(indent);
    match node {
        Node::Seq(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                after_indicator(item, indent + style.indent, style, out);
            }
        }
        Node::Map(entries) if !entries.is_empty() => {
            for (k, v) in entries {
                out.push_str(&pad);
                key(k, out);
                out.push(':');
                after_indicator(v, indent + style.indent, style, out);
            }
        }
        Node::Anchor(name, inner) if !inline(inner) => {
            out.push_str(&pad);
            out.push('&');
            out.push_str(name);
            out.push('\n');
            block(inner, indent, style, out);
        }
        other => {
            out.push_str(&pad);
            flow(other, out, true);
            out.push('\n');
        }
    }
}

/// What follows `key:` or `-`: a value on the same line, or a nested block below.
fn after_indicator(node: &Node, indent: usize, style: Style, out: &mut String) {
    match node {
        _ if inline(node) => {
            out.push(' ');
            flow(node, out, true);
            out.push('\n');
        }
        Node::Anchor(name, inner) => {
            out.push_str(" &");
            out.push_str(name);
            out.push('\n');
            block(inner, indent, style, out);
        }
        _ => {
            out.push('\n');
            block(node, indent, style, out);
        }
    }
}

/// Damage done to the text: truncation, flipped, inserted or deleted bytes, lines repeated,
/// dropped or swapped, tabs and NULs, byte order marks and document markers.
pub fn damage(text: &mut Vec<u8>, rng: &mut ChaCha8Rng) {
    for _ in 0..rng.random_range(1..=3) {
        let len = text.len();
        match rng.random_range(0..9) {
            0 if len > 0 => text.truncate(rng.random_range(0..len)),
            1 if len > 0 => {
                for _ in 0..rng.random_range(1..8) {
                    let at = rng.random_range(0..text.len());
                    text[at] ^= 1 << rng.random_range(0..8);
                }
            }
            2 => {
                let at = rng.random_range(0..=len);
                let bytes: Vec<u8> = (0..rng.random_range(1..16))
                    .map(|_| {
                        *b"{}[]:,-?&*!|>'\"%@` #\n\t\\\0"
                            .choose(rng)
                            .unwrap_or(&b' ')
                    })
                    .collect();
                text.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let from = rng.random_range(0..len);
                let to = (from + rng.random_range(1..64)).min(len);
                text.drain(from..to);
            }
            4 | 5 => {
                let mut lines: Vec<Vec<u8>> =
                    text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
                let n = lines.len();
                let i = rng.random_range(0..n);
                match rng.random_range(0..3) {
                    0 => {
                        let line = lines[i].clone();
                        let times = rng.random_range(1..50);
                        for _ in 0..times {
                            lines.insert(i, line.clone());
                        }
                    }
                    1 => {
                        lines.remove(i);
                    }
                    _ => lines.swap(i, rng.random_range(0..n)),
                }
                *text = lines.join(&b'\n');
            }
            6 => {
                let at = rng.random_range(0..=len);
                let piece: &[u8] = [&b"\t"[..], b"\0", b"\r", b"\xef\xbb\xbf", b"\xff\xfe"]
                    .choose(rng)
                    .copied()
                    .unwrap_or(b"\t");
                text.splice(at..at, piece.iter().copied());
            }
            7 => {
                let prefix: &[u8] = [
                    &b"---\n"[..],
                    b"%YAML 1.2\n---\n",
                    b"\xef\xbb\xbf",
                    b"--- !!map\n",
                    b"? ",
                    b"...\n",
                ]
                .choose(rng)
                .copied()
                .unwrap_or(b"---\n");
                text.splice(0..0, prefix.iter().copied());
            }
            _ => {
                let suffix: &[u8] = [&b"\n---\nname: second\n"[..], b"\n...\n", b"\n- x\n"]
                    .choose(rng)
                    .copied()
                    .unwrap_or(b"\n");
                text.extend_from_slice(suffix);
            }
        }
    }
}

/// Bytes with no structure, or with the punctuation of YAML and JSON.
pub fn random_bytes(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let len = if rng.random_ratio(1, 20) {
        rng.random_range(0..65_536)
    } else {
        rng.random_range(0..512)
    };
    match rng.random_range(0..3) {
        0 => (0..len).map(|_| rng.random()).collect(),
        1 => (0..len).map(|_| rng.random_range(0x20..0x7f)).collect(),
        _ => {
            let alphabet = b"{}[]:,-?&*!|>'\"%@` #\n\n  \tabcxyz019.e+~";
            (0..len)
                .map(|_| *alphabet.choose(rng).unwrap_or(&b' '))
                .collect()
        }
    }
}

/// Largest input generated, in bytes: parsers are linear in what they read, so larger inputs
/// would only slow the search down.
pub const MAX_INPUT: usize = 8 << 20;

/// One input from a corpus of documents: mostly a mutated document written back as YAML or
/// JSON, sometimes one damaged as text as well, sometimes raw bytes.
pub fn generate(corpus: &[Node], rng: &mut ChaCha8Rng, yaml: bool) -> Vec<u8> {
    let roll = rng.random_range(0..10);
    if roll == 0 || corpus.is_empty() {
        return random_bytes(rng);
    }
    let mut doc = corpus.choose(rng).cloned().unwrap_or(Node::Map(Vec::new()));
    if roll != 1 {
        mutate(&mut doc, rng, yaml);
    }
    let mut text = if yaml {
        to_yaml(&doc, Style::random(rng))
    } else {
        to_json(&doc)
    }
    .into_bytes();
    if roll >= 8 {
        damage(&mut text, rng);
    }
    text.truncate(MAX_INPUT);
    text
}
