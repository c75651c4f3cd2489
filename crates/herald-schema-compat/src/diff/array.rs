//! The comparison of two array schemas: the items, in draft-07 terms (`items` as a schema or a
//! tuple, `additionalItems`) or 2020-12 terms (`prefixItems`, `items` after them), what follows the
//! tuple (with `unevaluatedItems`), `contains` with its counts, and the item counts.

use serde_json::{Map, Value};

use super::rest::{ITEM_EVALUATION, Rest};
use super::shape::Sub;
use super::{Bound, Cx, Difference, all_compatible, compare_bound, number, push, push_at};
use crate::DifferenceKind as K;

/// How an array schema constrains its items.
struct Items<'a> {
    /// The schema of every item: `items` as a schema, without a tuple.
    all: Option<&'a Value>,
    /// The leading items (`prefixItems`, or draft-07's `items` as an array) and their keyword.
    tuple: (&'a [Value], Option<&'static str>),
    /// What follows the tuple: for an `items` schema, that schema (at no keyword of its own).
    rest: Rest<'a>,
}

impl<'a> Items<'a> {
    fn of(map: &'a Map<String, Value>) -> Self {
        if let Some(prefix) = map.get("prefixItems").and_then(Value::as_array) {
            let rest = Rest::of(map, &["items", "unevaluatedItems"]);
            return Items { all: None, tuple: (prefix, Some("prefixItems")), rest };
        }
        match map.get("items") {
            Some(Value::Array(tuple)) => {
                let rest = Rest::of(map, &["additionalItems", "unevaluatedItems"]);
                Items { all: None, tuple: (tuple, Some("items")), rest }
            }
            Some(all) => {
                Items { all: Some(all), tuple: (&[], None), rest: Rest::schema(None, all) }
            }
            None => {
                let rest = Rest::of(map, &["additionalItems", "unevaluatedItems"]);
                Items { all: None, tuple: (&[], None), rest }
            }
        }
    }
}

/// `contains` with `minContains` (1 when absent) and `maxContains`, which count nothing without it.
struct Contains<'a> {
    schema: Option<&'a Value>,
    min: Option<f64>,
    max: Option<f64>,
}

impl<'a> Contains<'a> {
    fn of(map: &'a Map<String, Value>) -> Self {
        let Some(schema) = map.get("contains") else {
            return Contains { schema: None, min: None, max: None };
        };
        let min = number(map, "minContains").unwrap_or(1.0);
        Contains { schema: Some(schema), min: Some(min), max: number(map, "maxContains") }
    }
}

impl<'a> Cx<'a> {
    pub(super) fn compare_array(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        o: &'a Map<String, Value>,
        u: &'a Map<String, Value>,
    ) {
        let (o_items, u_items) = (Items::of(o), Items::of(u));
        path.push("items".to_owned());
        match (o_items.all, u_items.all) {
            (Some(o_all), Some(u_all)) => self.compare(out, path, Sub::new(o_all), Sub::new(u_all)),
            (Some(_), None) => push(out, path, K::SchemaRemoved),
            (None, Some(_)) => push(out, path, K::SchemaAdded),
            (None, None) => {}
        }
        path.pop();
        self.compare_tuple(out, path, &o_items, &u_items);
        if !self.compare_rest(out, path, &o_items.rest, &u_items.rest) {
            self.compare_evaluation(out, path, (o, u), &u_items.rest, &ITEM_EVALUATION);
        }
        self.compare_contains(out, path, o, u);
        compare_counts(out, path, o, u);
    }

    /// The tuple items by index, at the reader's tuple keyword (or the writer's). An item one side
    /// lacks is read or written by that side's rest.
    fn compare_tuple(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        o: &Items<'a>,
        u: &Items<'a>,
    ) {
        let ((o_tuple, o_keyword), (u_tuple, u_keyword)) = (o.tuple, u.tuple);
        path.push(u_keyword.or(o_keyword).unwrap_or("items").to_owned());
        for index in 0..o_tuple.len().max(u_tuple.len()) {
            path.push(index.to_string());
            match (o_tuple.get(index), u_tuple.get(index)) {
                (Some(o_item), Some(u_item)) => {
                    self.compare(out, path, Sub::new(o_item), Sub::new(u_item));
                }
                (Some(o_item), None) => self.compare_item_removed(out, path, o_item, &u.rest),
                (None, Some(u_item)) => self.compare_item_added(out, path, u_item, &o.rest),
                (None, None) => {}
            }
            path.pop();
        }
        path.pop();
    }

