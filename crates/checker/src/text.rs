//! User text in text output: the one helper every text output passes names, descriptions,
//! paths and messages through before printing them.

use std::borrow::Cow;

/// `s` as it may be printed on a terminal or written into a text document: control
/// characters — C0 (newline, carriage return, tab and `ESC`, which starts every ANSI escape
/// sequence), `DEL` and C1 — and the Unicode bidirectional controls (which reorder what a
/// terminal shows, U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C) are written as
/// escapes (`\n`, `\r`, `\t`, `\u{1b}`, `\u{202e}`); everything else is kept. A scenario whose
/// name or thread names carry such characters cannot then recolour the terminal, move the
/// cursor, break a table row or fake a line of output. JSON output keeps the exact strings
/// (its encoder escapes them).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_borrowed() {
        assert!(matches!(escape("d3-sendfile v5.7 ✓"), Cow::Borrowed(_)));
        assert_eq!(escape("a\x1b[31mred\x1b[0m"), "a\\u{1b}[31mred\\u{1b}[0m");
        assert_eq!(escape("two\nlines\r\ttab"), "two\\nlines\\r\\ttab");
        assert_eq!(escape("\u{7f}\u{9b}x"), "\\u{7f}\\u{9b}x");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
    }
}
