//! Secrets redaction, applied to every piece of text before it is stored or leaves the process:
//! log lines, events and condition messages, alert labels and annotations, approval reasons,
//! and everything the model analyzer sends.
//!
//! What is masked is listed with the rules in [`rules`](self) and in `docs/redaction.md`:
//! credentials in headers, cookies, URLs, connection strings, command lines and `key=value`
//! pairs whose key names a secret, and the well-known token formats (JWTs, PEM private keys,
//! AWS, Google, Azure, GitHub, Slack, Stripe...). Only the secret is replaced by [`MASK`]: the
//! key name, the scheme and the host stay, so the line still reads.
//!
//! Cost: this runs on every log line. One [`RegexSet`] over all the rules is the pre-filter, so
//! a line with no candidate costs one scan; only the rules that matched it run their own
//! replacement.
//!
//! Operators add patterns of their own ([`add_patterns`], the `redact:` section of the agent's
//! configuration); they join the same set.

mod rules;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::{Arc, LazyLock, RwLock};

use regex::{Captures, Regex, RegexSet};

/// What replaces a secret.
pub const MASK: &str = "[REDACTED]";

/// What replaces a PEM private key block, or one line of it.
pub const PRIVATE_KEY_MASK: &str = "[REDACTED PRIVATE KEY]";

/// A redaction pattern that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("{pattern:?} is not a valid regular expression: {reason}")]
pub struct RedactError {
    /// Position of the pattern in the list it came in.
    pub index: usize,
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it, on one line.
    pub reason: String,
    /// The parser's error.
    #[source]
    pub source: regex::Error,
}

/// How a rule's match becomes its redacted text.
#[derive(Clone, Copy)]
enum Mask {
    /// The whole match is replaced by this text.
    Whole(&'static str),
    /// `$1`-style template.
    Template(&'static str),
    /// Computed from the captures and the whole text (for what follows the match); `None`
    /// leaves the match as it is.
    With(fn(&Captures, &str) -> Option<String>),
    /// An operator's pattern: what its capture groups matched, or the whole match without
    /// groups.
    Groups,
}

struct Rule {
    re: Regex,
    mask: Mask,
}

/// A compiled set of redaction rules: the built-in ones, and the operator's patterns after
/// them.
pub struct Redactor {
    set: RegexSet,
    rules: Vec<Rule>,
    custom: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("rules", &self.rules.len())
            .field("custom", &self.custom)
            .finish()
    }
}

impl Redactor {
    /// The built-in rules only.
    pub fn builtin() -> Self {
        Self::build(Vec::new()).expect("the built-in redaction patterns are valid")
    }

    /// The built-in rules and `patterns` (regular expressions in the `regex` crate's syntax):
    /// a pattern with capture groups has what its groups matched masked, one without has its
    /// whole match masked.
    pub fn with_patterns(patterns: &[String]) -> Result<Self, RedactError> {
        Self::build(patterns.to_vec())
    }

    fn build(custom: Vec<String>) -> Result<Self, RedactError> {
        let mut sources: Vec<String> = Vec::new();
        let mut rules = Vec::new();
        for (pattern, mask) in rules::BUILTIN {
            // An ASCII word boundary: the Unicode one makes the lazy DFA give up on any
            // non-ASCII byte, and every key and token here is ASCII.
            let p = pattern.replace(r"\b", r"(?-u:\b)");
            let re = Regex::new(&p).expect("the built-in redaction patterns are valid");
            sources.push(p);
            rules.push(Rule { re, mask: *mask });
        }
        for (index, pattern) in custom.iter().enumerate() {
            let re = compile(index, pattern)?;
            sources.push(pattern.clone());
            rules.push(Rule {
                re,
                mask: Mask::Groups,
            });
        }
        let set = RegexSet::new(&sources).map_err(|source| RedactError {
            index: 0,
            pattern: String::new(),
            reason: one_line(&source),
            source,
        })?;
        Ok(Redactor { set, rules, custom })
    }

    /// The operator's patterns in this set.
    pub fn patterns(&self) -> &[String] {
        &self.custom
    }

    /// `text` with every secret masked. A multi-line text has whole PEM blocks masked; one
    /// line of a block on its own is masked by the shape of its lines (see [`LineRedactor`]
    /// for the exact treatment of logs read line by line).
    pub fn redact(&self, text: &str) -> String {
        self.redact_cow(text).into_owned()
    }

    fn redact_cow<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let hits = self.set.matches(text);
        if !hits.matched_any() {
            return Cow::Borrowed(text);
        }
        let mut out = Cow::Borrowed(text);
        for i in hits.iter() {
            let rule = &self.rules[i];
            if let Some(changed) = apply(rule, &out) {
                out = Cow::Owned(changed);
            }
        }
        out
    }
}

