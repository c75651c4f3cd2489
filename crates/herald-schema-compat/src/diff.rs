//! The structural comparison of two JSON Schemas, after Confluent's `SchemaDiff`.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::DifferenceKind as K;
use crate::kind::DifferenceKind;
use crate::{Result, SchemaCompatError};

/// One change between a writer schema (the original) and a reader schema (the update).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Difference {
    /// What changed, named as Confluent names it.
    pub kind: DifferenceKind,
    /// Where it changed: a JSON pointer into the schema, such as `#/properties/age` (`#/` is the
    /// root). Segments are escaped as in RFC 6901 (`~0`, `~1`).
    pub pointer: String,
}

/// Lists every difference between `original` (the writer schema) and `update` (the reader
/// schema), compatible ones included.
///
/// The update can read everything the original allows when every difference is compatible
/// ([`DifferenceKind::is_compatible`]). Local `$ref`s (`#/definitions/…`, `#/$defs/…`, any `#…`
/// pointer) are resolved in their own document; a `$ref` that cannot be resolved is compared by
/// its text.
///
/// The walk is bounded, so a hostile schema cannot exhaust the stack or the CPU: each pair of
/// subschemas is compared once (however many `$ref`s lead to it), nesting deeper than
/// [`MAX_DEPTH`] levels and more than [`MAX_STEPS`] comparisons give
/// [`SchemaCompatError::TooComplex`] instead of an answer.
pub fn differences(original: &Value, update: &Value) -> Result<Vec<Difference>> {
    let mut cx = Cx::new([original, update]);
    let mut out = Vec::new();
    cx.compare(&mut out, &[], Sub::new(original), Sub::new(update));
    match cx.exhausted {
        Some(limit) => Err(SchemaCompatError::TooComplex { limit }),
        None => Ok(out),
    }
}

/// How deeply nested the subschemas compared may be (through properties, items, combinators
/// and `$ref`s alike).
pub const MAX_DEPTH: usize = 64;

/// How many pairs of subschemas one comparison may compare (a pair compared before costs
/// one step, plus one per difference it had).
pub const MAX_STEPS: usize = 100_000;

fn all_compatible(diffs: &[Difference]) -> bool {
    diffs.iter().all(|d| d.kind.is_compatible())
}

/// A subschema, optionally restricted to one of the types in a `"type": [..]` list.
#[derive(Clone, Copy)]
struct Sub<'a> {
    value: &'a Value,
    only: Option<Ty>,
}

impl<'a> Sub<'a> {
    fn new(value: &'a Value) -> Self {
        Sub { value, only: None }
    }

