//! The compatibility matrix: for every level, changes that pass and changes that fail, each
//! failure pinned to its Confluent difference kind and JSON pointer.

use herald_schema_compat::{
    CompatibilityLevel, CompatibilityLevel as L, DifferenceKind as K, Direction, SchemaCompatError,
    check, differences,
};
use serde_json::{Value, json};

fn object(properties: Value) -> Value {
    let mut schema = json!({"type": "object"});
    schema["properties"] = properties;
    schema
}

fn closed(properties: Value) -> Value {
    let mut schema = object(properties);
    schema["additionalProperties"] = json!(false);
    schema
}

#[track_caller]
fn passes(candidate: &Value, previous: &[Value], level: CompatibilityLevel) {
    let found = check(candidate, previous, level).unwrap();
    assert!(found.is_empty(), "{level} should pass, found {found:#?}");
}

#[track_caller]
fn fails(
    candidate: &Value,
    previous: &[Value],
    level: CompatibilityLevel,
    kind: K,
    pointer: &str,
    against: usize,
) {
    let found = check(candidate, previous, level).unwrap();
    assert!(
        found.iter().any(|i| i.kind == kind && i.pointer == pointer && i.against == against),
        "{level} should report {kind} at {pointer} against {against}, found {found:#?}"
    );
    assert!(!found.iter().any(|i| i.kind.is_compatible()));
}

/// (name, old, new) pairs that BACKWARD accepts.
fn backward_compatible_changes() -> Vec<(&'static str, Value, Value)> {
    vec![
        (
            "integer widened to number",
            object(json!({"age": {"type": "integer"}})),
            object(json!({"age": {"type": "number"}})),
        ),
        (
            "property removed from open model",
            object(json!({"a": {"type": "string"}, "b": {"type": "string"}})),
            object(json!({"a": {"type": "string"}})),
        ),
        (
            "optional property added to closed model",
            closed(json!({"a": {"type": "string"}})),
            closed(json!({"a": {"type": "string"}, "b": {"type": "string"}})),
        ),
        (
            "required property with default added to closed model",
            closed(json!({"a": {"type": "string"}})),
            json!({"type": "object", "additionalProperties": false, "required": ["b"],
                   "properties": {"a": {"type": "string"}, "b": {"type": "string", "default": "x"}}}),
        ),
        (
            "property with empty schema added to open model",
            object(json!({"a": {"type": "string"}})),
            object(json!({"a": {"type": "string"}, "b": {}})),
        ),
        (
            "required removed",
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}),
            object(json!({"a": {"type": "string"}})),
        ),
        (
            "additional properties allowed",
            closed(json!({"a": {"type": "string"}})),
            object(json!({"a": {"type": "string"}})),
        ),
        (
            "enum extended",
            object(json!({"color": {"enum": ["red", "green"]}})),
            object(json!({"color": {"enum": ["red", "green", "blue"]}})),
        ),
        (
            "string limits relaxed",
            object(
                json!({"name": {"type": "string", "maxLength": 10, "minLength": 2, "pattern": "^a"}}),
            ),
            object(json!({"name": {"type": "string", "maxLength": 20, "minLength": 1}})),
        ),
        (
            "numeric limits relaxed",
            object(json!({"n": {"type": "number", "maximum": 10, "minimum": 0,
                                "exclusiveMaximum": 11, "exclusiveMinimum": -1, "multipleOf": 4}})),
            object(json!({"n": {"type": "number", "maximum": 20, "minimum": -5,
                                "exclusiveMaximum": 30, "multipleOf": 2}})),
        ),
        (
            "array limits relaxed",
            object(json!({"tags": {"type": "array", "items": {"type": "string"},
                                   "maxItems": 3, "minItems": 1, "uniqueItems": true}})),
            object(json!({"tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5}})),
        ),
        (
            "field made nullable",
            object(json!({"a": {"type": "string"}})),
            object(json!({"a": {"type": ["string", "null"]}})),
        ),
        (
            "oneOf gains an alternative",
            object(json!({"p": {"oneOf": [{"type": "string"}, {"type": "integer"}]}})),
            object(
                json!({"p": {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "boolean"}]}}),
            ),
        ),
        (
            "allOf loses a part",
            object(
                json!({"p": {"allOf": [{"type": "string"}, {"type": "string", "maxLength": 3}]}}),
            ),
            object(json!({"p": {"allOf": [{"type": "string"}]}})),
        ),
        (
            "oneOf relaxed to anyOf",
            object(json!({"p": {"oneOf": [{"type": "string"}, {"type": "integer"}]}})),
            object(json!({"p": {"anyOf": [{"type": "string"}, {"type": "integer"}]}})),
        ),
        (
            "metadata changed",
            json!({"title": "A", "description": "old", "type": "string"}),
            json!({"title": "B", "description": "new", "type": "string", "default": "x"}),
        ),
        (
            "ref target renamed",
            json!({"type": "object", "properties": {"address": {"$ref": "#/definitions/Address"}},
                   "definitions": {"Address": object(json!({"zip": {"type": "string"}}))}}),
            json!({"type": "object", "properties": {"address": {"$ref": "#/$defs/PostalAddress"}},
                   "$defs": {"PostalAddress": object(json!({"zip": {"type": "string"}}))}}),
        ),
        ("anything accepted", object(json!({"a": {"type": "string"}})), object(json!({"a": true}))),
    ]
}

