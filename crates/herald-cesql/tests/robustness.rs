//! Property tests: no input makes the parser or the evaluator panic, and printing an
//! expression gives text that parses back to the same expression.

use std::collections::BTreeMap;

use herald_cesql::{Expression, Value};
use proptest::prelude::*;

fn sample_event() -> BTreeMap<String, Value> {
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

/// Pieces of CESQL, so that random sequences often parse and reach the evaluator.
fn token() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "(",
        ")",
        ",",
        "=",
        "!=",
        "<>",
        "<",
        "<=",
        ">",
        ">=",
        "+",
        "-",
        "*",
        "/",
        "%",
        "AND",
        "or",
        "XOR",
        "NOT",
        "LIKE",
        "IN",
        "EXISTS",
        "TRUE",
        "false",
        "id",
        "subject",
        "sequence",
        "count",
        "flag",
        "empty",
        "missing",
        "ABS(",
        "LENGTH(",
        "CONCAT(",
        "CONCAT_WS(",
        "LOWER(",
        "UPPER(",
        "TRIM(",
        "LEFT(",
        "RIGHT(",
        "SUBSTRING(",
        "INT(",
        "BOOL(",
        "STRING(",
        "IS_INT(",
        "IS_BOOL(",
        "NOPE(",
        "0",
        "1",
        "-1",
        "2147483647",
        "-2147483648",
        "65536",
        "'%'",
        "'_'",
        "'\\%'",
        "'a%b_'",
        "'日本'",
        "'TRUE'",
        "'12'",
        "\"x\\\"y\"",
        "'it\\'s'",
        "''",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        8 => fixed,
        1 => "[a-z0-9]{1,6}",
        1 => "'[^'\\\\]{0,6}'",
        1 => "-?[0-9]{1,11}",
    ]
}

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 1..24).prop_map(|tokens| tokens.join(" "))
}

/// Expressions built from the grammar, so that nearly all of them parse.
fn grammatical() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        prop::sample::select(vec![
            "TRUE",
            "false",
            "0",
            "-7",
            "2147483647",
            "-2147483648",
            "'12'",
            "'abc'",
            "''",
            "\"TRUE\"",
            "'日本'",
            "'it\\'s'",
            "id",
            "subject",
            "sequence",
            "count",
            "flag",
            "empty",
            "missing",
            "EXISTS subject",
            "EXISTS missing",
        ])
        .prop_map(str::to_owned),
        any::<i32>().prop_map(|number| number.to_string()),
        "[a-z][a-z0-9]{0,4}",
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        let operator = prop::sample::select(vec![
            "AND", "OR", "XOR", "=", "!=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "/", "%",
        ]);
        let function = prop::sample::select(vec![
            "ABS",
            "LENGTH",
            "CONCAT",
            "CONCAT_WS",
            "LOWER",
            "UPPER",
            "TRIM",
            "LEFT",
            "RIGHT",
            "SUBSTRING",
            "INT",
            "BOOL",
            "STRING",
            "IS_INT",
            "IS_BOOL",
            "NOPE",
        ]);
        let pattern = prop::sample::select(vec!["'%'", "'_'", "'a%'", "'%1'", "'\\%'", "'t_u%'"]);
        let arguments = prop::collection::vec(inner.clone(), 0..4);
        prop_oneof![
            (inner.clone(), operator, inner.clone()).prop_map(|(l, o, r)| format!("{l} {o} {r}")),
            inner.clone().prop_map(|operand| format!("NOT {operand}")),
            inner.clone().prop_map(|operand| format!("-{operand}")),
            inner.clone().prop_map(|operand| format!("({operand})")),
            (inner.clone(), any::<bool>(), pattern).prop_map(|(operand, not, pattern)| {
                format!("{operand} {}LIKE {pattern}", if not { "NOT " } else { "" })
            }),
            (inner.clone(), any::<bool>(), prop::collection::vec(inner, 1..4)).prop_map(
                |(operand, not, set)| {
                    format!("{operand} {}IN ({})", if not { "NOT " } else { "" }, set.join(", "))
                }
            ),
            (function, arguments)
                .prop_map(|(name, arguments)| { format!("{name}({})", arguments.join(", ")) }),
        ]
    })
}

/// Parses, evaluates, prints and re-parses, checking everything agrees.
fn check(text: &str) -> Result<(), TestCaseError> {
    let Ok(expression) = Expression::parse(text) else {
        return Ok(());
    };
    let event = sample_event();
    let evaluation = expression.evaluate(&event);
    let _ = expression.matches(&event);
    let printed = expression.to_string();
    let reparsed = Expression::parse(&printed)
        .map_err(|error| TestCaseError::fail(format!("`{printed}` does not parse: {error}")))?;
    prop_assert_eq!(&reparsed, &expression, "printed as `{}`", printed);
    prop_assert_eq!(reparsed.evaluate(&event), evaluation);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
        check(&text)?;
    }

    #[test]
    fn arbitrary_bytes_as_text_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn random_token_sequences_never_panic_and_print_faithfully(text in token_soup()) {
        check(&text)?;
    }

    #[test]
    fn grammatical_expressions_evaluate_and_print_faithfully(text in grammatical()) {
        check(&text)?;
    }
}
