//! The compatibility matrix per keyword, for the keywords of draft-07 and of draft 2020-12: for
//! each keyword, changes BACKWARD accepts and changes it rejects, each also checked under FORWARD
//! (the old schema reads data written with the new one) and FULL (both), every failure pinned to
//! its Confluent difference kind and JSON pointer.
//!
//! Kinds are named by their Confluent names (`"MIN_CONTAINS_ADDED"`), as the registry reports them.

use herald_schema_compat::{
    CompatibilityLevel as L, Direction, Incompatibility, check, differences,
};
use serde_json::{Value, json};

/// What a check in one direction finds.
#[derive(Clone, Copy, Debug)]
enum Verdict {
    /// Nothing incompatible.
    Passes,
    /// At least this kind at this pointer, and only incompatible kinds.
    Fails(&'static str, &'static str),
}

use Verdict::{Fails, Passes};

/// A change from `old` to `new`: what BACKWARD finds (the new schema reads data written with the
/// old one) and what FORWARD finds (the old schema reads data written with the new one).
struct Change {
    name: &'static str,
    old: Value,
    new: Value,
    backward: Verdict,
    forward: Verdict,
}

fn change(
    name: &'static str,
    old: Value,
    new: Value,
    backward: Verdict,
    forward: Verdict,
) -> Change {
    Change { name, old, new, backward, forward }
}

/// `schema` with `keywords` (an object) added or replaced.
fn with(mut schema: Value, keywords: Value) -> Value {
    let Value::Object(keywords) = keywords else { panic!("keywords are an object") };
    for (keyword, value) in keywords {
        schema[keyword] = value;
    }
    schema
}

fn array(keywords: Value) -> Value {
    with(json!({"type": "array"}), keywords)
}

fn object(keywords: Value) -> Value {
    with(json!({"type": "object"}), keywords)
}

/// Why `found`, in `direction`, does not match `expected`, if it does not.
fn mismatch(found: &[Incompatibility], direction: Direction, expected: Verdict) -> Option<String> {
    let found: Vec<&Incompatibility> = found.iter().filter(|i| i.direction == direction).collect();
    let listed = || {
        found.iter().map(|i| format!("{} at {}", i.kind, i.pointer)).collect::<Vec<_>>().join(", ")
    };
    match expected {
        Passes if found.is_empty() => None,
        Passes => Some(format!("{direction:?} should pass, found [{}]", listed())),
        Fails(kind, pointer) => {
            let hit = found.iter().any(|i| i.kind.name() == kind && i.pointer == pointer);
            (!hit).then(|| {
                format!("{direction:?} should find {kind} at {pointer}, found [{}]", listed())
            })
        }
    }
}

