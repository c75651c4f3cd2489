//! The attribute rules: CloudEvents 1.0 plus Herald's own.

use crate::{Envelope, EnvelopeError, ExtensionValue, Result};

/// The longest allowed event type, in characters.
const MAX_TYPE_CHARS: usize = 256;
/// The longest allowed extension attribute name (CloudEvents naming rule).
const MAX_EXTENSION_NAME_CHARS: usize = 20;

/// Attribute names that extensions must not use: the CloudEvents core attributes and
/// the extensions that [`Envelope`] holds in typed fields.
pub(crate) const RESERVED_NAMES: [&str; 14] = [
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "datacontenttype",
    "dataschema",
    "subject",
    "data",
    "eventkind",
    "schemaversion",
    "partitionkey",
    "sequence",
    "traceparent",
];

/// Checks every attribute rule in wire order and returns the first violation.
pub(crate) fn validate_attributes(envelope: &Envelope) -> Result<()> {
    non_empty("source", &envelope.source)?;
    uri_reference("source", &envelope.source)?;
    event_type(&envelope.event_type)?;
    optional_non_empty("datacontenttype", envelope.datacontenttype.as_deref())?;
    if let Some(dataschema) = &envelope.dataschema {
        absolute_uri("dataschema", dataschema)?;
    }
    optional_non_empty("subject", envelope.subject.as_deref())?;
    schema_version(envelope.schema_version)?;
    non_empty("partitionkey", &envelope.partition_key)?;
    optional_non_empty("sequence", envelope.sequence.as_deref())?;
    if let Some(traceparent) = &envelope.traceparent {
        self::traceparent(traceparent)?;
    }
    for (name, value) in &envelope.extensions {
        extension(name, value)?;
    }
    Ok(())
}

/// Requires a non-empty value.
fn non_empty(attribute: &'static str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(EnvelopeError::invalid(attribute, "must not be empty", value));
    }
    Ok(())
}

/// Requires a non-empty value when the attribute is present.
fn optional_non_empty(attribute: &'static str, value: Option<&str>) -> Result<()> {
    value.map_or(Ok(()), |value| non_empty(attribute, value))
}

/// Requires a URI-reference: no whitespace or control characters.
fn uri_reference(attribute: &'static str, value: &str) -> Result<()> {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(EnvelopeError::invalid(
            attribute,
            "must be a URI-reference without whitespace or control characters",
            value,
        ));
    }
    Ok(())
}

/// Requires a non-empty absolute URI: a scheme, a colon, and no whitespace.
fn absolute_uri(attribute: &'static str, value: &str) -> Result<()> {
    non_empty(attribute, value)?;
    uri_reference(attribute, value)?;
    let scheme = value.split_once(':').map_or("", |(scheme, _)| scheme);
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return Err(EnvelopeError::invalid(
            attribute,
            "must be an absolute URI with a scheme",
            value,
        ));
    }
    Ok(())
}

/// Requires a Herald event type: dot-separated, non-empty segments of `[a-z0-9_-]`.
fn event_type(value: &str) -> Result<()> {
    non_empty("type", value)?;
    if value.chars().count() > MAX_TYPE_CHARS {
        return Err(EnvelopeError::invalid("type", "must be at most 256 characters", value));
    }
    let allowed = |c: char| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-' | '.');
    if !value.chars().all(allowed) {
        return Err(EnvelopeError::invalid(
            "type",
            "must contain only lowercase letters, digits, '_', '-' and '.'",
            value,
        ));
    }
    if value.split('.').any(str::is_empty) {
        return Err(EnvelopeError::invalid(
            "type",
            "must not have an empty '.'-separated segment",
            value,
        ));
    }
    Ok(())
}

/// Requires a schema version in `1..=i32::MAX` (a CloudEvents integer).
fn schema_version(value: u32) -> Result<()> {
    if value == 0 || i32::try_from(value).is_err() {
        return Err(EnvelopeError::invalid(
            "schemaversion",
            "must be an integer between 1 and 2147483647",
            &value.to_string(),
        ));
    }
    Ok(())
}

/// Requires a W3C `traceparent`: `00-<32 hex>-<16 hex>-<2 hex>`, lowercase, with
/// non-zero trace and parent ids.
fn traceparent(value: &str) -> Result<()> {
    let parts: Vec<&str> = value.split('-').collect();
    let well_formed = matches!(
        parts.as_slice(),
        ["00", trace, parent, flags]
            if is_lower_hex(trace, 32) && is_lower_hex(parent, 16) && is_lower_hex(flags, 2)
    );
    if !well_formed {
        return Err(EnvelopeError::invalid(
            "traceparent",
            "must be 00-<32 lowercase hex>-<16 lowercase hex>-<2 lowercase hex>",
            value,
        ));
    }
    if parts[1].bytes().all(|b| b == b'0') || parts[2].bytes().all(|b| b == b'0') {
        return Err(EnvelopeError::invalid(
            "traceparent",
            "must not have an all-zero trace id or parent id",
            value,
        ));
    }
    Ok(())
}

/// Tells whether `text` is exactly `len` lowercase hexadecimal digits.
fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Requires a valid extension name and a value in the CloudEvents type system.
fn extension(name: &str, value: &ExtensionValue) -> Result<()> {
    extension_name(name)?;
    if let ExtensionValue::Integer(number) = value
        && i32::try_from(*number).is_err()
    {
        return Err(EnvelopeError::invalid(
            name,
            "extension integers must be in the signed 32-bit range",
            &number.to_string(),
        ));
    }
    Ok(())
}

/// Requires 1 to 20 characters of `[a-z0-9]`, not a reserved attribute name.
pub(crate) fn extension_name(name: &str) -> Result<()> {
    let valid = (1..=MAX_EXTENSION_NAME_CHARS).contains(&name.len())
        && name.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9'));
    if !valid {
        return Err(EnvelopeError::invalid(
            name,
            "extension names must be 1 to 20 characters of [a-z0-9]",
            name,
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(EnvelopeError::invalid(
            name,
            "extension names must not be a core or Herald attribute name",
            name,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_rule_accepts_lowercase_dotted_names() {
        for good in ["orders.order_placed", "com.example.someevent", "mock.test", "a-b.c_d.9"] {
            assert!(event_type(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn type_rule_rejects_bad_names() {
        for bad in ["", "Orders.placed", "orders..placed", ".orders", "orders.", "a b"] {
            assert!(event_type(bad).is_err(), "{bad}");
        }
        assert!(event_type(&"a".repeat(257)).is_err());
        assert!(event_type(&"a".repeat(256)).is_ok());
    }

    #[test]
    fn traceparent_rule() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(traceparent(good).is_ok());
        for bad in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(traceparent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dataschema_needs_a_scheme() {
        assert!(absolute_uri("dataschema", "https://example.com/s").is_ok());
        assert!(absolute_uri("dataschema", "urn:herald:schema:1").is_ok());
        assert!(absolute_uri("dataschema", "/relative").is_err());
        assert!(absolute_uri("dataschema", "1http://x").is_err());
    }

    #[test]
    fn extension_names() {
        assert!(extension_name("comexampleext1").is_ok());
        assert!(extension_name(&"a".repeat(21)).is_err());
        assert!(extension_name("Upper").is_err());
        assert!(extension_name("with_underscore").is_err());
        assert!(extension_name("subject").is_err());
        assert!(extension_name("partitionkey").is_err());
    }
}