/// (name, old, new, kind, pointer) for changes that BACKWARD rejects.
fn backward_incompatible_changes() -> Vec<(&'static str, Value, Value, K, &'static str)> {
    vec![
        (
            "type changed",
            object(json!({"age": {"type": "integer"}})),
            object(json!({"age": {"type": "string"}})),
            K::TypeChanged,
            "#/properties/age",
        ),
        (
            "number narrowed to integer",
            object(json!({"age": {"type": "number"}})),
            object(json!({"age": {"type": "integer"}})),
            K::TypeNarrowed,
            "#/properties/age",
        ),
        (
            "root type changed",
            json!({"type": "string"}),
            json!({"type": "object"}),
            K::TypeChanged,
            "#/",
        ),
        (
            "typed property added to open model",
            object(json!({"a": {"type": "string"}})),
            object(json!({"a": {"type": "string"}, "age": {"type": "integer"}})),
            K::PropertyAddedToOpenContentModel,
            "#/properties/age",
        ),
        (
            "required property added to closed model",
            closed(json!({"a": {"type": "string"}})),
            json!({"type": "object", "additionalProperties": false, "required": ["b"],
                   "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}),
            K::RequiredPropertyAddedToUnopenContentModel,
            "#/properties/b",
        ),
        (
            "property removed from closed model",
            closed(json!({"a": {"type": "string"}, "b": {"type": "string"}})),
            closed(json!({"a": {"type": "string"}})),
            K::PropertyRemovedFromClosedContentModel,
            "#/properties/b",
        ),
        (
            "existing property made required",
            object(json!({"a": {"type": "string"}})),
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}),
            K::RequiredAttributeAdded,
            "#/required/a",
        ),
        (
            "additional properties forbidden",
            object(json!({"a": {"type": "string"}})),
            closed(json!({"a": {"type": "string"}})),
            K::AdditionalPropertiesRemoved,
            "#/additionalProperties",
        ),
        (
            "additional properties constrained",
            object(json!({"a": {"type": "string"}})),
            json!({"type": "object", "properties": {"a": {"type": "string"}},
                   "additionalProperties": {"type": "string"}}),
            K::AdditionalPropertiesNarrowed,
            "#/additionalProperties",
        ),
        (
            "property removed but not covered by additionalProperties",
            closed(json!({"a": {"type": "string"}, "n": {"type": "integer"}})),
            json!({"type": "object", "properties": {"a": {"type": "string"}},
                   "additionalProperties": {"type": "string"}}),
            K::PropertyRemovedNotCoveredByPartiallyOpenContentModel,
            "#/properties/n",
        ),
        (
            "enum narrowed",
            object(json!({"color": {"enum": ["red", "green", "blue"]}})),
            object(json!({"color": {"enum": ["red", "green"]}})),
            K::EnumArrayNarrowed,
            "#/properties/color/enum",
        ),
        (
            "enum changed",
            object(json!({"color": {"enum": ["red", "green"]}})),
            object(json!({"color": {"enum": ["red", "blue"]}})),
            K::EnumArrayChanged,
            "#/properties/color/enum",
        ),
        (
            "maxLength decreased",
            object(json!({"name": {"type": "string", "maxLength": 20}})),
            object(json!({"name": {"type": "string", "maxLength": 10}})),
            K::MaxLengthDecreased,
            "#/properties/name/maxLength",
        ),
        (
            "maxLength added",
            object(json!({"name": {"type": "string"}})),
            object(json!({"name": {"type": "string", "maxLength": 10}})),
            K::MaxLengthAdded,
            "#/properties/name/maxLength",
        ),
        (
            "minLength increased",
            object(json!({"name": {"type": "string", "minLength": 1}})),
            object(json!({"name": {"type": "string", "minLength": 3}})),
            K::MinLengthIncreased,
            "#/properties/name/minLength",
        ),
        (
            "pattern added",
            object(json!({"name": {"type": "string"}})),
            object(json!({"name": {"type": "string", "pattern": "^[a-z]+$"}})),
            K::PatternAdded,
            "#/properties/name/pattern",
        ),
        (
            "pattern changed",
            object(json!({"name": {"type": "string", "pattern": "^a"}})),
            object(json!({"name": {"type": "string", "pattern": "^b"}})),
            K::PatternChanged,
            "#/properties/name/pattern",
        ),
        (
            "maximum decreased",
            object(json!({"n": {"type": "number", "maximum": 10}})),
            object(json!({"n": {"type": "number", "maximum": 5}})),
            K::MaximumDecreased,
            "#/properties/n/maximum",
        ),
        (
            "minimum increased",
            object(json!({"n": {"type": "number", "minimum": 0}})),
            object(json!({"n": {"type": "number", "minimum": 1}})),
            K::MinimumIncreased,
            "#/properties/n/minimum",
        ),
        (
            "exclusiveMaximum added",
            object(json!({"n": {"type": "number"}})),
            object(json!({"n": {"type": "number", "exclusiveMaximum": 100}})),
            K::ExclusiveMaximumAdded,
            "#/properties/n/exclusiveMaximum",
        ),
        (
            "exclusiveMaximum decreased",
            object(json!({"n": {"type": "number", "exclusiveMaximum": 100}})),
            object(json!({"n": {"type": "number", "exclusiveMaximum": 50}})),
            K::ExclusiveMaximumDecreased,
            "#/properties/n/exclusiveMaximum",
        ),
        (
            "draft 4 exclusiveMinimum increased",
            object(json!({"n": {"type": "number", "minimum": 0, "exclusiveMinimum": true}})),
            object(json!({"n": {"type": "number", "minimum": 5, "exclusiveMinimum": true}})),
            K::ExclusiveMinimumIncreased,
            "#/properties/n/exclusiveMinimum",
        ),
        (
            "multipleOf expanded",
            object(json!({"n": {"type": "integer", "multipleOf": 2}})),
            object(json!({"n": {"type": "integer", "multipleOf": 4}})),
            K::MultipleOfExpanded,
            "#/properties/n/multipleOf",
        ),
        (
            "multipleOf changed",
            object(json!({"n": {"type": "number", "multipleOf": 3}})),
            object(json!({"n": {"type": "number", "multipleOf": 2}})),
            K::MultipleOfChanged,
            "#/properties/n/multipleOf",
        ),
        (
            "array items type changed",
            object(json!({"tags": {"type": "array", "items": {"type": "string"}}})),
            object(json!({"tags": {"type": "array", "items": {"type": "integer"}}})),
            K::TypeChanged,
            "#/properties/tags/items",
        ),
        (
            "maxItems decreased",
            object(json!({"tags": {"type": "array", "maxItems": 5}})),
            object(json!({"tags": {"type": "array", "maxItems": 3}})),
            K::MaxItemsDecreased,
            "#/properties/tags/maxItems",
        ),
        (
            "minItems added",
            object(json!({"tags": {"type": "array"}})),
            object(json!({"tags": {"type": "array", "minItems": 1}})),
            K::MinItemsAdded,
            "#/properties/tags/minItems",
        ),
        (
            "uniqueItems added",
            object(json!({"tags": {"type": "array"}})),
            object(json!({"tags": {"type": "array", "uniqueItems": true}})),
            K::UniqueItemsAdded,
            "#/properties/tags/uniqueItems",
        ),
        (
            "tuple item added to open array",
            json!({"type": "array", "items": [{"type": "string"}]}),
            json!({"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}),
            K::ItemAddedToOpenContentModel,
            "#/items/1",
        ),
        (
            "nested object property retyped",
            object(json!({"address": object(json!({"zip": {"type": "string"}}))})),
            object(json!({"address": object(json!({"zip": {"type": "integer"}}))})),
            K::TypeChanged,
            "#/properties/address/properties/zip",
        ),
        (
            "oneOf loses an alternative",
            object(json!({"p": {"oneOf": [{"type": "string"}, {"type": "integer"}]}})),
            object(json!({"p": {"oneOf": [{"type": "string"}]}})),
            K::SumTypeNarrowed,
            "#/properties/p",
        ),
        (
            "anyOf alternative replaced",
            object(json!({"p": {"anyOf": [{"type": "string"}, {"type": "integer"}]}})),
            object(json!({"p": {"anyOf": [{"type": "string"}, {"type": "boolean"}]}})),
            K::CombinedTypeSubschemasChanged,
            "#/properties/p",
        ),
        (
            "allOf gains a part",
            object(json!({"p": {"allOf": [{"type": "string"}]}})),
            object(
                json!({"p": {"allOf": [{"type": "string"}, {"type": "string", "maxLength": 3}]}}),
            ),
            K::ProductTypeExtended,
            "#/properties/p",
        ),
        (
            "anyOf tightened to oneOf",
            object(json!({"p": {"anyOf": [{"type": "string"}, {"type": "integer"}]}})),
            object(json!({"p": {"oneOf": [{"type": "string"}, {"type": "integer"}]}})),
            K::CombinedTypeChanged,
            "#/properties/p",
        ),
        (
            "nullable field made non-nullable",
            object(json!({"a": {"type": ["string", "null"]}})),
            object(json!({"a": {"type": "string"}})),
            K::TypeChanged,
            "#/properties/a",
        ),
        (
            "change inside a $ref'd definition",
            json!({"type": "object", "properties": {"address": {"$ref": "#/definitions/Address"}},
                   "definitions": {"Address": object(json!({"zip": {"type": "string"}}))}}),
            json!({"type": "object", "properties": {"address": {"$ref": "#/definitions/Address"}},
                   "definitions": {"Address": object(json!({"zip": {"type": "integer"}}))}}),
            K::TypeChanged,
            "#/properties/address/properties/zip",
        ),
        (
            "change inside a $defs entry",
            json!({"type": "object", "properties": {"tags": {"$ref": "#/$defs/Tags"}},
                   "$defs": {"Tags": {"type": "array", "items": {"type": "string", "maxLength": 9}}}}),
            json!({"type": "object", "properties": {"tags": {"$ref": "#/$defs/Tags"}},
                   "$defs": {"Tags": {"type": "array", "items": {"type": "string", "maxLength": 5}}}}),
            K::MaxLengthDecreased,
            "#/properties/tags/items/maxLength",
        ),
        (
            "property dependency added",
            object(json!({"a": {"type": "string"}, "b": {"type": "string"}})),
            json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                   "dependencies": {"a": ["b"]}}),
            K::DependencyArrayAdded,
            "#/dependencies/a",
        ),
        (
            "maxProperties added",
            object(json!({})),
            json!({"type": "object", "properties": {}, "maxProperties": 3}),
            K::MaxPropertiesAdded,
            "#/maxProperties",
        ),
    ]
}

