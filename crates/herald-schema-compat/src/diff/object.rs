//! The comparison of two object schemas: `required`, `properties`, `patternProperties`, the rest
//! (`additionalProperties`, `unevaluatedProperties`), dependencies, `propertyNames` and the
//! property counts.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::rest::{PROPERTY_EVALUATION, Rest};
use super::shape::Sub;
use super::{
    Bound, Cx, Difference, NO_KEYWORDS, all_compatible, compare_bound, number, push, push_at,
};
use crate::DifferenceKind as K;

/// What an object allows under a name it does not list in `properties`.
struct ContentModel<'a> {
    /// `patternProperties`, by pattern.
    patterns: Vec<(&'a str, &'a Value)>,
    rest: Rest<'a>,
}

impl<'a> ContentModel<'a> {
    fn of(map: &'a Map<String, Value>) -> Self {
        let patterns = map.get("patternProperties").and_then(Value::as_object);
        ContentModel {
            patterns: patterns.into_iter().flatten().map(|(p, s)| (p.as_str(), s)).collect(),
            rest: Rest::of(map, &["additionalProperties", "unevaluatedProperties"]),
        }
    }

    fn pattern(&self, pattern: &str) -> Option<&'a Value> {
        self.patterns.iter().find(|(p, _)| *p == pattern).map(|(_, schema)| *schema)
    }

    /// The schemas of the patterns that may match `name`, and whether one surely does (then the
    /// rest does not apply to it).
    fn patterns_for(&self, name: &str) -> (Vec<&'a Value>, bool) {
        let mut sure = false;
        let mut schemas = Vec::new();
        for (pattern, schema) in &self.patterns {
            match literal_match(pattern, name) {
                Some(false) => {}
                matched => {
                    sure |= matched.is_some();
                    schemas.push(*schema);
                }
            }
        }
        (schemas, sure)
    }
}

/// Whether the regular expression `pattern` matches `name`, when the pattern is plain text with
/// optional `^` and `$` anchors; `None` (it may) for any other pattern.
fn literal_match(pattern: &str, name: &str) -> Option<bool> {
    let (start, rest) = pattern.strip_prefix('^').map_or((false, pattern), |rest| (true, rest));
    let (end, literal) = rest.strip_suffix('$').map_or((false, rest), |literal| (true, literal));
    if literal.contains(|c: char| "\\.*+?()[]{}|^$".contains(c)) {
        return None;
    }
    Some(match (start, end) {
        (true, true) => name == literal,
        (true, false) => name.starts_with(literal),
        (false, true) => name.ends_with(literal),
        (false, false) => name.contains(literal),
    })
}

fn properties(map: &Map<String, Value>) -> &Map<String, Value> {
    map.get("properties").and_then(Value::as_object).unwrap_or(&NO_KEYWORDS)
}

fn required(map: &Map<String, Value>) -> Vec<&str> {
    map.get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Sorted and without duplicates.
fn union<'n>(
    a: impl IntoIterator<Item = &'n str>,
    b: impl IntoIterator<Item = &'n str>,
) -> Vec<&'n str> {
    let mut names: Vec<&str> = a.into_iter().chain(b).collect();
    names.sort_unstable();
    names.dedup();
    names
}

