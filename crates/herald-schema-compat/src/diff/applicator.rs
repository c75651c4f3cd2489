//! Subschemas applied beside the others: the parts of an object (`$ref`, `allOf`, ..., the rest),
//! `if`/`then`/`else`, and the single subschemas of `propertyNames`, `contentSchema`, `then` and
//! `else`.

use serde_json::{Map, Value};

use super::shape::{Part, Shape, Sub, is_empty_schema};
use super::{Cx, Difference, NO_KEYWORDS, all_compatible, push, push_at};
use crate::DifferenceKind as K;

/// The parts of a loaded schema, each with its kind: those of [`Shape::Parts`], or the schema
/// itself as the one part its shape stands for.
fn parts_of<'a>(sub: Sub<'a>, shape: &Shape<'a>) -> Vec<(Part, Sub<'a>)> {
    match shape {
        Shape::Parts(parts) => parts.iter().filter_map(|p| p.part.map(|part| (part, *p))).collect(),
        _ => vec![(shape.part(), sub)],
    }
}

fn push_part(out: &mut Vec<Difference>, path: &mut Vec<String>, part: Part, kind: K) {
    match part.keyword() {
        Some(keyword) => push_at(out, path, keyword, kind),
        None => push(out, path, kind),
    }
}

impl<'a> Cx<'a> {
    /// Compares two schemas of which one at least is the conjunction of its parts ([`Part`]):
    /// each part of the reader must accept what the writer allows, through the writer's part of
    /// the same kind or else through any part of the writer. A part the reader drops narrows the
    /// product, compatibly.
    pub(super) fn compare_parts(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        (original, o_shape): (Sub<'a>, &Shape<'a>),
        (update, u_shape): (Sub<'a>, &Shape<'a>),
    ) {
        let (o_parts, u_parts) = (parts_of(original, o_shape), parts_of(update, u_shape));
        for &(part, u_sub) in &u_parts {
            match o_parts.iter().find(|(p, _)| *p == part) {
                Some(&(_, o_sub)) => self.compare(out, path, o_sub, u_sub),
                None => self.compare_added_part(out, path, (original, &o_parts), (part, u_sub)),
            }
        }
        for &(part, _) in &o_parts {
            if !u_parts.iter().any(|(p, _)| *p == part) {
                push_part(out, path, part, K::ProductTypeNarrowed);
            }
        }
    }

