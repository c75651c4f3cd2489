//! The comparison of string, number and enumerated schemas.

use serde_json::{Map, Value};

use super::{Bound, Cx, Difference, compare_bound, number, push_at};
use crate::DifferenceKind as K;

impl<'a> Cx<'a> {
    /// `maxLength`, `minLength`, `pattern`, and the content keywords: `contentEncoding` and
    /// `contentMediaType` as a type of the string's content, `contentSchema` as a subschema.
    pub(super) fn compare_string(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        o: &'a Map<String, Value>,
        u: &'a Map<String, Value>,
    ) {
        compare_lengths(out, path, o, u);
        compare_content(out, path, o, u);
        self.compare_optional(
            out,
            path,
            "contentSchema",
            o.get("contentSchema"),
            u.get("contentSchema"),
        );
    }
}

fn compare_lengths(
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

/// `contentEncoding` and `contentMediaType`, which Confluent ignores, compared conservatively as
/// the type of what the string holds: added narrows it, removed extends it, changed changes it.
fn compare_content(
    out: &mut Vec<Difference>,
    path: &mut Vec<String>,
    o: &Map<String, Value>,
    u: &Map<String, Value>,
) {
    for keyword in ["contentEncoding", "contentMediaType"] {
        let kind = match (o.get(keyword), u.get(keyword)) {
            (None, Some(_)) => K::TypeNarrowed,
            (Some(_), None) => K::TypeExtended,
            (Some(a), Some(b)) if a != b => K::TypeChanged,
            _ => continue,
        };
        push_at(out, path, keyword, kind);
    }
}

/// The values of `enum`/`const`, at the reader's keyword.
pub(super) fn compare_enum(
    out: &mut Vec<Difference>,
    path: &mut Vec<String>,
    o: &[&Value],
    (keyword, u): (&str, &[&Value]),
) {
    let u_has_all = o.iter().all(|v| u.contains(v));
    let o_has_all = u.iter().all(|v| o.contains(v));
    let kind = match (u_has_all, o_has_all) {
        (true, true) => return,
        (true, false) => K::EnumArrayExtended,
        (false, true) => K::EnumArrayNarrowed,
        (false, false) => K::EnumArrayChanged,
    };
    push_at(out, path, keyword, kind);
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

pub(super) fn compare_number(
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
