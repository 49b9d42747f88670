//! Postmortems and runbook documents in Markdown with YAML front matter, as teams already
//! write them, read into knowledge-base entries:
//!
//! ```markdown
//! ---
//! title: Checkout ran out of memory after the 2.3 release
//! kind: postmortem            # or runbook; postmortem when absent
//! date: 2026-03-14            # when it happened; the import time when absent
//! services: [checkout]        # workload names it is about
//! namespaces: [shop]
//! categories: [resource/memory-leak]
//! alerts: [KubePodCrashLooping]
//! actions: [rollback]     # catalogue actions that fixed it (or that the runbook does)
//! outcome: resolved           # resolved, unresolved or escalated; documented when absent
//! ---
//! What happened, why, and what we changed.
//! ```
//!
//! Every key is checked: an unknown key, a category or action outside the catalogue, a date
//! that is not one, is an error naming the file, the key and its line in the file.

use chrono::{DateTime, NaiveDate, Utc};

use super::{ActionTaken, Entry, EntrySource, Outcome, Signature};
use crate::catalogue::{ActionName, Category};
use crate::policy::PolicyError;
use crate::policy::read::Reader;
use crate::policy::tree::{self, KeyPath, Node};

/// Keys the front matter may hold.
const KEYS: &[&str] = &[
    "title",
    "kind",
    "date",
    "services",
    "namespaces",
    "categories",
    "alerts",
    "actions",
    "outcome",
];

/// A document that could not be read into an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(file, key, *line, message))]
pub struct DocumentError {
    /// The file.
    pub file: String,
    /// The front matter key at fault (`categories[1]`); empty for the document as a whole.
    pub key: String,
    /// Line in the file, from 1, when known.
    pub line: Option<u64>,
    /// What is wrong.
    pub message: String,
}

fn render(file: &str, key: &str, line: Option<u64>, message: &str) -> String {
    let mut out = format!("{file}: ");
    if !key.is_empty() {
        out.push_str(key);
        out.push_str(": ");
    }
    out.push_str(message);
    if let Some(line) = line {
        out.push_str(&format!(" at line {line}"));
    }
    out
}

impl From<PolicyError> for DocumentError {
    fn from(e: PolicyError) -> DocumentError {
        match e {
            PolicyError::Invalid {
                origin,
                key,
                line,
                message,
                ..
            } => DocumentError {
                file: origin,
                key,
                line,
                message,
            },
            PolicyError::Read { path, source } => DocumentError {
                file: path.display().to_string(),
                key: String::new(),
                line: None,
                message: source.to_string(),
            },
        }
    }
}

