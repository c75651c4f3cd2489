//! The two error types: [`ParseError`], returned when an expression is rejected, and
//! [`EvaluationError`], collected while an expression is evaluated.
//!
//! The spec's _ParseError_ is [`ParseError`]; its _MathError_, _CastError_,
//! _MissingAttributeError_, _MissingFunctionError_ and _FunctionEvaluationError_ are the
//! variants of [`EvaluationError`]. They are two types because they reach the caller in two
//! ways: a parse error is the `Err` of [`Expression::parse`](crate::Expression::parse),
//! while evaluation errors are data that come with a value in an
//! [`Evaluation`](crate::Evaluation).

use crate::value::ValueType;

/// Why an expression was rejected. Every variant says where (`position`, a byte offset into
/// the expression, starting at 0) and what was expected there.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A token, a character or the end of the expression is not allowed where it stands.
    #[error("expected {expected} at byte {position}, found {found}")]
    Unexpected {
        /// The byte offset of what was found.
        position: usize,
        /// What the grammar allows at that position.
        expected: &'static str,
        /// What was found, quoted, or `the end of the expression`.
        found: String,
    },
    /// An integer literal is outside the signed 32-bit range.
    #[error(
        "integer literal `{literal}` at byte {position} is outside the range \
         -2147483648 to 2147483647"
    )]
    IntegerOutOfRange {
        /// The byte offset of the literal, sign included.
        position: usize,
        /// The literal as written, truncated to about 64 characters.
        literal: String,
    },
    /// A string literal has no closing quote.
    #[error("string literal at byte {position} has no closing {quote}")]
    UnterminatedString {
        /// The byte offset of the opening quote.
        position: usize,
        /// The quote that opened the literal, `'` or `"`.
        quote: char,
    },
    /// A name that addresses an attribute is not made of letters and digits.
    #[error(
        "invalid attribute name `{name}` at byte {position}: expected letters a-z and \
         digits 0-9, as in CloudEvents attribute names"
    )]
    InvalidAttributeName {
        /// The byte offset of the name.
        position: usize,
        /// The name as written, truncated to about 64 characters.
        name: String,
    },
    /// A name before `(` is not a valid function name.
    #[error(
        "invalid function name `{name}` at byte {position}: expected letters and `_`, \
         starting with a letter"
    )]
    InvalidFunctionName {
        /// The byte offset of the name.
        position: usize,
        /// The name as written, truncated to about 64 characters.
        name: String,
    },
    /// The expression nests deeper than the parser allows, which bounds the stack it uses.
    #[error(
        "expression nests deeper than {limit} levels at byte {position}: expected fewer \
         nested parentheses, prefix operators or functions"
    )]
    TooDeep {
        /// The byte offset where the limit was crossed.
        position: usize,
        /// The deepest nesting allowed.
        limit: usize,
    },
}

impl ParseError {
    /// Returns the byte offset, from the start of the expression, that the error is about.
    pub fn position(&self) -> usize {
        match self {
            ParseError::Unexpected { position, .. }
            | ParseError::IntegerOutOfRange { position, .. }
            | ParseError::UnterminatedString { position, .. }
            | ParseError::InvalidAttributeName { position, .. }
            | ParseError::InvalidFunctionName { position, .. }
            | ParseError::TooDeep { position, .. } => *position,
        }
    }
}

/// An error raised while evaluating an expression (spec section 3.3).
///
/// Evaluation never stops at an error: the failing operator or function still returns a
/// value, and the errors are listed next to the result in an
/// [`Evaluation`](crate::Evaluation).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationError {
    /// The spec's _MathError_: a division or remainder by zero, or an integer result outside
    /// the 32-bit range.
    #[error("math error: {reason}")]
    Math {
        /// What went wrong and which value was returned instead.
        reason: String,
    },
    /// The spec's _CastError_: a value could not be converted to the type an operator or a
    /// function needs.
    #[error("cannot cast {value} to {target}: {reason}")]
    Cast {
        /// The value, written as a CESQL literal and truncated to about 64 characters.
        value: String,
        /// The type the value had to become.
        target: ValueType,
        /// What a value of the source type must look like to be cast.
        reason: &'static str,
    },
    /// The spec's _MissingAttributeError_: the expression names an attribute the event does
    /// not have.
    #[error("attribute `{name}` is not present on the event")]
    MissingAttribute {
        /// The attribute name.
        name: String,
    },
    /// The spec's _MissingFunctionError_: no function has this name and number of arguments.
    #[error(
        "no function {name} takes {arity} arguments; the built-in functions are ABS, LENGTH, \
         CONCAT, CONCAT_WS, LOWER, UPPER, TRIM, LEFT, RIGHT, SUBSTRING, INT, BOOL, STRING, \
         IS_INT and IS_BOOL"
    )]
    MissingFunction {
        /// The function name, in upper case.
        name: String,
        /// The number of arguments of the call.
        arity: usize,
    },
    /// The spec's _FunctionEvaluationError_: a function got arguments outside its domain.
    #[error("{function} failed: {reason}")]
    FunctionEvaluation {
        /// The function name, in upper case.
        function: &'static str,
        /// Which argument was wrong, what was expected, and what was returned instead.
        reason: String,
    },
}

/// The crate's result type, with [`ParseError`] as the default error.
pub type Result<T, E = ParseError> = std::result::Result<T, E>;
