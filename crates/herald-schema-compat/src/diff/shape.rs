//! How the comparison sees a schema object: the parts that constrain an instance together
//! ([`Part`]), and the class of each part ([`Shape`]).

use serde_json::{Map, Value};

/// A JSON type, as `type` names it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) enum Ty {
    Null,
    Boolean,
    String,
    Number,
    Integer,
    Object,
    Array,
}

impl Ty {
    fn parse(name: &str) -> Option<Ty> {
        Some(match name {
            "null" => Ty::Null,
            "boolean" => Ty::Boolean,
            "string" => Ty::String,
            "number" => Ty::Number,
            "integer" => Ty::Integer,
            "object" => Ty::Object,
            "array" => Ty::Array,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[allow(clippy::enum_variant_names, reason = "named after the keywords allOf, anyOf, oneOf")]
pub(super) enum Criterion {
    AllOf,
    AnyOf,
    OneOf,
}

impl Criterion {
    pub(super) fn keyword(self) -> &'static str {
        match self {
            Criterion::AllOf => "allOf",
            Criterion::AnyOf => "anyOf",
            Criterion::OneOf => "oneOf",
        }
    }
}

/// A part of a schema object that constrains an instance on its own, beside the others: the
/// object is their conjunction.
///
/// `allOf`, `anyOf`, `oneOf` and `not` apply beside each other and beside the keywords of a type
/// (`type`, `properties`, `maxLength`, …, `if`), which make up the rest. From draft 2019-09 on,
/// `$ref` applies beside them too (draft-07 ignores the keywords beside it).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) enum Part {
    Ref,
    AllOf,
    AnyOf,
    OneOf,
    Not,
    Rest,
}

impl Part {
    /// The keyword that holds the part, `None` for the rest.
    pub(super) fn keyword(self) -> Option<&'static str> {
        match self {
            Part::Ref => Some("$ref"),
            Part::AllOf => Some("allOf"),
            Part::AnyOf => Some("anyOf"),
            Part::OneOf => Some("oneOf"),
            Part::Not => Some("not"),
            Part::Rest => None,
        }
    }

    fn of(criterion: Criterion) -> Part {
        match criterion {
            Criterion::AllOf => Part::AllOf,
            Criterion::AnyOf => Part::AnyOf,
            Criterion::OneOf => Part::OneOf,
        }
    }
}

/// A subschema, or a view of one: one of the types of its `"type": [..]` list (`only`), or one of
/// its parts (`part`).
#[derive(Clone, Copy)]
pub(super) struct Sub<'a> {
    pub(super) value: &'a Value,
    pub(super) only: Option<Ty>,
    pub(super) part: Option<Part>,
}

/// What identifies a [`Sub`] in the memo of compared pairs.
pub(super) type SubKey = (*const Value, Option<Ty>, Option<Part>);

impl<'a> Sub<'a> {
    pub(super) fn new(value: &'a Value) -> Self {
        Sub { value, only: None, part: None }
    }

    fn part(value: &'a Value, part: Part) -> Self {
        Sub { value, only: None, part: Some(part) }
    }

    pub(super) fn key(self) -> SubKey {
        (std::ptr::from_ref(self.value), self.only, self.part)
    }

    /// Whether this stands for the keywords of its object (annotations, `if`): the whole object
    /// or its rest, not one type of its `type` list nor another part.
    pub(super) fn holds_keywords(self) -> bool {
        self.only.is_none() && matches!(self.part, None | Some(Part::Rest))
    }
}

