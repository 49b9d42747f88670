//! The words both databases index and search: folded in Rust so that SQLite's FTS5 and
//! PostgreSQL's `simple` text search configuration see exactly the same tokens.

/// Words too common in incident text to tell one incident from another.
const STOP: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "in", "into", "is",
    "it", "its", "no", "not", "of", "on", "or", "the", "this", "to", "was", "were", "with",
];

/// Terms a query keeps at most: enough for an incident's signature (its alerts, reasons and
/// the words of its log templates). Which of them reach the full-text index is
/// [`retrieval_terms`]' choice, so this bounds scoring work, not the database's.
const MAX_QUERY_TERMS: usize = 64;

/// The text as index words: runs of letters and digits, lower-cased, at least two
/// characters, numbers of more than four digits dropped (ids and counts, not meaning), in
/// order, repeats kept.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .filter(|w| !(w.len() > 4 && w.chars().all(|c| c.is_ascii_digit())))
        .map(str::to_lowercase)
        .collect()
}

/// The distinct words of a query worth searching for, in order of first appearance, at most
/// a fixed number. Every term is letters and digits only, so it can go into FTS5's or
/// PostgreSQL's query syntax without quoting problems.
pub fn query_terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in words(text) {
        if STOP.contains(&w.as_str()) || out.contains(&w) {
            continue;
        }
        out.push(w);
        if out.len() == MAX_QUERY_TERMS {
            break;
        }
    }
    out
}

/// The query terms to send to the full-text index, rarest first: those some entry holds, as
/// many as fit in `budget` entries in all (`entries` says how many entries hold a word).
///
/// Ranking is the costly part of a full-text search, and both databases rank every entry
/// that matches any term: a word that half the knowledge base holds (`deployment`, `error`,
/// a common alert) makes a search rank half the knowledge base, and says little about
/// likeness (its IDF is near zero). The rarest words find the likely candidates; the common
/// ones still weigh in the score of those ([`super::bm25`]) and the structured matches find
/// the same workload's incidents without words. A query whose every word is too common
/// sends none and relies on those.
pub fn retrieval_terms(
    terms: &[String],
    entries: impl Fn(&str) -> u64,
    budget: u64,
) -> Vec<String> {
    let mut held: Vec<(u64, &String)> = terms
        .iter()
        .map(|t| (entries(t), t))
        .filter(|(n, _)| *n > 0)
        .collect();
    // Stable: equally rare words keep the query's order.
    held.sort_by_key(|(n, _)| *n);
    let mut spent = 0;
    let mut out = Vec::new();
    for (n, t) in held {
        if spent + n > budget {
            break;
        }
        spent += n;
        out.push(t.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_case_split_on_punctuation_and_drop_long_numbers() {
        assert_eq!(
            words("OOMKilled: container checkout-7d9f exit 137 after 123456 ms"),
            [
                "oomkilled",
                "container",
                "checkout",
                "7d9f",
                "exit",
                "137",
                "after",
                "ms"
            ]
        );
    }

    #[test]
    fn query_terms_are_distinct_without_stop_words_and_bounded() {
        assert_eq!(
            query_terms("The pod of the pod is OOMKilled"),
            ["pod", "oomkilled"]
        );
        let many: String = (0..100).map(|i| format!("w{i} ")).collect();
        assert_eq!(query_terms(&many).len(), MAX_QUERY_TERMS);
    }

    #[test]
    fn retrieval_terms_are_the_rarest_held_words_within_the_budget() {
        let terms: Vec<String> = ["deployment", "oomkilled", "checkout", "gone", "heap"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let entries = |t: &str| match t {
            "deployment" => 900,
            "oomkilled" => 60,
            "checkout" => 30,
            "heap" => 30,
            _ => 0,
        };
        assert_eq!(
            retrieval_terms(&terms, entries, 1_000),
            ["checkout", "heap", "oomkilled"]
        );
        assert_eq!(retrieval_terms(&terms, entries, 100), ["checkout", "heap"]);
        assert!(retrieval_terms(&terms, entries, 10).is_empty());
    }
}