/// Checks every change under BACKWARD, FORWARD and FULL, and that neither schema differs from
/// itself; fails naming every change that is classified otherwise.
#[track_caller]
fn assert_matrix(changes: &[Change]) {
    let mut wrong = Vec::new();
    for c in changes {
        let levels = [
            (L::Backward, vec![(Direction::Backward, c.backward)]),
            (L::Forward, vec![(Direction::Forward, c.forward)]),
            (L::Full, vec![(Direction::Backward, c.backward), (Direction::Forward, c.forward)]),
        ];
        for (level, expected) in levels {
            let found = match check(&c.new, std::slice::from_ref(&c.old), level) {
                Ok(found) => found,
                Err(error) => {
                    wrong.push(format!("{}: {level}: {error}", c.name));
                    continue;
                }
            };
            for (direction, verdict) in expected {
                if let Some(problem) = mismatch(&found, direction, verdict) {
                    wrong.push(format!("{}: {level}: {problem}", c.name));
                }
            }
        }
        for schema in [&c.old, &c.new] {
            match differences(schema, schema) {
                Ok(found) if found.is_empty() => {}
                found => wrong.push(format!("{}: {schema} differs from itself: {found:?}", c.name)),
            }
        }
    }
    assert!(wrong.is_empty(), "{} misclassified:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn prefix_items_are_compared_like_draft_07_tuple_items() {
    let string = json!({"type": "string"});
    assert_matrix(&[
        change(
            "item added to a closed tuple",
            array(json!({"prefixItems": [string], "items": false})),
            array(json!({"prefixItems": [string, {"type": "integer"}], "items": false})),
            Passes,
            Fails("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", "#/prefixItems/1"),
        ),
        change(
            "item added to an open tuple",
            array(json!({"prefixItems": [string]})),
            array(json!({"prefixItems": [string, {"type": "integer"}]})),
            Fails("ITEM_ADDED_TO_OPEN_CONTENT_MODEL", "#/prefixItems/1"),
            Passes,
        ),
        change(
            "item retyped",
            array(json!({"prefixItems": [string]})),
            array(json!({"prefixItems": [{"type": "integer"}]})),
            Fails("TYPE_CHANGED", "#/prefixItems/0"),
            Fails("TYPE_CHANGED", "#/prefixItems/0"),
        ),
        change(
            "item widened",
            array(json!({"prefixItems": [{"type": "integer"}]})),
            array(json!({"prefixItems": [{"type": "number"}]})),
            Passes,
            Fails("TYPE_NARROWED", "#/prefixItems/0"),
        ),
        change(
            "draft-07 tuple rewritten with prefixItems",
            array(json!({"items": [string], "additionalItems": false})),
            array(json!({"prefixItems": [string], "items": false})),
            Passes,
            Passes,
        ),
    ]);
}

#[test]
fn items_beside_prefix_items_are_compared_like_additional_items() {
    let string = json!({"type": "string"});
    assert_matrix(&[
        change(
            "items closed",
            array(json!({"prefixItems": [string]})),
            array(json!({"prefixItems": [string], "items": false})),
            Fails("ADDITIONAL_ITEMS_REMOVED", "#/items"),
            Passes,
        ),
        change(
            "items constrained",
            array(json!({"prefixItems": [string]})),
            array(json!({"prefixItems": [string], "items": {"type": "integer"}})),
            Fails("ADDITIONAL_ITEMS_NARROWED", "#/items"),
            Passes,
        ),
        change(
            "items widened",
            array(json!({"prefixItems": [string], "items": {"type": "integer"}})),
            array(json!({"prefixItems": [string], "items": {"type": "number"}})),
            Passes,
            Fails("TYPE_NARROWED", "#/items"),
        ),
        change(
            "item removed and covered by items",
            array(json!({"prefixItems": [string, string], "items": false})),
            array(json!({"prefixItems": [string], "items": string})),
            Passes,
            Fails("ADDITIONAL_ITEMS_REMOVED", "#/items"),
        ),
    ]);
}

#[test]
fn contains_and_its_counts_are_compared_like_item_counts() {
    let string = json!({"type": "string"});
    assert_matrix(&[
        change(
            "contains added",
            array(json!({})),
            array(json!({"contains": string})),
            Fails("MIN_CONTAINS_ADDED", "#/minContains"),
            Passes,
        ),
        change(
            "minContains raised",
            array(json!({"contains": string, "minContains": 1})),
            array(json!({"contains": string, "minContains": 2})),
            Fails("MIN_CONTAINS_INCREASED", "#/minContains"),
            Passes,
        ),
        change(
            "maxContains added",
            array(json!({"contains": string})),
            array(json!({"contains": string, "maxContains": 3})),
            Fails("MAX_CONTAINS_ADDED", "#/maxContains"),
            Passes,
        ),
        change(
            "maxContains raised",
            array(json!({"contains": string, "maxContains": 2})),
            array(json!({"contains": string, "maxContains": 5})),
            Passes,
            Fails("MAX_CONTAINS_DECREASED", "#/maxContains"),
        ),
        change(
            "contains narrowed",
            array(json!({"contains": {"type": "number"}})),
            array(json!({"contains": {"type": "integer"}})),
            Fails("TYPE_NARROWED", "#/contains"),
            Passes,
        ),
        change(
            "contains widened under a maxContains",
            array(json!({"contains": {"type": "integer"}, "maxContains": 2})),
            array(json!({"contains": {"type": "number"}, "maxContains": 2})),
            Fails("MAX_CONTAINS_ADDED", "#/maxContains"),
            Fails("TYPE_NARROWED", "#/contains"),
        ),
    ]);
}

#[test]
fn dependent_required_is_compared_like_dependency_arrays() {
    assert_matrix(&[
        change(
            "dependency extended",
            object(json!({"dependentRequired": {"a": ["b"]}})),
            object(json!({"dependentRequired": {"a": ["b", "c"]}})),
            Fails("DEPENDENCY_ARRAY_EXTENDED", "#/dependentRequired/a"),
            Passes,
        ),
        change(
            "dependency added",
            object(json!({})),
            object(json!({"dependentRequired": {"a": ["b"]}})),
            Fails("DEPENDENCY_ARRAY_ADDED", "#/dependentRequired/a"),
            Passes,
        ),
        change(
            "dependency changed",
            object(json!({"dependentRequired": {"a": ["b"]}})),
            object(json!({"dependentRequired": {"a": ["c"]}})),
            Fails("DEPENDENCY_ARRAY_CHANGED", "#/dependentRequired/a"),
            Fails("DEPENDENCY_ARRAY_CHANGED", "#/dependentRequired/a"),
        ),
        change(
            "draft-07 dependencies rewritten with dependentRequired",
            object(json!({"dependencies": {"a": ["b"]}})),
            object(json!({"dependentRequired": {"a": ["b"]}})),
            Passes,
            Passes,
        ),
    ]);
}

#[test]
fn dependent_schemas_are_compared_like_schema_dependencies() {
    let properties = json!({"a": {}, "b": {}, "c": {}});
    assert_matrix(&[
        change(
            "schema dependency added",
            object(json!({"properties": properties})),
            object(
                json!({"properties": properties, "dependentSchemas": {"a": {"required": ["b"]}}}),
            ),
            Fails("DEPENDENCY_SCHEMA_ADDED", "#/dependentSchemas/a"),
            Passes,
        ),
        change(
            "schema dependency widened",
            object(json!({"dependentSchemas": {"a": {"properties": {"b": {"type": "integer"}}}}})),
            object(json!({"dependentSchemas": {"a": {"properties": {"b": {"type": "number"}}}}})),
            Passes,
            Fails("TYPE_NARROWED", "#/dependentSchemas/a/properties/b"),
        ),
        change(
            "schema dependency added beside a dependentRequired of the same property",
            object(json!({"dependentRequired": {"a": ["b"]}})),
            object(json!({"dependentRequired": {"a": ["b"]},
                           "dependentSchemas": {"a": {"required": ["c"]}}})),
            Fails("DEPENDENCY_SCHEMA_ADDED", "#/dependentSchemas/a"),
            Passes,
        ),
        change(
            "draft-07 dependency turned from an array into a schema",
            object(json!({"dependencies": {"a": ["b"]}})),
            object(json!({"dependencies": {"a": {"required": ["b", "c"]}}})),
            Fails("DEPENDENCY_SCHEMA_ADDED", "#/dependencies/a"),
            Fails("DEPENDENCY_ARRAY_ADDED", "#/dependencies/a"),
        ),
    ]);
}

#[test]
fn unevaluated_properties_are_compared_like_additional_properties() {
    let a = json!({"a": {"type": "string"}});
    let ab = json!({"a": {"type": "string"}, "b": {"type": "string"}});
    assert_matrix(&[
        change(
            "closed",
            object(json!({"properties": a})),
            object(json!({"properties": a, "unevaluatedProperties": false})),
            Fails("UNEVALUATED_PROPERTIES_REMOVED", "#/unevaluatedProperties"),
            Passes,
        ),
        change(
            "constrained",
            object(json!({"properties": a})),
            object(json!({"properties": a, "unevaluatedProperties": {"type": "string"}})),
            Fails("UNEVALUATED_PROPERTIES_NARROWED", "#/unevaluatedProperties"),
            Passes,
        ),
        change(
            "widened",
            object(json!({"unevaluatedProperties": {"type": "integer"}})),
            object(json!({"unevaluatedProperties": {"type": "number"}})),
            Passes,
            Fails("TYPE_NARROWED", "#/unevaluatedProperties"),
        ),
        change(
            "optional property added to a model closed by unevaluatedProperties",
            object(json!({"properties": a, "unevaluatedProperties": false})),
            object(json!({"properties": ab, "unevaluatedProperties": false})),
            Passes,
            Fails("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "#/properties/b"),
        ),
        change(
            "additionalProperties: false rewritten as unevaluatedProperties: false",
            object(json!({"properties": a, "additionalProperties": false})),
            object(json!({"properties": a, "unevaluatedProperties": false})),
            Passes,
            Passes,
        ),
    ]);
}

/// `unevaluatedProperties` also sees the properties that in-place applicators (`allOf`, `$ref`,
/// `oneOf`, ...) evaluate: a change of those applicators changes what it lets through.
#[test]
fn unevaluated_properties_see_through_in_place_applicators() {
    let defs = |base: Value| json!({"base": base});
    let base = |names: [&str; 2]| {
        let properties: serde_json::Map<String, Value> =
            names.iter().map(|name| ((*name).to_owned(), json!({"type": "string"}))).collect();
        object(json!({ "properties": properties }))
    };
    let (base_ab, base_ad) = (base(["a", "b"]), base(["a", "d"]));
    let variant = |tag: &str| {
        object(
            json!({"properties": {"t": {"const": tag}, tag: {"type": "string"}}, "required": ["t"]}),
        )
    };
    let schema = |base: &Value, extra: Value| {
        let schema = json!({"$defs": defs(base.clone()), "allOf": [{"$ref": "#/$defs/base"}],
                            "properties": {"c": {"type": "string"}}});
        with(schema, extra)
    };
    assert_matrix(&[
        change(
            "closed beside an allOf",
            schema(&base_ab, json!({})),
            schema(&base_ab, json!({"unevaluatedProperties": false})),
            Fails("UNEVALUATED_PROPERTIES_REMOVED", "#/unevaluatedProperties"),
            Passes,
        ),
        change(
            "closed beside an allOf and nothing else",
            json!({"$defs": defs(base_ab.clone()), "allOf": [{"$ref": "#/$defs/base"}]}),
            json!({"$defs": defs(base_ab.clone()), "allOf": [{"$ref": "#/$defs/base"}],
                   "unevaluatedProperties": false}),
            Fails("UNEVALUATED_PROPERTIES_REMOVED", "#/unevaluatedProperties"),
            Passes,
        ),
        change(
            "property renamed in the allOf of a closed model",
            schema(&base_ab, json!({"unevaluatedProperties": false})),
            schema(&base_ad, json!({"unevaluatedProperties": false})),
            Fails("UNEVALUATED_PROPERTIES_REMOVED", "#/unevaluatedProperties"),
            Fails("UNEVALUATED_PROPERTIES_REMOVED", "#/unevaluatedProperties"),
        ),
        change(
            "property beside the allOf retyped",
            schema(&base_ab, json!({"unevaluatedProperties": false})),
            {
                let mut new = schema(&base_ab, json!({"unevaluatedProperties": false}));
                new["properties"]["c"] = json!({"type": "integer"});
                new
            },
            Fails("TYPE_CHANGED", "#/properties/c"),
            Fails("TYPE_CHANGED", "#/properties/c"),
        ),
        change(
            "variant added to the oneOf of a closed model",
            with(
                json!({"oneOf": [variant("a"), variant("b")]}),
                json!({"unevaluatedProperties": false}),
            ),
            with(
                json!({"oneOf": [variant("a"), variant("b"), variant("c")]}),
                json!({"unevaluatedProperties": false}),
            ),
            Passes,
            Fails("SUM_TYPE_NARROWED", "#/"),
        ),
        change(
            "description changed in a closed model",
            schema(&base_ab, json!({"unevaluatedProperties": false})),
            schema(&base_ab, json!({"unevaluatedProperties": false, "description": "v2"})),
            Passes,
            Passes,
        ),
    ]);
}

#[test]
fn unevaluated_items_are_compared_like_additional_items() {
    let string = json!({"type": "string"});
    assert_matrix(&[
        change(
            "closed",
            array(json!({"prefixItems": [string]})),
            array(json!({"prefixItems": [string], "unevaluatedItems": false})),
            Fails("UNEVALUATED_ITEMS_REMOVED", "#/unevaluatedItems"),
            Passes,
        ),
        change(
            "constraint dropped",
            array(json!({"unevaluatedItems": string})),
            array(json!({})),
            Passes,
            Fails("UNEVALUATED_ITEMS_NARROWED", "#/unevaluatedItems"),
        ),
        change(
            "item added to a tuple closed by unevaluatedItems",
            array(json!({"prefixItems": [string], "unevaluatedItems": false})),
            array(json!({"prefixItems": [string, {"type": "integer"}], "unevaluatedItems": false})),
            Passes,
            Fails("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", "#/prefixItems/1"),
        ),
    ]);
}

/// A schema whose property `a` refers with `reference` to the object `{zip}`, kept in `$defs` under
/// a name with a space and with the `$anchor` `addr`.
fn address(reference: &str, zip: &str) -> Value {
    json!({"type": "object", "properties": {"a": {"$ref": reference}},
           "$defs": {"postal address": {"$anchor": "addr", "type": "object",
                                        "properties": {"zip": {"type": zip}}}}})
}

#[test]
fn defs_and_anchors_are_resolved_like_definitions() {
    let with_id = |zip: &str| {
        let mut schema = address("https://example.com/order.json#/$defs/postal%20address", zip);
        schema["$id"] = json!("https://example.com/order.json");
        schema
    };
    let draft_07_anchor = |zip: &str| {
        json!({"$schema": "http://json-schema.org/draft-07/schema#",
               "properties": {"a": {"$ref": "#addr"}},
               "definitions": {"Address": {"$id": "#addr", "properties": {"zip": {"type": zip}}}}})
    };
    let dynamic = |zip: &str| {
        json!({"properties": {"a": {"$dynamicRef": "#addr"}},
               "$defs": {"Address": {"$dynamicAnchor": "addr", "properties": {"zip": {"type": zip}}}}})
    };
    assert_matrix(&[
        change(
            "change behind an $anchor",
            address("#addr", "string"),
            address("#addr", "integer"),
            Fails("TYPE_CHANGED", "#/properties/a/properties/zip"),
            Fails("TYPE_CHANGED", "#/properties/a/properties/zip"),
        ),
        change(
            "change behind a percent-encoded $defs name",
            address("#/$defs/postal%20address", "integer"),
            address("#/$defs/postal%20address", "number"),
            Passes,
            Fails("TYPE_NARROWED", "#/properties/a/properties/zip"),
        ),
        change(
            "change behind a $ref through the schema's own $id",
            with_id("string"),
            with_id("integer"),
            Fails("TYPE_CHANGED", "#/properties/a/properties/zip"),
            Fails("TYPE_CHANGED", "#/properties/a/properties/zip"),
        ),
        change(
            "change behind a draft-07 $id anchor",
            draft_07_anchor("string"),
            draft_07_anchor("integer"),
            Fails("TYPE_CHANGED", "#/properties/a/properties/zip"),
            Fails("TYPE_CHANGED", "#/properties/a/properties/zip"),
        ),
        change(
            "change behind a $dynamicRef",
            dynamic("string"),
            dynamic("integer"),
            Fails("TYPE_CHANGED", "#/properties/a/properties/zip"),
            Fails("TYPE_CHANGED", "#/properties/a/properties/zip"),
        ),
        change(
            "$anchor reference rewritten as a $defs pointer",
            address("#addr", "string"),
            address("#/$defs/postal%20address", "string"),
            Passes,
            Passes,
        ),
    ]);
}

/// From draft 2019-09 on, `$ref` is an applicator like `allOf`: the keywords beside it apply too.
/// Draft-07 ignores them.
#[test]
fn keywords_beside_a_ref_apply_from_draft_2019_09_on() {
    let name = |extra: Value| {
        let property = with(json!({"$ref": "#/$defs/name"}), extra);
        json!({"type": "object", "properties": {"name": property},
               "$defs": {"name": {"type": "string"}}})
    };
    let draft_07 = |extra: Value| {
        let mut schema = name(extra);
        schema["$schema"] = json!("http://json-schema.org/draft-07/schema#");
        schema
    };
    assert_matrix(&[
        change(
            "maxLength added beside a $ref",
            name(json!({})),
            name(json!({"maxLength": 3})),
            Fails("MAX_LENGTH_ADDED", "#/properties/name/maxLength"),
            Passes,
        ),
        change(
            "maxLength beside a $ref lowered",
            name(json!({"maxLength": 5})),
            name(json!({"maxLength": 3})),
            Fails("MAX_LENGTH_DECREASED", "#/properties/name/maxLength"),
            Passes,
        ),
        change(
            "description beside a $ref changed",
            name(json!({"description": "old"})),
            name(json!({"description": "new"})),
            Passes,
            Passes,
        ),
        change(
            "maxLength added beside a draft-07 $ref, which ignores it",
            draft_07(json!({})),
            draft_07(json!({"maxLength": 3})),
            Passes,
            Passes,
        ),
    ]);
}

/// `allOf`, `anyOf`, `oneOf` and `not` constrain the same instance as the keywords beside them.
#[test]
fn keywords_beside_a_combinator_are_compared() {
    let tagged = |kind: &str, extra: Value| {
        let schema = json!({"type": "object", "properties": {"id": {"type": kind}},
            "oneOf": [{"properties": {"t": {"const": "a"}}, "required": ["t"]},
                      {"properties": {"t": {"const": "b"}}, "required": ["t"]}]});
        with(schema, extra)
    };
    assert_matrix(&[
        change(
            "property beside a oneOf retyped",
            tagged("string", json!({})),
            tagged("integer", json!({})),
            Fails("TYPE_CHANGED", "#/properties/id"),
            Fails("TYPE_CHANGED", "#/properties/id"),
        ),
        change(
            "property beside a oneOf widened",
            tagged("integer", json!({})),
            tagged("number", json!({})),
            Passes,
            Fails("TYPE_NARROWED", "#/properties/id"),
        ),
        change(
            "required added beside a oneOf",
            json!({"oneOf": [{"properties": {"t": {"const": "a"}}}, {"properties": {"t": {"const": "b"}}}]}),
            json!({"oneOf": [{"properties": {"t": {"const": "a"}}}, {"properties": {"t": {"const": "b"}}}],
                   "required": ["id"]}),
            Fails("REQUIRED_ATTRIBUTE_ADDED", "#/required/id"),
            Passes,
        ),
        change(
            "object type added beside a oneOf of objects",
            json!({"oneOf": [object(json!({"required": ["a"]})), object(json!({"required": ["b"]}))]}),
            json!({"type": "object",
                   "oneOf": [object(json!({"required": ["a"]})), object(json!({"required": ["b"]}))]}),
            Passes,
            Passes,
        ),
        change(
            "not added beside a type",
            json!({"type": "string"}),
            json!({"type": "string", "not": {"const": ""}}),
            Fails("PRODUCT_TYPE_EXTENDED", "#/not"),
            Passes,
        ),
        change(
            "number type beside a not narrowed to integer",
            json!({"type": "number", "not": {"const": 0}}),
            json!({"type": "integer", "not": {"const": 0}}),
            Fails("TYPE_NARROWED", "#/"),
            Passes,
        ),
    ]);
}

#[test]
fn const_is_compared_like_a_single_value_enum() {
    assert_matrix(&[
        change(
            "const relaxed to an enum",
            json!({"const": "a"}),
            json!({"enum": ["a", "b"]}),
            Passes,
            Fails("ENUM_ARRAY_NARROWED", "#/const"),
        ),
        change(
            "const changed",
            json!({"type": "string", "const": "a"}),
            json!({"type": "string", "const": "b"}),
            Fails("ENUM_ARRAY_CHANGED", "#/const"),
            Fails("ENUM_ARRAY_CHANGED", "#/const"),
        ),
        change(
            "const added beside an enum",
            json!({"enum": ["a", "b"]}),
            json!({"enum": ["a", "b"], "const": "a"}),
            Fails("ENUM_ARRAY_NARROWED", "#/const"),
            Passes,
        ),
    ]);
}

#[test]
fn content_keywords_are_compared_conservatively() {
    let media = |content_type: &str, content_schema: Value| json!({"type": "string", "contentMediaType": content_type, "contentSchema": content_schema});
    assert_matrix(&[
        change(
            "contentEncoding added",
            json!({"type": "string"}),
            json!({"type": "string", "contentEncoding": "base64"}),
            Fails("TYPE_NARROWED", "#/contentEncoding"),
            Passes,
        ),
        change(
            "contentEncoding changed on an untyped schema",
            json!({"contentEncoding": "base64"}),
            json!({"contentEncoding": "base32"}),
            Fails("TYPE_CHANGED", "#/contentEncoding"),
            Fails("TYPE_CHANGED", "#/contentEncoding"),
        ),
        change(
            "contentMediaType changed",
            media("application/json", json!({})),
            media("text/plain", json!({})),
            Fails("TYPE_CHANGED", "#/contentMediaType"),
            Fails("TYPE_CHANGED", "#/contentMediaType"),
        ),
        change(
            "contentSchema narrowed",
            media("application/json", json!({"type": "number"})),
            media("application/json", json!({"type": "integer"})),
            Fails("TYPE_NARROWED", "#/contentSchema"),
            Passes,
        ),
    ]);
}

#[test]
fn property_names_are_compared() {
    assert_matrix(&[
        change(
            "propertyNames added",
            object(json!({})),
            object(json!({"propertyNames": {"maxLength": 3}})),
            Fails("SCHEMA_ADDED", "#/propertyNames"),
            Passes,
        ),
        change(
            "propertyNames widened",
            object(json!({"propertyNames": {"maxLength": 3}})),
            object(json!({"propertyNames": {"maxLength": 5}})),
            Passes,
            Fails("MAX_LENGTH_DECREASED", "#/propertyNames/maxLength"),
        ),
        change(
            "propertyNames pattern changed",
            object(json!({"propertyNames": {"pattern": "^[a-z]+$"}})),
            object(json!({"propertyNames": {"pattern": "^[a-z_]+$"}})),
            Fails("PATTERN_CHANGED", "#/propertyNames/pattern"),
            Fails("PATTERN_CHANGED", "#/propertyNames/pattern"),
        ),
        change(
            "propertyNames added to an untyped schema",
            json!({}),
            json!({"propertyNames": {"maxLength": 3}}),
            Fails("TYPE_CHANGED", "#/"),
            Passes,
        ),
    ]);
}

#[test]
fn conditionals_are_compared_conservatively() {
    let kind_is =
        |kinds: Value| json!({"properties": {"kind": {"enum": kinds}}, "required": ["kind"]});
    let base = |extra: Value| {
        with(object(json!({"properties": {"kind": {"type": "string"}, "x": {}}})), extra)
    };
    let x = |ty: &str| json!({"properties": {"x": {"type": ty}}});
    assert_matrix(&[
        change(
            "conditional added",
            base(json!({})),
            base(json!({"if": kind_is(json!(["a"])), "then": {"required": ["x"]}})),
            Fails("SCHEMA_ADDED", "#/if"),
            Passes,
        ),
        change(
            "conditional added to an untyped schema",
            json!({}),
            json!({"if": kind_is(json!(["a"])), "then": {"required": ["x"]}}),
            Fails("SCHEMA_ADDED", "#/if"),
            Passes,
        ),
        change(
            "conditional added to a property that accepted anything",
            object(json!({"properties": {"x": true}})),
            object(
                json!({"properties": {"x": {"if": {"type": "string"}, "then": {"maxLength": 3}}}}),
            ),
            Fails("SCHEMA_ADDED", "#/properties/x/if"),
            Passes,
        ),
        change(
            "then narrowed",
            base(json!({"if": kind_is(json!(["a"])), "then": x("number")})),
            base(json!({"if": kind_is(json!(["a"])), "then": x("integer")})),
            Fails("TYPE_NARROWED", "#/then/properties/x"),
            Passes,
        ),
        change(
            "else widened",
            base(json!({"if": kind_is(json!(["a"])), "else": x("integer")})),
            base(json!({"if": kind_is(json!(["a"])), "else": x("number")})),
            Passes,
            Fails("TYPE_NARROWED", "#/else/properties/x"),
        ),
        change(
            "then added",
            base(json!({"if": kind_is(json!(["a"])), "else": x("integer")})),
            base(json!({"if": kind_is(json!(["a"])), "then": x("integer"), "else": x("integer")})),
            Fails("SCHEMA_ADDED", "#/then"),
            Passes,
        ),
        change(
            "condition widened",
            base(json!({"if": kind_is(json!(["a"])), "then": {"required": ["x"]}})),
            base(json!({"if": kind_is(json!(["a", "b"])), "then": {"required": ["x"]}})),
            Fails("COMBINED_TYPE_CHANGED", "#/if"),
            Fails("COMBINED_TYPE_CHANGED", "#/if"),
        ),
        change(
            "description changed beside an unchanged conditional",
            base(json!({"if": kind_is(json!(["a"])), "then": {"required": ["x"]}})),
            base(json!({"if": kind_is(json!(["a"])), "then": {"required": ["x"]},
                        "description": "v2"})),
            Passes,
            Passes,
        ),
    ]);
}

#[test]
fn pattern_properties_are_compared() {
    let patterned = |schema: Value, extra: Value| {
        with(object(json!({"patternProperties": {"^x_": schema}})), extra)
    };
    assert_matrix(&[
        change(
            "pattern schema widened",
            patterned(json!({"type": "integer"}), json!({})),
            patterned(json!({"type": "number"}), json!({})),
            Passes,
            Fails("TYPE_NARROWED", "#/patternProperties/^x_"),
        ),
        change(
            "pattern added to an open model",
            object(json!({})),
            patterned(json!({"type": "string"}), json!({})),
            Fails("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", "#/patternProperties/^x_"),
            Passes,
        ),
        change(
            "pattern removed from a closed model",
            patterned(json!({"type": "string"}), json!({"additionalProperties": false})),
            object(json!({"additionalProperties": false})),
            Fails("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "#/patternProperties/^x_"),
            Passes,
        ),
        change(
            "optional property added beside an open pattern",
            patterned(json!({"type": "string"}), json!({})),
            patterned(json!({"type": "string"}), json!({"properties": {"y": {"type": "integer"}}})),
            Fails("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", "#/properties/y"),
            Passes,
        ),
        change(
            "optional property added to a closed model, not matching its pattern",
            patterned(json!({"type": "string"}), json!({"additionalProperties": false})),
            patterned(
                json!({"type": "string"}),
                json!({"additionalProperties": false, "properties": {"y": {"type": "integer"}}}),
            ),
            Passes,
            Fails("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "#/properties/y"),
        ),
        change(
            "optional property added to a closed model, matching its pattern",
            patterned(json!({"type": "string"}), json!({"additionalProperties": false})),
            patterned(
                json!({"type": "string"}),
                json!({"additionalProperties": false, "properties": {"x_1": {"type": "integer"}}}),
            ),
            Fails("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", "#/properties/x_1"),
            Fails(
                "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                "#/properties/x_1",
            ),
        ),
    ]);
}

#[test]
fn required_is_compared_without_a_property_schema() {
    assert_matrix(&[
        change(
            "property required without a schema",
            object(json!({})),
            object(json!({"required": ["a"]})),
            Fails("REQUIRED_ATTRIBUTE_ADDED", "#/required/a"),
            Passes,
        ),
        change(
            "required property with an empty schema added to an open model",
            object(json!({})),
            object(json!({"properties": {"a": {}}, "required": ["a"]})),
            Fails("REQUIRED_ATTRIBUTE_ADDED", "#/required/a"),
            Passes,
        ),
    ]);
}
