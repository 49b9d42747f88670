//! Free text from outside (a request's reason, a name) made safe to store and to show on one
//! line: control characters (newlines, escapes, NULs) become spaces, so that no caller can
//! forge a line of the timeline or steer a terminal, and the length is bounded.

/// `s` on one line, without control characters, trimmed, at most `max_chars` characters (an
/// ellipsis marks a cut).
pub fn one_line(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars * 4));
    let mut count = 0;
    let mut last_space = true;
    for c in s.chars() {
        // Unicode format characters that reorder or hide text count as control here too.
        let c = if c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        if count == max_chars {
            out.push('…');
            break;
        }
        out.push(c);
        count += 1;
    }
    out.trim_end().to_string()
}

/// `s` for a terminal: control characters shown as escapes (`\n`, `\u{1b}`) rather than
/// acted on, so that a stored text cannot break a line or steer the terminal it is printed to.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_hostile) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_hostile(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_shows_control_characters_as_escapes() {
        assert_eq!(printable("plain"), "plain");
        assert_eq!(printable("a\nb\u{1b}[2J"), "a\\nb\\u{1b}[2J");
    }

    #[test]
    fn newlines_and_escapes_cannot_forge_a_line() {
        let forged = one_line("the-cto\n[+00:00] approved by the-ceo\u{1b}[2J\r\0", 200);
        assert_eq!(forged, "the-cto [+00:00] approved by the-ceo [2J");
        assert!(!forged.chars().any(char::is_control));
    }

    #[test]
    fn bidirectional_overrides_are_spaces() {
        assert_eq!(one_line("ok\u{202e}evil", 50), "ok evil");
    }

    #[test]
    fn long_text_is_cut_with_a_mark() {
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(one_line("  padded  ", 50), "padded");
        assert_eq!(one_line("", 5), "");
    }
}
