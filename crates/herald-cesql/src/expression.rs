//! The public face of the crate: [`Expression`], [`Evaluation`] and [`Attributes`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::str::FromStr;

use crate::ast::Node;
use crate::error::{EvaluationError, ParseError};
use crate::value::Value;
use crate::{eval, parser};

/// Read access to the context attributes and extensions of one event.
///
/// Implement it on your own event type to evaluate expressions against it. Map each
/// CloudEvents attribute and extension to a [`Value`]: String attributes to
/// [`Value::String`], Integer extensions to [`Value::Integer`], Boolean extensions to
/// [`Value::Boolean`], and every other type (URI, URI-reference, Timestamp, Binary) to its
/// canonical string form as [`Value::String`] (spec section 3.2).
///
/// The event is assumed valid (spec section 1), so an implementation must return the
/// required attributes `specversion`, `id`, `source` and `type`; `EXISTS id` relies on it.
pub trait Attributes {
    /// Returns the attribute or extension called `name`, or `None` if the event lacks it.
    ///
    /// `name` is always lowercase letters and digits, as CloudEvents attribute names are:
    /// the parser lowercases the names written in an expression.
    fn attribute(&self, name: &str) -> Option<Value>;
}

impl<S: BuildHasher> Attributes for HashMap<String, Value, S> {
    fn attribute(&self, name: &str) -> Option<Value> {
        self.get(name).cloned()
    }
}

impl Attributes for BTreeMap<String, Value> {
    fn attribute(&self, name: &str) -> Option<Value> {
        self.get(name).cloned()
    }
}

/// A parsed CESQL expression, ready to be evaluated against any number of events.
///
/// ```
/// use std::collections::BTreeMap;
///
/// use herald_cesql::{Expression, Value};
///
/// let filter = Expression::parse("type LIKE 'com.example.%' AND INT(priority) > 3")?;
/// let event = BTreeMap::from([
///     ("type".to_owned(), Value::from("com.example.order.placed")),
///     ("priority".to_owned(), Value::from("5")),
/// ]);
/// assert!(filter.matches(&event));
/// # Ok::<(), herald_cesql::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Expression {
    root: Node,
}

/// The outcome of [`Expression::evaluate`]: a value, always, and the errors raised on the way.
///
/// An expression has a value even when evaluation raises errors (spec section 3.3): the
/// failing operator or function returns the value the spec defines for it, or the zero
/// value of its return type (`""`, `0` or `false`), and every operator above it returns its
/// own zero value in turn. `errors` is empty when nothing went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// The value of the expression.
    pub value: Value,
    /// The errors raised while evaluating, in the order they were raised.
    pub errors: Vec<EvaluationError>,
}

impl Expression {
    /// Parses an expression written in the CESQL 1.0 syntax.
    ///
    /// A call to a function that does not exist is not a parse error: the spec makes it a
    /// _MissingFunctionError_ at evaluation. Everything else that does not follow the
    /// grammar is a [`ParseError`] that says where, and what was expected there.
    pub fn parse(text: &str) -> Result<Expression, ParseError> {
        parser::parse(text).map(|root| Expression { root })
    }

    /// Evaluates the expression against an event. It never fails and never panics.
    pub fn evaluate(&self, event: &dyn Attributes) -> Evaluation {
        let (value, errors) = eval::evaluate(&self.root, event);
        Evaluation { value, errors }
    }

    /// Tells whether the event passes the expression used as a subscription filter.
    ///
    /// CESQL 1.0 section 1.2: the output must be a Boolean, and an event whose evaluation
    /// returns a value of another type, or any error, must not pass the filter. So this is
    /// `true` only for `Boolean(true)` with no errors: there is no cast to Boolean here, and
    /// `'true'` or `1` do not match. A missing attribute makes the event fail the filter.
    pub fn matches(&self, event: &dyn Attributes) -> bool {
        let evaluation = self.evaluate(event);
        evaluation.errors.is_empty() && evaluation.value == Value::Boolean(true)
    }
}

impl FromStr for Expression {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Expression::parse(text)
    }
}

/// Writes the expression in CESQL syntax, with keywords and function names in upper case
/// and parentheses around every operator and operator chain: `a OR b AND c` prints as
/// `(a OR b AND c)`, whose operators apply from left to right, and `1 + 2 * 3` as
/// `(1 + (2 * 3))`. The text parses back to an equal [`Expression`].
impl fmt::Display for Expression {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.root)
    }
}

impl Evaluation {
    /// Returns the value if no error was raised, or the errors otherwise.
    pub fn into_result(self) -> Result<Value, Vec<EvaluationError>> {
        if self.errors.is_empty() { Ok(self.value) } else { Err(self.errors) }
    }
}
