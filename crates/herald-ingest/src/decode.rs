//! The CloudEvents HTTP protocol binding (1.0) on the receiving side: an HTTP request's
//! headers and body to envelopes, in binary, structured or batch mode.
//!
//! The mode follows `Content-Type`: `application/cloudevents+json` is structured mode,
//! `application/cloudevents-batch+json` batch mode (both with an optional UTF-8
//! `charset`), and any other media type is binary mode when the request has a `ce-`
//! header. In binary mode each `ce-<name>` header is the attribute `<name>` (header names
//! are case-insensitive; the binding's attribute names are lowercase), its value
//! percent-decoded as UTF-8. Header values are strings, as the binding carries them;
//! Herald's integer extension `schemaversion` is read from its decimal text, as in the
//! AMQP binding. `Content-Type` becomes `datacontenttype` and the body the data (JSON
//! text when the media type is JSON, bytes otherwise). In every mode, the W3C Trace
//! Context `traceparent` header of the request (what an instrumented HTTP client sends)
//! becomes the `traceparent` of each event that has none of its own (`ce-traceparent`
//! or the member), so consumers continue the caller's trace; a malformed one is ignored,
//! as Trace Context says.

use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use herald_envelope::{Envelope, ExtensionValue, Limits, Received};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde::Deserializer as _;
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::shown_id;
use crate::{IngestError, Result};

/// The media type of structured mode with the JSON event format.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";
/// The media type of batch mode with the JSON event format.
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";
/// The prefix of attribute headers in binary mode.
const HEADER_PREFIX: &str = "ce-";

/// What structured and batch mode accept, for [`IngestError::UnsupportedMediaType`].
const JSON_FORMAT_ONLY: &str = "only the JSON event format is supported, as \
     `application/cloudevents+json` or `application/cloudevents-batch+json`, in UTF-8";

/// How a request carries its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentMode {
    /// Attributes in `ce-` headers, the data in the body.
    Binary,
    /// One event in the JSON event format.
    Structured,
    /// A JSON array of events in the JSON event format.
    Batch,
}

/// Tells the content mode of a request from its headers, before its body is read.
///
/// Fails with [`IngestError::UnsupportedMediaType`] for a CloudEvents media type in
/// another format than JSON or a charset other than UTF-8, and with
/// [`IngestError::NotCloudEvent`] when no mode applies.
pub fn content_mode(headers: &HeaderMap) -> Result<ContentMode> {
    let content_type = content_type(headers)?;
    if let Some(content_type) = content_type {
        let media_type = MediaType::parse(content_type);
        let mode = match media_type.essence.as_str() {
            STRUCTURED_CONTENT_TYPE => Some(ContentMode::Structured),
            BATCH_CONTENT_TYPE => Some(ContentMode::Batch),
            essence
                if essence.starts_with("application/cloudevents+")
                    || essence.starts_with("application/cloudevents-batch+") =>
            {
                return Err(unsupported(content_type));
            }
            _ => None,
        };
        if let Some(mode) = mode {
            if !media_type.charset_is_utf8() {
                return Err(unsupported(content_type));
            }
            return Ok(mode);
        }
    }
    if headers.keys().any(|name| name.as_str().starts_with(HEADER_PREFIX)) {
        return Ok(ContentMode::Binary);
    }
    Err(IngestError::NotCloudEvent { content_type: content_type.map(str::to_owned) })
}

/// Decodes the events of a request: one in binary and structured mode, up to
/// `max_batch_events` in batch mode. Each event is checked against the attribute rules
/// and `limits` (the size of its JSON, or of its body in binary mode).
///
/// Errors about one event of a batch carry its index, and its id when it can be read.
pub fn decode(
    headers: &HeaderMap,
    body: &[u8],
    limits: &Limits,
    max_batch_events: usize,
) -> Result<(ContentMode, Vec<Received>)> {
    let mode = content_mode(headers)?;
    let mut envelopes = match mode {
        ContentMode::Binary => vec![binary(headers, body, limits)?],
        ContentMode::Structured => vec![structured(body, limits, None)?],
        ContentMode::Batch => batch(body, limits, max_batch_events)?,
    };
    if let Some(traceparent) = request_traceparent(headers) {
        let untraced = envelopes.iter_mut().filter(|r| r.envelope.traceparent.is_none());
        for received in untraced {
            received.envelope.traceparent = Some(traceparent.to_owned());
        }
    }
    Ok((mode, envelopes))
}

/// The `Content-Type` header, if present.
fn content_type(headers: &HeaderMap) -> Result<Option<&str>> {
    headers
        .get(CONTENT_TYPE)
        .map(|value| {
            value.to_str().map_err(|_| IngestError::InvalidHeader {
                header: CONTENT_TYPE.as_str().to_owned(),
                rule: "must be a media type in visible ASCII",
            })
        })
        .transpose()
}

