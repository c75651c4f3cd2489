//! The rules for a subscription's fields; each failure names the field, the value and
//! what was expected.

use herald_transport::{Pattern, TransportError};
use reqwest::Url;

use crate::{PushError, Result};

/// The longest service name, in characters.
const MAX_SERVICE_CHARS: usize = 64;
/// The longest pattern, in characters.
const MAX_PATTERN_CHARS: usize = 512;
/// The longest endpoint URL, in characters.
const MAX_ENDPOINT_CHARS: usize = 2048;
/// The first word of a routing key.
const KINDS: [&str; 3] = ["domain", "integration", "notification"];
/// What a pattern is, for error messages.
const PATTERN_EXPECTED: &str = "an AMQP topic pattern over routing keys <kind>.<type>.v<version>, \
     words of [a-z0-9_-] or `*` (one word) or `#` (any words), e.g. `integration.orders.#`";

/// Requires a service name of 1 to 64 characters of `[a-z0-9_-]`.
pub(crate) fn service(value: &str) -> Result<()> {
    let valid = (1..=MAX_SERVICE_CHARS).contains(&value.len())
        && value.bytes().all(|byte| matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
    if !valid {
        return Err(PushError::invalid(
            "service",
            value,
            "1 to 64 characters of lowercase letters, digits, `_` and `-`",
        ));
    }
    Ok(())
}

/// Requires a topic pattern that can match a Herald routing key.
///
/// Beyond the pattern syntax (checked by [`Pattern`]): literal words use the characters
/// of event types, a literal first word is a kind, a literal last word is `v<version>`,
/// and a pattern without `#` has at least three words, since every routing key has.
/// Checks a CloudEvents SQL filter: it must parse; the error says where and what.
pub(crate) fn filter(value: &str) -> Result<()> {
    herald_cesql::Expression::parse(value).map(|_| ()).map_err(|error| {
        PushError::invalid("filter", value, format!("a CloudEvents SQL expression; {error}"))
    })
}

pub(crate) fn pattern(value: &str) -> Result<Pattern> {
    let invalid = |problem: &str| {
        PushError::invalid("pattern", value, format!("{PATTERN_EXPECTED}; {problem}"))
    };
    if value.chars().count() > MAX_PATTERN_CHARS {
        return Err(invalid("it is longer than 512 characters"));
    }
    let parsed = value.parse::<Pattern>().map_err(|error| match error {
        TransportError::InvalidPattern { reason, .. } => invalid(&reason),
        other => invalid(&other.to_string()),
    })?;
    let words: Vec<&str> = value.split('.').collect();
    let literals = || words.iter().copied().filter(|word| !matches!(*word, "*" | "#"));
    if let Some(word) = literals().find(|word| !is_type_word(word)) {
        return Err(invalid(&format!("the word `{word}` has characters outside [a-z0-9_-]")));
    }
    let first = words.first().copied().unwrap_or_default();
    if !matches!(first, "*" | "#") && !KINDS.contains(&first) {
        return Err(invalid(&format!(
            "the first word `{first}` is not a kind (domain, integration, notification)"
        )));
    }
    let last = words.last().copied().unwrap_or_default();
    if !matches!(last, "*" | "#") && !is_version_word(last) {
        return Err(invalid(&format!("the last word `{last}` is not a version such as `v2`")));
    }
    if !words.contains(&"#") && words.len() < 3 {
        return Err(invalid("without `#` it needs at least three words to match anything"));
    }
    Ok(parsed)
}

/// Requires an absolute `http` or `https` URL with a host and without credentials, and
/// returns it parsed.
pub(crate) fn endpoint(value: &str) -> Result<Url> {
    let invalid = |problem: &str| {
        PushError::invalid(
            "endpoint",
            &without_user_info(value),
            format!("an absolute http:// or https:// URL with a host ({problem})"),
        )
    };
    if value.chars().count() > MAX_ENDPOINT_CHARS {
        return Err(invalid("it is longer than 2048 characters"));
    }
    let url = Url::parse(value).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(&format!("the scheme is `{}`", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // The URL is listed and logged; requests are authenticated by their signature.
        return Err(PushError::invalid(
            "endpoint",
            &without_user_info(value),
            "a URL without user name or password; receivers authenticate requests by their signature",
        ));
    }
    Ok(url)
}

/// [`endpoint`], and unless `allow_private`, not on this machine or a private network
/// by its literal address or a `localhost` name.
pub(crate) fn public_endpoint(value: &str, allow_private: bool) -> Result<Url> {
    let url = endpoint(value)?;
    if !allow_private {
        refuse_internal(&url)?;
    }
    Ok(url)
}

/// Refuses a URL on this machine or a private network, by its literal address or a
/// `localhost` name (other names are checked when they are resolved).
pub(crate) fn refuse_internal(url: &Url) -> Result<()> {
    if url.host_str().is_some_and(herald_http::network::is_internal_host) {
        let shown = shown_endpoint(url.as_str());
        return Err(PushError::invalid("endpoint", &shown, PRIVATE_REFUSED));
    }
    Ok(())
}

/// Why an endpoint on an internal address is refused.
const PRIVATE_REFUSED: &str = "a public address: loopback, link-local and private \
     networks are refused (server-side request forgery) unless the operator allows them \
     (--allow-private-endpoints)";

/// Whether `word` is a non-empty word of an event type.
fn is_type_word(word: &str) -> bool {
    !word.is_empty()
        && word.bytes().all(|byte| matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

/// Whether `word` is `v` followed by a version number without leading zeros.
fn is_version_word(word: &str) -> bool {
    word.strip_prefix('v').is_some_and(|digits| {
        !digits.is_empty() && !digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The endpoint as it is shown (listed, logged): the values of its query string, which may
/// carry a receiver's credentials, replaced by `***` (the keys stay, to tell endpoints
/// apart), and without user information or fragment.
pub fn shown_endpoint(endpoint: &str) -> String {
    let Ok(mut url) = Url::parse(endpoint) else {
        return without_user_info(endpoint);
    };
    if url.password().is_some() || !url.username().is_empty() {
        let _ = url.set_password(None);
        let _ = url.set_username("***");
    }
    if url.query().is_some() {
        let keys: Vec<String> = url.query_pairs().map(|(key, _)| key.into_owned()).collect();
        url.query_pairs_mut().clear().extend_pairs(keys.iter().map(|key| (key, "***")));
    }
    url.set_fragment(None);
    url.to_string()
}

pub(crate) fn serialize_shown_endpoint<S: serde::Serializer>(
    endpoint: &str,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_str(&shown_endpoint(endpoint))
}

/// The URL text with any user information (`user:password@`) replaced by `***@`, so an
/// error never shows a password, even for a URL that does not parse.
fn without_user_info(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_not_shown() {
        let shown = shown_endpoint("https://hooks.example/in?token=s3cret&team=a#frag");
        assert_eq!(shown, "https://hooks.example/in?token=***&team=***");
        assert_eq!(shown_endpoint("https://hooks.example/in"), "https://hooks.example/in");
        assert_eq!(shown_endpoint("https://u:pw@hooks.example/"), "https://***@hooks.example/");
    }

    #[test]
    fn filters_must_be_cloudevents_sql() {
        filter("source = '/orders' AND eventkind = 'integration'").expect("a valid filter");
        let error = filter("source = = 'x'").expect_err("not CESQL");
        assert_eq!(error.field(), Some("filter"));
        assert!(error.to_string().contains("CloudEvents SQL"), "{error}");
    }

    #[test]
    fn service_names_are_short_lowercase_words() {
        for good in ["orders", "shop-api_2", &"a".repeat(64)] {
            service(good).unwrap();
        }
        for bad in ["", "Orders", "orders.api", "a b", &"a".repeat(65)] {
            let error = service(bad).unwrap_err();
            assert_eq!(error.field(), Some("service"), "{bad}");
        }
    }

    #[test]
    fn patterns_must_be_able_to_match_a_routing_key() {
        for good in [
            "#",
            "integration.orders.#",
            "*.orders.order_placed.*",
            "#.v2",
            "integration.*.v1",
            "domain.orders.order-placed.v12",
        ] {
            let parsed = pattern(good).unwrap_or_else(|error| panic!("{good}: {error}"));
            assert_eq!(parsed.to_string(), good);
        }
        for (bad, problem) in [
            ("", "empty"),
            ("integration..orders", "empty word"),
            ("integration.orders*", "stand alone"),
            ("Integration.orders.#", "outside [a-z0-9_-]"),
            ("orders.#", "not a kind"),
            ("integration.orders.created", "not a version"),
            ("integration.orders.v01", "not a version"),
            ("integration.v1", "three words"),
        ] {
            let error = pattern(bad).unwrap_err();
            assert_eq!(error.field(), Some("pattern"));
            assert!(error.to_string().contains(problem), "{bad}: {error}");
        }
    }

    #[test]
    fn endpoints_are_http_urls_without_credentials() {
        for good in ["http://127.0.0.1:8080/hook", "https://hooks.example.com/a?b=c"] {
            endpoint(good).unwrap();
        }
        for bad in ["", "hooks.example.com", "ftp://example.com/", "mailto:a@example.com"] {
            let error = endpoint(bad).unwrap_err();
            assert_eq!(error.field(), Some("endpoint"), "{bad}");
        }
        for with_password in
            ["https://user:hunter2@example.com/hook", "https://u:hunter2@exa mple/"]
        {
            let error = endpoint(with_password).unwrap_err();
            assert_eq!(error.field(), Some("endpoint"));
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
    }
}
