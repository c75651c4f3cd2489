//! Topic patterns over routing keys, with AMQP's semantics: words separated by `.`,
//! `*` matches exactly one word, `#` matches zero or more words.

use std::fmt;
use std::str::FromStr;

use crate::TransportError;

/// A subscription pattern such as `integration.orders.#` or `*.orders.order_placed.v2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    text: String,
    words: Vec<Word>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Word {
    Literal(String),
    One,
    Any,
}

impl FromStr for Pattern {
    type Err = TransportError;

    fn from_str(text: &str) -> Result<Pattern, TransportError> {
        let invalid = |reason: &str| TransportError::InvalidPattern {
            pattern: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        let words = text
            .split('.')
            .map(|word| match word {
                "" => Err(invalid("it has an empty word (two dots in a row, or a dot at an end)")),
                "*" => Ok(Word::One),
                "#" => Ok(Word::Any),
                w if w.contains(['*', '#']) => {
                    Err(invalid("`*` and `#` must stand alone between dots"))
                }
                w => Ok(Word::Literal(w.to_owned())),
            })
            .collect::<Result<_, _>>()?;
        Ok(Pattern { text: text.to_owned(), words })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Pattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The pattern that matches every routing key (`#`).
    pub fn all() -> Pattern {
        Pattern { text: "#".into(), words: vec![Word::Any] }
    }

    /// Whether `routing_key` matches.
    pub fn matches(&self, routing_key: &str) -> bool {
        let key: Vec<&str> = routing_key.split('.').collect();
        matches_words(&self.words, &key)
    }
}

fn matches_words(pattern: &[Word], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((Word::Any, rest)) => (0..=key.len()).any(|skip| matches_words(rest, &key[skip..])),
        Some((Word::One, rest)) => !key.is_empty() && matches_words(rest, &key[1..]),
        Some((Word::Literal(word), rest)) => {
            key.first().is_some_and(|first| first == word) && matches_words(rest, &key[1..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, key: &str, expected: bool) {
        let parsed: Pattern = pattern.parse().expect(pattern);
        assert_eq!(parsed.matches(key), expected, "{pattern} vs {key}");
    }

    #[test]
    fn patterns_follow_amqp_topic_semantics() {
        check("integration.orders.#", "integration.orders.order_placed.v2", true);
        check("integration.orders.#", "integration.orders", true);
        check("integration.orders.#", "integration.payments.paid.v1", false);
        check("*.orders.order_placed.*", "domain.orders.order_placed.v1", true);
        check("*.orders.order_placed.*", "domain.orders.order_placed", false);
        check("#", "anything.at.all", true);
        check("#.v2", "integration.orders.order_placed.v2", true);
        check("#.v2", "integration.orders.order_placed.v1", false);
        check("a.#.z", "a.z", true);
        check("a.#.z", "a.b.c.z", true);
        check("a.*.z", "a.z", false);
    }

    #[test]
    fn malformed_patterns_are_refused_with_the_reason() {
        for (text, reason) in [
            ("", "empty"),
            ("a..b", "empty word"),
            ("a.b*", "stand alone"),
            ("a.#x", "stand alone"),
        ] {
            let error = text.parse::<Pattern>().expect_err(text).to_string();
            assert!(error.contains(reason), "{text}: {error}");
        }
    }
}
