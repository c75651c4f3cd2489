//! The CloudEvents HTTP protocol binding (1.0), binary content mode: every context
//! attribute and extension becomes a `ce-<name>` header, the data becomes the body, and
//! `datacontenttype` becomes `Content-Type`.
//!
//! Header values are percent-encoded as the binding requires: space, `"`, `%` and every
//! character outside printable ASCII (U+0021 to U+007E) become `%XY` for each byte of
//! their UTF-8 encoding, with upper-case hex digits. `Content-Type` is an ordinary HTTP
//! header and is not percent-encoded. Herald's `traceparent` extension is also sent as
//! the plain W3C `traceparent` header, as the binding allows extensions to do, so HTTP
//! tracing picks it up.

use chrono::SecondsFormat;
use herald_envelope::{Data, Envelope, Limits};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::{HttpError, Result};

/// The CloudEvents version Herald speaks.
pub const SPEC_VERSION: &str = "1.0";
/// The prefix of every attribute header.
pub const HEADER_PREFIX: &str = "ce-";
/// The plain W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";

/// The media type of JSON data when the envelope names none (the JSON event format's
/// default for `datacontenttype`).
const JSON_CONTENT_TYPE: &str = "application/json";

/// The bytes a header value must percent-encode, besides everything outside ASCII (which
/// `utf8_percent_encode` always encodes): the controls U+0000 to U+001F and U+007F,
/// space, double quote and percent.
const HEADER_VALUE_ENCODE: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'%');

/// A binary-mode HTTP message: the headers and the body.
#[derive(Debug, Clone)]
pub struct BinaryRequest {
    /// `ce-*`, `traceparent` and `Content-Type`.
    pub headers: HeaderMap,
    /// The data: the JSON text, the binary bytes, or nothing.
    pub body: Vec<u8>,
}

/// Builds the binary-mode message of an envelope.
///
/// The envelope's attributes are validated first (not its size, which the producer
/// checked), so a hand-built envelope with a bad extension name fails with
/// [`HttpError::Envelope`] instead of producing a malformed header.
pub fn binary_request(envelope: &Envelope) -> Result<BinaryRequest> {
    envelope.validate(&Limits { max_event_bytes: usize::MAX })?;
    let mut headers = HeaderMap::new();
    for (name, value) in attributes(envelope) {
        let header_name = HeaderName::try_from(format!("{HEADER_PREFIX}{name}"))
            .map_err(|_| HttpError::invalid("attribute", &name, "a name of [a-z0-9]"))?;
        headers.insert(header_name, encoded_value(&value));
    }
    if let Some(traceparent) = &envelope.traceparent {
        headers.insert(TRACEPARENT, encoded_value(traceparent));
    }
    if let Some(content_type) = content_type(envelope) {
        let value = HeaderValue::from_str(content_type).map_err(|_| {
            HttpError::invalid("datacontenttype", content_type, "a media type in visible ASCII")
        })?;
        headers.insert(CONTENT_TYPE, value);
    }
    Ok(BinaryRequest { headers, body: body(envelope) })
}

/// Percent-encodes an attribute's canonical string for an HTTP header.
pub fn encode_header_value(text: &str) -> String {
    utf8_percent_encode(text, HEADER_VALUE_ENCODE).to_string()
}

/// Decodes a `ce-` header value: first a double-quoted string is unquoted (older
/// senders quoted instead of encoding), then one round of percent-decoding. Byte
/// sequences that are not UTF-8 (such as the overlong `%C0%A0`) are refused.
pub fn decode_header_value(value: &str) -> Result<String> {
    let unquoted = unquote(value);
    percent_decode_str(&unquoted).decode_utf8().map(|text| text.into_owned()).map_err(|_| {
        HttpError::invalid("header value", value, "percent-encoded UTF-8 (RFC 3986 style)")
    })
}

