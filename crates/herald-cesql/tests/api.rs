//! The public API: parsing errors, evaluation results, filtering and printing.

use std::collections::{BTreeMap, HashMap};

use herald_cesql::{Attributes, EvaluationError, Expression, ParseError, Value, ValueType};

fn event(attributes: &[(&str, Value)]) -> BTreeMap<String, Value> {
    let mut event = BTreeMap::from([
        ("specversion".to_owned(), Value::from("1.0")),
        ("id".to_owned(), Value::from("order-7")),
        ("source".to_owned(), Value::from("/shop")),
        ("type".to_owned(), Value::from("com.example.order.placed")),
    ]);
    for (name, value) in attributes {
        event.insert((*name).to_owned(), value.clone());
    }
    event
}

fn parse(text: &str) -> Expression {
    Expression::parse(text).unwrap_or_else(|error| panic!("`{text}` should parse: {error}"))
}

#[test]
fn a_parse_error_says_where_and_what_was_expected() {
    let error = Expression::parse("1 + * 2").unwrap_err();
    assert_eq!(error.position(), 4);
    assert_eq!(error.to_string(), "expected an expression at byte 4, found `*`");

    let error = Expression::parse("(a = 1").unwrap_err();
    assert_eq!(
        error.to_string(),
        "expected an operator or `)` at byte 6, found the end of the expression"
    );

    let error = Expression::parse("x LIKE 123").unwrap_err();
    assert_eq!(
        error.to_string(),
        "expected a string literal as the LIKE pattern at byte 7, found `123`"
    );
}

#[test]
fn lexical_errors_have_their_own_variants() {
    assert_eq!(
        Expression::parse("a = 'open").unwrap_err(),
        ParseError::UnterminatedString { position: 4, quote: '\'' }
    );
    assert_eq!(
        Expression::parse("x * 2147483648").unwrap_err(),
        ParseError::IntegerOutOfRange { position: 4, literal: "2147483648".to_owned() }
    );
    assert!(matches!(
        Expression::parse("my_ext = 1").unwrap_err(),
        ParseError::InvalidAttributeName { position: 0, .. }
    ));
    assert!(matches!(
        Expression::parse("1 + F2(1)").unwrap_err(),
        ParseError::InvalidFunctionName { position: 4, .. }
    ));
    let error = Expression::parse("a = b ; c").unwrap_err();
    assert_eq!(error.position(), 6);
    assert!(error.to_string().contains("found character `;`"), "{error}");
}

#[test]
fn a_syntax_error_before_a_lexical_error_is_reported_first() {
    let error = Expression::parse("a = = 'open").unwrap_err();
    assert_eq!(error.position(), 4);
}

#[test]
fn evaluation_returns_a_value_and_the_errors() {
    let evaluation = parse("'abc' + 1").evaluate(&event(&[]));
    assert_eq!(evaluation.value, Value::Integer(0));
    assert_eq!(
        evaluation.errors,
        [EvaluationError::Cast {
            value: "'abc'".to_owned(),
            target: ValueType::Integer,
            reason: "expected a base-10 32-bit integer with an optional sign",
        }]
    );
    assert_eq!(
        evaluation.errors[0].to_string(),
        "cannot cast 'abc' to Integer: expected a base-10 32-bit integer with an optional sign"
    );
    assert_eq!(parse("1 + 1").evaluate(&event(&[])).into_result(), Ok(Value::Integer(2)));
}

#[test]
fn evaluation_errors_name_what_went_wrong() {
    let messages: Vec<String> =
        ["missing", "5 / 0", "NOPE(1)", "LEFT('a', -1)", "ABS(-2147483648)"]
            .into_iter()
            .flat_map(|text| parse(text).evaluate(&event(&[])).errors)
            .map(|error| error.to_string())
            .collect();
    assert_eq!(messages[0], "attribute `missing` is not present on the event");
    assert_eq!(messages[1], "math error: 5 / 0 divides by zero; returned 0");
    assert!(
        messages[2]
            .starts_with("no function NOPE takes 1 arguments; the built-in functions are ABS")
    );
    assert_eq!(messages[3], "LEFT failed: length -1 is negative, expected 0 or more; returned x");
    assert_eq!(
        messages[4],
        "math error: ABS(-2147483648) is outside the 32-bit range; returned 2147483647"
    );
}