/// Reads one document. `file` names it in errors and in the entry; `stem` makes its id
/// (`doc/<stem>`); `imported_at` stands for its date when it gives none. The body is
/// redacted before it goes into the entry.
pub fn parse_document(
    file: &str,
    stem: &str,
    text: &str,
    imported_at: DateTime<Utc>,
) -> Result<Entry, DocumentError> {
    let whole = |message: &str| DocumentError {
        file: file.to_string(),
        key: String::new(),
        line: Some(1),
        message: message.to_string(),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    if lines.next().map(str::trim_end) != Some("---") {
        return Err(whole(
            "no front matter: the file must begin with a line `---`, then YAML, then `---`",
        ));
    }
    let mut front = String::from("\n");
    let mut body = String::new();
    let mut closed = false;
    for line in lines {
        if closed {
            body.push_str(line);
        } else if line.trim_end() == "---" {
            closed = true;
        } else {
            front.push_str(line);
        }
    }
    if !closed {
        return Err(whole(
            "the front matter is not closed: no line `---` after it",
        ));
    }
    let reader = Reader { origin: file };
    // The leading newline stands for the opening `---`, so lines count as in the file.
    let root = tree::parse(&front).map_err(|e| reader.yaml(&e))?;
    let root_path = KeyPath::root();
    let mut doc = Front::default();
    for (key, node, path) in reader.entries(&root, &root_path, KEYS)? {
        match key {
            "title" => doc.title = Some(reader.string(node, &path, "a title")?.to_string()),
            "kind" => {
                doc.source = match reader.string(node, &path, "a kind")? {
                    "postmortem" => EntrySource::Postmortem,
                    "runbook" => EntrySource::Runbook,
                    other => {
                        return Err(reader
                            .invalid(
                                &path,
                                node.at,
                                format!("unknown kind {other:?}; expected postmortem or runbook"),
                            )
                            .into());
                    }
                }
            }
            "date" => doc.date = Some(date(&reader, node, &path)?),
            "outcome" => {
                doc.outcome = match reader.string(node, &path, "an outcome")? {
                    "resolved" => Outcome::Resolved,
                    "unresolved" => Outcome::Unresolved,
                    "escalated" => Outcome::Escalated,
                    other => {
                        return Err(reader
                            .invalid(
                                &path,
                                node.at,
                                format!(
                                    "unknown outcome {other:?}; expected resolved, unresolved \
                                     or escalated"
                                ),
                            )
                            .into());
                    }
                }
            }
            "services" => doc.services = strings(&reader, node, &path, "a service name")?,
            "namespaces" => doc.namespaces = strings(&reader, node, &path, "a namespace")?,
            "alerts" => doc.alerts = strings(&reader, node, &path, "an alert name")?,
            "categories" => {
                for (item, p) in reader.list(node, &path)? {
                    let s = reader.string(item, &p, "a category")?;
                    doc.categories.push(
                        s.parse::<Category>()
                            .map_err(|m| reader.invalid(&p, item.at, m))?,
                    );
                }
            }
            "actions" => {
                for (item, p) in reader.list(node, &path)? {
                    let s = reader.string(item, &p, "an action")?;
                    doc.actions.push(
                        s.parse::<ActionName>()
                            .map_err(|m| reader.invalid(&p, item.at, m))?,
                    );
                }
            }
            _ => unreachable!("entries() allows only KEYS"),
        }
    }
    let body = body.trim();
    let title = doc
        .title
        .or_else(|| {
            body.lines()
                .find_map(|l| l.strip_prefix("# "))
                .map(|t| t.trim().to_string())
        })
        .unwrap_or_else(|| stem.to_string());
    let fixed = match doc.outcome {
        Outcome::Resolved => Some(true),
        Outcome::Unresolved => Some(false),
        _ => None,
    };
    let mut summary = crate::redact::redact(body);
    if doc.categories.len() > 1 {
        // The signature holds one category; the others stay searchable.
        let more: Vec<&str> = doc.categories[1..].iter().map(Category::as_str).collect();
        summary.push_str(&format!("\n\ncategories: {}", more.join(", ")));
    }
    let mut alerts = doc.alerts;
    alerts.sort();
    alerts.dedup();
    Ok(Entry {
        id: format!("doc/{stem}"),
        source: doc.source,
        title: crate::redact::redact(&title),
        summary,
        signature: Signature {
            alerts,
            category: doc.categories.first().copied(),
            namespace: doc.namespaces.first().cloned(),
            name: doc.services.first().cloned(),
            ..Signature::default()
        },
        actions: doc
            .actions
            .into_iter()
            .map(|action| ActionTaken {
                action,
                target: None,
                fixed,
            })
            .collect(),
        outcome: doc.outcome,
        occurred_at: doc.date.unwrap_or(imported_at),
        mitigated_after_s: None,
        approved_by: Vec::new(),
        services: doc.services,
        notes: Vec::new(),
        file: Some(file.to_string()),
    })
}

/// The front matter as read.
struct Front {
    title: Option<String>,
    source: EntrySource,
    date: Option<DateTime<Utc>>,
    outcome: Outcome,
    services: Vec<String>,
    namespaces: Vec<String>,
    alerts: Vec<String>,
    categories: Vec<Category>,
    actions: Vec<ActionName>,
}

impl Default for Front {
    fn default() -> Self {
        Front {
            title: None,
            source: EntrySource::Postmortem,
            date: None,
            outcome: Outcome::Documented,
            services: Vec::new(),
            namespaces: Vec::new(),
            alerts: Vec::new(),
            categories: Vec::new(),
            actions: Vec::new(),
        }
    }
}

fn strings(
    reader: &Reader<'_>,
    node: &Node,
    path: &KeyPath,
    what: &str,
) -> Result<Vec<String>, DocumentError> {
    let mut out = Vec::new();
    for (item, p) in reader.list(node, path)? {
        out.push(reader.string(item, &p, what)?.to_string());
    }
    Ok(out)
}

/// `2026-03-14` or an RFC 3339 time.
fn date(reader: &Reader<'_>, node: &Node, path: &KeyPath) -> Result<DateTime<Utc>, DocumentError> {
    let s = reader.string(node, path, "a date (2026-03-14)")?;
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            reader
                .invalid(
                    path,
                    node.at,
                    format!("{s:?} is not a date; expected 2026-03-14 or an RFC 3339 time"),
                )
                .into()
        })
}