/// The class of a loaded schema; two schemas of different classes are a type change.
pub(super) enum Shape<'a> {
    Empty,
    False,
    Null,
    Boolean,
    String(&'a Map<String, Value>),
    Number(&'a Map<String, Value>, bool),
    Object(&'a Map<String, Value>),
    Array(&'a Map<String, Value>),
    /// The values of `enum` (or `const`), with the keyword that lists them.
    Enum(&'static str, Vec<&'a Value>),
    Combined(Criterion, Vec<Sub<'a>>),
    Not(&'a Value),
    /// Several parts of one object, each a [`Sub`] with its `part`.
    Parts(Vec<Sub<'a>>),
    Unresolved(&'a str),
}

impl Shape<'_> {
    pub(super) fn class(&self) -> u8 {
        match self {
            Shape::Empty => 0,
            Shape::False => 1,
            Shape::Null => 2,
            Shape::Boolean => 3,
            Shape::String(_) => 4,
            Shape::Number(..) => 5,
            Shape::Object(_) => 6,
            Shape::Array(_) => 7,
            Shape::Enum(..) => 8,
            Shape::Combined(..) => 9,
            Shape::Not(_) => 10,
            Shape::Unresolved(_) => 11,
            Shape::Parts(_) => 12,
        }
    }

    /// Which part a shape that is not [`Shape::Parts`] stands for: its combinator, or the rest
    /// (a `type` list is the rest too).
    pub(super) fn part(&self) -> Part {
        match self {
            Shape::Combined(criterion, subs) if subs.first().is_none_or(|s| s.only.is_none()) => {
                Part::of(*criterion)
            }
            Shape::Not(_) => Part::Not,
            _ => Part::Rest,
        }
    }
}

pub(super) const OBJECT_KEYWORDS: &[&str] = &[
    "properties",
    "required",
    "additionalProperties",
    "unevaluatedProperties",
    "patternProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "dependencies",
    "dependentRequired",
    "dependentSchemas",
];
const ARRAY_KEYWORDS: &[&str] = &[
    "items",
    "prefixItems",
    "additionalItems",
    "unevaluatedItems",
    "contains",
    "minContains",
    "maxContains",
    "minItems",
    "maxItems",
    "uniqueItems",
];
const STRING_KEYWORDS: &[&str] =
    &["minLength", "maxLength", "pattern", "contentEncoding", "contentMediaType", "contentSchema"];
const NUMBER_KEYWORDS: &[&str] =
    &["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"];

/// The reference of a schema object: `$ref`, or 2020-12's `$dynamicRef` or 2019-09's
/// `$recursiveRef`, each resolved statically.
pub(super) fn reference(map: &Map<String, Value>) -> Option<&str> {
    ["$ref", "$dynamicRef", "$recursiveRef"]
        .iter()
        .find_map(|k| map.get(*k).and_then(Value::as_str))
}

/// The parts of `map` other than its reference. `enum` and `const` make the whole rest one list
/// of values, whatever else the object says.
pub(super) fn parts(map: &Map<String, Value>) -> Vec<Part> {
    if enumeration(map).is_some() {
        return vec![Part::Rest];
    }
    let mut parts: Vec<Part> = [Criterion::AllOf, Criterion::AnyOf, Criterion::OneOf]
        .into_iter()
        .filter(|c| map.get(c.keyword()).is_some_and(Value::is_array))
        .map(Part::of)
        .collect();
    if map.contains_key("not") {
        parts.push(Part::Not);
    }
    let rest = [OBJECT_KEYWORDS, ARRAY_KEYWORDS, STRING_KEYWORDS, NUMBER_KEYWORDS, &["type", "if"]];
    if rest.iter().any(|keywords| keywords.iter().any(|k| map.contains_key(*k))) {
        parts.push(Part::Rest);
    }
    parts
}

/// The shape of a schema object without a reference to follow: its one part, or all of them.
pub(super) fn whole<'a>(value: &'a Value, map: &'a Map<String, Value>) -> Shape<'a> {
    match parts(map).as_slice() {
        [] => Shape::Empty,
        [part] => part_shape(value, map, *part),
        parts => Shape::Parts(parts.iter().map(|part| Sub::part(value, *part)).collect()),
    }
}

/// The parts of an object whose reference applies beside other keywords (draft 2019-09 on): its
/// reference, then the others; `None` when nothing beside the reference constrains.
pub(super) fn with_reference<'a>(value: &'a Value, map: &Map<String, Value>) -> Option<Shape<'a>> {
    let siblings = parts(map);
    if siblings.is_empty() {
        return None;
    }
    let parts = std::iter::once(Part::Ref).chain(siblings);
    Some(Shape::Parts(parts.map(|part| Sub::part(value, part)).collect()))
}

/// The shape of one part of `map` (not its reference, which the caller follows).
pub(super) fn part_shape<'a>(
    value: &'a Value,
    map: &'a Map<String, Value>,
    part: Part,
) -> Shape<'a> {
    let combined = |criterion: Criterion| {
        let subs = map.get(criterion.keyword()).and_then(Value::as_array);
        Shape::Combined(criterion, subs.into_iter().flatten().map(Sub::new).collect())
    };
    match part {
        Part::AllOf => combined(Criterion::AllOf),
        Part::AnyOf => combined(Criterion::AnyOf),
        Part::OneOf => combined(Criterion::OneOf),
        Part::Not => map.get("not").map_or(Shape::Empty, Shape::Not),
        Part::Rest | Part::Ref => rest(value, map),
    }
}

/// `enum` and `const`: the values an instance may take (both: those of `enum` equal to `const`),
/// with the keyword that decides them.
fn enumeration(map: &Map<String, Value>) -> Option<(&'static str, Vec<&Value>)> {
    let listed = map.get("enum").and_then(Value::as_array);
    match (listed, map.get("const")) {
        (Some(values), Some(value)) => {
            Some(("const", values.iter().filter(|v| *v == value).collect()))
        }
        (Some(values), None) => Some(("enum", values.iter().collect())),
        (None, Some(value)) => Some(("const", vec![value])),
        (None, None) => None,
    }
}

/// The shape of the rest of an object: its values, its type (a `type` list is a sum of types),
/// or the type its keywords apply to.
fn rest<'a>(value: &'a Value, map: &'a Map<String, Value>) -> Shape<'a> {
    if let Some((keyword, values)) = enumeration(map) {
        return Shape::Enum(keyword, values);
    }
    match map.get("type") {
        Some(Value::String(name)) => {
            return Ty::parse(name).map_or(Shape::Empty, |ty| typed(map, ty));
        }
        Some(Value::Array(names)) => {
            let types: Vec<Ty> =
                names.iter().filter_map(Value::as_str).filter_map(Ty::parse).collect();
            return match types.as_slice() {
                [] => Shape::Empty,
                [ty] => typed(map, *ty),
                _ => Shape::Combined(
                    Criterion::AnyOf,
                    types.into_iter().map(|ty| Sub { value, only: Some(ty), part: None }).collect(),
                ),
            };
        }
        _ => {}
    }
    let has = |keywords: &[&str]| keywords.iter().any(|k| map.contains_key(*k));
    if has(OBJECT_KEYWORDS) {
        Shape::Object(map)
    } else if has(ARRAY_KEYWORDS) {
        Shape::Array(map)
    } else if has(STRING_KEYWORDS) {
        Shape::String(map)
    } else if has(NUMBER_KEYWORDS) {
        Shape::Number(map, false)
    } else {
        Shape::Empty
    }
}

pub(super) fn typed(map: &Map<String, Value>, ty: Ty) -> Shape<'_> {
    match ty {
        Ty::Null => Shape::Null,
        Ty::Boolean => Shape::Boolean,
        Ty::String => Shape::String(map),
        Ty::Number => Shape::Number(map, false),
        Ty::Integer => Shape::Number(map, true),
        Ty::Object => Shape::Object(map),
        Ty::Array => Shape::Array(map),
    }
}

/// Whether `value` accepts any instance as it stands: `true`, `{}`, or only annotations. A
/// reference or a conditional counts as a constraint (this does not follow references).
pub(super) fn is_empty_schema(value: &Value) -> bool {
    match value {
        Value::Bool(accepts) => *accepts,
        Value::Object(map) => {
            reference(map).is_none()
                && !map.contains_key("if")
                && matches!(whole(value, map), Shape::Empty)
        }
        _ => true,
    }
}