/// One rule over `text`; `None` when nothing changed.
fn apply(rule: &Rule, text: &str) -> Option<String> {
    let mut out = String::new();
    let mut last = 0;
    let mut changed = false;
    for caps in rule.re.captures_iter(text) {
        let m = caps.get(0).expect("group 0 always matches");
        let replacement = match rule.mask {
            Mask::Whole(s) => Some(s.to_string()),
            Mask::Template(t) => {
                let mut s = String::new();
                caps.expand(t, &mut s);
                Some(s)
            }
            Mask::With(f) => f(&caps, text),
            Mask::Groups => mask_groups(&caps),
        };
        if let Some(r) = replacement
            && r != m.as_str()
        {
            out.push_str(&text[last..m.start()]);
            out.push_str(&r);
            last = m.end();
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// An operator's match: each capture group's text masked (outermost groups first), or the
/// whole match when the pattern has no group. Empty matches are left alone.
fn mask_groups(caps: &Captures) -> Option<String> {
    let whole = caps.get(0)?;
    if whole.as_str().is_empty() {
        return None;
    }
    let mut spans: Vec<(usize, usize)> = caps
        .iter()
        .skip(1)
        .flatten()
        .filter(|m| !m.as_str().is_empty())
        .map(|m| (m.start(), m.end()))
        .collect();
    if caps.len() == 1 {
        return Some(MASK.to_string());
    }
    spans.sort_by_key(|&(s, e)| (s, std::cmp::Reverse(e)));
    let text = whole.as_str();
    let base = whole.start();
    let mut out = String::new();
    let mut at = base;
    for (s, e) in spans {
        if s < at {
            continue; // inside a group already masked
        }
        out.push_str(&text[at - base..s - base]);
        out.push_str(MASK);
        at = e;
    }
    out.push_str(&text[at - base..]);
    Some(out)
}

fn compile(index: usize, pattern: &str) -> Result<Regex, RedactError> {
    Regex::new(pattern).map_err(|source| RedactError {
        index,
        pattern: pattern.to_string(),
        reason: one_line(&source),
        source,
    })
}

/// The parser's message without its drawing of the pattern.
fn one_line(e: &regex::Error) -> String {
    let s = e.to_string();
    s.lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or(s.lines().last().unwrap_or(""))
        .trim()
        .to_string()
}

/// Checks operator patterns without installing them (configuration loading).
pub fn check_patterns(patterns: &[String]) -> Result<(), RedactError> {
    for (index, p) in patterns.iter().enumerate() {
        compile(index, p)?;
    }
    Ok(())
}

static BUILTIN: LazyLock<Arc<Redactor>> = LazyLock::new(|| Arc::new(Redactor::builtin()));

// The process-wide set with the operator's patterns. Redaction is a free function called from
// many crates (the collector, the perceivers, the engine, the model analyzer's prompts and
// tools); threading a redactor value through all of them would change every call site for a
// setting that is written once at start and read on every line. Reading costs an uncontended
// read lock and an `Arc` clone; `None` means the built-in set.
static ACTIVE: RwLock<Option<Arc<Redactor>>> = RwLock::new(None);

fn active() -> Arc<Redactor> {
    let installed = match ACTIVE.read() {
        Ok(g) => g.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    installed.unwrap_or_else(|| BUILTIN.clone())
}

/// Adds operator patterns to the process-wide set used by [`redact`], after the built-in
/// rules (see [`Redactor::with_patterns`] for what is masked). Either every pattern compiles
/// and all are installed, or none is and the error names the first bad one. A pattern
/// already installed is not added twice.
pub fn add_patterns(patterns: &[String]) -> Result<(), RedactError> {
    check_patterns(patterns)?;
    let mut guard = match ACTIVE.write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut all: Vec<String> = guard.as_ref().map(|r| r.custom.clone()).unwrap_or_default();
    for p in patterns {
        if !all.contains(p) {
            all.push(p.clone());
        }
    }
    *guard = Some(Arc::new(Redactor::build(all)?));
    Ok(())
}

/// The operator's patterns installed process-wide.
pub fn installed_patterns() -> Vec<String> {
    active().custom.clone()
}

/// `text` with every secret masked, by the built-in rules and the installed patterns.
pub fn redact(text: &str) -> String {
    active().redact(text)
}

/// The lines of `text`, each redacted, with every line of a PEM private key block masked
/// (see [`LineRedactor`]).
pub fn redact_lines(text: &str) -> Vec<String> {
    let mut r = LineRedactor::new();
    text.lines().map(|l| r.line(l)).collect()
}

/// Redacts a log read line by line. A PEM private key split over lines is only recognisable
/// by its first line, so this remembers being inside a block: from a `-----BEGIN ... PRIVATE
/// KEY-----` line to its `-----END ...-----` line every line is masked whole.
#[derive(Debug)]
pub struct LineRedactor {
    redactor: Arc<Redactor>,
    in_key: bool,
}

impl Default for LineRedactor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineRedactor {
    /// A redactor over the process-wide set, outside any key block.
    pub fn new() -> Self {
        LineRedactor {
            redactor: active(),
            in_key: false,
        }
    }

    /// One line, redacted.
    pub fn line(&mut self, line: &str) -> String {
        if self.in_key {
            return match rules::PEM_END.find(line) {
                Some(end) => {
                    self.in_key = false;
                    let rest = self.redactor.redact_cow(&line[end.end()..]);
                    format!("{PRIVATE_KEY_MASK}{rest}")
                }
                None => PRIVATE_KEY_MASK.to_string(),
            };
        }
        // `contains` is a fast literal search; most lines stop there.
        if line.contains("PRIVATE KEY")
            && let Some(begin) = rules::PEM_BEGIN.find(line)
            && !rules::PEM_END.is_match(&line[begin.end()..])
        {
            self.in_key = true;
        }
        self.redactor.redact(line)
    }

    /// Whether the last line left this redactor inside a private key block.
    pub fn in_private_key(&self) -> bool {
        self.in_key
    }
}
