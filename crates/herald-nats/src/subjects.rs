//! From routing-key patterns to NATS subjects.

use herald_transport::Pattern;

/// The NATS subject filter that covers `pattern` below `base` (`<prefix>.events`): `*`
/// stays `*`, a final `#` becomes `>`. A `#` elsewhere cannot be expressed, so the filter
/// stops there with `>` and the subscriber filters exactly on its side.
pub fn nats_filter(base: &str, pattern: &Pattern) -> String {
    let mut subject = base.to_owned();
    for word in pattern.as_str().split('.') {
        subject.push('.');
        if word == "#" {
            subject.push('>');
            return subject;
        }
        subject.push_str(word);
    }
    subject
}

/// One filter for several patterns: their common literal words, then `>`; or the single
/// pattern's own filter.
pub(crate) fn common_filter(base: &str, patterns: &[Pattern]) -> String {
    match patterns {
        [single] => nats_filter(base, single),
        _ => {
            let split: Vec<Vec<&str>> =
                patterns.iter().map(|p| p.as_str().split('.').collect()).collect();
            let mut subject = base.to_owned();
            for index in 0.. {
                let word = split.first().and_then(|words| words.get(index)).copied();
                let shared = word.filter(|w| {
                    *w != "#" && *w != "*" && split.iter().all(|words| words.get(index) == Some(w))
                });
                let Some(word) = shared else { break };
                // Keep a word only if some pattern goes on after it.
                if split.iter().any(|words| words.len() == index + 1) {
                    break;
                }
                subject.push('.');
                subject.push_str(word);
            }
            subject.push_str(".>");
            subject
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{common_filter, nats_filter};

    fn pattern(text: &str) -> herald_transport::Pattern {
        text.parse().expect("pattern")
    }

    #[test]
    fn patterns_become_subject_filters() {
        assert_eq!(
            nats_filter("h.events", &pattern("integration.orders.#")),
            "h.events.integration.orders.>"
        );
        assert_eq!(
            nats_filter("h.events", &pattern("*.orders.placed.v1")),
            "h.events.*.orders.placed.v1"
        );
        assert_eq!(nats_filter("h.events", &pattern("integration.#.v1")), "h.events.integration.>");
        assert_eq!(nats_filter("h.events", &pattern("#")), "h.events.>");
    }

    #[test]
    fn several_patterns_share_their_literal_prefix() {
        let patterns = [pattern("integration.orders.#"), pattern("integration.payments.paid.v1")];
        assert_eq!(common_filter("h.events", &patterns), "h.events.integration.>");
        let patterns = [pattern("a.b"), pattern("a.b.c")];
        assert_eq!(common_filter("h.events", &patterns), "h.events.a.>");
        let patterns = [pattern("x.#"), pattern("y.#")];
        assert_eq!(common_filter("h.events", &patterns), "h.events.>");
    }
}