fn unsupported(content_type: &str) -> IngestError {
    IngestError::UnsupportedMediaType {
        content_type: content_type.to_owned(),
        expected: JSON_FORMAT_ONLY,
    }
}

/// A binary-mode event: attributes from `ce-` headers, `Content-Type`, the body.
/// The request's W3C `traceparent` header, when it is valid.
fn request_traceparent(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(herald_telemetry::TRACEPARENT)?.to_str().ok()?.trim();
    herald_telemetry::trace_id_of(value).is_some().then_some(value)
}

fn binary(headers: &HeaderMap, body: &[u8], limits: &Limits) -> Result<Received> {
    let mut attributes = Vec::new();
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix(HEADER_PREFIX) else {
            continue;
        };
        let invalid = |rule| IngestError::InvalidHeader { header: name.as_str().to_owned(), rule };
        let text = value
            .to_str()
            .map_err(|_| invalid("must be visible ASCII (percent-encode other characters)"))?;
        let decoded = percent_decode_str(text)
            .decode_utf8()
            .map_err(|_| invalid("must percent-decode to UTF-8"))?;
        attributes.push((attribute.to_owned(), ExtensionValue::String(decoded.into_owned())));
    }
    let id =
        attributes.iter().find(|(name, _)| name == "id").map(|(_, id)| shown_id(&id.to_string()));
    if let Some(content_type) = content_type(headers)? {
        attributes.push(("datacontenttype".to_owned(), ExtensionValue::from(content_type)));
    }
    Envelope::receive_binary(attributes, body, limits).map_err(|source| IngestError::InvalidEvent {
        index: None,
        id,
        source,
    })
}

/// A structured-mode event, at `index` of a batch or alone.
fn structured(json: &[u8], limits: &Limits, index: Option<usize>) -> Result<Received> {
    Envelope::receive_json(json, limits).map_err(|source| IngestError::InvalidEvent {
        index,
        id: id_of(json),
        source,
    })
}

/// The `id` member of an event that failed to decode, if it can be read at all (the
/// whole body is within its limit, so reading it again costs at most that much).
fn id_of(json: &[u8]) -> Option<String> {
    /// Only the `id` member; the others are skipped.
    #[derive(Deserialize)]
    struct IdOnly {
        id: String,
    }
    serde_json::from_slice::<IdOnly>(json).ok().map(|event| shown_id(&event.id))
}

/// A batch: a JSON array of structured-mode events.
fn batch(body: &[u8], limits: &Limits, max_batch_events: usize) -> Result<Vec<Received>> {
    let whole: &RawValue = serde_json::from_slice(body)
        .map_err(|error| IngestError::MalformedBody { reason: error.to_string() })?;
    let text = whole.get().trim_start();
    if !text.starts_with('[') {
        return Err(IngestError::BatchNotArray { found: json_type(text) });
    }
    let events = bounded(text, max_batch_events)
        .map_err(|error| IngestError::MalformedBody { reason: error.to_string() })?;
    if events.count == 0 {
        return Err(IngestError::EmptyBatch);
    }
    if events.count > max_batch_events {
        return Err(IngestError::TooManyEvents { count: events.count, limit: max_batch_events });
    }
    events
        .first
        .iter()
        .enumerate()
        .map(|(index, event)| structured(event.get().as_bytes(), limits, Some(index)))
        .collect()
}

/// Names the JSON type of a value's text, which starts with its first character.
fn json_type(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// The elements of a JSON array as raw text: the first `keep` of them kept, the rest
/// only counted, so that an enormous batch costs no memory per event.
struct Bounded<'a> {
    /// The elements kept.
    first: Vec<&'a RawValue>,
    /// How many elements the array has.
    count: usize,
}

/// Reads a JSON array, keeping at most `keep` elements.
fn bounded(text: &str, keep: usize) -> serde_json::Result<Bounded<'_>> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let bounded = deserializer.deserialize_seq(BoundedVisitor { keep })?;
    deserializer.end()?;
    Ok(bounded)
}

/// Visits the array of a batch.
struct BoundedVisitor {
    keep: usize,
}

impl<'de> Visitor<'de> for BoundedVisitor {
    type Value = Bounded<'de>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut first = Vec::new();
        while first.len() < self.keep {
            match seq.next_element::<&'de RawValue>()? {
                Some(event) => first.push(event),
                None => return Ok(Bounded { count: first.len(), first }),
            }
        }
        let mut count = first.len();
        while seq.next_element::<IgnoredAny>()?.is_some() {
            count += 1;
        }
        Ok(Bounded { first, count })
    }
}