    fn key(self) -> (*const Value, Option<Ty>) {
        (std::ptr::from_ref(self.value), self.only)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Ty {
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
enum Criterion {
    AllOf,
    AnyOf,
    OneOf,
}

impl Criterion {
    fn keyword(self) -> &'static str {
        match self {
            Criterion::AllOf => "allOf",
            Criterion::AnyOf => "anyOf",
            Criterion::OneOf => "oneOf",
        }
    }
}

/// The shape of a loaded schema; two schemas of different classes are a type change.
enum Shape<'a> {
    Empty,
    False,
    Null,
    Boolean,
    String(&'a Map<String, Value>),
    Number(&'a Map<String, Value>, bool),
    Object(&'a Map<String, Value>),
    Array(&'a Map<String, Value>),
    Enum(Vec<&'a Value>),
    Combined(Criterion, Vec<Sub<'a>>),
    Not(&'a Value),
    Unresolved(&'a str),
}

impl Shape<'_> {
    fn class(&self) -> u8 {
        match self {
            Shape::Empty => 0,
            Shape::False => 1,
            Shape::Null => 2,
            Shape::Boolean => 3,
            Shape::String(_) => 4,
            Shape::Number(..) => 5,
            Shape::Object(_) => 6,
            Shape::Array(_) => 7,
            Shape::Enum(_) => 8,
            Shape::Combined(..) => 9,
            Shape::Not(_) => 10,
            Shape::Unresolved(_) => 11,
        }
    }
}

const OBJECT_KEYWORDS: &[&str] = &[
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "minProperties",
    "maxProperties",
    "dependencies",
    "dependentRequired",
    "dependentSchemas",
];
const ARRAY_KEYWORDS: &[&str] =
    &["items", "additionalItems", "minItems", "maxItems", "uniqueItems"];
const STRING_KEYWORDS: &[&str] = &["minLength", "maxLength", "pattern"];
const NUMBER_KEYWORDS: &[&str] =
    &["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"];

/// Follows local `$ref`s. Returns the schema, or the text of a reference it cannot resolve.
fn resolve<'a>(root: &'a Value, mut value: &'a Value) -> Result<&'a Value, &'a str> {
    for _ in 0..64 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return Ok(value);
        };
        let target = reference.strip_prefix('#').and_then(|pointer| root.pointer(pointer));
        match target {
            Some(target) => value = target,
            None => return Err(reference),
        }
    }
    Err(value.get("$ref").and_then(Value::as_str).unwrap_or("$ref"))
}

fn typed(map: &Map<String, Value>, ty: Ty) -> Shape<'_> {
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

fn load<'a>(value: &'a Value, only: Option<Ty>) -> Shape<'a> {
    let map = match value {
        Value::Bool(true) => return Shape::Empty,
        Value::Bool(false) => return Shape::False,
        Value::Object(map) => map,
        _ => return Shape::Empty,
    };
    if let Some(ty) = only {
        return typed(map, ty);
    }
    if let Some(values) = map.get("enum").and_then(Value::as_array) {
        return Shape::Enum(values.iter().collect());
    }
    if let Some(value) = map.get("const") {
        return Shape::Enum(vec![value]);
    }
    for criterion in [Criterion::AllOf, Criterion::AnyOf, Criterion::OneOf] {
        if let Some(subs) = map.get(criterion.keyword()).and_then(Value::as_array) {
            return Shape::Combined(criterion, subs.iter().map(Sub::new).collect());
        }
    }
    if let Some(not) = map.get("not") {
        return Shape::Not(not);
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
                    types.into_iter().map(|ty| Sub { value, only: Some(ty) }).collect(),
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

fn is_empty_schema(value: &Value) -> bool {
    matches!(load(value, None), Shape::Empty)
}

fn number(map: &Map<String, Value>, key: &str) -> Option<f64> {
    map.get(key).and_then(Value::as_f64)
}

/// A bounded keyword's four outcomes: added, removed, increased, decreased.
struct Bound {
    keyword: &'static str,
    kinds: [DifferenceKind; 4],
}

/// Compares a 'permits additional' flag plus an optional schema (`additionalProperties`,
/// `additionalItems`): `false` forbids, `true`/`{}`/absent allows anything.
struct Additional<'a> {
    permits: bool,
    schema: Option<&'a Value>,
}

impl<'a> Additional<'a> {
    fn of(map: &'a Map<String, Value>, keyword: &str) -> Self {
        match map.get(keyword) {
            Some(Value::Bool(false)) => Additional { permits: false, schema: None },
            Some(value @ Value::Object(_)) if !is_empty_schema(value) => {
                Additional { permits: true, schema: Some(value) }
            }
            _ => Additional { permits: true, schema: None },
        }
    }

    fn is_open(&self) -> bool {
        self.permits && self.schema.is_none()
    }
}

static NO_PROPERTIES: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

type PairKey = [(*const Value, Option<Ty>); 2];

struct Cx<'a> {
    roots: [&'a Value; 2],
    in_progress: HashSet<PairKey>,
    /// The differences of each pair already compared, with pointers relative to the pair
    /// (`#/` is the pair itself), for pairs whose comparison met no cycle.
    memo: HashMap<PairKey, Vec<Difference>>,
    /// How many times a cycle was cut short: a comparison that cut one is not memoised, as
    /// its result depends on the pairs in progress around it.
    cycles_cut: usize,
    steps: usize,
    depth: usize,
    exhausted: Option<&'static str>,
}

fn pointer(path: &[String]) -> String {
    let segments: Vec<String> =
        path.iter().map(|s| s.replace('~', "~0").replace('/', "~1")).collect();
    format!("#/{}", segments.join("/"))
}

/// `difference`, found relative to a pair of subschemas (`#/…`), placed at `path`.
fn rebase(path: &[String], difference: &Difference) -> Difference {
    let below = difference.pointer.strip_prefix("#/").unwrap_or_default();
    let pointer = match (path.is_empty(), below.is_empty()) {
        (true, _) => difference.pointer.clone(),
        (false, true) => pointer(path),
        (false, false) => format!("{}/{below}", pointer(path)),
    };
    Difference { kind: difference.kind, pointer }
}

fn push(out: &mut Vec<Difference>, path: &[String], kind: DifferenceKind) {
    out.push(Difference { kind, pointer: pointer(path) });
}

fn push_at(out: &mut Vec<Difference>, path: &mut Vec<String>, keyword: &str, kind: DifferenceKind) {
    path.push(keyword.to_owned());
    push(out, path, kind);
    path.pop();
}

impl<'a> Cx<'a> {
    fn new(roots: [&'a Value; 2]) -> Self {
        Cx {
            roots,
            in_progress: HashSet::new(),
            memo: HashMap::new(),
            cycles_cut: 0,
            steps: 0,
            depth: 0,
            exhausted: None,
        }
    }

    /// Runs `compare` with the writer and the reader swapped (for `not`), within this
    /// comparison's bounds.
    fn with_roles_swapped<T>(&mut self, compare: impl FnOnce(&mut Cx<'a>) -> T) -> T {
        let mut swapped = Cx::new([self.roots[1], self.roots[0]]);
        swapped.steps = self.steps;
        swapped.depth = self.depth;
        let result = compare(&mut swapped);
        self.steps = swapped.steps;
        self.exhausted = self.exhausted.or(swapped.exhausted);
        // What the swapped walk saw depends on its own pairs in progress: don't memoise
        // around it.
        self.cycles_cut += 1;
        result
    }
    fn sub(&mut self, path: &[String], original: Sub<'a>, update: Sub<'a>) -> Vec<Difference> {
        let mut out = Vec::new();
        self.compare(&mut out, path, original, update);
        out
    }

    fn compare(
        &mut self,
        out: &mut Vec<Difference>,
        path: &[String],
        original: Sub<'a>,
        update: Sub<'a>,
    ) {
        if self.exhausted.is_some() {
            return;
        }
        let (original, original_shape) = self.load(0, original);
        let (update, update_shape) = self.load(1, update);
        let key = [original.key(), update.key()];
        if let Some(known) = self.memo.get(&key) {
            // Copying a known result costs a step per difference: results can double at
            // each level of shared alternatives.
            self.steps += 1 + known.len();
            if self.steps > MAX_STEPS {
                self.exhausted = Some("more than 100000 subschema comparisons");
                return;
            }
            out.extend(known.iter().map(|d| rebase(path, d)));
            return;
        }
        if self.in_progress.contains(&key) {
            // A recursive schema met the same pair again: treat the cycle as compatible.
            self.cycles_cut += 1;
            return;
        }
        self.steps += 1;
        if self.steps > MAX_STEPS {
            self.exhausted = Some("more than 100000 subschema comparisons");
            return;
        }
        if self.depth >= MAX_DEPTH {
            self.exhausted = Some("subschemas nested more than 64 levels deep");
            return;
        }
        self.in_progress.insert(key);
        self.depth += 1;
        let cycles_before = self.cycles_cut;
        let mut relative = Vec::new();
        self.compare_loaded(
            &mut relative,
            &mut Vec::new(),
            original,
            &original_shape,
            update,
            &update_shape,
        );
        self.depth -= 1;
        self.in_progress.remove(&key);
        out.extend(relative.iter().map(|d| rebase(path, d)));
        if self.cycles_cut == cycles_before && self.exhausted.is_none() {
            self.memo.insert(key, relative);
        }
    }

    fn load(&self, side: usize, sub: Sub<'a>) -> (Sub<'a>, Shape<'a>) {
        match resolve(self.roots[side], sub.value) {
            Ok(value) => {
                let sub = Sub { value, only: sub.only };
                (sub, load(value, sub.only))
            }
            Err(reference) => (sub, Shape::Unresolved(reference)),
        }
    }

    fn compare_loaded(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        original: Sub<'a>,
        original_shape: &Shape<'a>,
        update: Sub<'a>,
        update_shape: &Shape<'a>,
    ) {
        match (original_shape, update_shape) {
            (Shape::Combined(..), Shape::Combined(..)) => {}
            (_, Shape::Combined(criterion, subs)) => {
                if let [single] = subs.as_slice() {
                    let diffs = self.sub(path, original, *single);
                    if all_compatible(&diffs) {
                        out.extend(diffs);
                        return;
                    }
                } else if matches!(criterion, Criterion::AnyOf | Criterion::OneOf) {
                    for alternative in subs {
                        let diffs = self.sub(path, original, *alternative);
                        if all_compatible(&diffs) {
                            out.extend(diffs);
                            push(out, path, K::SumTypeExtended);
                            return;
                        }
                    }
                }
            }
            (Shape::Combined(_, subs), _) => {
                if let [single] = subs.as_slice() {
                    let diffs = self.sub(path, *single, update);
                    if all_compatible(&diffs) {
                        out.extend(diffs);
                        return;
                    }
                }
            }
            _ => {}
        }

        if original_shape.class() != update_shape.class() {
            if !matches!(original_shape, Shape::False) && !matches!(update_shape, Shape::Empty) {
                push(out, path, K::TypeChanged);
            }
            return;
        }

        if let (Value::Object(o), Value::Object(u)) = (original.value, update.value) {
            let id = |m: &'a Map<String, Value>| m.get("$id").or_else(|| m.get("id"));
            for (differs, kind) in [
                (id(o) != id(u), K::IdChanged),
                (o.get("title") != u.get("title"), K::TitleChanged),
                (o.get("description") != u.get("description"), K::DescriptionChanged),
                (o.get("default") != u.get("default"), K::DefaultChanged),
            ] {
                if differs {
                    push(out, path, kind);
                }
            }
        }

        match (original_shape, update_shape) {
            (Shape::String(o), Shape::String(u)) => compare_string(out, path, o, u),
            (Shape::Number(o, o_int), Shape::Number(u, u_int)) => {
                compare_number(out, path, o, u);
                if *o_int && !*u_int {
                    push(out, path, K::TypeExtended);
                } else if !*o_int && *u_int {
                    push(out, path, K::TypeNarrowed);
                }
            }
            (Shape::Enum(o), Shape::Enum(u)) => {
                let u_has_all = o.iter().all(|v| u.contains(v));
                let o_has_all = u.iter().all(|v| o.contains(v));
                let kind = match (u_has_all, o_has_all) {
                    (true, true) => None,
                    (true, false) => Some(K::EnumArrayExtended),
                    (false, true) => Some(K::EnumArrayNarrowed),
                    (false, false) => Some(K::EnumArrayChanged),
                };
                if let Some(kind) = kind {
                    push_at(out, path, "enum", kind);
                }
            }
            (Shape::Object(o), Shape::Object(u)) => self.compare_object(out, path, o, u),
            (Shape::Array(o), Shape::Array(u)) => self.compare_array(out, path, o, u),
            (Shape::Combined(oc, os), Shape::Combined(uc, us)) => {
                self.compare_combined(out, path, (*oc, os), (*uc, us));
            }
            (Shape::Not(o), Shape::Not(u)) => {
                path.push("not".to_owned());
                // The reader's `not` must exclude no more than the writer's: swap the roles.
                let swapped = self.with_roles_swapped(|cx| cx.sub(path, Sub::new(u), Sub::new(o)));
                if !swapped.is_empty() {
                    let kind = if all_compatible(&swapped) {
                        K::NotTypeNarrowed
                    } else {
                        K::NotTypeExtended
                    };
                    push(out, path, kind);
                }
                path.pop();
            }
            (Shape::Unresolved(o), Shape::Unresolved(u)) if o != u => {
                push(out, path, K::TypeChanged);
            }
            _ => {}
        }
    }

    fn compare_object(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        o: &'a Map<String, Value>,
        u: &'a Map<String, Value>,
    ) {
        let o_props = o.get("properties").and_then(Value::as_object);
        let u_props = u.get("properties").and_then(Value::as_object);
        let (o_props, u_props) =
            (o_props.unwrap_or(&NO_PROPERTIES), u_props.unwrap_or(&NO_PROPERTIES));
        let o_required = required(o);
        let u_required = required(u);
        let o_additional = Additional::of(o, "additionalProperties");
        let u_additional = Additional::of(u, "additionalProperties");
        let o_open = o_additional.is_open() && !has_pattern_properties(o);
        let u_open = u_additional.is_open() && !has_pattern_properties(u);
        let u_root = self.roots[1];
        let has_default =
            |value: &Value| resolve(u_root, value).is_ok_and(|v| v.get("default").is_some());

        path.push("required".to_owned());
        for name in o_props.keys() {
            let Some(u_schema) = u_props.get(name) else {
                continue;
            };
            let (was, is) =
                (o_required.contains(&name.as_str()), u_required.contains(&name.as_str()));
            let kind = match (was, is) {
                (true, false) => Some(K::RequiredAttributeRemoved),
                (false, true) if has_default(u_schema) => {
                    Some(K::RequiredAttributeWithDefaultAdded)
                }
                (false, true) => Some(K::RequiredAttributeAdded),
                _ => None,
            };
            if let Some(kind) = kind {
                push_at(out, path, name, kind);
            }
        }
        path.pop();

        path.push("properties".to_owned());
        let mut names: Vec<&String> = o_props.keys().chain(u_props.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            path.push(name.clone());
            match (o_props.get(name), u_props.get(name)) {
                (Some(o_schema), None) => {
                    if u_open {
                        push(out, path, K::PropertyRemovedFromOpenContentModel);
                    } else if let Some(partial) = u_additional.schema {
                        let diffs = self.sub(path, Sub::new(o_schema), Sub::new(partial));
                        let covered = all_compatible(&diffs);
                        out.extend(diffs);
                        push(
                            out,
                            path,
                            if covered {
                                K::PropertyRemovedIsCoveredByPartiallyOpenContentModel
                            } else {
                                K::PropertyRemovedNotCoveredByPartiallyOpenContentModel
                            },
                        );
                    } else if *o_schema == Value::Bool(false) {
                        push(out, path, K::PropertyWithFalseRemovedFromClosedContentModel);
                    } else {
                        push(out, path, K::PropertyRemovedFromClosedContentModel);
                    }
                }
                (None, Some(u_schema)) => {
                    if o_open {
                        let empty = resolve(u_root, u_schema).is_ok_and(is_empty_schema);
                        push(
                            out,
                            path,
                            if empty {
                                K::PropertyWithEmptySchemaAddedToOpenContentModel
                            } else {
                                K::PropertyAddedToOpenContentModel
                            },
                        );
                    } else {
                        if let Some(partial) = o_additional.schema {
                            let diffs = self.sub(path, Sub::new(partial), Sub::new(u_schema));
                            let covered = all_compatible(&diffs);
                            out.extend(diffs);
                            push(
                                out,
                                path,
                                if covered {
                                    K::PropertyAddedIsCoveredByPartiallyOpenContentModel
                                } else {
                                    K::PropertyAddedNotCoveredByPartiallyOpenContentModel
                                },
                            );
                        }
                        let kind = if !u_required.contains(&name.as_str()) {
                            K::OptionalPropertyAddedToUnopenContentModel
                        } else if has_default(u_schema) {
                            K::RequiredPropertyWithDefaultAddedToUnopenContentModel
                        } else {
                            K::RequiredPropertyAddedToUnopenContentModel
                        };
                        push(out, path, kind);
                    }
                }
                (Some(o_schema), Some(u_schema)) => {
                    self.compare(out, path, Sub::new(o_schema), Sub::new(u_schema));
                }
                (None, None) => {}
            }
            path.pop();
        }
        path.pop();

        self.compare_dependencies(out, path, o, u);

        path.push("additionalProperties".to_owned());
        self.compare_additional(
            out,
            path,
            &o_additional,
            &u_additional,
            [
                K::AdditionalPropertiesAdded,
                K::AdditionalPropertiesRemoved,
                K::AdditionalPropertiesNarrowed,
                K::AdditionalPropertiesExtended,
            ],
        );
        path.pop();

        for bound in [
            Bound {
                keyword: "maxProperties",
                kinds: [
                    K::MaxPropertiesAdded,
                    K::MaxPropertiesRemoved,
                    K::MaxPropertiesIncreased,
                    K::MaxPropertiesDecreased,
                ],
            },
            Bound {
                keyword: "minProperties",
                kinds: [
                    K::MinPropertiesAdded,
                    K::MinPropertiesRemoved,
                    K::MinPropertiesIncreased,
                    K::MinPropertiesDecreased,
                ],
            },
        ] {
            compare_bound(out, path, &bound, number(o, bound.keyword), number(u, bound.keyword));
        }
    }

    fn compare_dependencies(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        o: &'a Map<String, Value>,
        u: &'a Map<String, Value>,
    ) {
        let o_deps = dependencies(o);
        let u_deps = dependencies(u);
        if o_deps.is_empty() && u_deps.is_empty() {
            return;
        }
        let mut names: Vec<&str> = o_deps.iter().chain(u_deps.iter()).map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        path.push("dependencies".to_owned());
        for name in names {
            let find = |deps: &[(&'a str, &'a Value)]| {
                deps.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
            };
            let (o_dep, u_dep) = (find(&o_deps), find(&u_deps));
            path.push(name.to_owned());
            let as_array = |v: Option<&'a Value>| v.and_then(Value::as_array);
            match (as_array(o_dep), as_array(u_dep), o_dep, u_dep) {
                (Some(o_names), Some(u_names), ..) => {
                    let u_has_all = o_names.iter().all(|n| u_names.contains(n));
                    let o_has_all = u_names.iter().all(|n| o_names.contains(n));
                    let kind = match (u_has_all, o_has_all) {
                        (true, true) => None,
                        (true, false) => Some(K::DependencyArrayExtended),
                        (false, true) => Some(K::DependencyArrayNarrowed),
                        (false, false) => Some(K::DependencyArrayChanged),
                    };
                    if let Some(kind) = kind {
                        push(out, path, kind);
                    }
                }
                (Some(_), _, _, _) => push(out, path, K::DependencyArrayRemoved),
                (_, Some(_), _, _) => push(out, path, K::DependencyArrayAdded),
                (None, None, Some(_), None) => push(out, path, K::DependencySchemaRemoved),
                (None, None, None, Some(_)) => push(out, path, K::DependencySchemaAdded),
                (None, None, Some(o_schema), Some(u_schema)) => {
                    self.compare(out, path, Sub::new(o_schema), Sub::new(u_schema));
                }
                (None, None, None, None) => {}
            }
            path.pop();
        }
        path.pop();
    }

    /// `kinds`: permitted added, permitted removed, schema narrowed, schema extended.
    fn compare_additional(
        &mut self,
        out: &mut Vec<Difference>,
        path: &[String],
        o: &Additional<'a>,
        u: &Additional<'a>,
        kinds: [DifferenceKind; 4],
    ) {
        let [added, removed, narrowed, extended] = kinds;
        if o.permits != u.permits {
            push(out, path, if u.permits { added } else { removed });
            return;
        }
        match (o.schema, u.schema) {
            (None, Some(_)) => push(out, path, narrowed),
            (Some(_), None) => push(out, path, extended),
            (Some(o_schema), Some(u_schema)) => {
                self.compare(out, path, Sub::new(o_schema), Sub::new(u_schema));
            }
            (None, None) => {}
        }
    }

    fn compare_array(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        o: &'a Map<String, Value>,
        u: &'a Map<String, Value>,
    ) {
        let all_items = |m: &'a Map<String, Value>| m.get("items").filter(|v| !v.is_array());
        let tuple = |m: &'a Map<String, Value>| {
            m.get("items").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
        };
        let o_additional = Additional::of(o, "additionalItems");
        let u_additional = Additional::of(u, "additionalItems");

        path.push("items".to_owned());
        match (all_items(o), all_items(u)) {
            (Some(o_items), Some(u_items)) => {
                self.compare(out, path, Sub::new(o_items), Sub::new(u_items));
            }
            (Some(_), None) => push(out, path, K::SchemaRemoved),
            (None, Some(_)) => push(out, path, K::SchemaAdded),
            (None, None) => {}
        }

        let (o_tuple, u_tuple) = (tuple(o), tuple(u));
        let count = o_tuple.len().max(u_tuple.len());
        for index in 0..count {
            path.push(index.to_string());
            match (o_tuple.get(index), u_tuple.get(index)) {
                (Some(o_item), Some(u_item)) => {
                    self.compare(out, path, Sub::new(o_item), Sub::new(u_item));
                }
                (Some(o_item), None) => {
                    if u_additional.is_open() {
                        push(out, path, K::ItemRemovedFromOpenContentModel);
                    } else if let Some(partial) = u_additional.schema {
                        let diffs = self.sub(path, Sub::new(o_item), Sub::new(partial));
                        let covered = all_compatible(&diffs);
                        out.extend(diffs);
                        push(
                            out,
                            path,
                            if covered {
                                K::ItemRemovedIsCoveredByPartiallyOpenContentModel
                            } else {
                                K::ItemRemovedNotCoveredByPartiallyOpenContentModel
                            },
                        );
                    } else if *o_item == Value::Bool(false) {
                        push(out, path, K::ItemWithFalseRemovedFromClosedContentModel);
                    } else {
                        push(out, path, K::ItemRemovedFromClosedContentModel);
                    }
                }
                (None, Some(u_item)) => {
                    if o_additional.is_open() {
                        let empty = resolve(self.roots[1], u_item).is_ok_and(is_empty_schema);
                        push(
                            out,
                            path,
                            if empty {
                                K::ItemWithEmptySchemaAddedToOpenContentModel
                            } else {
                                K::ItemAddedToOpenContentModel
                            },
                        );
                    } else if let Some(partial) = o_additional.schema {
                        let diffs = self.sub(path, Sub::new(partial), Sub::new(u_item));
                        let covered = all_compatible(&diffs);
                        out.extend(diffs);
                        push(
                            out,
                            path,
                            if covered {
                                K::ItemAddedIsCoveredByPartiallyOpenContentModel
                            } else {
                                K::ItemAddedNotCoveredByPartiallyOpenContentModel
                            },
                        );
                    } else {
                        push(out, path, K::ItemAddedToClosedContentModel);
                    }
                }
                (None, None) => {}
            }
            path.pop();
        }
        path.pop();

        path.push("additionalItems".to_owned());
        self.compare_additional(
            out,
            path,
            &o_additional,
            &u_additional,
            [
                K::AdditionalItemsAdded,
                K::AdditionalItemsRemoved,
                K::AdditionalItemsNarrowed,
                K::AdditionalItemsExtended,
            ],
        );
        path.pop();

        for bound in [
            Bound {
                keyword: "maxItems",
                kinds: [
                    K::MaxItemsAdded,
                    K::MaxItemsRemoved,
                    K::MaxItemsIncreased,
                    K::MaxItemsDecreased,
                ],
            },
            Bound {
                keyword: "minItems",
                kinds: [
                    K::MinItemsAdded,
                    K::MinItemsRemoved,
                    K::MinItemsIncreased,
                    K::MinItemsDecreased,
                ],
            },
        ] {
            compare_bound(out, path, &bound, number(o, bound.keyword), number(u, bound.keyword));
        }
        let unique = |m: &Map<String, Value>| m.get("uniqueItems") == Some(&Value::Bool(true));
        match (unique(o), unique(u)) {
            (true, false) => push_at(out, path, "uniqueItems", K::UniqueItemsRemoved),
            (false, true) => push_at(out, path, "uniqueItems", K::UniqueItemsAdded),
            _ => {}
        }
    }

    fn compare_combined(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        (o_criterion, o_subs): (Criterion, &[Sub<'a>]),
        (u_criterion, u_subs): (Criterion, &[Sub<'a>]),
    ) {
        let criterion_change = if o_criterion == u_criterion {
            None
        } else {
            match u_criterion {
                Criterion::AnyOf => Some(K::CombinedTypeExtended),
                Criterion::OneOf if o_subs.len() == 1 => Some(K::CombinedTypeExtended),
                Criterion::AllOf if o_subs.len() == 1 && u_subs.len() == 1 => {
                    Some(K::CombinedTypeExtended)
                }
                _ => Some(K::CombinedTypeChanged),
            }
        };
        if let Some(kind) = criterion_change {
            push(out, path, kind);
            if kind == K::CombinedTypeChanged {
                return;
            }
        }

        let o_subs = dedup(o_subs);
        let u_subs = dedup(u_subs);
        let product = u_criterion == Criterion::AllOf;
        if o_subs.len() < u_subs.len() {
            push(out, path, if product { K::ProductTypeExtended } else { K::SumTypeExtended });
        } else if o_subs.len() > u_subs.len() {
            push(out, path, if product { K::ProductTypeNarrowed } else { K::SumTypeNarrowed });
        }

        // Pair each original subschema with a distinct update subschema that reads it.
        let mut edges: Vec<Vec<(usize, Vec<Difference>)>> = Vec::with_capacity(o_subs.len());
        for (index, o_sub) in o_subs.iter().enumerate() {
            path.push(o_criterion.keyword().to_owned());
            path.push(index.to_string());
            let mut compatible = Vec::new();
            for (u_index, u_sub) in u_subs.iter().enumerate() {
                let diffs = self.sub(path, *o_sub, *u_sub);
                if all_compatible(&diffs) {
                    compatible.push((u_index, diffs));
                }
            }
            edges.push(compatible);
            path.pop();
            path.pop();
        }
        let matched = maximum_matching(&edges, u_subs.len());
        let mut size = 0;
        for (o_index, u_index) in matched.iter().enumerate() {
            if let Some(u_index) = u_index
                && let Some((_, diffs)) = edges[o_index].iter().find(|(j, _)| j == u_index)
            {
                size += 1;
                out.extend(diffs.iter().cloned());
            }
        }
        if size < o_subs.len().min(u_subs.len()) {
            push(out, path, K::CombinedTypeSubschemasChanged);
        }
    }
}

fn dedup<'a>(subs: &[Sub<'a>]) -> Vec<Sub<'a>> {
    let mut unique: Vec<Sub<'a>> = Vec::with_capacity(subs.len());
    for sub in subs {
        if !unique.iter().any(|s| s.value == sub.value && s.only == sub.only) {
            unique.push(*sub);
        }
    }
    unique
}

/// Kuhn's augmenting paths: for each left vertex, the right vertex it is matched to.
fn maximum_matching(edges: &[Vec<(usize, Vec<Difference>)>], right: usize) -> Vec<Option<usize>> {
    fn augment(
        left: usize,
        edges: &[Vec<(usize, Vec<Difference>)>],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for (r, _) in &edges[left] {
            if seen[*r] {
                continue;
            }
            seen[*r] = true;
            if owner[*r].is_none_or(|other| augment(other, edges, seen, owner)) {
                owner[*r] = Some(left);
                return true;
            }
        }
        false
    }
    let mut owner: Vec<Option<usize>> = vec![None; right];
    for left in 0..edges.len() {
        let mut seen = vec![false; right];
        augment(left, edges, &mut seen, &mut owner);
    }
    let mut matched = vec![None; edges.len()];
    for (r, left) in owner.iter().enumerate() {
        if let Some(left) = left {
            matched[*left] = Some(r);
        }
    }
    matched
}

fn required(map: &Map<String, Value>) -> Vec<&str> {
    map.get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn has_pattern_properties(map: &Map<String, Value>) -> bool {
    map.get("patternProperties").and_then(Value::as_object).is_some_and(|p| !p.is_empty())
}

fn dependencies(map: &Map<String, Value>) -> Vec<(&str, &Value)> {
    ["dependencies", "dependentRequired", "dependentSchemas"]
        .iter()
        .filter_map(|k| map.get(*k).and_then(Value::as_object))
        .flat_map(|deps| deps.iter().map(|(name, dep)| (name.as_str(), dep)))
        .collect()
}

fn compare_bound(
    out: &mut Vec<Difference>,
    path: &mut Vec<String>,
    bound: &Bound,
    o: Option<f64>,
    u: Option<f64>,
) {
    let [added, removed, increased, decreased] = bound.kinds;
    let kind = match (o, u) {
        (None, Some(_)) => added,
        (Some(_), None) => removed,
        (Some(o), Some(u)) if o < u => increased,
        (Some(o), Some(u)) if o > u => decreased,
        _ => return,
    };
    push_at(out, path, bound.keyword, kind);
}

fn compare_string(
    out: &mut Vec<Difference>,
    path: &mut Vec<String>,
    o: &Map<String, Value>,
    u: &Map<String, Value>,
) {
    for bound in [
        Bound {
            keyword: "maxLength",
            kinds: [
                K::MaxLengthAdded,
                K::MaxLengthRemoved,
                K::MaxLengthIncreased,
                K::MaxLengthDecreased,
            ],
        },
        Bound {
            keyword: "minLength",
            kinds: [
                K::MinLengthAdded,
                K::MinLengthRemoved,
                K::MinLengthIncreased,
                K::MinLengthDecreased,
            ],
        },
    ] {
        compare_bound(out, path, &bound, number(o, bound.keyword), number(u, bound.keyword));
    }
    let pattern =
        |m: &Map<String, Value>| m.get("pattern").and_then(Value::as_str).map(str::to_owned);
    let kind = match (pattern(o), pattern(u)) {
        (None, Some(_)) => K::PatternAdded,
        (Some(_), None) => K::PatternRemoved,
        (Some(a), Some(b)) if a != b => K::PatternChanged,
        _ => return,
    };
    push_at(out, path, "pattern", kind);
}

/// `maximum`/`minimum` and the exclusive limits, reading draft 4's boolean
/// `exclusiveMaximum: true` as an exclusive limit at `maximum`.
fn limits(map: &Map<String, Value>) -> [Option<f64>; 4] {
    let mut maximum = number(map, "maximum");
    let mut minimum = number(map, "minimum");
    let mut exclusive_maximum = number(map, "exclusiveMaximum");
    let mut exclusive_minimum = number(map, "exclusiveMinimum");
    if map.get("exclusiveMaximum") == Some(&Value::Bool(true)) {
        exclusive_maximum = maximum.take();
    }
    if map.get("exclusiveMinimum") == Some(&Value::Bool(true)) {
        exclusive_minimum = minimum.take();
    }
    [maximum, minimum, exclusive_maximum, exclusive_minimum]
}

fn compare_number(
    out: &mut Vec<Difference>,
    path: &mut Vec<String>,
    o: &Map<String, Value>,
    u: &Map<String, Value>,
) {
    let bounds = [
        Bound {
            keyword: "maximum",
            kinds: [K::MaximumAdded, K::MaximumRemoved, K::MaximumIncreased, K::MaximumDecreased],
        },
        Bound {
            keyword: "minimum",
            kinds: [K::MinimumAdded, K::MinimumRemoved, K::MinimumIncreased, K::MinimumDecreased],
        },
        Bound {
            keyword: "exclusiveMaximum",
            kinds: [
                K::ExclusiveMaximumAdded,
                K::ExclusiveMaximumRemoved,
                K::ExclusiveMaximumIncreased,
                K::ExclusiveMaximumDecreased,
            ],
        },
        Bound {
            keyword: "exclusiveMinimum",
            kinds: [
                K::ExclusiveMinimumAdded,
                K::ExclusiveMinimumRemoved,
                K::ExclusiveMinimumIncreased,
                K::ExclusiveMinimumDecreased,
            ],
        },
    ];
    for ((bound, o_limit), u_limit) in bounds.iter().zip(limits(o)).zip(limits(u)) {
        compare_bound(out, path, bound, o_limit, u_limit);
    }
    let is_multiple = |a: f64, b: f64| {
        let ratio = a / b;
        ratio.is_finite() && (ratio - ratio.round()).abs() <= 1e-9 * ratio.abs().max(1.0)
    };
    let kind = match (number(o, "multipleOf"), number(u, "multipleOf")) {
        (None, Some(_)) => K::MultipleOfAdded,
        (Some(_), None) => K::MultipleOfRemoved,
        (Some(a), Some(b)) if a == b => return,
        (Some(a), Some(b)) if is_multiple(b, a) => K::MultipleOfExpanded,
        (Some(a), Some(b)) if is_multiple(a, b) => K::MultipleOfReduced,
        (Some(_), Some(_)) => K::MultipleOfChanged,
        (None, None) => return,
    };
    push_at(out, path, "multipleOf", kind);
}
