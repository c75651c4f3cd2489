//! Where the references of one schema document lead.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::shape::reference;

/// Keywords whose values are data, not subschemas: anchors are not looked for below them.
const DATA_KEYWORDS: &[&str] = &["enum", "const", "default", "examples"];

/// One schema document (the writer's or the reader's), indexed for its local references.
pub(super) struct Document<'a> {
    root: &'a Value,
    /// The document's own URI, its root `$id` without a trailing `#`.
    id: Option<&'a str>,
    /// Plain-name fragments: `$anchor`, `$dynamicAnchor`, and draft-07's `"$id": "#name"`.
    anchors: HashMap<&'a str, &'a Value>,
    /// Whether `$schema` names draft-07 or earlier, where the keywords beside `$ref` are ignored.
    legacy: bool,
}

impl<'a> Document<'a> {
    pub(super) fn new(root: &'a Value) -> Self {
        let text = |key: &str| root.get(key).and_then(Value::as_str);
        let id = text("$id").or_else(|| text("id")).map(|id| id.trim_end_matches('#'));
        let legacy = text("$schema").is_some_and(|schema| {
            ["draft-03", "draft-04", "draft-06", "draft-07"].iter().any(|d| schema.contains(d))
        });
        Document { root, id, anchors: anchors(root), legacy }
    }

    /// Whether the keywords beside a `$ref` are ignored (draft-07 and earlier) rather than
    /// applied with it (draft 2019-09 on, and documents that do not say).
    pub(super) fn ignores_ref_siblings(&self) -> bool {
        self.legacy
    }

    /// The subschema a reference leads to in this document: a JSON pointer (percent-encoded or
    /// not) or a plain name, after nothing or after the document's own `$id`. `None` for any other
    /// document.
    pub(super) fn lookup(&self, reference: &str) -> Option<&'a Value> {
        let (uri, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        if !uri.is_empty() && !self.is_own(uri) {
            return None;
        }
        let fragment = percent_decode(fragment);
        if fragment.is_empty() {
            Some(self.root)
        } else if fragment.starts_with('/') {
            self.root.pointer(&fragment)
        } else {
            self.anchors.get(fragment.as_ref()).copied()
        }
    }

    /// Follows the references of `value` (ignoring the keywords beside them) to a schema without
    /// one, if they lead anywhere in this document.
    pub(super) fn resolve(&self, mut value: &'a Value) -> Option<&'a Value> {
        for _ in 0..64 {
            match value.as_object().and_then(reference) {
                Some(reference) => value = self.lookup(reference)?,
                None => return Some(value),
            }
        }
        None
    }

    /// Whether `value` gives a `default`, beside its reference or at its end.
    pub(super) fn has_default(&self, value: &'a Value) -> bool {
        value.get("default").is_some()
            || self.resolve(value).is_some_and(|v| v.get("default").is_some())
    }

    /// Whether `uri` (before a `#`) names this document: its `$id`, or the last segment of it.
    fn is_own(&self, uri: &str) -> bool {
        self.id.is_some_and(|id| {
            id == uri
                || (!uri.contains(['/', ':'])
                    && id.strip_suffix(uri).is_some_and(|base| base.ends_with('/')))
        })
    }
}

/// The anchors of a document, first one of each name kept, found without recursion.
fn anchors(root: &Value) -> HashMap<&str, &Value> {
    let mut found = HashMap::new();
    let mut stack = vec![root];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                for name in anchor_names(map) {
                    found.entry(name).or_insert(value);
                }
                let subschemas = map.iter().filter(|(k, _)| !DATA_KEYWORDS.contains(&k.as_str()));
                stack.extend(subschemas.map(|(_, v)| v));
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

fn anchor_names(map: &Map<String, Value>) -> impl Iterator<Item = &str> {
    let text = |key: &str| map.get(key).and_then(Value::as_str);
    let plain = [text("$anchor"), text("$dynamicAnchor")].into_iter().flatten();
    let ids = [text("$id"), text("id")].into_iter().flatten().filter_map(|id| id.strip_prefix('#'));
    plain.chain(ids).filter(|name| !name.is_empty() && !name.starts_with('/'))
}

/// `text` with its `%XX` escapes decoded, as URI fragments are; unchanged if that is not UTF-8.
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes.get(index + 1..index + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[index], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded).map_or(Cow::Borrowed(text), Cow::Owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn references_lead_to_pointers_anchors_and_the_own_id() {
        let root = json!({"$id": "https://example.com/s/order.json#",
                          "$defs": {"a b": {"$anchor": "ab", "type": "string"},
                                    "c/d": {"$dynamicAnchor": "cd"}},
                          "enum": [{"$anchor": "data"}]});
        let document = Document::new(&root);
        let ab = &root["$defs"]["a b"];
        for reference in
            ["#/$defs/a%20b", "#ab", "https://example.com/s/order.json#ab", "order.json#ab"]
        {
            assert_eq!(document.lookup(reference), Some(ab), "{reference}");
        }
        assert_eq!(document.lookup("#cd"), Some(&root["$defs"]["c/d"]));
        assert_eq!(document.lookup("#/$defs/c~1d"), Some(&root["$defs"]["c/d"]));
        assert_eq!(document.lookup("#"), Some(&root));
        assert_eq!(document.lookup("#data"), None);
        assert_eq!(document.lookup("other.json#ab"), None);
        assert_eq!(document.lookup("https://example.com/order.json#ab"), None);
        assert!(!document.ignores_ref_siblings());
    }

    #[test]
    fn draft_07_and_earlier_ignore_the_keywords_beside_a_ref() {
        let draft = |uri: &str| Document::new(&json!({"$schema": uri})).ignores_ref_siblings();
        assert!(draft("http://json-schema.org/draft-07/schema#"));
        assert!(draft("http://json-schema.org/draft-04/schema#"));
        assert!(!draft("https://json-schema.org/draft/2019-09/schema"));
        assert!(!draft("https://json-schema.org/draft/2020-12/schema"));
    }

    #[test]
    fn percent_escapes_are_decoded_when_they_make_utf_8() {
        assert_eq!(percent_decode("/a%20b%7E"), "/a b~");
        assert_eq!(percent_decode("/a%2"), "/a%2");
        assert_eq!(percent_decode("/%FF"), "/%FF");
    }
}