/// A media type: its lowercase essence (`type/subtype`) and its parameters.
struct MediaType {
    essence: String,
    /// Parameter names (lowercase) and values (unquoted).
    parameters: Vec<(String, String)>,
}

impl MediaType {
    fn parse(text: &str) -> MediaType {
        let mut parts = text.split(';');
        let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let parameters = parts
            .filter_map(|parameter| parameter.split_once('='))
            .map(|(name, value)| {
                let value = value.trim();
                let value =
                    value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
                (name.trim().to_ascii_lowercase(), value.to_owned())
            })
            .collect();
        MediaType { essence, parameters }
    }

    /// Whether the charset, if any, is UTF-8 (JSON is UTF-8, RFC 8259).
    fn charset_is_utf8(&self) -> bool {
        self.parameters.iter().filter(|(name, _)| name == "charset").all(|(_, value)| {
            value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use herald_envelope::{Data, EnvelopeError};

    use super::*;

    const ID: &str = "0190f6a4-7d3e-7cc0-8a4e-7b0a1c2d3e4f";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).expect("a header value"));
        }
        headers
    }

    fn binary_headers() -> Vec<(&'static str, &'static str)> {
        vec![
            ("ce-specversion", "1.0"),
            ("ce-id", ID),
            ("ce-source", "/shop"),
            ("ce-type", "orders.order_placed"),
            ("ce-time", "2024-07-01T12:00:00Z"),
            ("ce-eventkind", "integration"),
            ("ce-schemaversion", "2"),
            ("ce-partitionkey", "order%207"),
            ("ce-tenant", "caf%C3%A9"),
            ("content-type", "application/json"),
        ]
    }

    fn structured_json(id: &str) -> String {
        format!(
            r#"{{"specversion":"1.0","id":"{id}","source":"/shop","type":"orders.order_placed",
            "time":"2024-07-01T12:00:00Z","eventkind":"integration","schemaversion":1,
            "partitionkey":"order-1","data":{{"quantity":1}}}}"#
        )
    }

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const OTHER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn decoded(pairs: &[(&'static str, &str)], body: &str) -> Vec<Envelope> {
        decode(&headers(pairs), body.as_bytes(), &Limits::default(), 10)
            .expect("decodes")
            .1
            .into_iter()
            .map(|received| received.envelope)
            .collect()
    }

    #[test]
    fn the_requests_traceparent_header_traces_each_event_without_one() {
        let mut binary = binary_headers();
        binary.push(("traceparent", TRACEPARENT));
        let events = decoded(&binary, r#"{"quantity":1}"#);
        assert_eq!(events[0].traceparent.as_deref(), Some(TRACEPARENT));

        binary.push(("ce-traceparent", OTHER));
        let events = decoded(&binary, r#"{"quantity":1}"#);
        assert_eq!(events[0].traceparent.as_deref(), Some(OTHER), "the event's own wins");

        let (first, second, third) = (
            "0190f6a4-7d3e-7cc0-8a4e-7b0a1c2d3e50",
            "0190f6a4-7d3e-7cc0-8a4e-7b0a1c2d3e51",
            "0190f6a4-7d3e-7cc0-8a4e-7b0a1c2d3e52",
        );
        let with_own = structured_json(second).replace(
            r#""partitionkey":"order-1","#,
            &format!(r#""partitionkey":"order-1","traceparent":"{OTHER}","#),
        );
        let batch = format!("[{},{with_own}]", structured_json(first));
        let pairs = [("content-type", BATCH_CONTENT_TYPE), ("traceparent", TRACEPARENT)];
        let events = decoded(&pairs, &batch);
        assert_eq!(events[0].traceparent.as_deref(), Some(TRACEPARENT));
        assert_eq!(events[1].traceparent.as_deref(), Some(OTHER));

        let pairs = [("content-type", STRUCTURED_CONTENT_TYPE), ("traceparent", "00-bad")];
        let events = decoded(&pairs, &structured_json(third));
        assert_eq!(events[0].traceparent, None, "a malformed header is ignored");
    }

    #[test]
    fn modes_follow_the_content_type() {
        let mode = |pairs: &[(&'static str, &str)]| content_mode(&headers(pairs));
        assert_eq!(
            mode(&[("content-type", "application/cloudevents+json; charset=UTF-8")]).unwrap(),
            ContentMode::Structured
        );
        assert_eq!(
            mode(&[("content-type", "Application/CloudEvents-Batch+JSON")]).unwrap(),
            ContentMode::Batch
        );
        assert_eq!(
            mode(&[("content-type", "text/plain"), ("CE-SpecVersion", "1.0")]).unwrap(),
            ContentMode::Binary
        );
        assert!(matches!(
            mode(&[("content-type", "application/cloudevents+xml")]),
            Err(IngestError::UnsupportedMediaType { .. })
        ));
        assert!(matches!(
            mode(&[("content-type", "application/cloudevents+json; charset=\"latin1\"")]),
            Err(IngestError::UnsupportedMediaType { .. })
        ));
        assert!(matches!(
            mode(&[("content-type", "text/plain")]),
            Err(IngestError::NotCloudEvent { content_type: Some(_) })
        ));
        assert!(matches!(mode(&[]), Err(IngestError::NotCloudEvent { content_type: None })));
    }

    #[test]
    fn binary_mode_percent_decodes_headers_and_reads_schemaversion_from_text() {
        let (mode, envelopes) =
            decode(&headers(&binary_headers()), br#"{"quantity":1}"#, &Limits::default(), 10)
                .unwrap();
        assert_eq!(mode, ContentMode::Binary);
        let envelope = &envelopes[0].envelope;
        assert_eq!(envelope.schema_version, 2);
        assert_eq!(envelope.partition_key, "order 7");
        assert_eq!(envelope.extensions["tenant"], ExtensionValue::from("café"));
        assert_eq!(envelope.datacontenttype.as_deref(), Some("application/json"));
        assert!(
            matches!(&envelope.data, Some(Data::Json(raw)) if raw.get() == r#"{"quantity":1}"#)
        );
    }

    #[test]
    fn binary_mode_refuses_invalid_utf8_and_names_the_header() {
        let mut pairs = binary_headers();
        pairs.push(("ce-subject", "%C0%A0"));
        let error = decode(&headers(&pairs), b"{}", &Limits::default(), 10).unwrap_err();
        assert!(
            matches!(&error, IngestError::InvalidHeader { header, .. } if header == "ce-subject"),
            "{error}"
        );
    }

    #[test]
    fn binary_mode_without_specversion_names_it() {
        let pairs: Vec<_> =
            binary_headers().into_iter().filter(|(name, _)| *name != "ce-specversion").collect();
        let error = decode(&headers(&pairs), b"{}", &Limits::default(), 10).unwrap_err();
        assert_eq!(error.attribute(), Some("specversion"), "{error}");
        assert_eq!(error.event_id().as_deref(), Some(ID));
    }

    #[test]
    fn a_batch_names_the_index_and_id_of_a_bad_event() {
        let good = structured_json(ID);
        // Any producer's id is accepted; a time that is not RFC 3339 is not.
        let bad = structured_json("not-a-uuid").replace("2024-07-01T12:00:00Z", "yesterday");
        let body = format!("[{good},{bad}]");
        let batch_headers = headers(&[("content-type", BATCH_CONTENT_TYPE)]);
        let error = decode(&batch_headers, body.as_bytes(), &Limits::default(), 10).unwrap_err();
        assert_eq!(error.index(), Some(1), "{error}");
        assert_eq!(error.attribute(), Some("time"), "{error}");
        assert!(error.to_string().starts_with("event at index 1 (id `not-a-uuid`): "), "{error}");
    }

    #[test]
    fn batches_must_be_non_empty_arrays_within_the_limit() {
        let batch_headers = headers(&[("content-type", BATCH_CONTENT_TYPE)]);
        let limits = Limits::default();
        let decode = |body: &str, max| decode(&batch_headers, body.as_bytes(), &limits, max);
        assert!(matches!(decode("[]", 10), Err(IngestError::EmptyBatch)));
        assert!(matches!(
            decode(" {\"a\":1}", 10),
            Err(IngestError::BatchNotArray { found: "an object" })
        ));
        assert!(matches!(decode("[1,", 10), Err(IngestError::MalformedBody { .. })));
        let three = format!("[{0},{0},{0}]", structured_json(ID));
        assert!(matches!(
            decode(&three, 2),
            Err(IngestError::TooManyEvents { count: 3, limit: 2 })
        ));
        assert_eq!(decode(&three, 3).unwrap().1.len(), 3);
    }

    #[test]
    fn an_oversize_event_in_a_batch_is_too_large() {
        let batch_headers = headers(&[("content-type", BATCH_CONTENT_TYPE)]);
        let body = format!("[{}]", structured_json(ID));
        let error = decode(&batch_headers, body.as_bytes(), &Limits { max_event_bytes: 50 }, 10)
            .unwrap_err();
        assert!(
            matches!(
                error,
                IngestError::InvalidEvent { source: EnvelopeError::TooLarge { .. }, .. }
            ),
            "{error}"
        );
    }
}
