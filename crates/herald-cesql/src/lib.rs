//! CloudEvents SQL (CESQL) 1.0: parse filter expressions and evaluate them against events.
//!
//! CESQL is the SQL-like expression language of the CloudEvents specification
//! (`cesql/spec.md`, version 1.0.0), used by the Subscriptions API as a filter dialect.
//! [`Expression::parse`] compiles an expression once; [`Expression::evaluate`] runs it
//! against any event that implements [`Attributes`], and [`Expression::matches`] answers
//! the filtering question. The crate does no I/O and has no dependency on an event type.
//!
//! ```
//! use std::collections::HashMap;
//!
//! use herald_cesql::{EvaluationError, Expression, Value};
//!
//! let expression = Expression::parse("sequence = 10 AND EXISTS subject")?;
//! let mut event = HashMap::from([("sequence".to_owned(), Value::from("10"))]);
//! let evaluation = expression.evaluate(&event);
//! assert_eq!(evaluation.value, Value::Boolean(false));
//! assert!(evaluation.errors.is_empty());
//!
//! event.insert("subject".to_owned(), Value::from("order-7"));
//! assert!(expression.matches(&event));
//!
//! // Errors never stop evaluation: a value always comes back, with the errors beside it.
//! let evaluation = Expression::parse("missing * 5")?.evaluate(&event);
//! assert_eq!(evaluation.value, Value::Integer(0));
//! assert!(matches!(evaluation.errors[..], [EvaluationError::MissingAttribute { .. }]));
//! # Ok::<(), herald_cesql::ParseError>(())
//! ```
//!
//! # Semantics in brief
//!
//! - Three types: String, Integer (signed 32-bit) and Boolean. Operators and functions cast
//!   their operands implicitly (spec section 3.7); `=` and `!=` cast the left operand to
//!   the type of the right one, and `IN` casts the set to the type of the left operand.
//! - Evaluation always yields a value. A failing operator or function yields the value the
//!   spec defines (`5 / 0` is `0`), or the zero value of its type, and records an
//!   [`EvaluationError`]; the operators above it then yield their own zero values.
//! - Integer results outside the 32-bit range, which the spec does not define beyond
//!   `ABS(-2147483648)`, are treated like that case: the nearest 32-bit value and a
//!   [`EvaluationError::Math`].
//! - `AND`, `OR` and `XOR` share one precedence level and group from left to right.
//!
//! # Layout
//!
//! - `expression`: [`Expression`], [`Evaluation`] and the [`Attributes`] trait.
//! - `value`: [`Value`], [`ValueType`] and the casts between types.
//! - `lexer` and `parser`: text to syntax tree, with the precedence of spec section 3.6.
//! - `ast`: the syntax tree, and how it is written back as text.
//! - `eval`: the evaluator and its error rules.
//! - `functions`: the built-in functions.
//! - `like`: the LIKE pattern matcher.
//! - `error`: [`ParseError`], [`EvaluationError`] and the crate's [`Result`] alias.

mod ast;
mod error;
mod eval;
mod expression;
mod functions;
mod lexer;
mod like;
mod parser;
mod value;

pub use error::{EvaluationError, ParseError, Result};
pub use expression::{Attributes, Evaluation, Expression};
pub use value::{Value, ValueType};