#[test]
fn backward_accepts_changes_the_new_schema_can_read() {
    for (name, old, new, ..) in backward_compatible_changes() {
        let found = check(&new, &[old], L::Backward).unwrap();
        assert!(found.is_empty(), "{name}: {found:#?}");
    }
}

#[test]
fn backward_rejects_each_incompatible_change_with_its_kind_and_pointer() {
    for (name, old, new, kind, pointer) in backward_incompatible_changes() {
        let found = check(&new, &[old], L::Backward).unwrap();
        assert!(
            found.iter().any(|i| i.kind == kind && i.pointer == pointer),
            "{name}: expected {kind} at {pointer}, found {found:#?}"
        );
        assert!(found.iter().all(|i| i.against == 0 && i.direction == Direction::Backward));
        assert!(!found[0].message.is_empty(), "{name}: empty message");
    }
}

#[test]
fn forward_is_backward_with_the_roles_swapped() {
    // A change BACKWARD rejects passes FORWARD when its inverse is BACKWARD compatible, and
    // FORWARD reports the inverse change's kind.
    passes(
        &object(json!({"a": {"type": "string"}, "age": {"type": "integer"}})),
        &[object(json!({"a": {"type": "string"}}))],
        L::Forward,
    );
    fails(
        &object(json!({"a": {"type": "string"}})),
        &[object(json!({"a": {"type": "string"}, "age": {"type": "integer"}}))],
        L::Forward,
        K::PropertyAddedToOpenContentModel,
        "#/properties/age",
        0,
    );
    fails(
        &object(json!({"age": {"type": "number"}})),
        &[object(json!({"age": {"type": "integer"}}))],
        L::Forward,
        K::TypeNarrowed,
        "#/properties/age",
        0,
    );
    passes(
        &object(json!({"age": {"type": "integer"}})),
        &[object(json!({"age": {"type": "number"}}))],
        L::Forward,
    );
    for (name, old, new, kind, pointer) in backward_incompatible_changes() {
        let found = check(&old, &[new], L::Forward).unwrap();
        assert!(
            found.iter().any(|i| i.kind == kind
                && i.pointer == pointer
                && i.direction == Direction::Forward),
            "{name}: expected {kind} at {pointer}, found {found:#?}"
        );
    }
}