    fn compare_item_removed(
        &mut self,
        out: &mut Vec<Difference>,
        path: &[String],
        o_item: &'a Value,
        u_rest: &Rest<'a>,
    ) {
        let kind = if u_rest.is_open() {
            K::ItemRemovedFromOpenContentModel
        } else if let Some(partial) = u_rest.schema {
            let diffs = self.sub(path, Sub::new(o_item), Sub::new(partial));
            let covered = all_compatible(&diffs);
            out.extend(diffs);
            if covered {
                K::ItemRemovedIsCoveredByPartiallyOpenContentModel
            } else {
                K::ItemRemovedNotCoveredByPartiallyOpenContentModel
            }
        } else if *o_item == Value::Bool(false) {
            K::ItemWithFalseRemovedFromClosedContentModel
        } else {
            K::ItemRemovedFromClosedContentModel
        };
        push(out, path, kind);
    }

    fn compare_item_added(
        &mut self,
        out: &mut Vec<Difference>,
        path: &[String],
        u_item: &'a Value,
        o_rest: &Rest<'a>,
    ) {
        let kind = if o_rest.is_open() {
            if self.accepts_anything(1, u_item) {
                K::ItemWithEmptySchemaAddedToOpenContentModel
            } else {
                K::ItemAddedToOpenContentModel
            }
        } else if let Some(partial) = o_rest.schema {
            let diffs = self.sub(path, Sub::new(partial), Sub::new(u_item));
            let covered = all_compatible(&diffs);
            out.extend(diffs);
            if covered {
                K::ItemAddedIsCoveredByPartiallyOpenContentModel
            } else {
                K::ItemAddedNotCoveredByPartiallyOpenContentModel
            }
        } else {
            K::ItemAddedToClosedContentModel
        };
        push(out, path, kind);
    }

    /// `minContains` and `maxContains` compared like `minItems` and `maxItems`, as Confluent does
    /// (`contains` alone counts at least one). The reader's `contains` must accept what the
    /// writer's counted, for a minimum, and, for a maximum both have, count no more than it.
    fn compare_contains(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        o: &'a Map<String, Value>,
        u: &'a Map<String, Value>,
    ) {
        let (o, u) = (Contains::of(o), Contains::of(u));
        let min = Bound {
            keyword: "minContains",
            kinds: [
                K::MinContainsAdded,
                K::MinContainsRemoved,
                K::MinContainsIncreased,
                K::MinContainsDecreased,
            ],
        };
        let max = Bound {
            keyword: "maxContains",
            kinds: [
                K::MaxContainsAdded,
                K::MaxContainsRemoved,
                K::MaxContainsIncreased,
                K::MaxContainsDecreased,
            ],
        };
        compare_bound(out, path, &min, o.min, u.min);
        compare_bound(out, path, &max, o.max, u.max);
        let (Some(o_schema), Some(u_schema)) = (o.schema, u.schema) else {
            return;
        };
        if u.min.is_some_and(|min| min > 0.0) {
            path.push("contains".to_owned());
            self.compare(out, path, Sub::new(o_schema), Sub::new(u_schema));
            path.pop();
        }
        if o.max.is_some() && u.max.is_some() && !self.counts_no_more(path, o_schema, u_schema) {
            push_at(out, path, "maxContains", K::MaxContainsAdded);
        }
    }

    /// Whether every item the reader's `contains` counts, the writer's counts too.
    fn counts_no_more(
        &mut self,
        path: &[String],
        o_schema: &'a Value,
        u_schema: &'a Value,
    ) -> bool {
        let reversed =
            self.with_roles_swapped(|cx| cx.sub(path, Sub::new(u_schema), Sub::new(o_schema)));
        all_compatible(&reversed)
    }
}

/// `maxItems`, `minItems` and `uniqueItems`.
fn compare_counts(
    out: &mut Vec<Difference>,
    path: &mut Vec<String>,
    o: &Map<String, Value>,
    u: &Map<String, Value>,
) {
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
