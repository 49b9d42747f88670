//! Token estimates without a tokenizer.
//!
//! Byte-pair tokenizers of current models average about four characters of English per
//! token; logs, identifiers and JSON punctuation come out a little denser. The estimate is
//! `ceil(chars / 4)`: good enough to keep prompts inside a budget and to compare prompt
//! shapes, and the figure the benchmark prints. Real counts come back in each response's
//! `usage` and are what the metrics record.

/// Estimated tokens of `text`: one per four characters, rounded up.
pub fn estimate(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    #[test]
    fn four_characters_a_token() {
        assert_eq!(super::estimate(""), 0);
        assert_eq!(super::estimate("abcd"), 1);
        assert_eq!(super::estimate("abcde"), 2);
        assert_eq!(super::estimate("ééééé"), 2);
    }
}