#[test]
fn full_needs_both_directions() {
    passes(
        &json!({"type": "string", "description": "a new description"}),
        &[json!({"type": "string"})],
        L::Full,
    );
    passes(
        &object(json!({"a": {"type": "string"}, "note": {}})),
        &[object(json!({"a": {"type": "string"}}))],
        L::Full,
    );
    // Widening passes BACKWARD but FULL also reads new data with the old schema.
    let v1 = object(json!({"age": {"type": "integer"}}));
    let v2 = object(json!({"age": {"type": "number"}}));
    passes(&v2, std::slice::from_ref(&v1), L::Backward);
    fails(&v2, std::slice::from_ref(&v1), L::Full, K::TypeNarrowed, "#/properties/age", 0);
    let found = check(&v2, &[v1], L::Full).unwrap();
    assert!(found.iter().all(|i| i.direction == Direction::Forward));
    // Narrowing fails the backward half.
    fails(
        &object(json!({"age": {"type": "integer"}})),
        &[object(json!({"age": {"type": "number"}}))],
        L::Full,
        K::TypeNarrowed,
        "#/properties/age",
        0,
    );
}

#[test]
fn none_accepts_anything() {
    for (_, old, new, ..) in backward_incompatible_changes() {
        passes(&new, std::slice::from_ref(&old), L::None);
        passes(&old, &[new], L::None);
    }
}

