//! What a schema allows beyond the properties or tuple items it names, and what
//! `unevaluatedProperties`/`unevaluatedItems` see of the subschemas beside them.

use serde_json::{Map, Value};

use super::shape::{Criterion, Sub, is_empty_schema};
use super::{Cx, Difference, push, push_at};
use crate::DifferenceKind as K;
use crate::kind::DifferenceKind;

/// What `unevaluatedProperties` or `unevaluatedItems` sees beside it: the in-place applicators
/// whose evaluated properties (items) it takes into account, and the compatible kinds of change
/// that can leave one of them evaluating less (a property or item dropped from an open model, a
/// schema for the rest dropped, a subschema dropped).
pub(super) struct Evaluation {
    applicators: &'static [&'static str],
    shrinking: &'static [DifferenceKind],
}

pub(super) const PROPERTY_EVALUATION: Evaluation = Evaluation {
    applicators: &[
        "allOf",
        "anyOf",
        "oneOf",
        "if",
        "then",
        "else",
        "dependentSchemas",
        "$ref",
        "$dynamicRef",
        "$recursiveRef",
    ],
    shrinking: &[
        K::PropertyRemovedFromOpenContentModel,
        K::AdditionalPropertiesExtended,
        K::UnevaluatedPropertiesExtended,
        K::DependencySchemaRemoved,
        K::ProductTypeNarrowed,
        K::SchemaRemoved,
    ],
};

pub(super) const ITEM_EVALUATION: Evaluation = Evaluation {
    applicators: &[
        "allOf",
        "anyOf",
        "oneOf",
        "if",
        "then",
        "else",
        "contains",
        "$ref",
        "$dynamicRef",
        "$recursiveRef",
    ],
    shrinking: &[
        K::ItemRemovedFromOpenContentModel,
        K::AdditionalItemsExtended,
        K::UnevaluatedItemsExtended,
        K::MinContainsRemoved,
        K::ProductTypeNarrowed,
        K::SchemaRemoved,
    ],
};

/// What a schema allows beyond the properties (tuple items) it names, and the keyword that says
/// it: `additionalProperties`, or where it is absent `unevaluatedProperties` (`additionalItems`,
/// 2020-12's `items` after `prefixItems`, or `unevaluatedItems`; `None` for draft-07's `items`
/// schema, which applies to every item). Absent, `true` and `{}` allow anything, `false` nothing.
pub(super) struct Rest<'a> {
    pub(super) keyword: Option<&'static str>,
    pub(super) permits: bool,
    pub(super) schema: Option<&'a Value>,
}

impl<'a> Rest<'a> {
    /// The rest given by the first of `keywords` present in `map`.
    pub(super) fn of(map: &'a Map<String, Value>, keywords: &[&'static str]) -> Self {
        keywords
            .iter()
            .find_map(|keyword| map.get(*keyword).map(|value| Rest::schema(Some(keyword), value)))
            .unwrap_or(Rest { keyword: None, permits: true, schema: None })
    }

    /// The rest that `value` says, at `keyword`.
    pub(super) fn schema(keyword: Option<&'static str>, value: &'a Value) -> Self {
        match value {
            Value::Bool(false) => Rest { keyword, permits: false, schema: None },
            Value::Object(_) if !is_empty_schema(value) => {
                Rest { keyword, permits: true, schema: Some(value) }
            }
            _ => Rest { keyword, permits: true, schema: None },
        }
    }

    pub(super) fn is_open(&self) -> bool {
        self.permits && self.schema.is_none()
    }
}

/// The kinds for a rest keyword: permitted added, permitted removed, schema narrowed, schema
/// extended.
fn kinds(keyword: &str) -> [DifferenceKind; 4] {
    match keyword {
        "additionalProperties" => [
            K::AdditionalPropertiesAdded,
            K::AdditionalPropertiesRemoved,
            K::AdditionalPropertiesNarrowed,
            K::AdditionalPropertiesExtended,
        ],
        "unevaluatedProperties" => [
            K::UnevaluatedPropertiesAdded,
            K::UnevaluatedPropertiesRemoved,
            K::UnevaluatedPropertiesNarrowed,
            K::UnevaluatedPropertiesExtended,
        ],
        "unevaluatedItems" => [
            K::UnevaluatedItemsAdded,
            K::UnevaluatedItemsRemoved,
            K::UnevaluatedItemsNarrowed,
            K::UnevaluatedItemsExtended,
        ],
        _ => [
            K::AdditionalItemsAdded,
            K::AdditionalItemsRemoved,
            K::AdditionalItemsNarrowed,
            K::AdditionalItemsExtended,
        ],
    }
}

