//! The `cesql` harness: the input is a CESQL expression (UTF-8, invalid sequences
//! replaced), parsed by `Expression::parse` as a subscription's filter is, then
//! evaluated against a fixed event. A parsed expression must print as text that parses
//! back to the same expression.
//!
//! Shared by the fuzz target and `herald-cesql`'s corpus replay (`tests/fuzz_corpora.rs`).

use std::collections::BTreeMap;

use herald_cesql::{Evaluation, Expression, ParseError, Value};

/// Parses and evaluates `data`; panics only when the printed form does not round-trip.
pub(crate) fn run(data: &[u8]) -> Result<Evaluation, ParseError> {
    let text = String::from_utf8_lossy(data);
    let expression = Expression::parse(&text)?;
    let printed = expression.to_string();
    let again = Expression::parse(&printed)
        .unwrap_or_else(|error| panic!("`{printed}` (printed from `{text}`) fails: {error}"));
    assert_eq!(again, expression, "`{printed}` parses to another expression than `{text}`");
    Ok(expression.evaluate(&event()))
}

/// The event every expression is evaluated against.
fn event() -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("specversion".to_owned(), Value::from("1.0")),
        ("id".to_owned(), Value::from("A234-1234-1234")),
        ("source".to_owned(), Value::from("https://example.com/shop")),
        ("type".to_owned(), Value::from("com.example.order.placed")),
        ("subject".to_owned(), Value::from("Ünïcödé 日本")),
        ("sequence".to_owned(), Value::from("2147483647")),
        ("count".to_owned(), Value::from(-2_147_483_648)),
        ("flag".to_owned(), Value::from(true)),
        ("empty".to_owned(), Value::from("")),
    ])
}
