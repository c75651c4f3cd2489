//! The pattern of the LIKE operator (spec section 3.4.3).
//!
//! `%` matches any run of characters, `_` exactly one character, and `\%` and `\_` match
//! `%` and `_` themselves. A backslash before any other character is a plain backslash.
//! Matching is case sensitive and works on Unicode characters, not bytes.

/// One element of a compiled pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// Exactly this character.
    Literal(char),
    /// `_`: any one character.
    AnyCharacter,
    /// `%`: any run of characters, the empty run included.
    AnyRun,
}

/// A compiled LIKE pattern, with the text it was written as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LikePattern {
    source: String,
    parts: Vec<Part>,
}

impl LikePattern {
    /// Compiles the value of a LIKE pattern's string literal.
    pub(crate) fn new(source: String) -> Self {
        let mut parts = Vec::new();
        let mut characters = source.chars().peekable();
        while let Some(character) = characters.next() {
            let part = match character {
                '\\' => match characters.next_if(|next| *next == '%' || *next == '_') {
                    Some(escaped) => Part::Literal(escaped),
                    None => Part::Literal('\\'),
                },
                '%' if parts.last() == Some(&Part::AnyRun) => continue,
                '%' => Part::AnyRun,
                '_' => Part::AnyCharacter,
                other => Part::Literal(other),
            };
            parts.push(part);
        }
        LikePattern { source, parts }
    }

    /// Returns the pattern as written in the expression, before compilation.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Tells whether the whole of `text` matches the pattern.
    ///
    /// This is the classic wildcard matcher: it remembers the last `%` and, on a mismatch,
    /// lets that `%` swallow one more character. It takes at most O(text × pattern) steps.
    pub(crate) fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut text_index, mut part_index) = (0, 0);
        // After the last `%`: the part that follows it, and the text it has swallowed up to.
        let mut backtrack: Option<(usize, usize)> = None;
        while let Some(&character) = text.get(text_index) {
            match self.parts.get(part_index) {
                Some(Part::AnyRun) => {
                    part_index += 1;
                    backtrack = Some((part_index, text_index));
                }
                Some(Part::AnyCharacter) => {
                    text_index += 1;
                    part_index += 1;
                }
                Some(Part::Literal(expected)) if *expected == character => {
                    text_index += 1;
                    part_index += 1;
                }
                _ => match backtrack {
                    Some((after_run, swallowed)) => {
                        part_index = after_run;
                        text_index = swallowed + 1;
                        backtrack = Some((after_run, swallowed + 1));
                    }
                    None => return false,
                },
            }
        }
        self.parts.iter().skip(part_index).all(|part| *part == Part::AnyRun)
    }
}

#[cfg(test)]
mod tests {
    use super::LikePattern;

    fn like(text: &str, pattern: &str) -> bool {
        LikePattern::new(pattern.to_owned()).matches(text)
    }

    #[test]
    fn the_spec_examples_match_as_described() {
        // Section 3.4.3: `_b*` accepts `ab`, `abc`, `abcd1`, but not `b`, `acd` or `aBc`.
        // Read literally `*` is not a wildcard, so the examples only hold with `%`.
        for accepted in ["ab", "abc", "abcd1"] {
            assert!(like(accepted, "_b%"), "{accepted}");
        }
        for rejected in ["b", "acd", "aBc"] {
            assert!(!like(rejected, "_b%"), "{rejected}");
        }
        assert!(like("abc%", "abc\\%"));
        assert!(!like("abcd", "abc\\%"));
    }

    #[test]
    fn wildcards_work_on_characters_not_bytes() {
        assert!(like("é", "_"));
        assert!(like("日本語", "日_語"));
        assert!(!like("日本語", "日_"));
    }

    #[test]
    fn a_backslash_before_other_characters_is_literal() {
        assert!(like("a\\b", "a\\b"));
        assert!(like("a\\", "a\\"));
        assert!(like("a\\%", "a\\\\%"));
        assert!(!like("ab", "a\\b"));
    }

    #[test]
    fn percent_backtracks_to_find_a_later_match() {
        assert!(like("aXbXbc", "a%bc"));
        assert!(like("", "%"));
        assert!(like("", "%%"));
        assert!(!like("", "_"));
        assert!(like("abc", "%%c"));
        assert!(!like("abcd", "%c"));
    }
}