#[test]
fn a_first_version_is_compatible_at_every_level() {
    for level in CompatibilityLevel::ALL {
        passes(&json!({"type": "string"}), &[], level);
    }
}

#[test]
fn non_transitive_levels_check_only_the_latest_version() {
    let v1 = object(json!({"age": {"type": "integer"}}));
    let v2 = object(json!({"age": {"type": "string"}}));
    let v3 = object(json!({"age": {"type": "string", "maxLength": 100}}));
    let v3_relaxed = object(json!({"age": {"type": "string"}, "note": {}}));
    let history = [v1, v2];
    passes(&v3_relaxed, &history, L::Backward);
    passes(&v3_relaxed, &history, L::Forward);
    passes(&v3_relaxed, &history, L::Full);
    fails(&v3, &history, L::Backward, K::MaxLengthAdded, "#/properties/age/maxLength", 1);
}

/// v1 → v2 and v2 → v3 are each compatible, v1 → v3 is not: the default that made a new
/// required field readable was dropped once the field was required.
#[test]
fn backward_transitive_catches_a_break_with_an_older_version_only() {
    let v1 = object(json!({"p": {"type": "string"}}));
    let v2 = json!({"type": "object", "required": ["p"],
                    "properties": {"p": {"type": "string", "default": "none"}}});
    let v3 = json!({"type": "object", "required": ["p"], "properties": {"p": {"type": "string"}}});
    passes(&v2, std::slice::from_ref(&v1), L::Backward);
    passes(&v3, &[v1.clone(), v2.clone()], L::Backward);
    fails(&v3, &[v1, v2], L::BackwardTransitive, K::RequiredAttributeAdded, "#/required/p", 0);
}