#[test]
fn a_filter_matches_only_a_boolean_true_without_errors() {
    let event = event(&[("priority", Value::from(5)), ("flag", Value::from("true"))]);
    assert!(parse("priority > 3").matches(&event));
    assert!(!parse("priority > 7").matches(&event));
    // Section 1.2: a non-Boolean output does not pass the filter, even one that casts to true.
    assert!(!parse("priority").matches(&event));
    assert!(!parse("flag").matches(&event));
    assert!(parse("BOOL(flag)").matches(&event));
    // Any error fails the filter.
    assert!(!parse("missing = 1 OR TRUE").matches(&event));
    assert!(!parse("priority / 0 = 0").matches(&event));
}

#[test]
fn hash_maps_and_btree_maps_are_events() {
    let map = HashMap::from([("myext".to_owned(), Value::from(false))]);
    let tree = BTreeMap::from([("myext".to_owned(), Value::from(false))]);
    let expression = parse("NOT myext");
    assert!(expression.matches(&map));
    assert!(expression.matches(&tree));
}

#[test]
fn a_custom_event_type_is_read_through_the_attributes_trait() {
    struct Order {
        id: String,
        quantity: i32,
    }
    impl Attributes for Order {
        fn attribute(&self, name: &str) -> Option<Value> {
            match name {
                "id" => Some(Value::from(self.id.as_str())),
                "quantity" => Some(Value::from(self.quantity)),
                _ => None,
            }
        }
    }
    let order = Order { id: "order-7".to_owned(), quantity: 3 };
    assert!(parse("id LIKE 'order-%' AND quantity IN (1, 2, 3)").matches(&order));
}

#[test]
fn display_parenthesises_each_chain_and_parses_back_to_the_same_expression() {
    let cases = [
        ("a OR b AND c", "(a OR b AND c)"),
        ("1 + 2 * 3 = 7", "((1 + (2 * 3)) = 7)"),
        ("NOT x LIKE 'a%'", "(NOT x LIKE 'a%')"),
        ("- 5", "- 5"),
        ("-(5)", "- 5"),
        ("- - -x * 2", "(- - - x * 2)"),
        ("-(a + 1)", "- (a + 1)"),
        ("-5", "-5"),
        ("x not in (1, 'two', TRUE)", "(x NOT IN (1, 'two', TRUE))"),
        ("exists Subject", "(EXISTS subject)"),
        ("concat_ws(',', \"it's\")", "CONCAT_WS(',', 'it\\'s')"),
        ("'it\\'s' <> \"say \\\"hi\\\"\"", "('it\\'s' != 'say \"hi\"')"),
    ];
    for (text, printed) in cases {
        let expression = parse(text);
        assert_eq!(expression.to_string(), printed, "printing `{text}`");
        assert_eq!(parse(printed), expression, "parsing `{printed}` back");
    }
}

#[test]
fn expressions_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Expression>();
    assert_send_sync::<herald_cesql::Evaluation>();
}

#[test]
fn expressions_parse_from_str() {
    let expression: Expression = "TRUE".parse().expect("TRUE is an expression");
    assert!(expression.matches(&event(&[])));
}

#[test]
fn deep_nesting_is_refused_instead_of_overflowing_the_stack() {
    let depth = 100_000;
    let inputs = [
        format!("{}1{}", "(".repeat(depth), ")".repeat(depth)),
        format!("{}TRUE", "NOT ".repeat(depth)),
        format!("{}1", "- ".repeat(depth)),
        format!("{}1{}", "ABS(".repeat(depth), ")".repeat(depth)),
        format!("{}1{}", "1 IN (".repeat(depth), ")".repeat(depth)),
        format!("x{}", " LIKE 'a'".repeat(depth)),
        format!("x{}", " IN (1)".repeat(depth)),
        "(".repeat(depth),
    ];
    for input in inputs {
        let error = Expression::parse(&input).unwrap_err();
        assert!(matches!(error, ParseError::TooDeep { limit: 64, .. }), "{error}");
    }
}

#[test]
fn long_flat_chains_are_not_deep() {
    let terms: Vec<String> = (0..20_000).map(|number| format!("n = {number}")).collect();
    let expression = parse(&terms.join(" OR "));
    assert!(expression.matches(&event(&[("n", Value::from(19_999))])));
    assert!(!expression.matches(&event(&[("n", Value::from(20_000))])));

    let sum = parse(&vec!["1"; 50_000].join(" + "));
    assert_eq!(sum.evaluate(&event(&[])).value, Value::Integer(50_000));
}

#[test]
fn nesting_within_the_limit_parses_and_evaluates() {
    let expression = parse(&format!("{}1{}", "(".repeat(60), ")".repeat(60)));
    assert_eq!(expression.evaluate(&event(&[])).value, Value::Integer(1));
    let expression = parse(&format!("{}TRUE", "NOT ".repeat(60)));
    assert_eq!(expression.evaluate(&event(&[])).value, Value::Boolean(true));
}