/// Every attribute but `datacontenttype`, as (name, canonical string), in the binding's
/// usual order: the required attributes, the optional ones, Herald's extensions, then
/// any other extension.
fn attributes(envelope: &Envelope) -> Vec<(String, String)> {
    let mut attributes = vec![
        ("id".to_owned(), envelope.id.to_string()),
        ("source".to_owned(), envelope.source.clone()),
        ("specversion".to_owned(), SPEC_VERSION.to_owned()),
        ("type".to_owned(), envelope.event_type.clone()),
        ("time".to_owned(), envelope.time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    ];
    let optional = [
        ("dataschema", &envelope.dataschema),
        ("subject", &envelope.subject),
        ("sequence", &envelope.sequence),
        ("traceparent", &envelope.traceparent),
    ];
    attributes.extend(
        optional.into_iter().filter_map(|(name, value)| Some((name.to_owned(), value.clone()?))),
    );
    attributes.push(("eventkind".to_owned(), envelope.kind.as_str().to_owned()));
    attributes.push(("schemaversion".to_owned(), envelope.schema_version.to_string()));
    attributes.push(("partitionkey".to_owned(), envelope.partition_key.clone()));
    attributes
        .extend(envelope.extensions.iter().map(|(name, value)| (name.clone(), value.to_string())));
    attributes
}

/// A percent-encoded header value; always visible ASCII, so always a valid header value.
fn encoded_value(text: &str) -> HeaderValue {
    HeaderValue::try_from(encode_header_value(text))
        .expect("percent-encoded text is visible ASCII without spaces")
}

/// `datacontenttype`, or `application/json` for JSON data without one.
fn content_type(envelope: &Envelope) -> Option<&str> {
    match (&envelope.datacontenttype, &envelope.data) {
        (Some(content_type), _) => Some(content_type),
        (None, Some(Data::Json(_))) => Some(JSON_CONTENT_TYPE),
        (None, _) => None,
    }
}

/// The data's bytes: the JSON text as produced, or the binary data.
fn body(envelope: &Envelope) -> Vec<u8> {
    match &envelope.data {
        Some(Data::Json(raw)) => raw.get().as_bytes().to_vec(),
        Some(Data::Binary(bytes)) => bytes.clone(),
        None => Vec::new(),
    }
}

/// Removes the quotes of an RFC 7230 quoted-string and its backslash escapes; other
/// values are returned as they are.
fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut unquoted = String::with_capacity(inner.len());
    let mut characters = inner.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' => unquoted.extend(characters.next()),
            other => unquoted.push(other),
        }
    }
    unquoted
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{TimeZone, Utc};
    use herald_envelope::{EventId, EventKind, ExtensionValue};
    use serde_json::value::RawValue;

    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            id: EventId::new(),
            source: "/shop/orders".into(),
            event_type: "orders.order_placed".into(),
            time: Utc.with_ymd_and_hms(2018, 4, 5, 3, 56, 24).unwrap(),
            datacontenttype: None,
            dataschema: None,
            subject: None,
            kind: EventKind::Integration,
            schema_version: 2,
            partition_key: "order 7".into(),
            sequence: None,
            traceparent: None,
            extensions: BTreeMap::new(),
            data: Some(Data::Json(RawValue::from_string(r#"{"a":1}"#.into()).unwrap())),
        }
    }

    fn header(request: &BinaryRequest, name: &str) -> String {
        request.headers.get(name).unwrap_or_else(|| panic!("no {name}")).to_str().unwrap().into()
    }

    #[test]
    fn the_binding_example_is_encoded_as_specified() {
        assert_eq!(encode_header_value("Euro € 😀"), "Euro%20%E2%82%AC%20%F0%9F%98%80");
        assert_eq!(encode_header_value("a\"b%c\u{7f}\u{85}"), "a%22b%25c%7F%C2%85");
        assert_eq!(encode_header_value("/plain-ASCII_~!"), "/plain-ASCII_~!");
    }

    #[test]
    fn decoding_accepts_lower_case_and_quotes_but_refuses_invalid_utf8() {
        assert_eq!(decode_header_value("Euro%20%e2%82%ac").unwrap(), "Euro €");
        assert_eq!(decode_header_value("\"a \\\"b\\\"\"").unwrap(), "a \"b\"");
        assert_eq!(decode_header_value("%41bc").unwrap(), "Abc");
        assert!(decode_header_value("%C0%A0").is_err());
    }

    #[test]
    fn every_attribute_and_extension_becomes_a_ce_header() {
        let mut envelope = envelope()
            .with_subject("order 7")
            .with_dataschema("https://registry.example/orders/2")
            .with_sequence("00042")
            .with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        envelope.datacontenttype = Some("application/json; charset=utf-8".into());
        envelope.extensions.insert("tenant".into(), ExtensionValue::from("acme café"));
        envelope.extensions.insert("priority".into(), ExtensionValue::from(3));
        envelope.extensions.insert("urgent".into(), ExtensionValue::from(true));
        let request = binary_request(&envelope).unwrap();

        let expected = [
            ("ce-id", envelope.id.to_string()),
            ("ce-source", "/shop/orders".into()),
            ("ce-specversion", "1.0".into()),
            ("ce-type", "orders.order_placed".into()),
            ("ce-time", "2018-04-05T03:56:24Z".into()),
            ("ce-subject", "order%207".into()),
            ("ce-dataschema", "https://registry.example/orders/2".into()),
            ("ce-eventkind", "integration".into()),
            ("ce-schemaversion", "2".into()),
            ("ce-partitionkey", "order%207".into()),
            ("ce-sequence", "00042".into()),
            ("ce-traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            ("ce-tenant", "acme%20caf%C3%A9".into()),
            ("ce-priority", "3".into()),
            ("ce-urgent", "true".into()),
            ("content-type", "application/json; charset=utf-8".into()),
        ];
        for (name, value) in &expected {
            assert_eq!(&header(&request, name), value, "{name}");
        }
        assert_eq!(request.headers.len(), expected.len());
        assert!(request.headers.get("ce-datacontenttype").is_none());
        assert_eq!(request.body, br#"{"a":1}"#);
    }

    #[test]
    fn absent_optional_attributes_send_no_header() {
        let request = binary_request(&envelope()).unwrap();
        for name in ["ce-subject", "ce-dataschema", "ce-sequence", "ce-traceparent", "traceparent"]
        {
            assert!(request.headers.get(name).is_none(), "{name}");
        }
        assert_eq!(header(&request, "content-type"), "application/json");
    }

    #[test]
    fn binary_data_is_sent_as_is_and_no_data_as_an_empty_body() {
        let mut envelope = envelope();
        envelope.data = Some(Data::Binary(vec![0, 159, 146, 150]));
        envelope.datacontenttype = Some("application/octet-stream".into());
        assert_eq!(binary_request(&envelope).unwrap().body, vec![0, 159, 146, 150]);
        envelope.data = None;
        envelope.datacontenttype = None;
        let request = binary_request(&envelope).unwrap();
        assert!(request.body.is_empty());
        assert!(request.headers.get("content-type").is_none());
    }

    #[test]
    fn an_invalid_envelope_is_refused_before_any_header_is_made() {
        let mut envelope = envelope();
        envelope.extensions.insert("Bad Name".into(), ExtensionValue::from("x"));
        assert!(matches!(binary_request(&envelope), Err(HttpError::Envelope(_))));
    }
}
