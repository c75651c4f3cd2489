//! Query-string values as every client sends them.
//!
//! Confluent's Python client sends booleans as Python prints them (`?verbose=True`), and
//! Confluent's server reads them case-insensitively; so does every Herald API, through
//! these deserializers (`#[serde(deserialize_with = "herald_http::query::boolean")]`).

use serde::{Deserialize, Deserializer, de::Error};

/// A boolean parameter: `true` or `false` in any case; anything else is refused, naming
/// the value and what was expected.
pub fn boolean<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
    parse(&text).map_err(D::Error::custom)
}

/// An optional boolean parameter, read as [`boolean`] when present.
pub fn optional_boolean<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<bool>, D::Error> {
    boolean(deserializer).map(Some)
}

fn parse(text: &str) -> Result<bool, String> {
    if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("`{text}` is not a boolean: expected `true` or `false` (any case)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Flags {
        #[serde(default, deserialize_with = "boolean")]
        verbose: bool,
        #[serde(default, deserialize_with = "optional_boolean")]
        permanent: Option<bool>,
    }

    fn flags(query: &str) -> Result<Flags, serde_urlencoded::de::Error> {
        serde_urlencoded::from_str(query)
    }

    #[test]
    fn booleans_are_read_in_any_case() {
        for (query, expected) in
            [("verbose=True", true), ("verbose=FALSE", false), ("verbose=true", true)]
        {
            assert_eq!(flags(query).expect(query).verbose, expected, "{query}");
        }
        assert_eq!(flags("permanent=True").expect("permanent").permanent, Some(true));
        let absent = flags("").expect("no parameters");
        assert!(!absent.verbose && absent.permanent.is_none());
    }

    #[test]
    fn anything_else_is_refused_with_the_value() {
        let error = flags("verbose=yes").expect_err("yes is not a boolean").to_string();
        assert!(error.contains("`yes` is not a boolean"), "{error}");
    }
}
