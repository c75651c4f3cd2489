//! The binary-mode scenario of the CloudEvents SDKs' `http-protocol-binding.feature`, read
//! from `/work/shared/conformance/cloudevents` (not copied into this repository): an
//! envelope with the scenario's attributes must produce the scenario's request, and
//! decoding that request must give the scenario's attributes and data.
//!
//! Herald's `id` is a UUID, so the scenario's `1234-1234-1234` is replaced by one, and
//! the required Herald extensions are added (they become extra `ce-` headers).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::DateTime;
use herald_envelope::{Data, Envelope, EventId, EventKind};
use herald_http::binary_request;
use herald_http::binding::decode_header_value;
use serde_json::Value;
use serde_json::value::RawValue;

/// The binary-mode scenario, parsed.
struct Scenario {
    /// The request's headers, names in lower case, `<contentType>` left in place.
    headers: BTreeMap<String, String>,
    /// The request body.
    body: String,
    /// The `<contentType>` examples.
    content_types: Vec<String>,
    /// The expected attributes, `<contentType>` left in place.
    attributes: BTreeMap<String, String>,
    /// The expected data.
    data: Value,
}

/// Returns the conformance folder, or `None` (after a note) when it is missing outside CI.
fn conformance_dir() -> Option<PathBuf> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let dir = Path::new(&manifest_dir).join("../../../shared/conformance/cloudevents");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CloudEvents conformance files are missing at {}",
        dir.display()
    );
    eprintln!("note: skipping, no CloudEvents conformance files at {}", dir.display());
    None
}

/// The lines of the binary-mode scenario outline, up to the next scenario.
fn binary_scenario_lines(feature: &str) -> Vec<&str> {
    feature
        .lines()
        .map(str::trim)
        .skip_while(|line| !line.starts_with("Scenario Outline: Binary content mode"))
        .skip(1)
        .take_while(|line| !line.starts_with("Scenario"))
        .collect()
}

/// The doc strings (`"""` blocks) of a scenario, in order.
fn doc_strings(lines: &[&str]) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in lines {
        match (line.starts_with("\"\"\""), current.take()) {
            (true, None) => current = Some(Vec::new()),
            (true, Some(block)) => blocks.push(block),
            (false, Some(mut block)) => {
                block.push((*line).to_owned());
                current = Some(block);
            }
            (false, None) => {}
        }
    }
    blocks
}

/// The cells of the table rows (`| a | b |`) after `heading`, header row included.
fn table_after(lines: &[&str], heading: &str) -> Vec<Vec<String>> {
    lines
        .iter()
        .skip_while(|line| !line.starts_with(heading))
        .skip(1)
        .take_while(|line| line.starts_with('|'))
        .map(|line| line.trim_matches('|').split('|').map(|cell| cell.trim().to_owned()).collect())
        .collect()
}

fn parse_scenario(feature: &str) -> Scenario {
    let lines = binary_scenario_lines(feature);
    let blocks = doc_strings(&lines);
    let [request, data] = blocks.as_slice() else {
        panic!("expected a request and a data doc string, found {}", blocks.len())
    };
    let blank = request.iter().position(String::is_empty).expect("a blank line before the body");
    let headers = request[1..blank]
        .iter()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let attributes = table_after(&lines, "Then the attributes are:")
        .into_iter()
        .skip(1)
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();
    let content_types =
        table_after(&lines, "Examples:").into_iter().skip(1).map(|row| row[0].clone()).collect();
    Scenario {
        headers,
        body: request[blank + 1..].join("\n"),
        content_types,
        attributes,
        data: serde_json::from_str(&data.join("\n")).expect("the expected data is JSON"),
    }
}

/// The envelope the scenario describes, for one `<contentType>`.
fn envelope_of(scenario: &Scenario, content_type: &str) -> Envelope {
    let header = |name: &str| scenario.headers[name].clone();
    Envelope {
        id: EventId::new(),
        source: header("ce-source"),
        event_type: header("ce-type"),
        time: DateTime::parse_from_rfc3339(&header("ce-time")).unwrap().to_utc(),
        datacontenttype: Some(content_type.to_owned()),
        dataschema: None,
        subject: None,
        kind: EventKind::Integration,
        schema_version: 1,
        partition_key: "key-1".into(),
        sequence: None,
        traceparent: None,
        extensions: BTreeMap::new(),
        data: Some(Data::Json(RawValue::from_string(scenario.body.clone()).unwrap())),
    }
}

#[test]
fn binary_mode_requests_match_the_http_binding_scenario() {
    let Some(dir) = conformance_dir() else { return };
    let feature = std::fs::read_to_string(dir.join("http-protocol-binding.feature")).unwrap();
    let scenario = parse_scenario(&feature);
    assert_eq!(scenario.content_types.len(), 2, "both <contentType> examples are read");

    for content_type in &scenario.content_types {
        let envelope = envelope_of(&scenario, content_type);
        let request = binary_request(&envelope).unwrap();
        let sent = |name: &str| {
            let value = request.headers.get(name).unwrap_or_else(|| panic!("no {name}"));
            value.to_str().unwrap().to_owned()
        };
        for (name, value) in &scenario.headers {
            let expected = value.replace("<contentType>", content_type);
            match name.as_str() {
                "host" | "content-length" => {}
                "ce-id" => assert_eq!(sent(name), envelope.id.to_string()),
                _ => assert_eq!(sent(name), expected, "{name} for {content_type}"),
            }
        }
        for (attribute, value) in &scenario.attributes {
            let decoded = match attribute.as_str() {
                "id" => continue,
                "datacontenttype" => sent("content-type"),
                name => decode_header_value(&sent(&format!("ce-{name}"))).unwrap(),
            };
            assert_eq!(decoded, value.replace("<contentType>", content_type), "{attribute}");
        }
        let data: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(data, scenario.data);
        assert_eq!(request.body, scenario.body.as_bytes(), "the data is sent as it was written");
    }
}