    /// A part only the reader has: it must accept what some part of the writer allows. When
    /// none does, a rest is compared with the writer's keywords (if it has no `type`) or with the
    /// writer's only part, a reference with the writer's only part; otherwise the product is
    /// extended at the part's keyword.
    fn compare_added_part(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        (original, o_parts): (Sub<'a>, &[(Part, Sub<'a>)]),
        (part, u_sub): (Part, Sub<'a>),
    ) {
        let mut first = None;
        for &(_, o_sub) in o_parts {
            let diffs = self.sub(path, o_sub, u_sub);
            if all_compatible(&diffs) {
                out.extend(diffs);
                return;
            }
            first.get_or_insert(diffs);
        }
        let only = first.filter(|_| o_parts.len() == 1);
        let found = match part {
            Part::Rest => self.compare_untyped_rest(path, original, u_sub).or(only),
            Part::Ref => only,
            _ => None,
        };
        match found {
            Some(diffs) => out.extend(diffs),
            None => push_part(out, path, part, K::ProductTypeExtended),
        }
    }

    /// A rest the reader adds without `type` (nor `enum`/`const`) constrains only instances of
    /// the type its keywords are for, which the writer, having no such keywords, leaves
    /// unconstrained: compares it with the writer's keywords taken as a schema of that type, so
    /// that each keyword the reader adds is named (`REQUIRED_ATTRIBUTE_ADDED`,
    /// `UNEVALUATED_PROPERTIES_REMOVED`, ...). `None` for a typed rest.
    fn compare_untyped_rest(
        &mut self,
        path: &[String],
        original: Sub<'a>,
        u_sub: Sub<'a>,
    ) -> Option<Vec<Difference>> {
        let (update, u_shape) = self.load(1, u_sub);
        let u = update.value.as_object().filter(|u| !u.contains_key("type"))?;
        let o = match original.value {
            Value::Object(o) => o,
            _ => &NO_KEYWORDS,
        };
        let o_shape = match u_shape {
            Shape::Object(_) => Shape::Object(o),
            Shape::Array(_) => Shape::Array(o),
            Shape::String(_) => Shape::String(o),
            Shape::Number(..) => Shape::Number(o, false),
            Shape::Empty => Shape::Empty,
            _ => return None,
        };
        let (mut out, path) = (Vec::new(), &mut path.to_vec());
        self.compare_conditional(&mut out, path, o, u);
        self.compare_shapes(&mut out, path, &o_shape, &u_shape);
        Some(out)
    }

    /// `if`/`then`/`else`, which Confluent ignores. The reader's condition must be the writer's
    /// (compatible both ways, else `COMBINED_TYPE_CHANGED`); then `then` and `else` are compared
    /// like any subschemas. A conditional only the reader has is `SCHEMA_ADDED`, only the writer
    /// `SCHEMA_REMOVED`.
    pub(super) fn compare_conditional(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        o: &'a Map<String, Value>,
        u: &'a Map<String, Value>,
    ) {
        let branches = |m: &Map<String, Value>| m.contains_key("then") || m.contains_key("else");
        match (o.get("if"), u.get("if")) {
            (Some(_), None) if branches(o) => push_at(out, path, "if", K::SchemaRemoved),
            (None, Some(_)) if branches(u) => push_at(out, path, "if", K::SchemaAdded),
            (Some(o_if), Some(u_if)) => {
                path.push("if".to_owned());
                if !self.equivalent(path, o_if, u_if) {
                    push(out, path, K::CombinedTypeChanged);
                }
                path.pop();
                for keyword in ["then", "else"] {
                    self.compare_optional(out, path, keyword, o.get(keyword), u.get(keyword));
                }
            }
            _ => {}
        }
    }

    /// Whether the writer's and the reader's schemas accept each other's instances.
    fn equivalent(&mut self, path: &[String], o: &'a Value, u: &'a Value) -> bool {
        let forward = self.sub(path, Sub::new(o), Sub::new(u));
        all_compatible(&forward)
            && all_compatible(&self.with_roles_swapped(|cx| cx.sub(path, Sub::new(u), Sub::new(o))))
    }

    /// A keyword with one subschema that either side may lack, which then accepts anything
    /// (`propertyNames`, `contentSchema`, `then`, `else`): only the reader's is `SCHEMA_ADDED`,
    /// only the writer's `SCHEMA_REMOVED`, both are compared.
    pub(super) fn compare_optional(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        keyword: &str,
        o: Option<&'a Value>,
        u: Option<&'a Value>,
    ) {
        let constraining = |value: Option<&'a Value>| value.filter(|v| !is_empty_schema(v));
        path.push(keyword.to_owned());
        match (constraining(o), constraining(u)) {
            (Some(o), Some(u)) => self.compare(out, path, Sub::new(o), Sub::new(u)),
            (Some(_), None) => push(out, path, K::SchemaRemoved),
            (None, Some(_)) => push(out, path, K::SchemaAdded),
            (None, None) => {}
        }
        path.pop();
    }

    /// Whether `value`, in the document of `side` (0 the writer, 1 the reader), accepts any
    /// instance once its references are followed.
    pub(super) fn accepts_anything(&self, side: usize, value: &'a Value) -> bool {
        let (sub, shape) = self.load(side, Sub::new(value));
        matches!(shape, Shape::Empty) && sub.value.get("if").is_none()
    }
}
