//! The words both databases index and search: folded in Rust so that SQLite's FTS5 and
//! PostgreSQL's `simple` text search configuration see exactly the same tokens.

/// Words too common in incident text to tell one incident from another.
const STOP: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "in", "into", "is",
    "it", "its", "no", "not", "of", "on", "or", "the", "this", "to", "was", "were", "with",
];

/// Terms a query keeps at most: enough for an incident's signature, few enough that a
/// full-text query stays fast.
const MAX_QUERY_TERMS: usize = 24;

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
}