impl<'a> Cx<'a> {
    pub(super) fn compare_object(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        o: &'a Map<String, Value>,
        u: &'a Map<String, Value>,
    ) {
        let (o_model, u_model) = (ContentModel::of(o), ContentModel::of(u));
        self.compare_required(out, path, (o, u), &o_model);
        self.compare_properties(out, path, (o, u), (&o_model, &u_model));
        self.compare_patterns(out, path, properties(o), (&o_model, &u_model));
        self.compare_dependencies(out, path, o, u);
        if !self.compare_rest(out, path, &o_model.rest, &u_model.rest) {
            self.compare_evaluation(out, path, (o, u), &u_model.rest, &PROPERTY_EVALUATION);
        }
        self.compare_optional(
            out,
            path,
            "propertyNames",
            o.get("propertyNames"),
            u.get("propertyNames"),
        );
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

    /// Each name required on one side only, listed in `properties` or not. A property that both
    /// list is required with or without a default; one the reader adds to a closed or partially
    /// open model is left to [`Self::compare_property_added`].
    fn compare_required(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        (o, u): (&'a Map<String, Value>, &'a Map<String, Value>),
        o_model: &ContentModel<'a>,
    ) {
        let (o_required, u_required) = (required(o), required(u));
        let (o_props, u_props) = (properties(o), properties(u));
        path.push("required".to_owned());
        for name in union(o_required.iter().copied(), u_required.iter().copied()) {
            let kind = match (o_required.contains(&name), u_required.contains(&name)) {
                (true, false) => Some(K::RequiredAttributeRemoved),
                (false, true) => match (o_props.get(name), u_props.get(name)) {
                    (None, Some(_)) if !o_model.rest.is_open() => None,
                    (_, Some(u_schema)) if self.documents[1].has_default(u_schema) => {
                        Some(K::RequiredAttributeWithDefaultAdded)
                    }
                    _ => Some(K::RequiredAttributeAdded),
                },
                _ => None,
            };
            if let Some(kind) = kind {
                push_at(out, path, name, kind);
            }
        }
        path.pop();
    }

    fn compare_properties(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        (o, u): (&'a Map<String, Value>, &'a Map<String, Value>),
        (o_model, u_model): (&ContentModel<'a>, &ContentModel<'a>),
    ) {
        let (o_props, u_props) = (properties(o), properties(u));
        let u_required = required(u);
        path.push("properties".to_owned());
        for name in union(o_props.keys().map(String::as_str), u_props.keys().map(String::as_str)) {
            path.push(name.to_owned());
            match (o_props.get(name), u_props.get(name)) {
                (Some(o_schema), Some(u_schema)) => {
                    self.compare(out, path, Sub::new(o_schema), Sub::new(u_schema));
                }
                (Some(o_schema), None) => {
                    self.compare_removed(
                        out,
                        path,
                        o_schema,
                        u_model.patterns_for(name),
                        &u_model.rest,
                    );
                }
                (None, Some(u_schema)) => {
                    let required = u_required.contains(&name);
                    let writers = o_model.patterns_for(name);
                    self.compare_property_added(
                        out,
                        path,
                        (u_schema, required),
                        writers,
                        &o_model.rest,
                    );
                }
                (None, None) => {}
            }
            path.pop();
        }
        path.pop();
    }

    /// `patternProperties`, by pattern: one both have is compared; one the reader drops is read
    /// like a dropped property, by any pattern the reader keeps or its rest; one the reader adds
    /// must accept what the writer may hold under names it may match.
    fn compare_patterns(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        o_props: &'a Map<String, Value>,
        (o_model, u_model): (&ContentModel<'a>, &ContentModel<'a>),
    ) {
        let patterns =
            |m: &ContentModel<'a>| m.patterns.iter().map(|(p, _)| *p).collect::<Vec<_>>();
        path.push("patternProperties".to_owned());
        for pattern in union(patterns(o_model), patterns(u_model)) {
            path.push(pattern.to_owned());
            match (o_model.pattern(pattern), u_model.pattern(pattern)) {
                (Some(o_schema), Some(u_schema)) => {
                    self.compare(out, path, Sub::new(o_schema), Sub::new(u_schema));
                }
                (Some(o_schema), None) => {
                    let readers = u_model.patterns.iter().map(|(_, s)| *s).collect();
                    self.compare_removed(out, path, o_schema, (readers, false), &u_model.rest);
                }
                (None, Some(u_schema)) => {
                    let named =
                        o_props.iter().filter(|(n, _)| literal_match(pattern, n) != Some(false));
                    let writers =
                        named.map(|(_, s)| s).chain(o_model.patterns.iter().map(|(_, s)| *s));
                    self.compare_property_added(
                        out,
                        path,
                        (u_schema, false),
                        (writers.collect(), false),
                        &o_model.rest,
                    );
                }
                (None, None) => {}
            }
            path.pop();
        }
        path.pop();
    }

    /// A property (or pattern) the writer has and the reader lacks: the reader reads it with
    /// `readers`, the schemas of its patterns that may apply, and, unless one `surely` does, with
    /// its `rest`.
    fn compare_removed(
        &mut self,
        out: &mut Vec<Difference>,
        path: &[String],
        o_schema: &'a Value,
        (mut readers, surely): (Vec<&'a Value>, bool),
        rest: &Rest<'a>,
    ) {
        if !surely {
            if !rest.permits {
                let kind = if *o_schema == Value::Bool(false) {
                    K::PropertyWithFalseRemovedFromClosedContentModel
                } else {
                    K::PropertyRemovedFromClosedContentModel
                };
                push(out, path, kind);
                return;
            }
            readers.extend(rest.schema);
        }
        if readers.is_empty() {
            push(out, path, K::PropertyRemovedFromOpenContentModel);
            return;
        }
        let covered = self.covers(out, path, &[o_schema], &readers);
        push(
            out,
            path,
            if covered {
                K::PropertyRemovedIsCoveredByPartiallyOpenContentModel
            } else {
                K::PropertyRemovedNotCoveredByPartiallyOpenContentModel
            },
        );
    }

    /// A property (or pattern) the reader has and the writer lacks: the writer may hold there
    /// anything if its `rest` is open (unless one of its patterns surely applies), else what
    /// `writers` (its patterns that may apply, or its properties a pattern may match) and its
    /// rest schema allow.
    fn compare_property_added(
        &mut self,
        out: &mut Vec<Difference>,
        path: &[String],
        (u_schema, required): (&'a Value, bool),
        (mut writers, surely): (Vec<&'a Value>, bool),
        rest: &Rest<'a>,
    ) {
        if !surely && rest.is_open() {
            let kind = if self.accepts_anything(1, u_schema) {
                K::PropertyWithEmptySchemaAddedToOpenContentModel
            } else {
                K::PropertyAddedToOpenContentModel
            };
            push(out, path, kind);
            return;
        }
        if !surely {
            writers.extend(rest.schema);
        }
        if !writers.is_empty() {
            let covered = self.covers(out, path, &writers, &[u_schema]);
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
        let kind = if !required {
            K::OptionalPropertyAddedToUnopenContentModel
        } else if self.documents[1].has_default(u_schema) {
            K::RequiredPropertyWithDefaultAddedToUnopenContentModel
        } else {
            K::RequiredPropertyAddedToUnopenContentModel
        };
        push(out, path, kind);
    }

    /// Compares every writer schema with every reader schema, keeping their differences; whether
    /// all of them are compatible.
    fn covers(
        &mut self,
        out: &mut Vec<Difference>,
        path: &[String],
        writers: &[&'a Value],
        readers: &[&'a Value],
    ) -> bool {
        let mut covered = true;
        for writer in writers {
            for reader in readers {
                let diffs = self.sub(path, Sub::new(writer), Sub::new(reader));
                covered &= all_compatible(&diffs);
                out.extend(diffs);
            }
        }
        covered
    }

    /// Property dependencies (`dependentRequired`, and `dependencies` with arrays) and schema
    /// dependencies (`dependentSchemas`, and `dependencies` with schemas) compared apart, as
    /// Confluent does, each at the keyword that holds it in the reader (or the writer).
    fn compare_dependencies(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        o: &'a Map<String, Value>,
        u: &'a Map<String, Value>,
    ) {
        let (o_arrays, u_arrays) = (property_dependencies(o), property_dependencies(u));
        for name in union(o_arrays.keys().copied(), u_arrays.keys().copied()) {
            let (o_dep, u_dep) = (o_arrays.get(name), u_arrays.get(name));
            let Some((keyword, _)) = u_dep.or(o_dep) else {
                continue;
            };
            let kind = match (o_dep, u_dep) {
                (Some((_, o_names)), Some((_, u_names))) => {
                    match (
                        o_names.iter().all(|n| u_names.contains(n)),
                        u_names.iter().all(|n| o_names.contains(n)),
                    ) {
                        (true, true) => continue,
                        (true, false) => K::DependencyArrayExtended,
                        (false, true) => K::DependencyArrayNarrowed,
                        (false, false) => K::DependencyArrayChanged,
                    }
                }
                (Some(_), None) => K::DependencyArrayRemoved,
                (None, _) => K::DependencyArrayAdded,
            };
            path.extend([(*keyword).to_owned(), name.to_owned()]);
            push(out, path, kind);
            path.truncate(path.len() - 2);
        }
        let (o_schemas, u_schemas) = (schema_dependencies(o), schema_dependencies(u));
        for name in union(o_schemas.keys().copied(), u_schemas.keys().copied()) {
            let none = Vec::new();
            let o_deps = o_schemas.get(name).unwrap_or(&none);
            let u_deps = u_schemas.get(name).unwrap_or(&none);
            for index in 0..o_deps.len().max(u_deps.len()) {
                let (o_dep, u_dep) = (o_deps.get(index), u_deps.get(index));
                let Some((keyword, _)) = u_dep.or(o_dep) else {
                    continue;
                };
                path.extend([(*keyword).to_owned(), name.to_owned()]);
                match (o_dep, u_dep) {
                    (Some((_, o_schema)), Some((_, u_schema))) => {
                        self.compare(out, path, Sub::new(o_schema), Sub::new(u_schema));
                    }
                    (Some(_), None) => push(out, path, K::DependencySchemaRemoved),
                    (None, _) => push(out, path, K::DependencySchemaAdded),
                }
                path.truncate(path.len() - 2);
            }
        }
    }
}

/// The property dependencies of an object, by name: the names each requires (`dependencies` and
/// `dependentRequired` both apply), and the first keyword that gives it.
fn property_dependencies(map: &Map<String, Value>) -> BTreeMap<&str, (&'static str, Vec<&Value>)> {
    let mut found: BTreeMap<&str, (&'static str, Vec<&Value>)> = BTreeMap::new();
    for keyword in ["dependencies", "dependentRequired"] {
        let deps = map.get(keyword).and_then(Value::as_object).into_iter().flatten();
        for (name, names) in deps.filter_map(|(n, d)| d.as_array().map(|names| (n, names))) {
            found.entry(name).or_insert((keyword, Vec::new())).1.extend(names);
        }
    }
    found
}

/// The schema dependencies of an object, by name: each schema with its keyword (`dependencies`
/// and `dependentSchemas` may both give one).
fn schema_dependencies(map: &Map<String, Value>) -> BTreeMap<&str, Vec<(&'static str, &Value)>> {
    let mut found: BTreeMap<&str, Vec<(&'static str, &Value)>> = BTreeMap::new();
    for keyword in ["dependencies", "dependentSchemas"] {
        let deps = map.get(keyword).and_then(Value::as_object).into_iter().flatten();
        for (name, schema) in deps.filter(|(_, d)| !d.is_array()) {
            found.entry(name).or_default().push((keyword, schema));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::literal_match;

    #[test]
    fn plain_patterns_are_matched_and_others_may_match() {
        assert_eq!(literal_match("^x_", "x_1"), Some(true));
        assert_eq!(literal_match("^x_", "y"), Some(false));
        assert_eq!(literal_match("^id$", "id"), Some(true));
        assert_eq!(literal_match("^id$", "ids"), Some(false));
        assert_eq!(literal_match("_at$", "created_at"), Some(true));
        assert_eq!(literal_match("tmp", "a_tmp_b"), Some(true));
        assert_eq!(literal_match("^x-.*$", "y"), None);
        assert_eq!(literal_match("^[a-z]+$", "y"), None);
    }
}
