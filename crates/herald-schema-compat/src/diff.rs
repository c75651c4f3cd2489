//! The structural comparison of two JSON Schemas, after Confluent's `SchemaDiff`, for the
//! keywords of draft-07 and draft 2020-12 alike (see the crate documentation).

mod applicator;
mod array;
mod document;
mod object;
mod rest;
mod scalar;
mod shape;

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::LazyLock;

use serde::Serialize;
use serde_json::{Map, Value};

use self::document::Document;
use self::shape::{
    Criterion, Part, Shape, Sub, SubKey, part_shape, reference, typed, whole, with_reference,
};
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
/// ([`DifferenceKind::is_compatible`]). References within a document are resolved: JSON
/// pointers (`#/definitions/…`, `#/$defs/…`, percent-encoded or not), anchors (`$anchor`,
/// `$dynamicAnchor`, draft-07's `"$id": "#name"`), either after the document's own `$id`;
/// `$dynamicRef` and `$recursiveRef` statically, as `$ref`. From draft 2019-09 on (and when
/// `$schema` does not say), the keywords beside a `$ref` apply with it; draft-07 ignores them. A
/// reference to another document is compared by its text.
///
/// The walk is bounded, so a hostile schema cannot exhaust the stack or the CPU: each pair of
/// subschemas is compared once (however many `$ref`s lead to it), nesting deeper than
/// [`MAX_DEPTH`] levels and more than [`MAX_STEPS`] comparisons give
/// [`SchemaCompatError::TooComplex`] instead of an answer.
pub fn differences(original: &Value, update: &Value) -> Result<Vec<Difference>> {
    let mut cx = Cx::new([Rc::new(Document::new(original)), Rc::new(Document::new(update))]);
    let mut out = Vec::new();
    cx.compare(&mut out, &[], Sub::new(original), Sub::new(update));
    if let Some(limit) = cx.exhausted {
        return Err(SchemaCompatError::TooComplex { limit });
    }
    // The parts of one schema compared with the parts of another can meet a change twice.
    let mut seen = HashSet::new();
    out.retain(|difference| seen.insert(difference.clone()));
    Ok(out)
}

/// How deeply nested the subschemas compared may be (through properties, items, combinators
/// and `$ref`s alike).
pub const MAX_DEPTH: usize = 64;

/// How many pairs of subschemas one comparison may compare (a pair compared before costs
/// one step, plus one per difference it had).
pub const MAX_STEPS: usize = 100_000;

/// How many references in a row are followed before one is taken as unresolved.
const MAX_REFERENCE_HOPS: usize = 64;

fn all_compatible(diffs: &[Difference]) -> bool {
    diffs.iter().all(|d| d.kind.is_compatible())
}

fn number(map: &Map<String, Value>, key: &str) -> Option<f64> {
    map.get(key).and_then(Value::as_f64)
}