impl<'a> Cx<'a> {
    /// Compares the rests of the writer and the reader, at the reader's keyword (or the
    /// writer's): `false` against allowed is permitted added or removed, a schema against none is
    /// narrowed or extended, two schemas are compared. Returns whether it found an incompatible
    /// change.
    pub(super) fn compare_rest(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        o: &Rest<'a>,
        u: &Rest<'a>,
    ) -> bool {
        let Some(keyword) = u.keyword.or(o.keyword) else {
            return false;
        };
        let [added, removed, narrowed, extended] = kinds(keyword);
        let before = out.len();
        path.push(keyword.to_owned());
        if o.permits != u.permits {
            push(out, path, if u.permits { added } else { removed });
        } else {
            match (o.schema, u.schema) {
                (None, Some(_)) => push(out, path, narrowed),
                (Some(_), None) => push(out, path, extended),
                (Some(o_schema), Some(u_schema)) => {
                    self.compare(out, path, Sub::new(o_schema), Sub::new(u_schema));
                }
                (None, None) => {}
            }
        }
        path.pop();
        out[before..].iter().any(|d| !d.kind.is_compatible())
    }

    /// `unevaluatedProperties` (`unevaluatedItems`) closing the reader also lets through what
    /// the in-place applicators beside it evaluate, which the comparison of each part does not
    /// track. Unless each applicator of the writer has a counterpart in the reader that accepts
    /// it and evaluates as much, reports the reader's rest as narrowed.
    pub(super) fn compare_evaluation(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        (o, u): (&'a Map<String, Value>, &'a Map<String, Value>),
        rest: &Rest<'a>,
        evaluation: &Evaluation,
    ) {
        let Some(keyword @ ("unevaluatedProperties" | "unevaluatedItems")) = rest.keyword else {
            return;
        };
        if rest.is_open() || !evaluation.applicators.iter().any(|k| o.contains_key(*k)) {
            return;
        }
        let evaluates_as_much = |cx: &mut Self, k: &&str| {
            cx.evaluates_as_much(path, (k, o.get(*k), u.get(*k)), evaluation.shrinking)
        };
        if evaluation.applicators.iter().all(|k| evaluates_as_much(self, k)) {
            return;
        }
        let [_, removed, narrowed, _] = kinds(keyword);
        push_at(out, path, keyword, if rest.permits { narrowed } else { removed });
    }

    /// Whether the reader's applicator `keyword` accepts what the writer's does, with none of the
    /// `shrinking` kinds (true when the writer has none; false when only the writer has one).
    fn evaluates_as_much(
        &mut self,
        path: &[String],
        (keyword, o, u): (&str, Option<&'a Value>, Option<&'a Value>),
        shrinking: &[DifferenceKind],
    ) -> bool {
        let (o, u) = match (o, u) {
            (None, _) => return true,
            (Some(o), Some(u)) => (o, u),
            (Some(_), None) => return false,
        };
        let mut diffs = Vec::new();
        let path = &mut path.to_vec();
        match (o, u) {
            (Value::Array(o_subs), Value::Array(u_subs)) => {
                let criterion = match keyword {
                    "anyOf" => Criterion::AnyOf,
                    "oneOf" => Criterion::OneOf,
                    _ => Criterion::AllOf,
                };
                let subs = |s: &'a [Value]| s.iter().map(Sub::new).collect::<Vec<_>>();
                let (o_subs, u_subs) = (subs(o_subs), subs(u_subs));
                self.compare_combined(&mut diffs, path, (criterion, &o_subs), (criterion, &u_subs));
            }
            (Value::String(o_ref), Value::String(u_ref)) => {
                match (self.documents[0].lookup(o_ref), self.documents[1].lookup(u_ref)) {
                    (Some(o), Some(u)) => self.compare(&mut diffs, path, Sub::new(o), Sub::new(u)),
                    (None, None) => return o_ref == u_ref,
                    _ => return false,
                }
            }
            (Value::Object(o_deps), Value::Object(u_deps)) if keyword == "dependentSchemas" => {
                for (name, o_schema) in o_deps {
                    let Some(u_schema) = u_deps.get(name) else {
                        return false;
                    };
                    self.compare(&mut diffs, path, Sub::new(o_schema), Sub::new(u_schema));
                }
            }
            _ => self.compare(&mut diffs, path, Sub::new(o), Sub::new(u)),
        }
        diffs.iter().all(|d| d.kind.is_compatible() && !shrinking.contains(&d.kind))
    }
}