#[test]
fn backward_transitive_catches_a_required_property_added_to_a_closed_model() {
    let v1 = closed(json!({"a": {"type": "string"}}));
    let v2 = json!({"type": "object", "additionalProperties": false, "required": ["b"],
                    "properties": {"a": {"type": "string"}, "b": {"type": "string", "default": "x"}}});
    let v3 = json!({"type": "object", "additionalProperties": false, "required": ["b"],
                    "properties": {"a": {"type": "string"}, "b": {"type": "string"}}});
    passes(&v2, std::slice::from_ref(&v1), L::BackwardTransitive);
    passes(&v3, &[v1.clone(), v2.clone()], L::Backward);
    let found = check(&v3, &[v1, v2], L::BackwardTransitive).unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].kind, K::RequiredPropertyAddedToUnopenContentModel);
    assert_eq!(found[0].pointer, "#/properties/b");
    assert_eq!(found[0].against, 0);
}

#[test]
fn forward_transitive_catches_a_break_with_an_older_version_only() {
    let v1 = json!({"type": "object", "required": ["p"], "properties": {"p": {"type": "string"}}});
    let v2 = json!({"type": "object", "required": ["p"],
                    "properties": {"p": {"type": "string", "default": "none"}}});
    let v3 = object(json!({"p": {"type": "string"}}));
    passes(&v2, std::slice::from_ref(&v1), L::Forward);
    passes(&v3, &[v1.clone(), v2.clone()], L::Forward);
    fails(&v3, &[v1, v2], L::ForwardTransitive, K::RequiredAttributeAdded, "#/required/p", 0);
}

#[test]
fn full_transitive_catches_a_break_with_an_older_version_only() {
    let v1 = json!({"type": "object", "required": ["p"], "properties": {"p": {"type": "string"}}});
    let v2 = json!({"type": "object", "required": ["p"],
                    "properties": {"p": {"type": "string", "default": "none"}}});
    let v3 = object(json!({"p": {"type": "string", "default": "none"}}));
    passes(&v2, std::slice::from_ref(&v1), L::Full);
    passes(&v3, &[v1.clone(), v2.clone()], L::Full);
    passes(&v3, &[v1.clone(), v2.clone()], L::BackwardTransitive);
    fails(&v3, &[v1, v2], L::FullTransitive, K::RequiredAttributeAdded, "#/required/p", 0);
}

#[test]
fn transitive_levels_report_every_broken_version() {
    let v1 = object(json!({"n": {"type": "integer"}}));
    let v2 = object(json!({"n": {"type": "integer", "maximum": 10}}));
    let v3 = object(json!({"n": {"type": "string"}}));
    let found = check(&v3, &[v1, v2], L::BackwardTransitive).unwrap();
    let against: Vec<usize> = found.iter().map(|i| i.against).collect();
    assert_eq!(against, [0, 1]);
    assert!(found.iter().all(|i| i.kind == K::TypeChanged && i.pointer == "#/properties/n"));
}