/// A bounded keyword's four outcomes: added, removed, increased, decreased.
struct Bound {
    keyword: &'static str,
    kinds: [DifferenceKind; 4],
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

type PairKey = [SubKey; 2];

/// What loading one step of a subschema gives: its shape, or a reference to follow.
enum Loaded<'a> {
    Shape(Shape<'a>),
    Follow(&'a Value),
}

struct Cx<'a> {
    /// The writer's document, then the reader's.
    documents: [Rc<Document<'a>>; 2],
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
    fn new(documents: [Rc<Document<'a>>; 2]) -> Self {
        Cx {
            documents,
            in_progress: HashSet::new(),
            memo: HashMap::new(),
            cycles_cut: 0,
            steps: 0,
            depth: 0,
            exhausted: None,
        }
    }

    /// Runs `compare` with the writer and the reader swapped (for `not`, `if`, `maxContains`),
    /// within this comparison's bounds.
    fn with_roles_swapped<T>(&mut self, compare: impl FnOnce(&mut Cx<'a>) -> T) -> T {
        let [writer, reader] = &self.documents;
        let mut swapped = Cx::new([Rc::clone(reader), Rc::clone(writer)]);
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
            (original, &original_shape),
            (update, &update_shape),
        );
        self.depth -= 1;
        self.in_progress.remove(&key);
        out.extend(relative.iter().map(|d| rebase(path, d)));
        if self.cycles_cut == cycles_before && self.exhausted.is_none() {
            self.memo.insert(key, relative);
        }
    }

    /// The shape of `sub` in the document of `side` (0 the writer, 1 the reader), following its
    /// references, with the subschema they led to.
    fn load(&self, side: usize, mut sub: Sub<'a>) -> (Sub<'a>, Shape<'a>) {
        for _ in 0..MAX_REFERENCE_HOPS {
            match self.load_step(side, sub) {
                Loaded::Shape(shape) => return (sub, shape),
                Loaded::Follow(target) => sub = Sub::new(target),
            }
        }
        let text = sub.value.as_object().and_then(reference).unwrap_or("$ref");
        (sub, Shape::Unresolved(text))
    }

    fn load_step(&self, side: usize, sub: Sub<'a>) -> Loaded<'a> {
        let map = match sub.value {
            Value::Object(map) => map,
            Value::Bool(false) => return Loaded::Shape(Shape::False),
            _ => return Loaded::Shape(Shape::Empty),
        };
        if let Some(ty) = sub.only {
            return Loaded::Shape(typed(map, ty));
        }
        let document = &self.documents[side];
        let follow = |reference: &'a str| {
            document
                .lookup(reference)
                .map_or(Loaded::Shape(Shape::Unresolved(reference)), Loaded::Follow)
        };
        match (sub.part, reference(map)) {
            (Some(Part::Ref), Some(reference)) => follow(reference),
            (Some(part), _) => Loaded::Shape(part_shape(sub.value, map, part)),
            (None, Some(reference)) => {
                let beside =
                    (!document.ignores_ref_siblings()).then(|| with_reference(sub.value, map));
                beside.flatten().map_or_else(|| follow(reference), Loaded::Shape)
            }
            (None, None) => Loaded::Shape(whole(sub.value, map)),
        }
    }

    fn compare_loaded(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        (original, original_shape): (Sub<'a>, &Shape<'a>),
        (update, update_shape): (Sub<'a>, &Shape<'a>),
    ) {
        if matches!(original_shape, Shape::Parts(_)) || matches!(update_shape, Shape::Parts(_)) {
            self.compare_parts(out, path, (original, original_shape), (update, update_shape));
            return;
        }
        let keywords = keywords_of(original, original_shape).zip(keywords_of(update, update_shape));
        if let Some((o, u)) = keywords
            && !matches!(original_shape, Shape::False)
        {
            self.compare_conditional(out, path, o, u);
        }
        if self.compare_with_combined(out, path, (original, original_shape), (update, update_shape))
        {
            return;
        }

        if original_shape.class() != update_shape.class() {
            if !matches!(original_shape, Shape::False) && !matches!(update_shape, Shape::Empty) {
                push(out, path, K::TypeChanged);
            }
            return;
        }

        if let Some((o, u)) = keywords {
            compare_annotations(out, path, o, u);
        }
        self.compare_shapes(out, path, original_shape, update_shape);
    }

    /// A combined schema against one that is not: a single subschema, an alternative of the
    /// reader, (as Confluent does) a part of the writer's `allOf`, or every alternative of the
    /// writer's `anyOf`/`oneOf`, that reads or is read by the other side settles the comparison.
    /// Returns whether it did.
    fn compare_with_combined(
        &mut self,
        out: &mut Vec<Difference>,
        path: &[String],
        (original, original_shape): (Sub<'a>, &Shape<'a>),
        (update, update_shape): (Sub<'a>, &Shape<'a>),
    ) -> bool {
        match (original_shape, update_shape) {
            (Shape::Combined(..), Shape::Combined(..)) => false,
            (_, Shape::Combined(criterion, subs)) => {
                if let [single] = subs.as_slice() {
                    return self.settles(out, path, original, *single, None);
                }
                matches!(criterion, Criterion::AnyOf | Criterion::OneOf)
                    && subs.iter().any(|alternative| {
                        self.settles(out, path, original, *alternative, Some(K::SumTypeExtended))
                    })
            }
            (Shape::Combined(criterion, subs), _) => {
                if let [single] = subs.as_slice() {
                    return self.settles(out, path, *single, update, None);
                }
                match criterion {
                    Criterion::AllOf => subs.iter().any(|part| {
                        self.settles(out, path, *part, update, Some(K::ProductTypeNarrowed))
                    }),
                    Criterion::AnyOf | Criterion::OneOf => self.all_settle(out, path, subs, update),
                }
            }
            _ => false,
        }
    }

    /// Compares each of `originals` with `update`: if every difference is compatible, keeps
    /// them and returns `true`.
    fn all_settle(
        &mut self,
        out: &mut Vec<Difference>,
        path: &[String],
        originals: &[Sub<'a>],
        update: Sub<'a>,
    ) -> bool {
        let mut found = Vec::new();
        for original in originals {
            let diffs = self.sub(path, *original, update);
            if !all_compatible(&diffs) {
                return false;
            }
            found.extend(diffs);
        }
        out.extend(found);
        true
    }

    /// Compares `original` with `update`: if every difference is compatible, keeps them (and
    /// `then`) and returns `true`.
    fn settles(
        &mut self,
        out: &mut Vec<Difference>,
        path: &[String],
        original: Sub<'a>,
        update: Sub<'a>,
        then: Option<DifferenceKind>,
    ) -> bool {
        let diffs = self.sub(path, original, update);
        if !all_compatible(&diffs) {
            return false;
        }
        out.extend(diffs);
        if let Some(kind) = then {
            push(out, path, kind);
        }
        true
    }

    /// Two shapes of the same class.
    fn compare_shapes(
        &mut self,
        out: &mut Vec<Difference>,
        path: &mut Vec<String>,
        original_shape: &Shape<'a>,
        update_shape: &Shape<'a>,
    ) {
        match (original_shape, update_shape) {
            (Shape::String(o), Shape::String(u)) => self.compare_string(out, path, o, u),
            (Shape::Number(o, o_int), Shape::Number(u, u_int)) => {
                scalar::compare_number(out, path, o, u);
                if *o_int && !*u_int {
                    push(out, path, K::TypeExtended);
                } else if !*o_int && *u_int {
                    push(out, path, K::TypeNarrowed);
                }
            }
            (Shape::Enum(_, o), Shape::Enum(keyword, u)) => {
                scalar::compare_enum(out, path, o, (keyword, u));
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

/// An object without keywords, as `true` is.
static NO_KEYWORDS: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

/// The keywords a loaded subschema holds for itself ([`Sub::holds_keywords`]), `true` holding
/// none; `None` for a view, an unresolved reference or `false`.
fn keywords_of<'a>(sub: Sub<'a>, shape: &Shape<'a>) -> Option<&'a Map<String, Value>> {
    if !sub.holds_keywords() || matches!(shape, Shape::Unresolved(_)) {
        return None;
    }
    match sub.value {
        Value::Object(map) => Some(map),
        Value::Bool(true) => Some(&NO_KEYWORDS),
        _ => None,
    }
}

/// `$id`, `title`, `description` and `default`, which Confluent reports as compatible changes.
fn compare_annotations(
    out: &mut Vec<Difference>,
    path: &[String],
    o: &Map<String, Value>,
    u: &Map<String, Value>,
) {
    fn id(m: &Map<String, Value>) -> Option<&Value> {
        m.get("$id").or_else(|| m.get("id"))
    }
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

fn dedup<'a>(subs: &[Sub<'a>]) -> Vec<Sub<'a>> {
    let mut unique: Vec<Sub<'a>> = Vec::with_capacity(subs.len());
    for sub in subs {
        if !unique.iter().any(|s| s.value == sub.value && s.only == sub.only && s.part == sub.part)
        {
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