#[test]
fn differences_lists_compatible_changes_too() {
    let old = object(json!({"a": {"type": "integer"}, "b": {"type": "string"}}));
    let new = object(json!({"a": {"type": "number"}, "c": {"type": "string"}}));
    let found: Vec<(K, String)> =
        differences(&old, &new).unwrap().into_iter().map(|d| (d.kind, d.pointer)).collect();
    assert!(found.contains(&(K::TypeExtended, "#/properties/a".to_owned())));
    assert!(found.contains(&(K::PropertyRemovedFromOpenContentModel, "#/properties/b".to_owned())));
    assert!(found.contains(&(K::PropertyAddedToOpenContentModel, "#/properties/c".to_owned())));
}

#[test]
fn a_schema_has_no_differences_with_itself() {
    let mut schemas: Vec<Value> = Vec::new();
    for (_, old, new, ..) in backward_compatible_changes() {
        schemas.push(old);
        schemas.push(new);
    }
    for (_, old, new, ..) in backward_incompatible_changes() {
        schemas.push(old);
        schemas.push(new);
    }
    for schema in &schemas {
        assert_eq!(differences(schema, schema).unwrap(), [], "{schema}");
    }
}

#[test]
fn recursive_refs_terminate() {
    let tree = |leaf: &str| {
        json!({"$ref": "#/definitions/Node", "definitions": {"Node": {"type": "object",
            "properties": {"value": {"type": leaf},
                           "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}}}}})
    };
    passes(&tree("number"), &[tree("integer")], L::Backward);
    fails(
        &tree("string"),
        &[tree("integer")],
        L::Backward,
        K::TypeChanged,
        "#/properties/value",
        0,
    );
}

#[test]
fn an_unresolvable_ref_is_compared_by_its_text() {
    let a = json!({"$ref": "other.json#/A"});
    let b = json!({"$ref": "other.json#/B"});
    passes(&a, std::slice::from_ref(&a), L::FullTransitive);
    fails(&b, &[a], L::Backward, K::TypeChanged, "#/", 0);
}

#[test]
fn incompatibility_messages_name_the_versions_and_the_location() {
    let found = check(
        &object(json!({"age": {"type": "string"}})),
        &[object(json!({"age": {"type": "integer"}}))],
        L::Full,
    )
    .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(
        found[0].message,
        "The new schema cannot read data written with the earlier schema: at #/properties/age \
         (TYPE_CHANGED), the reader schema has a different type than the writer schema."
    );
    assert!(
        found[1]
            .message
            .starts_with("The earlier schema cannot read data written with the new schema")
    );
}

#[test]
fn levels_use_confluent_names() {
    let names = [
        "NONE",
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
    ];
    for (level, name) in CompatibilityLevel::ALL.into_iter().zip(names) {
        assert_eq!(level.to_string(), name);
        assert_eq!(name.parse::<CompatibilityLevel>(), Ok(level));
        assert_eq!(serde_json::to_value(level).ok(), Some(json!(name)));
        assert_eq!(serde_json::from_value::<CompatibilityLevel>(json!(name)).ok(), Some(level));
    }
    let error = "backward".parse::<CompatibilityLevel>().err().map(|e| e.to_string());
    assert!(error.is_some_and(|e| e.starts_with("unknown compatibility level \"backward\"")));
}

#[test]
fn difference_kinds_use_confluent_names_and_compatible_set() {
    for kind in K::ALL {
        assert_eq!(kind.to_string().parse::<K>(), Ok(*kind));
        assert_eq!(serde_json::to_value(kind).ok(), Some(json!(kind.name())));
    }
    assert_eq!(
        K::PropertyAddedToOpenContentModel.to_string(),
        "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
    );
    // Confluent's COMPATIBLE_CHANGES (its strict set, with the draft 2020-12 kinds) has 65
    // entries, and every one of them is a kind here.
    let compatible: Vec<&str> =
        K::ALL.iter().filter(|k| k.is_compatible()).map(|k| k.name()).collect();
    assert_eq!(compatible.len(), 65, "{compatible:?}");
    for name in [
        "TYPE_EXTENDED",
        "ENUM_ARRAY_EXTENDED",
        "SUM_TYPE_EXTENDED",
        "PRODUCT_TYPE_NARROWED",
        "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
        "ADDITIONAL_PROPERTIES_ADDED",
        "UNEVALUATED_PROPERTIES_ADDED",
        "UNEVALUATED_PROPERTIES_EXTENDED",
        "UNEVALUATED_ITEMS_ADDED",
        "UNEVALUATED_ITEMS_EXTENDED",
        "MAX_CONTAINS_INCREASED",
        "MAX_CONTAINS_REMOVED",
        "MIN_CONTAINS_DECREASED",
        "MIN_CONTAINS_REMOVED",
    ] {
        assert!(compatible.contains(&name), "{name}");
    }
    for kind in [
        K::TypeChanged,
        K::TypeNarrowed,
        K::MaxLengthAdded,
        K::MaxLengthDecreased,
        K::EnumArrayNarrowed,
        K::AdditionalPropertiesRemoved,
        K::RequiredPropertyAddedToUnopenContentModel,
        K::PropertyAddedToOpenContentModel,
        K::UnevaluatedPropertiesRemoved,
        K::UnevaluatedPropertiesNarrowed,
        K::UnevaluatedItemsRemoved,
        K::UnevaluatedItemsNarrowed,
        K::MaxContainsAdded,
        K::MaxContainsDecreased,
        K::MinContainsAdded,
        K::MinContainsIncreased,
    ] {
        assert!(!kind.is_compatible(), "{kind}");
    }
}

/// `d0 … d{n-1}`, each defined by `link(next)` from the `$ref` to the next, the last `{}`.
fn chain(n: usize, link: impl Fn(Value) -> Value) -> Value {
    let mut definitions = serde_json::Map::new();
    for i in 0..n {
        let next = if i + 1 < n {
            link(json!({"$ref": format!("#/definitions/d{}", i + 1)}))
        } else {
            json!({"type": "string"})
        };
        definitions.insert(format!("d{i}"), next);
    }
    json!({"definitions": definitions, "$ref": "#/definitions/d0"})
}

#[test]
fn alternatives_that_share_their_definitions_are_compared_once_each() {
    // Each anyOf has two alternatives leading to the same next definition: walked naively,
    // 4^40 comparisons.
    let schema = |description: &str| {
        chain(40, |next| json!({"anyOf": [next, {"allOf": [next], "description": description}]}))
    };
    let (old, new) = (schema("same"), schema("same"));
    let started = std::time::Instant::now();
    let found = check(&new, &[old], L::Full).unwrap();
    assert_eq!(found, []);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn a_chain_nested_beyond_the_depth_bound_is_refused_not_a_stack_overflow() {
    let schema = chain(5_000, |next| json!({"allOf": [next]}));
    let error = check(&schema, std::slice::from_ref(&schema), L::Backward).unwrap_err();
    assert!(matches!(error, SchemaCompatError::TooComplex { .. }), "{error}");
    assert!(error.to_string().contains("64 levels"), "{error}");
    // Within the bound, the same shape is compared as usual.
    let shallow = chain(20, |next| json!({"allOf": [next]}));
    let deeper = chain(20, |next| json!({"allOf": [next], "description": "more"}));
    assert_eq!(check(&deeper, &[shallow], L::Full).unwrap(), []);
}

#[test]
fn the_step_bound_stops_a_wide_comparison() {
    // 400 alternatives on each side, each a distinct object: 160,000 pairs.
    let alternatives = |tag: &str| -> Vec<Value> {
        (0..400)
            .map(|i| json!({"type": "object", "properties": {format!("{tag}{i}"): {"type": "integer"}}}))
            .collect()
    };
    let old = json!({"anyOf": alternatives("a")});
    let new = json!({"anyOf": alternatives("b")});
    let error = check(&new, &[old], L::Backward).unwrap_err();
    assert!(error.to_string().contains("100000"), "{error}");
}
